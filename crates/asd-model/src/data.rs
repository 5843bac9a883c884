//! The training data pipeline: clips are decoded, cut to length, mixed up and turned into features on
//! worker threads, a few batches ahead of the training step. Only those batches are in memory, never the
//! dataset.

use crate::batch::HostBatch;
use asd_audio::{FeatureExtractor, LoadOptions, fit_length, load_clip, random_offset};
use asd_core::seed::derive_seed;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};

/// A clip that could not be read, and why.
pub type Failure = (PathBuf, String);

/// One training clip and its auxiliary class.
#[derive(Debug, Clone)]
pub struct TrainItem {
    pub path: PathBuf,
    pub class: usize,
}

/// A batch ready for the network: features plus soft labels (B × C, rows sum to 1).
#[derive(Debug)]
pub struct TrainBatch {
    pub features: HostBatch,
    pub labels: Vec<f32>,
    /// Clips of the planned batch that could not be read, with the reason.
    pub failures: Vec<(PathBuf, String)>,
}

/// The order of the clips in an epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
        seed,
        &[epoch as u64, 0x5348],
    )));
    idx
}

/// Batches of an epoch; a last batch of a single clip is dropped (BatchNorm needs two).
pub fn epoch_batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    epoch_order(n, seed, epoch)
        .chunks(batch.max(1))
        .filter(|c| c.len() >= 2)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Mixup as the reference applies it: the output batch is the input reversed, and with probability `p`
/// a row becomes λ·x_i + (1 − λ)·x_{B−1−i} (λ uniform in [0, 1]); labels alike.
pub fn mixup(
    waves: &[Vec<f32>],
    labels: &[f32],
    classes: usize,
    p: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let b = waves.len();
    let mut out_w = Vec::with_capacity(b);
    let mut out_l = vec![0.0f32; labels.len()];
    for i in 0..b {
        let lam: f32 = rng.random();
        let apply = rng.random::<f64>() < p;
        let r = b - 1 - i;
        let lab = &mut out_l[i * classes..(i + 1) * classes];
        if apply {
            out_w.push(
                waves[i]
                    .iter()
                    .zip(&waves[r])
                    .map(|(a, c)| lam * a + (1.0 - lam) * c)
                    .collect(),
            );
            for k in 0..classes {
                lab[k] = lam * labels[i * classes + k] + (1.0 - lam) * labels[r * classes + k];
            }
        } else {
            out_w.push(waves[r].clone());
            lab.copy_from_slice(&labels[r * classes..(r + 1) * classes]);
        }
    }
    (out_w, out_l)
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub clip_len: usize,
    pub classes: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub mixup_prob: f64,
    /// Batches prepared ahead of the training step.
    pub prefetch: usize,
    pub load: LoadOptions,
}

/// Loads and prepares one batch (in parallel over its clips).
pub fn make_batch(
    items: &[TrainItem],
    idx: &[usize],
    fx: &FeatureExtractor,
    cfg: &PipelineConfig,
    epoch: usize,
    batch_no: usize,
) -> TrainBatch {
    let opts = cfg.load;
    let loaded: Vec<Result<(Vec<f32>, usize), Failure>> = idx
        .par_iter()
        .map(|&i| {
            let it = &items[i];
            let audio = load_clip(&it.path, &opts).map_err(|e| (it.path.clone(), e.to_string()))?;
            let mut rng =
                ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, &[epoch as u64, i as u64, 0x4f46]));
            let off = random_offset(audio.samples.len(), cfg.clip_len, &mut rng);
            Ok((fit_length(&audio.samples, cfg.clip_len, off), it.class))
        })
        .collect();
    let mut waves = Vec::new();
    let mut labels = Vec::new();
    let mut failures = Vec::new();
    for r in loaded {
        match r {
            Ok((w, c)) => {
                waves.push(w);
                let mut row = vec![0.0f32; cfg.classes];
                row[c] = 1.0;
                labels.extend(row);
            }
            Err(f) => failures.push(f),
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
        cfg.seed,
        &[epoch as u64, batch_no as u64, 0x4d58],
    ));
    let (waves, labels) = mixup(&waves, &labels, cfg.classes, cfg.mixup_prob, &mut rng);
    TrainBatch {
        features: HostBatch::from_clips(fx, &waves),
        labels,
        failures,
    }
}

/// Starts a producer thread that prepares the epoch's batches in order.
pub fn spawn_epoch(
    items: std::sync::Arc<Vec<TrainItem>>,
    cfg: PipelineConfig,
    epoch: usize,
) -> Receiver<TrainBatch> {
    let (tx, rx) = sync_channel(cfg.prefetch.max(1));
    std::thread::spawn(move || {
        let fx = FeatureExtractor::new(cfg.clip_len);
        for (b, idx) in epoch_batches(items.len(), cfg.batch_size, cfg.seed, epoch)
            .iter()
            .enumerate()
        {
            if tx
                .send(make_batch(&items, idx, &fx, &cfg, epoch, b))
                .is_err()
            {
                break;
            }
        }
    });
    rx
}
