use anyhow::{Context, Result, bail};
use asd_monitor::import::import_set;
use asd_monitor::watch::{Outcome, WatchOptions, watch};
use asd_monitor::{Monitors, ServeOptions, open_store};
use asd_scoring::density::Density;
use clap::{Args, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MonitorArgs {
    #[command(subcommand)]
    pub command: Option<MonitorCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Turn every (machine type, section) of an embedding set into a monitor whose references are its
    /// normal training clips (condition = their domain).
    Import(ImportArgs),
    /// Score every new audio file that appears in a folder, through a running service.
    Watch(WatchArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Trained model folder (`asd train`'s output); required unless --frontend names a frozen one.
    #[arg(long, required_unless_present = "frontend")]
    pub model: Option<PathBuf>,
    /// A frozen front-end instead of a trained model (--frontend beats --weights FILE, or stft): a
    /// monitor then needs no training at all, only a few normal clips; scores use the Euclidean distance.
    #[command(flatten)]
    pub fe: super::embed::FrontendArgs,
    /// Folder of the monitors' database (created if missing; one service per folder), or a
    /// PostgreSQL database as `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (one service per database).
    #[arg(long, required = true)]
    pub store: Option<PathBuf>,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// File holding a bearer token that every route but /healthz asks for.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Serve without a token on a non-loopback address (refused otherwise: anyone who reaches the
    /// address could enrol anomalies as normal).
    #[arg(long, conflicts_with = "token_file")]
    pub no_token: bool,
    /// A host name (as in the `Host` header, without port) that this service answers to beside IP
    /// addresses and localhost, e.g. the name a reverse proxy forwards; repeatable; `*` turns the
    /// check off. Other names are refused (403), which stops DNS-rebinding pages.
    #[arg(long, value_name = "NAME")]
    pub allowed_host: Vec<String>,
    /// An origin (`https://host[:port]`) whose web pages may call the API, with CORS answers;
    /// repeatable. By default no page of another origin may change anything (403).
    #[arg(long, value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,
    /// Largest request body, MiB.
    #[arg(long, default_value_t = 64)]
    pub max_body_mib: usize,
    /// Longest clip a scoring or enrolment request may carry, seconds (longer: use /stream).
    #[arg(long, default_value_t = 60.0)]
    pub max_clip_seconds: f64,
    /// Longest wait for a request's head, and for the next request on a kept-alive connection, seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub header_timeout_seconds: u64,
    /// Longest pause inside a request body (a stalled upload or /stream), seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=86_400))]
    pub body_timeout_seconds: u64,
    /// Most connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 512, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    pub max_connections: usize,
    /// URL (http:// or https://) each alert raise and clear is POSTed to as JSON; a failed call is
    /// retried after 1, 2, 4 … 64 s without holding scoring back.
    #[arg(long, value_name = "URL")]
    pub alert_webhook: Option<String>,
    /// Seconds between maintenance rounds (also one at start and one at a clean stop): each changed
    /// bank's state saved for the next start-up, each score history pruned to its retention.
    #[arg(long, default_value_t = 600, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=86_400))]
    pub maintenance_every_seconds: u64,
    /// MQTT broker (`mqtt://HOST[:PORT]`) to take clips from: each message on
    /// `asd/monitors/<id>/clips` is scored and answered on `asd/monitors/<id>/scores`.
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// The service's MQTT client id, its persistent session at the broker (one per service).
    #[arg(long, default_value = "asd-monitor")]
    pub mqtt_client_id: String,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Embedding set (`asd embed`'s output) made with --model.
    #[arg(long)]
    pub embeddings: PathBuf,
    /// The model that made the embeddings; the store is bound to it.
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of the monitors' database to add the monitor to (created if missing).
    #[arg(long)]
    pub store: PathBuf,
    /// K of the k-NN density (the paper's 16; clipped to the bank's size).
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub k: usize,
    /// GWRP density with this factor r instead of k-NN.
    #[arg(long)]
    pub gwrp_r: Option<f64>,
    /// Percentile of the fitted leave-one-out scores that is the decision threshold.
    #[arg(long, default_value_t = 0.9)]
    pub percentile: f64,
}

#[derive(Args)]
pub struct WatchArgs {
    /// Folder a recorder writes clips into.
    pub dir: PathBuf,
    /// Monitor id to score against.
    #[arg(long)]
    pub monitor: u64,
    /// The service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// File holding the service's bearer token, if it asks for one.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Seconds between looks at the folder.
    #[arg(long, default_value_t = 0.5)]
    pub interval: f64,
    /// Score the files already in the folder too.
    #[arg(long)]
    pub existing: bool,
    /// Stop once every file in the folder has been handled.
    #[arg(long)]
    pub once: bool,
}

fn read_token(path: &Path) -> Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("reading token file {}", path.display()))?;
    let t = t.trim().to_string();
    if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == ';') {
        bail!(
            "{}: the token must be one word without spaces or ';'",
            path.display()
        );
    }
    Ok(t)
}

pub fn run(a: &MonitorArgs) -> Result<()> {
    match &a.command {
        Some(MonitorCommand::Import(i)) => import(i),
        Some(MonitorCommand::Watch(w)) => watch_dir(w),
        None => serve(&a.serve),
    }
}

fn serve(a: &ServeArgs) -> Result<()> {
    let source = match (&a.model, a.fe.frozen_spec()?) {
        (Some(m), None) => asd_monitor::EmbedSource::Model(m.clone()),
        (None, Some(spec)) => asd_monitor::EmbedSource::Frontend(spec),
        (None, None) => bail!(
            "asd monitor needs --model MODEL_DIR (or --frontend beats --weights FILE) and --store DIR (or a subcommand: import, watch)"
        ),
        (Some(_), Some(_)) => bail!("give --model or --frontend, not both"),
    };
    let Some(store) = &a.store else {
        bail!("asd monitor needs --store DIR (or a subcommand: import, watch)");
    };
    if a.max_clip_seconds.is_nan() || a.max_clip_seconds <= 0.0 {
        bail!("--max-clip-seconds must be positive");
    }
    let token = a.token_file.as_deref().map(read_token).transpose()?;
    if !a.listen.ip().is_loopback() && token.is_none() {
        if !a.no_token {
            bail!(
                "--listen {} is reachable from other machines: give --token-file FILE (or --no-token to let anyone who reaches the address enrol and delete)",
                a.listen
            );
        }
        tracing::warn!(
            "listening on {} without a token (--no-token): anyone who reaches this address can enrol and delete",
            a.listen
        );
    }
    if let Some(u) = &a.alert_webhook
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--alert-webhook must be an http:// or https:// URL, got '{u}'");
    }
    let mqtt = a
        .mqtt
        .as_deref()
        .map(|u| asd_monitor::mqtt::MqttTarget::parse(u, &a.mqtt_client_id))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut origins = asd_monitor::origin::OriginPolicy::default();
    for h in &a.allowed_host {
        origins.allow_host(h).map_err(anyhow::Error::msg)?;
    }
    for o in &a.allowed_origin {
        origins.allow_origin(o).map_err(anyhow::Error::msg)?;
    }
    let opts = ServeOptions {
        max_body_bytes: a.max_body_mib << 20,
        max_clip_seconds: a.max_clip_seconds,
        token,
        origins,
        connections: asd_monitor::ConnLimits {
            header_timeout: std::time::Duration::from_secs(a.header_timeout_seconds),
            body_idle_timeout: std::time::Duration::from_secs(a.body_timeout_seconds),
            max_connections: a.max_connections,
        },
        alert_webhook: a.alert_webhook.clone(),
        maintenance_every: std::time::Duration::from_secs(a.maintenance_every_seconds),
        mqtt,
        ..ServeOptions::default()
    };
    asd_monitor::serve(&source, store, a.listen, opts, |addr| {
        println!("asd monitor listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })
    .with_context(|| format!("monitor service over {}", store.display()))
}

fn import(a: &ImportArgs) -> Result<()> {
    let density = match a.gwrp_r {
        Some(r) => Density::Gwrp(r),
        None => Density::KnnMean(a.k),
    };
    let key = asd_monitor::embedder::model_key(&a.model)?;
    let set = asd_core::EmbeddingSet::read(&a.embeddings)
        .with_context(|| format!("reading embeddings {}", a.embeddings.display()))?;
    if set.dim() != asd_monitor::monitors::EMBEDDING_DIM {
        bail!(
            "{}: embeddings have {} dimensions, the service's model gives {}",
            a.embeddings.display(),
            set.dim(),
            asd_monitor::monitors::EMBEDDING_DIM
        );
    }
    let store = open_store(&a.store, &key)?;
    let monitors = Monitors::load(Box::new(store))?;
    let report = import_set(&monitors, &set, density, a.percentile)?;
    for m in &report.imported {
        println!("monitor {} '{}': {} references", m.id, m.name, m.references);
    }
    for (name, why) in &report.skipped {
        eprintln!("skipped '{name}': {why}");
    }
    println!(
        "imported {} monitor(s) into {}{}",
        report.imported.len(),
        a.store.display(),
        if report.skipped.is_empty() {
            String::new()
        } else {
            format!(", skipped {}", report.skipped.len())
        }
    );
    Ok(())
}

fn watch_dir(a: &WatchArgs) -> Result<()> {
    if a.interval.is_nan() || a.interval <= 0.0 {
        bail!("--interval must be positive");
    }
    let o = WatchOptions {
        dir: a.dir.clone(),
        url: a.url.clone(),
        monitor: a.monitor,
        token: a.token_file.as_deref().map(read_token).transpose()?,
        interval: Duration::from_secs_f64(a.interval),
        existing: a.existing,
        once: a.once,
    };
    let failed = watch(&o, &mut |p, out| match out {
        Outcome::Scored(r) => {
            let decision = match r["anomaly"].as_bool() {
                Some(true) => "ANOMALY",
                Some(false) => "normal",
                None => "no-threshold",
            };
            println!(
                "{}\t{:.6}\t{}\tthreshold {}\tnearest {}",
                p.display(),
                r["score"].as_f64().unwrap_or(f64::NAN),
                decision,
                r["threshold"],
                r["condition"].as_str().unwrap_or("")
            );
        }
        Outcome::Failed(e) => eprintln!("{}: {e}", p.display()),
    })
    .map_err(anyhow::Error::msg)?;
    if !failed.is_empty() {
        eprintln!("{} file(s) could not be scored:", failed.len());
        for (p, e) in &failed {
            eprintln!("  {}: {e}", p.display());
        }
        bail!("{} file(s) could not be scored", failed.len());
    }
    Ok(())
}
