//! Reproduces the official DCASE evaluator's full output (`evaluator/`: its `--out_all` result file
//! and the parsed values, run on a synthetic submission for three made-up machine types) to 1e-9:
//! AUC per domain, pAUC, precision/recall/F1 per domain from the decision files, the epsilon-floored
//! harmonic means, the official score and its jackknife CI95, and the 2026 baseline's per-domain pAUC.

use asd_eval::SectionResult;
use asd_eval::dcase::{DEFAULT_MAX_FPR, ScoredClip, evaluate};
use asd_eval::evaluator::{official_result_csv, official_score_ci95, read_truth_dir};
use asd_eval::submission::{read_decisions, read_scores_dir};
use asd_eval::summary::{MetricKind, Summary};
use asd_testkit::reference_fixture;
use serde_json::Value;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    reference_fixture(&format!("evaluator/{rel}"))
}

fn scored_submission() -> Vec<ScoredClip> {
    let truth = read_truth_dir(&fixture("")).unwrap();
    let dir = fixture("submission");
    let mut clips = Vec::new();
    for s in read_scores_dir(&dir).unwrap() {
        let decisions = read_decisions(&dir, &s.machine_type, &s.section)
            .unwrap()
            .expect("every section of the fixture has a decision file");
        for (file, score) in &s.rows {
            clips.push(ScoredClip {
                truth: truth.get(&s.machine_type, file).unwrap().clone(),
                score: *score,
                decision: Some(decisions[file]),
            });
        }
    }
    clips
}

fn values() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("values.json")).unwrap()).unwrap()
}

const TOL: f64 = 1e-9;

type Getter = fn(&SectionResult) -> Option<f64>;

#[test]
fn every_section_metric_equals_the_evaluators() {
    let results = evaluate(&scored_submission(), DEFAULT_MAX_FPR);
    let want = values();
    let want = want["sections"].as_array().unwrap();
    assert_eq!(results.len(), want.len());
    let keys: [(&str, Getter); 12] = [
        ("AUC (all)", |r| r.auc),
        ("AUC (source)", |r| r.auc_source),
        ("AUC (target)", |r| r.auc_target),
        ("pAUC", |r| r.pauc),
        ("precision (source)", |r| r.precision_source),
        ("precision (target)", |r| r.precision_target),
        ("recall (source)", |r| r.recall_source),
        ("recall (target)", |r| r.recall_target),
        ("F1 score (source)", |r| r.f1_source),
        ("F1 score (target)", |r| r.f1_target),
        ("pAUC (source)", |r| r.pauc_source),
        ("pAUC (target)", |r| r.pauc_target),
    ];
    for (r, w) in results.iter().zip(want) {
        assert_eq!(r.machine_type, w["machine_type"].as_str().unwrap());
        assert_eq!(r.section, w["section"].as_str().unwrap());
        for (key, get) in &keys {
            let (got, want) = (get(r).unwrap(), w[*key].as_f64().unwrap());
            assert!(
                (got - want).abs() < TOL,
                "{} {} {key}: {got} vs {want}",
                r.machine_type,
                r.section
            );
        }
    }
}

#[test]
fn official_score_and_its_jackknife_ci95_equal_the_evaluators() {
    let clips = scored_submission();
    let results = evaluate(&clips, DEFAULT_MAX_FPR);
    let all: Vec<_> = results.iter().collect();
    let summary = Summary::of("all", &all, MetricKind::Official);
    let want = values();
    let official = want["official_score"].as_f64().unwrap();
    assert!((summary.hmean.unwrap() - official).abs() < TOL);
    let ci = official_score_ci95(&clips, DEFAULT_MAX_FPR).unwrap();
    let want_ci = want["official_score_ci95"].as_f64().unwrap();
    assert!(
        (ci - want_ci).abs() < TOL && (ci / want_ci - 1.0).abs() < 1e-6,
        "ci95 {ci} vs {want_ci}"
    );
    // A zero precision (pumpBeta 01 target, valveGamma 00) floors the harmonic means near 1e-16, as
    // the evaluator does, instead of leaving them undefined.
    let f1 = summary.hmean_f1.unwrap();
    assert!(f1 > 0.0 && f1 < 1e-14, "{f1}");
}

/// Cell by cell: text cells equal, numbers within 1e-9.
#[test]
fn the_result_file_has_the_evaluators_layout_and_numbers() {
    let clips = scored_submission();
    let results = evaluate(&clips, DEFAULT_MAX_FPR);
    let ours = official_result_csv(&results, official_score_ci95(&clips, DEFAULT_MAX_FPR)).unwrap();
    let theirs = std::fs::read_to_string(fixture("official_result.csv")).unwrap();
    let split = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .map(|l| {
                // The one quoted cell holds commas: take it whole.
                if let Some(rest) = l.strip_prefix('"') {
                    let (q, tail) = rest.split_once('"').unwrap();
                    std::iter::once(q.to_string())
                        .chain(tail.split(',').skip(1).map(str::to_string))
                        .collect()
                } else {
                    l.split(',').map(str::to_string).collect()
                }
            })
            .collect()
    };
    let (a, b) = (split(&ours), split(&theirs));
    assert_eq!(a.len(), b.len(), "line count\n{ours}");
    let mut numbers = 0;
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        assert_eq!(ra.len(), rb.len(), "line {}: {ra:?} vs {rb:?}", i + 1);
        for (ca, cb) in ra.iter().zip(rb) {
            match (ca.parse::<f64>(), cb.parse::<f64>()) {
                (Ok(x), Ok(y)) if !ca.is_empty() && cb.contains(['.', 'e']) => {
                    assert!((x - y).abs() < TOL, "line {}: {ca} vs {cb}", i + 1);
                    numbers += 1;
                }
                _ => assert_eq!(ca, cb, "line {}", i + 1),
            }
        }
    }
    // 6 sections × 10 metrics, 3 machine types × 4 means × 5 metrics, 4 overall means × 5 metrics, the
    // official score and its CI95.
    assert_eq!(numbers, 6 * 10 + 3 * 4 * 5 + 4 * 5 + 2);
}
