//! `asd._native.auc`, `pauc` and `dcase`: the metrics of `asd-eval` on arrays.

use crate::errors::value_error;
use asd_core::Domain;
use asd_eval::dcase::{ClipTruth, ScoredClip, evaluate};
use asd_eval::evaluator::official_score_ci95;
use asd_eval::summary::{MetricKind, Summary};
use asd_eval::{auc as auc_of, partial_auc};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Editions whose clips carry a domain (source or target); 2020 has none.
const DOMAIN_EDITIONS: std::ops::RangeInclusive<u32> = 2021..=2026;

fn scores_of(a: &PyReadonlyArray1<'_, f64>) -> Vec<f64> {
    a.as_array().to_vec()
}

#[pyfunction]
pub fn auc(py: Python<'_>, y_true: Vec<bool>, y_score: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    let s = scores_of(&y_score);
    py.detach(|| auc_of(&y_true, &s)).map_err(value_error)
}

#[pyfunction]
pub fn pauc(
    py: Python<'_>,
    y_true: Vec<bool>,
    y_score: PyReadonlyArray1<'_, f64>,
    max_fpr: f64,
) -> PyResult<f64> {
    let s = scores_of(&y_score);
    py.detach(|| partial_auc(&y_true, &s, max_fpr))
        .map_err(value_error)
}

/// Per-section metrics and the official score as JSON text (the Python side parses it into a dict).
#[pyfunction]
#[pyo3(signature = (scores, is_anomaly, is_target, section, machine_type, decisions, edition, max_fpr))]
#[allow(clippy::too_many_arguments)]
pub fn dcase(
    py: Python<'_>,
    scores: PyReadonlyArray1<'_, f64>,
    is_anomaly: Vec<bool>,
    is_target: Option<Vec<bool>>,
    section: Vec<String>,
    machine_type: Vec<String>,
    decisions: Option<Vec<bool>>,
    edition: u32,
    max_fpr: f64,
) -> PyResult<String> {
    let scores = scores_of(&scores);
    let with_domains = DOMAIN_EDITIONS.contains(&edition);
    if edition != 2020 && !with_domains {
        return Err(PyValueError::new_err(format!(
            "edition: DCASE task 2 editions are 2020 to 2026, got {edition}"
        )));
    }
    if with_domains && is_target.is_none() {
        return Err(PyValueError::new_err(format!(
            "is_target: DCASE {edition} evaluates source and target domains; give a domain for every clip"
        )));
    }
    if !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return Err(PyValueError::new_err(format!(
            "max_fpr: must lie in (0, 1], got {max_fpr}"
        )));
    }
    let clips: Vec<ScoredClip> = (0..scores.len())
        .map(|i| ScoredClip {
            truth: ClipTruth {
                machine_type: machine_type[i].clone(),
                section: section[i].clone(),
                domain: match (&is_target, with_domains) {
                    (Some(t), true) if t[i] => Domain::Target,
                    (Some(_), true) => Domain::Source,
                    _ => Domain::Unknown,
                },
                anomaly: is_anomaly[i],
            },
            score: scores[i],
            decision: decisions.as_ref().map(|d| d[i]),
        })
        .collect();
    let (sections, summary, ci95) = py.detach(|| {
        let sections = evaluate(&clips, max_fpr);
        let all: Vec<_> = sections.iter().collect();
        let summary = Summary::of("all", &all, MetricKind::Official);
        // The jackknife CI95 is the 2023 evaluator's, used unchanged since.
        let ci95 = (edition >= 2023)
            .then(|| official_score_ci95(&clips, max_fpr))
            .flatten();
        (sections, summary, ci95)
    });
    let out = serde_json::json!({
        "edition": edition,
        "official_score": summary.hmean,
        "official_score_ci95": ci95,
        "hmean_source": summary.hmean_source,
        "hmean_target": summary.hmean_target,
        "mean_auc_source": summary.mean_auc_source,
        "mean_auc_target": summary.mean_auc_target,
        "mean_pauc": summary.mean_pauc,
        "hmean_precision": summary.hmean_precision,
        "hmean_recall": summary.hmean_recall,
        "hmean_f1": summary.hmean_f1,
        "sections": sections,
    });
    Ok(out.to_string())
}
