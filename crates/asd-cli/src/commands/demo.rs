use super::score::score_to_dir;
use anyhow::{Context, Result};
use asd_core::{ClipRecord, Domain, EmbeddingSet, Label, Split};
use asd_dataset::synth::Preset;
use asd_dataset::{Dataset, OpenOptions};
use asd_eval::folder::{evaluate_folder, write_results};
use asd_eval::summary::{MetricKind, Summary};
use asd_eval::table;
use asd_experiment::RunConfig;
use asd_model::DeviceChoice;
use asd_scoring::MethodSpec;
use asd_scoring::pipeline::ScoreOptions;
use clap::Args;
use ndarray::{Array1, Array2, Axis};
use ndarray_npy::ReadNpyExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DemoArgs {
    /// Output folder (synthetic data, members, scores, results, report).
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Ensemble members.
    #[arg(long, default_value_t = 2)]
    pub members: usize,
    /// Epochs per member.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Seed of the data and of the models.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Instead: score and evaluate the scoring fixture (synthetic unit vectors whose scores the authors'
    /// code computed; not embeddings of recordings), in seconds, without training.
    #[arg(long)]
    pub reference: bool,
    /// For --reference: a folder holding the scoring fixture's arrays (train_emb.npy, test_emb.npy,
    /// …) to use instead of the copy built into the binary.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
}

/// The methods of the reduced experiment: the baselines and the paper's re-scaled score.
pub fn demo_config(members: usize, epochs: usize, seed: u64) -> RunConfig {
    RunConfig {
        members,
        seed,
        epochs: Some(epochs),
        batch_size: 32,
        methods: [
            "nn",
            "nn@means",
            "lof_k8",
            "ratio_k4",
            "ratio_k16",
            "ratio_k16@means",
            "ratio_gwrp_r0.9",
        ]
        .map(|name| {
            name.parse()
                .unwrap_or_else(|e| unreachable!("the demo's method names parse: {e}"))
        })
        .to_vec(),
        sweep_k: vec![1, 2, 4, 8, 16, 32],
        sweep_r: (0..=10).map(|i| f64::from(i) / 10.0).collect(),
        ..RunConfig::default()
    }
}

/// `asd demo`: the small synthetic dataset, a reduced experiment (2 members, 3 epochs) and its report.
fn synthetic(a: &DemoArgs) -> Result<()> {
    let data = a.out.join("data");
    if !data.join("dev_data").is_dir() {
        let n = asd_dataset::synth::plan(Preset::Small, a.seed).len() as u64;
        let pb = crate::progress::bar(n, "synthesising");
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        asd_dataset::synth::generate(&data, Preset::Small, a.seed, &|| pb.inc(1))
            .with_context(|| format!("writing {}", data.display()))?;
        pb.finish_and_clear();
    }
    let ds = Dataset::open(&data, &OpenOptions::default())
        .with_context(|| format!("reading {}", data.display()))?;
    let cfg = demo_config(a.members, a.epochs, a.seed);
    let results = super::run::run_with_progress(&ds, &a.out, &cfg, DeviceChoice::Cpu)?;
    super::run::print_summary(&a.out, &results);
    Ok(())
}

/// The scoring fixture's arrays, built into the binary so that an installed `asd demo --reference`
/// needs no source tree (~0.4 MB).
macro_rules! built_in {
    ($($name:literal),*) => {
        fn built_in_fixture(name: &str) -> Option<&'static [u8]> {
            match name {
                $($name => Some(include_bytes!(concat!(
                    "../../../../tests/fixtures/reference/scoring/",
                    $name
                ))),)*
                _ => None,
            }
        }
    };
}
built_in!(
    "train_emb.npy",
    "test_emb.npy",
    "train_section.npy",
    "test_section.npy",
    "train_domain_is_source.npy",
    "test_domain_is_source.npy",
    "test_is_anomaly.npy"
);

/// Turns the scoring fixture's arrays (synthetic embeddings) into an embedding set: from `dir`, or
/// the built-in copy.
pub fn fixture_set(dir: Option<&Path>) -> Result<EmbeddingSet> {
    let bytes = |n: &str| -> Result<Vec<u8>> {
        match dir {
            Some(d) => {
                let p = d.join(n);
                std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))
            }
            None => built_in_fixture(n)
                .map(<[u8]>::to_vec)
                .with_context(|| format!("{n} is not built in")),
        }
    };
    let read2 = |n: &str| -> Result<Array2<f32>> {
        Array2::<f32>::read_npy(&bytes(n)?[..])
            .with_context(|| format!("{n}: not a float32 matrix"))
    };
    let read1 = |n: &str| -> Result<Array1<i64>> {
        Array1::<i64>::read_npy(&bytes(n)?[..]).with_context(|| format!("{n}: not an int64 vector"))
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
    if a.reference {
        reference(a)
    } else {
        synthetic(a)
    }
}

fn reference(a: &DemoArgs) -> Result<()> {
    let set = fixture_set(a.fixtures.as_deref())?;
    let emb_dir = a.out.join("embeddings");
    set.write(&emb_dir)?;
    let truth = asd_eval::folder::Truth::from_index(&emb_dir)?;
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
        let e = evaluate_folder(&dir, &truth, false)?;
        let mut summaries = Summary::all_and_per_machine(&e.results, MetricKind::Official);
        summaries[0].official_score_ci95 = e.ci95;
        write_results(&dir, &e.results, &summaries, e.ci95, &e.incomplete)?;
        let s = &summaries[0];
        rows.push(vec![
            name.to_string(),
            table::pct(s.hmean_source),
            table::pct(s.hmean_target),
            table::pct(s.hmean),
        ]);
    }
    println!(
        "Scoring fixture: synthetic unit vectors (3 sections, {} clips; not embeddings of recordings),\nscored as the authors' code scores them; harmonic means in %:\n",
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
