//! What the official DCASE evaluator (`dcase2023_task2_evaluator.py`, used unchanged for 2023–2026)
//! reads and writes, beside the metrics of [`crate::dcase`]:
//! - its ground-truth folders (`ground_truth_data/`, `ground_truth_domain/`,
//!   `ground_truth_attributes/`), so a submission can be checked against them directly;
//! - the jackknife 95 % confidence half-width of the official score;
//! - its result file, `<team>_result.csv`, in the same layout.
//!
//! The evaluator's jackknife pools every clip of every section, computes AUC and pAUC with each clip
//! left out, and takes σ² = Σ(θ₋ᵢ − mean θ₋ᵢ)² / (N(N − 1)) with Student's t at N − 1 degrees of
//! freedom; the half-width reported is the mean of AUC's and pAUC's. That variance is the textbook
//! jackknife's ((N − 1)/N · Σ…) divided by (N − 1)²; we report the evaluator's value because it is the
//! one the DCASE results list.

use crate::dcase::{ClipTruth, EvalError, ScoredClip, SectionResult};
use crate::metrics::{arithmetic_mean, harmonic_mean, leave_one_out};
use asd_core::{Domain, MachineFile, SectionKey};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const DATA_DIR: &str = "ground_truth_data";
pub const DOMAIN_DIR: &str = "ground_truth_domain";
pub const ATTRIBUTES_DIR: &str = "ground_truth_attributes";

/// The official score's jackknife CI95 half-width as the evaluator computes it (see the module
/// comment); `None` with fewer than 3 clips or without both normal and anomalous clips.
pub fn official_score_ci95(clips: &[ScoredClip], max_fpr: f64) -> Option<f64> {
    let n = clips.len();
    if n < 3 {
        return None;
    }
    let y: Vec<bool> = clips.iter().map(|c| c.truth.anomaly).collect();
    let s: Vec<f64> = clips.iter().map(|c| c.score).collect();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
    let t_crit = t.inverse_cdf(0.025).abs();
    let half_width = |max_fpr: f64| -> Option<f64> {
        let theta = leave_one_out(&y, &s, max_fpr).ok()?;
        let mean = arithmetic_mean(&theta)?;
        let ss: f64 = theta.iter().map(|v| (v - mean).powi(2)).sum();
        Some(t_crit * (ss / (n as f64 * (n - 1) as f64)).sqrt())
    };
    Some((half_width(1.0)? + half_width(max_fpr)?) / 2.0)
}

/// The ground truth of an evaluator folder.
#[derive(Debug, Default)]
pub struct EvaluatorTruth {
    /// Keyed by machine type and the file name as the evaluator lists it.
    pub clips: BTreeMap<MachineFile, ClipTruth>,
    /// Machine type and full DCASE name → the anonymised name, from `ground_truth_attributes/`; a
    /// submission may use either.
    pub anonymised: HashMap<MachineFile, String>,
}

impl EvaluatorTruth {
    /// The truth of a submitted file name (anonymised or full).
    pub fn get(&self, machine: &str, file: &str) -> Option<&ClipTruth> {
        let key = MachineFile::new(machine, file);
        if let Some(t) = self.clips.get(&key) {
            return Some(t);
        }
        let anon = self.anonymised.get(&key)?;
        self.clips.get(&MachineFile::new(machine, anon.as_str()))
    }
}

/// `ground_truth_<machine>_section_<XX>_test.csv` → its section.
fn parse_truth_name(name: &str) -> Option<SectionKey> {
    let rest = name
        .strip_prefix("ground_truth_")?
        .strip_suffix("_test.csv")?;
    let (m, s) = rest.rsplit_once("_section_")?;
    Some(SectionKey::new(m, s))
}

fn read_rows(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    crate::submission::read_rows(path, |v| Ok(v.to_string()))
}

fn flag(path: &Path, line: usize, v: &str) -> Result<bool, EvalError> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(EvalError::File {
            file: path.display().to_string(),
            message: format!("line {line}: expected 0 or 1, got '{v}'"),
        }),
    }
}

/// Whether `dir` is an evaluator folder (it has `ground_truth_data/`).
pub fn is_truth_dir(dir: &Path) -> bool {
    dir.join(DATA_DIR).is_dir()
}

/// Reads an evaluator folder: labels from `ground_truth_data/` (1 = anomaly), domains from
/// `ground_truth_domain/` (1 = target; without it the domain is unknown, as in DCASE 2020), full names
/// from `ground_truth_attributes/` where present. A domain file that lists other clips than its data
/// file is an error naming both.
pub fn read_truth_dir(dir: &Path) -> Result<EvaluatorTruth, EvalError> {
    let data_dir = dir.join(DATA_DIR);
    let names: Vec<String> = crate::submission::sorted_names(&data_dir, "ground_truth_")?
        .into_iter()
        .filter(|n| n.ends_with(".csv"))
        .collect();
    let mut out = EvaluatorTruth::default();
    for name in names {
        let path = data_dir.join(&name);
        let Some(SectionKey {
            machine_type: machine,
            section,
        }) = parse_truth_name(&name)
        else {
            return Err(EvalError::File {
                file: path.display().to_string(),
                message: "expected ground_truth_<machine>_section_<XX>_test.csv".into(),
            });
        };
        let labels = read_rows(&path)?;
        let domain_path = dir.join(DOMAIN_DIR).join(&name);
        let domains: Option<HashMap<String, String>> = if domain_path.exists() {
            Some(read_rows(&domain_path)?.into_iter().collect())
        } else {
            None
        };
        for (i, (file, label)) in labels.iter().enumerate() {
            let domain = match &domains {
                None => Domain::Unknown,
                Some(d) => match d.get(file) {
                    Some(v) => {
                        if flag(&domain_path, i + 1, v)? {
                            Domain::Target
                        } else {
                            Domain::Source
                        }
                    }
                    None => {
                        return Err(EvalError::File {
                            file: domain_path.display().to_string(),
                            message: format!("{file} (listed in {}) is missing", path.display()),
                        });
                    }
                },
            };
            out.clips.insert(
                MachineFile::new(&machine, file),
                ClipTruth {
                    machine_type: machine.clone(),
                    section: section.clone(),
                    domain,
                    anomaly: flag(&path, i + 1, label)?,
                },
            );
        }
        let attr_path = dir.join(ATTRIBUTES_DIR).join(&name);
        if attr_path.exists() {
            for (anon, full) in read_rows(&attr_path)? {
                out.anonymised
                    .insert(MachineFile::new(&machine, format!("{full}.wav")), anon);
            }
        }
    }
    if out.clips.is_empty() {
        return Err(EvalError::Io(format!(
            "{}: no ground_truth_*_test.csv files",
            data_dir.display()
        )));
    }
    Ok(out)
}

/// A float as Python's `repr` writes it (shortest round trip; exponent form below 1e-4 and from
/// 1e16), so the result file reads like the evaluator's.
pub fn py_float(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let plain = format!("{v}");
    if plain.contains('.') {
        plain
    } else {
        plain + ".0"
    }
}

const COLUMNS: &str = "section,AUC (all),AUC (source),AUC (target),pAUC,precision (source),precision (target),recall (source),recall (target),F1 score (source),F1 score (target)";
const MEANS_HEADER: &str = ",,AUC,pAUC,precision,recall,F1 score";

/// Rows AUC, pAUC, precision, recall, F1 of a set of sections, each with the source values first and
/// the target values after them (pAUC, which has no domain, twice), as the evaluator lays them out.
fn performance(sections: &[&SectionResult]) -> Option<[Vec<f64>; 5]> {
    let both = |src: fn(&SectionResult) -> Option<f64>, tgt: fn(&SectionResult) -> Option<f64>| {
        let s: Option<Vec<f64>> = sections.iter().map(|r| src(r)).collect();
        let t: Option<Vec<f64>> = sections.iter().map(|r| tgt(r)).collect();
        Some([s?, t?].concat())
    };
    Some([
        both(|r| r.auc_source, |r| r.auc_target)?,
        both(|r| r.pauc, |r| r.pauc)?,
        both(|r| r.precision_source, |r| r.precision_target)?,
        both(|r| r.recall_source, |r| r.recall_target)?,
        both(|r| r.f1_source, |r| r.f1_target)?,
    ])
}

fn means_rows(perf: &[Vec<f64>; 5], suffix: &str) -> Vec<String> {
    let half = perf[0].len() / 2;
    let row = |label: &str, f: &dyn Fn(&[f64]) -> f64| {
        let label = format!("{label}{suffix}");
        let label = if label.contains(',') {
            format!("\"{label}\"")
        } else {
            label
        };
        let values: Vec<String> = perf.iter().map(|v| py_float(f(v))).collect();
        format!("{label},,{}", values.join(","))
    };
    let hmean = |v: &[f64]| harmonic_mean(v).unwrap_or(f64::NAN);
    vec![
        MEANS_HEADER.to_string(),
        row("arithmetic mean", &|v| {
            arithmetic_mean(v).unwrap_or(f64::NAN)
        }),
        row("harmonic mean", &hmean),
        row("source harmonic mean", &|v| hmean(&v[..half])),
        row("target harmonic mean", &|v| hmean(&v[half..])),
    ]
}

/// The evaluator's result file (`--out_all` layout): per machine type its sections and means, then the
/// means over everything, the official score and its CI95. `None` when a section lacks a domain
/// metric or a decision metric (the evaluator stops there too).
pub fn official_result_csv(results: &[SectionResult], ci95: Option<f64>) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut machines: Vec<&str> = results.iter().map(|r| r.machine_type.as_str()).collect();
    machines.dedup();
    for m in machines {
        let of_m: Vec<&SectionResult> = results.iter().filter(|r| r.machine_type == m).collect();
        lines.push(m.to_string());
        lines.push(COLUMNS.to_string());
        for r in &of_m {
            let cells: Vec<String> = [
                r.auc,
                r.auc_source,
                r.auc_target,
                r.pauc,
                r.precision_source,
                r.precision_target,
                r.recall_source,
                r.recall_target,
                r.f1_source,
                r.f1_target,
            ]
            .iter()
            .map(|v| v.map(py_float))
            .collect::<Option<_>>()?;
            lines.push(format!("{},{}", r.section, cells.join(",")));
        }
        lines.extend(means_rows(&performance(&of_m)?, ""));
        lines.push(String::new());
    }
    let all: Vec<&SectionResult> = results.iter().collect();
    let perf = performance(&all)?;
    lines.extend(means_rows(
        &perf,
        " over all machine types, sections, and domains",
    ));
    lines.push(String::new());
    let half = perf[0].len() / 2;
    let official = harmonic_mean(&[&perf[0][..], &perf[1][..half]].concat())?;
    lines.push(format!("official score,,{}", py_float(official)));
    if let Some(ci) = ci95 {
        lines.push(format!("official score ci95,,{}", py_float(ci)));
    }
    lines.push(String::new());
    Some(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        for (v, want) in [
            (0.6799000000000001, "0.6799000000000001"),
            (8.881784197001244e-16, "8.881784197001244e-16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (2.0595556226195794e-05, "2.0595556226195794e-05"),
            (1e16, "1e+16"),
            (123.5, "123.5"),
        ] {
            assert_eq!(py_float(v), want);
        }
    }

    #[test]
    fn truth_names_parse() {
        assert_eq!(
            parse_truth_name("ground_truth_ToyCar_section_00_test.csv"),
            Some(SectionKey::new("ToyCar", "00"))
        );
        assert_eq!(parse_truth_name("ground_truth_ToyCar.csv"), None);
    }
}
