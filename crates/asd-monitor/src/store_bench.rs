//! What the store costs (`asd bench store`, `asd bench startup`): N scores appended to one monitor of
//! the embedded store (each one its own transaction, as the service writes them, for the latency; the
//! bulk in transactions of 1 000), the file's size per score, and a pruning to a tenth; and the
//! start-up of a service over N references, from the saved bank state and by recomputing it.
//! Numbers, never assertions.

use crate::SqliteStore;
use crate::alerts::{AlertState, AlertWrite, Policy};
use crate::monitors::{Enrolment, Monitors, PRUNE_CHUNK, Space};
use crate::store::{BankChange, HistoryRow, MonitorSpec, Store, StoreError};
use asd_scoring::density::Density;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct StoreBenchReport {
    pub machine: String,
    pub scores: usize,
    /// The database file with its write-ahead log checkpointed.
    pub file_bytes: u64,
    pub bytes_per_score: f64,
    pub mib_per_million_scores: f64,
    /// One score with its alert state, one transaction (synchronous = FULL): p50 and p99 over
    /// `single` appends.
    pub single: usize,
    pub append_one_p50_ms: f64,
    pub append_one_p99_ms: f64,
    /// Scores per second appended 1 000 to a transaction.
    pub bulk_scores_per_s: f64,
    /// Pruning to the newest tenth by count, in transactions of `PRUNE_CHUNK` rows: in all, and
    /// the longest one (what a score can wait for).
    pub pruned: u64,
    pub prune_s: f64,
    pub prune_chunk_max_ms: f64,
    /// The file after pruning: SQLite reuses the freed pages for new scores and does not hand them
    /// back to the file system.
    pub file_bytes_after_prune: u64,
}

fn row(rng: &mut ChaCha8Rng, i: usize) -> HistoryRow {
    let score: f64 = rng.random();
    HistoryRow {
        seq: 0,
        monitor: 0,
        at_ms: 1_796_000_000_000 + 2_000 * i as i64,
        // What a recorder names its clips: machine, section, time.
        file: format!(
            "fan_section_00_2026-12-07T10-{:02}-{:02}.wav",
            i / 60 % 60,
            i % 60
        ),
        score,
        threshold: Some(0.5),
        anomaly: Some(score > 0.5),
        condition: "source".into(),
        reference: rng.random_range(0..1000),
        percentile: rng.random(),
        origin: "mqtt".into(),
        clip_key: Some(format!("{:016x}-{}", rng.random::<u64>(), 320_044)),
    }
}

fn file_size(dir: &Path) -> u64 {
    ["monitor.sqlite", "monitor.sqlite-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

pub fn run(
    dir: &Path,
    scores: usize,
    single: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<StoreBenchReport, StoreError> {
    let mut store = SqliteStore::open(dir)?;
    let spec = MonitorSpec {
        name: "bench".into(),
        machine_type: "fan".into(),
        section: "00".into(),
        density: Density::KnnMean(16),
        percentile: 0.9,
    };
    let id = store.create_monitor(&spec, &Policy::default(), 0, &BankChange::default())?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let single = single.min(scores);
    let mut times = Vec::with_capacity(single);
    let mut state = AlertState::default();
    for i in 0..single {
        let mut r = row(&mut rng, i);
        r.monitor = id;
        state.window = vec![r.anomaly == Some(true)];
        let alert = AlertWrite {
            state: state.clone(),
            events: vec![],
        };
        let t = Instant::now();
        store.append_history(&[r], Some(&alert))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    progress(&format!("{single} single appends"));
    let t = Instant::now();
    let mut done = single;
    while done < scores {
        let n = (scores - done).min(1000);
        let rows: Vec<HistoryRow> = (done..done + n)
            .map(|i| HistoryRow {
                monitor: id,
                ..row(&mut rng, i)
            })
            .collect();
        store.append_history(&rows, None)?;
        done += n;
        if done.is_multiple_of(100_000) {
            progress(&format!("{done} of {scores} scores"));
        }
    }
    let bulk = (scores - single) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    store.checkpoint()?;
    let file_bytes = file_size(dir);
    let t = Instant::now();
    let (mut pruned, mut chunk_max) = (0, 0f64);
    loop {
        let c = Instant::now();
        let n = store.prune_history(id, Some((scores / 10) as u64), None, PRUNE_CHUNK)?;
        chunk_max = chunk_max.max(c.elapsed().as_secs_f64() * 1e3);
        pruned += n;
        if n < PRUNE_CHUNK {
            break;
        }
    }
    let prune_s = t.elapsed().as_secs_f64();
    store.checkpoint()?;
    Ok(StoreBenchReport {
        machine: asd_core::host::describe(),
        scores,
        file_bytes,
        bytes_per_score: file_bytes as f64 / scores.max(1) as f64,
        mib_per_million_scores: file_bytes as f64 / scores.max(1) as f64 * 1e6 / (1 << 20) as f64,
        single,
        append_one_p50_ms: pick(0.5),
        append_one_p99_ms: pick(0.99),
        bulk_scores_per_s: bulk,
        pruned,
        prune_s,
        prune_chunk_max_ms: chunk_max,
        file_bytes_after_prune: file_size(dir),
    })
}

/// A random unit vector of `d` values.
pub fn unit(rng: &mut ChaCha8Rng, d: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..d).map(|_| rng.random::<f32>() - 0.5).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// `n` random references of the network's length, one in ten tagged `target`.
pub fn random_bank(n: usize, rng: &mut ChaCha8Rng) -> Vec<Enrolment> {
    (0..n)
        .map(|i| Enrolment {
            embedding: unit(rng, crate::monitors::EMBEDDING_DIM),
            condition: if i % 10 == 0 { "target" } else { "source" }.into(),
            file: format!("ref_{i:05}.wav"),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct StartupBenchReport {
    pub machine: String,
    pub references: usize,
    /// Building the bank when the monitor is created with every reference (all N² distances).
    pub build_s: f64,
    /// Saving its state (encode and one store transaction), and its size.
    pub save_s: f64,
    pub snapshot_bytes: usize,
    /// A service's start-up over the store: reading the rows and the saved state.
    pub startup_s: f64,
    pub startup_from_snapshot: bool,
    /// The same start-up with the snapshot gone (every distance again), where measured.
    pub startup_rebuild_s: Option<f64>,
}

/// Start-up of a store with one monitor of `n` references (network embeddings, 512-d cosine).
pub fn startup(
    dir: &Path,
    n: usize,
    rebuild: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<StartupBenchReport, crate::monitors::MonitorError> {
    let open = || -> Result<Monitors, crate::monitors::MonitorError> {
        Monitors::load_in(Box::new(SqliteStore::open(dir)?), Space::NETWORK)
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let bank = random_bank(n, &mut rng);
    let spec = MonitorSpec {
        name: "startup".into(),
        machine_type: "fan".into(),
        section: "00".into(),
        density: Density::KnnMean(16),
        percentile: 0.9,
    };
    let (build_s, save_s, snapshot_bytes) = {
        let m = open()?;
        progress(&format!("building a bank of {n} references"));
        let t = Instant::now();
        let id = m.create(spec, bank)?.id;
        let build_s = t.elapsed().as_secs_f64();
        progress(&format!("built in {build_s:.1} s; saving its state"));
        let t = Instant::now();
        m.save_snapshots()?;
        let save_s = t.elapsed().as_secs_f64();
        let bytes = m
            .with_store(|s| s.bank_snapshot(id))?
            .map_or(0, |(_, b)| b.len());
        (build_s, save_s, bytes)
    };
    progress("starting over the store");
    let t = Instant::now();
    let m = open()?;
    let startup_s = t.elapsed().as_secs_f64();
    let startup_from_snapshot = m.list()?.iter().all(|m| m.from_snapshot);
    drop(m);
    let startup_rebuild_s = if rebuild {
        progress("starting again without the snapshot");
        rusqlite::Connection::open(dir.join(crate::sqlite::DB_FILE))
            .and_then(|c| c.execute("DELETE FROM bank_snapshots", []))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let t = Instant::now();
        let m = open()?;
        let s = t.elapsed().as_secs_f64();
        drop(m);
        Some(s)
    } else {
        None
    };
    Ok(StartupBenchReport {
        machine: asd_core::host::describe(),
        references: n,
        build_s,
        save_s,
        snapshot_bytes,
        startup_s,
        startup_from_snapshot,
        startup_rebuild_s,
    })
}
