//! An embedding set scored into a DCASE submission folder: one `anomaly_score_*` and one
//! `decision_result_*` file per section, the decisions thresholded at a percentile of the gamma
//! distribution fitted to the section's leave-one-out training scores (the DCASE baseline's rule).

use crate::error::ScoringError;
use crate::pipeline::{ScoreOptions, score_set};
use crate::threshold::GammaFit;
use asd_core::{EmbeddingSet, IoOp, SectionKey, Split, atomic};
use asd_eval::submission::{SectionScores, write_section};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SubmissionError {
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    #[error(
        "{}: holds files that are not a submission's ({}); scores go to an empty folder or a scores folder, which is replaced as a whole",
        dir.display(),
        files.join(", ")
    )]
    Foreign { dir: PathBuf, files: Vec<String> },
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: IoOp,
        source: std::io::Error,
    },
}

/// What a scoring run wrote and what it could not score.
#[derive(Debug, Default)]
pub struct Written {
    /// Sections written.
    pub sections: usize,
    /// Reference sets scored with fewer neighbours than asked (K clipped), one line each.
    pub notes: Vec<String>,
    /// Reference sets that could not be scored, with the reason; the others were written.
    pub failures: Vec<(String, ScoringError)>,
}

/// Files a scores folder may hold: the submission's and what `asd evaluate` writes beside them.
pub fn is_submission_file(name: &str) -> bool {
    name.starts_with("anomaly_score_")
        || name.starts_with("decision_result_")
        || matches!(
            name,
            "results.json" | "results.csv" | "official_result.csv" | "trials.json"
        )
}

/// Scores `set` and replaces `out` with its submission files as a unit: a failed or interrupted run
/// leaves the previous complete submission, never one method's sections beside another's.
pub fn score_to_dir(
    set: &EmbeddingSet,
    opts: &ScoreOptions,
    percentile: f64,
    out: &Path,
) -> Result<Written, SubmissionError> {
    let result = score_set(set, opts)?;
    let mut sections: BTreeMap<SectionKey, (SectionScores, Vec<f64>)> = BTreeMap::new();
    for (i, r) in set.records.iter().enumerate() {
        let entry = sections.entry(r.section_key()).or_insert_with(|| {
            (
                SectionScores {
                    machine_type: r.machine_type.clone(),
                    section: r.section.clone(),
                    rows: vec![],
                },
                vec![],
            )
        });
        match (r.split, result.test[i], result.train[i]) {
            (Split::Test, Some(s), _) => entry.0.rows.push((r.file.clone(), s)),
            (Split::Train, _, Some(s)) => entry.1.push(s),
            _ => {}
        }
    }
    let foreign =
        atomic::foreign_entries(out, is_submission_file).map_err(|source| SubmissionError::Io {
            path: out.to_path_buf(),
            op: IoOp::ListFolder,
            source,
        })?;
    if !foreign.is_empty() {
        return Err(SubmissionError::Foreign {
            dir: out.to_path_buf(),
            files: foreign,
        });
    }
    let written: Vec<&SectionScores> = sections
        .values()
        .filter(|(s, _)| !s.rows.is_empty())
        .map(|(s, _)| s)
        .collect();
    atomic::replace_dir(out, |tmp| -> std::io::Result<()> {
        for (s, train) in sections.values().filter(|(s, _)| !s.rows.is_empty()) {
            let threshold =
                GammaFit::fit(train).map_or(f64::INFINITY, |g| g.percentile(percentile));
            write_section(tmp, s, threshold)?;
        }
        Ok(())
    })
    .map_err(|source| SubmissionError::Io {
        path: out.to_path_buf(),
        op: IoOp::Write,
        source,
    })?;
    Ok(Written {
        sections: written.len(),
        notes: result.notes,
        failures: result.failures,
    })
}
