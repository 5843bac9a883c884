//! The lowered strategy: im2col + one GEMM per image (or group of small images) and block of output
//! rows, col2im for the input gradient, and weight gradients summed in fixed groups of images.

use super::{Epilogue, Geometry};
use rayon::prelude::*;

/// Where one image's columns sit in the lowered matrix: row r starts at r · ld + off.
#[derive(Clone, Copy)]
struct Panel {
    ld: usize,
    off: usize,
}

/// Columns of output positions [oh0, oh1) of one image: cols[(c·kh + i)·kw + j][p].
fn im2col(g: &Geometry, x: &[f32], oh0: usize, oh1: usize, cols: &mut [f32], at: Panel) {
    let (ow_n, n) = (g.out_w(), (oh1 - oh0) * g.out_w());
    let [sh, sw] = g.stride;
    let (pt, pl) = (g.pad[0], g.pad[2]);
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let r = (c * g.kh + i) * g.kw + j;
                let row = &mut cols[r * at.ld + at.off..r * at.ld + at.off + n];
                let (lo, hi) = valid_range(ow_n, sw, j, pl, g.w);
                for oh in oh0..oh1 {
                    let dst = &mut row[(oh - oh0) * ow_n..(oh - oh0 + 1) * ow_n];
                    let ih = (oh * sh + i).wrapping_sub(pt);
                    if ih >= g.h || lo >= hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih * g.w..(ih + 1) * g.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let start = lo * sw + j - pl;
                    let dst = &mut dst[lo..hi];
                    match sw {
                        1 => dst.copy_from_slice(&src[start..start + dst.len()]),
                        // Pairs rather than `step_by`, which the compiler does not vectorise.
                        2 => dst
                            .iter_mut()
                            .zip(src[start..].chunks(2))
                            .for_each(|(d, s)| *d = s[0]),
                        _ => dst
                            .iter_mut()
                            .zip(src[start..].iter().step_by(sw))
                            .for_each(|(d, s)| *d = *s),
                    }
                }
            }
        }
    }
}

/// Adds columns back onto the image they came from (the adjoint of `im2col`).
fn col2im(g: &Geometry, cols: &[f32], oh0: usize, oh1: usize, dx: &mut [f32], at: Panel) {
    let (ow_n, n) = (g.out_w(), (oh1 - oh0) * g.out_w());
    let [sh, sw] = g.stride;
    let (pt, pl) = (g.pad[0], g.pad[2]);
    for c in 0..g.c_in {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let r = (c * g.kh + i) * g.kw + j;
                let row = &cols[r * at.ld + at.off..r * at.ld + at.off + n];
                let (lo, hi) = valid_range(ow_n, sw, j, pl, g.w);
                if lo >= hi {
                    continue;
                }
                for oh in oh0..oh1 {
                    let ih = (oh * sh + i).wrapping_sub(pt);
                    if ih >= g.h {
                        continue;
                    }
                    let src = &row[(oh - oh0) * ow_n + lo..(oh - oh0) * ow_n + hi];
                    let dst = &mut plane[ih * g.w..(ih + 1) * g.w];
                    let start = lo * sw + j - pl;
                    match sw {
                        1 => src
                            .iter()
                            .zip(&mut dst[start..])
                            .for_each(|(s, d)| *d += *s),
                        2 => src
                            .iter()
                            .zip(dst[start..].chunks_mut(2))
                            .for_each(|(s, d)| d[0] += *s),
                        _ => src
                            .iter()
                            .zip(dst[start..].iter_mut().step_by(sw))
                            .for_each(|(s, d)| *d += *s),
                    }
                }
            }
        }
    }
}

/// Output columns [lo, hi) whose input column ow·sw + j − pl lies inside the image.
fn valid_range(ow_n: usize, sw: usize, j: usize, pl: usize, w: usize) -> (usize, usize) {
    let lo = pl.saturating_sub(j).div_ceil(sw);
    // Largest ow with ow·sw + j − pl ≤ w − 1.
    let hi = if w + pl > j {
        ((w + pl - j - 1) / sw + 1).min(ow_n)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// C (m × n, row stride ldc) = A · B + beta · C with explicit strides.
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    beta: f32,
    c: (&mut [f32], isize),
) {
    crate::gemm::sgemm(
        crate::gemm::Mat::new(a.0, m, k, a.1, a.2),
        crate::gemm::Mat::new(b.0, k, n, b.1, b.2),
        beta,
        crate::gemm::MatMut::new(c.0, m, n, c.1),
    );
}

/// The lowered matrix (k × images · positions) of a group of whole images, side by side.
fn lower_group(g: &Geometry, xg: &[f32], cols: &mut Vec<f32>) -> usize {
    let hw = g.out_h() * g.out_w();
    let n = xg.len() / g.in_len() * hw;
    cols.resize(g.k() * n, 0.0);
    for (i, xb) in xg.chunks(g.in_len()).enumerate() {
        im2col(g, xb, 0, g.out_h(), cols, Panel { ld: n, off: i * hw });
    }
    n
}

/// Output gradients of a group of images as one (c_out × images · positions) matrix.
fn gather_group(g: &Geometry, dyg: &[f32], out: &mut Vec<f32>) -> usize {
    let hw = g.out_h() * g.out_w();
    let n = dyg.len() / g.out_len() * hw;
    out.resize(g.c_out * n, 0.0);
    for (i, dyb) in dyg.chunks(g.out_len()).enumerate() {
        for o in 0..g.c_out {
            out[o * n + i * hw..o * n + (i + 1) * hw].copy_from_slice(&dyb[o * hw..(o + 1) * hw]);
        }
    }
    n
}

/// The inverse of [`gather_group`]: a (c_out × images · positions) matrix back to images.
fn scatter_group(g: &Geometry, m: &[f32], yg: &mut [f32]) {
    let hw = g.out_h() * g.out_w();
    let n = yg.len() / g.out_len() * hw;
    for (i, yb) in yg.chunks_mut(g.out_len()).enumerate() {
        for o in 0..g.c_out {
            yb[o * hw..(o + 1) * hw].copy_from_slice(&m[o * n + i * hw..o * n + (i + 1) * hw]);
        }
    }
}

/// y = ep(conv(x, w)): x (batch, c_in, h, w), w (c_out, c_in, kh, kw) → y (batch, c_out, out_h,
/// out_w).
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], ep: Epilogue) -> Vec<f32> {
    forward_in_blocks(g, x, w, ep, g.rows_per_block())
}

/// [`forward`] lowering `rows` output rows at a time (where images are not lowered together).
pub(super) fn forward_in_blocks(
    g: &Geometry,
    x: &[f32],
    w: &[f32],
    ep: Epilogue,
    rows: usize,
) -> Vec<f32> {
    let rows = rows.max(1);
    let (k, hw_out, ow_n) = (g.k(), g.out_h() * g.out_w(), g.out_w());
    if let Some(window) = ep.window(g) {
        let y = forward(g, x, w, Epilogue { pool: None, ..ep });
        let all = crate::pool::Window {
            planes: g.batch * g.c_out,
            ..window
        };
        return crate::pool::forward(&all, &y);
    }
    let mut y = vec![0.0f32; g.batch * g.out_len()];
    if y.is_empty() {
        return y;
    }
    let x = &*super::relu_input(x, &ep);
    let imgs = g.images_per_gemm();
    // Fewer GEMMs than threads (the monitor embeds one clip at a time): the images go one after
    // the other and each GEMM's output channels are shared out among the threads instead.
    let few = g.batch.div_ceil(imgs) < rayon::current_num_threads();
    if imgs > 1 {
        type Group<'s> = (usize, (&'s mut [f32], &'s [f32]));
        let group = |(cols, prod): &mut (Vec<f32>, Vec<f32>), (i, (yg, xg)): Group| {
            let n = lower_group(g, xg, cols);
            prod.resize(g.c_out * n, 0.0);
            let b = (&cols[..], n as isize, 1);
            gemm_rows(
                few,
                g.c_out,
                k,
                n,
                (w, k as isize, 1),
                b,
                (&mut prod[..], n),
            );
            scatter_group(g, prod, yg);
            ep.apply_at(yg, i * imgs * g.c_out, g.c_out, hw_out, true);
        };
        let chunks = (g.out_len() * imgs, g.in_len() * imgs);
        if few {
            let mut buffers = (Vec::new(), Vec::new());
            for ixy in y.chunks_mut(chunks.0).zip(x.chunks(chunks.1)).enumerate() {
                group(&mut buffers, ixy);
            }
        } else {
            y.par_chunks_mut(chunks.0)
                .zip(x.par_chunks(chunks.1))
                .enumerate()
                .for_each_init(|| (Vec::new(), Vec::new()), group);
        }
        return y;
    }
    let image = |cols: &mut Vec<f32>, (i, (yb, xb)): (usize, (&mut [f32], &[f32]))| {
        for oh0 in (0..g.out_h()).step_by(rows) {
            let oh1 = (oh0 + rows).min(g.out_h());
            let n = (oh1 - oh0) * ow_n;
            let b = match g.lowered_view() {
                Some((rs, cs)) => (&xb[oh0 * ow_n..], rs, cs),
                None => {
                    cols.resize(k * n, 0.0);
                    im2col(g, xb, oh0, oh1, cols, Panel { ld: n, off: 0 });
                    (&cols[..], n as isize, 1)
                }
            };
            let c = (&mut yb[oh0 * ow_n..], hw_out);
            gemm_rows(few, g.c_out, k, n, (w, k as isize, 1), b, c);
        }
        ep.apply_at(yb, i * g.c_out, g.c_out, hw_out, true);
    };
    if few {
        let mut cols = Vec::new();
        for ixy in y
            .chunks_mut(g.out_len())
            .zip(x.chunks(g.in_len()))
            .enumerate()
        {
            image(&mut cols, ixy);
        }
    } else {
        y.par_chunks_mut(g.out_len())
            .zip(x.par_chunks(g.in_len()))
            .enumerate()
            .for_each_init(Vec::new, image);
    }
    y
}

/// C (m × n, row stride ldc) = A · B, its rows shared out among the threads if `split` (each row's
/// sums are the GEMM's either way), else in this thread.
fn gemm_rows(
    split: bool,
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    c: (&mut [f32], usize),
) {
    let threads = rayon::current_num_threads();
    if !split || threads < 2 || m < 2 {
        return gemm(m, k, n, a, b, 0.0, (c.0, c.1 as isize));
    }
    // Two tasks per thread, in whole rows.
    let per = m.div_ceil(2 * threads);
    let (ldc, lda) = (c.1, a.1 as usize);
    c.0.par_chunks_mut(per * ldc)
        .take(m.div_ceil(per))
        .enumerate()
        .for_each(|(i, ci)| {
            let r0 = i * per;
            let rows = per.min(m - r0);
            let ai = (&a.0[r0 * lda..], a.1, a.2);
            gemm(rows, k, n, ai, b, 0.0, (ci, ldc as isize));
        });
}

/// ∂L/∂x from ∂L/∂y (batch, c_out, out_h, out_w) and w.
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    input_grad_in_blocks(g, dy, w, g.rows_per_block())
}

/// [`input_grad`] lowering `rows` output rows at a time.
pub(super) fn input_grad_in_blocks(g: &Geometry, dy: &[f32], w: &[f32], rows: usize) -> Vec<f32> {
    let rows = rows.max(1);
    let (k, hw_out, ow_n) = (g.k(), g.out_h() * g.out_w(), g.out_w());
    let mut dx = crate::buffer::zeroed(g.batch * g.in_len());
    if dx.is_empty() {
        return dx;
    }
    let imgs = g.images_per_gemm();
    if imgs > 1 {
        dx.par_chunks_mut(g.in_len() * imgs)
            .zip(dy.par_chunks(g.out_len() * imgs))
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(cols, grads), (dxg, dyg)| {
                    let n = gather_group(g, dyg, grads);
                    cols.resize(k * n, 0.0);
                    gemm(
                        k,
                        g.c_out,
                        n,
                        (w, 1, k as isize),
                        (grads, n as isize, 1),
                        0.0,
                        (cols, n as isize),
                    );
                    for (i, dxb) in dxg.chunks_mut(g.in_len()).enumerate() {
                        col2im(
                            g,
                            cols,
                            0,
                            g.out_h(),
                            dxb,
                            Panel {
                                ld: n,
                                off: i * hw_out,
                            },
                        );
                    }
                },
            );
        return dx;
    }
    dx.par_chunks_mut(g.in_len())
        .zip(dy.par_chunks(g.out_len()))
        .for_each_init(Vec::new, |cols, (dxb, dyb)| {
            for oh0 in (0..g.out_h()).step_by(rows) {
                let oh1 = (oh0 + rows).min(g.out_h());
                let n = (oh1 - oh0) * ow_n;
                let a = (w, 1, k as isize);
                let b = (&dyb[oh0 * ow_n..], hw_out as isize, 1);
                if g.is_pointwise() {
                    gemm(
                        k,
                        g.c_out,
                        n,
                        a,
                        b,
                        0.0,
                        (&mut dxb[oh0 * ow_n..], hw_out as isize),
                    );
                } else {
                    cols.resize(k * n, 0.0);
                    gemm(k, g.c_out, n, a, b, 0.0, (cols, n as isize));
                    col2im(g, cols, oh0, oh1, dxb, Panel { ld: n, off: 0 });
                }
            }
        });
    dx
}

/// Images whose weight gradients are summed together before the groups are summed in order (where
/// images are not lowered together anyway).
const GROUP: usize = 4;

/// ∂L/∂w (c_out, c_in, kh, kw) from x and ∂L/∂y.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    weight_grad_in_blocks(g, x, dy, g.rows_per_block())
}

/// [`weight_grad`] lowering `rows` output rows at a time.
pub(super) fn weight_grad_in_blocks(g: &Geometry, x: &[f32], dy: &[f32], rows: usize) -> Vec<f32> {
    let rows = rows.max(1);
    let (k, hw_out, ow_n) = (g.k(), g.out_h() * g.out_w(), g.out_w());
    let wlen = g.c_out * k;
    if g.batch == 0 {
        return vec![0.0; wlen];
    }
    let imgs = g.images_per_gemm();
    let grouped = imgs > 1;
    let per = if grouped { imgs } else { GROUP };
    let partial: Vec<Vec<f32>> = x
        .par_chunks(g.in_len() * per)
        .zip(dy.par_chunks(g.out_len() * per))
        .map(|(xg, dyg)| {
            let mut dw = vec![0.0f32; wlen];
            let mut cols = Vec::new();
            if grouped {
                let mut grads = Vec::new();
                let n = lower_group(g, xg, &mut cols);
                gather_group(g, dyg, &mut grads);
                gemm(
                    g.c_out,
                    n,
                    k,
                    (&grads, n as isize, 1),
                    (&cols, 1, n as isize),
                    0.0,
                    (&mut dw, k as isize),
                );
                return dw;
            }
            for (xb, dyb) in xg.chunks(g.in_len()).zip(dyg.chunks(g.out_len())) {
                for oh0 in (0..g.out_h()).step_by(rows) {
                    let oh1 = (oh0 + rows).min(g.out_h());
                    let n = (oh1 - oh0) * ow_n;
                    // The lowered matrix transposed: (position, row) strides.
                    let bt = match g.lowered_view() {
                        Some((rs, cs)) => (&xb[oh0 * ow_n..], cs, rs),
                        None => {
                            cols.resize(k * n, 0.0);
                            im2col(g, xb, oh0, oh1, &mut cols, Panel { ld: n, off: 0 });
                            (&cols[..], 1, n as isize)
                        }
                    };
                    gemm(
                        g.c_out,
                        n,
                        k,
                        (&dyb[oh0 * ow_n..], hw_out as isize, 1),
                        bt,
                        1.0,
                        (&mut dw, k as isize),
                    );
                }
            }
            dw
        })
        .collect();
    let mut it = partial.into_iter();
    let mut dw = it.next().unwrap_or_else(|| vec![0.0; wlen]);
    for p in it {
        dw.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    dw
}
