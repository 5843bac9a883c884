//! Local densities of reference samples: the denominators of the paper's re-scaled scores.
//!
//! For a reference y, its neighbours y_1, y_2, … are the other references sorted by distance to y. As in
//! the authors' code, the row of distances *including* y's own is sorted and its smallest entry dropped.
//! - k-NN (eq. 1): den(y) = mean_{k ≤ K} d(y, y_k);
//! - GWRP (eq. 2): den(y) = Σ_k r^{k−1} d(y, y_k) / Σ_k r^{k−1}, over all N − 1 neighbours.
//!
//! The paper writes sums; the reference implementation uses these normalised forms, which differ from the
//! sums by a constant factor per section only (the same ranking) and are kept here for exact agreement.

use crate::distance::Distance;
use crate::kernel;
use ndarray::ArrayView2;

/// How the local density of a reference is measured.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Density {
    /// Mean distance to the K nearest other references.
    KnnMean(usize),
    /// Geometrically weighted mean of the distances to all other references, weight r^{k−1}.
    Gwrp(f64),
}

/// Largest GWRP tail weight ignored: Σ_{k>L} r^{k−1} ≤ r^L / (1 − r) stays below this, far under f64
/// rounding of the denominator, so the truncated sum is exact in practice and avoids sorting full rows.
const GWRP_TAIL: f64 = 1e-16;

impl Density {
    /// Number of neighbours the density reads, for a reference set of `n` samples.
    pub fn neighbours_needed(&self, n: usize) -> usize {
        let others = n.saturating_sub(1);
        match *self {
            Density::KnnMean(k) => k.min(others),
            Density::Gwrp(r) => {
                if r <= 0.0 {
                    1.min(others)
                } else if r >= 1.0 {
                    others
                } else {
                    let l = ((GWRP_TAIL * (1.0 - r)).ln() / r.ln()).ceil() as usize + 1;
                    l.min(others)
                }
            }
        }
    }

    /// Computes the density of every reference. Needs at least two references.
    pub fn compute(&self, refs: ArrayView2<f32>, distance: Distance) -> Vec<f64> {
        let n = refs.nrows();
        let l = self.neighbours_needed(n);
        let nb = kernel::k_nearest_self(refs, l + 1, distance);
        (0..n)
            .map(|i| {
                // Drop the smallest entry (the reference itself), as the reference implementation does.
                let d = &nb.dist_row(i)[1..];
                self.reduce(d, n)
            })
            .collect()
    }

    /// Density from the sorted neighbour distances `d` (self excluded) of one reference.
    pub fn reduce(&self, d: &[f64], n: usize) -> f64 {
        match *self {
            Density::KnnMean(_) => d.iter().sum::<f64>() / d.len().max(1) as f64,
            Density::Gwrp(r) => {
                let mut w = 1.0;
                let mut num = 0.0;
                for &x in d {
                    num += w * x;
                    w *= r;
                }
                // The normaliser runs over all N − 1 neighbours, also those the truncation skipped.
                let mut norm = 0.0;
                let mut w = 1.0;
                for _ in 0..n.saturating_sub(1) {
                    norm += w;
                    w *= r;
                    if w == 0.0 {
                        break;
                    }
                }
                num / norm
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gwrp_at_r0_is_nearest_and_at_r1_is_mean_of_all() {
        // Four points on a circle, distances from point 0: 0.5(1-cos θ).
        let a = std::f32::consts::FRAC_PI_6;
        let refs = array![
            [1.0f32, 0.0],
            [a.cos(), a.sin()],
            [(2.0 * a).cos(), (2.0 * a).sin()],
            [0.0, 1.0]
        ];
        let d0: Vec<f64> = (1..4)
            .map(|j| 0.5 * (1.0 - (j as f64 * a as f64).cos()))
            .collect();
        let r0 = Density::Gwrp(0.0).compute(refs.view(), Distance::Cosine);
        assert!((r0[0] - d0[0]).abs() < 1e-6);
        let r1 = Density::Gwrp(1.0).compute(refs.view(), Distance::Cosine);
        assert!((r1[0] - d0.iter().sum::<f64>() / 3.0).abs() < 1e-6);
        let k1 = Density::KnnMean(1).compute(refs.view(), Distance::Cosine);
        assert!(
            (k1[0] - r0[0]).abs() < 1e-12,
            "K=1 and r=0 start from the same point"
        );
        let k3 = Density::KnnMean(3).compute(refs.view(), Distance::Cosine);
        assert!(
            (k3[0] - r1[0]).abs() < 1e-12,
            "K=N-1 and r=1 end at the same point"
        );
    }

    #[test]
    fn gwrp_truncation_is_bounded() {
        assert_eq!(Density::Gwrp(0.9).neighbours_needed(10_000), 373);
        assert_eq!(Density::Gwrp(0.9).neighbours_needed(100), 99);
        assert_eq!(Density::KnnMean(16).neighbours_needed(5), 4);
    }
}
