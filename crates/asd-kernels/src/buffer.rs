//! Output buffers.

use rayon::prelude::*;

/// A zero-filled buffer for kernels that add into their output. Its pages are written first, in
/// parallel: `vec![0.0; n]` gets fresh pages that fault twice when first read and then written
/// (the shared zero page, then copy on write), which doubled the time of the max-pool backward pass.
pub fn zeroed(len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()
        .par_chunks_mut(1 << 16)
        .for_each(|c| {
            c.iter_mut().for_each(|x| {
                x.write(0.0);
            })
        });
    // SAFETY: every element of the first `len` was written above.
    unsafe { v.set_len(len) };
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_buffers_hold_zeros_of_the_length_asked() {
        for len in [0, 1, (1 << 16) + 3] {
            let v = super::zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
