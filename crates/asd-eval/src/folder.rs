//! A submission folder checked against the ground truth and evaluated, as the official evaluator
//! does: every section of the truth must have a score file, every clip of a scored section a row,
//! and no clip two rows. `allow_partial` turns the first two into warnings for users who scored
//! only part of a dataset on purpose.

use crate::dcase::{DEFAULT_MAX_FPR, ScoredClip};
use crate::evaluator::official_score_ci95;
use crate::submission::{read_decisions, read_scores_dir};
use crate::summary::Summary;
use crate::{ClipTruth, EvalError, SectionResult, evaluate};
use asd_core::{ClipRecord, Label, MachineFile, Split, atomic};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

/// The ground truth of a test set: one entry per clip, reachable by every name it goes by (its
/// base name and, for the evaluator's anonymised files, its full DCASE name).
#[derive(Debug, Default, Clone)]
pub struct Truth {
    clips: Vec<(String, ClipTruth)>,
    names: HashMap<MachineFile, usize>,
}

impl Truth {
    /// Adds a clip under `name` (its display name); returns its index for [`Truth::alias`].
    pub fn insert(&mut self, name: &str, truth: ClipTruth) -> usize {
        let key = MachineFile::new(&truth.machine_type, name);
        if let Some(&i) = self.names.get(&key) {
            self.clips[i].1 = truth;
            return i;
        }
        self.clips.push((name.to_string(), truth));
        self.names.insert(key, self.clips.len() - 1);
        self.clips.len() - 1
    }

    /// Makes clip `index` reachable by another name too.
    pub fn alias(&mut self, machine_type: &str, name: &str, index: usize) {
        self.names
            .insert(MachineFile::new(machine_type, name), index);
    }

    /// The official evaluator's ground truth: each clip under its listed (anonymised) name and, where
    /// `ground_truth_attributes/` gives it, its full DCASE name too.
    pub fn from_evaluator(t: &crate::evaluator::EvaluatorTruth) -> Self {
        let mut out = Self::default();
        let mut index = HashMap::new();
        for (key, c) in &t.clips {
            index.insert(key.clone(), out.insert(&key.file, c.clone()));
        }
        for (full, anon) in &t.anonymised {
            if let Some(&i) = index.get(&MachineFile::new(&full.machine_type, anon.as_str())) {
                out.alias(&full.machine_type, &full.file, i);
            }
        }
        out
    }

    /// The labelled test clips of an embedding set's `index.csv` (or its folder).
    pub fn from_index(path: &Path) -> Result<Self, EvalError> {
        let path = if path.is_dir() {
            path.join(asd_core::embedding_set::INDEX_FILE)
        } else {
            path.to_path_buf()
        };
        let records =
            asd_core::embedding_set::read_index(&path).map_err(|e| EvalError::Io(e.to_string()))?;
        Ok(Self::from_records(records))
    }

    /// The labelled test clips of `records`, by base name.
    pub fn from_records(records: impl IntoIterator<Item = ClipRecord>) -> Self {
        let mut t = Self::default();
        for r in records {
            if r.split != Split::Test || r.label == Label::Unknown {
                continue;
            }
            let name = base_name(&r.file);
            t.insert(
                &name,
                ClipTruth {
                    machine_type: r.machine_type,
                    section: r.section,
                    domain: r.domain,
                    anomaly: r.label == Label::Anomaly,
                },
            );
        }
        t
    }

    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// The clip a submitted file name refers to: the name as given, else its base name (a file
    /// listed with its folder, `test/x.wav`, is the clip `x.wav`).
    fn find(&self, machine_type: &str, file: &str) -> Option<usize> {
        self.names
            .get(&MachineFile::new(machine_type, file))
            .or_else(|| {
                self.names
                    .get(&MachineFile::new(machine_type, base_name(file)))
            })
            .copied()
    }

    fn machine_types(&self) -> BTreeSet<&str> {
        self.clips
            .iter()
            .map(|(_, t)| t.machine_type.as_str())
            .collect()
    }
}

fn base_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The first 10 items and the count of the rest, so that a message stays readable.
pub fn some_of(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(10) {
        0 => shown,
        rest => format!("{shown} and {rest} more"),
    }
}

/// A scores folder evaluated.
#[derive(Debug)]
pub struct Evaluated {
    pub results: Vec<SectionResult>,
    /// The official score's jackknife CI95 over all clips.
    pub ci95: Option<f64>,
    /// Sections without a decision file (no precision, recall or F1 for them).
    pub without_decisions: Vec<String>,
    /// What the submission lacks (with `allow_partial`; otherwise these are errors): sections of the
    /// truth without a score file, clips of a scored section without a row.
    pub incomplete: Vec<String>,
}

impl Evaluated {
    pub fn partial(&self) -> bool {
        !self.incomplete.is_empty()
    }
}

/// Evaluates the submission in `scores` against `truth`; fails listing every unknown machine type,
/// clip without truth, clip listed twice, clip without a decision in a section that has decisions,
/// and (unless `allow_partial`) every missing section and clip.
/// (~90 lines: each check collects its problems into one list so that every problem is reported
/// at once, which needs the shared state of one function.)
pub fn evaluate_folder(
    scores: &Path,
    truth: &Truth,
    allow_partial: bool,
) -> Result<Evaluated, EvalError> {
    let sections = read_scores_dir(scores)?;
    let known = truth.machine_types();
    let unknown: BTreeSet<&str> = sections
        .iter()
        .map(|s| s.machine_type.as_str())
        .filter(|m| !known.contains(m))
        .collect();
    if !unknown.is_empty() {
        return Err(EvalError::UnknownMachine(format!(
            "{} (in {})",
            unknown.into_iter().collect::<Vec<_>>().join(", "),
            scores.display()
        )));
    }
    let mut clips = Vec::new();
    let mut missing = Vec::new();
    let mut undecided = Vec::new();
    let mut twice = Vec::new();
    let mut without_decisions = Vec::new();
    let mut seen = vec![false; truth.len()];
    for s in &sections {
        let decisions = read_decisions(scores, &s.machine_type, &s.section)?;
        if decisions.is_none() {
            without_decisions.push(format!("{} section {}", s.machine_type, s.section));
        }
        for (file, score) in &s.rows {
            let decision = match &decisions {
                None => None,
                Some(d) => match d.get(file) {
                    Some(v) => Some(*v),
                    None => {
                        undecided.push(format!("{}/{file}", s.machine_type));
                        None
                    }
                },
            };
            let Some(i) = truth.find(&s.machine_type, file) else {
                missing.push(format!("{}/{file}", s.machine_type));
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                twice.push(format!("{}/{file}", s.machine_type));
                continue;
            }
            clips.push(ScoredClip {
                truth: truth.clips[i].1.clone(),
                score: *score,
                decision,
            });
        }
    }
    let fail = |what: &str, items: &[String]| {
        Err(EvalError::Io(format!(
            "{}: {} {what}: {}",
            scores.display(),
            items.len(),
            some_of(items)
        )))
    };
    if !twice.is_empty() {
        return fail("clip(s) are scored more than once", &twice);
    }
    if !undecided.is_empty() {
        return fail(
            "scored clip(s) are missing from their decision_result file",
            &undecided,
        );
    }
    if !missing.is_empty() {
        return fail("scored clip(s) have no ground truth", &missing);
    }
    let incomplete = incompleteness(truth, &sections, &seen);
    if !incomplete.is_empty() && !allow_partial {
        return fail(
            "gap(s) against the ground truth (the official evaluator refuses such a submission; --allow-partial evaluates it anyway)",
            &incomplete,
        );
    }
    Ok(Evaluated {
        results: evaluate(&clips, DEFAULT_MAX_FPR),
        ci95: official_score_ci95(&clips, DEFAULT_MAX_FPR),
        without_decisions,
        incomplete,
    })
}

/// Sections of the truth without a score file, and per scored section the clips without a row.
fn incompleteness(
    truth: &Truth,
    sections: &[crate::submission::SectionScores],
    seen: &[bool],
) -> Vec<String> {
    let scored: BTreeSet<(&str, &str)> = sections
        .iter()
        .map(|s| (s.machine_type.as_str(), s.section.as_str()))
        .collect();
    let mut unscored: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut unseen: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for ((name, t), seen) in truth.clips.iter().zip(seen) {
        let key = (t.machine_type.as_str(), t.section.as_str());
        if !scored.contains(&key) {
            *unscored.entry(key).or_default() += 1;
        } else if !seen {
            unseen.entry(key).or_default().push(name);
        }
    }
    let mut out: Vec<String> = unscored
        .into_iter()
        .map(|((m, s), n)| format!("{m} section {s} has no score file ({n} clips)"))
        .collect();
    out.extend(unseen.into_iter().map(|((m, s), names)| {
        format!(
            "{m} section {s} lacks {} clip(s) ({})",
            names.len(),
            names.iter().take(3).copied().collect::<Vec<_>>().join(", ")
                + if names.len() > 3 { ", …" } else { "" }
        )
    }));
    out
}

/// Writes results.json (sections, summaries and whether the submission was partial), results.csv
/// (one row per section) and, where every section has its domain and decision metrics,
/// official_result.csv (the official evaluator's own layout), each atomically.
pub fn write_results(
    out: &Path,
    results: &[SectionResult],
    summaries: &[Summary],
    ci95: Option<f64>,
    incomplete: &[String],
) -> Result<(), EvalError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| EvalError::Io(format!("{p}: cannot write: {e}"))
    };
    let json = serde_json::json!({
        "sections": results,
        "summaries": summaries,
        "partial": !incomplete.is_empty(),
        "incomplete": incomplete,
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| EvalError::Io(e.to_string()))?;
    let p = out.join("results.json");
    atomic::write_bytes(&p, text.as_bytes()).map_err(io(&p))?;
    let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let p = out.join("results.csv");
    atomic::write_with(&p, |w| {
        writeln!(
            w,
            "machine_type,section,auc,auc_source,auc_target,pauc,pauc_source,pauc_target,simple_auc_source,simple_auc_target,precision_source,precision_target,recall_source,recall_target,f1_source,f1_target"
        )?;
        for r in results {
            let values = [
                r.auc,
                r.auc_source,
                r.auc_target,
                r.pauc,
                r.pauc_source,
                r.pauc_target,
                r.simple_auc_source,
                r.simple_auc_target,
                r.precision_source,
                r.precision_target,
                r.recall_source,
                r.recall_target,
                r.f1_source,
                r.f1_target,
            ];
            let cells: Vec<String> = values.into_iter().map(f).collect();
            writeln!(w, "{},{},{}", r.machine_type, r.section, cells.join(","))?;
        }
        Ok(())
    })
    .map_err(io(&p))?;
    if let Some(text) = crate::evaluator::official_result_csv(results, ci95) {
        let p = out.join("official_result.csv");
        atomic::write_bytes(&p, text.as_bytes()).map_err(io(&p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::{SectionScores, write_section};
    use asd_core::Domain;

    fn truth() -> Truth {
        let mut t = Truth::default();
        for (m, s) in [("fan", "00"), ("fan", "01")] {
            for (i, anomaly) in [false, false, true, true].into_iter().enumerate() {
                t.insert(
                    &format!("{s}_{i}.wav"),
                    ClipTruth {
                        machine_type: m.into(),
                        section: s.into(),
                        domain: Domain::Source,
                        anomaly,
                    },
                );
            }
        }
        t
    }

    fn write(dir: &Path, section: &str, files: &[&str]) {
        let rows = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.to_string(), i as f64))
            .collect();
        let s = SectionScores {
            machine_type: "fan".into(),
            section: section.into(),
            rows,
        };
        write_section(dir, &s, 1.5).unwrap();
    }

    #[test]
    fn a_complete_submission_is_evaluated() {
        let dir = tempfile::tempdir().unwrap();
        for s in ["00", "01"] {
            let f: Vec<String> = (0..4).map(|i| format!("{s}_{i}.wav")).collect();
            write(
                dir.path(),
                s,
                &f.iter().map(String::as_str).collect::<Vec<_>>(),
            );
        }
        let e = evaluate_folder(dir.path(), &truth(), false).unwrap();
        assert_eq!(e.results.len(), 2);
        assert!(!e.partial());
        assert_eq!(e.results[0].auc_source, Some(1.0));
    }

    #[test]
    fn a_missing_section_or_clip_is_refused_unless_partial_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "00", &["00_0.wav", "00_1.wav", "00_2.wav"]);
        let err = evaluate_folder(dir.path(), &truth(), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fan section 01 has no score file (4 clips)")
                && err.contains("fan section 00 lacks 1 clip(s) (00_3.wav)")
                && err.contains("--allow-partial"),
            "{err}"
        );
        let e = evaluate_folder(dir.path(), &truth(), true).unwrap();
        assert!(e.partial());
        assert_eq!(e.incomplete.len(), 2);
        assert_eq!(e.results.len(), 1);
    }

    #[test]
    fn a_clip_listed_twice_is_an_error_even_under_another_spelling() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "00",
            &[
                "00_0.wav",
                "test/00_0.wav",
                "00_1.wav",
                "00_2.wav",
                "00_3.wav",
            ],
        );
        let err = evaluate_folder(dir.path(), &truth(), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 clip(s) are scored more than once: fan/test/00_0.wav"),
            "{err}"
        );
    }

    #[test]
    fn long_lists_name_ten_and_count_the_rest() {
        let items: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let s = some_of(&items);
        assert!(s.ends_with("c9 and 15 more"), "{s}");
        assert_eq!(s.matches(", ").count(), 9);
    }
}
