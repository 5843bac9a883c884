//! `asd run`: train the ensemble members, embed the dataset with each, score every configuration,
//! evaluate members and ensemble per part, sweep K and r, and keep everything on disk so that an
//! interrupted run continues and a re-run with new methods never retrains.

use crate::config::RunConfig;
use crate::scoring::{MethodScores, ensemble, evaluate_part, part_ci95, score_member};
use asd_core::seed::derive_seed;
use asd_core::{ClipId, ClipRecord, Domain, EmbeddingSet, IoOp, SectionKey, Split, atomic};
use asd_dataset::{Dataset, Part};
use asd_eval::dcase::SectionResult;
use asd_eval::submission::{SectionScores, write_section};
use asd_eval::summary::{Summary, TrialStats};
use asd_model::fit::{FitOptions, default_epochs, fit};
use asd_model::train::{EpochReport, StepReport, TrainConfig};
use asd_model::{DeviceChoice, ModelDir};
use asd_scoring::density::Density;
use asd_scoring::{MethodChoice, MethodSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: cannot {op}: {source}")]
    Io {
        path: PathBuf,
        op: IoOp,
        #[source]
        source: std::io::Error,
    },
    #[error("member {member}: {source}")]
    Member {
        member: usize,
        #[source]
        source: asd_model::ModelError,
    },
    #[error("front-end: {0}")]
    Frontend(#[from] asd_frontend::FrontendError),
    #[error("member {member}: embeddings: {source}")]
    MemberEmbeddings {
        member: usize,
        #[source]
        source: asd_core::EmbeddingSetError,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{method}: {source}")]
    Scoring {
        method: String,
        #[source]
        source: asd_scoring::ScoringError,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{figure}: cannot draw")]
    Plot {
        figure: String,
        #[source]
        source: crate::plots::PlotError,
    },
    #[error(
        "{} has no {RESULTS_FILE}: its last run did not finish; run it again to complete it",
        run_dir.display()
    )]
    Unfinished { run_dir: PathBuf },
    #[error(
        "{} is not a run folder (no {RESULTS_FILE} and no run_config.json): give the folder `asd run --out` or `asd demo --out` wrote",
        path.display()
    )]
    NotARun { path: PathBuf },
}

/// Maps a JSON error to one naming `path`.
fn json(path: &Path) -> impl FnOnce(serde_json::Error) -> RunError + '_ {
    move |source| RunError::Json {
        path: path.to_path_buf(),
        source,
    }
}

/// Maps an I/O error to one naming `path`.
pub(crate) fn io(path: &Path, op: IoOp) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// What the run reports while it works.
#[derive(Debug, Clone)]
pub enum Event {
    /// A new stage, e.g. "member 2/10: training".
    Stage(String),
    /// One training step of a member.
    Step { member: usize, step: StepReport },
    /// One scoring configuration done (of `total`).
    Scored { done: usize, total: usize },
}

/// Table I figures of one part: per member, their mean ± std, and the ensemble.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PartResult {
    pub members: Vec<Summary>,
    pub source: Option<TrialStats>,
    pub target: Option<TrialStats>,
    pub both: Option<TrialStats>,
    pub ensemble: Summary,
    pub ensemble_sections: Vec<SectionResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MethodResult {
    pub name: String,
    /// "dev" and/or "eval".
    pub parts: BTreeMap<String, PartResult>,
    pub failures: Vec<String>,
}

/// One point of a sweep: the parameter and, per part, the ensemble's and the members' mean official
/// score.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepPoint {
    pub x: f64,
    pub ensemble: BTreeMap<String, Option<f64>>,
    pub member_mean: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunResults {
    pub dataset: String,
    pub edition: String,
    pub config: RunConfig,
    pub epochs: usize,
    pub clip_len: usize,
    pub training: Vec<Vec<EpochReport>>,
    pub methods: Vec<MethodResult>,
    pub sweep_k: Vec<SweepPoint>,
    pub sweep_r: Vec<SweepPoint>,
    pub warnings: Vec<String>,
    /// Clips of the dataset that some member could not embed (unreadable, too short, not finite):
    /// they are missing from the scores and the evaluation.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// How the run was made (absent in results of older versions).
    #[serde(default)]
    pub provenance: Option<Provenance>,
}

/// What a reader needs to redo a run: the command line, the version, when, where and how long.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// The command line of the process that ran it.
    pub command: String,
    pub version: String,
    /// ISO 8601 UTC.
    pub started: String,
    /// Of this invocation: members reused from an earlier one are not counted again.
    pub wall_seconds: f64,
    /// CPU model, vector extension and threads (asd_core::host::describe).
    pub machine: String,
}

impl Provenance {
    fn start() -> (std::time::Instant, String) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (std::time::Instant::now(), iso8601_utc(secs))
    }

    fn finish(t0: std::time::Instant, started: String) -> Self {
        let command = std::env::args_os()
            .map(|a| {
                let a = a.to_string_lossy().into_owned();
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            command,
            version: env!("CARGO_PKG_VERSION").to_string(),
            started,
            wall_seconds: t0.elapsed().as_secs_f64(),
            machine: asd_core::host::describe(),
        }
    }
}

/// The dataset's clips that are missing from an embedding set, by path.
fn missing_clips(ds: &Dataset, set: &EmbeddingSet) -> Vec<String> {
    let embedded: BTreeSet<(&str, Split, &str)> = set
        .records
        .iter()
        .map(|r| (r.machine_type.as_str(), r.split, r.file.as_str()))
        .collect();
    ds.clips
        .iter()
        .filter(|c| {
            !embedded.contains(&(
                c.record.machine_type.as_str(),
                c.record.split,
                c.record.file.as_str(),
            ))
        })
        .map(|c| c.path.display().to_string())
        .collect()
}

pub const RESULTS_FILE: &str = "results.json";
pub const LOG_FILE: &str = "run.log";

/// Appends timestamped lines to `RUN_DIR/run.log`.
pub struct RunLog {
    path: PathBuf,
}

impl RunLog {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            path: run_dir.join(LOG_FILE),
        }
    }
    pub fn line(&self, msg: &str) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let secs = iso8601_utc(secs);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            let _ = writeln!(f, "[{secs}] {msg}");
        }
    }
}

/// `2026-12-05T08:03:23Z` for seconds since the Unix epoch (proleptic Gregorian calendar, UTC).
pub fn iso8601_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

pub fn member_dir(run_dir: &Path, i: usize) -> PathBuf {
    run_dir.join("members").join(format!("{i:02}"))
}

fn parts_of(ds: &Dataset) -> BTreeMap<String, BTreeSet<String>> {
    ds.machine_types()
        .into_iter()
        .map(|(p, m)| (p.as_str().to_string(), m))
        .collect()
}

/// Member `i`'s training settings: the run's, with the member's own seed.
/// Member `i`'s training options; `clip_len` is the first member's, so later members neither survey
/// the clips' lengths again nor repeat its summary lines.
fn member_fit_options(
    ds: &Dataset,
    cfg: &RunConfig,
    i: usize,
    device: DeviceChoice,
    clip_len: Option<usize>,
) -> FitOptions {
    let train = TrainConfig {
        epochs: cfg.epochs.unwrap_or_else(|| default_epochs(ds.edition)),
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: derive_seed(cfg.seed, &[i as u64]),
        unmixed_pass: cfg.unmixed_pass,
        target_labels: cfg.target_labels,
        ..TrainConfig::default()
    };
    FitOptions {
        train,
        clip_len: cfg.clip_seconds.map(asd_audio::model_samples).or(clip_len),
        resume: true,
        device,
        channel: channel_policy(ds, cfg).training_channel(),
        quiet: i > 0,
    }
}

/// Trains and embeds member `i` unless it is already complete.
fn ensure_member(
    ds: &Dataset,
    run_dir: &Path,
    i: usize,
    cfg: &RunConfig,
    opts: &FitOptions,
    log: &RunLog,
    events: &mut dyn FnMut(Event),
) -> Result<(EmbeddingSet, Vec<EpochReport>, usize), RunError> {
    let device = opts.device;
    let dir = member_dir(run_dir, i);
    let model = ModelDir::new(&dir.join("model"));
    let n = cfg.members;
    let policy = channel_policy(ds, cfg);
    let emb_dir = dir.join("embeddings");
    let embedded = emb_dir.join(asd_core::embedding_set::INDEX_FILE).exists();
    // Says what happens: a finished member is only checked, an interrupted one goes on.
    let doing = if embedded {
        "reusing its trained model and embeddings"
    } else if opts.resume && asd_model::fit::has_checkpoint(&model) {
        "resuming its training"
    } else {
        "training"
    };
    events(Event::Stage(format!("member {}/{n}: {doing}", i + 1)));
    let r = fit(ds, &model, opts, &mut |step| {
        events(Event::Step { member: i, step })
    })
    .map_err(|source| RunError::Member { member: i, source })?;
    for (p, e) in &r.failures {
        log.line(&format!(
            "member {i}: skipped unreadable clip {}: {e}",
            p.display()
        ));
    }
    let cfg_m = model
        .config()
        .map_err(|source| RunError::Member { member: i, source })?;
    if !embedded {
        events(Event::Stage(format!("member {}/{n}: embedding", i + 1)));
        let device = device
            .device()
            .map_err(|source| RunError::Member { member: i, source })?;
        let (net, _) = model
            .load_net(&device)
            .map_err(|source| RunError::Member { member: i, source })?;
        let (set, failures) = asd_model::embed::embed_dataset_channels(
            &net,
            cfg_m.net.clip_len,
            cfg_m.sample_rate,
            &policy.embedding_channels(),
            ds,
            &device,
            &mut |_| {},
        )
        .map_err(|source| RunError::Member { member: i, source })?;
        for (p, e) in &failures {
            log.line(&format!(
                "member {i}: clip not embedded {}: {e}",
                p.display()
            ));
        }
        // The set replaces its folder as a unit, so a half-written set never counts as done.
        set.write(&emb_dir)
            .map_err(|source| RunError::MemberEmbeddings { member: i, source })?;
        log.line(&format!("member {i}: {} clips embedded", set.len()));
    }
    let set = EmbeddingSet::read(&emb_dir)
        .map_err(|source| RunError::MemberEmbeddings { member: i, source })?;
    let training = model
        .log()
        .map_err(|source| RunError::Member { member: i, source })?;
    Ok((set, training, cfg_m.net.clip_len))
}

fn write_scores(
    dir: &Path,
    scores: &MethodScores,
    truth: &BTreeMap<ClipId, ClipRecord>,
    percentile: f64,
) -> Result<(), RunError> {
    let mut sections: BTreeMap<SectionKey, SectionScores> = BTreeMap::new();
    for (id, v) in &scores.test {
        sections
            .entry(id.section())
            .or_insert_with(|| SectionScores {
                machine_type: id.machine_type.clone(),
                section: id.section.clone(),
                rows: vec![],
            })
            .rows
            .push((id.file.clone(), *v));
    }
    let thresholds = scores.thresholds(percentile);
    // One table with the metadata, for plots and for users' own analyses.
    let mut csv = String::from("machine_type,section,file,domain,label,score\n");
    for (k, v) in &scores.test {
        if let Some(r) = truth.get(k) {
            let (m, sec, f) = (&k.machine_type, &k.section, &k.file);
            csv += &format!("{m},{sec},{f},{},{},{v}\n", r.domain, r.label);
        }
    }
    // The method's folder is replaced as a unit: never one run's sections beside another's.
    atomic::replace_dir(dir, |tmp| {
        for (k, sec) in &sections {
            let threshold = thresholds.get(k).copied().unwrap_or(f64::INFINITY);
            write_section(tmp, sec, threshold)?;
        }
        std::fs::write(tmp.join("scores.csv"), csv.as_bytes())
    })
    .map_err(io(dir, IoOp::Write))
}

/// Files that describe a finished run; a new run removes them before it starts, so that a run that
/// is interrupted never leaves an older summary that looks current.
const SUMMARY_FILES: [&str; 3] = [RESULTS_FILE, "report.md", "report.html"];

/// Prepares a run folder for a new run: removes what killed writers left behind (temporary files,
/// an interrupted folder swap) and the previous run's summary.
fn prepare_run_dir(run_dir: &Path, log: &RunLog) -> Result<(), RunError> {
    std::fs::create_dir_all(run_dir).map_err(io(run_dir, IoOp::CreateFolder))?;
    for p in atomic::clean_stale(run_dir, 4).map_err(io(run_dir, IoOp::CleanUp))? {
        log.line(&format!(
            "removed what an interrupted run left: {}",
            p.display()
        ));
    }
    for name in SUMMARY_FILES {
        let p = run_dir.join(name);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(&p, IoOp::Remove)(e));
            }
            _ => {}
        }
    }
    Ok(())
}

fn describe_channel(c: Option<usize>) -> String {
    c.map_or_else(|| "mean of all".to_string(), |c| c.to_string())
}

/// The run's channel policy: the configured one, else the edition's default.
pub fn channel_policy(ds: &Dataset, cfg: &RunConfig) -> asd_core::ChannelPolicy {
    cfg.channel
        .unwrap_or_else(|| asd_core::ChannelPolicy::default_for(ds.edition.near_far_stereo()))
}

fn official(s: &Summary) -> Option<f64> {
    s.hmean
}

/// Runs (or continues) the experiment.
/// Runs the whole experiment: members trained (or resumed) and embedded, every configured method
/// scored, the K and r sweeps, results.json. Each step is a function below.
pub fn run(
    ds: &Dataset,
    run_dir: &Path,
    cfg: &RunConfig,
    device: DeviceChoice,
    events: &mut dyn FnMut(Event),
) -> Result<RunResults, RunError> {
    let (t0, started) = Provenance::start();
    cfg.validate()?;
    std::fs::create_dir_all(run_dir).map_err(io(run_dir, IoOp::CreateFolder))?;
    let log = RunLog::new(run_dir);
    prepare_run_dir(run_dir, &log)?;
    // The resolved policy, distance and member count are what run_config.json records, so the
    // folder says which were used. A frozen front-end gives the same embeddings every time: one member.
    let cfg = &RunConfig {
        channel: Some(log_start(ds, cfg, &log)),
        members: if cfg.frontend.is_frozen() {
            1
        } else {
            cfg.members
        },
        distance: Some(cfg.distance()),
        ..cfg.clone()
    };
    log.line(&format!(
        "front-end {}, {} distance",
        cfg.frontend.name(),
        cfg.distance()
    ));
    let warnings = domain_warnings(ds);
    for w in &warnings {
        log.line(&format!("warning: {w}"));
        tracing::warn!("{w}");
    }
    write_json(&run_dir.join("run_config.json"), cfg)?;
    let members = prepare_members(ds, run_dir, cfg, device, &log, events)?;
    let scoring = Scoring::new(ds, cfg, &members.sets);
    let total = cfg.methods.len() + cfg.sweep_k.len() + cfg.sweep_r.len();
    let mut done = 0;
    let mut progress = |events: &mut dyn FnMut(Event)| {
        done += 1;
        events(Event::Scored { done, total });
    };
    events(Event::Stage("scoring".into()));
    let mut methods = Vec::new();
    for choice in &cfg.methods {
        methods.push(scoring.method(choice, run_dir, &log)?);
        progress(events);
    }
    let mut sweep_k = Vec::new();
    for &k in &cfg.sweep_k {
        sweep_k.push(scoring.sweep_point(MethodSpec::Ratio(Density::KnnMean(k)), k as f64)?);
        progress(events);
    }
    let mut sweep_r = Vec::new();
    for &r in &cfg.sweep_r {
        sweep_r.push(scoring.sweep_point(MethodSpec::Ratio(Density::Gwrp(r)), r)?);
        progress(events);
    }
    let results = RunResults {
        dataset: ds.root.display().to_string(),
        edition: ds.edition.to_string(),
        config: cfg.clone(),
        epochs: members.training.first().map_or(0, Vec::len),
        clip_len: members.clip_len,
        training: members.training,
        methods,
        sweep_k,
        sweep_r,
        warnings,
        skipped: members.skipped.into_iter().collect(),
        provenance: Some(Provenance::finish(t0, started)),
    };
    write_json(&run_dir.join(RESULTS_FILE), &results)?;
    log.line("results written");
    Ok(results)
}

/// Logs what the run works on and returns the channel policy it resolves to.
fn log_start(ds: &Dataset, cfg: &RunConfig, log: &RunLog) -> asd_core::ChannelPolicy {
    log.line(&format!(
        "run on {} ({}), {} member(s)",
        ds.root.display(),
        ds.edition,
        cfg.members
    ));
    let policy = channel_policy(ds, cfg);
    log.line(&format!(
        "channel policy: {policy}{} (training channel: {}; embedding channels: {})",
        if cfg.channel.is_none() {
            format!(", the default of {}", ds.edition)
        } else {
            String::new()
        },
        describe_channel(policy.training_channel()),
        policy
            .embedding_channels()
            .into_iter()
            .map(describe_channel)
            .collect::<Vec<_>>()
            .join(" + ")
    ));
    policy
}

/// What a dataset lacks for the paper's comparison to show.
fn domain_warnings(ds: &Dataset) -> Vec<String> {
    let has_target = ds
        .clips
        .iter()
        .any(|c| c.record.split == Split::Train && c.record.domain == Domain::Target);
    if ds.edition.has_domains() && !has_target {
        return vec![
            "the dataset has no target-domain training clips: target test clips have no references of their own domain, \
             and the domain balance the paper's re-scaling restores cannot show"
                .to_string(),
        ];
    }
    Vec::new()
}

/// Writes a value as pretty JSON, atomically.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(value).map_err(json(path))?;
    atomic::write_bytes(path, text.as_bytes()).map_err(io(path, IoOp::Write))
}

/// The members' embeddings and training logs.
struct Members {
    sets: Vec<EmbeddingSet>,
    training: Vec<Vec<EpochReport>>,
    clip_len: usize,
    /// Clips some member could not embed.
    skipped: BTreeSet<String>,
}

fn prepare_members(
    ds: &Dataset,
    run_dir: &Path,
    cfg: &RunConfig,
    device: DeviceChoice,
    log: &RunLog,
    events: &mut dyn FnMut(Event),
) -> Result<Members, RunError> {
    let mut m = Members {
        sets: Vec::new(),
        training: Vec::new(),
        clip_len: 0,
        skipped: BTreeSet::new(),
    };
    if cfg.frontend.is_frozen() {
        let set = ensure_frozen(ds, run_dir, cfg, log, events)?;
        m.skipped.extend(missing_clips(ds, &set));
        m.sets.push(set);
        m.training.push(Vec::new());
        return Ok(m);
    }
    if cfg.frontend.trains_head() {
        let base = ensure_frozen(ds, run_dir, cfg, log, events)?;
        m.skipped.extend(missing_clips(ds, &base));
        for i in 0..cfg.members {
            let (set, t) = ensure_head_member(&base, run_dir, i, cfg, device, log, events)?;
            log.line(&format!("member {i}: ready ({} epochs logged)", t.len()));
            m.sets.push(set);
            m.training.push(t);
        }
        return Ok(m);
    }
    for i in 0..cfg.members {
        let opts = member_fit_options(ds, cfg, i, device, (i > 0).then_some(m.clip_len));
        let (set, t, cl) = ensure_member(ds, run_dir, i, cfg, &opts, log, events)?;
        m.skipped.extend(missing_clips(ds, &set));
        log.line(&format!("member {i}: ready ({} epochs logged)", t.len()));
        m.sets.push(set);
        m.training.push(t);
        m.clip_len = cl;
    }
    Ok(m)
}

/// The embeddings of a frozen front-end, computed once and kept in `RUN_DIR/frontend/embeddings`
/// (a later run on the folder reads them; the configuration that made them is in run_config.json).
fn ensure_frozen(
    ds: &Dataset,
    run_dir: &Path,
    cfg: &RunConfig,
    log: &RunLog,
    events: &mut dyn FnMut(Event),
) -> Result<EmbeddingSet, RunError> {
    let emb_dir = run_dir.join("frontend").join("embeddings");
    let member = |source| RunError::MemberEmbeddings { member: 0, source };
    if !emb_dir.join(asd_core::embedding_set::INDEX_FILE).exists() {
        let Some(fe) = cfg.frontend.load()? else {
            unreachable!("a frozen front-end loads as one")
        };
        log.line(&format!("front-end: {}", fe.describe()));
        events(Event::Stage(format!(
            "embedding {} clips with {}",
            ds.clips.len(),
            cfg.frontend.name()
        )));
        let channel = channel_policy(ds, cfg).training_channel();
        let load = asd_model::model_dir::load_options(channel);
        // Saved every 64 clips beside the set: an interrupted run goes on from there.
        let partial = asd_frontend::Partial::beside(&emb_dir);
        let (set, failures) =
            asd_frontend::embed_dataset(&fe, ds, load, Some(&partial), &mut |_| true)?;
        for (p, e) in &failures {
            log.line(&format!("clip not embedded {}: {e}", p.display()));
        }
        set.write(&emb_dir).map_err(member)?;
        partial.remove()?;
        log.line(&format!("{} clips embedded ({}-d)", set.len(), set.dim()));
    } else {
        log.line(&format!(
            "front-end embeddings read from {}",
            emb_dir.display()
        ));
    }
    EmbeddingSet::read(&emb_dir).map_err(member)
}

/// The head's epochs by default (the authors' `BEATs-act`).
pub const HEAD_EPOCHS: usize = 500;

/// Member `i` of `beats-act`: the authors' head trained on the frozen embeddings of the training clips
/// (classes and labels as the network's: source clips labelled, target clips with a zero row unless
/// `target_labels`), then every clip's frozen embedding passed through it. Kept in
/// `RUN_DIR/member_i/embeddings` with `head_log.json`; a later run reads them.
fn ensure_head_member(
    base: &EmbeddingSet,
    run_dir: &Path,
    i: usize,
    cfg: &RunConfig,
    device: DeviceChoice,
    log: &RunLog,
    events: &mut dyn FnMut(Event),
) -> Result<(EmbeddingSet, Vec<EpochReport>), RunError> {
    let dir = member_dir(run_dir, i);
    let emb_dir = dir.join("embeddings");
    let log_path = dir.join("head_log.json");
    let member = |source| RunError::MemberEmbeddings { member: i, source };
    if emb_dir.join(asd_core::embedding_set::INDEX_FILE).exists() && log_path.exists() {
        log.line(&format!(
            "member {i}: head embeddings read from {}",
            emb_dir.display()
        ));
        let text = std::fs::read_to_string(&log_path).map_err(io(&log_path, IoOp::Read))?;
        let t = serde_json::from_str(&text).map_err(json(&log_path))?;
        return Ok((EmbeddingSet::read(&emb_dir).map_err(member)?, t));
    }
    let n = cfg.members;
    events(Event::Stage(format!(
        "member {}/{n}: training the head",
        i + 1
    )));
    let train: Vec<usize> = (0..base.len())
        .filter(|&r| base.records[r].split == Split::Train)
        .collect();
    let classes: Vec<String> = train
        .iter()
        .map(|&r| asd_dataset::class_name(&base.records[r]))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels: Vec<Option<usize>> = train
        .iter()
        .map(|&r| {
            let rec = &base.records[r];
            (cfg.target_labels || rec.domain != Domain::Target)
                .then(|| classes.binary_search(&asd_dataset::class_name(rec)).ok())
                .flatten()
        })
        .collect();
    let x = base.embeddings.select(ndarray::Axis(0), &train);
    let head_cfg = asd_model::head::HeadConfig {
        epochs: cfg.epochs.unwrap_or(HEAD_EPOCHS),
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        seed: derive_seed(cfg.seed, &[i as u64]),
        ..Default::default()
    };
    let fail = |source| RunError::Member { member: i, source };
    let dev = device.device().map_err(fail)?;
    let mut t = Vec::new();
    let mut last = std::time::Instant::now();
    let labelled = labels.iter().flatten().count();
    let (head, _) = asd_model::head::train_head(
        x.view(),
        &labels,
        classes.len(),
        &head_cfg,
        &dev,
        &mut |epoch, loss, accuracy| {
            let seconds = last.elapsed().as_secs_f64();
            last = std::time::Instant::now();
            t.push(EpochReport {
                epoch,
                loss,
                accuracy,
                clips: train.len(),
                seconds,
                clips_per_s: train.len() as f64 / seconds.max(1e-9),
                labelled,
                unlabelled: train.len() - labelled,
            });
        },
    )
    .map_err(fail)?;
    if let Some(e) = t.last() {
        log.line(&format!(
            "member {i}: head trained, {} epochs on {} vectors of {} classes, last loss {:.4}",
            t.len(),
            train.len(),
            classes.len(),
            e.loss
        ));
    }
    let set = EmbeddingSet::new(
        head.embed(base.embeddings.view(), &dev),
        base.records.clone(),
    )
    .map_err(member)?;
    set.write(&emb_dir).map_err(member)?;
    write_json(&log_path, &t)?;
    Ok((set, t))
}

/// Everything scoring a configuration needs: the members' sets, the ground truth, the dataset's parts.
struct Scoring<'a> {
    cfg: &'a RunConfig,
    sets: &'a [EmbeddingSet],
    truth: BTreeMap<ClipId, ClipRecord>,
    parts: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Scoring<'a> {
    fn new(ds: &Dataset, cfg: &'a RunConfig, sets: &'a [EmbeddingSet]) -> Self {
        let truth = sets
            .first()
            .map(|s| {
                s.records
                    .iter()
                    .map(|r| (ClipId::of(r), r.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            cfg,
            sets,
            truth,
            parts: parts_of(ds),
        }
    }

    /// Each member's scores and their ensemble.
    fn scores(&self, choice: MethodChoice) -> Result<(Vec<MethodScores>, MethodScores), RunError> {
        let mut opts = choice.options(self.cfg.means, self.cfg.seed);
        opts.distance = self.cfg.distance();
        opts.smote = self.cfg.smote.map(|k| asd_scoring::smote::Smote {
            k,
            seed: self.cfg.seed,
        });
        let per_member: Vec<MethodScores> = self
            .sets
            .iter()
            .map(|s| score_member(s, &opts))
            .collect::<Result<_, _>>()
            .map_err(|source| RunError::Scoring {
                method: choice.to_string(),
                source,
            })?;
        let ens = ensemble(&per_member);
        Ok((per_member, ens))
    }

    /// One row of Table I: the ensemble's submission files and each part's results.
    fn method(
        &self,
        choice: &MethodChoice,
        run_dir: &Path,
        log: &RunLog,
    ) -> Result<MethodResult, RunError> {
        let name = choice.to_string();
        let (per_member, ens) = self.scores(*choice)?;
        let percentile = self.cfg.decision_percentile;
        write_scores(
            &run_dir.join("scores").join(&name),
            &ens,
            &self.truth,
            percentile,
        )?;
        for f in &ens.failures {
            log.line(&format!("{name}: {f}"));
        }
        let mut result = MethodResult {
            name,
            failures: ens.failures.clone(),
            ..Default::default()
        };
        let ens_decisions = ens.decisions(percentile);
        for (part, machines) in &self.parts {
            let members: Vec<Summary> = per_member
                .iter()
                .map(|m| {
                    let d = m.decisions(percentile);
                    evaluate_part(m, &self.truth, machines, Some(&d)).1
                })
                .collect();
            let (sections, mut summary) =
                evaluate_part(&ens, &self.truth, machines, Some(&ens_decisions));
            summary.official_score_ci95 = part_ci95(&ens, &self.truth, machines);
            if sections.is_empty() {
                continue;
            }
            let stat = |f: fn(&Summary) -> Option<f64>| {
                TrialStats::of(&members.iter().map(f).collect::<Vec<_>>())
            };
            result.parts.insert(
                part.clone(),
                PartResult {
                    source: stat(|s| s.hmean_source),
                    target: stat(|s| s.hmean_target),
                    both: stat(official),
                    members,
                    ensemble: summary,
                    ensemble_sections: sections,
                },
            );
        }
        Ok(result)
    }

    /// One point of a sweep: the official score of the ensemble and the members' mean, per part.
    fn sweep_point(&self, spec: MethodSpec, x: f64) -> Result<SweepPoint, RunError> {
        let (per_member, ens) = self.scores(spec.into())?;
        let mut p = SweepPoint {
            x,
            ..Default::default()
        };
        for (part, machines) in &self.parts {
            let e = evaluate_part(&ens, &self.truth, machines, None);
            if e.0.is_empty() {
                continue;
            }
            p.ensemble.insert(part.clone(), official(&e.1));
            let m: Vec<Option<f64>> = per_member
                .iter()
                .map(|m| official(&evaluate_part(m, &self.truth, machines, None).1))
                .collect();
            p.member_mean
                .insert(part.clone(), TrialStats::of(&m).map(|s| s.mean));
        }
        Ok(p)
    }
}

pub fn read_results(run_dir: &Path) -> Result<RunResults, RunError> {
    let p = run_dir.join(RESULTS_FILE);
    if !p.exists() {
        return Err(if run_dir.join("run_config.json").exists() {
            RunError::Unfinished {
                run_dir: run_dir.to_path_buf(),
            }
        } else {
            RunError::NotARun {
                path: run_dir.to_path_buf(),
            }
        });
    }
    let text = std::fs::read_to_string(&p).map_err(io(&p, IoOp::Read))?;
    serde_json::from_str(&text).map_err(json(&p))
}

/// Parts present in a results file, in order.
pub fn part_names(r: &RunResults) -> Vec<String> {
    let mut s: BTreeSet<String> = BTreeSet::new();
    for m in &r.methods {
        s.extend(m.parts.keys().cloned());
    }
    let order = [Part::Dev.as_str(), Part::Eval.as_str()];
    let mut v: Vec<String> = order
        .iter()
        .filter(|p| s.contains(**p))
        .map(|p| p.to_string())
        .collect();
    v.extend(s.into_iter().filter(|p| !order.contains(&p.as_str())));
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_stamps_of_known_instants() {
        assert_eq!(super::iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso8601_utc(1_796_459_003), "2026-12-05T08:23:23Z");
    }
}
