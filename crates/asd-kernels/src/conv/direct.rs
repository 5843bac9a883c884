//! Direct convolution for the 2-D layers (the STFT branch: its 7 × 7 input layer and the 3 × 3
//! layers of the residual blocks): their forward passes, and the stride-1 input gradients, which
//! are forward convolutions with flipped weights (`conv::input_grad`). Lowered to im2col + GEMM, these layers spent more
//! time writing and packing the lowered matrix than multiplying it (the 1-channel input layer:
//! a 49-row matrix, a GEMM with k = 49 and 16 output channels). Here the accumulators of a block of
//! output channels × a run of output positions stay in registers while the input channels and
//! taps are summed into them, reading the input where it lies.
//!
//! To make every tap a contiguous read, the zero-padded input is first split into its stride
//! phases (for stride 2: even and odd rows × even and odd columns): in phase coordinates, output
//! position (oh, ow) reads tap (i, j) at row oh + i / sh, column ow + j / sw of phase
//! (i mod sh, j mod sw). Output positions are then numbered p = oh · len + ow over phase rows of
//! length len ≥ out_w + (kw − 1) / sw, so that tap (i, j) reads position p at p + a fixed offset,
//! across row ends; the columns past out_w are computed and dropped.
//!
//! The vector loops are written once, over a small trait of vector operations, and compiled for
//! AVX-512, for AVX2 + FMA and for the baseline; the CPU's features pick one at run time.

use super::{Epilogue, Geometry};
use crate::simd::Lanes;
#[cfg(target_arch = "x86_64")]
use crate::simd::x86;
use rayon::prelude::*;

pub(super) mod weight_grad;

/// Whether [`forward`] handles this geometry: 2-D kernels, strides 1 or 2.
pub fn applies(g: &Geometry) -> bool {
    g.kh > 1 && g.kw > 1 && g.stride.iter().all(|s| (1..=2).contains(s))
}

/// Output positions computed per register block, at most (the phase arrays are padded for it).
const MAX_WIDTH: usize = 32;

/// The shape of the work, shared by the kernels of every instruction set.
struct Plan<'a> {
    g: &'a Geometry,
    epilogue: Epilogue<'a>,
    /// Rows of a phase.
    rows: usize,
    /// Length of a phase row; also the row length of the output position grid.
    len: usize,
    /// Floats per phase: its rows and slack for the widest read past the last position.
    phase: usize,
    /// Output positions per register block (the instruction set's).
    width: usize,
    /// For each tap (i, j) of channel 0, where it reads output position 0.
    offsets: Vec<usize>,
    /// Where the values of each run of `width` positions go: (offset in the run, offset in the
    /// output plane, count) for each of its pieces of a row inside out_w; run r's pieces are
    /// `pieces[bounds[r]..bounds[r + 1]]`. (Worked out once per call: per run and channel, the
    /// divisions cost as much as the 1-channel layer's arithmetic.)
    pieces: Vec<(usize, usize, usize)>,
    bounds: Vec<usize>,
}

impl<'a> Plan<'a> {
    fn new(g: &'a Geometry, epilogue: Epilogue<'a>, width: usize) -> Self {
        debug_assert!(width <= MAX_WIDTH);
        let [sh, sw] = g.stride;
        let rows = g.out_h() + (g.kh - 1) / sh;
        let len = g.out_w() + (g.kw - 1) / sw;
        // Reads reach position (out_h · len rounded up to a run) + (kh − 1) / sh rows + (kw − 1) / sw.
        let phase = rows * len + len + MAX_WIDTH;
        let offsets = (0..g.kh)
            .flat_map(|i| {
                (0..g.kw).map(move |j| ((i % sh) * sw + j % sw) * phase + (i / sh) * len + j / sw)
            })
            .collect();
        let (ow_n, positions) = (g.out_w(), g.out_h() * len);
        let (mut pieces, mut bounds) = (Vec::new(), vec![0]);
        for p0 in (0..positions).step_by(width) {
            let end = (p0 + width).min(positions);
            let mut p = p0;
            while p < end {
                let (oh, ow) = (p / len, p % len);
                let stop = (p - ow + len).min(end);
                if ow < ow_n {
                    pieces.push((p - p0, oh * ow_n + ow, (stop - p).min(ow_n - ow)));
                }
                p = stop;
            }
            bounds.push(pieces.len());
        }
        Self {
            g,
            epilogue,
            rows,
            len,
            phase,
            width,
            offsets,
            pieces,
            bounds,
        }
    }

    fn phases(&self) -> usize {
        self.g.stride[0] * self.g.stride[1]
    }

    /// Floats of one input channel's phases.
    fn channel(&self) -> usize {
        self.phases() * self.phase
    }

    /// Output positions of the grid (out_h rows of `len`, the last `len − out_w` of each dropped).
    fn positions(&self) -> usize {
        self.g.out_h() * self.len
    }

    /// The zero-padded image split into phases: channel c, phase (a, b), row r, column q holds
    /// padded row r · sh + a, padded column q · sw + b.
    fn split(&self, x: &[f32], out: &mut Vec<f32>) {
        out.resize(self.g.c_in * self.channel(), 0.0);
        for (c, phases) in out.chunks_mut(self.channel()).enumerate() {
            self.split_channel(x, c, phases);
        }
    }

    /// [`Self::split`] with the channels shared out among the threads (one image at a time).
    fn split_par(&self, x: &[f32], out: &mut Vec<f32>) {
        out.resize(self.g.c_in * self.channel(), 0.0);
        out.par_chunks_mut(self.channel())
            .enumerate()
            .for_each(|(c, phases)| self.split_channel(x, c, phases));
    }

    /// Channel c of the image `x` into its phases.
    fn split_channel(&self, x: &[f32], c: usize, phases: &mut [f32]) {
        let g = self.g;
        let [sh, sw] = g.stride;
        let (pt, pl) = (g.pad[0], g.pad[2]);
        // Every value is written once (zero or copied): a whole-buffer fill first would double
        // the memory traffic, which matters beside the small stride-2 layers' arithmetic.
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (ab, phase) in phases.chunks_mut(self.phase).enumerate() {
            let (a, b) = (ab / sw, ab % sw);
            phase[self.rows * self.len..].fill(0.0);
            for r in 0..self.rows {
                let dst = &mut phase[r * self.len..(r + 1) * self.len];
                let Some(ih) = (r * sh + a).checked_sub(pt).filter(|&ih| ih < g.h) else {
                    dst.fill(0.0);
                    continue;
                };
                let src = &plane[ih * g.w..(ih + 1) * g.w];
                // Columns q with q · sw + b − pl inside the input row.
                let lo = pl.saturating_sub(b).div_ceil(sw);
                let hi = if g.w + pl > b {
                    ((g.w + pl - b - 1) / sw + 1).min(self.len)
                } else {
                    0
                };
                let lo = lo.min(hi);
                dst[..lo].fill(0.0);
                dst[hi..].fill(0.0);
                if lo == hi {
                    continue;
                }
                let start = lo * sw + b - pl;
                let dst = &mut dst[lo..hi];
                match (sw, self.epilogue.relu_input) {
                    (1, false) => dst.copy_from_slice(&src[start..start + dst.len()]),
                    (1, true) => dst
                        .iter_mut()
                        .zip(&src[start..])
                        .for_each(|(d, s)| *d = s.max(0.0)),
                    (_, relu) => dst
                        .iter_mut()
                        .zip(src[start..].chunks(2))
                        .for_each(|(d, s)| *d = if relu { s[0].max(0.0) } else { s[0] }),
                }
            }
        }
    }
}

/// Weights regrouped as [channel block][input channel][tap][channel in block], zero-filled past
/// c_out.
fn pack_weights(g: &Geometry, w: &[f32], block: usize) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let blocks = g.c_out.div_ceil(block);
    let mut packed = vec![0.0f32; blocks * g.c_in * taps * block];
    // Written in order (reads strided): no division per weight, which cost about as much as a
    // 128-channel layer's arithmetic for one clip.
    let per_out = g.c_in * taps;
    packed
        .par_chunks_exact_mut(per_out * block)
        .enumerate()
        .for_each(|(ob, dst)| {
            let outs = block.min(g.c_out - ob * block);
            for (ct, lanes) in dst.chunks_exact_mut(block).enumerate() {
                for (oi, v) in lanes[..outs].iter_mut().enumerate() {
                    *v = w[(ob * block + oi) * per_out + ct];
                }
            }
        });
    packed
}

/// One image's output channel blocks `cb0..` (their packed weights in `packed`, their planes in `y`):
/// output channels in blocks of `CO`, output positions in runs of `V` registers.
#[inline(always)]
fn image<L: Lanes, const CO: usize, const V: usize>(
    plan: &Plan,
    phases: &[f32],
    packed: &[f32],
    cb0: usize,
    y: &mut [f32],
) {
    let ep = plan.epilogue;
    let g = plan.g;
    let hw = g.out_h() * g.out_w();
    let taps = g.kh * g.kw;
    let width = V * L::N;
    debug_assert_eq!(
        width, plan.width,
        "the plan was made for another instruction set"
    );
    let channel = plan.channel();
    // ReLU in registers unless a residual or an affine map comes between (`Epilogue::apply_at`).
    let relu = ep.relu && !ep.after_bias();
    let mut spill = [0.0f32; MAX_WIDTH];
    for (i, wb) in packed.chunks(g.c_in * taps * CO).enumerate() {
        let cb = cb0 + i;
        for (run, p0) in (0..plan.positions()).step_by(width).enumerate() {
            // (Built whole: filling only the block's valid channels kept the block in memory.)
            let mut acc: [[L; V]; CO] =
                std::array::from_fn(|o| [L::splat(ep.bias(cb * CO + o)); V]);
            for (c, wc) in wb.chunks_exact(taps * CO).enumerate() {
                let base = c * channel + p0;
                for (&off, wt) in plan.offsets.iter().zip(wc.chunks_exact(CO)) {
                    let src = &phases[base + off..base + off + width];
                    let mut x = [L::zero(); V];
                    for (v, xv) in x.iter_mut().enumerate() {
                        *xv = L::load(&src[v * L::N..]);
                    }
                    for (a, &w) in acc.iter_mut().zip(wt) {
                        let wv = L::splat(w);
                        for (av, &xv) in a.iter_mut().zip(&x) {
                            *av = av.mul_add(wv, xv);
                        }
                    }
                }
            }
            let pieces = &plan.pieces[plan.bounds[run]..plan.bounds[run + 1]];
            // Most runs lie inside one row: stored straight from the registers.
            let whole = match pieces {
                [(0, to, n)] if *n == width => Some(*to),
                _ => None,
            };
            for (o, a) in acc.iter().enumerate().take(g.c_out - cb * CO) {
                let out = &mut y[(i * CO + o) * hw..(i * CO + o + 1) * hw];
                let dst: &mut [f32] = match whole {
                    Some(to) => &mut out[to..to + width],
                    None => &mut spill,
                };
                for (v, &av) in a.iter().enumerate() {
                    let av = if relu { av.relu() } else { av };
                    av.store(&mut dst[v * L::N..]);
                }
                if whole.is_none() {
                    for &(from, to, n) in pieces {
                        out[to..to + n].copy_from_slice(&spill[from..from + n]);
                    }
                }
            }
        }
    }
}

/// The kernels for one instruction set.
#[derive(Clone, Copy, Debug)]
enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// (output channels, output positions) per register block.
    fn block(self) -> (usize, usize) {
        match self {
            Isa::Baseline => (BASELINE.0, BASELINE.1 * <f32 as Lanes>::N),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => (AVX2.0, AVX2.1 * <x86::Avx2 as Lanes>::N),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => (AVX512.0, AVX512.1 * <x86::Avx512 as Lanes>::N),
        }
    }

    fn image(self, plan: &Plan, phases: &[f32], packed: &[f32], cb0: usize, y: &mut [f32]) {
        match self {
            Isa::Baseline => {
                image::<f32, { BASELINE.0 }, { BASELINE.1 }>(plan, phases, packed, cb0, y)
            }
            // SAFETY: `detect` chose these only where the CPU reports the features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { image_avx2(plan, phases, packed, cb0, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { image_avx512(plan, phases, packed, cb0, y) },
        }
    }
}

/// Register blocks: (output channels, registers of positions) per instruction set.
const BASELINE: (usize, usize) = (4, 8);
/// 4 channels × 2 registers of 8: 8 of the 16 registers accumulate.
#[cfg(target_arch = "x86_64")]
const AVX2: (usize, usize) = (4, 2);
/// 8 channels × 2 registers of 16: 16 of the 32 registers accumulate.
#[cfg(target_arch = "x86_64")]
const AVX512: (usize, usize) = (8, 2);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn image_avx2(plan: &Plan, phases: &[f32], packed: &[f32], cb0: usize, y: &mut [f32]) {
    image::<x86::Avx2, { AVX2.0 }, { AVX2.1 }>(plan, phases, packed, cb0, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn image_avx512(plan: &Plan, phases: &[f32], packed: &[f32], cb0: usize, y: &mut [f32]) {
    image::<x86::Avx512, { AVX512.0 }, { AVX512.1 }>(plan, phases, packed, cb0, y)
}

/// y = conv(x, w) for a geometry where [`applies`] holds.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], ep: Epilogue) -> Vec<f32> {
    forward_with(Isa::detect(), g, x, w, ep)
}

fn forward_with(isa: Isa, g: &Geometry, x: &[f32], w: &[f32], ep: Epilogue) -> Vec<f32> {
    debug_assert!(applies(g));
    let conv_len = g.c_out * g.out_h() * g.out_w();
    let window = ep.window(g);
    let out_len = window.map_or(conv_len, |p| g.c_out * p.out_h() * p.out_w());
    let mut y = vec![0.0f32; g.batch * out_len];
    if y.is_empty() {
        return y;
    }
    let (channels, width) = isa.block();
    let plan = Plan::new(g, ep, width);
    let packed = pack_weights(g, w, channels);
    let groups = channel_groups(
        g.batch,
        g.c_out.div_ceil(channels),
        rayon::current_num_threads(),
    );
    let hw = g.out_h() * g.out_w();
    // What follows the bias in the epilogue, on planes from plane0 on while they are in cache.
    let plane_out = out_len / g.c_out;
    // Output channel blocks from cb0 on (their weights `wg`) of an image's `phases` into `yg`,
    // the epilogue after the bias applied from batch plane `plane0` on and the pooling, if any,
    // while the convolution output is in this thread's cache-sized buffer `conv`.
    let blocks = |phases: &[f32],
                  wg: &[f32],
                  cb0: usize,
                  plane0: usize,
                  yg: &mut [f32],
                  (conv, rows): &mut (Vec<f32>, Vec<f32>)| {
        let finish = |y: &mut [f32]| {
            if ep.after_bias() {
                ep.apply_at(y, plane0, g.c_out, hw, false);
            }
        };
        match &window {
            Some(p) => {
                conv.resize(yg.len() / plane_out * hw, 0.0);
                isa.image(&plan, phases, wg, cb0, conv);
                finish(conv);
                crate::pool::forward_into(p, conv, rows, yg);
            }
            None => {
                isa.image(&plan, phases, wg, cb0, yg);
                finish(yg);
            }
        }
    };
    if groups == 1 {
        y.par_chunks_mut(out_len)
            .zip(x.par_chunks(g.c_in * g.h * g.w))
            .enumerate()
            .for_each_init(
                || (Vec::new(), (Vec::new(), Vec::new())),
                |(phases, buffers), (b, (yb, xb))| {
                    plan.split(xb, phases);
                    blocks(phases, &packed, 0, b * g.c_out, yb, buffers);
                },
            );
        return y;
    }
    // Fewer images than threads (the monitor embeds one clip at a time): each image's output
    // channel blocks are shared out instead, which leaves every output value's sums as they are.
    let blocks_per_group = g.c_out.div_ceil(channels).div_ceil(groups);
    let taps = g.kh * g.kw;
    let mut phases = Vec::new();
    for (b, (yb, xb)) in y
        .chunks_mut(out_len)
        .zip(x.chunks(g.c_in * g.h * g.w))
        .enumerate()
    {
        plan.split_par(xb, &mut phases);
        yb.par_chunks_mut(blocks_per_group * channels * plane_out)
            .zip(packed.par_chunks(blocks_per_group * g.c_in * taps * channels))
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |buffers, (i, (yg, wg))| {
                    let cb0 = i * blocks_per_group;
                    blocks(&phases, wg, cb0, b * g.c_out + cb0 * channels, yg, buffers);
                },
            );
    }
    y
}

/// Tasks per image among which its output channel blocks are shared: 1 (whole images to threads)
/// where there are at least as many images as threads, else enough to give each thread two tasks,
/// at most one per block.
fn channel_groups(images: usize, blocks: usize, threads: usize) -> usize {
    if images >= threads {
        1
    } else {
        (2 * threads).div_ceil(images.max(1)).min(blocks).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::values;

    fn geometry(c_in: usize, hw: [usize; 2], c_out: usize, k: usize, stride: usize) -> Geometry {
        Geometry {
            batch: 3,
            c_in,
            h: hw[0],
            w: hw[1],
            c_out,
            kh: k,
            kw: k,
            stride: [stride; 2],
            // Asymmetric, as TensorFlow's 'same' padding can be.
            pad: [k / 2, (k - 1) / 2, (k - 1) / 2, k / 2],
        }
    }

    /// y[o][oh][ow] = Σ w[o][c][i][j] · x[c][oh · sh + i − pt][ow · sw + j − pl], in f64.
    fn naive(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut y = Vec::new();
        for xb in x.chunks(g.c_in * g.h * g.w) {
            for o in 0..g.c_out {
                for oh in 0..g.out_h() {
                    for ow in 0..g.out_w() {
                        let mut acc = 0.0f64;
                        for c in 0..g.c_in {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let ih = (oh * g.stride[0] + i).checked_sub(g.pad[0]);
                                    let iw = (ow * g.stride[1] + j).checked_sub(g.pad[2]);
                                    if let (Some(ih), Some(iw)) = (ih, iw)
                                        && ih < g.h
                                        && iw < g.w
                                    {
                                        acc += f64::from(xb[(c * g.h + ih) * g.w + iw])
                                            * f64::from(
                                                w[((o * g.c_in + c) * g.kh + i) * g.kw + j],
                                            );
                                    }
                                }
                            }
                        }
                        y.push(acc as f32);
                    }
                }
            }
        }
        y
    }

    /// The baseline and every vector instruction set this CPU has.
    pub(super) fn isas() -> Vec<Isa> {
        let mut isas = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx2);
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }

    /// Every instruction set this CPU has (the baseline always), on channel counts that do and do
    /// not fill a register block, several input channels, both strides, and images whose position
    /// grid does and does not end on a whole run; without and with a bias, with and without ReLU.
    #[test]
    fn every_instruction_set_equals_direct_sum() {
        let isas = isas();
        for g in [
            geometry(1, [13, 17], 4, 7, 2),
            geometry(1, [20, 75], 9, 7, 2),
            geometry(3, [9, 70], 16, 3, 1),
            geometry(5, [11, 40], 3, 3, 2),
            geometry(2, [6, 9], 17, 2, 1),
            geometry(4, [1, 40], 2, 3, 1),
            geometry(7, [5, 5], 8, 3, 2),
        ] {
            let x = values(g.batch * g.c_in * g.h * g.w, 1);
            let w = values(g.c_out * g.c_in * g.kh * g.kw, 2);
            let bias = values(g.c_out, 3);
            let plain = naive(&g, &x, &w);
            let hw = g.out_h() * g.out_w();
            for relu in [false, true] {
                let ep = Epilogue {
                    bias: Some(&bias),
                    relu,
                    pool: None,
                    ..Default::default()
                };
                let eps = [(Epilogue::default(), None), (ep, Some(relu))];
                for (ep, with_bias) in eps {
                    let want: Vec<f32> = plain
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| match with_bias {
                            None => v,
                            Some(false) => v + bias[(i / hw) % g.c_out],
                            Some(true) => (v + bias[(i / hw) % g.c_out]).max(0.0),
                        })
                        .collect();
                    for &isa in &isas {
                        let got = forward_with(isa, &g, &x, &w, ep);
                        assert_eq!(got.len(), want.len());
                        for (a, b) in got.iter().zip(&want) {
                            assert!((a - b).abs() < 1e-5, "{g:?} ({isa:?}, {ep:?}): {a} vs {b}");
                        }
                    }
                }
            }
        }
    }

    /// Fewer images than threads share each image's channel blocks out among tasks: every output
    /// value, pooled or not, is the same bits as when whole images go to threads.
    #[test]
    fn sharing_channel_blocks_among_threads_changes_no_bit() {
        let (one, many) = crate::testing::one_and_many_threads();
        for g in [
            geometry(1, [20, 75], 9, 7, 2),
            geometry(3, [9, 70], 33, 3, 1),
            geometry(5, [11, 40], 40, 3, 2),
        ] {
            let x = values(g.batch * g.c_in * g.h * g.w, 1);
            let w = values(g.c_out * g.c_in * g.kh * g.kw, 2);
            let bias = values(g.c_out, 3);
            for pool in [None, Some((3, 2))] {
                let ep = Epilogue {
                    bias: Some(&bias),
                    relu: true,
                    pool,
                    ..Default::default()
                };
                for isa in isas() {
                    assert!(
                        channel_groups(
                            g.batch,
                            g.c_out.div_ceil(isa.block().0),
                            many.current_num_threads()
                        ) > 1
                    );
                    let whole = one.install(|| forward_with(isa, &g, &x, &w, ep));
                    let shared = many.install(|| forward_with(isa, &g, &x, &w, ep));
                    assert!(whole == shared, "{g:?} ({isa:?}, pool {pool:?})");
                }
            }
        }
        assert_eq!(channel_groups(4, 16, 2), 1);
        assert_eq!(channel_groups(1, 16, 2), 4);
        assert_eq!(channel_groups(1, 2, 2), 2);
    }

    #[test]
    fn split_places_padded_rows_and_columns_by_phase() {
        let g = Geometry {
            batch: 1,
            c_in: 1,
            h: 3,
            w: 5,
            c_out: 1,
            kh: 3,
            kw: 3,
            stride: [2, 2],
            pad: [1, 1, 1, 1],
        };
        // Input row r is 10r + 1 ..= 10r + 5; padded row 1 is input row 0: 0 1 2 3 4 5 0.
        let x: Vec<f32> = (0..3)
            .flat_map(|r| (1..=5).map(move |c| (10 * r + c) as f32))
            .collect();
        let plan = Plan::new(&g, Epilogue::default(), MAX_WIDTH);
        let mut phases = Vec::new();
        plan.split(&x, &mut phases);
        let at = |a: usize, b: usize, r: usize, q: usize| {
            phases[(a * 2 + b) * plan.phase + r * plan.len + q]
        };
        // Odd padded rows (phase a = 1) are input rows 0 and 2.
        assert_eq!(
            [at(1, 0, 0, 0), at(1, 0, 0, 1), at(1, 0, 0, 2)],
            [0.0, 2.0, 4.0]
        );
        assert_eq!(
            [at(1, 1, 0, 0), at(1, 1, 0, 1), at(1, 1, 0, 2)],
            [1.0, 3.0, 5.0]
        );
        assert_eq!([at(1, 1, 1, 0), at(1, 1, 1, 2)], [21.0, 25.0]);
        // Even padded rows: the top padding, then input row 1.
        assert!((0..plan.len).all(|q| at(0, 0, 0, q) == 0.0 && at(0, 1, 0, q) == 0.0));
        assert_eq!([at(0, 1, 1, 0), at(0, 0, 1, 1)], [11.0, 12.0]);
    }
}
