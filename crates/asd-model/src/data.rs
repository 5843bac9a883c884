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
    /// Whether the clip's label enters the loss. The reference trains on source-domain clips only:
    /// a target-domain clip gets an all-zero label row, so it still passes through the network
    /// (BatchNorm statistics, mixup partner, the adaptive scale's median) but adds no loss of its own.
    pub labelled: bool,
}

/// The label row of one clip: one-hot, or all zeros for a clip that is not trained on.
pub fn label_row(item: &TrainItem, classes: usize) -> Vec<f32> {
    let mut row = vec![0.0f32; classes];
    if item.labelled {
        row[item.class] = 1.0;
    }
    row
}

/// The random numbers of one training step, in the order the reference draws them. They are the
/// step's only source of randomness besides the clip order and crop offsets: normally drawn from the
/// seeded RNG ([`StepDraws::seeded`]); a test replays the reference's own draws through this seam.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDraws {
    /// Mixup weight of each row, uniform in [0, 1).
    pub lam: Vec<f32>,
    /// Mixup applies to row j where `mix_u[j] < mixup_prob`.
    pub mix_u: Vec<f64>,
    /// Feature exchange applies to row j where `fx_u[j] < feature_exchange_prob`.
    pub fx_u: Vec<f64>,
}

impl StepDraws {
    /// The draws of batch `batch_no` of `epoch`, for `rows` clips.
    pub fn seeded(seed: u64, epoch: usize, batch_no: usize, rows: usize) -> Self {
        let mut rng =
            ChaCha8Rng::seed_from_u64(derive_seed(seed, &[epoch as u64, batch_no as u64, 0x4d58]));
        let lam = (0..rows).map(|_| rng.random::<f32>()).collect();
        let mix_u = (0..rows).map(|_| rng.random::<f64>()).collect();
        let fx_u = (0..rows).map(|_| rng.random::<f64>()).collect();
        Self { lam, mix_u, fx_u }
    }
}

/// A batch ready for the network.
#[derive(Debug)]
pub struct TrainBatch {
    /// Features of the un-mixed clips, for the reference's extra train-mode forward pass (it only
    /// updates the BatchNorm statistics); `None` where that pass is skipped.
    pub clean: Option<HostBatch>,
    /// Features of the mixed clips.
    pub features: HostBatch,
    /// Mixed soft labels (B × C); a row is all zeros where both mixed clips are unlabelled.
    pub labels: Vec<f32>,
    pub draws: StepDraws,
    /// Clips of the batch trained with a label, and with an all-zero label (before mixup).
    pub labelled: usize,
    pub unlabelled: usize,
    /// Clips of the planned batch that could not be read, with the reason.
    pub failures: Vec<(PathBuf, String)>,
}

impl TrainBatch {
    /// Mixes `waves` (with their label rows, B × C) with `draws` and computes the features.
    pub fn prepare(
        fx: &FeatureExtractor,
        waves: &[Vec<f32>],
        labels: &[f32],
        classes: usize,
        mixup_prob: f64,
        unmixed_pass: bool,
        draws: StepDraws,
    ) -> Self {
        let (mixed, mixed_labels) = mixup(waves, labels, classes, mixup_prob, &draws);
        let unlabelled = labels
            .chunks(classes.max(1))
            .filter(|r| r.iter().all(|&v| v == 0.0))
            .count();
        Self {
            clean: unmixed_pass.then(|| HostBatch::from_clips(fx, waves)),
            features: HostBatch::from_clips(fx, &mixed),
            labels: mixed_labels,
            draws,
            labelled: waves.len() - unlabelled,
            unlabelled,
            failures: Vec::new(),
        }
    }
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

/// Mixup as the reference applies it: the output batch is the input reversed, and where it applies
/// (`mix_u[i] < p`) a row becomes λ_i·x_i + (1 − λ_i)·x_{B−1−i}; labels alike.
pub fn mixup(
    waves: &[Vec<f32>],
    labels: &[f32],
    classes: usize,
    p: f64,
    draws: &StepDraws,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let b = waves.len();
    let mut out_w = Vec::with_capacity(b);
    let mut out_l = vec![0.0f32; labels.len()];
    for i in 0..b {
        let lam = draws.lam[i];
        let apply = draws.mix_u[i] < p;
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
    /// Compute the un-mixed batch's features too, for the reference's extra forward pass.
    pub unmixed_pass: bool,
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
    // Each clip's samples and label row.
    type Loaded = Result<(Vec<f32>, Vec<f32>), Failure>;
    let loaded: Vec<Loaded> = idx
        .par_iter()
        .map(|&i| {
            let it = &items[i];
            let audio = load_clip(&it.path, &opts).map_err(|e| (it.path.clone(), e.to_string()))?;
            let mut rng =
                ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, &[epoch as u64, i as u64, 0x4f46]));
            let off = random_offset(audio.samples.len(), cfg.clip_len, &mut rng);
            Ok((
                fit_length(&audio.samples, cfg.clip_len, off),
                label_row(it, cfg.classes),
            ))
        })
        .collect();
    let mut waves = Vec::new();
    let mut labels = Vec::new();
    let mut failures = Vec::new();
    for r in loaded {
        match r {
            Ok((w, row)) => {
                waves.push(w);
                labels.extend(row);
            }
            Err(f) => failures.push(f),
        }
    }
    let draws = StepDraws::seeded(cfg.seed, epoch, batch_no, waves.len());
    let mut batch = TrainBatch::prepare(
        fx,
        &waves,
        &labels,
        cfg.classes,
        cfg.mixup_prob,
        cfg.unmixed_pass,
        draws,
    );
    batch.failures = failures;
    batch
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
