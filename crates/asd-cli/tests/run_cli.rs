//! `asd run` end to end on the tiny synthetic preset with 2 members: the run folder holds every
//! member, the scores, the results and the report, its numbers agree with `asd evaluate` on the saved
//! scores, and a second invocation reuses the members instead of retraining.

mod common;
use common::{asd, ok};

use serde_json::Value;

#[test]
fn run_on_tiny_matches_evaluate_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = tmp.path().join("run");
    let (d, r) = (data.to_str().unwrap(), run.to_str().unwrap());
    ok(&asd(&[
        "synth", "--preset", "tiny", "--seed", "2", "--out", d,
    ]));
    let cfg = tmp.path().join("run.toml");
    std::fs::write(
        &cfg,
        "members = 2\nepochs = 1\nbatch_size = 32\nclip_seconds = 4.38\nmethods = [\"nn\", \"ratio_k4\", \"ratio_k4@means\"]\nsweep_k = [1, 2]\nsweep_r = [0.5]\n",
    )
    .unwrap();
    let out = asd(&[
        "run",
        "--data",
        d,
        "--out",
        r,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let text = ok(&out);
    assert!(text.contains("dev data (2 member(s)"), "{text}");
    let text = String::from_utf8_lossy(&out.stderr);
    // Piped, a line per stage and per epoch, and the data summary once, not once per member.
    for line in [
        "member 1/2: training",
        "member 2/2: epoch 1/1, loss",
        "member 2/2: embedding",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert_eq!(text.matches("training on ").count(), 1, "{text}");
    for f in [
        "report.html",
        "report.md",
        "results.json",
        "run.log",
        "figures/sweep_k.svg",
        "figures/scores_fan.svg",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    for m in ["00", "01"] {
        assert!(
            run.join("members")
                .join(m)
                .join("model/model.safetensors")
                .exists()
        );
        assert!(
            run.join("members")
                .join(m)
                .join("embeddings/index.csv")
                .exists()
        );
    }
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("Table I: dev data")
            && html.contains("Table I: eval data")
    );

    // The ensemble's nn scores, evaluated by `asd evaluate` against the dataset, give the same
    // per-section metrics as the run reports.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let nn = results["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "nn")
        .unwrap();
    let eval_out = tmp.path().join("eval");
    std::fs::create_dir_all(&eval_out).unwrap();
    ok(&asd(&[
        "evaluate",
        "--scores",
        run.join("scores/nn").to_str().unwrap(),
        "--truth",
        d,
        "--out",
        eval_out.to_str().unwrap(),
    ]));
    let ev: Value =
        serde_json::from_str(&std::fs::read_to_string(eval_out.join("results.json")).unwrap())
            .unwrap();
    let mut compared = 0;
    for part in ["dev", "eval"] {
        for s in nn["parts"][part]["ensemble_sections"].as_array().unwrap() {
            let other = ev["sections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["machine_type"] == s["machine_type"] && e["section"] == s["section"])
                .unwrap();
            for k in ["auc_source", "auc_target", "pauc"] {
                let (a, b) = (s[k].as_f64().unwrap(), other[k].as_f64().unwrap());
                assert!(
                    (a - b).abs() < 1e-12,
                    "{} {k}: {a} vs {b}",
                    s["machine_type"]
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 8 * 3);
    // The report's Table I shows the ensemble's official score of the run's results.
    let both = nn["parts"]["dev"]["ensemble"]["hmean"].as_f64().unwrap();
    assert!(
        std::fs::read_to_string(run.join("report.md"))
            .unwrap()
            .contains(&format!("{:.2}", 100.0 * both))
    );

    // Running again reuses both members (no training) and rebuilds the same results.
    let before = std::fs::read(run.join("members/00/model/model.safetensors")).unwrap();
    let out = asd(&[
        "run",
        "--data",
        d,
        "--out",
        r,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        before,
        std::fs::read(run.join("members/00/model/model.safetensors")).unwrap()
    );
    assert!(
        text.contains("member 1/2: reusing its trained model and embeddings")
            && !text.contains("member 1/2: training"),
        "{text}"
    );
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(again["methods"], results["methods"]);
    let log = std::fs::read_to_string(run.join("members/00/model/train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 2, "one epoch logged once: {log}");

    // `asd report` rebuilds the report from the saved results.
    std::fs::remove_file(run.join("report.md")).unwrap();
    ok(&asd(&["report", r]));
    assert!(run.join("report.md").exists());

    // A config with an unknown key is refused with its name.
    std::fs::write(&cfg, "members = 2\nmembrs = 3\n").unwrap();
    let out = asd(&[
        "run",
        "--data",
        d,
        "--out",
        r,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("membrs"));
}
