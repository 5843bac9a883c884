use anyhow::{Context, Result};
use asd_model::DeviceChoice;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time one training step as the reference's (the un-mixed and the mixed forward pass, both heads,
    /// backward, Adam) and one inference batch of the full network;
    /// prints clips/s and peak memory (compare with benches/torch_train_bench.py).
    Train(TrainBenchArgs),
    /// Time a model's inference alone (features, then the folded network) per batch size, as the
    /// monitor (1 clip) and `asd embed` (32) run it; compare with benches/ort_inference.py.
    Infer(InferBenchArgs),
    /// Time fit + score of ratio-K for N references and M queries (D = 512 by default), with the
    /// achieved GFLOP/s beside the machine's plain SGEMM rate (compare with benches/numpy_score_bench.py).
    Score(ScoreBenchArgs),
    /// Time one enrolment, one removal and one query in an incremental ratio-K reference bank of N
    /// references (the deployment case: a few clips of a new condition, no refit), and its bulk build.
    Bank(BankBenchArgs),
    /// Load the monitoring service on loopback: score latency p50/p99 and clips/s for 1, 4 and 16
    /// clients against a monitor of 1 000 references, enrolment latency, memory.
    Monitor(MonitorBenchArgs),
    /// The score history on disk: N scores appended to one monitor of an SQLite store (latency of
    /// one, rate in bulk), bytes per score, and a pruning to a tenth (docs/monitor.md, "Retention").
    Store(StoreBenchArgs),
    /// A service's start-up over a store with one monitor of N references: from the saved bank state,
    /// and (with --rebuild) by recomputing every distance (docs/monitor.md, "Persistence").
    Startup(StartupBenchArgs),
}

#[derive(Args)]
pub struct InferBenchArgs {
    /// Model folder (`asd train` or `asd model import`); default: a freshly initialised network of
    /// --clip-seconds.
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// Clips as a float32 (clips × samples) .npy at the model's rate, cycled to fill a batch;
    /// default: uniform noise in ±0.1 (seed 0).
    #[arg(long)]
    pub wave_npy: Option<std::path::PathBuf>,
    /// Clip length in seconds of the freshly initialised network (without --model).
    #[arg(long, default_value_t = 10.0)]
    pub clip_seconds: f64,
    /// Batch sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub batch: Vec<usize>,
    /// Timed runs per batch size (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Where to run: cpu, or cuda in a build with --features cuda.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

#[derive(Args)]
pub struct StartupBenchArgs {
    /// References of the monitor.
    #[arg(long, default_value_t = 100_000)]
    pub references: usize,
    /// Also time a start-up without the saved state (quadratic: about 30 s at 10 000 references).
    #[arg(long)]
    pub rebuild: bool,
    /// Folder of the store (default: a temporary folder, removed after).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct StoreBenchArgs {
    /// Scores appended.
    #[arg(long, default_value_t = 1_000_000)]
    pub scores: usize,
    /// Of them, appended one per transaction for the latency.
    #[arg(long, default_value_t = 1000)]
    pub single: usize,
    /// Folder of the store (default: a temporary folder, removed after).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct BankBenchArgs {
    /// Reference counts, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub n: Vec<usize>,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    pub d: usize,
    /// Neighbours of the k-NN density.
    #[arg(long, default_value_t = 16)]
    pub k: usize,
}

#[derive(Args)]
pub struct ScoreBenchArgs {
    /// Reference counts, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub n: Vec<usize>,
    /// Queries (test clips) scored against each reference set.
    #[arg(long, default_value_t = 10_000)]
    pub m: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    pub d: usize,
    /// Neighbours of the k-NN density.
    #[arg(long, default_value_t = 16)]
    pub k: usize,
}

#[derive(Args)]
pub struct TrainBenchArgs {
    /// Clips per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Clip length in seconds (it sizes the network's FFT branch).
    #[arg(long, default_value_t = 10.0)]
    pub clip_seconds: f64,
    /// Auxiliary classes of the classification head (DCASE 2023 has about 170).
    #[arg(long, default_value_t = 170)]
    pub classes: usize,
    /// Timed repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Where to run: cpu, or cuda in a build with --features cuda.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Skip the reference's un-mixed forward pass (`unmixed_pass = false` in a run config).
    #[arg(long)]
    pub skip_unmixed_pass: bool,
}

pub fn run(c: &BenchCommand) -> Result<()> {
    match c {
        BenchCommand::Train(a) => {
            let r = asd_model::bench::bench_train(
                a.batch,
                a.clip_seconds,
                a.classes,
                a.steps,
                !a.skip_unmixed_pass,
                &a.device.device()?,
            )?;
            let mut v = serde_json::to_value(&r)?;
            v["machine"] = asd_core::host::describe().into();
            v["sgemm"] = sgemm_record(512);
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        BenchCommand::Infer(a) => bench_infer(a),
        BenchCommand::Monitor(a) => {
            let o = asd_monitor::bench::LoadBenchOptions {
                model: a.model.clone(),
                clip_seconds: a.clip_seconds,
                references: a.references,
                clients: a.clients.clone(),
                requests: a.requests.max(1),
                large_bank: a.large_bank.max(2),
                seed: 0,
            };
            let r = asd_monitor::bench::run(&o, &mut |stage| eprintln!("bench monitor: {stage}"))
                .context("bench monitor")?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        BenchCommand::Store(a) => {
            let tmp = tempfile::tempdir().context("a temporary folder")?;
            let dir = a.dir.clone().unwrap_or_else(|| tmp.path().join("store"));
            let r = asd_monitor::store_bench::run(&dir, a.scores.max(1), a.single, &mut |stage| {
                eprintln!("bench store: {stage}")
            })
            .with_context(|| format!("bench store in {}", dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        BenchCommand::Startup(a) => {
            let tmp = tempfile::tempdir().context("a temporary folder")?;
            let dir = a.dir.clone().unwrap_or_else(|| tmp.path().join("store"));
            let r =
                asd_monitor::store_bench::startup(&dir, a.references.max(2), a.rebuild, &mut |s| {
                    eprintln!("bench startup: {s}")
                })
                .with_context(|| format!("bench startup in {}", dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
        BenchCommand::Bank(a) => {
            println!("machine: {}", asd_core::host::describe());
            println!("| N | D | K | bulk build s | enrol ms | remove ms | score ms |");
            println!("| --- | --- | --- | --- | --- | --- | --- |");
            for &n in &a.n {
                let r = asd_scoring::bench::bench_bank(n, a.d, a.k)?;
                println!(
                    "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                    r.n, r.d, r.k, r.build_s, r.add_ms, r.remove_ms, r.score_ms
                );
            }
            Ok(())
        }
        BenchCommand::Score(a) => {
            println!("machine: {}", asd_core::host::describe());
            let gemm = print_sgemm_rates(a.d);
            println!("| N | M | fit s | score s | total s | GFLOP/s | share of SGEMM |");
            println!("| --- | --- | --- | --- | --- | --- | --- |");
            for &n in &a.n {
                let r = asd_scoring::bench::bench_ratio(n, a.m, a.d, a.k);
                println!(
                    "| {} | {} | {:.3} | {:.3} | {:.3} | {:.1} | {:.0} % |",
                    r.n,
                    r.m,
                    r.fit_s,
                    r.score_s,
                    r.fit_s + r.score_s,
                    r.gflops,
                    100.0 * r.gflops / gemm
                );
            }
            Ok(())
        }
    }
}

fn bench_infer(a: &InferBenchArgs) -> Result<()> {
    let device = a.device.device()?;
    let (net, clip_len) = match &a.model {
        Some(dir) => {
            let (net, cfg) = asd_model::ModelDir::new(dir)
                .load_net(&device)
                .with_context(|| format!("loading the model in {}", dir.display()))?;
            (net, cfg.net.clip_len)
        }
        None => {
            let clip_len = asd_audio::model_samples(a.clip_seconds);
            let cfg = asd_model::NetConfig::new(clip_len);
            cfg.validate()?;
            let mut init = asd_model::params::SeededInit::new(0);
            (
                asd_model::EmbeddingNet::load(&mut init, &cfg, &device)?,
                clip_len,
            )
        }
    };
    let clips: Vec<Vec<f32>> = match &a.wave_npy {
        Some(p) => {
            let x: ndarray::Array2<f32> = asd_core::npy::read_matrix(p).with_context(|| {
                format!(
                    "{}: expected a float32 (clips × samples) array",
                    p.display()
                )
            })?;
            if x.iter().any(|v| !v.is_finite()) {
                anyhow::bail!("{}: contains NaN or infinite samples", p.display());
            }
            x.rows().into_iter().map(|r| r.to_vec()).collect()
        }
        None => {
            asd_model::bench::noise_clips(a.batch.iter().copied().max().unwrap_or(1), clip_len, 0)
        }
    };
    let r = asd_model::bench::bench_infer(&net, clip_len, &clips, &a.batch, a.repeats, &device)?;
    let mut v = serde_json::to_value(&r)?;
    v["peak_rss_mib"] = asd_model::bench::peak_rss_mib().into();
    v["machine"] = asd_core::host::describe().into();
    v["sgemm"] = sgemm_record(512);
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Each SGEMM backend's plain rate on this machine (4096 × d × 4096, GFLOP/s).
fn sgemm_rates(d: usize) -> Vec<(asd_kernels::gemm::Backend, f64)> {
    asd_kernels::gemm::Backend::ALL
        .into_iter()
        .map(|b| (b, asd_scoring::bench::sgemm_rate(b, 4096, d)))
        .collect()
}

fn isa_of(b: asd_kernels::gemm::Backend) -> &'static str {
    if b.uses_avx512() {
        "AVX-512"
    } else {
        "AVX2 + FMA or less"
    }
}

/// Prints each SGEMM backend's plain rate and which one the process uses; returns the best rate,
/// the ceiling the scoring's GFLOP/s is compared with.
fn print_sgemm_rates(d: usize) -> f64 {
    let used = asd_kernels::gemm::Backend::current();
    let mut best = 0.0f64;
    for (b, rate) in sgemm_rates(d) {
        best = best.max(rate);
        let mark = if b == used { " (used)" } else { "" };
        let name = b.name();
        let isa = isa_of(b);
        println!("plain SGEMM {name} (4096 × {d} × 4096, {isa}): {rate:.1} GFLOP/s{mark}");
    }
    best
}

/// The GEMM part of a benchmark's machine record: the backend used, its kernels' instruction
/// set, and every backend's plain rate.
fn sgemm_record(d: usize) -> serde_json::Value {
    let used = asd_kernels::gemm::Backend::current();
    let rates: serde_json::Map<String, serde_json::Value> = sgemm_rates(d)
        .into_iter()
        .map(|(b, r)| (b.name().to_string(), ((r * 10.0).round() / 10.0).into()))
        .collect();
    serde_json::json!({
        "backend": used.name(),
        "isa": isa_of(used),
        "gflops_4096_x_512_x_4096": rates,
    })
}

#[derive(Args)]
pub struct MonitorBenchArgs {
    /// Trained model folder (default: an untrained network of --clip-seconds, which costs the same).
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// Length of the clips sent, in seconds (and of the untrained network without --model).
    #[arg(long, default_value_t = 10.0)]
    pub clip_seconds: f64,
    /// References of the monitor under load.
    #[arg(long, default_value_t = 1000)]
    pub references: usize,
    /// Concurrent clients, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub clients: Vec<usize>,
    /// Requests per client at each concurrency.
    #[arg(long, default_value_t = 8)]
    pub requests: usize,
    /// Bank size of the enrolment timing without the network.
    #[arg(long, default_value_t = 10_000)]
    pub large_bank: usize,
}
