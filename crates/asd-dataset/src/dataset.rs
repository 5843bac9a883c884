//! Finding the clips of a DCASE dataset on disk and giving each its metadata.
//!
//! Layouts: `<root>/{dev_data,eval_data}/<machine>/{train,test,source_test,target_test}/`, optionally
//! with a `raw/` level between the part folder and the machine folders; or a part folder itself
//! (`<root>` = `dev_data`).

use crate::edition::{Edition, EditionEvidence, detect};
use crate::filename::{NameError, NameScheme, parse_file_name};
use crate::problem::Problem;
use crate::truth::{TruthStore, candidate_dirs};
use asd_core::{ClipRecord, Domain, Label, Split};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Development or evaluation data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Dev,
    Eval,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Dev => "dev",
            Part::Eval => "eval",
        }
    }
}

/// One audio clip of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub path: PathBuf,
    pub part: Part,
    pub record: ClipRecord,
}

impl Clip {
    /// The auxiliary classification target of a training clip: machine type, section and attribute
    /// values (each combination of values is one class).
    pub fn class_name(&self) -> String {
        class_name(&self.record)
    }
}

pub fn class_name(r: &ClipRecord) -> String {
    if r.attribute.is_empty() {
        format!("{}_section_{}", r.machine_type, r.section)
    } else {
        format!("{}_section_{}_{}", r.machine_type, r.section, r.attribute)
    }
}

#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Overrides the edition detected from the names.
    pub edition: Option<Edition>,
    /// Folder with the evaluators' ground-truth files; by default searched next to the data.
    pub truth_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}: no such folder")]
    Missing(PathBuf),
    #[error(
        "{0}: no machine folders found (expected dev_data/<machine>/train, eval_data/<machine>/test, or <machine>/train)"
    )]
    NoMachines(PathBuf),
}

/// A dataset: its clips, its edition, and every file that could not be used.
#[derive(Debug)]
pub struct Dataset {
    pub root: PathBuf,
    pub edition: Edition,
    /// False when the edition was a guess (names alone could not decide it).
    pub edition_certain: bool,
    pub clips: Vec<Clip>,
    pub problems: Vec<Problem>,
}

const SPLIT_FOLDERS: [(&str, Split, Option<Domain>); 4] = [
    ("train", Split::Train, None),
    ("test", Split::Test, None),
    ("source_test", Split::Test, Some(Domain::Source)),
    ("target_test", Split::Test, Some(Domain::Target)),
];

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn is_machine_dir(p: &Path) -> bool {
    SPLIT_FOLDERS.iter().any(|(f, _, _)| p.join(f).is_dir())
}

/// (part, machine type, machine folder) for every machine folder under `root`; a machine folder
/// whose name is not UTF-8 (it could not name a machine type in any output) is reported and skipped.
fn machine_dirs(root: &Path, problems: &mut Vec<Problem>) -> Vec<(Part, String, PathBuf)> {
    let mut parts: Vec<(Part, PathBuf)> = [(Part::Dev, "dev_data"), (Part::Eval, "eval_data")]
        .into_iter()
        .map(|(p, n)| (p, root.join(n)))
        .filter(|(_, d)| d.is_dir())
        .collect();
    if parts.is_empty() {
        let part = if root.file_name().is_some_and(|n| n == "eval_data") {
            Part::Eval
        } else {
            Part::Dev
        };
        parts.push((part, root.to_path_buf()));
    }
    let mut out = Vec::new();
    for (part, dir) in parts {
        for base in [dir.clone(), dir.join("raw")] {
            for m in sorted_dirs(&base) {
                if !is_machine_dir(&m) {
                    continue;
                }
                match m.file_name().and_then(|n| n.to_str()) {
                    Some(name) => out.push((part, name.to_string(), m.clone())),
                    None => problems.push(Problem::warning(
                        &m,
                        "machine folder name is not valid UTF-8; its clips are ignored",
                    )),
                }
            }
        }
    }
    out
}

/// The files of a split folder. Hidden names are skipped; what cannot be read as a file (a broken
/// link, a symlink loop) or is a folder is reported, never dropped without a word.
fn clip_files(dir: &Path, problems: &mut Vec<Problem>) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = match entry {
            Ok(e) => e.path(),
            Err(e) => {
                problems.push(Problem::error(dir, format!("cannot list an entry: {e}")));
                continue;
            }
        };
        if path
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => files.push(path),
            Ok(m) if m.is_dir() => {
                problems.push(Problem::warning(&path, "a folder among the clips; ignored"))
            }
            Ok(_) => problems.push(Problem::warning(&path, "not a regular file; ignored")),
            Err(e) => problems.push(Problem::error(&path, format!("cannot read: {e}"))),
        }
    }
    Ok(files)
}

/// A warning per section that has test clips but no training clip: it has no references, so
/// none of its clips can be scored.
fn sections_without_training(clips: &[Clip], machines: &[(Part, String, PathBuf)]) -> Vec<Problem> {
    let mut trained: BTreeSet<(Part, &str, &str)> = BTreeSet::new();
    let mut tested: BTreeMap<(Part, &str, &str), usize> = BTreeMap::new();
    for c in clips {
        let key = (
            c.part,
            c.record.machine_type.as_str(),
            c.record.section.as_str(),
        );
        match c.record.split {
            Split::Train => {
                trained.insert(key);
            }
            Split::Test => *tested.entry(key).or_default() += 1,
        }
    }
    tested
        .into_iter()
        .filter(|(k, _)| !trained.contains(k))
        .map(|((part, m, s), n)| {
            let dir = machines
                .iter()
                .find(|(p, name, _)| *p == part && name == m)
                .map_or_else(PathBuf::new, |(_, _, d)| d.clone());
            Problem::warning(
                &dir,
                format!(
                    "section {s} has {n} test clip(s) but no training clip: it has no references and cannot be scored"
                ),
            )
        })
        .collect()
}

struct Found {
    path: PathBuf,
    part: Part,
    machine: String,
    split: Split,
    folder_domain: Option<Domain>,
    name: crate::filename::ParsedName,
}

/// One split folder of one machine type.
struct Place<'a> {
    dir: &'a Path,
    folder: &'a str,
    part: Part,
    machine: &'a str,
    split: Split,
    folder_domain: Option<Domain>,
}

/// The clips of one split folder whose names parse, in name order; every other file is a problem
/// (a warning for files that are not audio, an error for audio files named otherwise).
fn scan_folder(
    place: &Place,
    found: &mut Vec<Found>,
    evidence: &mut EditionEvidence,
    problems: &mut Vec<Problem>,
) {
    let mut files = match clip_files(place.dir, problems) {
        Ok(f) => f,
        Err(e) => {
            problems.push(Problem::error(
                place.dir,
                format!("cannot list folder: {e}"),
            ));
            return;
        }
    };
    files.sort();
    for path in files {
        let Some(fname) = path.file_name().and_then(|n| n.to_str()) else {
            problems.push(Problem::error(&path, "file name is not valid UTF-8"));
            continue;
        };
        if fname.starts_with('.') {
            continue;
        }
        match parse_file_name(fname) {
            Ok(name) => {
                if let Some(s) = name.split
                    && s != place.split
                {
                    problems.push(Problem::error(
                        &path,
                        format!(
                            "the name says {s} but the file is in the '{}' folder",
                            place.folder
                        ),
                    ));
                    continue;
                }
                evidence.schemes.insert(name.scheme);
                evidence.sections.insert(name.section.clone());
                evidence.machines.insert(place.machine.to_string());
                found.push(Found {
                    path,
                    part: place.part,
                    machine: place.machine.to_string(),
                    split: place.split,
                    folder_domain: place.folder_domain,
                    name,
                });
            }
            Err(NameError::NotAudio) => {
                problems.push(Problem::warning(&path, "not an audio file; ignored"))
            }
            Err(e) => problems.push(Problem::error(&path, e.to_string())),
        }
    }
}

/// A found clip's record: from its name and folder, training clips normal, and what the name
/// leaves unknown (label, domain, attributes) from the ground truth where it lists the clip.
fn clip_with_truth(f: Found, truth: &mut TruthStore, problems: &mut Vec<Problem>) -> Clip {
    let fname = f
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let mut rec = ClipRecord {
        file: fname.clone(),
        machine_type: f.machine.clone(),
        section: f.name.section.clone(),
        domain: f.folder_domain.unwrap_or(f.name.domain),
        split: f.split,
        label: f.name.label,
        attribute: f.name.attribute.clone(),
    };
    if f.split == Split::Train {
        rec.label = Label::Normal;
    }
    if f.name.scheme == NameScheme::Ids {
        rec.domain = Domain::Unknown;
        if rec.label == Label::Unknown {
            match truth.lookup_2020(&f.machine, &fname) {
                Some(l) => rec.label = l,
                None => problems.push(Problem::warning(
                    &f.path,
                    "no ground truth (eval_data_list.csv does not list it); usable for scoring, not for evaluation",
                )),
            }
        }
    } else if rec.label == Label::Unknown || rec.domain == Domain::Unknown {
        match truth.lookup(&f.machine, &f.name.section, &fname) {
            Some(t) => {
                if let Some(l) = t.label {
                    rec.label = l;
                }
                if let Some(d) = t.domain {
                    rec.domain = d;
                }
                if let Some(full) = t.full_name
                    && let Ok(p) = parse_file_name(&format!("{full}.wav"))
                {
                    rec.attribute = p.attribute;
                    if rec.domain == Domain::Unknown {
                        rec.domain = p.domain;
                    }
                }
            }
            None => problems.push(Problem::warning(
                &f.path,
                "no ground truth (no evaluator file lists it); usable for scoring, not for evaluation",
            )),
        }
    }
    Clip {
        path: f.path,
        part: f.part,
        record: rec,
    }
}

impl Dataset {
    /// Reads the folder structure and file names (no audio is decoded here): the clips found, the
    /// edition they point to, each clip's record completed from the ground truth, the problems met.
    pub fn open(root: &Path, opts: &OpenOptions) -> Result<Dataset, DatasetError> {
        if !root.is_dir() {
            return Err(DatasetError::Missing(root.to_path_buf()));
        }
        let mut problems = Vec::new();
        let machines = machine_dirs(root, &mut problems);
        if machines.is_empty() {
            return Err(DatasetError::NoMachines(root.to_path_buf()));
        }
        let mut found = Vec::new();
        let mut evidence = EditionEvidence::default();
        for (part, machine, mdir) in &machines {
            for (folder, split, folder_domain) in SPLIT_FOLDERS {
                let dir = mdir.join(folder);
                if !dir.is_dir() {
                    continue;
                }
                if folder_domain.is_some() {
                    evidence.domain_test_folders = true;
                }
                let place = Place {
                    dir: &dir,
                    folder,
                    part: *part,
                    machine,
                    split,
                    folder_domain,
                };
                scan_folder(&place, &mut found, &mut evidence, &mut problems);
            }
        }
        let (edition, certain) = match opts.edition {
            Some(e) => (e, true),
            None => detect(&evidence),
        };
        let dirs = match &opts.truth_dir {
            Some(d) => vec![d.clone()],
            None => candidate_dirs(root),
        };
        let mut truth = TruthStore::new(dirs);
        let clips: Vec<Clip> = found
            .into_iter()
            .map(|f| clip_with_truth(f, &mut truth, &mut problems))
            .collect();
        problems.append(&mut truth.problems);
        problems.extend(sections_without_training(&clips, &machines));
        Ok(Dataset {
            root: root.to_path_buf(),
            edition,
            edition_certain: certain,
            clips,
            problems,
        })
    }

    /// The sorted auxiliary class names of all training clips; a clip's class id is its position.
    pub fn class_names(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .clips
            .iter()
            .filter(|c| c.record.split == Split::Train)
            .map(Clip::class_name)
            .collect();
        set.into_iter().collect()
    }

    /// Machine types per part, in order.
    pub fn machine_types(&self) -> BTreeMap<Part, BTreeSet<String>> {
        let mut m: BTreeMap<Part, BTreeSet<String>> = BTreeMap::new();
        for c in &self.clips {
            m.entry(c.part)
                .or_default()
                .insert(c.record.machine_type.clone());
        }
        m
    }

    pub fn has_errors(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.severity == crate::problem::Severity::Error)
    }
}
