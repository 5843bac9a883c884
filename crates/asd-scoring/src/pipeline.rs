//! Scoring a whole embedding set: group clips by section, fit the method on each section's normal
//! training clips, score its test clips, and score the training clips leave-one-out for thresholds.

use crate::distance::Distance;
use crate::error::ScoringError;
use crate::kernel::NO_SKIP;
use crate::methods::MethodSpec;
use crate::reference::{ReferenceChoice, ReferenceSet};
use asd_core::{Domain, EmbeddingSet, Label, SectionKey, Split};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// What to score and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    pub method: MethodSpec,
    pub standardize: bool,
    pub references: ReferenceChoice,
    /// One reference set per machine type (all sections pooled) instead of per section.
    pub pool_sections: bool,
    /// Cosine on unit vectors (the trained network's) or Euclidean on the raw embeddings (the
    /// reference's for frozen front-ends).
    pub distance: Distance,
    /// SMOTE of each reference set's target references up to the source count.
    pub smote: Option<crate::smote::Smote>,
}

impl ScoreOptions {
    pub fn new(method: MethodSpec) -> Self {
        Self {
            method,
            standardize: false,
            references: ReferenceChoice::All,
            pool_sections: false,
            distance: Distance::Cosine,
            smote: None,
        }
    }
}

/// Scores of one embedding set. Index i refers to record i of the set.
#[derive(Debug, Clone)]
pub struct ScoreResult {
    /// Anomaly score of every test clip that could be scored.
    pub test: Vec<Option<f64>>,
    /// Leave-one-out score of every normal training clip (its own reference entry skipped).
    pub train: Vec<Option<f64>>,
    /// Reference sets that could not be scored, with the reason; their clips stay `None`.
    pub failures: Vec<(String, ScoringError)>,
    /// Reference sets scored with fewer neighbours than the method asks for (K clipped), one line each.
    pub notes: Vec<String>,
}

/// Rows whose norm is within this of 1 are already unit vectors and are left bit-identical, so that the
/// scores equal those of tools that do not renormalise (LOF's float32 ties depend on the last bit).
const UNIT_TOLERANCE: f32 = 1e-5;

/// Unit-normalised copy: the scores are defined on the unit sphere, and embeddings from other
/// models need not be normalised.
pub(crate) fn normalised(x: ArrayView2<f32>) -> Array2<f32> {
    let mut y = x.to_owned();
    for mut row in y.rows_mut() {
        let norm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt() as f32;
        if norm > 0.0 && (norm - 1.0).abs() > UNIT_TOLERANCE {
            row /= norm;
        }
    }
    y
}

/// Each section's normal training clips (the references) and test clips, as row indices of `set`.
/// With `pool`, each machine type is one group, keyed with an empty section.
fn group_by_section(set: &EmbeddingSet, pool: bool) -> BTreeMap<SectionKey, Groups> {
    let mut groups: BTreeMap<SectionKey, Groups> = BTreeMap::new();
    for (i, r) in set.records.iter().enumerate() {
        let section = if pool { "" } else { &r.section };
        let entry = groups
            .entry(SectionKey::new(&r.machine_type, section))
            .or_default();
        match r.split {
            Split::Train if r.label != Label::Anomaly => entry.0.push(i),
            Split::Test => entry.1.push(i),
            Split::Train => {}
        }
    }
    groups
}

/// (reference rows, test rows) of one section.
type Groups = (Vec<usize>, Vec<usize>);

/// Scores every test clip of the set against the normal training clips of its section.
pub fn score_set(set: &EmbeddingSet, opts: &ScoreOptions) -> Result<ScoreResult, ScoringError> {
    let method = opts.method.build(opts.standardize)?;
    let emb = match opts.distance {
        Distance::Cosine => normalised(set.embeddings.view()),
        Distance::Euclidean => set.embeddings.clone(),
    };
    let groups = group_by_section(set, opts.pool_sections);
    if groups.values().all(|(_, test)| test.is_empty()) {
        return Err(ScoringError::NoQueries);
    }
    let outcomes: Vec<_> = groups
        .into_par_iter()
        .filter(|(_, (_, test))| !test.is_empty())
        .map(|(group, (train, test))| {
            let SectionKey {
                machine_type: machine,
                section,
            } = group;
            let key = if section.is_empty() {
                machine
            } else {
                format!("{machine} section {section}")
            };
            let train_emb = emb.select(Axis(0), &train);
            let is_source: Vec<bool> = train
                .iter()
                .map(|&i| set.records[i].domain != Domain::Target)
                .collect();
            let refs = ReferenceSet::build_with(
                key.clone(),
                train_emb.view(),
                &is_source,
                opts.references,
                opts.distance,
            );
            let refs = match opts.smote {
                Some(s) => refs.with_smote(s).0,
                None => refs,
            };
            let test_emb = emb.select(Axis(0), &test);
            let note = opts.method.k_clipped(refs.len()).map(|(k, available)| {
                format!(
                    "{key}: K = {k} but only {available} neighbours among its {} references; all {available} used",
                    refs.len()
                )
            });
            let result = method.fit(&refs, test_emb.view()).map(|fitted| {
                let test_scores = fitted.score(test_emb.view(), None);
                // Leave-one-out: a training clip that is itself a reference skips that entry.
                let mut skip = vec![NO_SKIP; train.len()];
                for (j, origin) in refs.origin.iter().enumerate() {
                    if let Some(t) = origin {
                        skip[*t] = j;
                    }
                }
                let train_scores = fitted.score(train_emb.view(), Some(&skip));
                (test_scores, train_scores)
            });
            (key, train, test, result, note)
        })
        .collect();
    let mut out = ScoreResult {
        test: vec![None; set.len()],
        train: vec![None; set.len()],
        failures: Vec::new(),
        notes: Vec::new(),
    };
    for (key, train, test, result, note) in outcomes {
        out.notes.extend(note);
        match result {
            Ok((ts, tr)) => {
                for (i, s) in test.into_iter().zip(ts) {
                    out.test[i] = Some(s);
                }
                for (i, s) in train.into_iter().zip(tr) {
                    out.train[i] = Some(s);
                }
            }
            Err(e) => out.failures.push((key, e)),
        }
    }
    Ok(out)
}
