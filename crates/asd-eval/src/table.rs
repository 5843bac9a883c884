//! Plain-text tables for the terminal and Markdown reports.

use crate::dcase::SectionResult;
use crate::summary::{Summary, TrialStats};

pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.2}", 100.0 * v))
}

pub fn pct_stats(s: Option<TrialStats>) -> String {
    s.map_or_else(
        || "—".to_string(),
        |s| format!("{:.1} ± {:.1}", 100.0 * s.mean, 100.0 * s.std),
    )
}

pub use asd_core::table::markdown;

/// Per-section metrics in percent.
pub fn sections_table(results: &[SectionResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.machine_type.clone(),
                r.section.clone(),
                pct(if r.has_domains() { r.auc_source } else { r.auc }),
                pct(r.auc_target),
                pct(r.pauc),
                pct(r.pauc_source),
                pct(r.pauc_target),
                pct(r.simple_auc_source),
                pct(r.simple_auc_target),
                pct(r.f1_source),
                pct(r.f1_target),
            ]
        })
        .collect();
    markdown(
        &[
            "machine",
            "section",
            "AUC src",
            "AUC tgt",
            "pAUC",
            "pAUC src",
            "pAUC tgt",
            "AUC src (simple)",
            "AUC tgt (simple)",
            "F1 src",
            "F1 tgt",
        ],
        &rows,
    )
}

/// Harmonic means per scope, in percent.
pub fn summary_table(summaries: &[Summary]) -> String {
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            vec![
                s.scope.clone(),
                s.sections.to_string(),
                pct(s.hmean),
                pct(s.hmean_source),
                pct(s.hmean_target),
                pct(s.amean),
                s.official_score_ci95
                    .map_or_else(String::new, |c| format!("± {:.4}", 100.0 * c)),
                pct(s.hmean_f1),
            ]
        })
        .collect();
    markdown(
        &[
            "scope",
            "sections",
            "hmean (official)",
            "hmean source",
            "hmean target",
            "arith. mean",
            "CI95 (official)",
            "F1 (hmean)",
        ],
        &rows,
    )
}
