//! A summary of a dataset for `asd dataset inspect`: counts per machine type, split, domain and label,
//! durations and sample rates (every clip is decoded, so unusable audio is found here, not mid-training).

use crate::dataset::{Clip, Dataset, Part};
use crate::problem::{Problem, Severity};
use asd_audio::{ChannelMode, decode_file};
use asd_core::{Domain, Label, Split};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Counts of one machine type in one part of the dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSummary {
    pub sections: BTreeSet<String>,
    /// Usable clips by (split, domain, label).
    pub counts: BTreeMap<(Split, Domain, Label), usize>,
    pub classes: BTreeSet<String>,
    pub min_duration_s: Option<f64>,
    pub max_duration_s: Option<f64>,
    pub sample_rates: BTreeSet<u32>,
    /// Channel counts of the files (2 for DCASE 2026's near/far stereo).
    pub channels: BTreeSet<usize>,
}

impl GroupSummary {
    /// Whether the group's clips carry source/target domains (not DCASE 2020).
    pub fn has_domains(&self) -> bool {
        self.counts
            .keys()
            .any(|(_, d, _)| matches!(d, Domain::Source | Domain::Target))
    }

    pub fn count(&self, split: Split, domain: Option<Domain>, label: Option<Label>) -> usize {
        self.counts
            .iter()
            .filter(|((s, d, l), _)| {
                *s == split && domain.is_none_or(|x| x == *d) && label.is_none_or(|x| x == *l)
            })
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Debug)]
pub struct Inspection {
    pub groups: BTreeMap<(Part, String), GroupSummary>,
    pub n_classes: usize,
    pub usable: usize,
    /// Problems of the dataset reader and of decoding, sorted by file.
    pub problems: Vec<Problem>,
}

impl Inspection {
    pub fn unusable(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// The table printed by `asd dataset inspect`.
    pub fn table(&self) -> String {
        let header = [
            "part",
            "machine type",
            "sections",
            "train src/tgt",
            "test src n/a",
            "test tgt n/a",
            "test no truth",
            "classes",
            "duration s",
            "rate Hz",
            "channels",
        ];
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|((part, machine), g)| {
                let n = |s, d, l| g.count(s, d, l);
                let dur = match (g.min_duration_s, g.max_duration_s) {
                    (Some(a), Some(b)) if (a - b).abs() < 5e-3 => format!("{a:.2}"),
                    (Some(a), Some(b)) => format!("{a:.2}–{b:.2}"),
                    _ => "—".into(),
                };
                let unlabelled = n(Split::Test, None, Some(Label::Unknown));
                // Without domains (DCASE 2020) the counts over all clips stand in the source columns.
                let src = if g.has_domains() {
                    Some(Domain::Source)
                } else {
                    None
                };
                let tgt = |split, label| {
                    if g.has_domains() {
                        n(split, Some(Domain::Target), label).to_string()
                    } else {
                        "—".to_string()
                    }
                };
                vec![
                    part.as_str().to_string(),
                    machine.clone(),
                    g.sections.iter().cloned().collect::<Vec<_>>().join(" "),
                    format!("{}/{}", n(Split::Train, src, None), tgt(Split::Train, None)),
                    format!(
                        "{}/{}",
                        n(Split::Test, src, Some(Label::Normal)),
                        n(Split::Test, src, Some(Label::Anomaly))
                    ),
                    format!(
                        "{}/{}",
                        tgt(Split::Test, Some(Label::Normal)),
                        tgt(Split::Test, Some(Label::Anomaly))
                    ),
                    unlabelled.to_string(),
                    g.classes.len().to_string(),
                    dur,
                    g.sample_rates
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    g.channels
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        asd_core::table::markdown(&header, &rows)
    }
}

/// (duration in seconds, sample rate, channels) of a decoded clip.
type AudioFacts = (f64, u32, usize);

/// Inspects a dataset. With `decode`, every clip is decoded (in parallel) to check it and measure
/// its duration; `tick` is called once per clip (for a progress bar).
pub fn inspect(ds: &Dataset, decode: bool, tick: &(dyn Fn() + Sync)) -> Inspection {
    let audio: Vec<Result<Option<AudioFacts>, Problem>> = ds
        .clips
        .par_iter()
        .map(|c: &Clip| {
            let r = if decode {
                decode_file(&c.path, ChannelMode::Average)
                    .map(|a| Some((a.duration_s(), a.sample_rate, a.channels)))
                    .map_err(|e| Problem::error(&c.path, strip_path(&e.to_string(), c)))
            } else {
                Ok(None)
            };
            tick();
            r
        })
        .collect();
    let mut problems = ds.problems.clone();
    let mut groups: BTreeMap<(Part, String), GroupSummary> = BTreeMap::new();
    let mut usable = 0;
    for (c, a) in ds.clips.iter().zip(audio) {
        let info = match a {
            Ok(i) => i,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        usable += 1;
        let r = &c.record;
        let g = groups.entry((c.part, r.machine_type.clone())).or_default();
        g.sections.insert(r.section.clone());
        *g.counts.entry((r.split, r.domain, r.label)).or_default() += 1;
        if r.split == Split::Train {
            g.classes.insert(c.class_name());
        }
        if let Some((dur, rate, channels)) = info {
            g.channels.insert(channels);
            g.min_duration_s = Some(g.min_duration_s.map_or(dur, |m| m.min(dur)));
            g.max_duration_s = Some(g.max_duration_s.map_or(dur, |m| m.max(dur)));
            g.sample_rates.insert(rate);
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path).then(b.severity.cmp(&a.severity)));
    let n_classes = groups.values().map(|g| g.classes.len()).sum();
    Inspection {
        groups,
        n_classes,
        usable,
        problems,
    }
}

/// Audio errors start with the path; the problem list prints it already.
fn strip_path(msg: &str, c: &Clip) -> String {
    let p = format!("{}: ", c.path.display());
    msg.strip_prefix(&p).unwrap_or(msg).to_string()
}
