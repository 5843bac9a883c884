//! Embeds one batch (32 clips of 10 s, BatchNorm folded, as `asd embed` runs) again and again and
//! prints the median time: a steady inference workload to run under a profiler, e.g.
//! `perf record -g target/release/examples/embed_loop 30`.
//!
//! `cargo build --release -p asd-model --example embed_loop`

use asd_audio::FeatureExtractor;
use asd_model::batch::HostBatch;
use asd_model::network::{EmbeddingNet, NetConfig};
use asd_model::params::SeededInit;
use burn::tensor::Device;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10)
        .max(1);
    let clip_len = 160_000;
    let cfg = NetConfig::new(clip_len);
    let clips: Vec<Vec<f32>> = (0..32)
        .map(|c| {
            (0..clip_len)
                .map(|i| ((i * 7919 + c * 13) % 1000) as f32 / 5000.0 - 0.1)
                .collect()
        })
        .collect();
    let batch = HostBatch::from_clips(&FeatureExtractor::new(clip_len), &clips);
    let device = Device::flex();
    let net = EmbeddingNet::load(&mut SeededInit::new(0), &cfg, &device)?.folded_for_inference();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let (spectrum, stft) = batch.to_device(&device);
            let _ = net.embed(spectrum, stft, false).into_data();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "embedding 32 clips of 10 s: median {:.1} ms, best {:.1} ms over {runs} runs",
        times[runs / 2] * 1e3,
        times[0] * 1e3
    );
    Ok(())
}
