//! `asd bench score`: fit + score time of the ratio method at scale, its achieved GFLOP/s, and the
//! machine's plain single-precision GEMM rate for comparison.

use crate::ReferenceSet;
use crate::density::Density;
use crate::methods::{Combine, Method, Scaled};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// Random unit vectors (seeded).
pub fn unit_vectors(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut a = Array2::from_shape_fn((n, d), |_| rng.random::<f32>() - 0.5);
    for mut row in a.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    a
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreBench {
    pub n: usize,
    pub m: usize,
    pub d: usize,
    pub k: usize,
    pub fit_s: f64,
    pub score_s: f64,
    /// The products computed (the fit's reference pairs once each, then M·N) as FLOPs / (fit + score).
    pub gflops: f64,
}

/// Times fitting ratio-K (all N references' densities) and scoring M queries.
pub fn bench_ratio(n: usize, m: usize, d: usize, k: usize) -> ScoreBench {
    let refs = ReferenceSet::build(
        "bench".into(),
        unit_vectors(n, d, 2).view(),
        &vec![true; n],
        crate::ReferenceChoice::All,
    );
    let queries = unit_vectors(m, d, 1);
    let method = Scaled {
        density: Some(Density::KnnMean(k)),
        combine: Combine::Ratio,
        standardize: false,
    };
    let t = Instant::now();
    let fitted = method.fit(&refs, queries.view());
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let scores = fitted
        .map(|f| f.score(queries.view(), None))
        .unwrap_or_default();
    let score_s = t.elapsed().as_secs_f64();
    std::hint::black_box(scores);
    // The products computed: the fit's reference pairs, then every query against every reference.
    let pairs = crate::kernel::self_pairs_computed(n) as f64;
    let flops = 2.0 * d as f64 * (pairs + (m * n) as f64);
    ScoreBench {
        n,
        m,
        d,
        k,
        fit_s,
        score_s,
        gflops: flops / (fit_s + score_s) / 1e9,
    }
}

/// The machine's plain single-precision GEMM rate on one backend: `size × d` times `d × size`,
/// split over the rayon threads by rows as the scoring kernel is, in GFLOP/s (best of three).
pub fn sgemm_rate(backend: asd_kernels::gemm::Backend, size: usize, d: usize) -> f64 {
    use rayon::prelude::*;
    let a = unit_vectors(size, d, 3);
    let b = unit_vectors(size, d, 4);
    let threads = rayon::current_num_threads().max(1);
    let rows = size.div_ceil(threads);
    let mut c = vec![0.0f32; size * size];
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        c.par_chunks_mut(rows * size)
            .enumerate()
            .for_each(|(i, out)| {
                let r0 = i * rows;
                let r = out.len() / size;
                let block = a.slice(ndarray::s![r0..r0 + r, ..]);
                asd_kernels::gemm::sgemm_abt_with(backend, block, b.view(), out);
            });
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(&c);
    }
    2.0 * (size * size * d) as f64 / best / 1e9
}

/// `asd bench bank`: what enrolling, removing and scoring one clip cost in an incremental reference bank.
#[derive(Debug, Clone, Serialize)]
pub struct BankBench {
    pub n: usize,
    pub d: usize,
    pub k: usize,
    /// Seconds to build the bank of n references at once (parallel).
    pub build_s: f64,
    /// Median milliseconds of one enrolment, one removal and one query, at n references.
    pub add_ms: f64,
    pub remove_ms: f64,
    pub score_ms: f64,
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    1e3 * v[v.len() / 2]
}

/// Builds a ratio-K bank of `n` random unit vectors, then times 21 enrolments, their removals and 101
/// queries.
pub fn bench_bank(n: usize, d: usize, k: usize) -> Result<BankBench, crate::bank::BankError> {
    const EXTRA: usize = 21;
    let rows = unit_vectors(n + EXTRA, d, 5);
    let queries = unit_vectors(101, d, 6);
    let t = Instant::now();
    let mut bank = crate::bank::ReferenceBank::from_rows(
        d,
        Density::KnnMean(k),
        rows.outer_iter()
            .take(n)
            .map(|r| (r.to_slice().unwrap_or_default(), "source")),
    )?;
    let build_s = t.elapsed().as_secs_f64();
    let mut adds = Vec::new();
    let mut ids = Vec::new();
    for r in rows.outer_iter().skip(n) {
        let t = Instant::now();
        ids.push(bank.add(r.to_slice().unwrap_or_default(), "target")?);
        adds.push(t.elapsed().as_secs_f64());
    }
    let mut scores = Vec::new();
    for q in queries.outer_iter() {
        let t = Instant::now();
        let _ = bank.score(q.to_slice().unwrap_or_default())?;
        scores.push(t.elapsed().as_secs_f64());
    }
    let mut removes = Vec::new();
    for id in ids {
        let t = Instant::now();
        bank.remove(id)?;
        removes.push(t.elapsed().as_secs_f64());
    }
    Ok(BankBench {
        n,
        d,
        k,
        build_s,
        add_ms: median_ms(adds),
        remove_ms: median_ms(removes),
        score_ms: median_ms(scores),
    })
}
