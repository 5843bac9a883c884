//! Reproduces scikit-learn's AUC/pAUC (`metrics/auc_cases.json`) and the DCASE evaluator's numbers
//! (`scoring/metrics_official.json`) on the scores of the scoring fixture (synthetic embeddings scored by the authors' code).

use asd_core::Domain;
use asd_eval::dcase::{DEFAULT_MAX_FPR, ScoredClip};
use asd_eval::summary::{MetricKind, Summary};
use asd_eval::{ClipTruth, auc, evaluate, partial_auc};
use asd_testkit::reference_fixture;
use ndarray::Array1;
use ndarray_npy::read_npy;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    reference_fixture(rel)
}

#[test]
fn auc_and_partial_auc_equal_scikit_learn_with_ties() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("metrics/auc_cases.json")).unwrap())
            .unwrap();
    assert_eq!(cases.len(), 6);
    for (i, c) in cases.iter().enumerate() {
        let y: Vec<bool> = c["y_true"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap() == 1)
            .collect();
        let s: Vec<f64> = c["score"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let close = |got: f64, key: &str| {
            let want = c[key].as_f64().unwrap();
            assert!((got - want).abs() < 1e-9, "case {i} {key}: {got} vs {want}");
        };
        close(auc(&y, &s).unwrap(), "auc");
        close(partial_auc(&y, &s, 0.1).unwrap(), "pauc_max_fpr_0.1");
        close(partial_auc(&y, &s, 0.2).unwrap(), "pauc_max_fpr_0.2");
    }
}

#[test]
fn official_metrics_of_every_reference_score_set() {
    let official: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("scoring/metrics_official.json")).unwrap(),
    )
    .unwrap();
    let section: Array1<i64> = read_npy(fixture("scoring/test_section.npy")).unwrap();
    let source: Array1<i64> = read_npy(fixture("scoring/test_domain_is_source.npy")).unwrap();
    let anomaly: Array1<i64> = read_npy(fixture("scoring/test_is_anomaly.npy")).unwrap();
    let methods = official.as_object().unwrap();
    assert_eq!(methods.len(), 9);
    for (method, want) in methods {
        let scores: Array1<f64> =
            read_npy(fixture(&format!("scoring/scores_{method}.npy"))).unwrap();
        let clips: Vec<ScoredClip> = (0..scores.len())
            .map(|i| ScoredClip {
                truth: ClipTruth {
                    machine_type: "fixture".into(),
                    section: format!("{:02}", section[i]),
                    domain: if source[i] == 1 {
                        Domain::Source
                    } else {
                        Domain::Target
                    },
                    anomaly: anomaly[i] == 1,
                },
                score: scores[i],
                decision: None,
            })
            .collect();
        let results = evaluate(&clips, DEFAULT_MAX_FPR);
        let want_sections = want["sections"].as_array().unwrap();
        assert_eq!(results.len(), want_sections.len());
        for (r, w) in results.iter().zip(want_sections) {
            for (key, got) in [
                ("auc_source", r.auc_source),
                ("auc_target", r.auc_target),
                ("pauc", r.pauc),
                ("pauc_source", r.pauc_source),
                ("pauc_target", r.pauc_target),
                ("simple_auc_source", r.simple_auc_source),
                ("simple_auc_target", r.simple_auc_target),
            ] {
                let want = w[key].as_f64().unwrap();
                let got = got.unwrap();
                assert!(
                    (got - want).abs() < 1e-6,
                    "{method} section {} {key}: {got} vs {want}",
                    r.section
                );
            }
        }
        let all: Vec<_> = results.iter().collect();
        let hmean = Summary::of("all", &all, MetricKind::Official)
            .hmean
            .unwrap();
        let want = want["official_score_hmean"].as_f64().unwrap();
        assert!(
            (hmean - want).abs() < 1e-6,
            "{method} hmean {hmean} vs {want}"
        );
    }
}
