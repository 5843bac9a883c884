//! Reproducible inputs: for this crate's tests and the SGEMM measurement (`gemm::choice`).

/// `n` reproducible values in [−0.5, 0.5) from `seed` (xorshift), 24 bits each.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// A pool of one thread and one of many: a kernel that shares its work out differently with fewer
/// images than threads is run in both.
#[cfg(test)]
pub(crate) fn one_and_many_threads() -> (rayon::ThreadPool, rayon::ThreadPool) {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("a thread pool")
    };
    (pool(1), pool(32))
}
