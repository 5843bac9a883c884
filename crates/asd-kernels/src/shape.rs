//! Output lengths of sliding windows.

/// Positions of a window of `k` with stride `s` over `len` values (no padding): 0 when it does not fit.
pub fn conv_len(len: usize, k: usize, s: usize) -> usize {
    if len < k { 0 } else { (len - k) / s + 1 }
}
