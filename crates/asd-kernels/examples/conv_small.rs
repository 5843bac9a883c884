//! One clip through the residual stages' 3 × 3 convolutions, many times: the fixed costs of a call
//! at batch 1 (`cargo run --release -p asd-kernels --example conv_small`; under `perf record` to see
//! where they go). Prints the median ms per call and GFLOP/s on the pool's threads.
use asd_kernels::conv::{Epilogue, Geometry, forward};
use std::time::Instant;

fn main() {
    for (c, h, w) in [(16, 77, 128), (32, 39, 64), (64, 20, 32), (128, 10, 16)] {
        let g = Geometry {
            batch: 1,
            c_in: c,
            h,
            w,
            c_out: c,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad: [1; 4],
        };
        let x: Vec<f32> = (0..c * h * w).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let wt: Vec<f32> = (0..c * c * 9)
            .map(|i| (i % 5) as f32 * 0.01 - 0.02)
            .collect();
        let bias = vec![0.1f32; c];
        let ep = Epilogue {
            bias: Some(&bias),
            relu: true,
            ..Default::default()
        };
        let mut t: Vec<f64> = (0..200)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(forward(&g, &x, &wt, ep));
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        let flops = 2.0 * (c * c * 9 * h * w) as f64;
        println!(
            "{c} ch {h}x{w}: {:.3} ms, {:.0} GFLOP/s",
            t[100],
            flops / t[100] / 1e6
        );
    }
}
