//! Where an inference pass's time goes: the features, the FFT branch and the STFT branch of the
//! folded network (eval mode), at batch 1 and 32 with 10 s clips; medians of 7 runs.
//!
//! `cargo run --release -p asd-model --example infer_profile`

use asd_audio::FeatureExtractor;
use asd_model::batch::HostBatch;
use asd_model::{EmbeddingNet, NetConfig, SeededInit};
use burn::tensor::Device;
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
    Ok(())
}
