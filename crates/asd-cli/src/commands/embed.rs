use crate::progress;
use anyhow::{Context, Result, bail};
use asd_dataset::{Dataset, OpenOptions};
use asd_model::{DeviceChoice, ModelDir};
use clap::Args;
use ndarray::Array2;
use ndarray_npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EmbedArgs {
    /// Model folder (from `asd train` or `asd model import`).
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset root: every train and test clip is embedded into an embedding set (--out is a folder).
    #[arg(long, conflicts_with = "wave_npy")]
    pub data: Option<PathBuf>,
    /// Raw 16 kHz waveforms as a float32 NumPy array (clips × samples); --out is a .npy file.
    #[arg(long)]
    pub wave_npy: Option<PathBuf>,
    /// With --data: the embedding-set folder to write (embeddings.npy + index.csv, replaced as a
    /// unit); with --wave-npy: the .npy file of embeddings (clips × 512).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Channel(s) to embed: near, far, mean, a channel number, or near+far (both channels'
    /// embeddings concatenated, 1024-d). Default: the channel the model was trained on.
    #[arg(long)]
    pub channel: Option<asd_core::ChannelPolicy>,
    /// Exit with success even when some clips could not be read (they are listed and left out of
    /// the set); without it such a run writes the set but exits non-zero.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(a: &EmbedArgs) -> Result<()> {
    let _lock = asd_core::FolderLock::acquire(&a.out)?;
    super::score::clean_beside(&a.out);
    let device = a.device.device()?;
    let dir = ModelDir::new(&a.model);
    let (net, cfg) = dir
        .load_net(&device)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    match (&a.data, &a.wave_npy) {
        (Some(data), None) => {
            let ds = Dataset::open(data, &OpenOptions::default())
                .with_context(|| format!("reading dataset {}", data.display()))?;
            let channels = match a.channel {
                Some(p) => p.embedding_channels(),
                None => vec![cfg.channel],
            };
            let skipped = embed_to_set(&net, &cfg, &channels, &ds, &a.out, &device)?;
            if skipped > 0 && !a.skip_bad {
                bail!(
                    "{skipped} clip(s) could not be read and are not in {} (listed above); --skip-bad accepts a set without them",
                    a.out.display()
                );
            }
            if skipped > 0 {
                println!("{skipped} clip(s) skipped (--skip-bad)");
            }
            Ok(())
        }
        (None, Some(waves)) => {
            let x: Array2<f32> = read_npy(waves).with_context(|| {
                format!(
                    "{}: expected a float32 (clips × samples) array",
                    waves.display()
                )
            })?;
            if x.iter().any(|v| !v.is_finite()) {
                bail!("{}: contains NaN or infinite samples", waves.display());
            }
            let rows: Vec<Vec<f32>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
            let emb = asd_model::embed::embed_waves(&net, cfg.net.clip_len, &rows, &device);
            let tmp = a.out.with_extension("npy.tmp");
            write_npy(&tmp, &emb).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &a.out)
                .with_context(|| format!("writing {}", a.out.display()))?;
            println!(
                "{} embeddings (512-d) written to {}",
                emb.nrows(),
                a.out.display()
            );
            Ok(())
        }
        _ => bail!("give either --data DATASET_DIR or --wave-npy WAVES.npy"),
    }
}

/// Embeds a dataset into an embedding-set folder, listing clips that could not be read; returns
/// their count.
pub fn embed_to_set(
    net: &asd_model::EmbeddingNet,
    cfg: &asd_model::ModelConfig,
    channels: &[Option<usize>],
    ds: &Dataset,
    out: &Path,
    device: &burn::tensor::Device,
) -> Result<usize> {
    let pb = progress::bar((ds.clips.len() * channels.len()) as u64, "embedding");
    let (set, failures) = asd_model::embed::embed_dataset_channels(
        net,
        cfg.net.clip_len,
        cfg.sample_rate,
        channels,
        ds,
        device,
        &mut |n| pb.inc(n as u64),
    )?;
    pb.finish_and_clear();
    set.write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{} embeddings ({}-d) written to {}",
        set.embeddings.nrows(),
        set.dim(),
        out.display()
    );
    if !failures.is_empty() {
        println!(
            "{} clip(s) could not be read and are not in the set:",
            failures.len()
        );
        for (p, e) in &failures {
            println!("  {}: {e}", p.display());
        }
    }
    Ok(failures.len())
}
