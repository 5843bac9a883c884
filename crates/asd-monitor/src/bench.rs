//! The load benchmark of the service (`asd bench monitor`): a monitor of N references, clips of the
//! model's length sent over loopback by 1, 4 and 16 clients, enrolment over HTTP, and enrolment in a bank
//! of 10 000 references without the network. A bounded loop; numbers, never assertions.

use crate::monitors::{Enrolment, Monitors, now_ms};
use crate::store::MonitorSpec;
use crate::store_bench::{random_bank, unit};
use crate::{Embedder, ServeOptions, SqliteStore, open_store};
use asd_scoring::density::Density;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadBenchOptions {
    /// A trained model; `None`: an untrained network of `clip_seconds` (the same cost).
    pub model: Option<PathBuf>,
    pub clip_seconds: f64,
    pub references: usize,
    pub clients: Vec<usize>,
    /// Requests each client sends per concurrency level.
    pub requests: usize,
    /// Bank size of the enrolment measurement without the network.
    pub large_bank: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    pub clients: usize,
    pub requests: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub clips_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBenchReport {
    pub machine: String,
    pub clip_seconds: f64,
    pub references: usize,
    /// One clip through the network alone (median), the floor of a score request.
    pub inference_ms: f64,
    /// Scoring one embedding against the bank, with its history row (median), no network, no HTTP.
    pub score_bank_ms: f64,
    pub load: Vec<LoadRow>,
    /// One clip enrolled over HTTP at `references` (median), network included.
    pub enrol_http_ms: f64,
    /// One enrolment in a bank of `large_bank` references, store transaction included, no network.
    pub large_bank: usize,
    pub enrol_large_bank_ms: f64,
    pub peak_rss_mib: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i]
}

/// A WAV file of noise in memory.
fn noise_wav(samples: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + 2 * samples);
    let data = (2 * samples) as u32;
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&16_000u32.to_le_bytes());
    b.extend_from_slice(&32_000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for _ in 0..samples {
        let v = ((rng.random::<f32>() - 0.5) * 8000.0) as i16;
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

fn spec(name: &str) -> MonitorSpec {
    MonitorSpec {
        name: name.into(),
        machine_type: "bench".into(),
        section: "00".into(),
        density: Density::KnnMean(16),
        percentile: 0.9,
    }
}

/// Why the load benchmark stopped: the step that failed, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{}: cannot create the benchmark's folder", path.display())]
    TempDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: request failed")]
    Request {
        url: String,
        #[source]
        source: ureq::Error,
    },
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{step}")]
    Step {
        step: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the service did not start within 300 s")]
    ServiceTimeout,
    #[error("a client thread panicked")]
    ClientPanicked,
}

/// Maps a step's error to [`BenchError::Step`], naming the step.
fn at<E: std::error::Error + Send + Sync + 'static>(
    step: &'static str,
) -> impl FnOnce(E) -> BenchError {
    move |e| BenchError::Step {
        step,
        source: Box::new(e),
    }
}

fn temp_dir(tag: &str) -> Result<PathBuf, BenchError> {
    let d = std::env::temp_dir().join(format!(
        "asd-monitor-bench-{tag}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    match std::fs::create_dir_all(&d) {
        Ok(()) => Ok(d),
        Err(source) => Err(BenchError::TempDir { path: d, source }),
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<f64, BenchError> {
    let t = Instant::now();
    let mut r = agent
        .post(url)
        .header("content-type", "audio/wav")
        .send(body)
        .map_err(|source| BenchError::Request {
            url: url.to_string(),
            source,
        })?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    if status >= 400 {
        return Err(BenchError::Status {
            url: url.to_string(),
            status,
            body: text,
        });
    }
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// Loads the monitoring service on loopback: the network alone, one bank's scoring, the HTTP
/// service under each number of clients, enrolment over HTTP and in a large bank.
pub fn run(
    o: &LoadBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<LoadBenchReport, BenchError> {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let work = temp_dir("work")?;
    let model: PathBuf = match &o.model {
        Some(m) => m.clone(),
        None => {
            let m = work.join("model");
            let len = asd_audio::model_samples(o.clip_seconds);
            asd_model::model_dir::write_seeded(&m, len, o.seed)
                .map_err(at("writing an untrained model"))?;
            m
        }
    };
    progress("inference alone");
    let (clip_len, mut inf) = inference_alone(&model, &mut rng)?;
    // The monitor under load, built without the network, then served from the same store.
    let store_dir = work.join("store");
    let score_bank_ms = bank_score_ms(&model, &store_dir, o.references, &mut rng)?;
    let addr = start_service(&model, &store_dir)?;
    let base = format!("http://{addr}/v1/monitors/1");
    let body = noise_wav(clip_len, &mut rng);
    let agent = crate::watch::agent(Duration::from_secs(600));
    post(&agent, &format!("{base}/score"), &body)?;
    let mut load = Vec::new();
    for &c in &o.clients {
        progress(&format!("{c} client(s)"));
        load.push(load_row(&agent, &base, &body, c, o.requests)?);
    }
    progress("enrolment over HTTP");
    let mut enr = Vec::new();
    for _ in 0..5 {
        enr.push(post(
            &agent,
            &format!("{base}/references?condition=bench"),
            &body,
        )?);
    }
    progress(&format!("enrolment at {} references", o.large_bank));
    let big_dir = work.join("big");
    let mut big = enrol_in_large_bank(&big_dir, o.large_bank, &mut rng)?;
    let report = LoadBenchReport {
        machine: asd_core::host::describe(),
        clip_seconds: asd_audio::model_seconds(clip_len),
        references: o.references,
        inference_ms: median(&mut inf),
        score_bank_ms,
        load,
        enrol_http_ms: median(&mut enr),
        large_bank: o.large_bank,
        enrol_large_bank_ms: median(&mut big),
        peak_rss_mib: asd_model::bench::peak_rss_mib(),
    };
    remove_quietly(&big_dir);
    Ok(report)
}

/// The model's clip length and five timed single-clip inferences (after a warm-up), in ms.
fn inference_alone(model: &Path, rng: &mut ChaCha8Rng) -> Result<(usize, Vec<f64>), BenchError> {
    let embedder = Embedder::start(model).map_err(at("loading the model"))?;
    let clip_len = embedder.clip_len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(at("starting a runtime"))?;
    let wave: Vec<f32> = (0..clip_len).map(|_| rng.random::<f32>() - 0.5).collect();
    let mut inf = Vec::new();
    for i in 0..6 {
        let t = Instant::now();
        rt.block_on(embedder.embed(vec![wave.clone()]))
            .map_err(at("embedding a clip"))?;
        if i > 0 {
            inf.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((clip_len, inf))
}

/// Creates monitor 1 with `references` random references in the store, and returns the median ms of
/// scoring one embedding against it (bank and history row, no network).
fn bank_score_ms(
    model: &Path,
    store_dir: &Path,
    references: usize,
    rng: &mut ChaCha8Rng,
) -> Result<f64, BenchError> {
    let key = crate::embedder::model_key(model).map_err(at("reading the model"))?;
    let store = open_store(store_dir, &key).map_err(at("opening the store"))?;
    let monitors = Monitors::load(Box::new(store)).map_err(at("loading the monitors"))?;
    let m = monitors
        .create(spec("load"), random_bank(references, rng))
        .map_err(at("creating the monitor"))?;
    let mut t = Vec::new();
    for _ in 0..20 {
        let q = unit(rng, crate::monitors::EMBEDDING_DIM);
        let s = Instant::now();
        monitors
            .score(m.id, vec![("q".into(), q)], "bench")
            .map_err(at("scoring"))?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut t))
}

/// Serves the store on a free loopback port from a background thread; its address once it listens.
fn start_service(model: &Path, store_dir: &Path) -> Result<std::net::SocketAddr, BenchError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (model, store) = (model.to_path_buf(), store_dir.to_path_buf());
    std::thread::spawn(move || {
        let r = crate::serve(
            &crate::EmbedSource::Model(model),
            &store,
            "127.0.0.1:0".parse().expect("a literal address"),
            ServeOptions::default(),
            |addr| {
                let _ = tx.send(Ok(addr));
            },
        );
        if let Err(e) = r {
            let _ = tx.send(Err(at("serving")(e)));
        }
    });
    rx.recv_timeout(Duration::from_secs(300))
        .map_err(|_| BenchError::ServiceTimeout)?
}

/// `clients` threads each sending `requests` score requests at once: latency quantiles and rate.
fn load_row(
    agent: &ureq::Agent,
    base: &str,
    body: &[u8],
    clients: usize,
    requests: usize,
) -> Result<LoadRow, BenchError> {
    let t = Instant::now();
    let lat: Result<Vec<Vec<f64>>, BenchError> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(move || {
                    (0..requests)
                        .map(|_| post(agent, &format!("{base}/score"), body))
                        .collect::<Result<Vec<f64>, BenchError>>()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().map_err(|_| BenchError::ClientPanicked)?)
            .collect()
    });
    let wall = t.elapsed().as_secs_f64();
    let mut all: Vec<f64> = lat?.into_iter().flatten().collect();
    let n = all.len();
    Ok(LoadRow {
        clients,
        requests: n,
        p50_ms: quantile(&mut all, 0.5),
        p99_ms: quantile(&mut all, 0.99),
        clips_per_s: n as f64 / wall,
    })
}

/// Five timed enrolments (ms) into a monitor of `size` random references, store included.
fn enrol_in_large_bank(
    dir: &Path,
    size: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>, BenchError> {
    let store = SqliteStore::open(dir).map_err(at("opening the store"))?;
    let monitors = Monitors::load(Box::new(store)).map_err(at("loading the monitors"))?;
    let m = monitors
        .create(spec("big"), random_bank(size, rng))
        .map_err(at("creating the monitor"))?;
    let mut big = Vec::new();
    for _ in 0..5 {
        let x = unit(rng, crate::monitors::EMBEDDING_DIM);
        let t = Instant::now();
        monitors
            .enrol(
                m.id,
                vec![Enrolment {
                    embedding: x,
                    condition: "new".into(),
                    file: "new.wav".into(),
                }],
            )
            .map_err(at("enrolling"))?;
        big.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(big)
}

fn remove_quietly(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}
