//! Ground truth of anonymised evaluation files, read from the official evaluators' folders:
//!
//! - 2022–2025: `ground_truth_data/ground_truth_<machine>_section_<XX>_test.csv` (`file,0|1`, 1 = anomaly),
//!   `ground_truth_domain/...` (`file,0|1`, 0 = source, 1 = target, as the evaluators' files have it),
//!   `ground_truth_attributes/...` (`file,<full name without extension>`);
//! - 2021: `ground_truth_data/ground_truth_<machine>_section_<XX>_<source|target>_test.csv`;
//! - 2020: `eval_data_list.csv`: a line with only the machine type, then `file,renamed file,0|1` lines.

use crate::Problem;
use asd_core::{Domain, Label};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What the ground truth says about one anonymised clip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClipTruth {
    pub label: Option<Label>,
    pub domain: Option<Domain>,
    /// The clip's full (non-anonymised) name.
    pub full_name: Option<String>,
}

/// Every ground-truth file under a set of evaluator folders, loaded lazily per machine and section.
#[derive(Debug, Default)]
pub struct TruthStore {
    dirs: Vec<PathBuf>,
    sections: HashMap<(String, String), HashMap<String, ClipTruth>>,
    list_2020: Option<HashMap<(String, String), Label>>,
    pub problems: Vec<Problem>,
}

/// Folders that may hold evaluator files: the dataset root, its `eval_data`, and any direct
/// sub-folder of the root that has a `ground_truth_data` folder (a cloned evaluator repository).
pub fn candidate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf(), root.join("eval_data")];
    if let Ok(rd) = std::fs::read_dir(root) {
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.join("ground_truth_data").is_dir() || p.join("eval_data_list.csv").is_file()
            })
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    dirs.dedup();
    dirs
}

fn read_rows(path: &Path, problems: &mut Vec<Problem>) -> Vec<Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(|c| c.trim().to_string()).collect())
            .collect(),
        Err(e) => {
            problems.push(Problem::error(
                path,
                format!("cannot read ground truth: {e}"),
            ));
            Vec::new()
        }
    }
}

fn flag(path: &Path, row: &[String], problems: &mut Vec<Problem>) -> Option<bool> {
    match row.get(1).map(String::as_str) {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => {
            problems.push(Problem::error(
                path,
                format!("ground-truth row '{}' is not 'file,0|1'", row.join(",")),
            ));
            None
        }
    }
}

impl TruthStore {
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Self {
            dirs,
            ..Default::default()
        }
    }

    fn first_existing(&self, rel: &str) -> Option<PathBuf> {
        self.dirs.iter().map(|d| d.join(rel)).find(|p| p.is_file())
    }

    fn section(&mut self, machine: &str, section: &str) -> &HashMap<String, ClipTruth> {
        let key = (machine.to_string(), section.to_string());
        if !self.sections.contains_key(&key) {
            let table = self.load_section(machine, section);
            self.sections.insert(key.clone(), table);
        }
        &self.sections[&key]
    }

    fn load_section(&mut self, machine: &str, section: &str) -> HashMap<String, ClipTruth> {
        let mut out: HashMap<String, ClipTruth> = HashMap::new();
        let mut problems = Vec::new();
        let stem = format!("ground_truth_{machine}_section_{section}");
        let label_files = [
            (format!("ground_truth_data/{stem}_test.csv"), None),
            (
                format!("ground_truth_data/{stem}_source_test.csv"),
                Some(Domain::Source),
            ),
            (
                format!("ground_truth_data/{stem}_target_test.csv"),
                Some(Domain::Target),
            ),
        ];
        for (rel, dom) in label_files {
            let Some(path) = self.first_existing(&rel) else {
                continue;
            };
            for row in read_rows(&path, &mut problems) {
                if let Some(anomaly) = flag(&path, &row, &mut problems) {
                    let t = out.entry(row[0].clone()).or_default();
                    t.label = Some(if anomaly {
                        Label::Anomaly
                    } else {
                        Label::Normal
                    });
                    if dom.is_some() {
                        t.domain = dom;
                    }
                }
            }
        }
        if let Some(path) = self.first_existing(&format!("ground_truth_domain/{stem}_test.csv")) {
            for row in read_rows(&path, &mut problems) {
                if let Some(target) = flag(&path, &row, &mut problems) {
                    out.entry(row[0].clone()).or_default().domain = Some(if target {
                        Domain::Target
                    } else {
                        Domain::Source
                    });
                }
            }
        }
        if let Some(path) = self.first_existing(&format!("ground_truth_attributes/{stem}_test.csv"))
        {
            for row in read_rows(&path, &mut problems) {
                match row.get(1) {
                    Some(full) if !full.is_empty() => {
                        out.entry(row[0].clone()).or_default().full_name = Some(full.clone());
                    }
                    _ => problems.push(Problem::error(
                        &path,
                        format!("attribute row '{}' is not 'file,full name'", row.join(",")),
                    )),
                }
            }
        }
        self.problems.extend(problems);
        out
    }

    fn list_2020(&mut self) -> &HashMap<(String, String), Label> {
        if self.list_2020.is_none() {
            let mut map = HashMap::new();
            if let Some(path) = self.first_existing("eval_data_list.csv") {
                let mut machine = String::new();
                let mut problems = Vec::new();
                for row in read_rows(&path, &mut problems) {
                    if row.len() == 1 {
                        machine = row[0].clone();
                        continue;
                    }
                    match row.get(2).map(String::as_str) {
                        Some("1") => {
                            map.insert((machine.clone(), row[0].clone()), Label::Anomaly);
                        }
                        Some("0") => {
                            map.insert((machine.clone(), row[0].clone()), Label::Normal);
                        }
                        _ => problems.push(Problem::error(
                            &path,
                            format!("row '{}' is not 'file,renamed file,0|1'", row.join(",")),
                        )),
                    }
                }
                self.problems.extend(problems);
            }
            self.list_2020 = Some(map);
        }
        self.list_2020.get_or_insert_with(HashMap::new)
    }

    /// The truth of a clip of 2021–2026, if any evaluator file lists it.
    pub fn lookup(&mut self, machine: &str, section: &str, file: &str) -> Option<ClipTruth> {
        self.section(machine, section).get(file).cloned()
    }

    /// The label of a DCASE 2020 eval test clip, if `eval_data_list.csv` lists it.
    pub fn lookup_2020(&mut self, machine: &str, file: &str) -> Option<Label> {
        self.list_2020()
            .get(&(machine.to_string(), file.to_string()))
            .copied()
    }
}
