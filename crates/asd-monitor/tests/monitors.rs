//! The monitors over a store, without the network: what is acknowledged is stored, a failed store write
//! leaves memory as the store has it, a restart rebuilds the same banks, and the store refuses a second
//! writer.

use asd_monitor::alerts::{AlertEvent, AlertState, AlertWrite, Policy};
use asd_monitor::monitors::{MonitorError, Monitors};
use asd_monitor::store::{
    BankChange, HistoryRow, MonitorRow, MonitorSpec, ReferenceRow, Store, StoreError,
};
use asd_monitor::stream::{PcmDecoder, SampleFormat};
use asd_monitor::{SqliteStore, open_store};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;
use common::*;

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
        policy: &Policy,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError> {
        self.inner.create_monitor(spec, policy, created_ms, initial)
    }
    fn set_policy(&mut self, id: u64, policy: &Policy) -> Result<(), StoreError> {
        self.inner.set_policy(id, policy)
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
    fn append_history(
        &mut self,
        rows: &[HistoryRow],
        alert: Option<&AlertWrite>,
    ) -> Result<Vec<i64>, StoreError> {
        self.inner.append_history(rows, alert)
    }
    fn history_by_key(&self, monitor: u64, key: &str) -> Result<Option<HistoryRow>, StoreError> {
        self.inner.history_by_key(monitor, key)
    }
    fn bank_snapshot(&self, monitor: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.bank_snapshot(monitor)
    }
    fn save_bank_snapshot(
        &mut self,
        monitor: u64,
        version: u64,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.save_bank_snapshot(monitor, version, state)
    }
    fn alert_states(&self) -> Result<Vec<(u64, AlertState)>, StoreError> {
        self.inner.alert_states()
    }
    fn alert_events(
        &self,
        monitor: Option<u64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        self.inner.alert_events(monitor, before, limit)
    }
    fn prune_history(
        &mut self,
        monitor: u64,
        max_rows: Option<u64>,
        cutoff_ms: Option<i64>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        self.inner
            .prune_history(monitor, max_rows, cutoff_ms, limit)
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

#[test]
fn alerts_are_raised_and_cleared_by_the_rule_stored_with_the_scores_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let far = unit(&mut rng, &[0.0; 512], 2.0);
    let id = {
        let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
        let id = m
            .create_with(
                spec("a"),
                policy(2, 3, 2),
                clips(&mut rng, 20, "source", &c),
            )
            .unwrap()
            .id;
        // 1 of 3 does not raise; the second anomaly within 3 decisions does.
        score_pattern(&m, id, &mut rng, &c, &far, "anna");
        assert!(!m.get(id).unwrap().alert().unwrap().active);
        score_pattern(&m, id, &mut rng, &c, &far, "na");
        assert!(m.get(id).unwrap().alert().unwrap().active);
        id
    };
    // Raised after a restart too, with the event naming the clip that raised it.
    let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    let a = m.get(id).unwrap().alert().unwrap();
    assert!(a.active);
    let ev = m.alert_events(Some(id), None, 10).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event, asd_monitor::alerts::Transition::Raise);
    assert_eq!(
        (ev[0].file.as_str(), ev[0].anomalies, ev[0].decisions),
        ("a1", 2, 3)
    );
    let h = m.history(id, None, None, 1).unwrap();
    assert_eq!(ev[0].history_seq, h[0].seq);
    assert_eq!(a.since_ms, Some(h[0].at_ms));
    // The window survived the restart: one normal does not clear (clear_k 2), the second does.
    score_pattern(&m, id, &mut rng, &c, &far, "n");
    assert!(m.get(id).unwrap().alert().unwrap().active);
    score_pattern(&m, id, &mut rng, &c, &far, "n");
    assert!(!m.get(id).unwrap().alert().unwrap().active);
    let ev = m.alert_events(None, None, 10).unwrap();
    let kinds: Vec<_> = ev.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, vec!["clear", "raise"]);
    // A new rule reads from the next score on: 1 of 1 raises at once.
    m.set_policy(id, policy(1, 1, 3)).unwrap();
    score_pattern(&m, id, &mut rng, &c, &far, "a");
    assert!(m.get(id).unwrap().alert().unwrap().active);
    drop(m);
    let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    assert_eq!(m.get(id).unwrap().policy().unwrap(), policy(1, 1, 3));
    assert!(matches!(
        m.set_policy(id, policy(4, 3, 1)),
        Err(MonitorError::Invalid(_))
    ));
}

#[test]
fn a_webhook_gets_each_raise_and_clear_retried_until_it_answers() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    // The receiver fails its first call (500), then takes every call; it hands on each body.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let mut conn = conn.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let k = conn.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(at) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= at + 4 + len {
                        break text[at + 4..at + 4 + len].to_string();
                    }
                }
                if k == 0 {
                    break String::new();
                }
            };
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = tx.send(body);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let far = unit(&mut rng, &[0.0; 512], 2.0);
    let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    m.set_webhook(asd_monitor::alerts::Webhook::start(
        url,
        std::time::Duration::from_millis(20),
    ))
    .unwrap();
    let id = m
        .create_with(
            spec("pump"),
            policy(1, 1, 1),
            clips(&mut rng, 20, "source", &c),
        )
        .unwrap()
        .id;
    score_pattern(&m, id, &mut rng, &c, &far, "an");
    let wait = std::time::Duration::from_secs(20);
    let bodies: Vec<serde_json::Value> = (0..3)
        .map(|_| serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap())
        .collect();
    // The first call failed and was sent again; then the clear, in order.
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1]["event"], "raise");
    assert_eq!(bodies[1]["name"], "pump");
    assert_eq!(bodies[1]["monitor"], id);
    assert_eq!(bodies[1]["file"], "a0");
    assert_eq!(bodies[1]["rule"]["raise_m"], 1);
    assert_eq!(bodies[2]["event"], "clear");
    assert_eq!(bodies[2]["file"], "n1");
    let seqs: Vec<i64> = m
        .history(id, None, None, 10)
        .unwrap()
        .iter()
        .rev()
        .map(|h| h.seq)
        .collect();
    assert_eq!(bodies[1]["history_seq"], seqs[0]);
    assert_eq!(bodies[2]["history_seq"], seqs[1]);
}

#[test]
fn retention_prunes_the_oldest_scores_by_count_and_by_age() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    let keep = m
        .create(spec("keep"), clips(&mut rng, 10, "source", &c))
        .unwrap()
        .id;
    let id = m
        .create(spec("a"), clips(&mut rng, 10, "source", &c))
        .unwrap()
        .id;
    for mid in [keep, id] {
        let q = (0..25)
            .map(|i| (format!("q{i}"), unit(&mut rng, &c, 0.5)))
            .collect();
        m.score(mid, q, "test").unwrap();
    }
    let all = m.history(id, None, None, 100).unwrap();
    // The default (10⁶ rows, no age) keeps everything.
    assert_eq!(m.prune(asd_monitor::monitors::now_ms()).unwrap(), 0);
    let mut p = m.get(id).unwrap().policy().unwrap();
    p.retention.max_rows = Some(10);
    m.set_policy(id, p).unwrap();
    assert_eq!(m.prune(asd_monitor::monitors::now_ms()).unwrap(), 15);
    let left = m.history(id, None, None, 100).unwrap();
    assert_eq!(left, all[..10].to_vec(), "the newest 10 stay");
    // By age: a day later, scores older than half a day go; the other monitor keeps its own.
    p.retention = asd_monitor::alerts::Retention {
        max_rows: None,
        max_age_days: Some(0.5),
    };
    m.set_policy(id, p).unwrap();
    assert_eq!(m.prune(asd_monitor::monitors::now_ms()).unwrap(), 0);
    assert_eq!(
        m.prune(asd_monitor::monitors::now_ms() + 86_400_000)
            .unwrap(),
        10
    );
    assert!(m.history(id, None, None, 100).unwrap().is_empty());
    assert_eq!(m.history(keep, None, None, 100).unwrap().len(), 25);
    // In chunks: at most `limit` rows a transaction, oldest first, until fewer than that are left.
    let kept = m.history(keep, None, None, 10).unwrap();
    let chunks: Vec<u64> = (0..5)
        .map(|_| {
            m.with_store(|s| s.prune_history(keep, Some(10), None, 4))
                .unwrap()
        })
        .collect();
    assert_eq!(chunks, vec![4, 4, 4, 3, 0]);
    assert_eq!(m.history(keep, None, None, 100).unwrap(), kept);
}

#[test]
fn a_clip_key_is_scored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let m = Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    let id = m
        .create(spec("a"), clips(&mut rng, 10, "source", &c))
        .unwrap()
        .id;
    let x = unit(&mut rng, &c, 0.5);
    let first = m
        .score_keyed(
            id,
            vec![("c.wav".into(), x.clone(), Some("k1".into()))],
            "mqtt",
        )
        .unwrap();
    let err = m
        .score_keyed(id, vec![("c.wav".into(), x, Some("k1".into()))], "mqtt")
        .unwrap_err();
    assert!(
        matches!(err, MonitorError::Store(StoreError::Conflict(_))),
        "{err}"
    );
    let h = m.history(id, None, None, 10).unwrap();
    assert_eq!(h.len(), 1);
    let again = m.scored_key(id, "k1").unwrap().unwrap();
    assert_eq!((again.seq, again.score), (first[0].seq, first[0].score));
    assert!(m.scored_key(id, "k2").unwrap().is_none());
}

#[test]
fn a_version_1_store_is_migrated_and_a_newer_one_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join(asd_monitor::sqlite::DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(asd_monitor::sqlite::SCHEMA_V1).unwrap();
        conn.execute_batch(
            "INSERT INTO meta VALUES ('schema_version', '1');
             INSERT INTO monitors VALUES (3, 'old', 'fan', '00', '{\"KnnMean\":4}', 0.9, 1, 0);
             INSERT INTO history (monitor, at_ms, file, score, threshold, anomaly, condition,
               reference, percentile, origin) VALUES (3, 5, 'x.wav', 0.5, 0.4, 1, 'source', 0, 0.9, 'request');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(tmp.path()).unwrap();
    let rows = store.monitors().unwrap();
    assert_eq!(rows[0].id, 3);
    assert_eq!(rows[0].policy, Policy::default());
    let h = store.history(3, None, None, 10).unwrap();
    assert_eq!(
        (h[0].file.as_str(), h[0].clip_key.as_deref()),
        ("x.wav", None)
    );
    assert!(store.alert_states().unwrap().is_empty());
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, asd_monitor::sqlite::SCHEMA_VERSION.to_string());
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("version 99 is newer"), "{err}");
}

#[test]
fn a_restart_reads_the_saved_bank_state_and_scores_as_a_rebuild_does() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let t = unit(&mut rng, &[0.0; 512], 2.0);
    let queries: Vec<Vec<f32>> = (0..6)
        .map(|i| unit(&mut rng, if i % 2 == 0 { &c } else { &t }, 0.6))
        .collect();
    let load = || Monitors::load(Box::new(SqliteStore::open(tmp.path()).unwrap())).unwrap();
    let id = {
        let m = load();
        let id = m
            .create(spec("a"), clips(&mut rng, 30, "source", &c))
            .unwrap()
            .id;
        // Changed in place, so the bank's order is not the store's id order.
        m.enrol(id, clips(&mut rng, 4, "target", &t)).unwrap();
        m.remove_reference(id, 3).unwrap();
        m.remove_reference(id, 31).unwrap();
        assert_eq!(m.save_snapshots().unwrap(), 1);
        assert_eq!(m.save_snapshots().unwrap(), 0, "nothing changed since");
        id
    };
    let m = load();
    assert!(m.get(id).unwrap().from_snapshot);
    let from_snapshot = (scores(&m, id, &queries), m.get(id).unwrap().info().unwrap());
    drop(m);
    // The same store with its snapshot damaged: rebuilt, and equal bit for bit.
    let db = tmp.path().join(asd_monitor::sqlite::DB_FILE);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE bank_snapshots SET state = substr(state, 1, 100)",
            [],
        )
        .unwrap();
    let m = load();
    assert!(!m.get(id).unwrap().from_snapshot);
    let rebuilt = (scores(&m, id, &queries), m.get(id).unwrap().info().unwrap());
    assert_eq!(from_snapshot.0, rebuilt.0);
    assert_eq!(
        from_snapshot.1.threshold.map(f64::to_bits),
        rebuilt.1.threshold.map(f64::to_bits)
    );
    let densities = |m: &Monitors| -> Vec<(u64, Option<u64>)> {
        m.get(id)
            .unwrap()
            .references()
            .unwrap()
            .iter()
            .map(|r| (r.id, r.density.map(f64::to_bits)))
            .collect()
    };
    let rebuilt_densities = densities(&m);
    // A snapshot of an older bank version is not taken: one enrolment after it, and a crash.
    assert_eq!(m.save_snapshots().unwrap(), 1);
    m.enrol(id, clips(&mut rng, 1, "target", &t)).unwrap();
    drop(m);
    let m = load();
    assert!(!m.get(id).unwrap().from_snapshot);
    assert_eq!(m.get(id).unwrap().size().unwrap(), 33);
    // And the snapshot written now is read by the next start, equal to what this one rebuilt.
    assert_eq!(m.save_snapshots().unwrap(), 1);
    let before = (scores(&m, id, &queries), densities(&m));
    drop(m);
    let m = load();
    assert!(m.get(id).unwrap().from_snapshot);
    assert_eq!((scores(&m, id, &queries), densities(&m)), before);
    assert_ne!(
        rebuilt_densities, before.1,
        "the enrolment changed densities"
    );
}
