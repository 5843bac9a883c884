use crate::progress;
use anyhow::{Context, Result};
use asd_dataset::{Dataset, OpenOptions};
use asd_experiment::report::{TABLE_ONE_HEADER, table_one, write_report};
use asd_experiment::run::part_names;
use asd_experiment::{Event, RunConfig, RunResults};
use asd_model::DeviceChoice;
use asd_model::fit::{default_epochs, training_items};
use clap::Args;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RunArgs {
    /// Dataset root (DCASE layout).
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder: members' models and embeddings, scores, results.json, report.md/.html, run.log.
    #[arg(long)]
    pub out: PathBuf,
    /// Experiment description (TOML; every key optional, defaults = the paper's settings; see docs/experiments.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Ensemble members (overrides the config).
    #[arg(long)]
    pub members: Option<usize>,
    /// Epochs per member (overrides the config; default: the paper's for the edition).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of everything (overrides the config).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Channel policy (overrides the config): near, far, mean, near+far (far-aware: trained on the
    /// near microphone, both channels' embeddings concatenated) or a channel number. Default: near for
    /// DCASE 2026 (stereo near/far microphones), mean for the mono editions.
    #[arg(long)]
    pub channel: Option<asd_core::ChannelPolicy>,
    /// What embeds the clips (overrides the config).
    #[command(flatten)]
    pub fe: super::embed::FrontendArgs,
    /// Distance of the scores (overrides the config): cosine or euclidean. Default: cosine for the
    /// network, euclidean for frozen front-ends (as the authors score their `*-raw` systems).
    #[arg(long)]
    pub distance: Option<asd_scoring::Distance>,
    /// SMOTE of the target references with this many neighbours (overrides the config).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub smote: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = super::device_arg)]
    pub device: DeviceChoice,
    /// Exit with success even when some clips could not be read (they are listed in run.log and left
    /// out of the scores); without it such a run writes its results but exits non-zero.
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(a: &RunArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => RunConfig::from_toml(p)?,
        None => RunConfig::default(),
    };
    if let Some(m) = a.members {
        cfg.members = m;
    }
    if let Some(e) = a.epochs {
        cfg.epochs = Some(e);
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(c) = a.channel {
        cfg.channel = Some(c);
    }
    if a.fe.frontend.is_some() {
        cfg.frontend = a.fe.spec()?.unwrap_or_default();
    }
    if let Some(d) = a.distance {
        cfg.distance = Some(d);
    }
    if let Some(k) = a.smote {
        cfg.smote = Some(k);
    }
    cfg.validate()?;
    let ds = Dataset::open(&a.data, &OpenOptions::default())
        .with_context(|| format!("reading dataset {}", a.data.display()))?;
    let results = run_with_progress(&ds, &a.out, &cfg, a.device)?;
    print_summary(&a.out, &results);
    check_skipped(&results, a.skip_bad)
}

/// A run that left clips out succeeds only when the user accepted that with --skip-bad.
pub fn check_skipped(r: &RunResults, skip_bad: bool) -> Result<()> {
    if r.skipped.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = r.skipped.iter().take(10).map(String::as_str).collect();
    let rest = r.skipped.len().saturating_sub(shown.len());
    let list = if rest > 0 {
        format!("{} and {rest} more", shown.join(", "))
    } else {
        shown.join(", ")
    };
    if skip_bad {
        println!(
            "{} clip(s) skipped (--skip-bad; reasons in run.log): {list}",
            r.skipped.len()
        );
        return Ok(());
    }
    anyhow::bail!(
        "{} clip(s) could not be read and are missing from the results (reasons in run.log): {list}; --skip-bad accepts results without them",
        r.skipped.len()
    )
}

/// Runs the experiment with one overall progress bar (member, stage, ETA) and writes the report.
pub fn run_with_progress(
    ds: &Dataset,
    out: &Path,
    cfg: &RunConfig,
    device: DeviceChoice,
) -> Result<RunResults> {
    let _lock = asd_core::FolderLock::acquire(out)?;
    let n = training_items(ds).0.len();
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let epochs = cfg.epochs.unwrap_or_else(|| default_epochs(ds.edition));
    // Frozen front-ends and heads on them train on vectors in seconds: stages, not a step count.
    let frozen = cfg.frontend.base().is_some();
    let total = if frozen {
        1
    } else {
        (cfg.members * epochs * steps_per_epoch) as u64
    };
    let pb = progress::bar(total, if frozen { "embedding" } else { "training" });
    // Without a terminal the bar draws nothing: one line per stage keeps a piped run from looking hung.
    let lines = !std::io::stderr().is_terminal();
    let t0 = std::time::Instant::now();
    // The rate counts from the first step this call trains (a resumed run skips the others).
    let mut first_step: Option<(u64, std::time::Instant)> = None;
    let mut stage = String::new();
    let results = asd_experiment::run(ds, out, cfg, device, &mut |e| match e {
        Event::Stage(s) => {
            // Each member's rate counts from its own first step.
            first_step = None;
            if lines {
                eprintln!("[{:>6.1} s] {s}", t0.elapsed().as_secs_f64());
            }
            stage = s;
            pb.set_message(stage.clone());
        }
        Event::Step { member, step } => {
            let done = ((member * epochs + step.epoch) * steps_per_epoch + step.step + 1) as u64;
            pb.set_position(done);
            // Piped: one line per epoch, with the rate and what is left.
            if lines && step.step + 1 == steps_per_epoch {
                let (first, at) = *first_step.get_or_insert((done, std::time::Instant::now()));
                // Steps finished since the first one was seen (its own time is not in `at`).
                let (stepped, secs) = (done - first, at.elapsed().as_secs_f64());
                let pace = if stepped > 0 && secs > 0.0 {
                    let left = total.saturating_sub(done) as f64 * secs / stepped as f64;
                    format!(
                        ", {:.2} steps/s, about {} left",
                        stepped as f64 / secs,
                        asd_experiment::report::format_seconds(left)
                    )
                } else {
                    String::new()
                };
                eprintln!(
                    "[{:>6.1} s] member {}/{}: epoch {}/{epochs}, loss {:.3}, acc {:.2}{pace}",
                    t0.elapsed().as_secs_f64(),
                    member + 1,
                    cfg.members,
                    step.epoch + 1,
                    step.loss,
                    step.accuracy,
                );
            }
            first_step.get_or_insert((done, std::time::Instant::now()));
            pb.set_message(format!(
                "{stage}, epoch {}/{epochs}, loss {:.3}, acc {:.2}",
                step.epoch + 1,
                step.loss,
                step.accuracy
            ));
        }
        Event::Scored { done, total } => pb.set_message(format!("scoring {done}/{total}")),
    })
    .with_context(|| format!("running the experiment in {}", out.display()))?;
    pb.finish_and_clear();
    write_report(out, &results).context("writing the report")?;
    Ok(results)
}

pub fn print_summary(out: &Path, r: &RunResults) {
    for w in &r.warnings {
        println!("warning: {w}");
    }
    for part in part_names(r) {
        println!(
            "\n{part} data ({} member(s), harmonic means in %):\n",
            r.config.members
        );
        print!(
            "{}",
            asd_eval::table::markdown(&TABLE_ONE_HEADER, &table_one(r, &part))
        );
    }
    println!("\nReport: {}", out.join("report.html").display());
}
