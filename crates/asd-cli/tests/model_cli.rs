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
}
