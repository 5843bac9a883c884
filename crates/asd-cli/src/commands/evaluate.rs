use anyhow::{Context, Result, bail};
use asd_core::embedding_set::{INDEX_FILE, read_index};
use asd_core::{Label, Split, atomic};
use asd_eval::dcase::{DEFAULT_MAX_FPR, ScoredClip};
use asd_eval::submission::read_scores_dir;
use asd_eval::summary::{MetricKind, Summary, TrialStats};
use asd_eval::{ClipTruth, SectionResult, evaluate, table};
use clap::{Args, ValueEnum};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
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
    /// Folder with anomaly_score_<machine>_section_<XX>_test.csv files. Give several (trials, e.g.
    /// independently trained models) to also get mean ± std over them.
    #[arg(long, num_args = 1.., required = true)]
    pub scores: Vec<PathBuf>,
    /// Ground truth: an embedding set's index.csv (or its folder), or a dataset folder (DCASE layout;
    /// labels from the file names and, for anonymised files, from the evaluators' ground-truth files).
    #[arg(long)]
    pub truth: PathBuf,
    #[arg(long, value_enum, default_value = "official")]
    pub metric: Metric,
    /// Where results.json and results.csv go (default: the scores folder; with several, trials.json
    /// goes here too).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Ground truth from an embedding set's index or from a dataset folder.
pub fn truth_from(path: &Path) -> Result<HashMap<(String, String), ClipTruth>> {
    if path.is_dir() && !path.join(INDEX_FILE).exists() {
        let ds = asd_dataset::Dataset::open(path, &asd_dataset::OpenOptions::default())
            .with_context(|| format!("reading ground truth from dataset {}", path.display()))?;
        return Ok(truth_from_records(
            ds.clips.into_iter().map(|c| c.record).collect(),
        ));
    }
    truth_from_index(path)
}

/// Ground truth of the labelled test clips of an index, keyed by (machine type, file name).
pub fn truth_from_index(path: &Path) -> Result<HashMap<(String, String), ClipTruth>> {
    let path = if path.is_dir() {
        path.join(INDEX_FILE)
    } else {
        path.to_path_buf()
    };
    Ok(truth_from_records(read_index(&path)?))
}

fn truth_from_records(records: Vec<asd_core::ClipRecord>) -> HashMap<(String, String), ClipTruth> {
    records
        .into_iter()
        .filter(|r| r.split == Split::Test && r.label != Label::Unknown)
        .map(|r| {
            let name = Path::new(&r.file)
                .file_name()
                .map_or(r.file.clone(), |n| n.to_string_lossy().into_owned());
            let t = ClipTruth {
                machine_type: r.machine_type.clone(),
                section: r.section,
                domain: r.domain,
                anomaly: r.label == Label::Anomaly,
            };
            ((r.machine_type, name), t)
        })
        .collect()
}

/// Evaluates a scores folder; fails listing every unknown machine type or clip without truth.
pub fn evaluate_dir(
    scores: &Path,
    truth: &HashMap<(String, String), ClipTruth>,
) -> Result<Vec<SectionResult>> {
    let sections = read_scores_dir(scores)?;
    let known: BTreeSet<&str> = truth.keys().map(|(m, _)| m.as_str()).collect();
    let unknown: BTreeSet<&str> = sections
        .iter()
        .map(|s| s.machine_type.as_str())
        .filter(|m| !known.contains(m))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "machine type(s) {} in {} are unknown to the ground truth",
            unknown.into_iter().collect::<Vec<_>>().join(", "),
            scores.display()
        );
    }
    let mut clips = Vec::new();
    let mut missing = Vec::new();
    for s in &sections {
        for (file, score) in &s.rows {
            match truth.get(&(s.machine_type.clone(), file.clone())) {
                Some(t) => clips.push(ScoredClip {
                    truth: t.clone(),
                    score: *score,
                }),
                None => missing.push(format!("{}/{file}", s.machine_type)),
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} scored clip(s) have no ground truth: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    Ok(evaluate(&clips, DEFAULT_MAX_FPR))
}

/// Writes results.json (sections and summaries) and results.csv (one row per section) atomically.
pub fn write_results(out: &Path, results: &[SectionResult], summaries: &[Summary]) -> Result<()> {
    let json = serde_json::json!({ "sections": results, "summaries": summaries });
    atomic::write_bytes(
        &out.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    atomic::write_with(&out.join("results.csv"), |w| {
        writeln!(
            w,
            "machine_type,section,auc,auc_source,auc_target,pauc,pauc_source,pauc_target,simple_auc_source,simple_auc_target"
        )?;
        for r in results {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{}",
                r.machine_type,
                r.section,
                f(r.auc),
                f(r.auc_source),
                f(r.auc_target),
                f(r.pauc),
                f(r.pauc_source),
                f(r.pauc_target),
                f(r.simple_auc_source),
                f(r.simple_auc_target)
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

pub fn run(a: &EvaluateArgs) -> Result<()> {
    let truth = truth_from(&a.truth).context("reading the ground truth")?;
    let kind = match a.metric {
        Metric::Official => MetricKind::Official,
        Metric::Simple => MetricKind::Simple,
    };
    let mut overall = Vec::new();
    for scores in &a.scores {
        let results = evaluate_dir(scores, &truth)?;
        let summaries = Summary::all_and_per_machine(&results, kind);
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
            _ => scores.clone(),
        };
        write_results(&out, &results, &summaries)?;
        tracing::info!("results written to {}", out.display());
        overall.push(summaries[0].clone());
    }
    if overall.len() > 1 {
        let stat = |f: fn(&Summary) -> Option<f64>| {
            TrialStats::of(&overall.iter().map(f).collect::<Vec<_>>())
        };
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
    }
    Ok(())
}
