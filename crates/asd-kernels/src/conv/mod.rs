//! 2-D convolution (NCHW, f32, groups 1, no dilation) and its two gradients as im2col + GEMM on
//! host memory. burn's CPU backend computes these gradients through generic transposed and
//! swapped-axis convolutions that run at a few GFLOP/s on this network's shapes (the 1-channel
//! 7 × 7 input convolution above all); lowering to one GEMM per image and block of output rows
//! keeps them at the GEMM rate.
//!
//! Work is split over images (rayon). Weight gradients are summed in fixed groups of images and
//! then in order, so the result does not depend on the number of threads.

mod direct;
mod im2col;

/// Shape of one convolution: input (batch, c_in, h, w), kernel (c_out, c_in, kh, kw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    /// Zero padding: top, bottom, left, right.
    pub pad: [usize; 4],
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + self.pad[0] + self.pad[1] - self.kh) / self.stride[0] + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + self.pad[2] + self.pad[3] - self.kw) / self.stride[1] + 1
    }

    /// Rows of the lowered matrix: c_in · kh · kw.
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn out_len(&self) -> usize {
        self.c_out * self.out_h() * self.out_w()
    }

    /// Output rows per lowered block: the block (k × rows·out_w floats) fills about one core's L2
    /// cache, read from the CPU (1 MiB where it cannot be read; that constant measured best on the
    /// first machines, whose L2 held 1 MiB per core).
    fn rows_per_block(&self) -> usize {
        self.rows_for_cache(crate::cache::l2_bytes())
    }

    fn rows_for_cache(&self, bytes: usize) -> usize {
        let per_row = self.k() * self.out_w();
        (bytes / std::mem::size_of::<f32>() / per_row.max(1)).clamp(1, self.out_h().max(1))
    }

    /// Images lowered into one GEMM. Layers with few output positions per image (the FFT branch's
    /// second and third convolutions: 37 and 6) would otherwise run GEMMs too narrow to amortise
    /// packing their weights (4 MiB for the second), once per image. Depends on the geometry only,
    /// so that the order of the weight-gradient sums does not depend on the thread count.
    /// (1 where the input is multiplied in place, see `lowered_view`.)
    fn images_per_gemm(&self) -> usize {
        let hw = self.out_h() * self.out_w();
        if hw >= 512 || self.lowered_view().is_some() {
            1
        } else {
            512usize.div_ceil(hw.max(1)).min(8)
        }
    }

    /// Whether the lowered matrix is the input itself (1 × 1 kernel, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0; 4]
    }

    /// Where the lowered matrix of a block of output rows can be read from the image as it is:
    /// its (row, column) strides from the block's first position. Besides pointwise layers, a
    /// one-channel, one-row input without padding (the FFT branch's first layer): row j, column p
    /// is x[p · stride + j], so im2col would only copy overlapping windows.
    fn lowered_view(&self) -> Option<(isize, isize)> {
        if self.is_pointwise() {
            Some(((self.out_h() * self.out_w()) as isize, 1))
        } else if self.c_in == 1 && self.h == 1 && self.kh == 1 && self.pad == [0; 4] {
            Some((1, self.stride[1] as isize))
        } else {
            None
        }
    }
}

/// What happens around the convolution: ReLU on its input if asked (applied as the input is read),
/// then on each output value, in order, a per-channel bias, a residual added (a tensor shaped as
/// the convolution's output), a per-channel affine map (x · scale + shift: an inference
/// BatchNorm that follows the addition), ReLU, and max-pooling (window, stride). Inference with
/// BatchNorm folded into the convolutions ends most of them this way; applying it while the output
/// is in registers or cache saves passes over it (the STFT branch's first layer would otherwise
/// write and read back 82 MB per batch of 32 only to pool it; each residual block would make five
/// passes over its tensor for its ReLUs, additions and BatchNorm).
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    pub relu_input: bool,
    pub bias: Option<&'a [f32]>,
    pub residual: Option<&'a [f32]>,
    pub affine: Option<(&'a [f32], &'a [f32])>,
    pub relu: bool,
    pub pool: Option<(usize, usize)>,
}

impl Epilogue<'_> {
    fn is_identity(&self) -> bool {
        self.bias.is_none() && self.residual.is_none() && self.affine.is_none() && !self.relu
    }

    /// Whether something after the bias needs the whole stored value (residual or affine): the
    /// direct kernel then stores conv + bias and finishes each image in a pass while it is cached.
    pub(crate) fn after_bias(&self) -> bool {
        self.residual.is_some() || self.affine.is_some()
    }

    /// The pooling window over one image's convolution output (c_out planes).
    pub fn window(&self, g: &Geometry) -> Option<crate::pool::Window> {
        self.pool.map(|(k, stride)| crate::pool::Window {
            planes: g.c_out,
            h: g.out_h(),
            w: g.out_w(),
            k,
            stride,
        })
    }

    /// The bias of output channel o (0 past the last channel, for padded register blocks).
    pub(crate) fn bias(&self, o: usize) -> f32 {
        self.bias.and_then(|b| b.get(o)).copied().unwrap_or(0.0)
    }

    /// Applies everything but the pooling to convolution outputs `y`: whole planes of `hw`
    /// values, the first at plane `plane0` of the batch's output (c_out planes per image), which
    /// is also where the residual is read. Without `with_bias` the bias is taken as added.
    pub(crate) fn apply_at(
        &self,
        y: &mut [f32],
        plane0: usize,
        c_out: usize,
        hw: usize,
        with_bias: bool,
    ) {
        if hw == 0 || (self.is_identity() || (!with_bias && !self.after_bias() && !self.relu)) {
            return;
        }
        let residual = self
            .residual
            .map(|r| &r[plane0 * hw..plane0 * hw + y.len()]);
        for (i, plane) in y.chunks_mut(hw).enumerate() {
            let o = (plane0 + i) % c_out;
            let b = if with_bias { self.bias(o) } else { 0.0 };
            let (a, s) = self.affine.map_or((1.0, 0.0), |(a, s)| (a[o], s[o]));
            let r = residual.map(|r| &r[i * hw..(i + 1) * hw]);
            let relu = self.relu;
            let finish = move |v: f32| {
                let v = v * a + s;
                if relu { v.max(0.0) } else { v }
            };
            match r {
                Some(r) => plane
                    .iter_mut()
                    .zip(r)
                    .for_each(|(v, &r)| *v = finish(*v + b + r)),
                None => plane.iter_mut().for_each(|v| *v = finish(*v + b)),
            }
        }
    }
}

/// ReLU applied to a copy of the input where the epilogue asks for it (the lowered path; the
/// direct kernel applies it as it splits the input into phases).
fn relu_input<'x>(x: &'x [f32], ep: &Epilogue) -> std::borrow::Cow<'x, [f32]> {
    if ep.relu_input {
        std::borrow::Cow::Owned(x.iter().map(|v| v.max(0.0)).collect())
    } else {
        std::borrow::Cow::Borrowed(x)
    }
}

/// y = ep(conv(x, w)): x (batch, c_in, h, w), w (c_out, c_in, kh, kw) → y (batch, c_out, out_h,
/// out_w). The direct kernel where it applies (2-D kernels, strides 1 and 2), else im2col + GEMM.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], ep: Epilogue) -> Vec<f32> {
    if direct::applies(g) {
        direct::forward(g, x, w, ep)
    } else {
        im2col::forward(g, x, w, ep)
    }
}

/// ∂L/∂x from ∂L/∂y (batch, c_out, out_h, out_w) and w: a forward convolution of the direct kernel
/// for stride 1 (see `transposed`), else col2im of a GEMM.
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    match transposed(g, w) {
        Some((gt, wt)) => direct::forward(&gt, dy, &wt, Epilogue::default()),
        None => im2col::input_grad(g, dy, w),
    }
}

/// ∂L/∂w (c_out, c_in, kh, kw) from x and ∂L/∂y: for one-channel 2-D layers (the STFT branch's
/// input layer) from the direct kernel's phases, else lowered (one GEMM per group of images).
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    if direct::weight_grad::applies(g) {
        direct::weight_grad::weight_grad(g, x, dy)
    } else {
        im2col::weight_grad(g, x, dy)
    }
}

/// For a stride-1 convolution, its input gradient as a forward convolution the direct kernel runs:
/// ∂x = conv(∂y, w') with w'[c][o][i][j] = w[o][c][kh − 1 − i][kw − 1 − j] and the padding
/// mirrored (k − 1 − p on each side), which restores the input's size.
fn transposed(g: &Geometry, w: &[f32]) -> Option<(Geometry, Vec<f32>)> {
    let mirrored = |k: usize, p: usize| (k - 1).checked_sub(p);
    let pad = [
        mirrored(g.kh, g.pad[0])?,
        mirrored(g.kh, g.pad[1])?,
        mirrored(g.kw, g.pad[2])?,
        mirrored(g.kw, g.pad[3])?,
    ];
    let gt = Geometry {
        batch: g.batch,
        c_in: g.c_out,
        h: g.out_h(),
        w: g.out_w(),
        c_out: g.c_in,
        kh: g.kh,
        kw: g.kw,
        stride: [1, 1],
        pad,
    };
    if g.stride != [1, 1] || !direct::applies(&gt) {
        return None;
    }
    let (taps, k) = (g.kh * g.kw, g.k());
    let mut wt = vec![0.0f32; w.len()];
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for t in 0..taps {
                wt[(c * g.c_out + o) * taps + taps - 1 - t] = w[o * k + c * taps + t];
            }
        }
    }
    Some((gt, wt))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct (seven nested loops) convolution for comparison.
    fn naive(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (oh_n, ow_n) = (g.out_h(), g.out_w());
        let mut y = vec![0.0f32; g.batch * g.out_len()];
        for b in 0..g.batch {
            for o in 0..g.c_out {
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let mut acc = 0.0f64;
                        for c in 0..g.c_in {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let ih = (oh * g.stride[0] + i) as isize - g.pad[0] as isize;
                                    let iw = (ow * g.stride[1] + j) as isize - g.pad[2] as isize;
                                    if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((b * g.c_in + c) * g.h + ih as usize) * g.w
                                        + iw as usize];
                                    let wv = w[((o * g.c_in + c) * g.kh + i) * g.kw + j];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        y[((b * g.c_out + o) * oh_n + oh) * ow_n + ow] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::testing::values(n, seed)
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn geometries() -> Vec<Geometry> {
        let g = |batch, c_in, h, w, c_out, kh, kw, stride, pad| Geometry {
            batch,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad,
        };
        vec![
            g(3, 1, 13, 17, 4, 7, 7, [2, 2], [2, 3, 3, 3]),
            g(5, 3, 9, 11, 5, 3, 3, [1, 1], [1, 1, 1, 1]),
            g(2, 4, 9, 10, 6, 3, 3, [2, 2], [0, 1, 0, 1]),
            g(6, 4, 5, 7, 3, 1, 1, [1, 1], [0; 4]),
            g(2, 2, 1, 300, 3, 1, 16, [1, 4], [0; 4]),
            // One channel, one row, no padding: the lowered matrix is a strided view of the input.
            g(2, 1, 1, 300, 3, 1, 16, [1, 4], [0; 4]),
            // One channel: the direct kernel (forward).
            g(2, 1, 20, 45, 5, 7, 7, [2, 2], [3, 3, 3, 3]),
            // Few positions per image: images lowered together, in a full and a partial group.
            g(11, 3, 4, 5, 2, 3, 3, [1, 1], [1, 1, 1, 1]),
            // Many positions per image: weight gradients summed over groups of four images.
            g(6, 2, 30, 40, 3, 3, 3, [1, 1], [1, 1, 1, 1]),
            // Wide rows: several blocks of output rows per image.
            g(2, 16, 40, 700, 2, 3, 3, [1, 1], [1, 1, 1, 1]),
        ]
    }

    /// The lowered paths cut each image into blocks of output rows sized by the CPU's L2 cache:
    /// every block size gives the f64 reference's values (forward, and both gradients through
    /// their adjointness with the forward pass).
    #[test]
    fn every_block_size_gives_the_same_convolution() {
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 1);
            let w = values(g.c_out * g.k(), 2);
            let dy = values(g.batch * g.out_len(), 3);
            let want = naive(&g, &x, &w);
            let (dx0, dw0) = (
                im2col::input_grad(&g, &dy, &w),
                im2col::weight_grad(&g, &x, &dy),
            );
            for rows in [1, 2, 3, g.out_h(), g.out_h() + 5] {
                let y = im2col::forward_in_blocks(&g, &x, &w, Epilogue::default(), rows);
                let err = y
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1e-3, "{g:?} rows {rows}: {err}");
                let dx = im2col::input_grad_in_blocks(&g, &dy, &w, rows);
                let dw = im2col::weight_grad_in_blocks(&g, &x, &dy, rows);
                // ⟨dy, conv(x, w)⟩ = ⟨dx, x⟩ = ⟨dw, w⟩ for every block size.
                let (lhs, gx, gw) = (dot(&dy, &want), dot(&dx, &x), dot(&dw, &w));
                assert!(
                    (lhs - gx).abs() < 1e-3 * lhs.abs().max(1.0),
                    "{g:?} rows {rows}"
                );
                assert!(
                    (lhs - gw).abs() < 1e-3 * lhs.abs().max(1.0),
                    "{g:?} rows {rows}"
                );
                let close = |a: &[f32], b: &[f32]| {
                    a.iter()
                        .zip(b)
                        .all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs()))
                };
                assert!(close(&dx, &dx0) && close(&dw, &dw0), "{g:?} rows {rows}");
            }
        }
    }

    /// With fewer images than threads, each GEMM's output channels are shared out among the
    /// threads: the values are the f64 reference's, and those of whole images per thread.
    #[test]
    fn sharing_gemm_rows_among_threads_keeps_the_convolution() {
        let (one, many) = crate::testing::one_and_many_threads();
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 1);
            let w = values(g.c_out * g.k(), 2);
            let bias = values(g.c_out, 3);
            let ep = Epilogue {
                bias: Some(&bias),
                relu: true,
                pool: None,
                ..Default::default()
            };
            let hw = g.out_h() * g.out_w();
            let want: Vec<f32> = naive(&g, &x, &w)
                .iter()
                .enumerate()
                .map(|(i, v)| (v + bias[(i / hw) % g.c_out]).max(0.0))
                .collect();
            for rows in [1, g.out_h()] {
                let whole = one.install(|| im2col::forward_in_blocks(&g, &x, &w, ep, rows));
                let shared = many.install(|| im2col::forward_in_blocks(&g, &x, &w, ep, rows));
                assert_eq!(shared.len(), want.len());
                for ((a, b), c) in shared.iter().zip(&whole).zip(&want) {
                    assert!((a - c).abs() < 1e-3, "{g:?} rows {rows}: {a} vs {c}");
                    assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{g:?}: {a} vs {b}");
                }
            }
        }
    }

    /// The whole epilogue, on both paths and with whole images or shared channels per thread:
    /// conv(relu(x)) + bias + residual, then · scale + shift, then ReLU, then (or not) pooled.
    #[test]
    fn epilogue_reads_relu_input_adds_residual_then_affine_then_relu() {
        let (one, many) = crate::testing::one_and_many_threads();
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 11);
            let w = values(g.c_out * g.k(), 12);
            let bias = values(g.c_out, 13);
            let residual = values(g.batch * g.out_len(), 14);
            let (scale, shift) = (values(g.c_out, 15), values(g.c_out, 16));
            let hw = g.out_h() * g.out_w();
            let x_relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            let want: Vec<f32> = naive(&g, &x_relu, &w)
                .iter()
                .zip(&residual)
                .enumerate()
                .map(|(i, (v, r))| {
                    let o = (i / hw) % g.c_out;
                    ((v + bias[o] + r) * scale[o] + shift[o]).max(0.0)
                })
                .collect();
            let window = crate::pool::Window {
                planes: g.batch * g.c_out,
                h: g.out_h(),
                w: g.out_w(),
                k: 2,
                stride: 1,
            };
            for pooled in [None, Some((2, 1))] {
                let ep = Epilogue {
                    relu_input: true,
                    bias: Some(&bias),
                    residual: Some(&residual),
                    affine: Some((&scale, &shift)),
                    relu: true,
                    pool: pooled,
                };
                let want = match pooled {
                    Some(_) => crate::pool::forward(&window, &want),
                    None => want.clone(),
                };
                for threads in [&one, &many] {
                    let got = threads.install(|| forward(&g, &x, &w, ep));
                    assert_eq!(got.len(), want.len(), "{g:?}");
                    for (a, b) in got.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-4, "{g:?} pool {pooled:?}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn blocks_follow_the_cache_size() {
        let g = geometries()[9];
        let (small, large) = (g.rows_for_cache(256 << 10), g.rows_for_cache(4 << 20));
        assert!(
            small >= 1 && small < large && large <= g.out_h(),
            "{small} {large}"
        );
        assert_eq!(g.rows_for_cache(0), 1);
    }

    #[test]
    fn forward_equals_direct_convolution() {
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 1);
            let w = values(g.c_out * g.k(), 2);
            let (fast, slow) = (forward(&g, &x, &w, Epilogue::default()), naive(&g, &x, &w));
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn epilogue_adds_bias_then_relu_then_pools() {
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 8);
            let w = values(g.c_out * g.k(), 9);
            let bias = values(g.c_out, 10);
            let hw = g.out_h() * g.out_w();
            let ep = Epilogue {
                bias: Some(&bias),
                relu: true,
                pool: None,
                ..Default::default()
            };
            let want: Vec<f32> = naive(&g, &x, &w)
                .iter()
                .enumerate()
                .map(|(i, b)| (b + bias[(i / hw) % g.c_out]).max(0.0))
                .collect();
            let got = forward(&g, &x, &w, ep);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
            let window = crate::pool::Window {
                planes: g.batch * g.c_out,
                h: g.out_h(),
                w: g.out_w(),
                k: 2,
                stride: 2,
            };
            let pooled = forward(
                &g,
                &x,
                &w,
                Epilogue {
                    pool: Some((2, 2)),
                    ..ep
                },
            );
            let want = crate::pool::forward(&window, &want);
            assert_eq!(pooled.len(), want.len(), "{g:?}");
            for (a, b) in pooled.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "{g:?} pooled: {a} vs {b}");
            }
        }
    }

    /// The gradients are the adjoints of the forward map: ⟨conv(x, w), dy⟩ = ⟨x, ∂x⟩ = ⟨w, ∂w⟩.
    #[test]
    fn gradients_are_adjoint_to_forward() {
        for g in geometries() {
            let x = values(g.batch * g.in_len(), 3);
            let w = values(g.c_out * g.k(), 4);
            let dy = values(g.batch * g.out_len(), 5);
            let y = forward(&g, &x, &w, Epilogue::default());
            let lhs = dot(&y, &dy);
            let dx = input_grad(&g, &dy, &w);
            let dw = weight_grad(&g, &x, &dy);
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((dot(&x, &dx) - lhs).abs() < tol, "{g:?}: input gradient");
            assert!((dot(&w, &dw) - lhs).abs() < tol, "{g:?}: weight gradient");
            // Element-wise: ∂w is linear in x, so each entry equals the direct sum.
            let mut e = vec![0.0f32; w.len()];
            e[w.len() / 2] = 1.0;
            let probe = dot(&naive(&g, &x, &e), &dy);
            assert!(
                (f64::from(dw[w.len() / 2]) - probe).abs() < tol,
                "{g:?}: ∂w entry"
            );
        }
    }

    #[test]
    fn weight_grad_is_independent_of_threads() {
        let g = geometries()[6];
        let x = values(g.batch * g.in_len(), 6);
        let dy = values(g.batch * g.out_len(), 7);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map(|p| p.install(|| weight_grad(&g, &x, &dy)));
        let many = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .map(|p| p.install(|| weight_grad(&g, &x, &dy)));
        assert_eq!(one.ok(), many.ok());
    }
}
