//! The one single-precision matrix product of the workspace, behind safe signatures: operands are
//! slices with strides whose extents are checked with `assert!`, or ndarray views, whose extents
//! ndarray guarantees.
//!
//! Two implementations sit behind it ([`Backend`]): matrixmultiply's packed SGEMM and the faer
//! project's `gemm`. Which one runs is decided once per process ([`Backend::current`]: `ASD_GEMM`,
//! else the machine's measured choice, [`choice`]); both are deterministic for a given shape and
//! CPU, and the choice is kept per CPU, so the same input gives the same bits on every run.

pub mod choice;

use ndarray::ArrayView2;
use std::sync::OnceLock;

/// An SGEMM implementation. Every call is single-threaded: the callers (the scoring tiles, the
/// convolution groups) already split their work over the rayon threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// matrixmultiply 0.3: packed kernels up to AVX-512 (picked at run time).
    Matrixmultiply,
    /// gemm 0.19 (the faer project): AVX2 + FMA kernels, and AVX-512 ones where built with the
    /// `x86-v4` feature.
    Faer,
}

impl Backend {
    /// Every backend, for benchmarks and tests.
    pub const ALL: [Backend; 2] = [Backend::Matrixmultiply, Backend::Faer];

    /// The name `ASD_GEMM` takes and benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Matrixmultiply => "matrixmultiply",
            Backend::Faer => "faer-gemm",
        }
    }

    /// The process's backend: `ASD_GEMM` (`matrixmultiply` or `faer-gemm`) if set to one of those
    /// names, else this machine's measured choice ([`choice::choose`]: the cache file, or a
    /// measurement of about 0.2 s the first time on a CPU).
    pub fn current() -> Backend {
        static CHOICE: OnceLock<Backend> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            std::env::var("ASD_GEMM")
                .ok()
                .and_then(|v| Backend::ALL.into_iter().find(|b| b.name() == v.trim()))
                .unwrap_or_else(choice::choose)
        })
    }

    /// Whether the backend runs AVX-512 kernels here: the CPU has them, and so does the build
    /// (always for matrixmultiply, with the `x86-v4` feature for faer's).
    pub fn uses_avx512(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        let cpu = std::arch::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let cpu = false;
        match self {
            Backend::Matrixmultiply => cpu,
            Backend::Faer => cpu && cfg!(feature = "x86-v4"),
        }
    }
}

/// A read-only m × n matrix: element (i, j) at `data[i · rs + j · cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

/// A writable m × n matrix with unit column stride: element (i, j) at `data[i · rs + j]`.
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: isize,
}

/// Index one past the farthest element addressed; panics on negative strides.
fn extent(rows: usize, cols: usize, rs: isize, cs: isize) -> usize {
    assert!(rs >= 0 && cs >= 0, "negative strides are not supported");
    if rows == 0 || cols == 0 {
        return 0;
    }
    (rows - 1) * rs as usize + (cols - 1) * cs as usize + 1
}

impl<'a> Mat<'a> {
    /// Panics if the strides address elements past the end of `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: isize, cs: isize) -> Self {
        assert!(
            extent(rows, cols, rs, cs) <= data.len(),
            "a {rows} × {cols} matrix with strides ({rs}, {cs}) does not fit in {} values",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

impl<'a> MatMut<'a> {
    /// Panics if the rows address elements past the end of `data`, or if rows overlap.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, rs: isize) -> Self {
        assert!(
            extent(rows, cols, rs, 1) <= data.len(),
            "a {rows} × {cols} output with row stride {rs} does not fit in {} values",
            data.len()
        );
        assert!(rows <= 1 || rs as usize >= cols, "output rows overlap");
        Self {
            data,
            rows,
            cols,
            rs,
        }
    }
}

/// C = A · B + beta · C. Panics if the shapes do not agree.
pub fn sgemm(a: Mat, b: Mat, beta: f32, c: MatMut) {
    sgemm_with(Backend::current(), a, b, beta, c);
}

/// [`sgemm`] on a chosen backend.
pub fn sgemm_with(backend: Backend, a: Mat, b: Mat, beta: f32, c: MatMut) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!((a.rows, b.cols), (c.rows, c.cols), "output shape differs");
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.data.as_mut_ptr());
    // SAFETY: `Mat::new` and `MatMut::new` checked that every addressed element lies inside its
    // slice (non-negative strides), the output's rows do not overlap, and the shapes agree above;
    // C is borrowed mutably, so it aliases neither A nor B.
    unsafe {
        raw_sgemm(
            backend,
            (m, k, n),
            (ap, a.rs, a.cs),
            (bp, b.rs, b.cs),
            beta,
            (cp, c.rs),
        );
    }
}

/// out (m × n, row-major) = A · Bᵀ for views A (m × k) and B (n × k) of any strides: the similarity
/// block of the scoring kernels. Panics if the shapes do not agree.
pub fn sgemm_abt(a: ArrayView2<f32>, b: ArrayView2<f32>, out: &mut [f32]) {
    sgemm_abt_with(Backend::current(), a, b, out);
}

/// [`sgemm_abt`] on a chosen backend.
pub fn sgemm_abt_with(backend: Backend, a: ArrayView2<f32>, b: ArrayView2<f32>, out: &mut [f32]) {
    let (m, k) = a.dim();
    let n = b.nrows();
    assert_eq!(b.ncols(), k, "inner dimensions differ");
    assert_eq!(out.len(), m * n, "output length differs");
    if m == 0 || n == 0 {
        return;
    }
    let (ars, acs) = (a.strides()[0], a.strides()[1]);
    let (brs, bcs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: a view's pointer and strides address exactly its elements (ndarray's invariant, for
    // any sign of stride); bᵀ is read through b's strides swapped; out is m × n row-major, checked,
    // and borrowed mutably, so it aliases neither view.
    unsafe {
        raw_sgemm(
            backend,
            (m, k, n),
            (a.as_ptr(), ars, acs),
            (b.as_ptr(), bcs, brs),
            0.0,
            (out.as_mut_ptr(), n as isize),
        );
    }
}

/// C = A · B + beta · C on raw operands (pointer, row stride, column stride); C has unit column
/// stride. With beta = 0, C is written without being read.
///
/// # Safety
/// Every element (i, j) of A (m × k), B (k × n) and C (m × n) addressed through its strides must lie
/// in one live allocation, C's rows must not overlap, and C must alias neither A nor B.
unsafe fn raw_sgemm(
    backend: Backend,
    (m, k, n): (usize, usize, usize),
    a: (*const f32, isize, isize),
    b: (*const f32, isize, isize),
    beta: f32,
    c: (*mut f32, isize),
) {
    match backend {
        // SAFETY: the caller's contract is matrixmultiply's.
        Backend::Matrixmultiply => unsafe {
            matrixmultiply::sgemm(
                m, k, n, 1.0, a.0, a.1, a.2, b.0, b.1, b.2, beta, c.0, c.1, 1,
            )
        },
        // gemm computes dst = alpha · dst + beta · lhs · rhs, reading dst only if asked to; its
        // strides are given column first. SAFETY: the caller's contract is gemm's.
        Backend::Faer => unsafe {
            ::gemm::gemm(
                m,
                n,
                k,
                c.0,
                1,
                c.1,
                beta != 0.0,
                a.0,
                a.2,
                a.1,
                b.0,
                b.2,
                b.1,
                beta,
                1.0,
                false,
                false,
                false,
                ::gemm::Parallelism::None,
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &Array2<f32>, b: &Array2<f32>) -> Vec<f32> {
        let mut out = Vec::new();
        for i in 0..a.nrows() {
            for j in 0..b.nrows() {
                out.push(a.row(i).dot(&b.row(j)));
            }
        }
        out
    }

    #[test]
    fn strided_products_equal_the_naive_ones() {
        for backend in Backend::ALL {
            let a = Array2::from_shape_fn((5, 7), |(i, j)| (i * 7 + j) as f32 * 0.1 - 1.0);
            let b = Array2::from_shape_fn((4, 7), |(i, j)| (i + 2 * j) as f32 * 0.05);
            let mut out = vec![0.0; 20];
            sgemm_abt_with(backend, a.view(), b.view(), &mut out);
            let want = naive(&a, &b);
            assert!(out.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
            // The same through slices: A row-major, Bᵀ read column-wise, C with a wider row stride.
            let mut wide = vec![9.0; 5 * 6];
            let bt = b.as_slice().unwrap();
            sgemm_with(
                backend,
                Mat::new(a.as_slice().unwrap(), 5, 7, 7, 1),
                Mat::new(bt, 7, 4, 1, 7),
                0.0,
                MatMut::new(&mut wide, 5, 4, 6),
            );
            for i in 0..5 {
                assert_eq!(
                    &wide[i * 6..i * 6 + 4],
                    &out[i * 4..i * 4 + 4],
                    "{backend:?}"
                );
                assert_eq!(&wide[i * 6 + 4..i * 6 + 6], &[9.0, 9.0], "untouched");
            }
            // Fortran-order, sliced and reversed views.
            let af = a.t().as_standard_layout().t().to_owned();
            sgemm_abt_with(
                backend,
                af.view(),
                b.slice(ndarray::s![1.., ..]),
                &mut out[..15],
            );
            for i in 0..5 {
                for j in 0..3 {
                    assert!((out[i * 3 + j] - want[i * 4 + j + 1]).abs() < 1e-5);
                }
            }
            sgemm_abt_with(backend, a.slice(ndarray::s![..;-1, ..]), b.view(), &mut out);
            for i in 0..5 {
                for j in 0..4 {
                    assert!((out[i * 4 + j] - want[(4 - i) * 4 + j]).abs() < 1e-5);
                }
            }
        }
    }

    /// Shapes past the backends' register blocks and cache panels, with C accumulated (beta ≠ 0):
    /// every backend within f32 rounding of the f64 product.
    #[test]
    fn backends_agree_on_large_accumulated_products() {
        let (m, k, n) = (67, 300, 45);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
            .collect();
        let c0: Vec<f32> = (0..m * n).map(|i| (i % 7) as f32).collect();
        for backend in Backend::ALL {
            let mut c = c0.clone();
            sgemm_with(
                backend,
                Mat::new(&a, m, k, k as isize, 1),
                Mat::new(&b, k, n, n as isize, 1),
                0.5,
                MatMut::new(&mut c, m, n, n as isize),
            );
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k)
                        .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                        .sum();
                    let want = dot + 0.5 * c0[i * n + j] as f64;
                    let got = c[i * n + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "{backend:?}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn extents_past_the_slice_are_refused() {
        let data = vec![0.0; 10];
        Mat::new(&data, 3, 4, 4, 1);
    }

    #[test]
    #[should_panic(expected = "inner dimensions")]
    fn shapes_that_disagree_are_refused() {
        let (a, b, mut c) = (vec![0.0; 6], vec![0.0; 6], vec![0.0; 4]);
        sgemm(
            Mat::new(&a, 2, 3, 3, 1),
            Mat::new(&b, 2, 3, 3, 1),
            0.0,
            MatMut::new(&mut c, 2, 2, 2),
        );
    }
}
