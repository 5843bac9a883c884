//! Batch normalisation with the batch's statistics (no affine parameters) followed by max-pooling:
//! the STFT branch's first layer in training, on its largest tensor (82 MB at batch 32 × 10 s).
//!
//! Normalising is x ↦ (x − mean) · k with k = 1/√(var + eps) > 0, a non-decreasing map in f32 too,
//! so the maximum of the normalised window is the normalised maximum of the raw one: the forward
//! pass pools the raw input and normalises only the pooled values, and the normalised tensor is
//! never written. The backward pass rebuilds each plane's normalised values in a per-thread buffer
//! that stays in cache, scatters the pooled gradient straight into the input gradient and takes the
//! statistics' sums while the plane is in cache; a second pass turns the input gradient in place
//! into the gradient through the statistics. Max-pool backward followed by [`norm::normalize_grad`]
//! wrote and read the normalised tensor and a scattered one besides. Both passes give the
//! composition's values bit for bit: the same expressions, the same window order and the same order
//! of the per-channel sums. Timings: docs/benchmarks.md.

use crate::norm::{self, Layout};
use crate::pool::Window;
use rayon::prelude::*;

/// The geometry: `pool.planes` = batch × channels, each plane `pool.h × pool.w`.
#[derive(Debug, Clone, Copy)]
pub struct NormPool {
    pub pool: Window,
    pub channels: usize,
}

impl NormPool {
    fn layout(&self) -> Layout {
        Layout {
            batch: self.pool.planes / self.channels.max(1),
            channels: self.channels,
            s: self.pool.h * self.pool.w,
        }
    }

    fn out_plane(&self) -> usize {
        self.pool.out_h() * self.pool.out_w()
    }
}

/// Each channel's normalisation, from the statistics in [`norm::moments`]'s layout.
#[derive(Clone, Copy)]
struct Scale<'a> {
    m: &'a [f32],
    eps: f64,
    channels: usize,
}

impl Scale<'_> {
    /// The mean and 1/√(var + eps) of plane `p`'s channel, as [`norm::normalize`] takes them.
    fn of_plane(&self, p: usize) -> (f32, f32) {
        let c = p % self.channels;
        (
            self.m[c],
            norm::inv_std(self.m[self.channels + c], self.eps),
        )
    }
}

/// max_pool(normalize(x)) with the statistics `m` of x ([`norm::moments`]'s layout).
pub fn forward(g: &NormPool, x: &[f32], m: &[f32], eps: f64) -> Vec<f32> {
    let mut y = crate::pool::forward(&g.pool, x);
    if y.is_empty() || g.channels == 0 {
        return y;
    }
    let scale = Scale {
        m,
        eps,
        channels: g.channels,
    };
    y.par_chunks_mut(g.out_plane())
        .enumerate()
        .for_each(|(p, yp)| {
            let (mean, k) = scale.of_plane(p);
            yp.iter_mut().for_each(|v| *v = (*v - mean) * k);
        });
    y
}

/// Per-thread buffers for one plane.
#[derive(Default)]
struct PlaneScratch {
    normalized: Vec<f32>,
    rows: Vec<f32>,
    maxima: Vec<f32>,
}

/// Plane `p` of x normalised into `s.normalized`, and the pooled gradient `dy` scattered to each
/// window's first maximum into `grad` (as `pool::backward` into zeros).
fn scatter_plane(
    g: &NormPool,
    p: usize,
    x: &[f32],
    scale: Scale,
    dy: &[f32],
    s: &mut PlaneScratch,
    grad: &mut [f32],
) {
    let w = &g.pool;
    let (mean, k) = scale.of_plane(p);
    let plane = &x[p * w.h * w.w..(p + 1) * w.h * w.w];
    s.normalized.clear();
    s.normalized.extend(plane.iter().map(|&v| (v - mean) * k));
    grad.fill(0.0);
    s.maxima.resize(w.out_w(), 0.0);
    let gp = &dy[p * g.out_plane()..(p + 1) * g.out_plane()];
    for oh in 0..w.out_h() {
        w.row_max(&s.normalized, oh, &mut s.rows, &mut s.maxima);
        for ow in 0..w.out_w() {
            let d = gp[oh * w.out_w() + ow];
            w.add_at_argmax(&s.normalized, s.maxima[ow], d, oh, ow, grad);
        }
    }
}

/// ∂L/∂x of [`forward`] (statistics differentiated as in [`norm::normalize_grad`]), from the input
/// x, its statistics and ∂L/∂y of the pooled output.
///
/// Two passes: the first scatters each plane's gradient into `dx` (finding the windows' maxima
/// once) and takes the plane's sums while it is in cache; the second, with the channels' sums
/// known, turns `dx` in place into the gradient through the statistics.
pub fn backward(g: &NormPool, x: &[f32], m: &[f32], eps: f64, dy: &[f32]) -> Vec<f32> {
    let l = g.layout();
    // Each plane is zeroed by its first pass, the first touch of its pages.
    let mut dx = vec![0.0f32; x.len()];
    if l.s == 0 || l.channels == 0 {
        return dx;
    }
    let scale = Scale {
        m,
        eps,
        channels: l.channels,
    };
    let partial: Vec<(f64, f64)> = dx
        .par_chunks_mut(l.s)
        .enumerate()
        .map_init(PlaneScratch::default, |s, (p, dxp)| {
            scatter_plane(g, p, x, scale, dy, s, dxp);
            norm::plane_sums(&s.normalized, dxp)
        })
        .collect();
    let means = norm::channel_means(&l, &partial);
    dx.par_chunks_mut(l.s)
        .zip(x.par_chunks(l.s))
        .enumerate()
        .for_each(|(p, (dxp, xp))| {
            let (mean, k) = scale.of_plane(p);
            let means = means[p % l.channels];
            for (o, &v) in dxp.iter_mut().zip(xp) {
                *o = norm::grad_through_stats(*o, (v - mean) * k, means, k);
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coarse values (64 levels), so that windows hold ties.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::testing::values(n, seed)
            .into_iter()
            .map(|v| ((v + 0.5) * 64.0).floor() / 16.0 - 2.0)
            .collect()
    }

    fn geometry(
        batch: usize,
        channels: usize,
        h: usize,
        w: usize,
        k: usize,
        stride: usize,
    ) -> NormPool {
        NormPool {
            pool: Window {
                planes: batch * channels,
                h,
                w,
                k,
                stride,
            },
            channels,
        }
    }

    /// The composition this replaces: normalize, then pool; pool backward, then normalize_grad.
    #[test]
    fn equals_normalize_then_pool_bit_for_bit() {
        for (i, g) in [
            geometry(3, 4, 11, 13, 3, 2),
            geometry(2, 3, 9, 9, 3, 2),
            geometry(1, 2, 7, 20, 2, 2),
            geometry(4, 1, 6, 5, 3, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let l = g.layout();
            let x = values(g.pool.planes * l.s, 7 + i as u64);
            let m = norm::moments(&l, &x);
            let eps = 1e-5;
            let normalized = norm::normalize(&l, &x, &m, eps);
            let want = crate::pool::forward(&g.pool, &normalized);
            let got = forward(&g, &x, &m, eps);
            assert_eq!(bits(&got), bits(&want), "forward, case {i}");

            let dy = values(want.len(), 100 + i as u64);
            let scattered = crate::pool::backward(&g.pool, &normalized, &dy);
            let want = norm::normalize_grad(&l, &normalized, &scattered, &m, eps);
            let got = backward(&g, &x, &m, eps, &dy);
            assert_eq!(bits(&got), bits(&want), "backward, case {i}");
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Against central differences of the loss Σ dy · forward(x) with the statistics recomputed,
    /// in f64 on values without ties (a tie's maximum moves under a small step).
    #[test]
    fn backward_is_the_gradient_of_forward() {
        let g = geometry(2, 2, 7, 9, 3, 2);
        let l = g.layout();
        let n = g.pool.planes * l.s;
        // Distinct values: a permutation of a fine grid.
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % n) as f32 / n as f32 - 0.5)
            .collect();
        let eps = 1e-5;
        let out = forward(&g, &x, &norm::moments(&l, &x), eps).len();
        let dy: Vec<f32> = (0..out)
            .map(|i| ((i * 13) % 7) as f32 / 7.0 - 0.4)
            .collect();
        let loss = |x: &[f32]| -> f64 {
            let y = forward(&g, x, &norm::moments(&l, x), eps);
            y.iter()
                .zip(&dy)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        };
        let dx = backward(&g, &x, &norm::moments(&l, &x), eps, &dy);
        let h = 1e-3f32;
        for i in (0..n).step_by(5) {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(dx[i])).abs() < 2e-2 * (1.0 + numeric.abs()),
                "element {i}: numeric {numeric}, analytic {}",
                dx[i]
            );
        }
    }
}
