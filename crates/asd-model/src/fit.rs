//! `asd train`: one model on all training clips of a dataset, with a checkpoint after every epoch and
//! resumption of an interrupted run.

use crate::data::TrainItem;
use crate::device::DeviceChoice;
use crate::error::{ModelError, io_err};
use crate::model_dir::{CHECKPOINT_DIR, ModelConfig, ModelDir, WEIGHTS_FILE, write_weights};
use crate::network::NetConfig;
use crate::train::{
    EpochReport, Scales, StepReport, TrainConfig, TrainSession, Trainable, initial_scales,
    optimizer, pipeline, train,
};
use asd_core::{Domain, IoOp, Split, atomic};
use asd_dataset::Dataset;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

const MODULE_FILE: &str = "module.bpk";
const OPTIM_FILE: &str = "optimizer.bpk";
const STATE_FILE: &str = "state.json";

/// Whether `out` holds a checkpoint that [`fit`] would go on from (with `resume`).
pub fn has_checkpoint(out: &ModelDir) -> bool {
    out.path(crate::model_dir::CHECKPOINT_DIR)
        .join(STATE_FILE)
        .exists()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    epochs_done: usize,
    scales: Scales,
}

/// What `fit` needs besides the dataset.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub train: TrainConfig,
    /// Clip length in samples; by default the longest of the machine types' median training-clip
    /// lengths ([`asd_dataset::lengths`]), at least [`NetConfig::MIN_CLIP_LEN`] (shorter clips are
    /// tiled).
    pub clip_len: Option<usize>,
    pub resume: bool,
    pub device: DeviceChoice,
    /// Channel of multichannel files (from 0); `None` = the mean of all channels.
    pub channel: Option<usize>,
    /// The data summary (clips, labels, clip length) at debug level: an ensemble's later members
    /// would repeat the first one's lines.
    pub quiet: bool,
}

/// The training clips of a dataset (dev and eval, both domains) with their class ids. As in the
/// reference, only source-domain clips (and clips of editions without domains) are labelled: a
/// target-domain clip keeps its class in the class list but trains with an all-zero label.
pub fn training_items(ds: &Dataset) -> (Vec<TrainItem>, Vec<String>) {
    let classes = ds.class_names();
    let items = ds
        .clips
        .iter()
        .filter(|c| c.record.split == Split::Train)
        .filter_map(|c| {
            let name = c.class_name();
            classes.binary_search(&name).ok().map(|class| TrainItem {
                path: c.path.clone(),
                class,
                labelled: c.record.domain != Domain::Target,
            })
        })
        .collect();
    (items, classes)
}

fn canonical(path: &str) -> String {
    std::fs::canonicalize(path).map_or_else(|_| path.to_string(), |p| p.display().to_string())
}

/// The settings (dotted JSON keys) in which two model configurations differ; the dataset is compared
/// by its canonical path, never by how the path was typed.
fn differing_settings(old: &ModelConfig, new: &ModelConfig) -> Vec<String> {
    let norm = |c: &ModelConfig| {
        let mut c = c.clone();
        c.dataset = c.dataset.as_deref().map(canonical);
        serde_json::to_value(c).unwrap_or_default()
    };
    fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let null = serde_json::Value::Null;
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    diff(
                        &name,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{prefix}: {a} then, {b} now")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    diff("", &norm(old), &norm(new), &mut out);
    out
}

/// The result of a training run.
#[derive(Debug)]
pub struct FitResult {
    pub reports: Vec<EpochReport>,
    /// Clips that could not be read during training (skipped), with the reason.
    pub failures: Vec<(PathBuf, String)>,
    pub resumed_from: usize,
}

/// Trains (or resumes training) one model on a dataset's training clips into `out`: a table of
/// contents of the steps below.
pub fn fit(
    ds: &Dataset,
    out: &ModelDir,
    opts: &FitOptions,
    on_step: &mut dyn FnMut(StepReport),
) -> Result<FitResult, ModelError> {
    opts.train.validate()?;
    let (items, classes) = labelled_items(ds, opts)?;
    let net_cfg = NetConfig::new(clip_length(ds, opts)?);
    net_cfg.validate()?;
    let cfg = ModelConfig {
        net: net_cfg.clone(),
        train: opts.train.clone(),
        sample_rate: asd_audio::MODEL_RATE,
        // The canonical path, so that `./data` and `data` resume the same model.
        dataset: Some(canonical(&ds.root.display().to_string())),
        edition: Some(ds.edition.to_string()),
        channel: opts.channel,
    };
    let device = opts.device.device()?.autodiff();
    // What a killed trainer left (temporary files, a checkpoint swap cut between its renames).
    atomic::clean_stale(&out.dir, 1).map_err(io_err(&out.dir, IoOp::CleanUp))?;
    let Start {
        model,
        optim,
        scales,
        first_epoch,
        log,
    } = start_or_resume(out, &cfg, &classes, opts, &device)?;
    let mut session = TrainSession::new(model, optim, scales, &opts.train, classes.len(), &device);
    let mut checkpoints = Checkpoints {
        out,
        log,
        failures: Vec::new(),
    };
    let pipe = pipeline(&net_cfg, &opts.train, classes.len(), cfg.load_options());
    let reports = train(
        &mut session,
        Arc::new(items),
        &pipe,
        first_epoch,
        on_step,
        &mut |s, r, f| checkpoints.save(s, r, f),
    )?;
    // A run with nothing left to do (resumed after the last epoch) still leaves valid weights.
    if reports.is_empty() {
        write_weights(&out.path(WEIGHTS_FILE), &session.model()?.net)?;
    }
    Ok(FitResult {
        reports,
        failures: checkpoints.failures,
        resumed_from: first_epoch,
    })
}

/// The training clips with their classes (all labelled with `target_labels`); at least two.
fn labelled_items(
    ds: &Dataset,
    opts: &FitOptions,
) -> Result<(Vec<TrainItem>, Vec<String>), ModelError> {
    let (mut items, classes) = training_items(ds);
    if opts.train.target_labels {
        items.iter_mut().for_each(|i| i.labelled = true);
    }
    if items.len() < 2 {
        return Err(ModelError::Input(format!(
            "{}: needs at least 2 training clips, found {}",
            ds.root.display(),
            items.len()
        )));
    }
    let labelled = items.iter().filter(|i| i.labelled).count();
    let line = format!(
        "training on {} clips: {labelled} with their label (source domain), {} with an all-zero label (target domain), {} classes",
        items.len(),
        items.len() - labelled,
        classes.len()
    );
    if opts.quiet {
        tracing::debug!("{line}");
    } else {
        tracing::info!("{line}");
    }
    Ok((items, classes))
}

/// The clip length in samples: as given, or the longest machine type's median training-clip
/// length, at least the network's minimum.
fn clip_length(ds: &Dataset, opts: &FitOptions) -> Result<usize, ModelError> {
    if let Some(n) = opts.clip_len {
        return Ok(n);
    }
    let survey = asd_dataset::lengths::survey_training_lengths(ds);
    if survey.median_s.is_empty() {
        let (p, e) = survey.failures.first().cloned().unwrap_or_default();
        return Err(ModelError::Input(format!(
            "no training clip's length could be read (first: {}: {e})",
            p.display()
        )));
    }
    tracing::info!("{}", survey.describe());
    if let Some(w) = survey.crop_warning() {
        tracing::warn!("{w}");
    }
    let chosen = asd_audio::model_samples(survey.chosen_s);
    if chosen < NetConfig::MIN_CLIP_LEN {
        tracing::info!(
            "raised to the network's minimum of {:.2} s (clips are tiled up to it)",
            asd_audio::model_seconds(NetConfig::MIN_CLIP_LEN)
        );
    }
    Ok(chosen.max(NetConfig::MIN_CLIP_LEN))
}

/// Where training starts: a fresh model, or the last checkpoint with its log cut back to it.
struct Start {
    model: Trainable,
    optim: burn::optim::ModuleOptimizer,
    scales: Scales,
    first_epoch: usize,
    log: Vec<EpochReport>,
}

/// Resumes from `out`'s checkpoint if asked and one exists (refused if its settings or classes
/// differ), else creates the model folder with its configuration and classes.
fn start_or_resume(
    out: &ModelDir,
    cfg: &ModelConfig,
    classes: &[String],
    opts: &FitOptions,
    device: &burn::tensor::Device,
) -> Result<Start, ModelError> {
    // A freshly initialised model: trained from, or the shape a checkpoint is loaded into.
    let fresh = Trainable::init(
        &cfg.net,
        classes.len(),
        opts.train.trainable_centers,
        opts.train.seed,
        device,
    )?;
    let ck = out.path(CHECKPOINT_DIR);
    let state_path = ck.join(STATE_FILE);
    if !(opts.resume && state_path.exists()) {
        out.create()?;
        out.write_config(cfg)?;
        out.write_classes(classes)?;
        return Ok(Start {
            model: fresh,
            optim: optimizer(&opts.train),
            scales: initial_scales(classes.len()),
            first_epoch: 0,
            log: Vec::new(),
        });
    }
    let differing = differing_settings(&out.config()?, cfg);
    if !differing.is_empty() {
        return Err(ModelError::Config(format!(
            "{}: the checkpoint was made with other settings ({}); train into a new model folder",
            out.dir.display(),
            differing.join(", ")
        )));
    }
    if out.classes()? != classes {
        return Err(ModelError::Config(format!(
            "{}: the dataset's classes differ from the checkpoint's",
            out.dir.display()
        )));
    }
    let st: CheckpointState = serde_json::from_str(
        &std::fs::read_to_string(&state_path).map_err(io_err(&state_path, IoOp::Read))?,
    )
    .map_err(|e| ModelError::Config(format!("{}: {e}", state_path.display())))?;
    let model = fresh
        .try_load_file(ck.join(MODULE_FILE))
        .map_err(|e| ModelError::Config(format!("{}: {e}", ck.join(MODULE_FILE).display())))?;
    let optim = optimizer(&opts.train)
        .load(ck.join(OPTIM_FILE))
        .map_err(|e| ModelError::Config(format!("{}: {e}", ck.join(OPTIM_FILE).display())))?;
    let mut log = out.log()?;
    log.retain(|r| r.epoch <= st.epochs_done);
    Ok(Start {
        model,
        optim,
        scales: st.scales,
        first_epoch: st.epochs_done,
        log,
    })
}

/// What each finished epoch leaves in the model folder, and the unreadable clips met so far.
struct Checkpoints<'a> {
    out: &'a ModelDir,
    log: Vec<EpochReport>,
    failures: Vec<(PathBuf, String)>,
}

impl Checkpoints<'_> {
    /// Weights and log first, then the checkpoint (module, optimizer and the state that says which
    /// epoch they belong to) replaces its folder as one unit: an interruption at any point resumes
    /// from one consistent epoch. Resuming cuts the log back to that epoch.
    fn save(
        &mut self,
        session: &TrainSession,
        report: &EpochReport,
        failures: &[(PathBuf, String)],
    ) -> Result<(), ModelError> {
        for x in failures {
            if !self.failures.contains(x) {
                self.failures.push(x.clone());
            }
        }
        let model = session.model()?;
        write_weights(&self.out.path(WEIGHTS_FILE), &model.net)?;
        self.log.push(report.clone());
        self.out.write_log(&self.log)?;
        let st = CheckpointState {
            epochs_done: report.epoch,
            scales: session.scales,
        };
        let text =
            serde_json::to_string_pretty(&st).map_err(|e| ModelError::Config(e.to_string()))?;
        let ck = self.out.path(CHECKPOINT_DIR);
        atomic::replace_dir(&ck, |tmp| -> std::io::Result<()> {
            model
                .clone()
                .save_file(tmp.join(MODULE_FILE))
                .map_err(|e| std::io::Error::other(format!("saving the module: {e}")))?;
            session
                .optim
                .save(tmp.join(OPTIM_FILE))
                .map_err(|e| std::io::Error::other(format!("saving the optimizer state: {e}")))?;
            std::fs::write(tmp.join(STATE_FILE), text.as_bytes())
        })
        .map_err(io_err(&ck, IoOp::Write))
    }
}

/// The paper's number of epochs per edition: 15 for DCASE 2020, 10 for 2024, 5 otherwise.
pub fn default_epochs(edition: asd_dataset::Edition) -> usize {
    match edition {
        asd_dataset::Edition::Dcase2020 => 15,
        asd_dataset::Edition::Dcase2024 => 10,
        _ => 5,
    }
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    fn config(dataset: &str, seed: u64) -> ModelConfig {
        ModelConfig {
            net: NetConfig::new(NetConfig::MIN_CLIP_LEN),
            train: TrainConfig {
                seed,
                ..TrainConfig::default()
            },
            sample_rate: asd_audio::MODEL_RATE,
            dataset: Some(dataset.to_string()),
            edition: Some("DCASE 2026".into()),
            channel: Some(0),
        }
    }

    #[test]
    fn resume_compares_the_dataset_by_meaning_and_names_what_differs() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().display().to_string();
        let typed_otherwise = format!("{plain}/./");
        assert!(differing_settings(&config(&plain, 1), &config(&typed_otherwise, 1)).is_empty());
        let diff = differing_settings(&config(&plain, 1), &config(&plain, 2));
        assert_eq!(diff, ["train.seed: 1 then, 2 now"]);
    }
}
