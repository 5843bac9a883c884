use crate::progress;
use anyhow::{Context, Result};
use asd_dataset::{Dataset, Edition, OpenOptions};
use asd_model::fit::{FitOptions, default_epochs, fit};
use asd_model::train::TrainConfig;
use asd_model::{DeviceChoice, ModelDir};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset root (DCASE layout); every training clip of dev and eval data is used.
    #[arg(long)]
    pub data: PathBuf,
    /// Model folder to write (config.json, classes.json, model.safetensors, train_log.csv, checkpoint/).
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs (default: the paper's for the edition: 2020: 15, 2024: 10, otherwise 5).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Clips per training step (the paper's 64; at least 2, since mixup pairs clips).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the initialisation, the clip order, the crop offsets, mixup and feature exchange.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = super::device_arg)]
    pub device: DeviceChoice,
    /// Clip length in seconds (default: the longest of the machine types' median training-clip
    /// lengths, at least 4.38 s; shorter clips are tiled, longer ones cropped at a random offset).
    #[arg(long)]
    pub clip_seconds: Option<f64>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Channel the model is trained on: near (0), far (1), mean, or a channel number; near+far
    /// trains on near (`asd embed --channel near+far` then concatenates both channels' embeddings).
    /// Default: near for DCASE 2026 (stereo near/far microphones), mean for the mono editions.
    /// `asd embed` uses the same unless told otherwise.
    #[arg(long)]
    pub channel: Option<asd_core::ChannelPolicy>,
    /// Train the AdaProj class sub-spaces too (the paper keeps them fixed).
    #[arg(long)]
    pub trainable_centers: bool,
    /// Skip the reference's un-mixed train-mode forward pass (it updates the BatchNorm statistics a
    /// second time per step; docs/design.md gives its measured effect).
    #[arg(long)]
    pub skip_unmixed_pass: bool,
    /// Train target-domain clips with their labels (the reference trains them with all-zero labels).
    #[arg(long)]
    pub target_labels: bool,
    /// Edition (2020-2026) instead of the detected one.
    #[arg(long)]
    pub edition: Option<Edition>,
}

/// Every numeric flag checked before any work, so no value reaches an assertion.
pub fn run(a: &TrainArgs) -> Result<()> {
    if let Some(s) = a.clip_seconds {
        asd_audio::length::check_clip_seconds(s)
            .map_err(|e| anyhow::anyhow!("--clip-seconds {e}"))?;
    }
    let ds = Dataset::open(
        &a.data,
        &OpenOptions {
            edition: a.edition,
            truth_dir: None,
        },
    )
    .with_context(|| format!("reading dataset {}", a.data.display()))?;
    let train = TrainConfig {
        epochs: a.epochs.unwrap_or_else(|| default_epochs(ds.edition)),
        batch_size: a.batch_size,
        learning_rate: a.learning_rate,
        seed: a.seed,
        trainable_centers: a.trainable_centers,
        unmixed_pass: !a.skip_unmixed_pass,
        target_labels: a.target_labels,
        ..TrainConfig::default()
    };
    train.validate()?;
    let opts = FitOptions {
        clip_len: a.clip_seconds.map(asd_audio::model_samples),
        train: train.clone(),
        resume: a.resume,
        device: a.device,
        channel: a
            .channel
            .unwrap_or_else(|| asd_core::ChannelPolicy::default_for(ds.edition.near_far_stereo()))
            .training_channel(),
        quiet: false,
    };
    let _lock = asd_core::FolderLock::acquire(&a.out)?;
    train_model(&ds, &ModelDir::new(&a.out), &opts)
}

/// Trains with a progress bar (loss, accuracy, clips/s, ETA) and prints the epoch table.
pub fn train_model(ds: &Dataset, out: &ModelDir, opts: &FitOptions) -> Result<()> {
    let n = asd_model::fit::training_items(ds).0.len();
    let steps = n.div_ceil(opts.train.batch_size) * opts.train.epochs;
    let pb = progress::bar(steps as u64, "training");
    let mut last_epoch = usize::MAX;
    let mut done_before = 0u64;
    let result = fit(ds, out, opts, &mut |s| {
        if s.epoch != last_epoch {
            last_epoch = s.epoch;
            done_before = (s.epoch * n.div_ceil(opts.train.batch_size)) as u64;
        }
        pb.set_position(done_before + s.step as u64 + 1);
        pb.set_message(format!(
            "epoch {}/{} loss {:.3} acc {:.2}",
            s.epoch + 1,
            opts.train.epochs,
            s.loss,
            s.accuracy
        ));
    })
    .with_context(|| format!("training into {}", out.dir.display()))?;
    pb.finish_and_clear();
    if result.resumed_from > 0 {
        println!("resumed after epoch {}", result.resumed_from);
    }
    for r in &result.reports {
        println!(
            "epoch {:>3}: loss {:.4}, accuracy {:.3}, {} clips ({} labelled, {} with a zero label) in {:.1} s ({:.1} clips/s)",
            r.epoch,
            r.loss,
            r.accuracy,
            r.clips,
            r.labelled,
            r.unlabelled,
            r.seconds,
            r.clips_per_s
        );
    }
    if !result.failures.is_empty() {
        println!(
            "{} clip(s) could not be read and were skipped:",
            result.failures.len()
        );
        for (p, e) in &result.failures {
            println!("  {}: {e}", p.display());
        }
    }
    println!("model written to {}", out.dir.display());
    Ok(())
}
