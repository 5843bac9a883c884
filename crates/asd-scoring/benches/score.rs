//! Fit (densities) + score time of the ratio-K16 method for D = 512 and M = 10 000 queries.
//! Run: `cargo bench -p asd-scoring --bench score`. GFLOP/s = 2·D·(N² + M·N) / time.

use asd_scoring::ReferenceSet;
use asd_scoring::density::Density;
use asd_scoring::methods::{Combine, Method, Scaled};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

fn unit(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut a = Array2::from_shape_fn((n, d), |_| rng.random::<f32>() - 0.5);
    for mut row in a.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    a
}

fn bench(c: &mut Criterion) {
    let d = 512;
    let queries = unit(10_000, d, 1);
    let method = Scaled {
        density: Some(Density::KnnMean(16)),
        combine: Combine::Ratio,
        standardize: false,
    };
    let mut group = c.benchmark_group("ratio_k16_fit_score_m10000_d512");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        let refs = ReferenceSet::build(
            "bench".into(),
            unit(n, d, 2).view(),
            &vec![true; n],
            asd_scoring::ReferenceChoice::All,
        );
        group.bench_function(format!("n{n}"), |b| {
            b.iter(|| {
                let fitted = method.fit(&refs, queries.view()).unwrap();
                fitted.score(queries.view(), None)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
