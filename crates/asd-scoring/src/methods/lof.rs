//! Local outlier factor in novelty mode, computed as scikit-learn's `LocalOutlierFactor(novelty=True)`
//! with Euclidean distances; the score is −`score_samples`, i.e. the LOF itself.

use super::knn::neighbours_skipping;
use super::{Fitted, Method};
use crate::error::ScoringError;
use crate::reference::ReferenceSet;
use ndarray::{Array2, ArrayView1, ArrayView2};

/// scikit-learn adds this to the mean reachability distance to avoid a division by zero.
const LRD_EPS: f64 = 1e-10;

#[derive(Debug, Clone)]
pub struct Lof {
    pub k: usize,
}

struct FittedLof {
    refs: Array2<f32>,
    k: usize,
    k_distance: Vec<f64>,
    lrd: Vec<f64>,
}

/// Exact Euclidean distance in f64. scikit-learn upcasts float32 input to float64 for distances; the
/// f32 GEMM only selects the neighbours, and near-ties would otherwise change the LOF ranking.
fn euclid(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Neighbour rows with exact Euclidean distances.
fn exact_rows(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    k: usize,
    skip: Option<&[usize]>,
) -> Vec<Vec<(f64, usize)>> {
    neighbours_skipping(queries, refs, k, skip)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            row.into_iter()
                .map(|(_, j)| (euclid(queries.row(i), refs.row(j)), j))
                .collect()
        })
        .collect()
}

fn lrd(row: &[(f64, usize)], k_distance: &[f64]) -> f64 {
    let reach: f64 = row.iter().map(|&(d, j)| d.max(k_distance[j])).sum::<f64>() / row.len() as f64;
    1.0 / (reach + LRD_EPS)
}

impl Fitted for FittedLof {
    fn score(&self, queries: ArrayView2<f32>, skip: Option<&[usize]>) -> Vec<f64> {
        exact_rows(queries, self.refs.view(), self.k, skip)
            .into_iter()
            .map(|row| {
                let own = lrd(&row, &self.k_distance);
                row.iter().map(|&(_, j)| self.lrd[j] / own).sum::<f64>() / row.len() as f64
            })
            .collect()
    }
}

impl Method for Lof {
    fn fit(
        &self,
        refs: &ReferenceSet,
        _queries: ArrayView2<f32>,
    ) -> Result<Box<dyn Fitted>, ScoringError> {
        let n = refs.len();
        if n < 2 {
            return Err(ScoringError::TooFewReferences {
                key: refs.key.clone(),
                method: "lof".into(),
                n,
                needed: 2,
            });
        }
        // As scikit-learn: n_neighbors is clipped to n − 1.
        let k = self.k.min(n - 1).max(1);
        let own: Vec<usize> = (0..n).collect();
        let rows = exact_rows(
            refs.embeddings.view(),
            refs.embeddings.view(),
            k,
            Some(&own),
        );
        let k_distance: Vec<f64> = rows.iter().map(|r| r[k - 1].0).collect();
        let lrd_fit: Vec<f64> = rows.iter().map(|r| lrd(r, &k_distance)).collect();
        Ok(Box::new(FittedLof {
            refs: refs.embeddings.clone(),
            k,
            k_distance,
            lrd: lrd_fit,
        }))
    }
}
