//! Where an inference pass's time goes: the features, the FFT branch and the STFT branch of the
//! folded network (eval mode), at batch 1 and 32 with 10 s clips; then each convolution of the
//! network alone as inference runs it (bias and ReLU fused), times the number of its kind in a
//! pass, so that what the branches spend outside their convolutions shows. Medians of 7 runs.
//!
//! `cargo run --release -p asd-model --example infer_profile`

use asd_audio::FeatureExtractor;
use asd_model::batch::HostBatch;
use asd_model::{EmbeddingNet, NetConfig, SeededInit};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

fn median_ms<F: FnMut()>(mut f: F) -> f64 {
    f();
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[3]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = NetConfig::new(160_000);
    let device = Device::flex();
    let net = EmbeddingNet::load(&mut SeededInit::new(0), &cfg, &device)?.folded_for_inference();
    let fx = FeatureExtractor::new(cfg.clip_len);
    println!("machine: {}", asd_core::host::describe());
    println!("| batch | features ms | FFT branch ms | STFT branch ms | whole pass ms |");
    println!("| --- | --- | --- | --- | --- |");
    for batch in [1, 32] {
        let clips = asd_model::bench::noise_clips(batch, cfg.clip_len, 0);
        let features = median_ms(|| drop(HostBatch::from_clips(&fx, &clips)));
        let hb = HostBatch::from_clips(&fx, &clips);
        let fft = median_ms(|| {
            let (s, _) = hb.to_device(&device);
            drop(net.fft.forward(s, false).into_data());
        });
        let stft = median_ms(|| {
            let (_, t) = hb.to_device(&device);
            drop(net.stft.forward(t, false).into_data());
        });
        let whole = median_ms(|| {
            let (s, t) = hb.to_device(&device);
            drop(net.embed(s, t, false).into_data());
        });
        println!("| {batch} | {features:.1} | {fft:.1} | {stft:.1} | {whole:.1} |");
    }
    // (name, c_in, c_out, kernel, stride, input h × w, how many in a pass)
    type Layer = (
        &'static str,
        usize,
        usize,
        [usize; 2],
        usize,
        [usize; 2],
        usize,
    );
    let layers: [Layer; 8] = [
        ("stft.conv1 7x7/2 1-16", 1, 16, [7, 7], 2, [311, 513], 1),
        ("block1 3x3 16", 16, 16, [3, 3], 1, [77, 128], 4),
        ("block2.conv1 3x3/2 16-32", 16, 32, [3, 3], 2, [77, 128], 1),
        ("block2 3x3 32", 32, 32, [3, 3], 1, [39, 64], 3),
        ("block3 3x3 64", 64, 64, [3, 3], 1, [20, 32], 3),
        ("block4 3x3 128", 128, 128, [3, 3], 1, [10, 16], 3),
        (
            "fft.conv1 1x256/64 1-128",
            1,
            128,
            [1, 256],
            64,
            [1, 80_000],
            1,
        ),
        (
            "fft.conv2 1x64/32 128-128",
            128,
            128,
            [1, 64],
            32,
            [1, 1246],
            1,
        ),
    ];
    println!();
    println!("| layer | × | batch | ms each | GFLOP/s |");
    println!("| --- | --- | --- | --- | --- |");
    for batch in [1, 32] {
        let mut total = 0.0;
        for &(name, ci, co, k, s, [h, w], n) in &layers {
            let x = Tensor::<4>::random([batch, ci, h, w], Distribution::Normal(0.0, 1.0), &device);
            let wt = Tensor::<4>::random(
                [co, ci, k[0], k[1]],
                Distribution::Normal(0.0, 0.1),
                &device,
            );
            let b = Tensor::<1>::random([co], Distribution::Normal(0.0, 0.1), &device);
            let pad = [k[0] / 2, (k[0] - 1) / 2, k[1] / 2, (k[1] - 1) / 2];
            let pad = if k[0] == 1 { [0; 4] } else { pad };
            let mut out = [0; 4];
            let ms = median_ms(|| {
                let y = asd_model::ops::conv2d_bias_relu(
                    x.clone(),
                    wt.clone(),
                    b.clone(),
                    [if k[0] == 1 { 1 } else { s }, s],
                    pad,
                    true,
                );
                out = y.dims();
                drop(y.into_data());
            });
            let flops = 2.0 * (out[0] * out[1] * out[2] * out[3] * ci * k[0] * k[1]) as f64;
            total += ms * n as f64;
            println!(
                "| {name} | {n} | {batch} | {ms:.2} | {:.0} |",
                flops / ms / 1e6
            );
        }
        println!("| all convolutions of a pass | | {batch} | {total:.1} | |");
    }
    Ok(())
}
