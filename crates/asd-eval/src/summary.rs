//! Aggregates of section results: the official score and the per-domain harmonic means of the paper's
//! Table I, plus mean ± standard deviation over trials (independently trained models).

use crate::dcase::SectionResult;
use crate::metrics::{arithmetic_mean, harmonic_mean};
use serde::{Deserialize, Serialize};

/// Reads one metric of a section.
type Getter = fn(&SectionResult) -> Option<f64>;

/// Which AUC definition the headline score uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// DCASE evaluators: domain AUCs over the domain's normals plus all anomalies.
    Official,
    /// Domain AUCs over clips of that domain only.
    Simple,
}

/// Aggregate of a set of sections (all, or one machine type). `None` where a needed metric is missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scope: String,
    pub sections: usize,
    /// Harmonic mean of every section's AUC (source), AUC (target) and pAUC; DCASE 2020 (no domains):
    /// of every section's AUC and pAUC. The challenge's official score.
    pub hmean: Option<f64>,
    /// Arithmetic mean of the same values.
    pub amean: Option<f64>,
    /// Harmonic mean of the source-domain AUCs and pAUCs (Table I, "source domain").
    pub hmean_source: Option<f64>,
    /// Harmonic mean of the target-domain AUCs and pAUCs (Table I, "target domain").
    pub hmean_target: Option<f64>,
    pub mean_auc_source: Option<f64>,
    pub mean_auc_target: Option<f64>,
    pub mean_pauc: Option<f64>,
    /// Harmonic means over every section and domain of the decisions' precision, recall and F1
    /// (epsilon-floored, as the evaluator); `None` without decision files.
    #[serde(default)]
    pub hmean_precision: Option<f64>,
    #[serde(default)]
    pub hmean_recall: Option<f64>,
    #[serde(default)]
    pub hmean_f1: Option<f64>,
    /// The official score's jackknife CI95 half-width, as the official evaluator computes it (set for
    /// the whole submission only: see [`crate::evaluator::official_score_ci95`]).
    #[serde(default)]
    pub official_score_ci95: Option<f64>,
}

fn collect<F: Fn(&SectionResult) -> Vec<Option<f64>>>(
    sections: &[&SectionResult],
    f: F,
) -> Option<Vec<f64>> {
    sections.iter().flat_map(|s| f(s)).collect()
}

impl Summary {
    pub fn of(scope: &str, sections: &[&SectionResult], kind: MetricKind) -> Self {
        let domains = sections.iter().all(|s| s.has_domains());
        let (src, tgt): (Getter, Getter) = match kind {
            MetricKind::Official => (|s| s.auc_source, |s| s.auc_target),
            MetricKind::Simple => (|s| s.simple_auc_source, |s| s.simple_auc_target),
        };
        let headline = if domains {
            collect(sections, |s| vec![src(s), tgt(s), s.pauc])
        } else {
            collect(sections, |s| vec![s.auc, s.pauc])
        };
        let mean_of = |f: fn(&SectionResult) -> Option<f64>| {
            collect(sections, |s| vec![f(s)]).and_then(|v| arithmetic_mean(&v))
        };
        Summary {
            scope: scope.to_string(),
            sections: sections.len(),
            hmean: headline.as_deref().and_then(harmonic_mean),
            amean: headline.as_deref().and_then(arithmetic_mean),
            hmean_source: if domains {
                collect(sections, |s| vec![src(s), s.pauc_source])
                    .as_deref()
                    .and_then(harmonic_mean)
            } else {
                None
            },
            hmean_target: if domains {
                collect(sections, |s| vec![tgt(s), s.pauc_target])
                    .as_deref()
                    .and_then(harmonic_mean)
            } else {
                None
            },
            mean_auc_source: if domains {
                mean_of(src)
            } else {
                mean_of(|s| s.auc)
            },
            mean_auc_target: if domains { mean_of(tgt) } else { None },
            mean_pauc: mean_of(|s| s.pauc),
            hmean_precision: collect(sections, |s| vec![s.precision_source, s.precision_target])
                .as_deref()
                .and_then(harmonic_mean),
            hmean_recall: collect(sections, |s| vec![s.recall_source, s.recall_target])
                .as_deref()
                .and_then(harmonic_mean),
            hmean_f1: collect(sections, |s| vec![s.f1_source, s.f1_target])
                .as_deref()
                .and_then(harmonic_mean),
            official_score_ci95: None,
        }
    }

    /// The overall summary followed by one per machine type.
    pub fn all_and_per_machine(results: &[SectionResult], kind: MetricKind) -> Vec<Summary> {
        let all: Vec<&SectionResult> = results.iter().collect();
        let mut out = vec![Summary::of("all", &all, kind)];
        let mut machines: Vec<&str> = results.iter().map(|r| r.machine_type.as_str()).collect();
        machines.dedup();
        for m in machines {
            let of_m: Vec<&SectionResult> =
                results.iter().filter(|r| r.machine_type == m).collect();
            out.push(Summary::of(m, &of_m, kind));
        }
        out
    }
}

/// Mean and unbiased standard deviation of one figure over trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialStats {
    pub mean: f64,
    pub std: f64,
    pub trials: usize,
}

impl TrialStats {
    /// `None` when any trial lacks the value or there are none.
    pub fn of(values: &[Option<f64>]) -> Option<Self> {
        let v: Vec<f64> = values.iter().copied().collect::<Option<Vec<f64>>>()?;
        let n = v.len();
        let mean = arithmetic_mean(&v)?;
        let std = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Self {
            mean,
            std,
            trials: n,
        })
    }
}
