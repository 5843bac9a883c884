//! The one single-precision matrix product of the workspace (matrixmultiply's packed, vectorised
//! SGEMM), behind safe signatures: operands are slices with strides whose extents are checked with
//! `assert!`, or ndarray views, whose extents ndarray guarantees.

use ndarray::ArrayView2;

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
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert_eq!((a.rows, b.cols), (c.rows, c.cols), "output shape differs");
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    // SAFETY: `Mat::new` and `MatMut::new` checked that every addressed element lies inside its
    // slice (non-negative strides), the output's rows do not overlap, and the shapes agree above.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            1.0,
            a.data.as_ptr(),
            a.rs,
            a.cs,
            b.data.as_ptr(),
            b.rs,
            b.cs,
            beta,
            c.data.as_mut_ptr(),
            c.rs,
            1,
        );
    }
}

/// out (m × n, row-major) = A · Bᵀ for views A (m × k) and B (n × k) of any strides: the similarity
/// block of the scoring kernels. Panics if the shapes do not agree.
pub fn sgemm_abt(a: ArrayView2<f32>, b: ArrayView2<f32>, out: &mut [f32]) {
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
    // any sign of stride); bᵀ is read through b's strides swapped; out is m × n row-major, checked.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            ars,
            acs,
            b.as_ptr(),
            bcs,
            brs,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
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
        let a = Array2::from_shape_fn((5, 7), |(i, j)| (i * 7 + j) as f32 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((4, 7), |(i, j)| (i + 2 * j) as f32 * 0.05);
        let mut out = vec![0.0; 20];
        sgemm_abt(a.view(), b.view(), &mut out);
        let want = naive(&a, &b);
        assert!(out.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
        // The same through slices: A row-major, Bᵀ read column-wise, C with a wider row stride.
        let mut wide = vec![9.0; 5 * 6];
        let bt = b.as_slice().unwrap();
        sgemm(
            Mat::new(a.as_slice().unwrap(), 5, 7, 7, 1),
            Mat::new(bt, 7, 4, 1, 7),
            0.0,
            MatMut::new(&mut wide, 5, 4, 6),
        );
        for i in 0..5 {
            assert_eq!(&wide[i * 6..i * 6 + 4], &out[i * 4..i * 4 + 4]);
            assert_eq!(&wide[i * 6 + 4..i * 6 + 6], &[9.0, 9.0], "untouched");
        }
        // Fortran-order and sliced views.
        let af = a.t().as_standard_layout().t().to_owned();
        sgemm_abt(af.view(), b.slice(ndarray::s![1.., ..]), &mut out[..15]);
        for i in 0..5 {
            for j in 0..3 {
                assert!((out[i * 3 + j] - want[i * 4 + j + 1]).abs() < 1e-5);
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
