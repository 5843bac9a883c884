use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Turn a PyTorch state dict of the reference network (safetensors, reference tensor names) into a
    /// model folder usable by `asd embed`.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The authors' PyTorch state dict saved as safetensors (reference tensor names, e.g. from
    /// `safetensors.torch.save_file(model.state_dict(), ...)`).
    #[arg(long)]
    pub torch_weights: PathBuf,
    /// Model folder to write (config.json, model.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Clip length the weights were trained for, in seconds (it sets the FFT branch's input size).
    #[arg(long, default_value_t = 10.0)]
    pub clip_seconds: f64,
}

pub fn run(c: &ModelCommand) -> Result<()> {
    match c {
        ModelCommand::Import(a) => {
            let n = asd_audio::model_samples(a.clip_seconds);
            let cfg = asd_model::import_torch(&a.torch_weights, n, &a.out)
                .with_context(|| format!("importing {}", a.torch_weights.display()))?;
            println!(
                "imported {} ({} samples per clip, bias {}, affine {}) into {}",
                a.torch_weights.display(),
                cfg.net.clip_len,
                cfg.net.bias,
                cfg.net.affine,
                a.out.display()
            );
            Ok(())
        }
    }
}
