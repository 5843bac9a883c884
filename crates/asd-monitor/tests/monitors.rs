//! The monitors over a store, without the network: what is acknowledged is stored, a failed store write
//! leaves memory as the store has it, a restart rebuilds the same banks, and the store refuses a second
//! writer.

use asd_monitor::monitors::{Enrolment, MonitorError, Monitors};
use asd_monitor::store::{
    BankChange, HistoryRow, MonitorRow, MonitorSpec, ReferenceRow, Store, StoreError,
};
use asd_monitor::stream::{PcmDecoder, SampleFormat};
use asd_monitor::{SqliteStore, open_store};
use asd_scoring::density::Density;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn unit(rng: &mut ChaCha8Rng, centre: &[f32], spread: f32) -> Vec<f32> {
    let v: Vec<f32> = centre
        .iter()
        .map(|c| c + spread * (rng.random::<f32>() - 0.5))
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn clips(rng: &mut ChaCha8Rng, n: usize, condition: &str, centre: &[f32]) -> Vec<Enrolment> {
    (0..n)
        .map(|i| Enrolment {
            embedding: unit(rng, centre, 0.5),
            condition: condition.into(),
            file: format!("{condition}_{i}.wav"),
        })
        .collect()
}

fn spec(name: &str) -> MonitorSpec {
    MonitorSpec {
        name: name.into(),
        machine_type: "fan".into(),
        section: "00".into(),
        density: Density::KnnMean(4),
        percentile: 0.9,
    }
}

/// A store whose bank writes fail while `fail` is set (a full disk, a lost database).
struct Flaky {
    inner: SqliteStore,
    fail: Arc<AtomicBool>,
}

impl Store for Flaky {
    fn model_key(&self) -> Result<Option<String>, StoreError> {
        self.inner.model_key()
    }
    fn set_model_key(&mut self, key: &str) -> Result<(), StoreError> {
        self.inner.set_model_key(key)
    }
    fn create_monitor(
        &mut self,
        spec: &MonitorSpec,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError> {
        self.inner.create_monitor(spec, created_ms, initial)
    }
    fn delete_monitor(&mut self, id: u64) -> Result<(), StoreError> {
        self.inner.delete_monitor(id)
    }
    fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError> {
        self.inner.monitors()
    }
    fn references(&self, monitor: u64) -> Result<Vec<ReferenceRow>, StoreError> {
        self.inner.references(monitor)
    }
    fn apply(&mut self, change: &BankChange) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Database("disk full (simulated)".into()));
        }
        self.inner.apply(change)
    }
    fn append_history(&mut self, rows: &[HistoryRow]) -> Result<Vec<i64>, StoreError> {
        self.inner.append_history(rows)
    }
    fn history(
        &self,
        monitor: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        self.inner.history(monitor, before, after, limit)
    }
}

fn scores(m: &Monitors, id: u64, queries: &[Vec<f32>]) -> Vec<u64> {
    let q = queries
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("q{i}"), x.clone()))
        .collect();
    m.score(id, q, "test")
        .unwrap()
        .iter()
        .map(|c| c.score.to_bits())
        .collect()
}

#[test]
fn a_failed_store_write_leaves_the_bank_as_the_store_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let store = Flaky {
        inner: SqliteStore::open(tmp.path()).unwrap(),
        fail: fail.clone(),
    };
    let m = Monitors::load(Box::new(store)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let src = unit(&mut rng, &[0.0; 512], 2.0);
    let tgt = unit(&mut rng, &[0.0; 512], 2.0);
    let id = m
        .create(spec("a"), clips(&mut rng, 20, "source", &src))
        .unwrap()
        .id;
    // Incremental changes first, so that the bank in memory is not a fresh fit.
    let other = unit(&mut rng, &[0.0; 512], 2.0);
    m.enrol(id, clips(&mut rng, 4, "other", &other)).unwrap();
    m.remove_reference(id, 5).unwrap();
    m.remove_reference(id, 21).unwrap();
    let queries: Vec<Vec<f32>> = (0..5).map(|_| unit(&mut rng, &tgt, 0.5)).collect();
    let before = scores(&m, id, &queries);
    let info = m.get(id).unwrap().info().unwrap();

    fail.store(true, Ordering::SeqCst);
    let err = m.enrol(id, clips(&mut rng, 3, "target", &tgt)).unwrap_err();
    assert!(matches!(err, MonitorError::Store(_)), "{err}");
    let first = m.get(id).unwrap().references().unwrap()[0].id;
    assert!(m.remove_reference(id, first).is_err());
    // Nothing changed in memory: same references, threshold and scores, bit for bit.
    let after = m.get(id).unwrap().info().unwrap();
    assert_eq!(after.references, info.references);
    assert_eq!(
        after.threshold.map(f64::to_bits),
        info.threshold.map(f64::to_bits)
    );
    assert_eq!(scores(&m, id, &queries), before);

    // A restart computes the same bank from the store: threshold and scores, bit for bit.
    drop(m);
    let m = Monitors::load(Box::new(Flaky {
        inner: SqliteStore::open(tmp.path()).unwrap(),
        fail: fail.clone(),
    }))
    .unwrap();
    let restarted = m.get(id).unwrap().info().unwrap();
    assert_eq!(
        restarted.threshold.map(f64::to_bits),
        info.threshold.map(f64::to_bits)
    );
    assert_eq!(scores(&m, id, &queries), before);

    // Once the store works again, the same enrolment lands, and the target queries score lower.
    fail.store(false, Ordering::SeqCst);
    let ids = m.enrol(id, clips(&mut rng, 3, "target", &tgt)).unwrap();
    assert_eq!(ids.len(), 3);
    let now = m
        .score(id, vec![("q".into(), queries[0].clone())], "test")
        .unwrap();
    assert!(now[0].score < f64::from_bits(before[0]));
    assert_eq!(now[0].condition, "target");
}

#[test]
fn a_restart_rebuilds_the_banks_that_were_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let queries: Vec<Vec<f32>> = (0..4).map(|_| unit(&mut rng, &c, 0.6)).collect();
    let (id, want, refs) = {
        let m = Monitors::load(Box::new(open_store(tmp.path(), "model-a").unwrap())).unwrap();
        let id = m
            .create(spec("a"), clips(&mut rng, 10, "source", &c))
            .unwrap()
            .id;
        m.enrol(id, clips(&mut rng, 4, "target", &c)).unwrap();
        m.remove_reference(id, 3).unwrap();
        m.remove_reference(id, 12).unwrap();
        let refs = m.get(id).unwrap().references().unwrap();
        (id, scores(&m, id, &queries), refs)
    };
    // The lock was released with the store; a new process opens it.
    let m = Monitors::load(Box::new(open_store(tmp.path(), "model-a").unwrap())).unwrap();
    let back = m.get(id).unwrap().references().unwrap();
    assert_eq!(back.len(), refs.len());
    for (a, b) in back.iter().zip(&refs) {
        assert_eq!((a.id, &a.condition, &a.file), (b.id, &b.condition, &b.file));
        assert_eq!(a.density.map(f64::to_bits), b.density.map(f64::to_bits));
    }
    assert_eq!(scores(&m, id, &queries), want);
    // Ids are never reused: the next reference gets 14, not 12.
    let ids = m.enrol(id, clips(&mut rng, 1, "x", &c)).unwrap();
    assert_eq!(ids, vec![14]);
    // The history kept every scored clip, newest first, in pages.
    let h = m.history(id, None, None, 5).unwrap();
    assert_eq!(h.len(), 5);
    assert!(h.windows(2).all(|w| w[0].seq > w[1].seq));
    let older = m.history(id, Some(h[4].seq), None, 100).unwrap();
    assert_eq!(h.len() + older.len(), 8);
}

#[test]
fn the_store_refuses_a_second_writer_and_another_model() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open_store(tmp.path(), "model-a").unwrap();
    let e = SqliteStore::open(tmp.path()).err().unwrap().to_string();
    assert!(e.contains("another asd monitor process"), "{e}");
    drop(first);
    let e = open_store(tmp.path(), "model-b").err().unwrap().to_string();
    assert!(e.contains("model-a") && e.contains("model-b"), "{e}");
}

#[test]
fn pcm_frames_split_across_chunks_decode_as_one_stream() {
    // Stereo s16le: frames of 4 bytes, cut at every odd place.
    let frames: Vec<(i16, i16)> = (0..50).map(|i| (i * 300, -i * 100)).collect();
    let bytes: Vec<u8> = frames
        .iter()
        .flat_map(|(l, r)| [l.to_le_bytes(), r.to_le_bytes()].concat())
        .collect();
    let mut d = PcmDecoder::new(SampleFormat::S16le, 2);
    let mut out = Vec::new();
    for chunk in bytes.chunks(7) {
        d.push(chunk, &mut out).unwrap();
    }
    assert_eq!(out.len(), 50);
    assert_eq!(d.leftover(), 0);
    for (v, (l, r)) in out.iter().zip(&frames) {
        let want = (f32::from(*l) / 32768.0 + f32::from(*r) / 32768.0) * 0.5;
        assert_eq!(*v, want);
    }
    let mut f = PcmDecoder::new(SampleFormat::F32le, 1);
    let bad: Vec<u8> = [0.5f32, -0.25, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let e = f.push(&bad, &mut out).unwrap_err();
    assert_eq!(e.frame, 2);
    assert!(e.to_string().contains("NaN"), "{e}");
}

#[test]
fn concurrent_enrolment_and_scoring_of_one_monitor_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let m = Arc::new(Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let id = m
        .create(spec("a"), clips(&mut rng, 8, "source", &c))
        .unwrap()
        .id;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (m, c) = (m.clone(), c.clone());
            s.spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(10 + t);
                for _ in 0..10 {
                    m.enrol(id, clips(&mut rng, 1, &format!("t{t}"), &c))
                        .unwrap();
                }
            });
        }
        for t in 0..2u64 {
            let (m, c) = (m.clone(), c.clone());
            s.spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(20 + t);
                for _ in 0..20 {
                    let r = m
                        .score(id, vec![("q".into(), unit(&mut rng, &c, 0.5))], "test")
                        .unwrap();
                    assert!(r[0].score.is_finite());
                }
            });
        }
    });
    let info = m.get(id).unwrap().info().unwrap();
    assert_eq!(info.references, 28);
    assert_eq!(info.conditions["t0"], 10);
    assert_eq!(m.history(id, None, None, 1000).unwrap().len(), 40);
    // The densities written change by change under contention equal a full refit of the stored rows.
    drop(m);
    let store = SqliteStore::open(tmp.path()).unwrap();
    let row = &store.monitors().unwrap()[0];
    let refs = store.references(row.id).unwrap();
    let bank =
        asd_monitor::monitors::rebuild_bank(row, &refs, asd_monitor::monitors::Space::NETWORK)
            .unwrap();
    assert_eq!(refs.len(), 28);
    assert!(refs.iter().all(|r| r.density.is_some()));
    assert_eq!(
        asd_monitor::monitors::stale_densities(&bank, &refs),
        Vec::<u64>::new()
    );
}

#[test]
fn monitor_ids_are_never_reused_after_delete_or_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let (a, b) = {
        let m = Monitors::load(Box::new(open_store(tmp.path(), "model-a").unwrap())).unwrap();
        let a = m
            .create(spec("a"), clips(&mut rng, 3, "source", &c))
            .unwrap()
            .id;
        let b = m.create(spec("b"), vec![]).unwrap().id;
        assert!(b > a);
        // The newest monitor deleted: its id is not handed out again.
        m.delete(b).unwrap();
        let c2 = m.create(spec("c"), vec![]).unwrap().id;
        assert!(c2 > b, "{c2} after deleting {b}");
        m.delete(c2).unwrap();
        (a, c2)
    };
    let m = Monitors::load(Box::new(open_store(tmp.path(), "model-a").unwrap())).unwrap();
    let d = m.create(spec("d"), vec![]).unwrap().id;
    assert!(d > b && d > a, "{d} after a restart, deleted {b}");
    assert!(matches!(
        m.get(b),
        Err(MonitorError::NoMonitor(x)) if x == b
    ));
}
