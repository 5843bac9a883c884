//! `asd bench train`: time one training step (both forward passes, backward, Adam) and one inference batch of the
//! full network, reporting clips/s and the process's peak memory; `asd bench infer`: a model's inference
//! alone, per batch size.

use crate::batch::HostBatch;
use crate::data::{StepDraws, TrainBatch};
use crate::error::ModelError;
use crate::network::NetConfig;
use crate::train::{TrainConfig, TrainSession, Trainable, initial_scales, optimizer};
use asd_audio::FeatureExtractor;
use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub batch: usize,
    pub clip_seconds: f64,
    pub classes: usize,
    pub threads: usize,
    /// Whether the training step ran the reference's un-mixed forward pass.
    pub unmixed_pass: bool,
    /// Median seconds of one training step as the reference's (both forward passes, both heads,
    /// backward, Adam; features excluded).
    pub train_step_s: f64,
    pub train_clips_per_s: f64,
    /// Median seconds of one eval-mode forward pass (features excluded).
    pub inference_s: f64,
    pub inference_clips_per_s: f64,
    /// The same with BatchNorm folded into the neighbouring layers.
    pub inference_folded_s: f64,
    /// Seconds to compute the features of one batch (realfft, all cores).
    pub features_s: f64,
    /// Seconds to prepare one training batch: mixup and the features of the mixed and the un-mixed
    /// clips (done a few batches ahead of the step, on worker threads).
    pub train_features_s: f64,
    /// Peak resident memory of the process (VmHWM), MiB; None where /proc is unavailable.
    pub peak_rss_mib: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The median seconds of `runs` calls of `f`, after one untimed call if `warm_up`.
fn median_time(
    runs: usize,
    warm_up: bool,
    mut f: impl FnMut() -> Result<(), ModelError>,
) -> Result<f64, ModelError> {
    if warm_up {
        f()?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// Times `steps` training steps and inference passes on random noise clips (after one warm-up each).
/// (~100 lines: the synthetic batch, then five timings in order; each timing is one call of
/// `median_time`.)
pub fn bench_train(
    batch: usize,
    clip_seconds: f64,
    classes: usize,
    steps: usize,
    unmixed_pass: bool,
    device: &Device,
) -> Result<BenchReport, ModelError> {
    if steps == 0 {
        return Err(ModelError::Config(
            "the benchmark needs at least one timed step".into(),
        ));
    }
    if batch < 2 {
        return Err(ModelError::Config(
            "a training step needs at least 2 clips (BatchNorm over one clip has no variance); \
             `asd bench infer --batch 1` times the inference of one clip"
                .into(),
        ));
    }
    let clip_len = asd_audio::model_samples(clip_seconds);
    let cfg = NetConfig::new(clip_len);
    cfg.validate()?;
    let clips = noise_clips(batch, clip_len, 0);
    let fx = FeatureExtractor::new(clip_len);
    let hb = HostBatch::from_clips(&fx, &clips);
    let labels: Vec<f32> = (0..batch)
        .flat_map(|i| (0..classes).map(move |c| if c == i % classes { 1.0 } else { 0.0 }))
        .collect();
    let tc = TrainConfig {
        unmixed_pass,
        ..TrainConfig::default()
    };
    // The training step's input: mixup, then the features of the mixed and the un-mixed clips.
    let prepare = || {
        TrainBatch::prepare(
            &fx,
            &clips,
            &labels,
            classes,
            tc.mixup_prob,
            tc.unmixed_pass,
            StepDraws::seeded(0, 0, 0, batch),
        )
    };
    let mut tb = prepare();
    let train_features_s = median_time(steps, false, || {
        tb = prepare();
        Ok(())
    })?;
    let features_s = median_time(steps, false, || {
        let _ = HostBatch::from_clips(&fx, &clips);
        Ok(())
    })?;

    let ad = device.clone().autodiff();
    let model = Trainable::init(&cfg, classes, false, 0, &ad)?;
    let mut session = TrainSession::new(
        model,
        optimizer(&tc),
        initial_scales(classes),
        &tc,
        classes,
        &ad,
    );
    let train_step_s = median_time(steps, true, || {
        session.step(&tb)?;
        // Wait for the device so the time is the step's, not its launch's.
        let _ = ad.sync();
        Ok(())
    })?;
    let net =
        crate::network::EmbeddingNet::load(&mut crate::params::SeededInit::new(0), &cfg, device)?;
    let inference_s = median_time(steps, true, || {
        let (s, st) = hb.to_device(device);
        let _ = net.embed(s, st, false).into_data();
        Ok(())
    })?;
    let folded = net.folded_for_inference();
    let inference_folded_s = median_time(steps, true, || {
        let (s, st) = hb.to_device(device);
        let _ = folded.embed(s, st, false).into_data();
        Ok(())
    })?;
    Ok(BenchReport {
        batch,
        clip_seconds,
        classes,
        threads: rayon::current_num_threads(),
        unmixed_pass,
        train_step_s,
        train_clips_per_s: batch as f64 / train_step_s,
        inference_s,
        inference_clips_per_s: batch as f64 / inference_s,
        inference_folded_s,
        features_s,
        train_features_s,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// `n` clips of uniform noise in ±0.1 (the benchmarks' input), from `seed`.
pub fn noise_clips(n: usize, clip_len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..clip_len)
                .map(|_| rng.random_range(-0.1f32..0.1))
                .collect()
        })
        .collect()
}

/// One batch size of [`bench_infer`].
#[derive(Debug, Clone, Serialize)]
pub struct InferRow {
    pub batch: usize,
    /// Median seconds to compute the features of one batch (realfft, all cores).
    pub features_s: f64,
    /// Median seconds of one eval-mode pass of the folded network (features excluded).
    pub network_s: f64,
    /// `batch / (features_s + network_s)`.
    pub clips_per_s: f64,
}

/// What [`bench_infer`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct InferReport {
    pub clip_len: usize,
    /// Threads of the pool the features and the network ran on.
    pub threads: usize,
    pub rows: Vec<InferRow>,
}

/// `asd bench infer`: the folded network's inference time for each batch size (the monitor embeds one
/// clip at a time, `asd embed` 32), on the given clips (cycled to fill a batch); `repeats` timed runs
/// after one warm-up, medians reported. Compare with benches/ort_inference.py (ONNX Runtime, PyTorch).
pub fn bench_infer(
    net: &crate::network::EmbeddingNet,
    clip_len: usize,
    clips: &[Vec<f32>],
    batches: &[usize],
    repeats: usize,
    device: &Device,
) -> Result<InferReport, ModelError> {
    if clips.is_empty() || repeats == 0 || batches.contains(&0) {
        return Err(ModelError::Config(
            "the benchmark needs at least one clip, one timed run and batches of at least one clip"
                .into(),
        ));
    }
    let fx = FeatureExtractor::new(clip_len);
    let folded = net.folded_for_inference();
    let rows = batches
        .iter()
        .map(|&batch| {
            let chosen: Vec<Vec<f32>> = (0..batch)
                .map(|i| asd_audio::fit_length(&clips[i % clips.len()], clip_len, 0))
                .collect();
            let mut hb = HostBatch::from_clips(&fx, &chosen);
            let features_s = median_time(repeats, true, || {
                hb = HostBatch::from_clips(&fx, &chosen);
                Ok(())
            })?;
            let network_s = median_time(repeats, true, || {
                let (s, st) = hb.to_device(device);
                let _ = folded.embed(s, st, false).into_data();
                Ok(())
            })?;
            Ok(InferRow {
                batch,
                features_s,
                network_s,
                clips_per_s: batch as f64 / (features_s + network_s),
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    Ok(InferReport {
        clip_len,
        threads: rayon::current_num_threads(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timed_steps_is_an_error_not_a_panic() {
        let r = bench_train(2, 5.0, 2, 0, true, &Device::flex());
        assert!(matches!(r, Err(ModelError::Config(m)) if m.contains("at least one")));
        let r = bench_train(1, 5.0, 2, 1, true, &Device::flex());
        assert!(matches!(r, Err(ModelError::Config(m)) if m.contains("bench infer --batch 1")));
    }

    #[test]
    fn inference_bench_reports_each_batch_size_and_refuses_empty_input() {
        let cfg = NetConfig::new(NetConfig::MIN_CLIP_LEN);
        let device = Device::flex();
        let net = crate::network::EmbeddingNet::load(
            &mut crate::params::SeededInit::new(0),
            &cfg,
            &device,
        )
        .unwrap();
        // One clip shorter than the model's length: tiled to fill it, as `asd embed` does.
        let clip = vec![0.01f32; cfg.clip_len / 3];
        let rows = bench_infer(
            &net,
            cfg.clip_len,
            std::slice::from_ref(&clip),
            &[1, 3],
            1,
            &device,
        )
        .unwrap()
        .rows;
        assert_eq!(rows.iter().map(|r| r.batch).collect::<Vec<_>>(), [1, 3]);
        for r in &rows {
            assert!(r.features_s > 0.0 && r.network_s > 0.0);
            let rate = r.batch as f64 / (r.features_s + r.network_s);
            assert!((r.clips_per_s - rate).abs() <= 1e-9 * rate);
        }
        for (clips, batches, repeats) in [
            (vec![], vec![1], 1),
            (vec![clip.clone()], vec![0], 1),
            (vec![clip], vec![1], 0),
        ] {
            let r = bench_infer(&net, cfg.clip_len, &clips, &batches, repeats, &device);
            assert!(matches!(r, Err(ModelError::Config(_))));
        }
    }
}
