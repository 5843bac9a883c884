use crate::progress;
use anyhow::{Context, Result};
use asd_dataset::synth::{self, MACHINES, Preset};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder; the dataset is written in the DCASE 2023 layout (dev_data, eval_data, evaluator).
    #[arg(long)]
    pub out: PathBuf,
    /// Size: tiny (tests, 1 s clips), small (demo, 2 s clips), full (DCASE 2023 sizes, 10 s clips).
    #[arg(long, default_value = "small")]
    pub preset: Preset,
    /// Seed of every random choice; the same seed writes the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: &SynthArgs) -> Result<()> {
    let n = synth::plan(a.preset, a.seed).len() as u64;
    let pb = progress::bar(n, "synthesising");
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let summary = synth::generate(&a.out, a.preset, a.seed, &|| pb.inc(1))
        .with_context(|| format!("writing the synthetic dataset to {}", a.out.display()))?;
    pb.finish_and_clear();
    let s = a.preset.sizes();
    println!(
        "Wrote {} clips of {} s ({} machine types: {}) and {} ground-truth files to {}",
        summary.clips,
        s.clip_seconds,
        summary.machines,
        MACHINES
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(", "),
        summary.truth_files,
        a.out.display()
    );
    Ok(())
}
