use anyhow::{Context, Result, bail};
use asd_core::{EmbeddingSet, FolderLock, atomic};
use asd_scoring::pipeline::ScoreOptions;
use asd_scoring::{MethodSpec, ReferenceChoice, submission};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
pub enum References {
    /// Every normal training embedding of the section, both domains.
    All,
    /// k-means centres of the source domain plus all target samples.
    SourceMeans,
}

#[derive(Args)]
pub struct ScoreArgs {
    /// Embedding-set folder (embeddings.npy + index.csv).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Method: nn, knn-mean, ratio, difference or lof (with --k / --gwrp), or a full name as the run
    /// config and the reports write it: ratio_k16, ratio_gwrp_r0.9, lof_k8, knn-mean_k16, difference_k16.
    #[arg(long, default_value = "ratio")]
    pub method: String,
    /// K: neighbours of the density (ratio, difference; default 16), of knn-mean (16) or lof (8).
    #[arg(long)]
    pub k: Option<usize>,
    /// GWRP weight factor r in [0, 1] for the density of ratio or difference (instead of --k).
    #[arg(long)]
    pub gwrp: Option<f64>,
    /// Standardise each reference's scores per domain over the section's test clips (nn, ratio, difference).
    #[arg(long)]
    pub standardize: bool,
    /// Which training embeddings serve as references.
    #[arg(long, value_enum, default_value = "all")]
    pub references: References,
    /// Number of k-means centres per section for --references source-means (at least 1).
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub means: usize,
    /// Seed of every random choice (k-means initialisation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pool the references of all sections of a machine type.
    #[arg(long)]
    pub pool_sections: bool,
    /// cosine (on unit vectors: the trained network's embeddings) or euclidean (0.25 · ‖x − y‖₂ on the
    /// embeddings as they are: how the authors score frozen front-ends' raw embeddings).
    #[arg(long, default_value = "cosine")]
    pub distance: asd_scoring::Distance,
    /// SMOTE of the target references with this many neighbours (imbalanced-learn's default is 5):
    /// synthetic target references on segments between near target references, until both domains
    /// have as many references. Seeded by --seed.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub smote: Option<usize>,
    /// Percentile of the gamma distribution fitted to the training clips' leave-one-out scores that
    /// serves as decision threshold.
    #[arg(long, default_value_t = 0.9)]
    pub decision_percentile: f64,
    /// Output folder for the DCASE submission files.
    #[arg(long)]
    pub out: PathBuf,
}

/// Scores an embedding set into a submission folder (`asd_scoring::submission`), logging the
/// reference sets scored with K clipped and failing when a reference set could not be scored (the
/// others are written).
pub fn score_to_dir(
    set: &EmbeddingSet,
    opts: &ScoreOptions,
    percentile: f64,
    out: &Path,
) -> Result<()> {
    let written = submission::score_to_dir(set, opts, percentile, out)?;
    for note in &written.notes {
        tracing::warn!("{note}");
    }
    for (key, err) in &written.failures {
        tracing::error!("{key}: {err}");
    }
    if !written.failures.is_empty() {
        bail!(
            "{} reference set(s) could not be scored (listed above); the others were written",
            written.failures.len()
        );
    }
    Ok(())
}

/// Embedding sets (folders with an index) up to three levels below `dir`, at most five, in order: what
/// a user who named a member or run folder meant.
fn embedding_sets_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            let mut subs: Vec<_> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            subs.sort();
            for p in subs {
                if p.join(asd_core::embedding_set::INDEX_FILE).exists() {
                    found.push(p);
                } else {
                    next.push(p);
                }
            }
        }
        level = next;
    }
    found.truncate(5);
    found
}

/// Removes what killed writers left beside an output folder (its temporary sibling, or the old
/// folder of a swap cut between its renames, which is put back).
pub fn clean_beside(out: &Path) {
    match atomic::clean_stale_of(out) {
        Ok(touched) => {
            for p in touched {
                tracing::info!("removed what an interrupted run left: {}", p.display());
            }
        }
        Err(e) => tracing::warn!("beside {}: cannot tidy: {e}", out.display()),
    }
}

pub fn run(a: &ScoreArgs) -> Result<()> {
    if !(0.0..1.0).contains(&a.decision_percentile) {
        bail!(
            "--decision-percentile must lie in [0, 1), got {}",
            a.decision_percentile
        );
    }
    let method = if a.method.contains('_') {
        if a.k.is_some() || a.gwrp.is_some() {
            anyhow::bail!(
                "method '{}' already names its parameter: drop --k / --gwrp",
                a.method
            );
        }
        a.method.parse::<MethodSpec>()?
    } else {
        MethodSpec::from_parts(&a.method, a.k, a.gwrp)?
    };
    let _lock = FolderLock::acquire(&a.out)?;
    clean_beside(&a.out);
    if !a
        .embeddings
        .join(asd_core::embedding_set::INDEX_FILE)
        .exists()
    {
        let found = embedding_sets_below(&a.embeddings);
        if !found.is_empty() {
            bail!(
                "{} holds no embedding set itself (no {}); the sets below it: {}",
                a.embeddings.display(),
                asd_core::embedding_set::INDEX_FILE,
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let set = EmbeddingSet::read(&a.embeddings).context("reading the embedding set")?;
    let mut opts = ScoreOptions::new(method);
    opts.standardize = a.standardize;
    opts.pool_sections = a.pool_sections;
    opts.distance = a.distance;
    opts.smote = a
        .smote
        .map(|k| asd_scoring::smote::Smote { k, seed: a.seed });
    opts.references = match a.references {
        References::All => ReferenceChoice::All,
        References::SourceMeans => ReferenceChoice::SourceMeans {
            k: a.means,
            seed: a.seed,
        },
    };
    score_to_dir(&set, &opts, a.decision_percentile, &a.out)?;
    tracing::info!(
        "method {method}, {} distance: scores written to {}",
        a.distance,
        a.out.display()
    );
    Ok(())
}
