use super::evaluate::{evaluate_dir, truth_from_index, write_results};
use super::score::score_to_dir;
use anyhow::{Context, Result};
use asd_core::{ClipRecord, Domain, EmbeddingSet, Label, Split};
use asd_eval::summary::{MetricKind, Summary};
use asd_eval::table;
use asd_scoring::MethodSpec;
use asd_scoring::pipeline::ScoreOptions;
use clap::Args;
use ndarray::{Array1, Array2, Axis};
use ndarray_npy::read_npy;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DemoArgs {
    /// Output folder (embedding set, scores and results of each method).
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Folder of the reference scoring fixtures (train_emb.npy, test_emb.npy, …).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/reference/scoring"))]
    pub fixtures: PathBuf,
}

/// Turns the authors' reference scoring arrays into an embedding-set folder.
pub fn fixture_set(dir: &Path) -> Result<EmbeddingSet> {
    let read2 = |n: &str| -> Result<Array2<f32>> {
        read_npy(dir.join(n)).with_context(|| format!("{}", dir.join(n).display()))
    };
    let read1 = |n: &str| -> Result<Array1<i64>> {
        read_npy(dir.join(n)).with_context(|| format!("{}", dir.join(n).display()))
    };
    let (train, test) = (read2("train_emb.npy")?, read2("test_emb.npy")?);
    let (trs, tes) = (read1("train_section.npy")?, read1("test_section.npy")?);
    let (trd, ted) = (
        read1("train_domain_is_source.npy")?,
        read1("test_domain_is_source.npy")?,
    );
    let anom = read1("test_is_anomaly.npy")?;
    let dom = |s: i64| {
        if s == 1 {
            Domain::Source
        } else {
            Domain::Target
        }
    };
    let mut records = Vec::new();
    for i in 0..train.nrows() {
        records.push(ClipRecord {
            file: format!("train_{i:04}.wav"),
            machine_type: "reference".into(),
            section: format!("{:02}", trs[i]),
            domain: dom(trd[i]),
            split: Split::Train,
            label: Label::Normal,
            attribute: String::new(),
        });
    }
    for i in 0..test.nrows() {
        records.push(ClipRecord {
            file: format!("test_{i:04}.wav"),
            machine_type: "reference".into(),
            section: format!("{:02}", tes[i]),
            domain: dom(ted[i]),
            split: Split::Test,
            label: if anom[i] == 1 {
                Label::Anomaly
            } else {
                Label::Normal
            },
            attribute: String::new(),
        });
    }
    Ok(EmbeddingSet::new(
        ndarray::concatenate(Axis(0), &[train.view(), test.view()])?,
        records,
    )?)
}

pub fn run(a: &DemoArgs) -> Result<()> {
    let set = fixture_set(&a.fixtures)?;
    let emb_dir = a.out.join("embeddings");
    set.write(&emb_dir)?;
    let truth = truth_from_index(&emb_dir)?;
    let mut rows = Vec::new();
    for name in [
        "nn",
        "knn-mean_k16",
        "lof_k8",
        "ratio_k16",
        "ratio_gwrp_r0.9",
    ] {
        let method: MethodSpec = name.parse()?;
        let dir = a.out.join(name);
        score_to_dir(&set, &ScoreOptions::new(method), 0.9, &dir)?;
        let results = evaluate_dir(&dir, &truth)?;
        let summaries = Summary::all_and_per_machine(&results, MetricKind::Official);
        write_results(&dir, &results, &summaries)?;
        let s = &summaries[0];
        rows.push(vec![
            name.to_string(),
            table::pct(s.hmean_source),
            table::pct(s.hmean_target),
            table::pct(s.hmean),
        ]);
    }
    println!(
        "Reference embeddings (3 sections, {} clips), harmonic means in %:\n",
        set.len()
    );
    print!(
        "{}",
        table::markdown(
            &[
                "method",
                "source domain",
                "target domain",
                "both (official)"
            ],
            &rows
        )
    );
    println!(
        "\nScores, submission files and results per method are in {}",
        a.out.display()
    );
    Ok(())
}
