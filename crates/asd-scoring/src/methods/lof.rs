//! Local outlier factor in novelty mode, computed as scikit-learn's `LocalOutlierFactor(novelty=True)`
//! with Euclidean distances; the score is −`score_samples`, i.e. the LOF itself.

use super::knn::neighbours_skipping;
use super::{Fitted, Method};
use crate::distance::Distance;
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
    k_distance: Vec<f32>,
    lrd: Vec<f32>,
    /// The kernel that finds the candidates (cosine on unit vectors orders them as Euclidean does).
    distance: Distance,
}

/// Squared Euclidean distance as scikit-learn computes it for float32 input: ‖x‖² + ‖y‖² − 2⟨x, y⟩
/// in float64. It orders the neighbours; the distance itself is this, rounded to float32, then the
/// square root in float32. The LOF arithmetic then stays in float32, so matching each rounding step
/// keeps scikit-learn's exact ties, which the AUC counts.
fn squared_distance(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    let (mut aa, mut bb, mut ab) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        aa += x * x;
        bb += y * y;
        ab += x * y;
    }
    (aa - 2.0 * ab + bb).max(0.0)
}

/// Candidates beyond k found by the f32 GEMM, so that a near-tie at the k-th place is settled in f64.
const CANDIDATE_MARGIN: usize = 4;

/// The k nearest references of each query, ordered and measured as scikit-learn does.
fn sklearn_rows(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    k: usize,
    skip: Option<&[usize]>,
    distance: Distance,
) -> Vec<Vec<(f32, usize)>> {
    let available = refs.nrows() - usize::from(skip.is_some());
    let wide = (k + CANDIDATE_MARGIN).min(available);
    neighbours_skipping(queries, refs, wide, skip, distance)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut exact: Vec<(f64, usize)> = row
                .into_iter()
                .map(|(_, j)| (squared_distance(queries.row(i), refs.row(j)), j))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            exact.truncate(k);
            exact
                .into_iter()
                .map(|(d2, j)| ((d2 as f32).sqrt(), j))
                .collect()
        })
        .collect()
}

/// `numpy.mean` of a float32 row: pairwise summation (8 accumulators from 8 elements on) in float32.
fn mean_f32(x: &[f32]) -> f32 {
    fn pairwise(x: &[f32]) -> f32 {
        let n = x.len();
        if n < 8 {
            x.iter().fold(0.0f32, |a, &v| a + v)
        } else if n <= 128 {
            let mut r = [0f32; 8];
            r.copy_from_slice(&x[..8]);
            let mut i = 8;
            while i + 8 <= n {
                for (j, rj) in r.iter_mut().enumerate() {
                    *rj += x[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for &v in &x[i..] {
                res += v;
            }
            res
        } else {
            let half = (n / 2) & !7;
            pairwise(&x[..half]) + pairwise(&x[half..])
        }
    }
    pairwise(x) / x.len() as f32
}

/// Local reachability density. For float32 input scikit-learn casts the distances to float32 and does
/// this arithmetic in float32; doing the same keeps its ties, which the AUC counts.
fn lrd(row: &[(f32, usize)], k_distance: &[f32]) -> f32 {
    let reach: Vec<f32> = row.iter().map(|&(d, j)| d.max(k_distance[j])).collect();
    1.0 / (mean_f32(&reach) + LRD_EPS as f32)
}

impl Fitted for FittedLof {
    fn score(&self, queries: ArrayView2<f32>, skip: Option<&[usize]>) -> Vec<f64> {
        sklearn_rows(queries, self.refs.view(), self.k, skip, self.distance)
            .into_iter()
            .map(|row| {
                let own = lrd(&row, &self.k_distance);
                let ratios: Vec<f32> = row.iter().map(|&(_, j)| self.lrd[j] / own).collect();
                mean_f32(&ratios) as f64
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
        let rows = sklearn_rows(
            refs.embeddings.view(),
            refs.embeddings.view(),
            k,
            Some(&own),
            refs.distance,
        );
        let k_distance: Vec<f32> = rows.iter().map(|r| r[k - 1].0).collect();
        let lrd_fit: Vec<f32> = rows.iter().map(|r| lrd(r, &k_distance)).collect();
        Ok(Box::new(FittedLof {
            refs: refs.embeddings.clone(),
            k,
            k_distance,
            lrd: lrd_fit,
            distance: refs.distance,
        }))
    }
}
