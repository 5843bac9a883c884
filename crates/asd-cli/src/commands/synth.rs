use crate::progress;
use anyhow::{Context, Result};
use asd_dataset::synth::{self, Preset, SynthEdition};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct SynthArgs {
    /// Output folder; the dataset is written in the DCASE layout (dev_data, eval_data, evaluator).
    #[arg(long)]
    pub out: PathBuf,
    /// Size: tiny (tests, 1 s clips), small (demo, 2 s clips), full (DCASE 2023 sizes, 10 s clips).
    #[arg(long, default_value = "small")]
    pub preset: Preset,
    /// Seed of every random choice; the same seed writes the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Shape of the release imitated: 2023 (mono, one clip length) or 2026 (stereo near/far
    /// microphones, 2026's machine names, clips of 0.6, 1 and 1.6 times the preset's length, and
    /// attributes_00.csv files).
    #[arg(long, default_value = "2023")]
    pub edition: SynthEdition,
    /// Clip length in seconds instead of the preset's (with --edition 2026, the base of the 0.6/1/1.6
    /// lengths: 10 gives the release's 6, 10 and 16 s).
    #[arg(long, value_parser = positive_seconds)]
    pub clip_seconds: Option<f64>,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 600.0 => Ok(v),
        _ => Err(format!("'{s}' is not a clip length in (0, 600] seconds")),
    }
}

pub fn run(a: &SynthArgs) -> Result<()> {
    let n = synth::plan_edition(a.preset, a.seed, a.edition).len() as u64;
    let pb = progress::bar(n, "synthesising");
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let summary =
        synth::generate_edition(&a.out, a.preset, a.seed, a.edition, a.clip_seconds, &|| {
            pb.inc(1)
        })
        .with_context(|| format!("writing the synthetic dataset to {}", a.out.display()))?;
    pb.finish_and_clear();
    let base = a.clip_seconds.unwrap_or(a.preset.sizes().clip_seconds);
    println!(
        "Wrote {} {} clips ({} machine types: {}) and {} ground-truth files to {}",
        summary.clips,
        if a.edition.stereo() {
            "stereo (near, far)"
        } else {
            "mono"
        },
        summary.machines,
        a.edition
            .machines()
            .iter()
            .map(|m| format!("{} {} s", m.name, base * m.length))
            .collect::<Vec<_>>()
            .join(", "),
        summary.truth_files,
        a.out.display()
    );
    Ok(())
}
