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

/// A Markdown table (also readable on a terminal) from a header and rows.
pub fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    out += &line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in rows {
        out += &line(r.clone());
    }
    out
}

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
                pct(r.simple_auc_source),
                pct(r.simple_auc_target),
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
            "AUC src (simple)",
            "AUC tgt (simple)",
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
        ],
        &rows,
    )
}
