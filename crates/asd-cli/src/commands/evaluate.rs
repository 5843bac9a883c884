use anyhow::{Context, Result};
use asd_core::atomic;
use asd_core::embedding_set::INDEX_FILE;
use asd_eval::evaluator;
use asd_eval::folder::{Evaluated, Truth, evaluate_folder, write_results};
use asd_eval::summary::{MetricKind, Summary, TrialStats};
use asd_eval::table;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
pub enum Metric {
    /// DCASE evaluators: domain AUC over that domain's normals plus all anomalies.
    Official,
    /// Domain AUC over clips of that domain only.
    Simple,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// Folder with anomaly_score_MACHINE_section_XX_test.csv files. Give several (trials, e.g.
    /// independently trained models) to also get mean ± std over them.
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<PathBuf>,
    /// Ground truth: an embedding set's index.csv (or its folder), the official evaluator's folder
    /// (with ground_truth_data/ and ground_truth_domain/), or a dataset folder (DCASE layout; labels
    /// from the file names and, for anonymised files, from the evaluators' ground-truth files).
    #[arg(long)]
    pub truth: PathBuf,
    /// How a domain's AUC is computed: over that domain's normal clips and all anomalies (official,
    /// as the DCASE evaluators), or over that domain's clips only (simple).
    #[arg(long, value_enum, default_value = "official")]
    pub metric: Metric,
    /// Where results.json and results.csv go (default: the scores folder; with several, trials.json
    /// goes here too).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Evaluate a submission that lacks sections or clips of the ground truth (the official
    /// evaluator refuses it): a warning per gap, and `"partial": true` in results.json.
    #[arg(long)]
    pub allow_partial: bool,
}

/// Ground truth from an embedding set's index, an evaluator folder or a dataset folder.
pub fn truth_from(path: &Path) -> Result<Truth> {
    if evaluator::is_truth_dir(path) {
        let t = evaluator::read_truth_dir(path).with_context(|| {
            format!("reading the evaluator's ground truth in {}", path.display())
        })?;
        return Ok(Truth::from_evaluator(&t));
    }
    if path.is_dir() && !path.join(INDEX_FILE).exists() {
        // A part of a dataset (DATASET/dev_data) has no clips of its own at the top: name the root.
        let part = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| ["dev_data", "eval_data", "additional_train_data"].contains(n));
        if let (Some(part), Some(root)) = (part, path.parent()) {
            anyhow::bail!(
                "{} is the {part} part of a dataset: give the dataset root as --truth ({})",
                path.display(),
                root.display()
            );
        }
        let ds = asd_dataset::Dataset::open(path, &asd_dataset::OpenOptions::default())
            .with_context(|| format!("reading ground truth from dataset {}", path.display()))?;
        return Ok(Truth::from_records(ds.clips.into_iter().map(|c| c.record)));
    }
    Ok(Truth::from_index(path)?)
}

pub fn run(a: &EvaluateArgs) -> Result<()> {
    let truth = truth_from(&a.truth).context("reading the ground truth")?;
    let kind = match a.metric {
        Metric::Official => MetricKind::Official,
        Metric::Simple => MetricKind::Simple,
    };
    let mut overall = Vec::new();
    for scores in &a.scores {
        overall.push(evaluate_one(a, scores, &truth, kind)?);
    }
    if overall.len() > 1 {
        trials(a, &overall)?;
    }
    Ok(())
}

/// One submission folder: its tables printed, its result files written; returns its summary over
/// all machine types.
fn evaluate_one(
    a: &EvaluateArgs,
    scores: &std::path::Path,
    truth: &Truth,
    kind: MetricKind,
) -> Result<Summary> {
    let Evaluated {
        results,
        ci95,
        without_decisions,
        incomplete,
    } = evaluate_folder(scores, truth, a.allow_partial)?;
    for gap in &incomplete {
        tracing::warn!("partial submission: {gap}");
    }
    if !without_decisions.is_empty() {
        tracing::warn!(
            "no decision_result file for {}: precision, recall and F1 left out",
            without_decisions.join(", ")
        );
    }
    let mut summaries = Summary::all_and_per_machine(&results, kind);
    summaries[0].official_score_ci95 = ci95;
    for r in results.iter().filter(|r| !r.notes.is_empty()) {
        tracing::warn!(
            "{} section {}: {}",
            r.machine_type,
            r.section,
            r.notes.join("; ")
        );
    }
    if a.scores.len() > 1 {
        println!("{}:", scores.display());
    }
    print!(
        "{}\n{}",
        table::sections_table(&results),
        table::summary_table(&summaries)
    );
    let out = match (&a.out, a.scores.len()) {
        (Some(o), 1) => o.clone(),
        _ => scores.to_path_buf(),
    };
    write_results(&out, &results, &summaries, ci95, &incomplete)?;
    tracing::info!("results written to {}", out.display());
    Ok(summaries[0].clone())
}

/// Several submissions (trials of one system): mean ± std of the harmonic means, printed and, with
/// --out, written to trials.json.
fn trials(a: &EvaluateArgs, overall: &[Summary]) -> Result<()> {
    let stat =
        |f: fn(&Summary) -> Option<f64>| TrialStats::of(&overall.iter().map(f).collect::<Vec<_>>());
    let (src, tgt, both) = (
        stat(|s| s.hmean_source),
        stat(|s| s.hmean_target),
        stat(|s| s.hmean),
    );
    println!(
        "\nmean ± std over {} trials (harmonic means in %):\n",
        overall.len()
    );
    print!(
        "{}",
        table::markdown(
            &["source domain", "target domain", "both (official)"],
            &[vec![
                table::pct_stats(src),
                table::pct_stats(tgt),
                table::pct_stats(both)
            ]]
        )
    );
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let json = serde_json::json!({
            "trials": a.scores.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "summaries": overall,
            "source": src, "target": tgt, "both": both,
        });
        atomic::write_bytes(
            &out.join("trials.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
    }
    Ok(())
}
