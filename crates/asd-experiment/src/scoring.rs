//! Scoring the members' embeddings with each configuration, averaging them into the ensemble, and
//! evaluating per part of the dataset (development / evaluation).

use asd_core::{ClipId, ClipRecord, EmbeddingSet, Label, SectionKey, Split};
use asd_eval::dcase::{ClipTruth, ScoredClip, SectionResult, evaluate};
use asd_eval::evaluator::official_score_ci95;
use asd_eval::summary::{MetricKind, Summary};
use asd_scoring::pipeline::{ScoreOptions, score_set};
use asd_scoring::threshold::GammaFit;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The scores of one member (or of the ensemble) under one configuration.
#[derive(Debug, Clone, Default)]
pub struct MethodScores {
    pub test: BTreeMap<ClipId, f64>,
    /// Leave-one-out scores of the normal training clips, per (machine type, section).
    pub train: BTreeMap<SectionKey, Vec<(ClipId, f64)>>,
    /// Sections that could not be scored, with the reason.
    pub failures: Vec<String>,
}

pub fn score_member(
    set: &EmbeddingSet,
    opts: &ScoreOptions,
) -> Result<MethodScores, asd_scoring::ScoringError> {
    let r = score_set(set, opts)?;
    let mut out = MethodScores::default();
    for (i, rec) in set.records.iter().enumerate() {
        match (rec.split, r.test[i], r.train[i]) {
            (Split::Test, Some(s), _) => {
                out.test.insert(ClipId::of(rec), s);
            }
            (Split::Train, _, Some(s)) => out
                .train
                .entry(SectionKey::of(rec))
                .or_default()
                .push((ClipId::of(rec), s)),
            _ => {}
        }
    }
    out.failures = r
        .failures
        .iter()
        .map(|(k, e)| format!("{k}: {e}"))
        .collect();
    Ok(out)
}

/// The ensemble: each clip's mean score over the members that scored it (all of them, else the clip
/// is left out, so that no clip is averaged over a different set of models).
pub fn ensemble(members: &[MethodScores]) -> MethodScores {
    let mut out = MethodScores::default();
    let Some(first) = members.first() else {
        return out;
    };
    let n = members.len() as f64;
    for (k, _) in first.test.iter() {
        let v: Option<Vec<f64>> = members.iter().map(|m| m.test.get(k).copied()).collect();
        if let Some(v) = v {
            out.test.insert(k.clone(), v.iter().sum::<f64>() / n);
        }
    }
    // One lookup table per member, so that merging stays linear in the number of training clips.
    let lookup: Vec<HashMap<&ClipId, f64>> = members
        .iter()
        .map(|m| m.train.values().flatten().map(|(k, s)| (k, *s)).collect())
        .collect();
    for (sec, rows) in &first.train {
        let mut merged = Vec::new();
        for (k, _) in rows {
            let v: Option<Vec<f64>> = lookup.iter().map(|l| l.get(k).copied()).collect();
            if let Some(v) = v {
                merged.push((k.clone(), v.iter().sum::<f64>() / n));
            }
        }
        out.train.insert(sec.clone(), merged);
    }
    for m in members {
        out.failures.extend(m.failures.iter().cloned());
    }
    out.failures.sort();
    out.failures.dedup();
    out
}

impl MethodScores {
    /// Each section's decision threshold: the gamma fit of its training clips' leave-one-out scores
    /// at `percentile` (no decision is anomalous where the fit fails).
    pub fn thresholds(&self, percentile: f64) -> BTreeMap<SectionKey, f64> {
        self.train
            .iter()
            .map(|(k, rows)| {
                let train: Vec<f64> = rows.iter().map(|(_, s)| *s).collect();
                let t = GammaFit::fit(&train).map_or(f64::INFINITY, |g| g.percentile(percentile));
                (k.clone(), t)
            })
            .collect()
    }

    /// Each test clip's decision (true = anomalous) under [`Self::thresholds`].
    pub fn decisions(&self, percentile: f64) -> BTreeMap<ClipId, bool> {
        let th = self.thresholds(percentile);
        self.test
            .iter()
            .map(|(k, s)| {
                let t = th.get(&k.section()).copied().unwrap_or(f64::INFINITY);
                (k.clone(), *s > t)
            })
            .collect()
    }
}

/// Evaluates the test clips of the given machine types that have ground truth; with `decisions`,
/// also their precision, recall and F1.
pub fn evaluate_part(
    scores: &MethodScores,
    truth: &BTreeMap<ClipId, ClipRecord>,
    machines: &BTreeSet<String>,
    decisions: Option<&BTreeMap<ClipId, bool>>,
) -> (Vec<SectionResult>, Summary) {
    let clips = part_clips(scores, truth, machines, decisions);
    let sections = evaluate(&clips, 0.1);
    let refs: Vec<&SectionResult> = sections.iter().collect();
    let summary = Summary::of("all", &refs, MetricKind::Official);
    (sections, summary)
}

/// The official score's jackknife CI95 over the part's clips (as the official evaluator computes it).
pub fn part_ci95(
    scores: &MethodScores,
    truth: &BTreeMap<ClipId, ClipRecord>,
    machines: &BTreeSet<String>,
) -> Option<f64> {
    official_score_ci95(&part_clips(scores, truth, machines, None), 0.1)
}

fn part_clips(
    scores: &MethodScores,
    truth: &BTreeMap<ClipId, ClipRecord>,
    machines: &BTreeSet<String>,
    decisions: Option<&BTreeMap<ClipId, bool>>,
) -> Vec<ScoredClip> {
    scores
        .test
        .iter()
        .filter(|(k, _)| machines.contains(&k.machine_type))
        .filter_map(|(k, s)| {
            let r = truth.get(k)?;
            (r.label != Label::Unknown).then(|| ScoredClip {
                truth: ClipTruth {
                    machine_type: r.machine_type.clone(),
                    section: r.section.clone(),
                    domain: r.domain,
                    anomaly: r.label == Label::Anomaly,
                },
                score: *s,
                decision: decisions.and_then(|d| d.get(k).copied()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(f: &str) -> ClipId {
        ClipId {
            machine_type: "fan".into(),
            section: "00".into(),
            file: f.into(),
        }
    }

    #[test]
    fn ensemble_averages_clips_every_member_scored() {
        let sec = SectionKey::new("fan", "00");
        let a = MethodScores {
            test: [(k("t1"), 1.0), (k("t2"), 2.0)].into_iter().collect(),
            train: [(sec.clone(), vec![(k("r1"), 0.5), (k("r2"), 0.7)])]
                .into_iter()
                .collect(),
            failures: vec!["fan 00: x".into()],
        };
        let b = MethodScores {
            test: [(k("t1"), 3.0)].into_iter().collect(),
            train: [(sec.clone(), vec![(k("r2"), 0.9), (k("r1"), 0.1)])]
                .into_iter()
                .collect(),
            failures: vec!["fan 00: x".into()],
        };
        let e = ensemble(&[a, b]);
        assert_eq!(e.test.len(), 1, "t2 lacks member b's score");
        assert_eq!(e.test[&k("t1")], 2.0);
        assert_eq!(e.train[&sec], vec![(k("r1"), 0.3), (k("r2"), 0.8)]);
        assert_eq!(e.failures, ["fan 00: x"]);
    }
}
