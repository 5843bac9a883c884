//! The authors' small network on frozen embeddings (their `BEATs-act`): BatchNorm(in) → Linear 512 →
//! BatchNorm → ReLU → Linear 128 → BatchNorm → ReLU → Dropout 0.5 → Linear 128, trained with AdaProj
//! (sub-space 32, adaptive scale) on the section-and-attribute classes of the source training clips.
//! Mixup mixes every row with its partner of the reversed batch (λ ~ U(0, 1) per row, labels alike);
//! the un-mixed batch is forwarded too, for the BatchNorm statistics only; target-domain training
//! clips carry an all-zero label row, as in the two-branch network's training. Vectors, not audio: an
//! epoch takes milliseconds to seconds. Every random draw (initial weights, batch order, mixup,
//! dropout) flows from the seed.

use crate::adaproj::{AdaProj, initial_scale, soft_cross_entropy, updated_scale};
use crate::error::ModelError;
use crate::layers::{BatchNorm, BatchNormConfig, Linear, LinearConfig, host};
use crate::params::SeededInit;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The head's widths, as the authors' code has them.
const HIDDEN: usize = 512;
const WIDTH: usize = 128;
/// Rows per inference batch.
const EMBED_BATCH: usize = 256;

/// Training settings of the head.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadConfig {
    /// Passes over the training vectors (the authors' default: 500).
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Probability of dropping a unit before the last layer.
    pub dropout: f64,
    pub seed: u64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            epochs: 500,
            batch_size: 64,
            learning_rate: 1e-3,
            dropout: 0.5,
            seed: 0,
        }
    }
}

#[derive(Module, Debug)]
pub struct Head {
    pub norm_in: BatchNorm,
    pub dense1: Linear,
    pub norm1: BatchNorm,
    pub dense2: Linear,
    pub norm2: BatchNorm,
    pub dense3: Linear,
    pub adaproj: AdaProj,
}

impl Head {
    /// A freshly initialised head for `dim`-dimensional inputs and `classes` classes.
    pub fn init(
        dim: usize,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        if dim == 0 || classes == 0 {
            return Err(ModelError::Config(format!(
                "a head needs inputs and classes, got {dim}-d inputs and {classes} classes"
            )));
        }
        let src = &mut SeededInit::new(seed);
        let bn = |c| BatchNormConfig::new(c).with_affine(true);
        Ok(Self {
            norm_in: bn(dim).init(src, "norm_in", device)?,
            dense1: LinearConfig::new(dim, HIDDEN).init(src, "dense1", device)?,
            norm1: bn(HIDDEN).init(src, "norm1", device)?,
            dense2: LinearConfig::new(HIDDEN, WIDTH).init(src, "dense2", device)?,
            norm2: bn(WIDTH).init(src, "norm2", device)?,
            dense3: LinearConfig::new(WIDTH, WIDTH).init(src, "dense3", device)?,
            adaproj: AdaProj::new(src, "adaproj.W", classes, WIDTH, false, device)?,
        })
    }

    /// The 128-d output; `keep` is the dropout mask (already scaled by 1 / (1 − p)) in training.
    fn forward(&self, x: Tensor<2>, train: bool, keep: Option<Tensor<2>>) -> Tensor<2> {
        let x = self.norm_in.forward(x, train);
        let x = relu(self.norm1.forward(self.dense1.forward(x), train));
        let mut x = relu(self.norm2.forward(self.dense2.forward(x), train));
        if let Some(k) = keep {
            x = x * k;
        }
        self.dense3.forward(x)
    }

    /// The head's embeddings of `x` (N × dim), in eval mode.
    pub fn embed(&self, x: ArrayView2<f32>, device: &Device) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((x.nrows(), WIDTH));
        for start in (0..x.nrows()).step_by(EMBED_BATCH) {
            let end = (start + EMBED_BATCH).min(x.nrows());
            let t = to_tensor(x.slice(ndarray::s![start..end, ..]), device);
            let y = host(self.forward(t, false, None));
            for (i, row) in y.chunks(WIDTH).enumerate() {
                out.row_mut(start + i)
                    .iter_mut()
                    .zip(row)
                    .for_each(|(o, v)| *o = *v);
            }
        }
        out
    }
}

fn to_tensor(x: ArrayView2<f32>, device: &Device) -> Tensor<2> {
    let (n, d) = x.dim();
    let v: Vec<f32> = x.iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

/// Trains a head on `x` (N × dim): `labels[i]` is row i's class, `None` for an unlabelled (target)
/// row. `on_epoch` sees each epoch's number, mean loss and accuracy (the share of labelled mixed rows
/// whose largest logit is their dominant class). Returns the head and the losses.
pub fn train_head(
    x: ArrayView2<f32>,
    labels: &[Option<usize>],
    classes: usize,
    cfg: &HeadConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> Result<(Head, Vec<f64>), ModelError> {
    let (n, dim) = x.dim();
    if labels.len() != n {
        return Err(ModelError::Input(format!(
            "{n} training vectors but {} labels",
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().flatten().find(|&&c| c >= classes) {
        return Err(ModelError::Input(format!(
            "label {bad} but only {classes} classes"
        )));
    }
    if cfg.batch_size < 2 || n < 2 {
        return Err(ModelError::Config(format!(
            "training a head needs batches of at least 2 rows and 2 vectors, got batch size {} and {n} vectors",
            cfg.batch_size
        )));
    }
    if !(0.0..1.0).contains(&cfg.dropout) {
        return Err(ModelError::Config(format!(
            "dropout must lie in [0, 1), got {}",
            cfg.dropout
        )));
    }
    let device = device.clone().autodiff();
    let mut head = Head::init(dim, classes, cfg.seed, &device)?;
    let mut optim = AdamConfig::new().init();
    let mut scale = initial_scale(classes);
    let mut rng = ChaCha8Rng::seed_from_u64(asd_core::seed::derive_seed(cfg.seed, &[0x4ead]));
    let mut order: Vec<usize> = (0..n).collect();
    let mut losses = Vec::with_capacity(cfg.epochs);
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut batches, mut scored, mut correct) = (0.0, 0usize, 0usize, 0usize);
        // A last batch of one row is dropped: BatchNorm needs two.
        for idx in order.chunks(cfg.batch_size).filter(|c| c.len() >= 2) {
            let b = idx.len();
            let mut rows = vec![0f32; b * dim];
            let mut mixed = vec![0f32; b * dim];
            let mut y = vec![0f32; b * classes];
            let lambda: Vec<f32> = (0..b).map(|_| rng.random::<f32>()).collect();
            for (j, &i) in idx.iter().enumerate() {
                rows[j * dim..(j + 1) * dim]
                    .iter_mut()
                    .zip(x.row(i))
                    .for_each(|(o, v)| *o = *v);
            }
            for j in 0..b {
                let (p, l) = (b - 1 - j, lambda[j]);
                for k in 0..dim {
                    mixed[j * dim + k] = l * rows[j * dim + k] + (1.0 - l) * rows[p * dim + k];
                }
                if let Some(c) = labels[idx[j]] {
                    y[j * classes + c] += l;
                }
                if let Some(c) = labels[idx[p]] {
                    y[j * classes + c] += 1.0 - l;
                }
            }
            let keep: Vec<f32> = (0..b * WIDTH)
                .map(|_| {
                    if rng.random::<f64>() < cfg.dropout {
                        0.0
                    } else {
                        (1.0 / (1.0 - cfg.dropout)) as f32
                    }
                })
                .collect();
            // The un-mixed batch: BatchNorm statistics only.
            let _ = head.forward(
                Tensor::from_data(TensorData::new(rows, [b, dim]), &device).detach(),
                true,
                None,
            );
            let emb = head.forward(
                Tensor::from_data(TensorData::new(mixed, [b, dim]), &device),
                true,
                Some(Tensor::from_data(
                    TensorData::new(keep, [b, WIDTH]),
                    &device,
                )),
            );
            let cos = head.adaproj.cos_logits(emb);
            let cos_host = host(cos.clone().detach());
            scale = updated_scale(&cos_host, &y, classes, scale);
            let (s, c) = crate::train::labelled_and_correct(&cos_host, &y, classes);
            scored += s;
            correct += c;
            let labels_t = Tensor::from_data(TensorData::new(y, [b, classes]), &device);
            let loss = soft_cross_entropy(cos, labels_t, scale);
            let value = f64::from(
                host(loss.clone().detach())
                    .first()
                    .copied()
                    .unwrap_or(f32::NAN),
            );
            if !value.is_finite() {
                return Err(ModelError::Input(format!(
                    "the head's loss became {value} in epoch {epoch}; lower the learning rate or check the embeddings"
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optim.step(cfg.learning_rate, head, grads);
            sum += value;
            batches += 1;
        }
        let mean = sum / batches.max(1) as f64;
        on_epoch(epoch, mean, correct as f64 / scored.max(1) as f64);
        losses.push(mean);
    }
    Ok((head.valid(), losses))
}
