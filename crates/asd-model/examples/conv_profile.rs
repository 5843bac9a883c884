//! Where a training step's time goes: each convolution of the network at batch 32 with 10 s clips,
//! timed alone (forward in eval mode; forward + backward under autodiff), with its GFLOP/s, for
//! burn's own convolution and for this crate's (`asd_model::ops`: direct for the 2-D layers'
//! forward pass and stride-1 input gradients, im2col + GEMM otherwise).
//!
//! `cargo run --release -p asd-model --example conv_profile`

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

fn time<F: FnMut()>(mut f: F) -> f64 {
    f();
    let mut v: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[1]
}

/// One convolution of the network at batch 32 with 10 s clips.
struct Layer {
    name: &'static str,
    cin: usize,
    cout: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    /// The same zero padding on every side.
    pad: usize,
    input: [usize; 2],
}

type Conv2 = fn(Tensor<4>, Tensor<4>, [usize; 2], usize) -> Tensor<4>;

fn burn_conv(x: Tensor<4>, w: Tensor<4>, stride: [usize; 2], pad: usize) -> Tensor<4> {
    conv2d(x, w, None, ConvOptions::new(stride, [pad, pad], [1, 1], 1))
}

fn our_conv(x: Tensor<4>, w: Tensor<4>, stride: [usize; 2], pad: usize) -> Tensor<4> {
    asd_model::ops::conv2d(x, w, stride, [pad; 4])
}

fn row(name: &str, flop: f64, fwd: f64, both: f64) {
    println!(
        "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        name,
        fwd * 1e3,
        flop / fwd / 1e9,
        both * 1e3,
        3.0 * flop / both / 1e9
    );
}

fn main() {
    // The allocator setting of the `asd` binary, so that freed buffers are reused as in training.
    asd_kernels::alloc::keep_freed_memory();
    kernel_profile();
    if std::env::args().any(|a| a == "--kernels-only") {
        return;
    }
    stem_profile();
    let b = 32;
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let layer = |name, cin, cout, k: usize, s: usize, input| Layer {
        name,
        cin,
        cout,
        kernel: [k, k],
        stride: [s, s],
        pad: k / 2,
        input,
    };
    // The FFT branch's 1-D convolutions as 1-row 2-D ones, as `ops::conv1d` runs them.
    let row_conv = |name, cin, k, s, len| Layer {
        name,
        cin,
        cout: 128,
        kernel: [1, k],
        stride: [1, s],
        pad: 0,
        input: [1, len],
    };
    let layers = [
        layer("stft.conv1 7x7/2 1-16", 1, 16, 7, 2, [311, 513]),
        layer("block1 3x3 16", 16, 16, 3, 1, [77, 128]),
        layer("block2.conv1 3x3/2 16-32", 16, 32, 3, 2, [77, 128]),
        layer("block2 3x3 32", 32, 32, 3, 1, [39, 64]),
        layer("block3 3x3 64", 64, 64, 3, 1, [20, 32]),
        layer("block4 3x3 128", 128, 128, 3, 1, [10, 16]),
        row_conv("fft.conv1 1x256/64 1-128", 1, 256, 64, 80_000),
        row_conv("fft.conv2 1x64/32 128-128", 128, 64, 32, 1246),
    ];
    println!("| layer | impl | fwd ms | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP/s |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for l in &layers {
        let [kh, kw] = l.kernel;
        let x = Tensor::<4>::random(
            [b, l.cin, l.input[0], l.input[1]],
            Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let w = Tensor::<4>::random(
            [l.cout, l.cin, kh, kw],
            Distribution::Normal(0.0, 0.1),
            &dev,
        );
        for (imp, f) in [("burn", burn_conv as Conv2), ("ours", our_conv as Conv2)] {
            let run = |x: Tensor<4>, w: Tensor<4>| f(x, w, l.stride, l.pad);
            let [_, _, ho, wo] = run(x.clone(), w.clone()).dims();
            let flop = 2.0 * (b * ho * wo * l.cout * l.cin * kh * kw) as f64;
            let fwd = time(|| {
                let _ = run(x.clone(), w.clone()).into_data();
            });
            let xa = Tensor::<4>::from_data(x.to_data(), &ad).require_grad();
            let wa = Tensor::<4>::from_data(w.to_data(), &ad).require_grad();
            let both = time(|| {
                let g = run(xa.clone(), wa.clone()).sum().backward();
                let _ = wa.grad(&g).map(|t| t.into_data());
                let _ = xa.grad(&g).map(|t| t.into_data());
            });
            row(&format!("{} | {}", l.name, imp), flop, fwd, both);
        }
    }
}

/// The STFT branch's stem (convolution, BatchNorm in train mode, ReLU, max-pool) alone, forward and
/// backward, to separate the convolution from the memory-bound layers around it.
fn stem_profile() {
    use asd_model::layers::{BatchNormConfig, Conv2dConfig};
    use asd_model::params::SeededInit;
    use burn::tensor::activation::relu;
    let ad = Device::flex().autodiff();
    let mut src = SeededInit::new(0);
    let conv = Conv2dConfig::new([1, 16], 7)
        .with_stride(2)
        .with_bias(false)
        .init(&mut src, "c", &ad)
        .unwrap();
    let norm = BatchNormConfig::new(16)
        .with_affine(false)
        .init(&mut src, "n", &ad)
        .unwrap();
    let x = Tensor::<4>::random([32, 1, 311, 513], Distribution::Normal(0.0, 1.0), &ad);
    let t_conv = time(|| {
        let y = conv.forward(x.clone());
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).map(|t| t.into_data());
    });
    // As training runs it: BatchNorm and max-pool fused, ReLU on the pooled values.
    let t_stem = time(|| {
        let y = conv.forward_norm_relu_pool(x.clone(), &norm, true, [3, 2]);
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).map(|t| t.into_data());
    });
    let t_bn = time(|| {
        let y = norm.forward(conv.forward(x.clone()), true);
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).map(|t| t.into_data());
    });
    let t_relu = time(|| {
        let y = relu(conv.forward(x.clone()));
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).map(|t| t.into_data());
    });
    let t_pool = time(|| {
        let y = asd_model::ops::max_pool2d(conv.forward(x.clone()), 3, 2);
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).map(|t| t.into_data());
    });
    println!(
        "stem: + BatchNorm {:.1} ms, + ReLU {:.1} ms, + max-pool {:.1} ms",
        t_bn * 1e3,
        t_relu * 1e3,
        t_pool * 1e3
    );
    println!(
        "stem: convolution alone {:.1} ms, with BatchNorm, ReLU and max-pool as in training {:.1} ms",
        t_conv * 1e3,
        t_stem * 1e3
    );
}

/// The host kernels alone on the stem's output (32 × 16 × 156 × 257).
fn kernel_profile() {
    use asd_model::ops::{norm, norm_pool, pool};
    let n = 32 * 16 * 156 * 257;
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let g = pool::Window {
        planes: 32 * 16,
        h: 156,
        w: 257,
        k: 3,
        stride: 2,
    };
    let y = pool::forward(&g, &x);
    let t_fwd = time(|| {
        let _ = pool::forward(&g, &x);
    });
    let t_bwd = time(|| {
        let _ = pool::backward(&g, &x, &y);
    });
    let l = norm::Layout {
        batch: 32,
        channels: 16,
        s: 156 * 257,
    };
    let m = norm::moments(&l, &x);
    let t_mom = time(|| {
        let _ = norm::moments(&l, &x);
    });
    let t_norm = time(|| {
        let _ = norm::normalize(&l, &x, &m, 1e-5);
    });
    let t_ngrad = time(|| {
        let _ = norm::normalize_grad(&l, &x, &x, &m, 1e-5);
    });
    // The stem's BatchNorm + max-pool in training: the two kernels against the fused one.
    let np = norm_pool::NormPool {
        pool: g,
        channels: 16,
    };
    let dy = pool::forward(&g, &x);
    let t_two_fwd = time(|| {
        let _ = pool::forward(&g, &norm::normalize(&l, &x, &m, 1e-5));
    });
    let t_fused_fwd = time(|| {
        let _ = norm_pool::forward(&np, &x, &m, 1e-5);
    });
    let normalized = norm::normalize(&l, &x, &m, 1e-5);
    let t_two_bwd = time(|| {
        let scattered = pool::backward(&g, &normalized, &dy);
        let _ = norm::normalize_grad(&l, &normalized, &scattered, &m, 1e-5);
    });
    let t_fused_bwd = time(|| {
        let _ = norm_pool::backward(&np, &x, &m, 1e-5, &dy);
    });
    println!(
        "BatchNorm + max-pool on 82 MB: forward {:.1} ms as two kernels, {:.1} ms fused; backward {:.1} ms as two, {:.1} ms fused",
        t_two_fwd * 1e3,
        t_fused_fwd * 1e3,
        t_two_bwd * 1e3,
        t_fused_bwd * 1e3
    );
    let t_par_touch = time(|| {
        use rayon::prelude::*;
        let mut v = vec![0.0f32; n];
        v.par_chunks_mut(156 * 257)
            .for_each(|c| c.iter_mut().step_by(1024).for_each(|a| *a = 1.0));
        std::hint::black_box(&v);
    });
    println!(
        "parallel zeroed allocation + touch {:.1} ms",
        t_par_touch * 1e3
    );
    let t_alloc = time(|| {
        let v = vec![0.0f32; n];
        std::hint::black_box(&v);
        let mut v = v;
        v.iter_mut().step_by(1024).for_each(|a| *a = 1.0);
        std::hint::black_box(&v);
    });
    println!(
        "kernels on 82 MB: pool fwd {:.1} ms, bwd {:.1} ms; moments {:.1} ms, normalize {:.1} ms, grad {:.1} ms; zeroed allocation + touch {:.1} ms",
        t_fwd * 1e3,
        t_bwd * 1e3,
        t_mom * 1e3,
        t_norm * 1e3,
        t_ngrad * 1e3,
        t_alloc * 1e3
    );
}
