//! The k-NN baseline: mean distance to the k nearest references.

use super::{Fitted, Method};
use crate::distance::Distance;
use crate::error::ScoringError;
use crate::kernel::{self, Neighbours};
use crate::reference::ReferenceSet;
use ndarray::{Array2, ArrayView2};

#[derive(Debug, Clone)]
pub struct KnnMean {
    pub k: usize,
}

struct FittedKnn {
    refs: Array2<f32>,
    k: usize,
    distance: Distance,
}

/// The k nearest neighbours of each query, leaving out `skip[i]` when it is among the k + 1 nearest and
/// the farthest of them otherwise (scikit-learn's rule for querying a point of the fitted set).
pub(crate) fn neighbours_skipping(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    k: usize,
    skip: Option<&[usize]>,
    distance: Distance,
) -> Vec<Vec<(f64, usize)>> {
    let extra = usize::from(skip.is_some());
    let nb: Neighbours = kernel::k_nearest(queries, refs, k + extra, distance);
    (0..queries.nrows())
        .map(|i| {
            let mut row: Vec<(f64, usize)> = nb
                .dist_row(i)
                .iter()
                .copied()
                .zip(nb.index_row(i).iter().copied())
                .collect();
            if let Some(s) = skip {
                match row.iter().position(|&(_, j)| j == s[i]) {
                    Some(p) => {
                        row.remove(p);
                    }
                    None => {
                        row.truncate(k);
                    }
                }
            }
            row.truncate(k);
            row
        })
        .collect()
}

impl Fitted for FittedKnn {
    fn score(&self, queries: ArrayView2<f32>, skip: Option<&[usize]>) -> Vec<f64> {
        neighbours_skipping(queries, self.refs.view(), self.k, skip, self.distance)
            .into_iter()
            .map(|row| row.iter().map(|&(d, _)| d).sum::<f64>() / row.len().max(1) as f64)
            .collect()
    }
}

impl Method for KnnMean {
    fn fit(
        &self,
        refs: &ReferenceSet,
        _queries: ArrayView2<f32>,
    ) -> Result<Box<dyn Fitted>, ScoringError> {
        if refs.is_empty() {
            return Err(ScoringError::EmptyReferences {
                key: refs.key.clone(),
            });
        }
        // Fewer references than k: the mean runs over all of them (documented behaviour).
        Ok(Box::new(FittedKnn {
            refs: refs.embeddings.clone(),
            k: self.k.min(refs.len()),
            distance: refs.distance,
        }))
    }
}
