//! The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so that a change is on disk
//! when its transaction commits and a crash (even of the machine) loses nothing acknowledged. A lock file
//! keeps a second process from writing the same store.

use crate::alerts::{AlertEvent, AlertState, AlertWrite, Policy};
use crate::store::{
    AlertEventColumns, BankChange, HistoryRow, MonitorColumns, MonitorRow, MonitorSpec,
    ReferenceRow, Store, StoreError, blob_f32, f32_blob, settings_text,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "monitor.sqlite";
pub const LOCK_FILE: &str = "monitor.lock";

/// Schema changes after version 1, in order: entry `i` takes a store from version `i + 1` to `i + 2`,
/// in one transaction with the version it writes. A store of a newer version than this build knows
/// is refused, never written.
const MIGRATIONS: &[&str] = &[
    // 2: alert rules and retention per monitor, alert state and events, a clip key per score.
    r#"
    ALTER TABLE monitors ADD COLUMN policy TEXT NOT NULL
        DEFAULT '{"alert":{"raise_m":3,"raise_n":5,"clear_k":5},"retention":{"max_rows":1000000,"max_age_days":null}}';
    ALTER TABLE history ADD COLUMN clip_key TEXT;
    CREATE UNIQUE INDEX history_by_key ON history (monitor, clip_key) WHERE clip_key IS NOT NULL;
    CREATE TABLE alert_state (
        monitor INTEGER PRIMARY KEY REFERENCES monitors(id) ON DELETE CASCADE,
        active INTEGER NOT NULL,
        since_ms INTEGER,
        window TEXT NOT NULL
    );
    CREATE TABLE alert_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        monitor INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        event TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        history_seq INTEGER NOT NULL,
        file TEXT NOT NULL,
        score REAL NOT NULL,
        anomalies INTEGER NOT NULL,
        decisions INTEGER NOT NULL
    );
    CREATE INDEX alert_events_by_monitor ON alert_events (monitor, seq);
    "#,
    // 3: a version per bank, raised by every change, and the bank's derived state saved with the
    // version it belongs to, read at start-up instead of recomputed.
    r#"
    ALTER TABLE monitors ADD COLUMN bank_version INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE bank_snapshots (
        monitor INTEGER PRIMARY KEY REFERENCES monitors(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        state BLOB NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = 1 + MIGRATIONS.len();

/// The version-1 tables, created in a new store before the migrations run.
pub const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS monitors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    machine_type TEXT NOT NULL,
    section TEXT NOT NULL,
    density TEXT NOT NULL,
    percentile REAL NOT NULL,
    created_ms INTEGER NOT NULL,
    next_ref_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    monitor INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    condition TEXT NOT NULL,
    file TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    density REAL,
    PRIMARY KEY (monitor, id)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    at_ms INTEGER NOT NULL,
    file TEXT NOT NULL,
    score REAL NOT NULL,
    threshold REAL,
    anomaly INTEGER,
    condition TEXT NOT NULL,
    reference INTEGER NOT NULL,
    percentile REAL NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_monitor ON history (monitor, seq);
";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    // Held for the store's lifetime: the OS releases it when the process ends, also on kill -9.
    _lock: File,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// Opens (or creates) the store in folder `dir`; refuses a folder another process writes.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let open_err = |path: &Path, message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(dir, e.to_string()))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_err(&lock_path, e.to_string()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(open_err(
                    dir,
                    "another asd monitor process is using this store (only one may write it)"
                        .into(),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(open_err(&lock_path, e.to_string()));
            }
        }
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| open_err(&path, e.to_string()))?;
        let setup = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.execute_batch(SCHEMA_V1)?;
            Ok(())
        };
        setup(&conn).map_err(|e| open_err(&path, e.to_string()))?;
        let store = Self {
            conn,
            path,
            _lock: lock,
        };
        let version = match store.meta("schema_version")? {
            None => 1,
            Some(v) => v.parse::<usize>().map_err(|_| {
                open_err(
                    &store.path,
                    format!("store schema version '{v}' is not a number"),
                )
            })?,
        };
        if version > SCHEMA_VERSION {
            return Err(open_err(
                &store.path,
                format!(
                    "store schema version {version} is newer than this build's {SCHEMA_VERSION}: use the asd that wrote it"
                ),
            ));
        }
        let mut store = store;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version - 1) {
            let to = i + 2;
            let migrate = |conn: &mut Connection| -> rusqlite::Result<()> {
                let tx = conn.transaction()?;
                tx.execute_batch(step)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [to.to_string()],
                )?;
                tx.commit()
            };
            migrate(&mut store.conn).map_err(|e| {
                open_err(
                    &store.path,
                    format!("migrating the schema to version {to}: {e}"),
                )
            })?;
            tracing::info!(
                "store {}: schema migrated to version {to}",
                store.path.display()
            );
        }
        if version == SCHEMA_VERSION {
            // A new store (no version yet) that needed no migration still records its version.
            store.set_meta("schema_version", &SCHEMA_VERSION.to_string())?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the write-ahead log into the database file (what SQLite does by itself every 1 000
    /// pages), so that the file's size is the store's.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(db)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(db)
    }
}

const HISTORY_COLUMNS: &str = "seq, monitor, at_ms, file, score, threshold, anomaly, condition, \
     reference, percentile, origin, clip_key";

fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HistoryRow> {
    Ok(HistoryRow {
        seq: r.get(0)?,
        monitor: r.get::<_, i64>(1)? as u64,
        at_ms: r.get(2)?,
        file: r.get(3)?,
        score: r.get(4)?,
        threshold: r.get(5)?,
        anomaly: r.get(6)?,
        condition: r.get(7)?,
        reference: r.get::<_, i64>(8)? as u64,
        percentile: r.get(9)?,
        origin: r.get(10)?,
        clip_key: r.get(11)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

fn write_change(tx: &rusqlite::Transaction<'_>, c: &BankChange) -> rusqlite::Result<()> {
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO refs (monitor, id, condition, file, created_ms, embedding, density)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in &c.added {
            ins.execute(params![
                c.monitor as i64,
                r.id as i64,
                r.condition,
                r.file,
                r.created_ms,
                f32_blob(&r.embedding),
                r.density
            ])?;
        }
        let mut del = tx.prepare_cached("DELETE FROM refs WHERE monitor = ?1 AND id = ?2")?;
        for id in &c.removed {
            del.execute(params![c.monitor as i64, *id as i64])?;
        }
        let mut upd =
            tx.prepare_cached("UPDATE refs SET density = ?3 WHERE monitor = ?1 AND id = ?2")?;
        for (id, d) in &c.densities {
            upd.execute(params![c.monitor as i64, *id as i64, d])?;
        }
    }
    tx.execute(
        "UPDATE monitors SET next_ref_id = ?2, bank_version = bank_version + 1 WHERE id = ?1",
        params![c.monitor as i64, c.next_ref_id as i64],
    )?;
    Ok(())
}

impl Store for SqliteStore {
    fn model_key(&self) -> Result<Option<String>, StoreError> {
        self.meta("model_key")
    }

    fn set_model_key(&mut self, key: &str) -> Result<(), StoreError> {
        self.set_meta("model_key", key)
    }

    fn create_monitor(
        &mut self,
        spec: &MonitorSpec,
        policy: &Policy,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError> {
        let (density, policy) = settings_text(&spec.density, policy)?;
        let tx = self.conn.transaction().map_err(db)?;
        let taken: Option<i64> = tx
            .query_row(
                "SELECT id FROM monitors WHERE name = ?1",
                [&spec.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if let Some(id) = taken {
            return Err(StoreError::Conflict(format!(
                "a monitor named '{}' exists already (id {id})",
                spec.name
            )));
        }
        // Monitor ids are never reused (a `watch --monitor N` left running must not post to another
        // machine's monitor once N is deleted and a new one created): the next id is kept in `meta`
        // and only grows, in the same transaction as the insert.
        let recorded: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = 'next_monitor_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let recorded = recorded.and_then(|v| v.parse::<i64>().ok()).unwrap_or(1);
        let above_max: i64 = tx
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM monitors", [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        let new_id = recorded.max(above_max);
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('next_monitor_id', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(new_id + 1).to_string()],
        )
        .map_err(db)?;
        tx.execute(
            "INSERT INTO monitors (id, name, machine_type, section, density, percentile, created_ms, next_ref_id, policy)
             VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6, 0, ?8)",
            params![
                spec.name,
                spec.machine_type,
                spec.section,
                density,
                spec.percentile,
                created_ms,
                new_id,
                policy
            ],
        )
        .map_err(db)?;
        let id = new_id as u64;
        let change = BankChange {
            monitor: id,
            ..initial.clone()
        };
        write_change(&tx, &change).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(id)
    }

    fn set_policy(&mut self, id: u64, policy: &Policy) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(policy).map_err(|e| StoreError::Database(e.to_string()))?;
        let n = self
            .conn
            .execute(
                "UPDATE monitors SET policy = ?2 WHERE id = ?1",
                params![id as i64, text],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NoMonitor(id));
        }
        Ok(())
    }

    fn delete_monitor(&mut self, id: u64) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM monitors WHERE id = ?1", [id as i64])
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NoMonitor(id));
        }
        Ok(())
    }

    fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, machine_type, section, density, percentile, created_ms, next_ref_id,
                 policy, bank_version FROM monitors ORDER BY id",
            )
            .map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok(MonitorColumns {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    machine_type: r.get(2)?,
                    section: r.get(3)?,
                    density: r.get(4)?,
                    percentile: r.get(5)?,
                    created_ms: r.get(6)?,
                    next_ref_id: r.get(7)?,
                    policy: r.get(8)?,
                    bank_version: r.get(9)?,
                })
            })
            .map_err(db)?;
        rows.map(|r| r.map_err(db)?.into_row()).collect()
    }

    fn references(&self, monitor: u64) -> Result<Vec<ReferenceRow>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, condition, file, created_ms, embedding, density FROM refs
                 WHERE monitor = ?1 ORDER BY id",
            )
            .map_err(db)?;
        let rows = st
            .query_map([monitor as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                ))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, condition, file, created_ms, blob, density) = row.map_err(db)?;
            let embedding = blob_f32(&blob, monitor, id)?;
            out.push(ReferenceRow {
                id: id as u64,
                condition,
                file,
                created_ms,
                embedding,
                density,
            });
        }
        Ok(out)
    }

    fn apply(&mut self, change: &BankChange) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM monitors WHERE id = ?1",
                [change.monitor as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if exists.is_none() {
            return Err(StoreError::NoMonitor(change.monitor));
        }
        write_change(&tx, change).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn append_history(
        &mut self,
        rows: &[HistoryRow],
        alert: Option<&AlertWrite>,
    ) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        let mut seqs = Vec::with_capacity(rows.len());
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO history (monitor, at_ms, file, score, threshold, anomaly, condition,
                     reference, percentile, origin, clip_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(db)?;
            for h in rows {
                ins.execute(params![
                    h.monitor as i64,
                    h.at_ms,
                    h.file,
                    h.score,
                    h.threshold,
                    h.anomaly,
                    h.condition,
                    h.reference as i64,
                    h.percentile,
                    h.origin,
                    h.clip_key
                ])
                .map_err(|e| match &h.clip_key {
                    Some(k) if is_unique_violation(&e) => StoreError::Conflict(format!(
                        "monitor {} has scored the clip with key {k} already",
                        h.monitor
                    )),
                    _ => db(e),
                })?;
                seqs.push(tx.last_insert_rowid());
            }
        }
        if let (Some(a), Some(first)) = (alert, rows.first()) {
            let monitor = first.monitor as i64;
            tx.execute(
                "INSERT INTO alert_state (monitor, active, since_ms, window) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(monitor) DO UPDATE SET active = excluded.active,
                 since_ms = excluded.since_ms, window = excluded.window",
                params![monitor, a.state.active, a.state.since_ms, a.state.window_text()],
            )
            .map_err(db)?;
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO alert_events (monitor, event, at_ms, history_seq, file, score,
                     anomalies, decisions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(db)?;
            for (i, e) in &a.events {
                let history_seq = seqs.get(*i).copied().ok_or_else(|| {
                    StoreError::Database(format!("alert event for score {i} of {}", rows.len()))
                })?;
                ins.execute(params![
                    monitor,
                    e.event.as_str(),
                    e.at_ms,
                    history_seq,
                    e.file,
                    e.score,
                    e.anomalies as i64,
                    e.decisions as i64
                ])
                .map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        Ok(seqs)
    }

    fn bank_snapshot(&self, monitor: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT version, state FROM bank_snapshots WHERE monitor = ?1",
                [monitor as i64],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(db)
    }

    fn save_bank_snapshot(
        &mut self,
        monitor: u64,
        version: u64,
        state: &[u8],
    ) -> Result<bool, StoreError> {
        // Only the state of the bank as the store has it now: a snapshot of an older version would
        // be refused at start-up anyway.
        let n = self
            .conn
            .execute(
                "INSERT INTO bank_snapshots (monitor, version, state)
                 SELECT id, bank_version, ?3 FROM monitors WHERE id = ?1 AND bank_version = ?2
                 ON CONFLICT(monitor) DO UPDATE SET version = excluded.version, state = excluded.state",
                params![monitor as i64, version as i64, state],
            )
            .map_err(db)?;
        Ok(n > 0)
    }

    fn history_by_key(&self, monitor: u64, key: &str) -> Result<Option<HistoryRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {HISTORY_COLUMNS} FROM history WHERE monitor = ?1 AND clip_key = ?2"
            ))
            .map_err(db)?;
        st.query_row(params![monitor as i64, key], history_row)
            .optional()
            .map_err(db)
    }

    fn alert_states(&self) -> Result<Vec<(u64, AlertState)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT monitor, active, since_ms, window FROM alert_state ORDER BY monitor")
            .map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (monitor, active, since_ms, window) = row.map_err(db)?;
            let window = AlertState::window_from(&window).ok_or_else(|| {
                StoreError::Corrupt(format!("monitor {monitor}: alert window '{window}'"))
            })?;
            out.push((
                monitor as u64,
                AlertState {
                    active,
                    since_ms,
                    window,
                },
            ));
        }
        Ok(out)
    }

    fn alert_events(
        &self,
        monitor: Option<u64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, monitor, event, at_ms, history_seq, file, score, anomalies, decisions
                 FROM alert_events WHERE (?1 IS NULL OR monitor = ?1) AND seq < ?2
                 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(db)?;
        let rows = st
            .query_map(
                params![
                    monitor.map(|m| m as i64),
                    before.unwrap_or(i64::MAX),
                    limit as i64
                ],
                |r| {
                    Ok(AlertEventColumns {
                        seq: r.get(0)?,
                        monitor: r.get(1)?,
                        event: r.get(2)?,
                        at_ms: r.get(3)?,
                        history_seq: r.get(4)?,
                        file: r.get(5)?,
                        score: r.get(6)?,
                        anomalies: r.get(7)?,
                        decisions: r.get(8)?,
                    })
                },
            )
            .map_err(db)?;
        rows.map(|r| r.map_err(db)?.into_event()).collect()
    }

    fn prune_history(
        &mut self,
        monitor: u64,
        max_rows: Option<u64>,
        cutoff_ms: Option<i64>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction().map_err(db)?;
        let mut gone = 0;
        if let Some(keep) = max_rows {
            // The seq of the newest row past the limit, by the (monitor, seq) index.
            let edge: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM history WHERE monitor = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2",
                    params![monitor as i64, keep as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if let Some(edge) = edge {
                gone += tx
                    .execute(
                        "DELETE FROM history WHERE seq IN (SELECT seq FROM history
                         WHERE monitor = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
                        params![monitor as i64, edge, limit as i64],
                    )
                    .map_err(db)? as u64;
            }
        }
        if let Some(cutoff) = cutoff_ms
            && gone < limit
        {
            // Oldest first by the index: the rows past their age are at its start.
            gone += tx
                .execute(
                    "DELETE FROM history WHERE seq IN (SELECT seq FROM history
                     WHERE monitor = ?1 AND at_ms <= ?2 ORDER BY seq LIMIT ?3)",
                    params![monitor as i64, cutoff, (limit - gone) as i64],
                )
                .map_err(db)? as u64;
        }
        tx.commit().map_err(db)?;
        Ok(gone)
    }

    fn history(
        &self,
        monitor: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {HISTORY_COLUMNS} FROM history
                 WHERE monitor = ?1 AND seq < ?2 AND seq > ?3 ORDER BY seq DESC LIMIT ?4"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(
                params![
                    monitor as i64,
                    before.unwrap_or(i64::MAX),
                    after.unwrap_or(i64::MIN),
                    limit as i64
                ],
                history_row,
            )
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }
}
