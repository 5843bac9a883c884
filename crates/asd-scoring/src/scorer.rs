//! One reference set, fitted once and then changed in place: the library form of the paper's deployment
//! case (enrol a few target clips, drop a bad one, score on) for callers that hold their embeddings in
//! memory, such as the Python package.
//!
//! For the density methods (ratio, difference) the scorer keeps, for every reference, its sorted list of
//! nearest references (itself included, as [`Density::compute`] reads them). Adding references computes
//! their distances to the set once and merges them into the lists; removing references refills only the
//! lists that held one. All distances come from the same blocked kernel as a full fit, whose value for a
//! pair does not depend on the block it is computed in, so an updated scorer equals a refit on the same
//! rows in the same order bit for bit (tested). Two cases refit instead: a set too small for the lists
//! the density reads (N − 1 below K, or below GWRP's truncation length), where the lists must grow, and
//! LOF, whose reachability distances reach two neighbours deep.

use crate::density::Density;
use crate::distance::Distance;
use crate::error::ScoringError;
use crate::kernel::{self, NO_SKIP};
use crate::methods::knn::neighbours_skipping;
use crate::methods::{Fitted, MethodSpec};
use crate::pipeline::normalised;
use crate::reference::ReferenceSet;
use crate::threshold::GammaFit;
use ndarray::{Array2, ArrayView2, Axis};

/// Name of the single reference set in messages.
const KEY: &str = "references";

/// A method fitted on one reference set that can take and drop references.
pub struct Scorer {
    spec: MethodSpec,
    standardize: bool,
    refs: ReferenceSet,
    state: State,
}

/// What a method keeps between calls.
enum State {
    /// nn and knn-mean read the references only.
    Plain,
    /// ratio and difference: each reference's nearest references (itself included) and its
    /// per-reference affine coefficients.
    Density {
        density: Density,
        lists: Vec<Vec<(f64, usize)>>,
        alpha: Vec<f64>,
        beta: Vec<f64>,
    },
    /// LOF, refitted on every change.
    Fitted(Box<dyn Fitted>),
}

/// Rows as a distance compares them: unit-normalised for the cosine, as given for the Euclidean.
/// The checked references as a set, prepared for the distance.
fn reference_set(
    refs: ArrayView2<f32>,
    is_source: &[bool],
    distance: Distance,
) -> Result<ReferenceSet, ScoringError> {
    check_inputs(refs, is_source, "references")?;
    Ok(ReferenceSet {
        key: KEY.into(),
        distance,
        embeddings: prepared(refs, distance),
        is_source: is_source.to_vec(),
        origin: (0..refs.nrows()).map(Some).collect(),
    })
}

fn prepared(x: ArrayView2<f32>, distance: Distance) -> Array2<f32> {
    match distance {
        Distance::Cosine => normalised(x),
        Distance::Euclidean => x.to_owned(),
    }
}

/// Checks that every value is finite; names the first that is not.
pub fn check_finite(x: ArrayView2<f32>, what: &str) -> Result<(), ScoringError> {
    for (i, row) in x.outer_iter().enumerate() {
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(ScoringError::InvalidParameter(format!(
                "{what}: row {i} holds {} at column {j}",
                row[j]
            )));
        }
    }
    Ok(())
}

impl Scorer {
    /// Fits `spec` on `refs` (rows are unit-normalised first). `is_source[i]` says the domain of row i.
    pub fn fit(
        spec: MethodSpec,
        standardize: bool,
        refs: ArrayView2<f32>,
        is_source: &[bool],
    ) -> Result<Self, ScoringError> {
        Self::fit_with(spec, standardize, refs, is_source, Distance::Cosine)
    }

    /// [`Scorer::fit`] with a distance: cosine (rows unit-normalised) or Euclidean (rows as they are).
    pub fn fit_with(
        spec: MethodSpec,
        standardize: bool,
        refs: ArrayView2<f32>,
        is_source: &[bool],
        distance: Distance,
    ) -> Result<Self, ScoringError> {
        // Checks the combination before any work.
        spec.build(standardize)?;
        let refs = reference_set(refs, is_source, distance)?;
        let state = fresh_state(spec, &refs)?;
        Ok(Self {
            spec,
            standardize,
            refs,
            state,
        })
    }

    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// The synthetic target references SMOTE adds to `refs` (the rows the wheel's `Scorer(smote=K)`
    /// appends before fitting), drawn as `asd score --smote K` draws them for a section; unit-normalised
    /// for the cosine distance. Empty where the target domain is not the smaller one or has fewer than
    /// two references.
    pub fn smote_rows(
        refs: ArrayView2<f32>,
        is_source: &[bool],
        distance: Distance,
        smote: crate::smote::Smote,
    ) -> Result<Array2<f32>, ScoringError> {
        let (more, _) = reference_set(refs, is_source, distance)?.with_smote(smote);
        Ok(more
            .embeddings
            .slice(ndarray::s![refs.nrows().., ..])
            .to_owned())
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.refs.embeddings.ncols()
    }

    pub fn spec(&self) -> MethodSpec {
        self.spec
    }

    /// The unit-normalised references, in order.
    pub fn references(&self) -> ArrayView2<'_, f32> {
        self.refs.embeddings.view()
    }

    pub fn is_source(&self) -> &[bool] {
        &self.refs.is_source
    }

    /// `(asked, available)` when the method asks for more neighbours than the set has.
    pub fn k_clipped(&self) -> Option<(usize, usize)> {
        self.spec.k_clipped(self.len())
    }

    /// Each reference's local density (ratio and difference only).
    pub fn densities(&self) -> Option<Vec<f64>> {
        match &self.state {
            State::Density { density, lists, .. } => Some(densities(*density, lists)),
            _ => None,
        }
    }

    /// Anomaly score of each query (higher = more anomalous). With standardisation, the statistics
    /// are those of these queries, as `asd score --standardize` takes the section's test clips.
    pub fn score(&self, queries: ArrayView2<f32>) -> Result<Vec<f64>, ScoringError> {
        self.check_queries(queries)?;
        let q = prepared(queries, self.refs.distance);
        self.score_unit(q.view(), None)
    }

    /// Leave-one-out score of every reference against the others: the basis of the threshold. With
    /// standardisation it needs the queries whose statistics standardise the scores.
    pub fn loo_scores(&self, queries: Option<ArrayView2<f32>>) -> Result<Vec<f64>, ScoringError> {
        let skip: Vec<usize> = (0..self.len()).collect();
        if self.standardize {
            let q = queries.ok_or_else(|| {
                ScoringError::InvalidParameter(
                    "standardised scores depend on the queries: give them to compute the threshold"
                        .into(),
                )
            })?;
            self.check_queries(q)?;
            let q = prepared(q, self.refs.distance);
            let fitted = self.standardized(q.view())?;
            return Ok(fitted.score(self.refs.embeddings.view(), Some(&skip)));
        }
        self.score_unit(self.refs.embeddings.view(), Some(&skip))
    }

    /// The decision threshold: the `percentile` of a gamma distribution fitted to the leave-one-out
    /// scores (`asd score`'s rule); `None` when fewer than two distinct scores exist.
    pub fn threshold(
        &self,
        percentile: f64,
        queries: Option<ArrayView2<f32>>,
    ) -> Result<Option<f64>, ScoringError> {
        if !(0.0..1.0).contains(&percentile) {
            return Err(ScoringError::InvalidParameter(format!(
                "the decision percentile must lie in [0, 1), got {percentile}"
            )));
        }
        let loo = self.loo_scores(queries)?;
        Ok(GammaFit::fit(&loo).map(|g| g.percentile(percentile)))
    }

    /// Appends references (unit-normalised), updating what the method keeps.
    pub fn add(&mut self, x: ArrayView2<f32>, is_source: &[bool]) -> Result<(), ScoringError> {
        check_inputs(x, is_source, "new references")?;
        if x.ncols() != self.dim() {
            return Err(ScoringError::DimensionMismatch {
                refs: self.dim(),
                queries: x.ncols(),
            });
        }
        let x = prepared(x, self.refs.distance);
        let old_n = self.len();
        let mut refs = self.refs.clone();
        refs.embeddings = ndarray::concatenate(Axis(0), &[refs.embeddings.view(), x.view()])
            .map_err(|e| ScoringError::InvalidParameter(e.to_string()))?;
        refs.is_source.extend_from_slice(is_source);
        refs.origin = (0..refs.embeddings.nrows()).map(Some).collect();
        let state = match &self.state {
            State::Density { density, lists, .. } => {
                let want = list_len(*density, refs.len());
                if lists.first().is_some_and(|l| l.len() >= want) {
                    let lists = merged_lists(lists, &refs, old_n, want);
                    density_state(self.spec, *density, &refs, lists)
                } else {
                    fresh_state(self.spec, &refs)?
                }
            }
            _ => fresh_state(self.spec, &refs)?,
        };
        self.refs = refs;
        self.state = state;
        Ok(())
    }

    /// Removes the references at `indices` (positions in the current order); the others keep their
    /// order. Fails, changing nothing, on an index out of range, a repeated index, or when too few
    /// references would remain.
    pub fn remove(&mut self, indices: &[usize]) -> Result<(), ScoringError> {
        let n = self.len();
        let mut gone = vec![false; n];
        for &i in indices {
            if i >= n {
                return Err(ScoringError::InvalidParameter(format!(
                    "index {i} is out of range for {n} references"
                )));
            }
            if std::mem::replace(&mut gone[i], true) {
                return Err(ScoringError::InvalidParameter(format!(
                    "index {i} is given twice"
                )));
            }
        }
        let keep: Vec<usize> = (0..n).filter(|&i| !gone[i]).collect();
        if keep.is_empty() {
            return Err(ScoringError::InvalidParameter(
                "removing every reference leaves nothing to score against".into(),
            ));
        }
        let refs = ReferenceSet {
            key: KEY.into(),
            distance: self.refs.distance,
            embeddings: self.refs.embeddings.select(Axis(0), &keep),
            is_source: keep.iter().map(|&i| self.refs.is_source[i]).collect(),
            origin: (0..keep.len()).map(Some).collect(),
        };
        let state = match &self.state {
            State::Density { density, lists, .. } if keep.len() >= 2 => {
                let want = list_len(*density, keep.len());
                let lists = pruned_lists(lists, &gone, &keep, &refs, want);
                density_state(self.spec, *density, &refs, lists)
            }
            _ => fresh_state(self.spec, &refs)?,
        };
        self.refs = refs;
        self.state = state;
        Ok(())
    }

    fn check_queries(&self, q: ArrayView2<f32>) -> Result<(), ScoringError> {
        if q.ncols() != self.dim() {
            return Err(ScoringError::DimensionMismatch {
                refs: self.dim(),
                queries: q.ncols(),
            });
        }
        check_finite(q, "queries")
    }

    /// Scores unit-normalised rows; `skip[i]` is a reference query i must not be compared with.
    fn score_unit(
        &self,
        q: ArrayView2<f32>,
        skip: Option<&[usize]>,
    ) -> Result<Vec<f64>, ScoringError> {
        if self.standardize {
            return Ok(self.standardized(q)?.score(q, skip));
        }
        let refs = self.refs.embeddings.view();
        Ok(match (&self.state, self.spec) {
            (State::Density { alpha, beta, .. }, _) => {
                kernel::min_affine(q, refs, alpha, beta, skip, self.refs.distance)
            }
            (State::Fitted(f), _) => f.score(q, skip),
            (State::Plain, MethodSpec::KnnMean { k }) => {
                neighbours_skipping(q, refs, k.min(self.len()), skip, self.refs.distance)
                    .into_iter()
                    .map(|row| row.iter().map(|&(d, _)| d).sum::<f64>() / row.len().max(1) as f64)
                    .collect()
            }
            (State::Plain, _) => {
                let n = self.len();
                kernel::min_affine(
                    q,
                    refs,
                    &vec![1.0; n],
                    &vec![0.0; n],
                    skip,
                    self.refs.distance,
                )
            }
        })
    }

    /// The method fitted with domain-wise standardisation over the statistics of `q`.
    fn standardized(&self, q: ArrayView2<f32>) -> Result<Box<dyn Fitted>, ScoringError> {
        self.spec.build(true)?.fit(&self.refs, q)
    }
}

fn check_inputs(x: ArrayView2<f32>, is_source: &[bool], what: &str) -> Result<(), ScoringError> {
    if x.nrows() == 0 {
        return Err(ScoringError::EmptyReferences { key: what.into() });
    }
    if x.ncols() == 0 {
        return Err(ScoringError::InvalidParameter(format!(
            "{what}: embeddings have no columns"
        )));
    }
    if is_source.len() != x.nrows() {
        return Err(ScoringError::InvalidParameter(format!(
            "{what}: {} rows but {} domain labels",
            x.nrows(),
            is_source.len()
        )));
    }
    check_finite(x, what)
}

/// Length of the lists the density reads for `n` references: its neighbours plus the reference itself.
fn list_len(density: Density, n: usize) -> usize {
    density.neighbours_needed(n) + 1
}

fn densities(density: Density, lists: &[Vec<(f64, usize)>]) -> Vec<f64> {
    let n = lists.len();
    let l = list_len(density, n);
    lists
        .iter()
        .map(|list| {
            // The nearest entry (the reference itself) is dropped, as [`Density::compute`] does.
            let d: Vec<f64> = list[1..l].iter().map(|&(d, _)| d).collect();
            density.reduce(&d, n)
        })
        .collect()
}

fn density_state(
    spec: MethodSpec,
    density: Density,
    refs: &ReferenceSet,
    lists: Vec<Vec<(f64, usize)>>,
) -> State {
    let den = densities(density, &lists);
    let n = refs.len();
    let (alpha, beta) = match spec {
        MethodSpec::Difference(_) => (vec![1.0; n], den.iter().map(|&d| -d).collect()),
        _ => (den.iter().map(|&d| 1.0 / d).collect(), vec![0.0; n]),
    };
    State::Density {
        density,
        lists,
        alpha,
        beta,
    }
}

/// The state of a full fit.
fn fresh_state(spec: MethodSpec, refs: &ReferenceSet) -> Result<State, ScoringError> {
    Ok(match spec {
        MethodSpec::Ratio(density) | MethodSpec::Difference(density) => {
            if refs.len() < 2 {
                return Err(ScoringError::TooFewReferences {
                    key: KEY.into(),
                    method: "a density re-scaled score".into(),
                    n: refs.len(),
                    needed: 2,
                });
            }
            let nb = kernel::k_nearest_self(
                refs.embeddings.view(),
                list_len(density, refs.len()),
                refs.distance,
            );
            let lists = rows_of(&nb);
            density_state(spec, density, refs, lists)
        }
        MethodSpec::Lof { .. } => {
            State::Fitted(spec.build(false)?.fit(refs, Array2::zeros((0, 0)).view())?)
        }
        MethodSpec::Nn | MethodSpec::KnnMean { .. } => State::Plain,
    })
}

fn rows_of(nb: &kernel::Neighbours) -> Vec<Vec<(f64, usize)>> {
    (0..nb.rows())
        .map(|i| {
            nb.dist_row(i)
                .iter()
                .copied()
                .zip(nb.index_row(i).iter().copied())
                .collect()
        })
        .collect()
}

/// Orders list entries as the kernel does: by distance, ties by index.
fn by_distance(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Lists after appending rows `old_n..` of `refs`: the new rows search the whole set, the old rows
/// merge their nearest new rows into the lists they had.
fn merged_lists(
    old: &[Vec<(f64, usize)>],
    refs: &ReferenceSet,
    old_n: usize,
    want: usize,
) -> Vec<Vec<(f64, usize)>> {
    let all = refs.embeddings.view();
    let new = all.slice(ndarray::s![old_n.., ..]);
    let prior = all.slice(ndarray::s![..old_n, ..]);
    let towards_new = rows_of(&kernel::k_nearest(prior, new, want, refs.distance));
    let mut lists: Vec<Vec<(f64, usize)>> = old
        .iter()
        .zip(towards_new)
        .map(|(list, cand)| {
            let mut merged: Vec<(f64, usize)> = list[..want].to_vec();
            merged.extend(cand.into_iter().map(|(d, j)| (d, j + old_n)));
            merged.sort_by(by_distance);
            merged.truncate(want);
            merged
        })
        .collect();
    lists.extend(rows_of(&kernel::k_nearest(new, all, want, refs.distance)));
    lists
}

/// Lists after dropping the rows marked `gone`; `keep` maps new positions to old ones. Lists that held
/// a removed row search the remaining set again; the others are renumbered and shortened.
fn pruned_lists(
    old: &[Vec<(f64, usize)>],
    gone: &[bool],
    keep: &[usize],
    refs: &ReferenceSet,
    want: usize,
) -> Vec<Vec<(f64, usize)>> {
    let mut renumber = vec![NO_SKIP; gone.len()];
    for (new, &old_i) in keep.iter().enumerate() {
        renumber[old_i] = new;
    }
    let stale: Vec<usize> = (0..keep.len())
        .filter(|&i| old[keep[i]].iter().any(|&(_, j)| gone[j]))
        .collect();
    let rows = refs.embeddings.select(Axis(0), &stale);
    let refreshed = rows_of(&kernel::k_nearest(
        rows.view(),
        refs.embeddings.view(),
        want,
        refs.distance,
    ));
    let mut lists: Vec<Vec<(f64, usize)>> = keep
        .iter()
        .map(|&old_i| {
            old[old_i][..want]
                .iter()
                .map(|&(d, j)| (d, renumber[j]))
                .collect()
        })
        .collect();
    for (i, list) in stale.into_iter().zip(refreshed) {
        lists[i] = list;
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::tests::random_unit;

    fn domains(n: usize) -> Vec<bool> {
        (0..n).map(|i| i % 7 != 0).collect()
    }

    fn assert_same(a: &Scorer, b: &Scorer, q: ArrayView2<f32>, what: &str) {
        assert_eq!(a.references(), b.references(), "{what}: references");
        assert_eq!(a.densities(), b.densities(), "{what}: densities");
        assert_eq!(a.score(q).unwrap(), b.score(q).unwrap(), "{what}: scores");
        assert_eq!(
            a.loo_scores(None).unwrap(),
            b.loo_scores(None).unwrap(),
            "{what}: leave-one-out"
        );
    }

    /// Adding and removing references gives the refit's densities and scores bit for bit, for every
    /// method, across block boundaries of the kernel, including removals of rows other lists held.
    #[test]
    fn updates_equal_a_refit_bit_for_bit() {
        let all = random_unit(kernel::QUERY_BLOCK + 90, 24, 11);
        let q = random_unit(40, 24, 12);
        let dom = domains(all.nrows());
        let specs = [
            MethodSpec::Nn,
            MethodSpec::KnnMean { k: 4 },
            MethodSpec::Ratio(Density::KnnMean(16)),
            MethodSpec::Ratio(Density::KnnMean(1)),
            MethodSpec::Ratio(Density::Gwrp(0.5)),
            MethodSpec::Difference(Density::Gwrp(0.9)),
            MethodSpec::Lof { k: 8 },
        ];
        for spec in specs {
            let first = kernel::QUERY_BLOCK + 20;
            let mut s = Scorer::fit(
                spec,
                false,
                all.slice(ndarray::s![..first, ..]),
                &dom[..first],
            )
            .unwrap();
            s.add(all.slice(ndarray::s![first.., ..]), &dom[first..])
                .unwrap();
            let whole = Scorer::fit(spec, false, all.view(), &dom).unwrap();
            assert_same(&s, &whole, q.view(), &format!("{spec} after add"));

            // Every removed row sits in some other row's list, so lists are refilled, not only renumbered.
            let removed = [0, 3, 5, all.nrows() - 1];
            s.remove(&removed).unwrap();
            let keep: Vec<usize> = (0..all.nrows()).filter(|i| !removed.contains(i)).collect();
            let rest = all.select(Axis(0), &keep);
            let rest_dom: Vec<bool> = keep.iter().map(|&i| dom[i]).collect();
            let refit = Scorer::fit(spec, false, rest.view(), &rest_dom).unwrap();
            assert_same(&s, &refit, q.view(), &format!("{spec} after remove"));
        }
    }

    /// A set smaller than K grows its lists with each addition (refit path) and still equals a refit.
    #[test]
    fn small_sets_that_grow_equal_a_refit() {
        let all = random_unit(12, 8, 3);
        let q = random_unit(5, 8, 4);
        let dom = vec![true; 12];
        let spec = MethodSpec::Ratio(Density::KnnMean(16));
        let mut s = Scorer::fit(spec, false, all.slice(ndarray::s![..3, ..]), &dom[..3]).unwrap();
        assert_eq!(s.k_clipped(), Some((16, 2)));
        for i in 3..12 {
            s.add(all.slice(ndarray::s![i..i + 1, ..]), &dom[i..i + 1])
                .unwrap();
        }
        let whole = Scorer::fit(spec, false, all.view(), &dom).unwrap();
        assert_same(&s, &whole, q.view(), "grown one by one");
    }

    #[test]
    fn bad_updates_change_nothing() {
        let all = random_unit(6, 4, 5);
        let spec = MethodSpec::Ratio(Density::KnnMean(2));
        let mut s = Scorer::fit(spec, false, all.view(), &[true; 6]).unwrap();
        let before = s.densities();
        assert!(
            s.remove(&[6])
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert!(s.remove(&[1, 1]).unwrap_err().to_string().contains("twice"));
        assert!(s.remove(&[0, 1, 2, 3, 4]).is_err(), "one reference left");
        let wide = random_unit(2, 5, 6);
        assert!(matches!(
            s.add(wide.view(), &[true, true]),
            Err(ScoringError::DimensionMismatch {
                refs: 4,
                queries: 5
            })
        ));
        let mut nan = random_unit(1, 4, 7);
        nan[[0, 2]] = f32::NAN;
        let msg = s.add(nan.view(), &[true]).unwrap_err().to_string();
        assert!(msg.contains("row 0") && msg.contains("column 2"), "{msg}");
        assert_eq!(s.len(), 6);
        assert_eq!(s.densities(), before);
    }

    /// The standardised scorer is the pipeline's: the statistics come from the queries.
    #[test]
    fn standardisation_reads_the_queries_and_the_threshold_needs_them() {
        let all = random_unit(40, 8, 8);
        let q = random_unit(30, 8, 9);
        let dom = domains(40);
        let spec = MethodSpec::Ratio(Density::KnnMean(4));
        let s = Scorer::fit(spec, true, all.view(), &dom).unwrap();
        let refs = ReferenceSet {
            key: KEY.into(),
            distance: Distance::Cosine,
            embeddings: all.clone(),
            is_source: dom.clone(),
            origin: (0..40).map(Some).collect(),
        };
        let want = spec
            .build(true)
            .unwrap()
            .fit(&refs, q.view())
            .unwrap()
            .score(q.view(), None);
        assert_eq!(s.score(q.view()).unwrap(), want);
        assert!(s.threshold(0.9, None).is_err());
        assert!(s.threshold(0.9, Some(q.view())).unwrap().is_some());
        assert!(Scorer::fit(MethodSpec::Lof { k: 3 }, true, all.view(), &dom).is_err());
    }
}
