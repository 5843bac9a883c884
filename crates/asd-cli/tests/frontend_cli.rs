//! Frozen front-ends from the command line: `asd embed --frontend beats|stft` gives the reference's
//! embeddings, and `asd run --frontend beats|stft` runs the Table I methods with no training at all.

mod common;
use asd_testkit::{reference_fixture, rel_err};
use common::{asd, ok, tiny_run};
use ndarray::{Array2, Ix2};
use ndarray_npy::read_npy;
use serde_json::Value;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn embed_with_a_frozen_frontend_gives_the_reference_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = reference_fixture("beats/model.pt");
    let out = tmp.path().join("beats.npy");
    ok(&asd(&[
        "embed",
        "--frontend",
        "beats",
        "--weights",
        s(&weights),
        "--wave-npy",
        s(&reference_fixture("beats/wave_clip10s.npy")),
        "--out",
        s(&out),
    ]));
    let got: Array2<f32> = read_npy(&out).unwrap();
    let want: Array2<f32> = read_npy(reference_fixture("beats/pooled_clip10s.npy")).unwrap();
    assert_eq!(got.dim(), want.dim());
    assert!(rel_err(got.iter(), want.iter()) < 1e-4);

    let out = tmp.path().join("stft.npy");
    ok(&asd(&[
        "embed",
        "--frontend",
        "stft",
        "--wave-npy",
        s(&reference_fixture("stft_raw/wave.npy")),
        "--out",
        s(&out),
    ]));
    let got: Array2<f32> = read_npy(&out).unwrap();
    let want: Array2<f32> = read_npy(reference_fixture("stft_raw/embeddings.npy")).unwrap();
    assert!(rel_err(got.iter(), want.iter()) < 1e-5);

    // Without weights, with a bad layer, with a checkpoint that is not one: named errors.
    let no_weights = asd(&[
        "embed",
        "--frontend",
        "beats",
        "--wave-npy",
        s(&tmp.path().join("x.npy")),
        "--out",
        s(&tmp.path().join("y.npy")),
    ]);
    assert!(!no_weights.status.success());
    assert!(String::from_utf8_lossy(&no_weights.stderr).contains("--weights"));
    let bad_layer = asd(&[
        "embed",
        "--frontend",
        "beats",
        "--weights",
        s(&weights),
        "--layer",
        "7",
        "--wave-npy",
        s(&reference_fixture("beats/wave_clip6s.npy")),
        "--out",
        s(&tmp.path().join("z.npy")),
    ]);
    assert_eq!(bad_layer.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_layer.stderr).contains("--layer 7"));
    let fake = tmp.path().join("fake.pt");
    std::fs::write(&fake, b"PK\x03\x04not a zip at all").unwrap();
    let e = asd(&[
        "embed",
        "--frontend",
        "beats",
        "--weights",
        s(&fake),
        "--wave-npy",
        s(&reference_fixture("beats/wave_clip6s.npy")),
        "--out",
        s(&tmp.path().join("z.npy")),
    ]);
    assert_eq!(e.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&e.stderr).contains("fake.pt"));
    assert!(!tmp.path().join("z.npy").exists());
}

fn results(run: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap()
}

#[test]
fn a_run_on_a_frozen_frontend_needs_no_training() {
    let (tmp, data, cfg) = tiny_run(
        "methods = [\"nn\", \"ratio_k4\", \"ratio_k4@means\"]\nsweep_k = [1, 2]\nsweep_r = [0.5]\nmeans = 4\n",
    );
    for (frontend, dim) in [("beats", 8 * 192), ("stft", 513)] {
        let run = tmp.path().join(format!("run_{frontend}"));
        let mut args = vec![
            "run",
            "--data",
            s(&data),
            "--out",
            s(&run),
            "--config",
            s(&cfg),
            "--frontend",
            frontend,
            "--members",
            "3",
        ];
        let w = reference_fixture("beats/model.pt");
        if frontend == "beats" {
            args.extend(["--weights", s(&w)]);
        }
        let text = ok(&asd(&args));
        assert!(text.contains("dev data (1 member(s)"), "{text}");
        assert!(!run.join("members").exists(), "nothing was trained");
        let set = run.join("frontend/embeddings");
        let emb: ndarray::Array<f32, Ix2> = read_npy(set.join("embeddings.npy")).unwrap();
        assert_eq!(emb.ncols(), dim);
        let r = results(&run);
        assert_eq!(r["config"]["frontend"]["kind"], frontend);
        assert_eq!(r["config"]["distance"], "euclidean");
        assert_eq!(r["config"]["members"], 1);
        for m in r["methods"].as_array().unwrap() {
            let both = m["parts"]["dev"]["ensemble"]["hmean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&both), "{}: {both}", m["name"]);
        }
        let md = std::fs::read_to_string(run.join("report.md")).unwrap();
        assert!(
            md.contains("frozen, no training") && md.contains("euclidean"),
            "{md}"
        );
        assert!(run.join("scores/ratio_k4").is_dir());

        // A second run reads the embeddings instead of computing them again, and scores the same.
        let before = std::fs::read(set.join("embeddings.npy")).unwrap();
        ok(&asd(&args));
        assert_eq!(before, std::fs::read(set.join("embeddings.npy")).unwrap());
        assert!(
            std::fs::read_to_string(run.join("run.log"))
                .unwrap()
                .contains("front-end embeddings read from")
        );
        assert_eq!(results(&run)["methods"], r["methods"]);

        // The cached set scores with `asd score --distance euclidean` as the run did.
        let out = tmp.path().join(format!("scores_{frontend}"));
        ok(&asd(&[
            "score",
            "--embeddings",
            s(&set),
            "--method",
            "ratio_k4",
            "--distance",
            "euclidean",
            "--out",
            s(&out),
        ]));
        let a = std::fs::read_to_string(out.join("anomaly_score_fan_section_00_test.csv")).unwrap();
        let b = std::fs::read_to_string(
            run.join("scores/ratio_k4/anomaly_score_fan_section_00_test.csv"),
        )
        .unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn beats_act_trains_the_authors_head_per_member_on_the_cached_embeddings() {
    let (tmp, data, cfg) =
        tiny_run("methods = [\"nn\", \"ratio_k4\"]\nsweep_k = [1]\nsweep_r = [0.5]\nmeans = 4\n");
    let run = tmp.path().join("run");
    let w = reference_fixture("beats/model.pt");
    let args = [
        "run",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--config",
        s(&cfg),
        "--frontend",
        "beats-act",
        "--weights",
        s(&w),
        "--members",
        "2",
        "--epochs",
        "3",
    ];
    let text = ok(&asd(&args));
    assert!(text.contains("dev data (2 member(s)"), "{text}");
    let r = results(&run);
    assert_eq!(r["config"]["frontend"]["kind"], "beats-act");
    assert_eq!(r["config"]["distance"], "cosine");
    assert_eq!(r["config"]["members"], 2);
    // The frozen BEATs embeddings are computed once, beside the members' heads.
    let base: Array2<f32> = read_npy(run.join("frontend/embeddings/embeddings.npy")).unwrap();
    assert_eq!(base.ncols(), 8 * 192);
    let member = |i: usize| -> Array2<f32> {
        read_npy(run.join(format!("members/{i:02}/embeddings/embeddings.npy"))).unwrap()
    };
    let (m0, m1) = (member(0), member(1));
    assert_eq!(m0.dim(), (base.nrows(), 128));
    assert_ne!(m0, m1, "each member draws its own seed");
    assert!(m0.iter().all(|v| v.is_finite()));
    for m in r["methods"].as_array().unwrap() {
        let both = m["parts"]["dev"]["ensemble"]["hmean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&both), "{}: {both}", m["name"]);
    }
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        md.contains("BEATs-act") && md.contains("3 epoch(s) of the head"),
        "{md}"
    );
    // A second run reads the heads' embeddings and scores the same.
    ok(&asd(&args));
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(log.contains("head embeddings read from"), "{log}");
    assert_eq!(results(&run)["methods"], r["methods"]);
    assert_eq!(member(0), m0);
    // A head is trained per run: embed and monitor refuse it by name.
    let out = asd(&[
        "embed",
        "--frontend",
        "beats-act",
        "--weights",
        s(&w),
        "--data",
        s(&data),
        "--out",
        s(&tmp.path().join("e")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("asd run"));
}
