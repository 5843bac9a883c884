//! Seeded k-means (k-means++ initialisation, Lloyd iterations) for the "source means" references.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MAX_ITER: usize = 300;
const TOL: f64 = 1e-4;

fn sq_dist(a: ndarray::ArrayView1<f32>, b: ndarray::ArrayView1<f32>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((*x - *y) as f64).powi(2))
        .sum()
}

/// Returns `min(k, n)` centres of the rows of `x`. With `k ≥ n` every sample is its own centre; with
/// `k = 0` there are none.
pub fn fit(x: ArrayView2<f32>, k: usize, seed: u64) -> Array2<f32> {
    let n = x.nrows();
    let d = x.ncols();
    if k >= n {
        return x.to_owned();
    }
    if k == 0 {
        return Array2::zeros((0, d));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // k-means++ seeding.
    let mut centres = Array2::<f32>::zeros((k, d));
    let first = rng.random_range(0..n);
    centres.row_mut(0).assign(&x.row(first));
    let mut closest: Vec<f64> = (0..n).map(|i| sq_dist(x.row(i), centres.row(0))).collect();
    for c in 1..k {
        let total: f64 = closest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            let mut chosen = n - 1;
            for (i, &w) in closest.iter().enumerate() {
                if target < w {
                    chosen = i;
                    break;
                }
                target -= w;
            }
            chosen
        } else {
            rng.random_range(0..n)
        };
        centres.row_mut(c).assign(&x.row(pick));
        for (i, cl) in closest.iter_mut().enumerate() {
            *cl = cl.min(sq_dist(x.row(i), centres.row(c)));
        }
    }
    // Lloyd iterations.
    let mut assign = vec![0usize; n];
    for _ in 0..MAX_ITER {
        for (i, a) in assign.iter_mut().enumerate() {
            let mut best = (f64::INFINITY, 0);
            for c in 0..k {
                let dist = sq_dist(x.row(i), centres.row(c));
                if dist < best.0 {
                    best = (dist, c);
                }
            }
            *a = best.1;
        }
        let mut sums = Array2::<f64>::zeros((k, d));
        let mut counts = vec![0usize; k];
        for (i, &a) in assign.iter().enumerate() {
            counts[a] += 1;
            for (s, v) in sums.row_mut(a).iter_mut().zip(x.row(i)) {
                *s += *v as f64;
            }
        }
        let mut shift = 0.0;
        for c in 0..k {
            if counts[c] == 0 {
                continue; // an empty cluster keeps its centre
            }
            for (j, cv) in centres.row_mut(c).iter_mut().enumerate() {
                let new = (sums[[c, j]] / counts[c] as f64) as f32;
                shift += ((new - *cv) as f64).powi(2);
                *cv = new;
            }
        }
        if shift < TOL * TOL {
            break;
        }
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn finds_two_separated_clusters_deterministically() {
        let x = array![
            [0.0f32, 0.0],
            [0.1, 0.0],
            [0.0, 0.1],
            [5.0, 5.0],
            [5.1, 5.0],
            [5.0, 5.1]
        ];
        let c = fit(x.view(), 2, 7);
        let mut firsts: Vec<f32> = c.column(0).to_vec();
        firsts.sort_by(f32::total_cmp);
        assert!((firsts[0] - 1.0 / 30.0).abs() < 1e-5);
        assert!((firsts[1] - 5.0333333).abs() < 1e-5);
        assert_eq!(fit(x.view(), 2, 7), c, "same seed, same centres");
        assert_eq!(fit(x.view(), 0, 7).dim(), (0, 2), "no centres, no panic");
    }
}
