//! DCASE 2026 end to end on the synthetic stereo data: `asd synth --edition 2026` is recognised as
//! 2026, `asd run` reads the near microphone by default and says so, the far-aware `near+far` policy
//! embeds both channels (1024-d), and the results carry the official evaluator's full figures
//! (precision/recall/F1 per domain from the decision files, pAUC per domain, the CI95). `asd evaluate`
//! on the official evaluator's own folders reproduces its result file.

mod common;
use common::{asd, ok};

use serde_json::Value;
use std::path::{Path, PathBuf};

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn run_on_synthetic_2026_with_near_and_far_aware_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let text = ok(&asd(&[
        "synth",
        "--preset",
        "tiny",
        "--seed",
        "4",
        "--edition",
        "2026",
        "--out",
        d,
    ]));
    assert!(
        text.contains("stereo (near, far)") && text.contains("gearboxEmu 1.6 s"),
        "{text}"
    );
    let inspect = ok(&asd(&["dataset", "inspect", d]));
    assert!(inspect.contains("DCASE 2026"), "{inspect}");
    let cfg = tmp.path().join("run.toml");
    std::fs::write(
        &cfg,
        "members = 1\nepochs = 1\nbatch_size = 32\nmethods = [\"nn\", \"ratio_k4\"]\nsweep_k = [2]\nsweep_r = [0.5]\n",
    )
    .unwrap();
    for (policy, dim) in [(None, 512), (Some("near+far"), 1024)] {
        let run = tmp
            .path()
            .join(format!("run-{}", policy.unwrap_or("default")));
        let r = run.to_str().unwrap();
        let mut args = vec![
            "run",
            "--data",
            d,
            "--out",
            r,
            "--config",
            cfg.to_str().unwrap(),
        ];
        if let Some(p) = policy {
            args.extend(["--channel", p]);
        }
        ok(&asd(&args));
        let want = policy.unwrap_or("near");
        let rc = read_json(&run.join("run_config.json"));
        assert_eq!(
            rc["channel"], want,
            "run_config.json records the policy used"
        );
        let log = std::fs::read_to_string(run.join("run.log")).unwrap();
        assert!(log.contains(&format!("channel policy: {want}")), "{log}");
        // ISO 8601 UTC stamps, e.g. [2026-12-05T08:03:23Z].
        assert!(
            log.lines()
                .all(|l| l.len() > 22 && l.starts_with("[20") && &l[20..22] == "Z]"),
            "{log}"
        );
        if policy.is_none() {
            assert!(log.contains("the default of DCASE 2026"), "{log}");
        }
        // Mixed lengths (0.6, 1 and 1.6 s medians): the network takes the longest median, at least
        // its 4.38 s minimum, and every type is tiled up to it.
        let model = read_json(&run.join("members/00/model/config.json"));
        assert_eq!(model["channel"], 0, "trained on the near microphone");
        let emb: ndarray::Array2<f32> =
            ndarray_npy::read_npy(run.join("members/00/embeddings/embeddings.npy")).unwrap();
        assert_eq!(emb.ncols(), dim, "{want}");
        for row in emb.rows() {
            let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{want}: embedding norm {norm}");
        }
        let results = read_json(&run.join("results.json"));
        assert_eq!(results["edition"], "DCASE 2026");
        let nn = &results["methods"][0]["parts"]["dev"];
        let ci = nn["ensemble"]["official_score_ci95"].as_f64().unwrap();
        assert!(ci > 0.0 && ci < 0.5, "ci95 {ci}");
        let s0 = &nn["ensemble_sections"][0];
        for k in [
            "precision_source",
            "recall_target",
            "f1_source",
            "pauc_source",
            "pauc_target",
        ] {
            let v = s0[k].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&v), "{want}: {k} = {v}");
        }
    }
}

fn evaluator_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference/evaluator")
}

#[test]
fn evaluate_on_the_evaluators_own_folders_writes_its_result_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let text = ok(&asd(&[
        "evaluate",
        "--scores",
        evaluator_fixture().join("submission").to_str().unwrap(),
        "--truth",
        evaluator_fixture().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(text.contains("CI95"), "{text}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for col in [
        "precision_source",
        "precision_target",
        "recall_source",
        "recall_target",
        "f1_source",
        "f1_target",
        "pauc_source",
        "pauc_target",
    ] {
        assert!(header.contains(&col), "{col} missing from {header:?}");
    }
    let want = read_json(&evaluator_fixture().join("values.json"));
    let got = read_json(&out.join("results.json"));
    let ci = got["summaries"][0]["official_score_ci95"].as_f64().unwrap();
    assert!((ci - want["official_score_ci95"].as_f64().unwrap()).abs() < 1e-9);
    let official = std::fs::read_to_string(out.join("official_result.csv")).unwrap();
    let theirs = std::fs::read_to_string(evaluator_fixture().join("official_result.csv")).unwrap();
    assert_eq!(official.lines().count(), theirs.lines().count());
    let last = |t: &str, key: &str| -> f64 {
        t.lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .rsplit(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for key in ["official score,", "official score ci95,"] {
        assert!(
            (last(&official, key) - last(&theirs, key)).abs() < 1e-9,
            "{key}"
        );
    }
}
