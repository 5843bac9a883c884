//! Max-pooling without padding (the STFT branch's 3 × 3, stride 2 pool). The backward pass finds
//! each window's maximum again in the input instead of keeping 64-bit indices: the input is kept
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
        if self.h < self.k {
            0
        } else {
            (self.h - self.k) / self.stride + 1
        }
    }

    pub fn out_w(&self) -> usize {
        if self.w < self.k {
            0
        } else {
            (self.w - self.k) / self.stride + 1
        }
    }

    /// Offset (within the plane) of the window's first maximum, and the maximum.
    fn argmax(&self, plane: &[f32], oh: usize, ow: usize) -> (usize, f32) {
        let (r0, c0) = (oh * self.stride, ow * self.stride);
        let mut best = (r0 * self.w + c0, f32::NEG_INFINITY);
        for r in r0..r0 + self.k {
            for c in c0..c0 + self.k {
                let v = plane[r * self.w + c];
                if v > best.1 || v.is_nan() {
                    best = (r * self.w + c, v);
                    if v.is_nan() {
                        return best;
                    }
                }
            }
        }
        best
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
        .for_each(|(yp, xp)| {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    yp[oh * ow_n + ow] = g.argmax(xp, oh, ow).1;
                }
            }
        });
    y
}

/// ∂L/∂x: each output's gradient goes to its window's first maximum.
pub fn backward(g: &Window, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    let mut dx = vec![0.0f32; x.len()];
    if oh_n * ow_n == 0 || dx.is_empty() {
        return dx;
    }
    dx.par_chunks_mut(g.h * g.w)
        .zip(x.par_chunks(g.h * g.w).zip(dy.par_chunks(oh_n * ow_n)))
        .for_each(|(dxp, (xp, gp))| {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    dxp[g.argmax(xp, oh, ow).0] += gp[oh * ow_n + ow];
                }
            }
        });
    dx
}
