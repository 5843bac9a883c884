use anyhow::{Context, Result, bail};
use asd_core::embedding_set::{INDEX_FILE, read_index};
use asd_core::{Label, Split, atomic};
use asd_eval::dcase::{DEFAULT_MAX_FPR, ScoredClip};
use asd_eval::evaluator::{self, official_score_ci95};
use asd_eval::submission::{read_decisions, read_scores_dir};
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
    /// Ground truth: an embedding set's index.csv (or its folder), the official evaluator's folder
    /// (with ground_truth_data/ and ground_truth_domain/), or a dataset folder (DCASE layout; labels
    /// from the file names and, for anonymised files, from the evaluators' ground-truth files).
    #[arg(long)]
    pub truth: PathBuf,
    #[arg(long, value_enum, default_value = "official")]
    pub metric: Metric,
    /// Where results.json and results.csv go (default: the scores folder; with several, trials.json
    /// goes here too).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Ground truth from an embedding set's index, an evaluator folder or a dataset folder.
pub fn truth_from(path: &Path) -> Result<HashMap<(String, String), ClipTruth>> {
    if evaluator::is_truth_dir(path) {
        let t = evaluator::read_truth_dir(path).with_context(|| {
            format!("reading the evaluator's ground truth in {}", path.display())
        })?;
        // Submissions may name clips by their full DCASE names; both spellings map to one truth.
        let mut out: HashMap<(String, String), ClipTruth> = t.clips.clone().into_iter().collect();
        for ((m, full), anon) in &t.anonymised {
            if let Some(c) = t.clips.get(&(m.clone(), anon.clone())) {
                out.insert((m.clone(), full.clone()), c.clone());
            }
        }
        return Ok(out);
    }
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

/// The first 10 items and the count of the rest, so that an error stays readable.
fn some_of(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(10) {
        0 => shown,
        rest => format!("{shown} and {rest} more"),
    }
}

/// A scores folder evaluated: its sections and the official score's CI95.
pub struct Evaluated {
    pub results: Vec<SectionResult>,
    pub ci95: Option<f64>,
    /// Sections without a decision file (no precision, recall or F1 for them).
    pub without_decisions: Vec<String>,
}

/// Evaluates a scores folder (with its decision files, where present); fails listing every unknown
/// machine type, clip without truth, or clip without a decision in a section that has decisions.
pub fn evaluate_dir(
    scores: &Path,
    truth: &HashMap<(String, String), ClipTruth>,
) -> Result<Evaluated> {
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
    let mut undecided = Vec::new();
    let mut without_decisions = Vec::new();
    for s in &sections {
        let decisions = read_decisions(scores, &s.machine_type, &s.section)?;
        if decisions.is_none() {
            without_decisions.push(format!("{} section {}", s.machine_type, s.section));
        }
        for (file, score) in &s.rows {
            let decision = match &decisions {
                None => None,
                Some(d) => match d.get(file) {
                    Some(v) => Some(*v),
                    None => {
                        undecided.push(format!("{}/{file}", s.machine_type));
                        None
                    }
                },
            };
            // A file listed with a folder (`test/x.wav`) is matched by its base name, as the truth is.
            let base = Path::new(file)
                .file_name()
                .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            match truth
                .get(&(s.machine_type.clone(), file.clone()))
                .or_else(|| truth.get(&(s.machine_type.clone(), base)))
            {
                Some(t) => clips.push(ScoredClip {
                    truth: t.clone(),
                    score: *score,
                    decision,
                }),
                None => missing.push(format!("{}/{file}", s.machine_type)),
            }
        }
    }
    if !undecided.is_empty() {
        bail!(
            "{} scored clip(s) are missing from their decision_result file: {}",
            undecided.len(),
            some_of(&undecided)
        );
    }
    if !missing.is_empty() {
        bail!(
            "{} scored clip(s) have no ground truth: {}",
            missing.len(),
            some_of(&missing)
        );
    }
    Ok(Evaluated {
        results: evaluate(&clips, DEFAULT_MAX_FPR),
        ci95: official_score_ci95(&clips, DEFAULT_MAX_FPR),
        without_decisions,
    })
}

/// Writes results.json (sections and summaries), results.csv (one row per section) and, where every
/// section has its domain and decision metrics, official_result.csv (the official evaluator's own
/// layout), atomically.
pub fn write_results(
    out: &Path,
    results: &[SectionResult],
    summaries: &[Summary],
    ci95: Option<f64>,
) -> Result<()> {
    let json = serde_json::json!({ "sections": results, "summaries": summaries });
    atomic::write_bytes(
        &out.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    atomic::write_with(&out.join("results.csv"), |w| {
        writeln!(
            w,
            "machine_type,section,auc,auc_source,auc_target,pauc,pauc_source,pauc_target,simple_auc_source,simple_auc_target,precision_source,precision_target,recall_source,recall_target,f1_source,f1_target"
        )?;
        for r in results {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.machine_type,
                r.section,
                f(r.auc),
                f(r.auc_source),
                f(r.auc_target),
                f(r.pauc),
                f(r.pauc_source),
                f(r.pauc_target),
                f(r.simple_auc_source),
                f(r.simple_auc_target),
                f(r.precision_source),
                f(r.precision_target),
                f(r.recall_source),
                f(r.recall_target),
                f(r.f1_source),
                f(r.f1_target)
            )?;
        }
        Ok(())
    })?;
    if let Some(text) = evaluator::official_result_csv(results, ci95) {
        atomic::write_bytes(&out.join("official_result.csv"), text.as_bytes())?;
    }
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
        let Evaluated {
            results,
            ci95,
            without_decisions,
        } = evaluate_dir(scores, &truth)?;
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
            _ => scores.clone(),
        };
        write_results(&out, &results, &summaries, ci95)?;
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
