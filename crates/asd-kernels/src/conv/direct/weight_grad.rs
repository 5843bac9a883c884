//! ∂L/∂w of a one-channel layer (the STFT branch's 7 × 7 stride-2 input layer) from the phases of
//! the direct kernel. Lowered, this gradient is a GEMM of 16 rows and 49 columns over a copy of
//! the whole input 49 times over (one row per tap), whose packing costs as much as its
//! arithmetic. Here each (output channel, kernel row) keeps one vector accumulator per tap of the
//! row in registers while it runs over the image: tap (i, j) reads output position (oh, ow) of ∂y
//! against phase position oh · len + ow + offset(i, j), so both reads are contiguous.

use super::{Isa, Plan};
use crate::conv::{Epilogue, Geometry};
use crate::simd::Lanes;
#[cfg(target_arch = "x86_64")]
use crate::simd::x86;
use rayon::prelude::*;

/// Widest kernel row the register blocks hold.
const MAX_KW: usize = 8;

/// Images summed into one partial gradient, as the lowered path groups them: a fixed number, so
/// that the order of the sums does not depend on the thread count.
const GROUP: usize = 4;

/// Whether [`weight_grad`] handles this geometry: one input channel, a 2-D kernel the direct
/// kernel's phases serve, rows of at most 8 taps.
pub fn applies(g: &Geometry) -> bool {
    g.c_in == 1 && super::applies(g) && g.kw <= MAX_KW
}

/// ∂L/∂w (c_out, 1, kh, kw) from x (batch, 1, h, w) and ∂L/∂y (batch, c_out, out_h, out_w).
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    weight_grad_with(Isa::detect(), g, x, dy)
}

pub(super) fn weight_grad_with(isa: Isa, g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let wlen = g.c_out * g.kh * g.kw;
    let (in_len, out_len) = (g.h * g.w, g.c_out * g.out_h() * g.out_w());
    if g.batch == 0 || in_len == 0 || out_len == 0 {
        return vec![0.0; wlen];
    }
    // The plan's run width does not matter here: only its phases and tap offsets are used.
    let plan = Plan::new(g, Epilogue::default(), 1);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(in_len * GROUP)
        .zip(dy.par_chunks(out_len * GROUP))
        .map(|(xg, dyg)| {
            let mut dw = vec![0.0f32; wlen];
            let mut phases = Vec::new();
            for (xb, dyb) in xg.chunks(in_len).zip(dyg.chunks(out_len)) {
                plan.split(xb, &mut phases);
                isa.weight_grad_image(&plan, &phases, dyb, &mut dw);
            }
            dw
        })
        .collect();
    let mut dw = vec![0.0f32; wlen];
    for p in &partial {
        dw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    dw
}

impl Isa {
    fn weight_grad_image(self, plan: &Plan, phases: &[f32], dy: &[f32], dw: &mut [f32]) {
        match self {
            Isa::Baseline => image::<f32>(plan, phases, dy, dw),
            // SAFETY: `detect` chose these only where the CPU reports the features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { image_avx2(plan, phases, dy, dw) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { image_avx512(plan, phases, dy, dw) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn image_avx2(plan: &Plan, phases: &[f32], dy: &[f32], dw: &mut [f32]) {
    image::<x86::Avx2>(plan, phases, dy, dw)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn image_avx512(plan: &Plan, phases: &[f32], dy: &[f32], dw: &mut [f32]) {
    image::<x86::Avx512>(plan, phases, dy, dw)
}

/// Adds one image's gradient to `dw`: per output channel and kernel row, the row's taps
/// accumulated over every output position.
#[inline(always)]
fn image<L: Lanes>(plan: &Plan, phases: &[f32], dy: &[f32], dw: &mut [f32]) {
    match plan.g.kw {
        2 => rows::<L, 2>(plan, phases, dy, dw),
        3 => rows::<L, 3>(plan, phases, dy, dw),
        4 => rows::<L, 4>(plan, phases, dy, dw),
        5 => rows::<L, 5>(plan, phases, dy, dw),
        6 => rows::<L, 6>(plan, phases, dy, dw),
        7 => rows::<L, 7>(plan, phases, dy, dw),
        _ => rows::<L, MAX_KW>(plan, phases, dy, dw),
    }
}

#[inline(always)]
fn rows<L: Lanes, const KW: usize>(plan: &Plan, phases: &[f32], dy: &[f32], dw: &mut [f32]) {
    let g = plan.g;
    let (oh_n, ow_n, len) = (g.out_h(), g.out_w(), plan.len);
    let hw = oh_n * ow_n;
    let whole = ow_n / L::N * L::N;
    for (o, dyo) in dy.chunks_exact(hw).enumerate() {
        for i in 0..g.kh {
            let offsets: [usize; KW] = std::array::from_fn(|j| plan.offsets[i * g.kw + j]);
            // Two levels of partial sums: each output row's products in `row`, the rows' sums in
            // `acc`. One running sum over every position of an image (tens of thousands of terms per
            // lane for the STFT stem) loses digits the float64 replay keeps; in blocks the error grows
            // with the rows and the row length, not with their product.
            let mut acc = [L::zero(); KW];
            let mut tail = [0.0f32; KW];
            for (oh, d) in dyo.chunks_exact(ow_n).enumerate() {
                let at = oh * len;
                let reads: [&[f32]; KW] =
                    std::array::from_fn(|j| &phases[offsets[j] + at..offsets[j] + at + ow_n]);
                let mut row = [L::zero(); KW];
                for q in (0..whole).step_by(L::N) {
                    let dv = L::load(&d[q..]);
                    for (a, r) in row.iter_mut().zip(&reads) {
                        *a = a.mul_add(dv, L::load(&r[q..]));
                    }
                }
                for (a, r) in acc.iter_mut().zip(row) {
                    *a = a.add(r);
                }
                let mut row_tail = [0.0f32; KW];
                for q in whole..ow_n {
                    for (t, r) in row_tail.iter_mut().zip(&reads) {
                        *t += d[q] * r[q];
                    }
                }
                for (t, r) in tail.iter_mut().zip(row_tail) {
                    *t += r;
                }
            }
            let row = &mut dw[(o * g.kh + i) * g.kw..(o * g.kh + i + 1) * g.kw];
            for ((w, a), t) in row.iter_mut().zip(acc).zip(tail) {
                *w += a.sum() + t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::isas;
    use super::*;
    use crate::testing::values;

    /// dw[o][i][j] = Σ dy[b][o][oh][ow] · x[b][oh · sh + i − pt][ow · sw + j − pl], in f64.
    fn naive(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f64> {
        let (oh_n, ow_n) = (g.out_h(), g.out_w());
        let mut dw = vec![0.0f64; g.c_out * g.kh * g.kw];
        for b in 0..g.batch {
            for o in 0..g.c_out {
                for i in 0..g.kh {
                    for j in 0..g.kw {
                        for oh in 0..oh_n {
                            for ow in 0..ow_n {
                                let ih = (oh * g.stride[0] + i).checked_sub(g.pad[0]);
                                let iw = (ow * g.stride[1] + j).checked_sub(g.pad[2]);
                                if let (Some(ih), Some(iw)) = (ih, iw)
                                    && ih < g.h
                                    && iw < g.w
                                {
                                    dw[(o * g.kh + i) * g.kw + j] +=
                                        f64::from(dy[((b * g.c_out + o) * oh_n + oh) * ow_n + ow])
                                            * f64::from(x[(b * g.h + ih) * g.w + iw]);
                                }
                            }
                        }
                    }
                }
            }
        }
        dw
    }

    /// Every instruction set this CPU has, both strides, kernels of 2 to 8 columns, asymmetric
    /// padding, rows that do and do not end on a whole register, and batches of one, a whole and a
    /// partial group of images: the f64 sum's values.
    #[test]
    fn every_instruction_set_equals_the_f64_sum() {
        let isas = isas();
        let g = |batch, h, w, c_out, kh, kw, stride, pad| Geometry {
            batch,
            c_in: 1,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad,
        };
        for g in [
            g(1, 13, 17, 4, 7, 7, [2, 2], [2, 3, 3, 3]),
            g(6, 20, 75, 16, 7, 7, [2, 2], [3, 3, 3, 3]),
            g(4, 9, 40, 3, 3, 3, [1, 1], [1, 1, 1, 1]),
            g(5, 11, 33, 2, 5, 8, [2, 1], [0, 4, 3, 4]),
            g(3, 6, 9, 5, 2, 2, [1, 2], [0; 4]),
        ] {
            assert!(applies(&g), "{g:?}");
            let x = values(g.batch * g.h * g.w, 1);
            let dy = values(g.batch * g.c_out * g.out_h() * g.out_w(), 2);
            let want = naive(&g, &x, &dy);
            let scale = want.iter().map(|v| v.abs()).fold(1.0, f64::max);
            for &isa in &isas {
                let got = weight_grad_with(isa, &g, &x, &dy);
                assert_eq!(got.len(), want.len());
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (f64::from(*a) - b).abs() < 1e-5 * scale,
                        "{g:?} ({isa:?}): {a} vs {b}"
                    );
                }
            }
        }
    }
}
