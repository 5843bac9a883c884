//! The binary reproduces the reference scores and official metrics end to end (score → evaluate).

mod common;
use common::asd;

use ndarray::Array1;
use ndarray_npy::read_npy;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference/scoring")
}

#[test]
fn score_and_evaluate_reproduce_reference_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    // The copy built into the binary (what an installed `asd` uses) equals the fixture on disk.
    let demo = tmp.path().join("demo");
    let from_disk = tmp.path().join("demo-disk");
    for args in [
        vec!["demo", "--reference", "--out", demo.to_str().unwrap()],
        vec![
            "demo",
            "--reference",
            "--out",
            from_disk.to_str().unwrap(),
            "--fixtures",
            fixtures().to_str().unwrap(),
        ],
    ] {
        let out = asd(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for f in [
        "embeddings/embeddings.npy",
        "embeddings/index.csv",
        "nn/results.json",
    ] {
        assert_eq!(
            std::fs::read(demo.join(f)).unwrap(),
            std::fs::read(from_disk.join(f)).unwrap(),
            "{f}"
        );
    }
    let emb = demo.join("embeddings");
    let official: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("metrics_official.json")).unwrap(),
    )
    .unwrap();
    for (method, args) in [
        ("nn", vec!["--method", "nn"]),
        ("ratio_k16", vec!["--method", "ratio", "--k", "16"]),
        (
            "ratio_gwrp_r0.9",
            vec!["--method", "ratio", "--gwrp", "0.9"],
        ),
        ("lof_k8", vec!["--method", "lof", "--k", "8"]),
        (
            "ratio_k16_standardized",
            vec!["--method", "ratio", "--standardize"],
        ),
    ] {
        let dir = tmp.path().join(method);
        let mut cmd = vec![
            "score",
            "--embeddings",
            emb.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
        ];
        cmd.extend(args);
        let o = asd(&cmd);
        assert!(
            o.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Scores in the submission files equal the reference scores.
        let want: Array1<f64> = read_npy(fixtures().join(format!("scores_{method}.npy"))).unwrap();
        let sec: Array1<i64> = read_npy(fixtures().join("test_section.npy")).unwrap();
        for s in 0..3 {
            let text = std::fs::read_to_string(
                dir.join(format!("anomaly_score_reference_section_{s:02}_test.csv")),
            )
            .unwrap();
            let got: Vec<f64> = text
                .lines()
                .map(|l| l.rsplit_once(',').unwrap().1.parse().unwrap())
                .collect();
            let w: Vec<f64> = (0..want.len())
                .filter(|&i| sec[i] == s)
                .map(|i| want[i])
                .collect();
            let err = got
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
                / w.iter().map(|b| b * b).sum::<f64>().sqrt();
            assert!(err < 1e-4, "{method} section {s}: {err:e}");
        }
        let o = asd(&[
            "evaluate",
            "--scores",
            dir.to_str().unwrap(),
            "--truth",
            emb.join("index.csv").to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                .unwrap();
        let got = results["summaries"][0]["hmean"].as_f64().unwrap();
        let want = official[method]["official_score_hmean"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "{method}: {got} vs {want}");
        assert!(
            std::fs::read_to_string(dir.join("results.csv"))
                .unwrap()
                .lines()
                .count()
                == 4
        );
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let o = asd(&[
        "score",
        "--embeddings",
        tmp.path().to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("embeddings.npy"));
    let o = asd(&[
        "score",
        "--embeddings",
        "x",
        "--method",
        "ratio",
        "--gwrp",
        "2",
        "--out",
        "y",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("[0, 1]"));
    // A score file of an unknown machine type is named.
    let demo = tmp.path().join("demo");
    assert!(
        asd(&[
            "demo",
            "--reference",
            "--out",
            demo.to_str().unwrap(),
            "--fixtures",
            fixtures().to_str().unwrap()
        ])
        .status
        .success()
    );
    let scores = tmp.path().join("scores");
    std::fs::create_dir_all(&scores).unwrap();
    std::fs::write(
        scores.join("anomaly_score_pump_section_00_test.csv"),
        "a.wav,0.5\n",
    )
    .unwrap();
    let o = asd(&[
        "evaluate",
        "--scores",
        scores.to_str().unwrap(),
        "--truth",
        demo.join("embeddings").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pump"));
    // Zero k-means centres is refused up front (it used to panic inside k-means).
    let o = asd(&[
        "score",
        "--embeddings",
        demo.join("embeddings").to_str().unwrap(),
        "--references",
        "source-means",
        "--means",
        "0",
        "--out",
        tmp.path().join("m0").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "a usage error, not a panic (101)");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--means"));
}

#[test]
fn evaluate_several_score_sets_reports_mean_and_std() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = asd(&["demo", "--reference", "--out", demo.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trials = tmp.path().join("trials");
    let out = asd(&[
        "evaluate",
        "--scores",
        demo.join("nn").to_str().unwrap(),
        demo.join("ratio_k16").to_str().unwrap(),
        "--truth",
        demo.join("embeddings").to_str().unwrap(),
        "--out",
        trials.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(trials.join("trials.json")).unwrap())
            .unwrap();
    let h: Vec<f64> = t["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hmean"].as_f64().unwrap())
        .collect();
    let mean = (h[0] + h[1]) / 2.0;
    let std = ((h[0] - mean).powi(2) + (h[1] - mean).powi(2)).sqrt(); // unbiased, n = 2
    assert!((t["both"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((t["both"]["std"].as_f64().unwrap() - std).abs() < 1e-12);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mean ± std over 2 trials"));
}
