//! `asd model import` of the authors' weights followed by `asd embed --wave-npy` reproduces the
//! reference embeddings.

mod common;
use common::asd;

use ndarray::Array2;
use ndarray_npy::read_npy;
use std::path::PathBuf;

fn net_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reference/network")
        .join(name)
}

#[test]
fn imported_reference_weights_embed_like_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    let out = asd(&[
        "model",
        "import",
        "--torch-weights",
        net_fixture("weights.safetensors").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let emb = tmp.path().join("emb.npy");
    let out = asd(&[
        "embed",
        "--model",
        model.to_str().unwrap(),
        "--wave-npy",
        net_fixture("wave.npy").to_str().unwrap(),
        "--out",
        emb.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Array2<f32> = read_npy(&emb).unwrap();
    let want: Array2<f32> = read_npy(net_fixture("eval_emb.npy")).unwrap();
    let err = ((&got - &want).mapv(|v| v * v).sum() / want.mapv(|v| v * v).sum()).sqrt();
    assert!(err < 1e-3, "relative error {err:e}");

    // A weights file that is not the reference network is refused with the tensor's name.
    let bad = tmp.path().join("bad.safetensors");
    let mut bytes = std::fs::read(net_fixture("weights.safetensors")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, bytes).unwrap();
    let out = asd(&[
        "model",
        "import",
        "--torch-weights",
        bad.to_str().unwrap(),
        "--out",
        tmp.path().join("m2").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.safetensors"));

    // A dataset with an unreadable clip: the set is written without it, and the exit status says so
    // unless --skip-bad accepts that.
    let data = tmp.path().join("data/dev_data/fan/train");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..2 {
        let x: Vec<f32> = (0..16_000)
            .map(|t| (t as f32 * 0.01 * (i + 1) as f32).sin() * 0.2)
            .collect();
        asd_audio::write_wav_i16(
            &data.join(format!("section_00_source_train_normal_000{i}_a_1.wav")),
            &x,
            16_000,
        )
        .unwrap();
    }
    std::fs::write(
        data.join("section_00_source_train_normal_0002_a_1.wav"),
        b"RIFF garbage",
    )
    .unwrap();
    let set = tmp.path().join("set");
    let args = |skip: bool| {
        let mut v = vec![
            "embed".to_string(),
            "--model".into(),
            model.display().to_string(),
            "--data".into(),
            tmp.path().join("data").display().to_string(),
            "--out".into(),
            set.display().to_string(),
        ];
        if skip {
            v.push("--skip-bad".into());
        }
        v
    };
    let run = |skip: bool| {
        let a = args(skip);
        asd(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(false);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "a skipped clip fails the run");
    assert!(
        err.contains("1 clip(s) could not be read") && err.contains("--skip-bad"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("normal_0002"));
    let index = std::fs::read_to_string(set.join("index.csv")).unwrap();
    assert_eq!(
        index.lines().count(),
        3,
        "header and the 2 readable clips: {index}"
    );
    let out = run(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 clip(s) skipped (--skip-bad)"));
}
