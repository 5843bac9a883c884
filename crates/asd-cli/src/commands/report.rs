use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// Run folder written by `asd run` (or `asd demo`).
    pub run_dir: PathBuf,
}

/// Rebuilds report.md, report.html and the figures from the saved results.
pub fn run(a: &ReportArgs) -> Result<()> {
    let _lock = asd_core::FolderLock::acquire(&a.run_dir)?;
    let r = asd_experiment::read_results(&a.run_dir)
        .with_context(|| format!("reading {}", a.run_dir.display()))?;
    asd_experiment::report::write_report(&a.run_dir, &r).context("writing the report")?;
    super::run::print_summary(&a.run_dir, &r);
    Ok(())
}
