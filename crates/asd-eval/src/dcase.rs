//! Per-section metrics with the definitions of the official DCASE evaluators.
//!
//! For a section with domains (DCASE 2021–2026):
//! - `auc_source`: source-domain normal clips plus *all* anomalous clips of the section; `auc_target`
//!   likewise with target normals;
//! - `pauc`: all clips of the section (max FPR 0.1);
//! - `pauc_source`, `pauc_target` and `simple_auc_*`: clips of that domain only, normal and anomalous
//!   (as the reference implementation computes the per-domain pAUC).
//!
//! - `precision_*`, `recall_*`, `f1_*`: from the decision file, over that domain's clips only, each
//!   denominator floored at the float epsilon (so 0/0 gives 0), as the official evaluator computes them;
//!   present only when every clip of the section has a decision.
//!
//! For DCASE 2020 (no domains) `auc` and `pauc` over all clips of the machine id.

use crate::metrics::{MetricError, auc, partial_auc};
use asd_core::Domain;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

pub const DEFAULT_MAX_FPR: f64 = 0.1;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{count} scored clip(s) have no ground truth, e.g. {examples}")]
    MissingTruth { count: usize, examples: String },
    #[error("machine type(s) {0} in the scores are unknown to the ground truth")]
    UnknownMachine(String),
    #[error("no scored clips to evaluate")]
    Empty,
    #[error("{0}")]
    Io(String),
}

/// Ground truth of one test clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipTruth {
    pub machine_type: String,
    pub section: String,
    pub domain: Domain,
    pub anomaly: bool,
}

/// A test clip with its truth, score and, where a decision file gave one, its decision (true =
/// anomalous).
#[derive(Debug, Clone)]
pub struct ScoredClip {
    pub truth: ClipTruth,
    pub score: f64,
    pub decision: Option<bool>,
}

/// Metrics of one section. A metric is `None` where it is undefined (a class or domain is missing);
/// `notes` says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SectionResult {
    pub machine_type: String,
    pub section: String,
    pub n_normal_source: usize,
    pub n_normal_target: usize,
    pub n_anomaly_source: usize,
    pub n_anomaly_target: usize,
    pub n_unknown_domain: usize,
    pub auc: Option<f64>,
    pub auc_source: Option<f64>,
    pub auc_target: Option<f64>,
    pub pauc: Option<f64>,
    pub pauc_source: Option<f64>,
    pub pauc_target: Option<f64>,
    pub simple_auc_source: Option<f64>,
    pub simple_auc_target: Option<f64>,
    #[serde(default)]
    pub precision_source: Option<f64>,
    #[serde(default)]
    pub precision_target: Option<f64>,
    #[serde(default)]
    pub recall_source: Option<f64>,
    #[serde(default)]
    pub recall_target: Option<f64>,
    #[serde(default)]
    pub f1_source: Option<f64>,
    #[serde(default)]
    pub f1_target: Option<f64>,
    pub notes: Vec<String>,
}

/// Precision, recall and F1 of the decisions, with the evaluator's epsilon floors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl DecisionScores {
    /// From (is anomalous, decided anomalous) pairs.
    pub fn of(pairs: impl Iterator<Item = (bool, bool)>) -> Self {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for (truth, decided) in pairs {
            match (truth, decided) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        let floor = |n: usize| (n as f64).max(f64::EPSILON);
        let precision = tp as f64 / floor(tp + fp);
        let recall = tp as f64 / floor(tp + fn_);
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
        Self {
            precision,
            recall,
            f1,
        }
    }
}

impl SectionResult {
    /// Whether the section's clips carry domains (DCASE 2021 onwards).
    pub fn has_domains(&self) -> bool {
        self.n_unknown_domain == 0
    }
}

fn metric<F>(
    clips: &[&ScoredClip],
    keep: F,
    max_fpr: Option<f64>,
    name: &str,
    notes: &mut Vec<String>,
) -> Option<f64>
where
    F: Fn(&ScoredClip) -> bool,
{
    let chosen: Vec<&&ScoredClip> = clips.iter().filter(|c| keep(c)).collect();
    let y: Vec<bool> = chosen.iter().map(|c| c.truth.anomaly).collect();
    let s: Vec<f64> = chosen.iter().map(|c| c.score).collect();
    let r: Result<f64, MetricError> = match max_fpr {
        None => auc(&y, &s),
        Some(p) => partial_auc(&y, &s, p),
    };
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{name} {e}"));
            None
        }
    }
}

/// Evaluates every (machine type, section) present among `clips`, sorted by machine type and section.
pub fn evaluate(clips: &[ScoredClip], max_fpr: f64) -> Vec<SectionResult> {
    let mut groups: BTreeMap<(&str, &str), Vec<&ScoredClip>> = BTreeMap::new();
    for c in clips {
        groups
            .entry((&c.truth.machine_type, &c.truth.section))
            .or_default()
            .push(c);
    }
    groups
        .into_iter()
        .map(|((machine_type, section), cs)| {
            let mut r = counted(machine_type, section, &cs);
            let mut notes = Vec::new();
            let all = |_: &ScoredClip| true;
            r.auc = metric(&cs, all, None, "auc", &mut notes);
            r.pauc = metric(&cs, all, Some(max_fpr), "pauc", &mut notes);
            if r.has_domains() {
                domain_metrics(&mut r, &cs, max_fpr, &mut notes);
                decision_metrics(&mut r, &cs, &mut notes);
            }
            r.notes = notes;
            r
        })
        .collect()
}

/// A section's result with its clip counts per domain and label, no metric yet.
fn counted(machine_type: &str, section: &str, cs: &[&ScoredClip]) -> SectionResult {
    let count = |d: Domain, a: bool| {
        cs.iter()
            .filter(|c| c.truth.domain == d && c.truth.anomaly == a)
            .count()
    };
    SectionResult {
        machine_type: machine_type.to_string(),
        section: section.to_string(),
        n_normal_source: count(Domain::Source, false),
        n_normal_target: count(Domain::Target, false),
        n_anomaly_source: count(Domain::Source, true),
        n_anomaly_target: count(Domain::Target, true),
        n_unknown_domain: cs
            .iter()
            .filter(|c| c.truth.domain == Domain::Unknown)
            .count(),
        ..Default::default()
    }
}

/// The per-domain AUCs and pAUCs: the official AUC of a domain ranks all anomalies (of both
/// domains) against that domain's normal clips; pAUC and the "simple" AUC use that domain's
/// clips only.
fn domain_metrics(
    r: &mut SectionResult,
    cs: &[&ScoredClip],
    max_fpr: f64,
    notes: &mut Vec<String>,
) {
    let official = |d: Domain| move |c: &ScoredClip| c.truth.anomaly || c.truth.domain == d;
    let simple = |d: Domain| move |c: &ScoredClip| c.truth.domain == d;
    let (src, tgt) = (Domain::Source, Domain::Target);
    r.auc_source = metric(cs, official(src), None, "auc_source", notes);
    r.auc_target = metric(cs, official(tgt), None, "auc_target", notes);
    r.pauc_source = metric(cs, simple(src), Some(max_fpr), "pauc_source", notes);
    r.pauc_target = metric(cs, simple(tgt), Some(max_fpr), "pauc_target", notes);
    r.simple_auc_source = metric(cs, simple(src), None, "simple_auc_source", notes);
    r.simple_auc_target = metric(cs, simple(tgt), None, "simple_auc_target", notes);
}

/// Precision, recall and F1 of the decisions per domain, where every clip has a decision.
fn decision_metrics(r: &mut SectionResult, cs: &[&ScoredClip], notes: &mut Vec<String>) {
    if cs.iter().all(|c| c.decision.is_some()) {
        let of = |d: Domain| {
            DecisionScores::of(
                cs.iter()
                    .filter(|c| c.truth.domain == d)
                    .map(|c| (c.truth.anomaly, c.decision == Some(true))),
            )
        };
        let (src, tgt) = (of(Domain::Source), of(Domain::Target));
        r.precision_source = Some(src.precision);
        r.precision_target = Some(tgt.precision);
        r.recall_source = Some(src.recall);
        r.recall_target = Some(tgt.recall);
        r.f1_source = Some(src.f1);
        r.f1_target = Some(tgt.f1);
    } else if cs.iter().any(|c| c.decision.is_some()) {
        notes.push("some clips have no decision: precision, recall and F1 left out".into());
    }
}
