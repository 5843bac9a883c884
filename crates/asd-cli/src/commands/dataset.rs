use crate::progress;
use anyhow::{Context, Result, bail};
use asd_dataset::inspect::inspect;
use asd_dataset::{Dataset, Edition, OpenOptions, Severity};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DatasetCommand {
    /// Summarise a DCASE dataset (machine types, sections, clips per split/domain/label, durations,
    /// sample rates, classes) and list every file that cannot be used. Exits non-zero if any file is
    /// unusable.
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// Dataset root (holding dev_data and/or eval_data), or one part folder.
    pub dir: PathBuf,
    /// Edition (2020-2026) instead of the one detected from the file names.
    #[arg(long)]
    pub edition: Option<Edition>,
    /// Folder with the evaluators' ground_truth_* folders (default: searched under the dataset root).
    #[arg(long)]
    pub truth_dir: Option<PathBuf>,
    /// Only read names and folders; do not decode the audio (faster, but cannot find corrupt files).
    #[arg(long)]
    pub no_decode: bool,
}

pub fn run(cmd: &DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Inspect(a) => inspect_cmd(a),
    }
}

fn inspect_cmd(a: &InspectArgs) -> Result<()> {
    let opts = OpenOptions {
        edition: a.edition,
        truth_dir: a.truth_dir.clone(),
    };
    let ds = Dataset::open(&a.dir, &opts)
        .with_context(|| format!("reading dataset {}", a.dir.display()))?;
    let pb = progress::bar(ds.clips.len() as u64, "decoding");
    let ins = inspect(&ds, !a.no_decode, &|| pb.inc(1));
    pb.finish_and_clear();
    let guess = if ds.edition_certain {
        ""
    } else {
        " (guessed; set --edition to be sure)"
    };
    println!("{}: {}{guess}", a.dir.display(), ds.edition);
    println!(
        "{} usable clips, {} auxiliary classes (machine type + section + attributes)\n",
        ins.usable, ins.n_classes
    );
    print!("{}", ins.table());
    let errors = ins.unusable();
    let warnings = ins.problems.len() - errors;
    if !ins.problems.is_empty() {
        println!("\n{errors} unusable file(s), {warnings} warning(s):");
        for p in &ins.problems {
            println!("  {p}");
        }
    }
    if ins.problems.iter().any(|p| p.severity == Severity::Error) {
        bail!("{errors} file(s) cannot be used (listed above)");
    }
    Ok(())
}
