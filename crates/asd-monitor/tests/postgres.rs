//! The monitors over a real PostgreSQL server: what the embedded store keeps, the PostgreSQL store
//! keeps (banks bit for bit, alerts, clip keys, retention, snapshots) over a restart; a second service
//! on one database is refused; a stopped server answers "unavailable" and the store recovers when it
//! is back, with nothing acknowledged lost.

mod common;
use asd_monitor::monitors::{MonitorError, Monitors};
use asd_monitor::pg::PgStore;
use asd_monitor::store::{Store, StoreError};
use common::postgres::PgServer;
use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn load(url: &str) -> Monitors {
    Monitors::load(Box::new(PgStore::open(url).unwrap())).unwrap()
}

#[test]
fn the_postgres_store_keeps_what_the_embedded_store_keeps() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.url();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let far = unit(&mut rng, &[0.0; 512], 2.0);
    let queries: Vec<Vec<f32>> = (0..5).map(|_| unit(&mut rng, &c, 0.5)).collect();
    let (id, before, history) = {
        let m = load(&url);
        let id = m
            .create_with(
                spec("pump"),
                policy(2, 3, 2),
                clips(&mut rng, 20, "source", &c),
            )
            .unwrap()
            .id;
        assert!(matches!(
            m.create(spec("pump"), vec![]),
            Err(MonitorError::Store(StoreError::Conflict(_)))
        ));
        m.enrol(id, clips(&mut rng, 3, "target", &far)).unwrap();
        m.remove_reference(id, 4).unwrap();
        // Target clips are now normal; anomalies in a third direction raise the alert.
        let odd = unit(&mut rng, &[0.0; 512], 2.0);
        score_pattern(&m, id, &mut rng, &c, &odd, "naa");
        assert!(m.get(id).unwrap().alert().unwrap().active);
        let x = unit(&mut rng, &c, 0.5);
        m.score_keyed(
            id,
            vec![("k.wav".into(), x.clone(), Some("k1".into()))],
            "mqtt",
        )
        .unwrap();
        assert!(matches!(
            m.score_keyed(id, vec![("k.wav".into(), x, Some("k1".into()))], "mqtt"),
            Err(MonitorError::Store(StoreError::Conflict(_)))
        ));
        let before = scores(&m, id, &queries);
        // Five normal clips after the raise: cleared (2 in a row).
        let alert = m.get(id).unwrap().alert().unwrap();
        assert!(!alert.active);
        let events = m.alert_events(Some(id), None, 10).unwrap();
        assert_eq!(m.save_snapshots().unwrap(), 1);
        (
            id,
            (before, alert, events),
            m.history(id, None, None, 100).unwrap(),
        )
    };
    let (before, alert, events) = before;
    // A restart: the bank from its snapshot, equal to the one that grew, bit for bit.
    let m = load(&url);
    let mon = m.get(id).unwrap();
    assert!(mon.from_snapshot);
    assert_eq!(mon.alert().unwrap(), alert);
    assert_eq!(mon.policy().unwrap(), policy(2, 3, 2));
    assert_eq!(m.history(id, None, None, 100).unwrap(), history);
    let ev = m.alert_events(Some(id), None, 10).unwrap();
    assert_eq!(ev, events);
    let kinds: Vec<&str> = ev.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, vec!["clear", "raise"]);
    assert_eq!(scores(&m, id, &queries), before);
    assert_eq!(
        ev[1].history_seq,
        history.iter().find(|h| h.file == "a2").unwrap().seq
    );
    assert_eq!(m.scored_key(id, "k1").unwrap().unwrap().file, "k.wav");
    // The densities the store holds equal a refit of its rows.
    drop(m);
    let store = PgStore::open(&url).unwrap();
    let row = store
        .monitors()
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap();
    let refs = store.references(id).unwrap();
    let bank =
        asd_monitor::monitors::rebuild_bank(&row, &refs, asd_monitor::monitors::Space::NETWORK)
            .unwrap();
    assert_eq!(
        asd_monitor::monitors::stale_densities(&bank, &refs),
        Vec::<u64>::new()
    );
    drop(store);
    // Retention, by count.
    let m = load(&url);
    let mut p = m.get(id).unwrap().policy().unwrap();
    p.retention.max_rows = Some(2);
    m.set_policy(id, p).unwrap();
    let all = m.history(id, None, None, 100).unwrap();
    let n = all.len() as u64;
    assert_eq!(m.prune(asd_monitor::monitors::now_ms()).unwrap(), n - 2);
    assert_eq!(m.history(id, None, None, 100).unwrap(), all[..2].to_vec());
    // Deleted with everything it had; its id is not handed out again.
    m.delete(id).unwrap();
    let next = m.create(spec("pump"), vec![]).unwrap().id;
    assert!(next > id);
}

#[test]
fn one_service_per_database_and_a_newer_schema_is_refused() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.url();
    let first = PgStore::open(&url).unwrap();
    let err = PgStore::open(&url).err().unwrap().to_string();
    assert!(err.contains("another asd monitor service"), "{err}");
    drop(first);
    // Its lock goes with its connection.
    let second = PgStore::open(&url).unwrap();
    drop(second);
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    c.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        &[],
    )
    .unwrap();
    let err = PgStore::open(&url).err().unwrap().to_string();
    assert!(err.contains("version 99 is newer"), "{err}");
}

#[test]
fn a_stopped_server_answers_unavailable_and_nothing_acknowledged_is_lost() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.url();
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let c = unit(&mut rng, &[0.0; 512], 2.0);
    let m = load(&url);
    let id = m
        .create(spec("fan"), clips(&mut rng, 10, "source", &c))
        .unwrap()
        .id;
    let mut acknowledged = Vec::new();
    let mut score_one = |m: &Monitors, rng: &mut ChaCha8Rng| {
        let r = m.score(id, vec![("x.wav".into(), unit(rng, &c, 0.5))], "test");
        if let Ok(r) = &r {
            acknowledged.push(r[0].seq);
        }
        r
    };
    score_one(&m, &mut rng).unwrap();
    pg.stop();
    // Scoring and enrolment answer "unavailable" (HTTP 503), memory stays as the store had it.
    let err = score_one(&m, &mut rng).unwrap_err();
    assert!(
        matches!(err, MonitorError::Store(StoreError::Unavailable(_))),
        "{err}"
    );
    let err = m.enrol(id, clips(&mut rng, 1, "target", &c)).unwrap_err();
    assert!(
        matches!(err, MonitorError::Store(StoreError::Unavailable(_))),
        "{err}"
    );
    assert_eq!(m.get(id).unwrap().size().unwrap(), 10);
    pg.start_again();
    // The next call connects again.
    score_one(&m, &mut rng).unwrap();
    m.enrol(id, clips(&mut rng, 1, "target", &c)).unwrap();
    drop(m);
    let m = load(&url);
    let seqs: Vec<i64> = m
        .history(id, None, None, 100)
        .unwrap()
        .iter()
        .rev()
        .map(|h| h.seq)
        .collect();
    assert_eq!(seqs, acknowledged);
    assert_eq!(m.get(id).unwrap().size().unwrap(), 11);
}
