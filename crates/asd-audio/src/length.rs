//! Bringing clips to the network's fixed input length, as the reference implementation does:
//! shorter clips are repeated, longer ones cropped.

use rand::Rng;

/// The longest clip length a network may be sized for: ten minutes at 16 kHz already needs ~8 GB
/// of activations for one batch, so a longer setting is a typo, refused before any work.
pub const MAX_CLIP_SECONDS: f64 = 600.0;

/// Whether a clip length in seconds lies in (0, [`MAX_CLIP_SECONDS`]]; the error says which bound
/// and the value (callers put the setting's name before it).
pub fn check_clip_seconds(s: f64) -> Result<(), String> {
    if s > 0.0 && s <= MAX_CLIP_SECONDS {
        Ok(())
    } else {
        Err(format!("must lie in (0, {MAX_CLIP_SECONDS}], got {s}"))
    }
}

/// Returns `len` samples of `x` starting at `offset`, wrapping around (tiling) when `x` is shorter
/// than `len`. For clips at least `len` long the offset is clamped so the crop stays inside the clip.
pub fn fit_length(x: &[f32], len: usize, offset: usize) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return vec![0.0; len];
    }
    if n >= len {
        let start = offset.min(n - len);
        return x[start..start + len].to_vec();
    }
    let mut out = Vec::with_capacity(len);
    let mut pos = offset % n;
    while out.len() < len {
        let take = (n - pos).min(len - out.len());
        out.extend_from_slice(&x[pos..pos + take]);
        pos = 0;
    }
    out
}

/// A random offset for training: any crop position inside a long clip, any rotation of a short one.
pub fn random_offset<R: Rng + ?Sized>(n: usize, len: usize, rng: &mut R) -> usize {
    if n > len {
        rng.random_range(0..=n - len)
    } else if n > 1 {
        rng.random_range(0..n)
    } else {
        0
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;

    #[test]
    fn clip_lengths_are_checked_against_both_bounds() {
        assert!(check_clip_seconds(10.0).is_ok());
        assert!(check_clip_seconds(MAX_CLIP_SECONDS).is_ok());
        for bad in [0.0, -1.0, MAX_CLIP_SECONDS + 0.5, f64::NAN, f64::INFINITY] {
            let e = check_clip_seconds(bad).unwrap_err();
            assert!(e.contains("must lie in (0, 600]"), "{e}");
        }
    }
}
