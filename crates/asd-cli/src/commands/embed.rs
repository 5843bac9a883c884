use crate::progress;
use anyhow::{Context, Result, bail};
use asd_dataset::{Dataset, OpenOptions};
use asd_model::{DeviceChoice, ModelDir};
use clap::Args;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// The flags that name what embeds the clips (`asd embed`, `asd run`, `asd monitor`).
#[derive(Args, Debug, Clone)]
pub struct FrontendArgs {
    /// What embeds the clips: `network` (a trained model, --model), `beats` (a pretrained BEATs
    /// checkpoint used frozen, --weights; no training), `stft` (the reference's STFT-raw) or, in
    /// `asd run`, `beats-act` (BEATs with the authors' small head trained on its embeddings).
    #[arg(long)]
    pub frontend: Option<FrontendKind>,
    /// A BEATs checkpoint as published (`BEATs_iter3_plus_AS2M.pt`, …) or safetensors with the same
    /// names, for --frontend beats.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// BEATs layer whose tokens are pooled: 0 (the first layer's input) to the last (default).
    #[arg(long)]
    pub layer: Option<usize>,
    /// BEATs pooling: freq-patch-mean (MERL's `BEATs-raw`: the mean over time per frequency patch,
    /// 8 × width values) or mean (over every token, width values).
    #[arg(long, default_value = "freq-patch-mean")]
    pub pooling: asd_frontend::Pooling,
}

impl FrontendArgs {
    /// The frozen front-end the flags name; `None` for the trained network (or none named).
    pub fn spec(&self) -> Result<Option<asd_frontend::FrontendSpec>> {
        Ok(match self.frontend {
            None | Some(FrontendKind::Network) => None,
            Some(FrontendKind::Stft) => Some(asd_frontend::FrontendSpec::Stft),
            Some(FrontendKind::Beats) => Some(asd_frontend::FrontendSpec::Beats {
                weights: self
                    .weights
                    .clone()
                    .context("--frontend beats needs --weights CHECKPOINT")?,
                layer: self.layer,
                pooling: self.pooling,
            }),
            Some(FrontendKind::BeatsAct) => Some(asd_frontend::FrontendSpec::BeatsAct {
                weights: self
                    .weights
                    .clone()
                    .context("--frontend beats-act needs --weights CHECKPOINT")?,
                layer: self.layer,
                pooling: self.pooling,
            }),
        })
    }

    /// [`Self::spec`] for a command that embeds with a frozen front-end only (`embed`, `monitor`).
    pub fn frozen_spec(&self) -> Result<Option<asd_frontend::FrontendSpec>> {
        let spec = self.spec()?;
        if spec
            .as_ref()
            .is_some_and(asd_frontend::FrontendSpec::trains_head)
        {
            bail!(
                "--frontend beats-act trains a head per ensemble member: use it with `asd run`; here give --frontend beats"
            );
        }
        Ok(spec)
    }
}

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub fe: FrontendArgs,
    /// Model folder (from `asd train` or `asd model import`), for --frontend network (the default).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Dataset root: every train and test clip is embedded into an embedding set (--out is a folder).
    #[arg(long, conflicts_with = "wave_npy")]
    pub data: Option<PathBuf>,
    /// Raw 16 kHz waveforms as a float32 NumPy array (clips × samples); --out is a .npy file.
    #[arg(long)]
    pub wave_npy: Option<PathBuf>,
    /// With --data: the embedding-set folder to write (embeddings.npy + index.csv, replaced as a
    /// unit); with --wave-npy: the .npy file of embeddings (one row per clip).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, cuda or cuda:N (--frontend network).
    #[arg(long, default_value = "cpu", value_parser = super::device_arg)]
    pub device: DeviceChoice,
    /// Channel(s) to embed: near, far, mean, a channel number, or near+far (both channels'
    /// embeddings concatenated, 1024-d). Default: the channel the model was trained on (front-ends:
    /// the mean of all channels).
    #[arg(long)]
    pub channel: Option<asd_core::ChannelPolicy>,
    /// Exit with success even when some clips could not be read (they are listed and left out of
    /// the set); without it such a run writes the set but exits non-zero.
    #[arg(long)]
    pub skip_bad: bool,
}

/// The `--frontend` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FrontendKind {
    Network,
    Beats,
    Stft,
    /// BEATs with the authors' head trained on its embeddings per member (`asd run` only).
    BeatsAct,
}

pub fn run(a: &EmbedArgs) -> Result<()> {
    let _lock = asd_core::FolderLock::acquire(&a.out)?;
    super::score::clean_beside(&a.out);
    if let Some(spec) = a.fe.frozen_spec()? {
        return run_frontend(a, &spec);
    }
    let model = a
        .model
        .as_ref()
        .context("--frontend network needs --model MODEL_DIR")?;
    let device = a.device.device()?;
    let dir = ModelDir::new(model);
    let (net, cfg) = dir
        .load_net(&device)
        .with_context(|| format!("loading model {}", model.display()))?;
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
            let x: Array2<f32> = asd_core::npy::read_matrix(waves)
                .context("expected a float32 (clips × samples) array")?;
            if x.iter().any(|v| !v.is_finite()) {
                bail!("{}: contains NaN or infinite samples", waves.display());
            }
            let rows: Vec<Vec<f32>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
            let emb = asd_model::embed::embed_waves(&net, cfg.net.clip_len, &rows, &device);
            write_rows(&a.out, &emb)
        }
        _ => bail!("give either --data DATASET_DIR or --wave-npy WAVES.npy"),
    }
}

/// Writes embeddings (one row per clip) to a .npy file atomically and says so.
fn write_rows(out: &Path, emb: &Array2<f32>) -> Result<()> {
    asd_core::atomic::write_with(out, |w| {
        ndarray_npy::WriteNpyExt::write_npy(emb, w).map_err(std::io::Error::other)
    })
    .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{} embeddings ({}-d) written to {}",
        emb.nrows(),
        emb.ncols(),
        out.display()
    );
    Ok(())
}

/// `asd embed --frontend beats|stft`: no model folder, no training.
fn run_frontend(a: &EmbedArgs, spec: &asd_frontend::FrontendSpec) -> Result<()> {
    let fe = match spec.load() {
        Ok(Some(fe)) => fe,
        Ok(None) => bail!("the network is not a frozen front-end"),
        Err(e) => {
            return Err(e).with_context(|| format!("loading the {} front-end", spec.name()));
        }
    };
    tracing::info!("front-end: {}", fe.describe());
    match (&a.data, &a.wave_npy) {
        (Some(data), None) => {
            let ds = Dataset::open(data, &OpenOptions::default())
                .with_context(|| format!("reading dataset {}", data.display()))?;
            let channel = match a.channel.map(|p| p.embedding_channels()) {
                None => None,
                Some(c) if c.len() == 1 => c[0],
                Some(_) => bail!("--channel near+far is for --frontend network; give one channel"),
            };
            let load = asd_model::model_dir::load_options(channel);
            // Progress is saved beside the output every 64 clips: an interrupted run goes on from there.
            let partial = asd_frontend::Partial::beside(&a.out);
            let pb = progress::bar(ds.clips.len() as u64, "embedding");
            let t0 = std::time::Instant::now();
            let (set, failures) =
                asd_frontend::embed_dataset(&fe, &ds, load, Some(&partial), &mut |n| {
                    pb.inc(n as u64);
                    true
                })?;
            pb.finish_and_clear();
            say_rate(set.len(), t0.elapsed().as_secs_f64());
            set.write(&a.out)
                .with_context(|| format!("writing {}", a.out.display()))?;
            partial.remove()?;
            println!(
                "{} embeddings ({}-d, {}) written to {}",
                set.embeddings.nrows(),
                set.dim(),
                fe.describe(),
                a.out.display()
            );
            report_failures(&failures, a)
        }
        (None, Some(waves)) => {
            let x: Array2<f32> = asd_core::npy::read_matrix(waves)
                .context("expected a float32 (clips × samples) array")?;
            let rows: Vec<Vec<f32>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
            let t0 = std::time::Instant::now();
            let emb = fe
                .embed_many(&rows)
                .with_context(|| format!("embedding {}", waves.display()))?;
            say_rate(rows.len(), t0.elapsed().as_secs_f64());
            write_rows(&a.out, &emb)
        }
        _ => bail!("give either --data DATASET_DIR or --wave-npy WAVES.npy"),
    }
}

/// "embedded 8 clips in 12.3 s (0.65 clips/s)": what a user plans a dataset's embedding with.
fn say_rate(clips: usize, seconds: f64) {
    println!(
        "embedded {clips} clips in {seconds:.2} s ({:.2} clips/s)",
        clips as f64 / seconds.max(1e-9)
    );
}

fn report_failures(failures: &[(PathBuf, String)], a: &EmbedArgs) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    println!(
        "{} clip(s) could not be embedded and are not in the set:",
        failures.len()
    );
    for (p, e) in failures {
        println!("  {}: {e}", p.display());
    }
    if !a.skip_bad {
        bail!(
            "{} clip(s) could not be embedded and are not in {} (listed above); --skip-bad accepts a set without them",
            failures.len(),
            a.out.display()
        );
    }
    println!("{} clip(s) skipped (--skip-bad)", failures.len());
    Ok(())
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
