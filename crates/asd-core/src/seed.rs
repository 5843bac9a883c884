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

/// A seed for one purpose, derived from the user's seed and a path of integers. The accumulator is
/// mixed once more than each path element before they are combined, so that swapping the seed with a
/// path element (run seed s, member i vs. run seed i, member s) gives another seed: a plain
/// `splitmix(acc ^ splitmix(p))` is symmetric in the two and made such runs share members.
pub fn derive_seed(seed: u64, path: &[u64]) -> u64 {
    path.iter().fold(splitmix(seed), |acc, p| {
        splitmix(splitmix(acc) ^ splitmix(*p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn seeds_of_runs_and_members_never_collide() {
        let mut seen = HashSet::new();
        for run in 0..100u64 {
            for member in 0..64u64 {
                assert!(
                    seen.insert(derive_seed(run, &[member])),
                    "run {run} member {member} repeats a seed"
                );
            }
        }
        assert_ne!(derive_seed(3, &[1, 2]), derive_seed(3, &[2, 1]));
        assert_ne!(derive_seed(0, &[5]), derive_seed(0, &[5, 0]));
    }
}
