//! Max-pooling without padding (the STFT branch's 3 × 3, stride 2 pool). The backward pass finds
//! each window's maximum again in the input instead of keeping indices: the input is kept
//! alive for the preceding ReLU's backward pass anyway, and one pass over it is cheaper than
//! writing, storing and reading the index tensor.
//!
//! Ties go to the first maximum in row-major window order, as in PyTorch.

use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Images × channels.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
}

impl Window {
    pub fn out_h(&self) -> usize {
        crate::shape::conv_len(self.h, self.k, self.stride)
    }

    pub fn out_w(&self) -> usize {
        crate::shape::conv_len(self.w, self.k, self.stride)
    }

    /// The maxima of output row `oh` (NaN where a window holds one, as in PyTorch): first the
    /// element-wise maximum of the window's input rows, then of each window's columns, so that the
    /// inner loops run over contiguous rows without branches.
    pub(crate) fn row_max(&self, plane: &[f32], oh: usize, rows: &mut Vec<f32>, out: &mut [f32]) {
        let r0 = oh * self.stride;
        rows.clear();
        rows.extend_from_slice(&plane[r0 * self.w..(r0 + 1) * self.w]);
        for r in r0 + 1..r0 + self.k {
            for (m, &v) in rows.iter_mut().zip(&plane[r * self.w..(r + 1) * self.w]) {
                *m = nan_max(*m, v);
            }
        }
        for (ow, o) in out.iter_mut().enumerate() {
            let c0 = ow * self.stride;
            *o = rows[c0 + 1..c0 + self.k]
                .iter()
                .fold(rows[c0], |m, &v| nan_max(m, v));
        }
    }

    /// Adds `grad` to the window's first maximum `m`. Every element is visited and gets either
    /// `grad` or 0 without a branch: where the maximum sits is unpredictable on real data, and the
    /// branchy search made this pass six times slower than the forward one. (With a NaN in the
    /// window no element equals the maximum and none gets a gradient; the loss is NaN then anyway.)
    pub(crate) fn add_at_argmax(
        &self,
        plane: &[f32],
        m: f32,
        grad: f32,
        oh: usize,
        ow: usize,
        dx: &mut [f32],
    ) {
        let (r0, c0) = (oh * self.stride, ow * self.stride);
        let mut found = false;
        for r in r0..r0 + self.k {
            let row = r * self.w + c0;
            for (d, &v) in dx[row..row + self.k]
                .iter_mut()
                .zip(&plane[row..row + self.k])
            {
                let hit = !found & (v == m);
                *d += if hit { grad } else { 0.0 };
                found |= hit;
            }
        }
    }
}

/// max(a, b), NaN if either is NaN; a select, not a branch.
fn nan_max(a: f32, b: f32) -> f32 {
    if b > a || b.is_nan() { b } else { a }
}

/// The pooled planes of `x` into `y` (planes × out_h × out_w).
pub(super) fn forward_into(g: &Window, x: &[f32], rows: &mut Vec<f32>, y: &mut [f32]) {
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    if oh_n * ow_n == 0 {
        return;
    }
    for (yp, xp) in y.chunks_mut(oh_n * ow_n).zip(x.chunks(g.h * g.w)) {
        for (oh, out) in yp.chunks_mut(ow_n).enumerate() {
            g.row_max(xp, oh, rows, out);
        }
    }
}

pub fn forward(g: &Window, x: &[f32]) -> Vec<f32> {
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    let mut y = vec![0.0f32; g.planes * oh_n * ow_n];
    if y.is_empty() {
        return y;
    }
    y.par_chunks_mut(oh_n * ow_n)
        .zip(x.par_chunks(g.h * g.w))
        .for_each_init(Vec::new, |rows, (yp, xp)| forward_into(g, xp, rows, yp));
    y
}

/// ∂L/∂x: each output's gradient goes to its window's first maximum.
pub fn backward(g: &Window, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    let mut dx = crate::buffer::zeroed(x.len());
    if oh_n * ow_n == 0 || dx.is_empty() {
        return dx;
    }
    dx.par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w).zip(dy.par_chunks(oh_n * ow_n)))
        .for_each_init(
            || (Vec::new(), vec![0.0; ow_n]),
            |(rows, maxima), (dxp, (xp, gp))| {
                for oh in 0..oh_n {
                    g.row_max(xp, oh, rows, maxima);
                    for ow in 0..ow_n {
                        g.add_at_argmax(xp, maxima[ow], gp[oh * ow_n + ow], oh, ow, dxp);
                    }
                }
            },
        );
    dx
}
