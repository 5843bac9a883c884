//! Training one embedding model on the auxiliary classification task (AdaProj on the concatenated
//! embedding, plus a feature-exchange head over 3 × classes), with Adam.

use crate::adaproj::{AdaProj, initial_scale, soft_cross_entropy, updated_scale};
use crate::data::{PipelineConfig, TrainItem, epoch_batches, spawn_epoch};
use crate::error::ModelError;
use crate::layers::host;
use crate::network::{EmbeddingNet, NetConfig};
use crate::params::{ParamSource, SeededInit};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Training settings; the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// L2 penalty added to the gradient (PyTorch Adam's `weight_decay`).
    pub weight_decay: f64,
    pub adam_eps: f64,
    pub seed: u64,
    pub mixup_prob: f64,
    pub feature_exchange_prob: f64,
    /// Let the AdaProj class sub-spaces train (the paper keeps them fixed).
    pub trainable_centers: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-5,
            adam_eps: 1e-7,
            seed: 0,
            mixup_prob: 0.5,
            feature_exchange_prob: 0.5,
            trainable_centers: false,
        }
    }
}

/// Everything that is trained: the network and both classification heads.
#[derive(Module, Debug)]
pub struct Trainable {
    pub net: EmbeddingNet,
    pub head: AdaProj,
    pub head_featex: AdaProj,
}

impl Trainable {
    pub fn init(
        cfg: &NetConfig,
        classes: usize,
        trainable_centers: bool,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut src = SeededInit::new(seed);
        Self::load(&mut src, cfg, classes, trainable_centers, device)
    }

    pub fn load(
        src: &mut dyn ParamSource,
        cfg: &NetConfig,
        classes: usize,
        trainable_centers: bool,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let net = EmbeddingNet::load(src, cfg, device)?;
        let head = AdaProj::new(src, "adaproj.W", classes, 512, trainable_centers, device)?;
        let head_featex = AdaProj::new(
            src,
            "adaproj_featex.W",
            3 * classes,
            512,
            trainable_centers,
            device,
        )?;
        Ok(Self {
            net,
            head,
            head_featex,
        })
    }
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f64,
    /// Share of clips whose largest logit is their (dominant) class.
    pub accuracy: f64,
    pub clips: usize,
    pub seconds: f64,
    pub clips_per_s: f64,
}

/// Progress after each step.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    pub clips: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// Training state carried between epochs (and through checkpoints).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Scales {
    pub head: f64,
    pub head_featex: f64,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}

/// Feature exchange as the reference applies it: with probability `p` a row takes the FFT-branch
/// embedding of its partner (the batch reversed) and the label ½·(partner's class in the second block)
/// + ½·(own class in the third block); other rows keep theirs with their label in the first block.
pub fn featex_plan(
    labels: &[f32],
    classes: usize,
    p: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<i64>, Vec<f32>) {
    let b = labels.len() / classes.max(1);
    let mut perm = Vec::with_capacity(b);
    let mut y = vec![0.0f32; b * 3 * classes];
    for i in 0..b {
        let r = b - 1 - i;
        let row = &mut y[i * 3 * classes..(i + 1) * 3 * classes];
        if rng.random::<f64>() < p {
            perm.push(r as i64);
            for k in 0..classes {
                row[classes + k] = 0.5 * labels[i * classes + k];
                row[2 * classes + k] = 0.5 * labels[r * classes + k];
            }
        } else {
            perm.push(i as i64);
            row[..classes].copy_from_slice(&labels[i * classes..(i + 1) * classes]);
        }
    }
    (perm, y)
}

/// Called after each epoch with the model, the optimizer, the scales, the report and the clips that
/// could not be read (to checkpoint and log).
pub type EpochHook<'a> = dyn FnMut(
        &Trainable,
        &burn::optim::ModuleOptimizer,
        Scales,
        &EpochReport,
        &[crate::data::Failure],
    ) -> Result<(), ModelError>
    + 'a;

/// Trains for the epochs `first_epoch..cfg.epochs` and returns the trained module, its optimizer state
/// and the per-epoch reports. `on_step` sees every step; `on_epoch` may checkpoint (it gets the module,
/// the optimizer and the scales after each epoch).
#[allow(clippy::too_many_arguments)]
pub fn train(
    mut model: Trainable,
    mut optim: burn::optim::ModuleOptimizer,
    mut scales: Scales,
    items: Arc<Vec<TrainItem>>,
    net_cfg: &NetConfig,
    cfg: &TrainConfig,
    classes: usize,
    first_epoch: usize,
    load: asd_audio::LoadOptions,
    device: &Device,
    on_step: &mut dyn FnMut(StepReport),
    on_epoch: &mut EpochHook<'_>,
) -> Result<(Trainable, burn::optim::ModuleOptimizer, Vec<EpochReport>), ModelError> {
    let pipe = PipelineConfig {
        clip_len: net_cfg.clip_len,
        classes,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        mixup_prob: cfg.mixup_prob,
        prefetch: 2,
        load,
    };
    let mut reports = Vec::new();
    for epoch in first_epoch..cfg.epochs {
        let start = Instant::now();
        let steps = epoch_batches(items.len(), cfg.batch_size, cfg.seed, epoch).len();
        let rx = spawn_epoch(items.clone(), pipe.clone(), epoch);
        let (mut loss_sum, mut correct, mut clips) = (0.0f64, 0usize, 0usize);
        let mut failures = Vec::new();
        for (step, batch) in rx.into_iter().enumerate() {
            failures.extend(batch.failures.iter().cloned());
            let b = batch.features.batch;
            if b < 2 {
                continue;
            }
            let (spec, stft) = batch.features.to_device(device);
            let (f, s) = model.net.branches(spec, stft, true);
            let labels =
                Tensor::from_data(TensorData::new(batch.labels.clone(), [b, classes]), device);

            let emb = Tensor::cat(vec![f.clone(), s.clone()], 1);
            let cos = model.head.cos_logits(emb);
            let cos_host = host(cos.clone().detach());
            scales.head = updated_scale(&cos_host, &batch.labels, classes, scales.head);
            let loss1 = soft_cross_entropy(cos, labels, scales.head);

            let mut rng = ChaCha8Rng::seed_from_u64(asd_core::seed::derive_seed(
                cfg.seed,
                &[epoch as u64, step as u64, 0x4645],
            ));
            let (perm, y_fx) =
                featex_plan(&batch.labels, classes, cfg.feature_exchange_prob, &mut rng);
            let perm = Tensor::<1, Int>::from_data(TensorData::new(perm, [b]), device);
            let f_ex = f.select(0, perm);
            let cos_fx = model.head_featex.cos_logits(Tensor::cat(vec![f_ex, s], 1));
            let cos_fx_host = host(cos_fx.clone().detach());
            scales.head_featex =
                updated_scale(&cos_fx_host, &y_fx, 3 * classes, scales.head_featex);
            let y_fx = Tensor::from_data(TensorData::new(y_fx, [b, 3 * classes]), device);
            let loss2 = soft_cross_entropy(cos_fx, y_fx, scales.head_featex);

            let loss = loss1 + loss2;
            let loss_v = f64::from(
                host(loss.clone().detach())
                    .first()
                    .copied()
                    .unwrap_or(f32::NAN),
            );
            if !loss_v.is_finite() {
                return Err(ModelError::Input(format!(
                    "the loss became {loss_v} in epoch {} step {}; lower the learning rate or check the data",
                    epoch + 1,
                    step + 1
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.learning_rate, model, grads);

            for r in 0..b {
                let lab = &batch.labels[r * classes..(r + 1) * classes];
                if argmax(&cos_host[r * classes..(r + 1) * classes]) == argmax(lab) {
                    correct += 1;
                }
            }
            loss_sum += loss_v * b as f64;
            clips += b;
            on_step(StepReport {
                epoch,
                step,
                steps,
                clips,
                loss: loss_sum / clips as f64,
                accuracy: correct as f64 / clips as f64,
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch: epoch + 1,
            loss: loss_sum / clips.max(1) as f64,
            accuracy: correct as f64 / clips.max(1) as f64,
            clips,
            seconds,
            clips_per_s: clips as f64 / seconds.max(1e-9),
        };
        on_epoch(&model, &optim, scales, &report, &failures)?;
        reports.push(report);
    }
    Ok((model, optim, reports))
}

/// A fresh Adam with the configured hyper-parameters.
pub fn optimizer(cfg: &TrainConfig) -> burn::optim::ModuleOptimizer {
    AdamConfig::new()
        .with_epsilon(cfg.adam_eps as f32)
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init()
}

pub fn initial_scales(classes: usize) -> Scales {
    Scales {
        head: initial_scale(classes),
        head_featex: initial_scale(3 * classes),
    }
}
