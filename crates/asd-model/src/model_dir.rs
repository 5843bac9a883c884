//! The model folder: `config.json` (human-readable settings), `classes.json` (the auxiliary classes),
//! `model.safetensors` (the network, with the reference implementation's tensor names), `train_log.csv`
//! (one row per epoch) and `checkpoint/` (everything needed to resume training).

use crate::error::{ModelError, io_err};
use crate::network::{EmbeddingNet, NetConfig};
use crate::params::TensorMap;
use crate::train::{EpochReport, TrainConfig};
use asd_core::{IoOp, atomic};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.json";
pub const CLASSES_FILE: &str = "classes.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const LOG_FILE: &str = "train_log.csv";
pub const CHECKPOINT_DIR: &str = "checkpoint";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub net: NetConfig,
    pub train: TrainConfig,
    /// Sample rate the network expects.
    pub sample_rate: u32,
    /// Dataset and edition the model was trained on, if any.
    pub dataset: Option<String>,
    pub edition: Option<String>,
    /// Channel of multichannel files the model sees (counted from 0); `None` = the mean of all channels.
    #[serde(default)]
    pub channel: Option<usize>,
}

impl ModelConfig {
    /// How clips are read for this model.
    pub fn load_options(&self) -> asd_audio::LoadOptions {
        load_options(self.channel)
    }
}

/// Reading options for a channel choice (`None` = mean of all channels).
pub fn load_options(channel: Option<usize>) -> asd_audio::LoadOptions {
    asd_audio::LoadOptions {
        rate: asd_audio::MODEL_RATE,
        channel: channel.map_or(
            asd_audio::ChannelMode::Average,
            asd_audio::ChannelMode::Pick,
        ),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), ModelError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| ModelError::Config(e.to_string()))?;
    atomic::write_bytes(path, text.as_bytes()).map_err(io_err(path, IoOp::Write))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path, IoOp::Read))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Config(format!("{}: {e}", path.display())))
}

/// Writes the network's weights under the reference names (plus PyTorch's BatchNorm counters), so the
/// file also loads into the authors' PyTorch module.
pub fn write_weights(path: &Path, net: &EmbeddingNet) -> Result<(), ModelError> {
    let mut map = TensorMap::default();
    let mut counters = Vec::new();
    for (name, shape, values) in net.export() {
        if let Some(base) = name.strip_suffix(".running_mean") {
            counters.push(format!("{base}.num_batches_tracked"));
        }
        map.tensors.insert(name, (shape, values));
    }
    let bytes = map.to_bytes(&counters).map_err(ModelError::Config)?;
    atomic::write_bytes(path, &bytes).map_err(io_err(path, IoOp::Write))
}

/// A model folder on disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub dir: PathBuf,
}

impl ModelDir {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn create(&self) -> Result<(), ModelError> {
        std::fs::create_dir_all(self.path(CHECKPOINT_DIR))
            .map_err(io_err(&self.dir, IoOp::CreateFolder))
    }

    pub fn write_config(&self, cfg: &ModelConfig) -> Result<(), ModelError> {
        write_json(&self.path(CONFIG_FILE), cfg)
    }

    pub fn config(&self) -> Result<ModelConfig, ModelError> {
        read_json(&self.path(CONFIG_FILE))
    }

    pub fn write_classes(&self, classes: &[String]) -> Result<(), ModelError> {
        write_json(&self.path(CLASSES_FILE), &classes)
    }

    pub fn classes(&self) -> Result<Vec<String>, ModelError> {
        read_json(&self.path(CLASSES_FILE))
    }

    pub fn write_log(&self, rows: &[EpochReport]) -> Result<(), ModelError> {
        let mut text =
            String::from("epoch,loss,accuracy,clips,seconds,clips_per_s,labelled,unlabelled\n");
        for r in rows {
            text += &format!(
                "{},{:.6},{:.6},{},{:.3},{:.2},{},{}\n",
                r.epoch,
                r.loss,
                r.accuracy,
                r.clips,
                r.seconds,
                r.clips_per_s,
                r.labelled,
                r.unlabelled
            );
        }
        let p = self.path(LOG_FILE);
        atomic::write_bytes(&p, text.as_bytes()).map_err(io_err(&p, IoOp::Write))
    }

    pub fn log(&self) -> Result<Vec<EpochReport>, ModelError> {
        let p = self.path(LOG_FILE);
        if !p.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&p).map_err(io_err(&p, IoOp::Read))?;
        let bad = |l: &str| ModelError::Config(format!("{}: bad row '{l}'", p.display()));
        text.lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                // Logs written before the label counts were added have 6 columns.
                if c.len() != 6 && c.len() != 8 {
                    return Err(bad(l));
                }
                let f = |i: usize| c[i].parse::<f64>().map_err(|_| bad(l));
                let n = |i: usize| match c.get(i) {
                    Some(v) => v.parse::<usize>().map_err(|_| bad(l)),
                    None => Ok(0),
                };
                Ok(EpochReport {
                    epoch: c[0].parse().map_err(|_| bad(l))?,
                    loss: f(1)?,
                    accuracy: f(2)?,
                    clips: c[3].parse().map_err(|_| bad(l))?,
                    seconds: f(4)?,
                    clips_per_s: f(5)?,
                    labelled: n(6)?,
                    unlabelled: n(7)?,
                })
            })
            .collect()
    }

    /// The network for inference (eval mode) on `device`.
    pub fn load_net(&self, device: &Device) -> Result<(EmbeddingNet, ModelConfig), ModelError> {
        let cfg = self.config()?;
        let mut map = TensorMap::read(&self.path(WEIGHTS_FILE))?;
        let net = EmbeddingNet::load(&mut map, &cfg.net, device)?;
        Ok((net, cfg))
    }
}

/// A model folder for a network that comes without training history (imported or freshly initialised).
fn write_untrained_folder(
    out: &Path,
    net: &EmbeddingNet,
    net_cfg: NetConfig,
) -> Result<ModelConfig, ModelError> {
    let dir = ModelDir::new(out);
    dir.create()?;
    let cfg = ModelConfig {
        net: net_cfg,
        train: TrainConfig::default(),
        sample_rate: asd_audio::MODEL_RATE,
        dataset: None,
        edition: None,
        channel: None,
    };
    write_weights(&dir.path(WEIGHTS_FILE), net)?;
    dir.write_classes(&[])?;
    dir.write_config(&cfg)?;
    Ok(cfg)
}

/// A model folder holding a freshly initialised (untrained) network: the cost of a trained one at
/// every step, for benchmarks of what serves a model.
pub fn write_seeded(out: &Path, clip_len: usize, seed: u64) -> Result<ModelConfig, ModelError> {
    let net_cfg = NetConfig::new(clip_len);
    let net = EmbeddingNet::load(
        &mut crate::params::SeededInit::new(seed),
        &net_cfg,
        &Device::flex(),
    )?;
    write_untrained_folder(out, &net, net_cfg)
}

/// Turns a PyTorch state dict of the reference network (safetensors) into a model folder.
pub fn import_torch(
    weights: &Path,
    clip_len: usize,
    out: &Path,
) -> Result<ModelConfig, ModelError> {
    let mut map = TensorMap::read(weights)?;
    let affine = map.tensors.contains_key("fft_branch.norm1.weight");
    let bias = map.tensors.contains_key("fft_branch.conv1.bias");
    let mut net_cfg = NetConfig::new(clip_len);
    net_cfg.affine = affine;
    net_cfg.bias = bias;
    let device = Device::flex();
    let net = EmbeddingNet::load(&mut map, &net_cfg, &device)?;
    let leftover: Vec<&String> = map
        .tensors
        .keys()
        .filter(|k| !k.starts_with("adaproj") && !k.ends_with(".s") && !k.ends_with(".pi"))
        .collect();
    if !leftover.is_empty() {
        return Err(ModelError::Config(format!(
            "{}: tensors the network does not have: {}",
            weights.display(),
            leftover
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    write_untrained_folder(out, &net, net_cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_choice_round_trips_and_defaults_to_the_mean() {
        let mut cfg = ModelConfig {
            net: NetConfig::new(NetConfig::MIN_CLIP_LEN),
            train: TrainConfig::default(),
            sample_rate: 16_000,
            dataset: None,
            edition: None,
            channel: Some(1),
        };
        let text = serde_json::to_string(&cfg).unwrap();
        let back: ModelConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cfg);
        assert_eq!(back.load_options().channel, asd_audio::ChannelMode::Pick(1));
        // A folder written before the field existed reads as "mean of all channels".
        cfg.channel = None;
        let mut v: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        v.as_object_mut().unwrap().remove("channel");
        let old: ModelConfig = serde_json::from_value(v).unwrap();
        assert_eq!(old.load_options().channel, asd_audio::ChannelMode::Average);
        // Unknown keys are refused with their name.
        let bad = text.replace("\"sample_rate\"", "\"sample_rat\"");
        let err = serde_json::from_str::<ModelConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sample_rat"), "{err}");
    }
}
