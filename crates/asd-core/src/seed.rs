//! Seeds for every random choice, derived from the one seed a user sets, so that each purpose
//! (a clip, an epoch's order, a member) gets its own independent stream and the same seed gives the same
//! numbers.

/// SplitMix64's output function: a well-mixed 64-bit value from any input.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for one purpose, derived from the user's seed and a path of integers.
pub fn derive_seed(seed: u64, path: &[u64]) -> u64 {
    path.iter()
        .fold(splitmix(seed), |acc, p| splitmix(acc ^ splitmix(*p)))
}
