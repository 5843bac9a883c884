//! Training one embedding model on the auxiliary classification task (AdaProj on the concatenated
//! embedding, plus a feature-exchange head over 3 × classes), with Adam.

use crate::adaproj::{AdaProj, initial_scale, soft_cross_entropy, updated_scale};
use crate::data::{PipelineConfig, TrainBatch, TrainItem, epoch_batches, spawn_epoch};
use crate::error::ModelError;
use crate::layers::host;
use crate::network::{EmbeddingNet, NetConfig};
use crate::params::{ParamSource, SeededInit};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
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
    /// Let the main AdaProj head's class sub-spaces train (the paper keeps them fixed; the
    /// feature-exchange head always trains, as in the reference).
    pub trainable_centers: bool,
    /// Run the un-mixed batch through the network in train mode before the mixed one, as the
    /// reference does: its output is unused, but it updates every BatchNorm's running statistics a
    /// second time per step, and the eval-mode embeddings depend on them.
    #[serde(default = "yes")]
    pub unmixed_pass: bool,
    /// Train target-domain clips with their labels too (a deviation from the reference, which trains
    /// on source-domain labels only; for measuring what that choice does).
    #[serde(default)]
    pub target_labels: bool,
}

fn yes() -> bool {
    true
}

impl TrainConfig {
    /// Refuses settings no training can run with, naming the setting and the value: the one check
    /// behind `asd train`'s flags, a run config's training settings and [`crate::fit::fit`].
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |s: String| Err(ModelError::Config(s));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size must be at least 2 (mixup pairs clips), got {}",
                self.batch_size
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.learning_rate) {
            return bad(format!(
                "learning_rate must be positive, got {}",
                self.learning_rate
            ));
        }
        if !positive(self.adam_eps) {
            return bad(format!("adam_eps must be positive, got {}", self.adam_eps));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "weight_decay must be at least 0, got {}",
                self.weight_decay
            ));
        }
        for (name, p) in [
            ("mixup_prob", self.mixup_prob),
            ("feature_exchange_prob", self.feature_exchange_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must lie in [0, 1], got {p}"));
            }
        }
        Ok(())
    }
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
            unmixed_pass: true,
            target_labels: false,
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
        // The reference always trains the feature-exchange head (`AdaProj(..., trainable=True)`).
        let head_featex = AdaProj::new(src, "adaproj_featex.W", 3 * classes, 512, true, device)?;
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
    /// Share of the labelled mixed rows whose largest logit is their dominant class.
    pub accuracy: f64,
    pub clips: usize,
    pub seconds: f64,
    pub clips_per_s: f64,
    /// Clips trained on with their label, and with an all-zero label (target-domain clips).
    #[serde(default)]
    pub labelled: usize,
    #[serde(default)]
    pub unlabelled: usize,
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

/// Rows (of `classes` logits and soft labels) that carry a label, and those whose largest logit is
/// their dominant class: the training accuracy's counts (a mixed row of two zero-labelled clips has
/// no label).
pub(crate) fn labelled_and_correct(cos: &[f32], labels: &[f32], classes: usize) -> (usize, usize) {
    let (mut scored, mut correct) = (0, 0);
    for (cr, lab) in cos.chunks(classes).zip(labels.chunks(classes)) {
        if lab.iter().any(|&v| v > 0.0) {
            scored += 1;
            correct += usize::from(argmax(cr) == argmax(lab));
        }
    }
    (scored, correct)
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}

/// Feature exchange as the reference applies it: where it applies (`fx_u[i] < p`) a row takes the
/// FFT-branch embedding of its partner (the batch reversed) and the label [0 | ½·own | ½·partner's]
/// (own class in the second block, the partner's in the third); other rows keep theirs with the label
/// [own | 0 | 0]. Returns the FFT-branch row each row takes, and the labels (B × 3C).
pub fn featex_plan(labels: &[f32], classes: usize, p: f64, fx_u: &[f64]) -> (Vec<i64>, Vec<f32>) {
    let b = labels.len() / classes.max(1);
    let mut perm = Vec::with_capacity(b);
    let mut y = vec![0.0f32; b * 3 * classes];
    for i in 0..b {
        let r = b - 1 - i;
        let row = &mut y[i * 3 * classes..(i + 1) * 3 * classes];
        if fx_u[i] < p {
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

/// What one step computed, for a test or a profiler to look at before the optimizer runs.
pub struct StepTrace<'a> {
    pub model: &'a Trainable,
    /// The mixed batch's concatenated branch embeddings before normalisation (B × 512).
    pub emb_mix: Tensor<2>,
    /// The same after feature exchange.
    pub emb_featex: Tensor<2>,
    /// Labels of the feature-exchange head (B × 3C).
    pub y_featex: &'a [f32],
    pub grads: &'a burn::tensor::Gradients,
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy)]
pub struct StepLosses {
    pub loss: f64,
    pub loss_head: f64,
    pub loss_featex: f64,
    /// Labelled mixed rows, and those whose largest head logit is their dominant class.
    pub scored: usize,
    pub correct: usize,
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(host(t.detach()).first().copied().unwrap_or(f32::NAN))
}

/// One optimisation step as the reference's `training_step`: the un-mixed forward pass (BatchNorm
/// statistics only), the mixed forward pass, feature exchange, both heads' losses with their adaptive
/// scales updated from this batch, backward, Adam. `inspect` sees the step before the optimizer.
#[allow(clippy::too_many_arguments)]
pub fn step(
    mut model: Trainable,
    optim: &mut burn::optim::ModuleOptimizer,
    scales: &mut Scales,
    batch: &TrainBatch,
    cfg: &TrainConfig,
    classes: usize,
    device: &Device,
    inspect: Option<&mut dyn FnMut(&StepTrace<'_>)>,
) -> Result<(Trainable, StepLosses), ModelError> {
    let b = batch.features.batch;
    if let Some(clean) = &batch.clean {
        let (spec, stft) = clean.to_device(device);
        model.net.update_running_stats(spec, stft);
    }
    let (spec, stft) = batch.features.to_device(device);
    let (f, s) = model.net.branches(spec, stft, true);
    let labels = Tensor::from_data(TensorData::new(batch.labels.clone(), [b, classes]), device);

    let emb = Tensor::cat(vec![f.clone(), s.clone()], 1);
    let cos = model.head.cos_logits(emb.clone());
    let cos_host = host(cos.clone().detach());
    scales.head = updated_scale(&cos_host, &batch.labels, classes, scales.head);
    let loss_head = soft_cross_entropy(cos, labels, scales.head);

    let (perm, y_fx) = featex_plan(
        &batch.labels,
        classes,
        cfg.feature_exchange_prob,
        &batch.draws.fx_u,
    );
    let perm = Tensor::<1, Int>::from_data(TensorData::new(perm, [b]), device);
    let emb_fx = Tensor::cat(vec![f.select(0, perm), s], 1);
    let cos_fx = model.head_featex.cos_logits(emb_fx.clone());
    let cos_fx_host = host(cos_fx.clone().detach());
    scales.head_featex = updated_scale(&cos_fx_host, &y_fx, 3 * classes, scales.head_featex);
    let y_fx_t = Tensor::from_data(TensorData::new(y_fx.clone(), [b, 3 * classes]), device);
    let loss_featex = soft_cross_entropy(cos_fx, y_fx_t, scales.head_featex);

    let (head_v, featex_v) = (scalar(loss_head.clone()), scalar(loss_featex.clone()));
    let loss = loss_head + loss_featex;
    let loss_v = scalar(loss.clone());
    if !loss_v.is_finite() {
        return Err(ModelError::Input(format!(
            "the loss became {loss_v}; lower the learning rate or check the data"
        )));
    }
    let grads = loss.backward();
    if let Some(f) = inspect {
        f(&StepTrace {
            model: &model,
            emb_mix: emb.detach(),
            emb_featex: emb_fx.detach(),
            y_featex: &y_fx,
            grads: &grads,
        });
    }
    let grads = GradientsParams::from_grads(grads, &model);
    model = optim.step(cfg.learning_rate, model, grads);

    let (scored, correct) = labelled_and_correct(&cos_host, &batch.labels, classes);
    Ok((
        model,
        StepLosses {
            loss: loss_v,
            loss_head: head_v,
            loss_featex: featex_v,
            scored,
            correct,
        },
    ))
}

/// A model in training: the module, Adam's state and the AdaProj scales, with the settings every
/// step needs, so that a step is `session.step(&batch)` (as burn's guide keeps the loss on the
/// model, `examples/guide/src/training.rs`).
pub struct TrainSession {
    /// `None` only after a step failed midway (the module moves through burn's optimizer).
    model: Option<Trainable>,
    pub optim: burn::optim::ModuleOptimizer,
    pub scales: Scales,
    pub cfg: TrainConfig,
    pub classes: usize,
    pub device: Device,
}

fn lost_model() -> ModelError {
    ModelError::Config("the model was lost in a failed training step".into())
}

impl TrainSession {
    pub fn new(
        model: Trainable,
        optim: burn::optim::ModuleOptimizer,
        scales: Scales,
        cfg: &TrainConfig,
        classes: usize,
        device: &Device,
    ) -> Self {
        Self {
            model: Some(model),
            optim,
            scales,
            cfg: cfg.clone(),
            classes,
            device: device.clone(),
        }
    }

    pub fn model(&self) -> Result<&Trainable, ModelError> {
        self.model.as_ref().ok_or_else(lost_model)
    }

    pub fn into_model(self) -> Result<Trainable, ModelError> {
        self.model.ok_or_else(lost_model)
    }

    /// One optimisation step on a batch ([`step`]).
    pub fn step(&mut self, batch: &TrainBatch) -> Result<StepLosses, ModelError> {
        let model = self.model.take().ok_or_else(lost_model)?;
        let (model, losses) = step(
            model,
            &mut self.optim,
            &mut self.scales,
            batch,
            &self.cfg,
            self.classes,
            &self.device,
            None,
        )?;
        self.model = Some(model);
        Ok(losses)
    }

    /// One epoch: its batches, prepared ahead on other threads, a step each; `on_step` sees the
    /// running figures after every step. Returns the epoch's report and the clips that could not
    /// be read.
    pub fn epoch(
        &mut self,
        epoch: usize,
        items: &Arc<Vec<TrainItem>>,
        pipe: &PipelineConfig,
        on_step: &mut dyn FnMut(StepReport),
    ) -> Result<(EpochReport, Vec<crate::data::Failure>), ModelError> {
        let start = Instant::now();
        let steps = epoch_batches(items.len(), self.cfg.batch_size, self.cfg.seed, epoch).len();
        let rx = spawn_epoch(items.clone(), pipe.clone(), epoch);
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        for (step_no, batch) in rx.into_iter().enumerate() {
            failures.extend(batch.failures.iter().cloned());
            if batch.features.batch < 2 {
                continue;
            }
            let out = self.step(&batch).map_err(|e| match e {
                ModelError::Input(m) => {
                    ModelError::Input(format!("epoch {} step {}: {m}", epoch + 1, step_no + 1))
                }
                e => e,
            })?;
            tally.add(&batch, &out);
            on_step(StepReport {
                epoch,
                step: step_no,
                steps,
                clips: tally.clips,
                loss: tally.loss(),
                accuracy: tally.accuracy(),
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch: epoch + 1,
            loss: tally.loss(),
            accuracy: tally.accuracy(),
            clips: tally.clips,
            seconds,
            clips_per_s: tally.clips as f64 / seconds.max(1e-9),
            labelled: tally.labelled,
            unlabelled: tally.unlabelled,
        };
        Ok((report, failures))
    }
}

/// An epoch's running sums.
#[derive(Default)]
struct Tally {
    loss_sum: f64,
    clips: usize,
    scored: usize,
    correct: usize,
    labelled: usize,
    unlabelled: usize,
}

impl Tally {
    fn add(&mut self, batch: &TrainBatch, out: &StepLosses) {
        let b = batch.features.batch;
        self.scored += out.scored;
        self.correct += out.correct;
        self.labelled += batch.labelled;
        self.unlabelled += batch.unlabelled;
        self.loss_sum += out.loss * b as f64;
        self.clips += b;
    }

    fn loss(&self) -> f64 {
        self.loss_sum / self.clips.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.scored.max(1) as f64
    }
}

/// Called after each epoch with the session (module, optimizer, scales), the report and the clips
/// that could not be read (to checkpoint and log).
pub type EpochHook<'a> =
    dyn FnMut(&TrainSession, &EpochReport, &[crate::data::Failure]) -> Result<(), ModelError> + 'a;

/// The batch pipeline of a training run.
pub fn pipeline(
    net_cfg: &NetConfig,
    cfg: &TrainConfig,
    classes: usize,
    load: asd_audio::LoadOptions,
) -> PipelineConfig {
    PipelineConfig {
        clip_len: net_cfg.clip_len,
        classes,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        mixup_prob: cfg.mixup_prob,
        unmixed_pass: cfg.unmixed_pass,
        prefetch: 2,
        load,
    }
}

/// Trains for the epochs `first_epoch..cfg.epochs` and returns the per-epoch reports. `on_step`
/// sees every step; `on_epoch` may checkpoint after each epoch.
pub fn train(
    session: &mut TrainSession,
    items: Arc<Vec<TrainItem>>,
    pipe: &PipelineConfig,
    first_epoch: usize,
    on_step: &mut dyn FnMut(StepReport),
    on_epoch: &mut EpochHook<'_>,
) -> Result<Vec<EpochReport>, ModelError> {
    let mut reports = Vec::new();
    for epoch in first_epoch..session.cfg.epochs {
        let (report, failures) = session.epoch(epoch, &items, pipe, on_step)?;
        on_epoch(session, &report, &failures)?;
        reports.push(report);
    }
    Ok(reports)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_settings_are_checked_with_their_name() {
        assert!(TrainConfig::default().validate().is_ok());
        type Spoil = fn(&mut TrainConfig);
        let cases: [(&str, Spoil); 7] = [
            ("epochs", |c| c.epochs = 0),
            ("batch_size", |c| c.batch_size = 1),
            ("learning_rate", |c| c.learning_rate = f64::NAN),
            ("adam_eps", |c| c.adam_eps = 0.0),
            ("weight_decay", |c| c.weight_decay = -1e-5),
            ("mixup_prob", |c| c.mixup_prob = 1.5),
            ("feature_exchange_prob", |c| c.feature_exchange_prob = -0.1),
        ];
        for (name, spoil) in cases {
            let mut c = TrainConfig::default();
            spoil(&mut c);
            match c.validate() {
                Err(ModelError::Config(m)) => assert!(m.starts_with(name), "{name}: {m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
