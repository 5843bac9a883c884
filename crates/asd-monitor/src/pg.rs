//! The store on a PostgreSQL server (`asd monitor --store postgres://USER@HOST:PORT/DB`): the tables of
//! the embedded store, in PostgreSQL's types, for a service whose state must live on a server of its
//! own (backed up, replicated, beside the plant's other data).
//!
//! One service serves one database: it holds a session advisory lock for as long as it is connected,
//! and a second service on the same database is refused, as a second process on an SQLite folder is.
//! (Several instances on one database need the change log and LISTEN/NOTIFY of docs/monitor.md, "A
//! fleet"; not built yet.) When the server goes away, every call answers `StoreError::Unavailable`
//! (HTTP 503) and the next call connects again (and takes the lock again); nothing is acknowledged
//! that was not committed.

use crate::alerts::{AlertEvent, AlertState, AlertWrite, Policy};
use crate::store::{
    AlertEventColumns, BankChange, HistoryRow, MonitorColumns, MonitorRow, MonitorSpec,
    ReferenceRow, Store, StoreError, blob_f32, f32_blob, settings_text,
};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, NoTls};
use std::cell::RefCell;
use std::time::Duration;

/// The advisory lock a service holds on its database ("asd_mon" in ASCII).
const LOCK_KEY: i64 = 0x0061_7364_5f6d_6f6e;

/// Schema steps, in order: entry `i` takes the database from version `i` to `i + 1`, in one
/// transaction with the version it writes.
const MIGRATIONS: &[&str] = &[
    // 1: the tables of the embedded store at its version 3.
    r#"
    CREATE TABLE monitors (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        machine_type TEXT NOT NULL,
        section TEXT NOT NULL,
        density TEXT NOT NULL,
        percentile DOUBLE PRECISION NOT NULL,
        created_ms BIGINT NOT NULL,
        next_ref_id BIGINT NOT NULL,
        policy TEXT NOT NULL,
        bank_version BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE refs (
        monitor BIGINT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        id BIGINT NOT NULL,
        condition TEXT NOT NULL,
        file TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        embedding BYTEA NOT NULL,
        density DOUBLE PRECISION,
        PRIMARY KEY (monitor, id)
    );
    CREATE TABLE history (
        seq BIGSERIAL PRIMARY KEY,
        monitor BIGINT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        at_ms BIGINT NOT NULL,
        file TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        threshold DOUBLE PRECISION,
        anomaly BOOLEAN,
        condition TEXT NOT NULL,
        reference BIGINT NOT NULL,
        percentile DOUBLE PRECISION NOT NULL,
        origin TEXT NOT NULL,
        clip_key TEXT
    );
    CREATE INDEX history_by_monitor ON history (monitor, seq);
    CREATE UNIQUE INDEX history_by_key ON history (monitor, clip_key) WHERE clip_key IS NOT NULL;
    CREATE TABLE alert_state (
        monitor BIGINT PRIMARY KEY REFERENCES monitors(id) ON DELETE CASCADE,
        active BOOLEAN NOT NULL,
        since_ms BIGINT,
        "window" TEXT NOT NULL
    );
    CREATE TABLE alert_events (
        seq BIGSERIAL PRIMARY KEY,
        monitor BIGINT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        history_seq BIGINT NOT NULL,
        file TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        anomalies BIGINT NOT NULL,
        decisions BIGINT NOT NULL
    );
    CREATE INDEX alert_events_by_monitor ON alert_events (monitor, seq);
    CREATE TABLE bank_snapshots (
        monitor BIGINT PRIMARY KEY REFERENCES monitors(id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        state BYTEA NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Whether `--store` names a PostgreSQL database rather than a folder.
pub fn is_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub struct PgStore {
    url: String,
    client: RefCell<Client>,
}

fn unavailable_or(e: postgres::Error) -> StoreError {
    if e.is_closed() || e.as_db_error().is_none() {
        StoreError::Unavailable(format!("PostgreSQL: {e}"))
    } else {
        StoreError::Database(format!("PostgreSQL: {e}"))
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Open {
        path: redacted(url),
        message: format!("not a PostgreSQL URL: {e}"),
    })?;
    config.connect_timeout(Duration::from_secs(5));
    config.application_name("asd-monitor");
    let mut client = config
        .connect(NoTls)
        .map_err(|e| StoreError::Unavailable(format!("PostgreSQL at {}: {e}", redacted(url))))?;
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
        .map_err(unavailable_or)?
        .get(0);
    if !locked {
        return Err(StoreError::Open {
            path: redacted(url),
            message: "another asd monitor service serves this database (one service per database \
                      for now; several need the change log of docs/monitor.md)"
                .into(),
        });
    }
    Ok(client)
}

fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(unavailable_or)?;
    let version: Option<String> = client
        .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .map_err(unavailable_or)?
        .map(|r| r.get(0));
    let version = match version {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| StoreError::Open {
            path: redacted(url),
            message: format!("schema version '{v}' is not a number"),
        })?,
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Open {
            path: redacted(url),
            message: format!(
                "schema version {version} is newer than this build's {SCHEMA_VERSION}: use the asd that wrote it"
            ),
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let to = (i + 1).to_string();
        let mut tx = client.transaction().map_err(unavailable_or)?;
        tx.batch_execute(step).map_err(unavailable_or)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&to],
        )
        .map_err(unavailable_or)?;
        tx.commit().map_err(unavailable_or)?;
        tracing::info!("store {}: schema migrated to version {to}", redacted(url));
    }
    Ok(())
}

impl PgStore {
    /// Connects, takes the database's service lock and brings its schema to this build's version.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut client = connect(url)?;
        migrate(&mut client, url)?;
        Ok(Self {
            url: url.to_string(),
            client: RefCell::new(client),
        })
    }

    /// The connection, made again (with the lock) where the server dropped it.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.client.borrow_mut();
        if c.is_closed() {
            *c = connect(&self.url)?;
            tracing::info!("store {}: connected again", redacted(&self.url));
        }
        f(&mut c)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                    .map_err(unavailable_or)?
                    .map(|r| r.get(0)),
            )
        })
    }
}

fn write_change(tx: &mut impl GenericClient, c: &BankChange) -> Result<(), postgres::Error> {
    let m = c.monitor as i64;
    for r in &c.added {
        tx.execute(
            "INSERT INTO refs (monitor, id, condition, file, created_ms, embedding, density)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &m,
                &(r.id as i64),
                &r.condition,
                &r.file,
                &r.created_ms,
                &f32_blob(&r.embedding),
                &r.density,
            ],
        )?;
    }
    for id in &c.removed {
        tx.execute(
            "DELETE FROM refs WHERE monitor = $1 AND id = $2",
            &[&m, &(*id as i64)],
        )?;
    }
    for (id, d) in &c.densities {
        tx.execute(
            "UPDATE refs SET density = $3 WHERE monitor = $1 AND id = $2",
            &[&m, &(*id as i64), d],
        )?;
    }
    tx.execute(
        "UPDATE monitors SET next_ref_id = $2, bank_version = bank_version + 1 WHERE id = $1",
        &[&m, &(c.next_ref_id as i64)],
    )?;
    Ok(())
}

const HISTORY_COLUMNS: &str = "seq, monitor, at_ms, file, score, threshold, anomaly, condition, \
     reference, percentile, origin, clip_key";

fn history_row(r: &postgres::Row) -> HistoryRow {
    HistoryRow {
        seq: r.get(0),
        monitor: r.get::<_, i64>(1) as u64,
        at_ms: r.get(2),
        file: r.get(3),
        score: r.get(4),
        threshold: r.get(5),
        anomaly: r.get(6),
        condition: r.get(7),
        reference: r.get::<_, i64>(8) as u64,
        percentile: r.get(9),
        origin: r.get(10),
        clip_key: r.get(11),
    }
}

impl Store for PgStore {
    fn model_key(&self) -> Result<Option<String>, StoreError> {
        self.meta("model_key")
    }

    fn set_model_key(&mut self, key: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('model_key', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key],
            )
            .map(|_| ())
            .map_err(unavailable_or)
        })
    }

    fn create_monitor(
        &mut self,
        spec: &MonitorSpec,
        policy: &Policy,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError> {
        let (density, policy) = settings_text(&spec.density, policy)?;
        self.with(|c| {
            let mut tx = c.transaction().map_err(unavailable_or)?;
            if let Some(r) = tx
                .query_opt("SELECT id FROM monitors WHERE name = $1", &[&spec.name])
                .map_err(unavailable_or)?
            {
                return Err(StoreError::Conflict(format!(
                    "a monitor named '{}' exists already (id {})",
                    spec.name,
                    r.get::<_, i64>(0)
                )));
            }
            // Ids are never reused (as in the embedded store): the next one only grows.
            let recorded: Option<String> = tx
                .query_opt(
                    "SELECT value FROM meta WHERE key = 'next_monitor_id' FOR UPDATE",
                    &[],
                )
                .map_err(unavailable_or)?
                .map(|r| r.get(0));
            let recorded = recorded.and_then(|v| v.parse::<i64>().ok()).unwrap_or(1);
            let above: i64 = tx
                .query_one("SELECT COALESCE(MAX(id), 0) + 1 FROM monitors", &[])
                .map_err(unavailable_or)?
                .get(0);
            let id = recorded.max(above);
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('next_monitor_id', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&(id + 1).to_string()],
            )
            .map_err(unavailable_or)?;
            tx.execute(
                "INSERT INTO monitors (id, name, machine_type, section, density, percentile,
                 created_ms, next_ref_id, policy) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)",
                &[
                    &id,
                    &spec.name,
                    &spec.machine_type,
                    &spec.section,
                    &density,
                    &spec.percentile,
                    &created_ms,
                    &policy,
                ],
            )
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
                    StoreError::Conflict(format!("a monitor named '{}' exists already", spec.name))
                }
                _ => unavailable_or(e),
            })?;
            let change = BankChange {
                monitor: id as u64,
                ..initial.clone()
            };
            write_change(&mut tx, &change).map_err(unavailable_or)?;
            tx.commit().map_err(unavailable_or)?;
            Ok(id as u64)
        })
    }

    fn set_policy(&mut self, id: u64, policy: &Policy) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(policy).map_err(|e| StoreError::Database(e.to_string()))?;
        self.with(|c| {
            let n = c
                .execute(
                    "UPDATE monitors SET policy = $2 WHERE id = $1",
                    &[&(id as i64), &text],
                )
                .map_err(unavailable_or)?;
            if n == 0 {
                return Err(StoreError::NoMonitor(id));
            }
            Ok(())
        })
    }

    fn delete_monitor(&mut self, id: u64) -> Result<(), StoreError> {
        self.with(|c| {
            let n = c
                .execute("DELETE FROM monitors WHERE id = $1", &[&(id as i64)])
                .map_err(unavailable_or)?;
            if n == 0 {
                return Err(StoreError::NoMonitor(id));
            }
            Ok(())
        })
    }

    fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT id, name, machine_type, section, density, percentile, created_ms,
                 next_ref_id, policy, bank_version FROM monitors ORDER BY id",
                &[],
            )
            .map_err(unavailable_or)
        })?;
        rows.iter()
            .map(|r| {
                MonitorColumns {
                    id: r.get(0),
                    name: r.get(1),
                    machine_type: r.get(2),
                    section: r.get(3),
                    density: r.get(4),
                    percentile: r.get(5),
                    created_ms: r.get(6),
                    next_ref_id: r.get(7),
                    policy: r.get(8),
                    bank_version: r.get(9),
                }
                .into_row()
            })
            .collect()
    }

    fn references(&self, monitor: u64) -> Result<Vec<ReferenceRow>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT id, condition, file, created_ms, embedding, density FROM refs
                 WHERE monitor = $1 ORDER BY id",
                &[&(monitor as i64)],
            )
            .map_err(unavailable_or)
        })?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let blob: &[u8] = r.get(4);
                Ok(ReferenceRow {
                    id: id as u64,
                    condition: r.get(1),
                    file: r.get(2),
                    created_ms: r.get(3),
                    embedding: blob_f32(blob, monitor, id)?,
                    density: r.get(5),
                })
            })
            .collect()
    }

    fn apply(&mut self, change: &BankChange) -> Result<(), StoreError> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(unavailable_or)?;
            // The row lock serialises changes of one monitor (with one service per database, the
            // service's own lock does already).
            if tx
                .query_opt(
                    "SELECT id FROM monitors WHERE id = $1 FOR UPDATE",
                    &[&(change.monitor as i64)],
                )
                .map_err(unavailable_or)?
                .is_none()
            {
                return Err(StoreError::NoMonitor(change.monitor));
            }
            write_change(&mut tx, change).map_err(unavailable_or)?;
            tx.commit().map_err(unavailable_or)
        })
    }

    fn append_history(
        &mut self,
        rows: &[HistoryRow],
        alert: Option<&AlertWrite>,
    ) -> Result<Vec<i64>, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(unavailable_or)?;
            let ins = tx
                .prepare(
                    "INSERT INTO history (monitor, at_ms, file, score, threshold, anomaly, condition,
                     reference, percentile, origin, clip_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq",
                )
                .map_err(unavailable_or)?;
            let mut seqs = Vec::with_capacity(rows.len());
            for h in rows {
                let r = tx
                    .query_one(
                        &ins,
                        &[
                            &(h.monitor as i64),
                            &h.at_ms,
                            &h.file,
                            &h.score,
                            &h.threshold,
                            &h.anomaly,
                            &h.condition,
                            &(h.reference as i64),
                            &h.percentile,
                            &h.origin,
                            &h.clip_key,
                        ],
                    )
                    .map_err(|e| match (&h.clip_key, e.code()) {
                        (Some(k), Some(c)) if *c == SqlState::UNIQUE_VIOLATION => {
                            StoreError::Conflict(format!(
                                "monitor {} has scored the clip with key {k} already",
                                h.monitor
                            ))
                        }
                        _ => unavailable_or(e),
                    })?;
                seqs.push(r.get::<_, i64>(0));
            }
            if let (Some(a), Some(first)) = (alert, rows.first()) {
                let monitor = first.monitor as i64;
                tx.execute(
                    "INSERT INTO alert_state (monitor, active, since_ms, \"window\")
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (monitor) DO UPDATE SET active = excluded.active,
                     since_ms = excluded.since_ms, \"window\" = excluded.\"window\"",
                    &[
                        &monitor,
                        &a.state.active,
                        &a.state.since_ms,
                        &a.state.window_text(),
                    ],
                )
                .map_err(unavailable_or)?;
                for (i, e) in &a.events {
                    let history_seq = seqs.get(*i).copied().ok_or_else(|| {
                        StoreError::Database(format!(
                            "alert event for score {i} of {}",
                            rows.len()
                        ))
                    })?;
                    tx.execute(
                        "INSERT INTO alert_events (monitor, event, at_ms, history_seq, file, score,
                         anomalies, decisions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &monitor,
                            &e.event.as_str(),
                            &e.at_ms,
                            &history_seq,
                            &e.file,
                            &e.score,
                            &(e.anomalies as i64),
                            &(e.decisions as i64),
                        ],
                    )
                    .map_err(unavailable_or)?;
                }
            }
            tx.commit().map_err(unavailable_or)?;
            Ok(seqs)
        })
    }

    fn bank_snapshot(&self, monitor: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT version, state FROM bank_snapshots WHERE monitor = $1",
                &[&(monitor as i64)],
            )
            .map_err(unavailable_or)?
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, Vec<u8>>(1))))
        })
    }

    fn save_bank_snapshot(
        &mut self,
        monitor: u64,
        version: u64,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        self.with(|c| {
            let n = c
                .execute(
                    "INSERT INTO bank_snapshots (monitor, version, state)
                     SELECT id, bank_version, $3 FROM monitors WHERE id = $1 AND bank_version = $2
                     ON CONFLICT (monitor) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                    &[&(monitor as i64), &(version as i64), &state],
                )
                .map_err(unavailable_or)?;
            Ok(n > 0)
        })
    }

    fn history_by_key(&self, monitor: u64, key: &str) -> Result<Option<HistoryRow>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {HISTORY_COLUMNS} FROM history WHERE monitor = $1 AND clip_key = $2"
                ),
                &[&(monitor as i64), &key],
            )
            .map_err(unavailable_or)?
            .map(|r| history_row(&r)))
        })
    }

    fn alert_states(&self) -> Result<Vec<(u64, AlertState)>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT monitor, active, since_ms, \"window\" FROM alert_state ORDER BY monitor",
                &[],
            )
            .map_err(unavailable_or)
        })?;
        rows.iter()
            .map(|r| {
                let monitor: i64 = r.get(0);
                let text: String = r.get(3);
                let window = AlertState::window_from(&text)
                    .ok_or_else(|| corrupt(format!("monitor {monitor}: alert window '{text}'")))?;
                Ok((
                    monitor as u64,
                    AlertState {
                        active: r.get(1),
                        since_ms: r.get(2),
                        window,
                    },
                ))
            })
            .collect()
    }

    fn alert_events(
        &self,
        monitor: Option<u64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT seq, monitor, event, at_ms, history_seq, file, score, anomalies, decisions
                 FROM alert_events WHERE ($1::BIGINT IS NULL OR monitor = $1) AND seq < $2
                 ORDER BY seq DESC LIMIT $3",
                &[
                    &monitor.map(|m| m as i64),
                    &before.unwrap_or(i64::MAX),
                    &(limit as i64),
                ],
            )
            .map_err(unavailable_or)
        })?;
        rows.iter()
            .map(|r| {
                AlertEventColumns {
                    seq: r.get(0),
                    monitor: r.get(1),
                    event: r.get(2),
                    at_ms: r.get(3),
                    history_seq: r.get(4),
                    file: r.get(5),
                    score: r.get(6),
                    anomalies: r.get(7),
                    decisions: r.get(8),
                }
                .into_event()
            })
            .collect()
    }

    fn prune_history(
        &mut self,
        monitor: u64,
        max_rows: Option<u64>,
        cutoff_ms: Option<i64>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(unavailable_or)?;
            let m = monitor as i64;
            let mut gone = 0u64;
            if let Some(keep) = max_rows {
                let edge: Option<i64> = tx
                    .query_opt(
                        "SELECT seq FROM history WHERE monitor = $1 ORDER BY seq DESC
                         LIMIT 1 OFFSET $2",
                        &[&m, &(keep as i64)],
                    )
                    .map_err(unavailable_or)?
                    .map(|r| r.get(0));
                if let Some(edge) = edge {
                    gone += tx
                        .execute(
                            "DELETE FROM history WHERE seq IN (SELECT seq FROM history
                             WHERE monitor = $1 AND seq <= $2 ORDER BY seq LIMIT $3)",
                            &[&m, &edge, &(limit as i64)],
                        )
                        .map_err(unavailable_or)?;
                }
            }
            if let Some(cutoff) = cutoff_ms
                && gone < limit
            {
                gone += tx
                    .execute(
                        "DELETE FROM history WHERE seq IN (SELECT seq FROM history
                         WHERE monitor = $1 AND at_ms <= $2 ORDER BY seq LIMIT $3)",
                        &[&m, &cutoff, &((limit - gone) as i64)],
                    )
                    .map_err(unavailable_or)?;
            }
            tx.commit().map_err(unavailable_or)?;
            Ok(gone)
        })
    }

    fn history(
        &self,
        monitor: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                &format!(
                    "SELECT {HISTORY_COLUMNS} FROM history
                     WHERE monitor = $1 AND seq < $2 AND seq > $3 ORDER BY seq DESC LIMIT $4"
                ),
                &[
                    &(monitor as i64),
                    &before.unwrap_or(i64::MAX),
                    &after.unwrap_or(i64::MIN),
                    &(limit as i64),
                ],
            )
            .map_err(unavailable_or)
        })?;
        Ok(rows.iter().map(history_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_folders_and_passwords_stay_out_of_messages() {
        assert!(is_url("postgres://asd@db:5432/asd"));
        assert!(is_url("postgresql://db/asd"));
        assert!(!is_url("runs/monitor"));
        assert_eq!(
            redacted("postgres://asd:s3cret@db:5432/asd"),
            "postgres://asd:***@db:5432/asd"
        );
        assert_eq!(redacted("postgres://asd@db/asd"), "postgres://asd@db/asd");
        assert_eq!(redacted("postgres://db/asd"), "postgres://db/asd");
    }
}
