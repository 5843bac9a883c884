//! Batch normalisation with the batch's own statistics, as one pass per statistic. burn's generic
//! version swaps the batch and channel axes (a full copy) for every reduction, forward and backward,
//! which made it the most expensive layer of the training step on the CPU.
//!
//! Layout: x is (batch, channels, rest…), seen as (batch, channels, s) with s the product of the
//! remaining axes. Statistics are accumulated in f64 over each channel.

use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub batch: usize,
    pub channels: usize,
    /// Elements per (image, channel).
    pub s: usize,
}

impl Layout {
    fn n(&self) -> f64 {
        (self.batch * self.s) as f64
    }

    /// The values of channel c, one slice per image.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let (cs, s) = (self.channels * self.s, self.s);
        (0..self.batch).map(move |b| &x[b * cs + c * s..b * cs + (c + 1) * s])
    }
}

/// Per channel: mean and biased variance, as [means…, variances…].
pub fn moments(l: &Layout, x: &[f32]) -> Vec<f32> {
    let per: Vec<(f32, f32)> = (0..l.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = l.planes(x, c).map(sum_f64).sum();
            let mean = sum / l.n();
            let ss: f64 = l
                .planes(x, c)
                .map(|p| {
                    p.iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                })
                .sum();
            (mean as f32, (ss / l.n()) as f32)
        })
        .collect();
    per.iter()
        .map(|p| p.0)
        .chain(per.iter().map(|p| p.1))
        .collect()
}

fn sum_f64(p: &[f32]) -> f64 {
    // Partial sums in f32 over short runs keep the loop vectorised; the runs are added in f64.
    p.chunks(64).map(|c| f64::from(c.iter().sum::<f32>())).sum()
}

pub(crate) fn inv_std(var: f32, eps: f64) -> f32 {
    (1.0 / (f64::from(var) + eps).sqrt()) as f32
}

/// A new tensor from x, one (image, channel) plane at a time: `f(channel, input plane, output plane)`.
fn map_planes(l: &Layout, x: &[f32], f: impl Fn(usize, &[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    if l.s == 0 || l.channels == 0 {
        return y;
    }
    y.par_chunks_mut(l.s)
        .zip(x.par_chunks(l.s))
        .enumerate()
        .for_each(|(i, (yp, xp))| f(i % l.channels, xp, yp));
    y
}

/// y = (x − mean) / √(var + eps) per channel; `m` as returned by [`moments`].
pub fn normalize(l: &Layout, x: &[f32], m: &[f32], eps: f64) -> Vec<f32> {
    map_planes(l, x, |c, xp, yp| {
        let (mean, k) = (m[c], inv_std(m[l.channels + c], eps));
        yp.iter_mut()
            .zip(xp)
            .for_each(|(o, &v)| *o = (v - mean) * k);
    })
}

/// ∂L/∂x of [`normalize`] with the statistics' own dependence on x, from its output y and ∂L/∂y:
/// (dy − mean(dy) − y · mean(dy · y)) / √(var + eps).
pub fn normalize_grad(l: &Layout, y: &[f32], dy: &[f32], m: &[f32], eps: f64) -> Vec<f32> {
    let mut dx = vec![0.0f32; y.len()];
    if l.s == 0 || l.channels == 0 {
        return dx;
    }
    let sums: Vec<(f64, f64)> = y
        .par_chunks(l.s)
        .zip(dy.par_chunks(l.s))
        .map(|(yp, gp)| plane_sums(yp, gp))
        .collect();
    let means = channel_means(l, &sums);
    dx.par_chunks_mut(l.s)
        .zip(y.par_chunks(l.s).zip(dy.par_chunks(l.s)))
        .enumerate()
        .for_each(|(i, (dxp, (yp, gp)))| {
            let c = i % l.channels;
            let k = inv_std(m[l.channels + c], eps);
            normalize_grad_plane(yp, gp, means[c], k, dxp);
        });
    dx
}

/// One plane's Σ dy and Σ dy · y, the sums [`normalize_grad`] takes per channel.
pub(crate) fn plane_sums(y: &[f32], dy: &[f32]) -> (f64, f64) {
    let gy = y
        .chunks(64)
        .zip(dy.chunks(64))
        .map(|(a, b)| f64::from(a.iter().zip(b).map(|(u, v)| u * v).sum::<f32>()))
        .sum::<f64>();
    (sum_f64(dy), gy)
}

/// Per channel, mean(dy) and mean(dy · y) from each plane's [`plane_sums`] (in plane order: image by
/// image, channels within), added in image order.
pub(crate) fn channel_means(l: &Layout, sums: &[(f64, f64)]) -> Vec<(f32, f32)> {
    (0..l.channels)
        .map(|c| {
            let (mut g, mut gy) = (0.0f64, 0.0f64);
            for &(a, ay) in sums.iter().skip(c).step_by(l.channels) {
                g += a;
                gy += ay;
            }
            ((g / l.n()) as f32, (gy / l.n()) as f32)
        })
        .collect()
}

/// One element of [`normalize_grad`]: (dy − mean(dy) − y · mean(dy · y)) · k, with `means` the
/// channel's two means and k = 1/√(var + eps).
#[inline]
pub(crate) fn grad_through_stats(dy: f32, y: f32, means: (f32, f32), k: f32) -> f32 {
    (dy - means.0 - y * means.1) * k
}

/// One plane of [`normalize_grad`].
fn normalize_grad_plane(y: &[f32], dy: &[f32], means: (f32, f32), k: f32, dx: &mut [f32]) {
    for ((o, &yv), &gv) in dx.iter_mut().zip(y).zip(dy) {
        *o = grad_through_stats(gv, yv, means, k);
    }
}

/// y = x · scale + shift per channel: BatchNorm in eval mode, with the running statistics folded
/// into `scale` and `shift` (one pass instead of burn's four broadcast operations).
pub fn affine(l: &Layout, x: &[f32], scale: &[f32], shift: &[f32]) -> Vec<f32> {
    map_planes(l, x, |c, xp, yp| {
        let (a, b) = (scale[c], shift[c]);
        yp.iter_mut().zip(xp).for_each(|(o, &v)| *o = v * a + b);
    })
}
