//! The files the DCASE challenge expects: `anomaly_score_<machine>_section_<XX>_test.csv` (rows
//! `file,score`) and `decision_result_<machine>_section_<XX>_test.csv` (rows `file,0|1`), no header.
//! DCASE 2020's `anomaly_score_<machine>_id_<XX>.csv` is read as well.

use crate::dcase::EvalError;
use asd_core::{SectionKey, atomic};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Scores of one section's test clips.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionScores {
    pub machine_type: String,
    pub section: String,
    /// (file name, score) in test-clip order.
    pub rows: Vec<(String, f64)>,
}

pub fn score_file_name(machine: &str, section: &str) -> String {
    format!("anomaly_score_{machine}_section_{section}_test.csv")
}

pub fn decision_file_name(machine: &str, section: &str) -> String {
    format!("decision_result_{machine}_section_{section}_test.csv")
}

/// Writes both files of a section atomically; `threshold` decides 1 (anomalous) for scores above it.
pub fn write_section(dir: &Path, s: &SectionScores, threshold: f64) -> std::io::Result<()> {
    atomic::write_with(
        &dir.join(score_file_name(&s.machine_type, &s.section)),
        |w| {
            for (f, v) in &s.rows {
                writeln!(w, "{f},{v}")?;
            }
            Ok(())
        },
    )?;
    atomic::write_with(
        &dir.join(decision_file_name(&s.machine_type, &s.section)),
        |w| {
            for (f, v) in &s.rows {
                writeln!(w, "{f},{}", u8::from(*v > threshold))?;
            }
            Ok(())
        },
    )
}

/// The sorted names of the files in `dir` that start with `prefix`.
pub(crate) fn sorted_names(dir: &Path, prefix: &str) -> Result<Vec<String>, EvalError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| EvalError::Io(format!("{}: cannot list folder: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    Ok(names)
}

/// Why the value of a `file,value` row was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("decision '{0}' is not 0 or 1")]
    Decision(String),
    #[error("score '{0}' is not a number")]
    NotANumber(String),
    #[error("score '{0}' is not finite")]
    NotFinite(String),
}

/// Reads `file,value` rows (blank lines skipped); a malformed line is an error naming the file and line.
pub(crate) fn read_rows<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Vec<(String, T)>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::File {
        file: path.display().to_string(),
        message: format!("cannot read: {e}"),
    })?;
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |m: &str| EvalError::File {
            file: path.display().to_string(),
            message: format!("line {}: {m}", i + 1),
        };
        let (f, v) = line
            .rsplit_once(',')
            .ok_or_else(|| bad("expected 'file,value'"))?;
        let v = parse(v.trim()).map_err(|e| bad(&e.to_string()))?;
        rows.push((f.trim().to_string(), v));
    }
    Ok(rows)
}

/// The decisions of a section (`decision_result_…`, true = anomalous) keyed by file name, or `None`
/// when the submission has no decision file for it.
pub fn read_decisions(
    dir: &Path,
    machine: &str,
    section: &str,
) -> Result<Option<HashMap<String, bool>>, EvalError> {
    let path = dir.join(decision_file_name(machine, section));
    if !path.exists() {
        return Ok(None);
    }
    let rows = read_rows(&path, |v| match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(ValueError::Decision(v.to_string())),
    })?;
    let mut out = HashMap::with_capacity(rows.len());
    for (f, d) in rows {
        if out.insert(f.clone(), d).is_some() {
            return Err(EvalError::File {
                file: path.display().to_string(),
                message: format!("{f} is listed twice"),
            });
        }
    }
    Ok(Some(out))
}

/// Parses a score file's name into its section (machine type and section, or ID before 2021).
pub fn parse_score_file_name(name: &str) -> Option<SectionKey> {
    let stem = name.strip_prefix("anomaly_score_")?;
    if let Some(rest) = stem.strip_suffix("_test.csv") {
        let (m, s) = rest.rsplit_once("_section_")?;
        return Some(SectionKey::new(m, s));
    }
    let rest = stem.strip_suffix(".csv")?;
    let (m, s) = rest.rsplit_once("_id_")?;
    Some(SectionKey::new(m, s))
}

/// Reads every score file of a folder. Files that are not score files are ignored; a malformed score
/// file is an error naming the file and line.
pub fn read_scores_dir(dir: &Path) -> Result<Vec<SectionScores>, EvalError> {
    let names = sorted_names(dir, "anomaly_score_")?;
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let Some(SectionKey {
            machine_type,
            section,
        }) = parse_score_file_name(&name)
        else {
            return Err(EvalError::File {
                file: path.display().to_string(),
                message: "unrecognised score file name".into(),
            });
        };
        let rows = read_rows(&path, |v| {
            let x: f64 = v
                .parse()
                .map_err(|_| ValueError::NotANumber(v.to_string()))?;
            if x.is_finite() {
                Ok(x)
            } else {
                Err(ValueError::NotFinite(v.to_string()))
            }
        })?;
        out.push(SectionScores {
            machine_type,
            section,
            rows,
        });
    }
    if out.is_empty() {
        return Err(EvalError::Io(format!(
            "{}: no anomaly_score_*.csv files",
            dir.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_of_both_conventions() {
        assert_eq!(
            parse_score_file_name("anomaly_score_ToyCar_section_00_test.csv"),
            Some(SectionKey::new("ToyCar", "00"))
        );
        assert_eq!(
            parse_score_file_name("anomaly_score_my_machine_section_01_test.csv"),
            Some(SectionKey::new("my_machine", "01"))
        );
        assert_eq!(
            parse_score_file_name("anomaly_score_fan_id_02.csv"),
            Some(SectionKey::new("fan", "02"))
        );
        assert_eq!(parse_score_file_name("anomaly_score_fan.csv"), None);
    }

    #[test]
    fn writes_and_reads_back_with_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let s = SectionScores {
            machine_type: "fan".into(),
            section: "00".into(),
            rows: vec![("a.wav".into(), 0.2), ("b.wav".into(), 0.7)],
        };
        write_section(dir.path(), &s, 0.5).unwrap();
        assert_eq!(read_scores_dir(dir.path()).unwrap(), vec![s]);
        let dec =
            std::fs::read_to_string(dir.path().join("decision_result_fan_section_00_test.csv"))
                .unwrap();
        assert_eq!(dec, "a.wav,0\nb.wav,1\n");
        let read = read_decisions(dir.path(), "fan", "00").unwrap().unwrap();
        assert_eq!(read.get("b.wav"), Some(&true));
        assert_eq!(read.get("a.wav"), Some(&false));
        assert_eq!(read_decisions(dir.path(), "fan", "01").unwrap(), None);
        std::fs::write(
            dir.path().join("decision_result_fan_section_00_test.csv"),
            "a.wav,0\nb.wav,yes\n",
        )
        .unwrap();
        let err = read_decisions(dir.path(), "fan", "00")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("'yes'"), "{err}");
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("anomaly_score_fan_section_00_test.csv"),
            "a.wav,0.1\nb.wav,oops\n",
        )
        .unwrap();
        let err = read_scores_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("anomaly_score_fan_section_00_test.csv") && err.contains("line 2"),
            "{err}"
        );
    }
}
