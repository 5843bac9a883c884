//! The monitors in memory: each one's reference bank (densities and leave-one-out scores cached and
//! updated incrementally) and decision threshold, kept equal to the store. A change is written to the
//! store while the monitor is locked and acknowledged only after its transaction has committed; if the
//! write fails, the bank is rolled back, so memory never holds what the store lost.

use crate::alerts::{AlertEvent, AlertState, Notice, Policy, Webhook};
use crate::snapshot::SnapshotError;
use crate::store::{
    BankChange, HistoryRow, MonitorRow, MonitorSpec, ReferenceRow, Store, StoreError,
};
use asd_scoring::bank::{BankError, ReferenceBank};
use asd_scoring::density::Density;
use asd_scoring::distance::Distance;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The trained network's embedding length.
pub const EMBEDDING_DIM: usize = 512;

/// What a service's embeddings are: their length and how two of them are compared. The trained
/// network's are 512-d unit vectors (cosine); a frozen front-end's are raw (Euclidean, as the authors
/// score them) and as long as it makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Space {
    pub dim: usize,
    pub distance: Distance,
}

impl Space {
    /// The trained network's embeddings.
    pub const NETWORK: Space = Space {
        dim: EMBEDDING_DIM,
        distance: Distance::Cosine,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("no monitor with id {0}")]
    NoMonitor(u64),
    #[error("monitor {monitor} has no reference with id {id}")]
    NoReference { monitor: u64, id: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "monitor {monitor} has {n} reference(s); scoring needs at least 2: enrol normal clips first"
    )]
    TooFewReferences { monitor: u64, n: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bank(#[from] BankError),
}

/// One clip to enrol.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub embedding: Vec<f32>,
    pub condition: String,
    pub file: String,
}

/// The answer for one scored clip.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClipScore {
    pub file: String,
    pub score: f64,
    pub threshold: Option<f64>,
    /// score > threshold; `None` while the bank cannot fit a threshold.
    pub anomaly: Option<bool>,
    /// The nearest (density-scaled) reference and its condition.
    pub reference: u64,
    pub condition: String,
    /// Share of the bank's leave-one-out scores below this score.
    pub percentile: f64,
    pub seq: i64,
}

impl From<&HistoryRow> for ClipScore {
    fn from(h: &HistoryRow) -> Self {
        Self {
            file: h.file.clone(),
            score: h.score,
            threshold: h.threshold,
            anomaly: h.anomaly,
            reference: h.reference,
            condition: h.condition.clone(),
            percentile: h.percentile,
            seq: h.seq,
        }
    }
}

/// A summary of a monitor for listings.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorInfo {
    pub id: u64,
    pub name: String,
    pub machine_type: String,
    pub section: String,
    pub density: String,
    /// How embeddings are compared: cosine (the trained network) or euclidean (a frozen front-end).
    pub distance: Distance,
    /// Neighbours the density reads at the bank's present size (K clipped to N − 1).
    pub neighbours: usize,
    pub percentile: f64,
    pub threshold: Option<f64>,
    pub references: usize,
    /// References per condition tag.
    pub conditions: BTreeMap<String, usize>,
    pub created_ms: i64,
    /// Its alert rule and retention.
    pub policy: Policy,
    /// Its alert: raised or not, and since when.
    pub alert: AlertState,
}

/// Scores deleted per transaction while pruning (`Monitors::prune`).
pub const PRUNE_CHUNK: u64 = 10_000;

/// How many of a monitor's latest decisions its state reads.
pub const RECENT: usize = 20;

/// A monitor's state from its latest decisions, for an operator's overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recent {
    /// `alert` (the monitor's alert rule has raised its alert and not cleared it), `anomalous` (the
    /// last decision is), `normal`, or `idle` (nothing scored yet, or no threshold yet).
    pub state: &'static str,
    /// Anomalous decisions among the last [`RECENT`].
    pub anomalies: usize,
    /// Decisions read (at most [`RECENT`]).
    pub decisions: usize,
    pub last_score: Option<f64>,
    pub last_threshold: Option<f64>,
    pub last_file: Option<String>,
    pub last_ms: Option<i64>,
}

impl Recent {
    /// From history rows, newest first, and whether the monitor's alert is raised.
    pub fn of(rows: &[crate::store::HistoryRow], alert: bool) -> Self {
        let decided: Vec<bool> = rows.iter().filter_map(|r| r.anomaly).collect();
        let anomalies = decided.iter().filter(|&&a| a).count();
        let state = match decided.first() {
            _ if alert => "alert",
            None => "idle",
            Some(true) => "anomalous",
            Some(false) => "normal",
        };
        let last = rows.first();
        Self {
            state,
            anomalies,
            decisions: decided.len(),
            last_score: last.map(|r| r.score),
            last_threshold: last.and_then(|r| r.threshold),
            last_file: last.map(|r| r.file.clone()),
            last_ms: last.map(|r| r.at_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReferenceInfo {
    pub id: u64,
    pub condition: String,
    pub file: String,
    pub created_ms: i64,
    pub density: Option<f64>,
}

struct Meta {
    file: String,
    created_ms: i64,
    /// The embedding as it was enrolled, before the bank normalised it: what the store keeps, since
    /// normalising a normalised vector again can change its last bits, and a rebuild must give the
    /// same bits as the bank that grew.
    raw: Vec<f32>,
}

struct BankView {
    bank: ReferenceBank,
    threshold: Option<f64>,
    meta: HashMap<u64, Meta>,
    /// The store's bank version of this state (raised with every change the store commits).
    version: u64,
}

impl BankView {
    fn refresh_threshold(&mut self, percentile: f64) {
        self.threshold = self.bank.threshold(percentile);
    }

    fn densities_by_id(&self) -> HashMap<u64, u64> {
        self.bank
            .ids()
            .iter()
            .filter_map(|&id| self.bank.density_of_id(id).map(|d| (id, d.to_bits())))
            .collect()
    }

    /// Densities that differ from `before` (bitwise), for the store.
    fn changed_densities(&self, before: &HashMap<u64, u64>) -> Vec<(u64, Option<f64>)> {
        self.bank
            .ids()
            .iter()
            .filter_map(|&id| {
                let now = self.bank.density_of_id(id);
                (now.map(f64::to_bits) != before.get(&id).copied()).then_some((id, now))
            })
            .collect()
    }
}

/// What can change of a monitor besides its bank: its policy and its alert.
struct Watch {
    policy: Policy,
    alert: AlertState,
}

pub struct Monitor {
    pub id: u64,
    pub spec: MonitorSpec,
    pub created_ms: i64,
    view: RwLock<BankView>,
    /// Locked from the evaluation of a batch of scores until they are stored, so the alert reads
    /// decisions in the order the store numbers them.
    watch: Mutex<Watch>,
    /// The bank version whose state the store holds as a snapshot (0: none).
    snapshot_version: AtomicU64,
    /// Whether start-up read the bank from its snapshot (rather than recomputing it).
    pub from_snapshot: bool,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock_err<T>(_: T) -> MonitorError {
    MonitorError::Invalid(
        "internal lock poisoned by an earlier failure; restart the service".into(),
    )
}

pub fn density_name(d: Density) -> String {
    match d {
        Density::KnnMean(k) => format!("ratio_k{k}"),
        Density::Gwrp(r) => format!("ratio_gwrp_r{r}"),
    }
}

/// Checks a monitor's settings.
pub fn validate_spec(spec: &MonitorSpec) -> Result<(), MonitorError> {
    use crate::limits::{MAX_FIELD_CHARS, MAX_NAME_CHARS, text};
    let bad = |m: String| Err(MonitorError::Invalid(m));
    text("name", &spec.name, MAX_NAME_CHARS, true).map_err(MonitorError::Invalid)?;
    text("machine_type", &spec.machine_type, MAX_FIELD_CHARS, false)
        .map_err(MonitorError::Invalid)?;
    text("section", &spec.section, MAX_FIELD_CHARS, false).map_err(MonitorError::Invalid)?;
    match spec.density {
        Density::KnnMean(0) => return bad("k must be at least 1".into()),
        Density::Gwrp(r) if !(r > 0.0 && r <= 1.0) => {
            return bad(format!("gwrp_r must lie in (0, 1], got {r}"));
        }
        _ => {}
    }
    if !(spec.percentile > 0.0 && spec.percentile < 1.0) {
        return bad(format!(
            "percentile must lie in (0, 1), got {}",
            spec.percentile
        ));
    }
    Ok(())
}

/// A monitor's bank computed from scratch from its stored rows.
pub fn rebuild_bank(
    row: &MonitorRow,
    refs: &[ReferenceRow],
    space: Space,
) -> Result<ReferenceBank, MonitorError> {
    Ok(ReferenceBank::from_rows_with_ids_by(
        space.dim,
        row.spec.density,
        space.distance,
        refs.iter()
            .map(|r| (r.id, &r.embedding[..], r.condition.as_str())),
        row.next_ref_id,
    )?)
}

/// A monitor's bank from its saved state (`crate::snapshot`) and its stored rows, or why not: the
/// snapshot is of another bank version, damaged, or does not fit the rows. Nothing is recomputed;
/// the rows are normalised as the bank normalised them when they came in.
pub fn bank_from_snapshot(
    row: &MonitorRow,
    refs: &[ReferenceRow],
    snapshot: Option<(u64, Vec<u8>)>,
    space: Space,
) -> Result<ReferenceBank, SnapshotError> {
    let (version, bytes) = snapshot.ok_or_else(|| SnapshotError("none saved".into()))?;
    if version != row.bank_version {
        return Err(SnapshotError(format!(
            "of bank version {version}, the store's bank is at {}",
            row.bank_version
        )));
    }
    let d = crate::snapshot::decode(&bytes)?;
    if d.ids.len() != refs.len() || d.next_id != row.next_ref_id {
        return Err(SnapshotError(format!(
            "{} references up to id {}, the store has {} up to {}",
            d.ids.len(),
            d.next_id,
            refs.len(),
            row.next_ref_id
        )));
    }
    let by_id: HashMap<u64, &ReferenceRow> = refs.iter().map(|r| (r.id, r)).collect();
    // The rows as the bank holds them: each reference alone through the same normalisation.
    let unit = ReferenceBank::with_distance(space.dim, row.spec.density, space.distance);
    let mut rows = Vec::with_capacity(d.ids.len() * space.dim);
    let mut conditions = Vec::with_capacity(d.ids.len());
    for id in &d.ids {
        let r = by_id
            .get(id)
            .ok_or_else(|| SnapshotError(format!("names reference {id}, the store has none")))?;
        rows.extend_from_slice(
            &unit
                .normalised(&r.embedding)
                .map_err(|e| SnapshotError(e.to_string()))?,
        );
        conditions.push(r.condition.clone());
    }
    ReferenceBank::from_state(asd_scoring::bank::BankState {
        dim: space.dim,
        density: row.spec.density,
        distance: space.distance,
        next_id: d.next_id,
        ids: d.ids,
        conditions,
        rows,
        lists: d.lists,
        densities: d.densities,
        loo: d.loo,
    })
    .map_err(|e| SnapshotError(e.to_string()))
}

/// The references whose stored density (written change by change, incrementally) differs in any bit
/// from a full refit of the stored rows: none, after any sequence of acknowledged changes.
pub fn stale_densities(bank: &ReferenceBank, refs: &[ReferenceRow]) -> Vec<u64> {
    refs.iter()
        .filter(|r| bank.density_of_id(r.id).map(f64::to_bits) != r.density.map(f64::to_bits))
        .map(|r| r.id)
        .collect()
}

impl Monitor {
    fn from_store(
        row: MonitorRow,
        refs: Vec<ReferenceRow>,
        snapshot: Option<(u64, Vec<u8>)>,
        alert: AlertState,
        space: Space,
    ) -> Result<Self, MonitorError> {
        let (bank, from_snapshot) = match bank_from_snapshot(&row, &refs, snapshot, space) {
            Ok(b) => (b, true),
            Err(why) => {
                tracing::info!(
                    monitor = row.id,
                    references = refs.len(),
                    "rebuilding the bank from its references ({why})"
                );
                (rebuild_bank(&row, &refs, space)?, false)
            }
        };
        let stale = stale_densities(&bank, &refs);
        if !stale.is_empty() {
            tracing::warn!(
                monitor = row.id,
                references = ?stale,
                "stored densities differ from the rebuilt bank; using the rebuilt ones"
            );
        }
        let meta = refs
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    Meta {
                        file: r.file,
                        created_ms: r.created_ms,
                        raw: r.embedding,
                    },
                )
            })
            .collect();
        let mut view = BankView {
            bank,
            threshold: None,
            meta,
            version: row.bank_version,
        };
        view.refresh_threshold(row.spec.percentile);
        Ok(Self {
            id: row.id,
            spec: row.spec,
            created_ms: row.created_ms,
            view: RwLock::new(view),
            snapshot_version: AtomicU64::new(if from_snapshot { row.bank_version } else { 0 }),
            from_snapshot,
            watch: Mutex::new(Watch {
                policy: row.policy,
                alert,
            }),
        })
    }

    /// Its alert rule and retention.
    pub fn policy(&self) -> Result<Policy, MonitorError> {
        Ok(self.watch.lock().map_err(lock_err)?.policy)
    }

    /// Its alert now.
    pub fn alert(&self) -> Result<AlertState, MonitorError> {
        Ok(self.watch.lock().map_err(lock_err)?.alert.clone())
    }

    pub fn info(&self) -> Result<MonitorInfo, MonitorError> {
        let (policy, alert) = {
            let w = self.watch.lock().map_err(lock_err)?;
            (w.policy, w.alert.clone())
        };
        let v = self.view.read().map_err(lock_err)?;
        let mut conditions = BTreeMap::new();
        for &id in v.bank.ids() {
            if let Some(c) = v.bank.condition(id) {
                *conditions.entry(c.to_string()).or_insert(0) += 1;
            }
        }
        Ok(MonitorInfo {
            id: self.id,
            name: self.spec.name.clone(),
            machine_type: self.spec.machine_type.clone(),
            section: self.spec.section.clone(),
            density: density_name(self.spec.density),
            distance: v.bank.distance(),
            neighbours: self.spec.density.neighbours_needed(v.bank.len()),
            percentile: self.spec.percentile,
            threshold: v.threshold,
            references: v.bank.len(),
            conditions,
            created_ms: self.created_ms,
            policy,
            alert,
        })
    }

    /// References in the bank.
    pub fn size(&self) -> Result<usize, MonitorError> {
        Ok(self.view.read().map_err(lock_err)?.bank.len())
    }

    pub fn references(&self) -> Result<Vec<ReferenceInfo>, MonitorError> {
        let v = self.view.read().map_err(lock_err)?;
        let mut out: Vec<ReferenceInfo> = v
            .bank
            .ids()
            .iter()
            .map(|&id| {
                let m = v.meta.get(&id);
                ReferenceInfo {
                    id,
                    condition: v.bank.condition(id).unwrap_or_default().to_string(),
                    file: m.map(|m| m.file.clone()).unwrap_or_default(),
                    created_ms: m.map_or(0, |m| m.created_ms),
                    density: v.bank.density_of_id(id),
                }
            })
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }
}

/// Every monitor, over one store.
pub struct Monitors {
    store: Mutex<Box<dyn Store>>,
    monitors: RwLock<BTreeMap<u64, Arc<Monitor>>>,
    space: Space,
    /// Where raises and clears go besides the store (`--alert-webhook`).
    webhook: Mutex<Option<Webhook>>,
}

impl Monitors {
    /// Loads every monitor of the store (of the trained network's embeddings), rebuilding each bank
    /// from its references.
    pub fn load(store: Box<dyn Store>) -> Result<Self, MonitorError> {
        Self::load_in(store, Space::NETWORK)
    }

    /// [`Monitors::load`] for embeddings of another space (a frozen front-end's).
    pub fn load_in(store: Box<dyn Store>, space: Space) -> Result<Self, MonitorError> {
        let mut monitors = BTreeMap::new();
        let mut alerts: HashMap<u64, AlertState> = store.alert_states()?.into_iter().collect();
        for row in store.monitors()? {
            let refs = store.references(row.id)?;
            let id = row.id;
            let alert = alerts.remove(&id).unwrap_or_default();
            let snapshot = store.bank_snapshot(id)?;
            monitors.insert(
                id,
                Arc::new(Monitor::from_store(row, refs, snapshot, alert, space)?),
            );
        }
        Ok(Self {
            store: Mutex::new(store),
            monitors: RwLock::new(monitors),
            space,
            webhook: Mutex::new(None),
        })
    }

    /// Sends every raise and clear from now on to a webhook too.
    pub fn set_webhook(&self, hook: Webhook) -> Result<(), MonitorError> {
        *self.webhook.lock().map_err(lock_err)? = Some(hook);
        Ok(())
    }

    /// Replaces a monitor's alert rule and retention. The alert's state stays: the new rule reads
    /// the decisions from the next score on.
    pub fn set_policy(&self, id: u64, policy: Policy) -> Result<(), MonitorError> {
        policy.validate().map_err(MonitorError::Invalid)?;
        let m = self.get(id)?;
        let mut w = m.watch.lock().map_err(lock_err)?;
        self.with_store(|s| s.set_policy(id, &policy))?;
        w.policy = policy;
        Ok(())
    }

    /// Raises and clears, newest first, of one monitor or all.
    pub fn alert_events(
        &self,
        monitor: Option<u64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, MonitorError> {
        if let Some(id) = monitor {
            self.get(id)?;
        }
        self.with_store(|s| s.alert_events(monitor, before, limit))
    }

    /// Saves the bank state of every monitor changed since its last snapshot, so that the next
    /// start-up reads it instead of recomputing it; returns how many were saved. Each is encoded
    /// under its bank's read lock (scores go on; an enrolment waits for the copy).
    pub fn save_snapshots(&self) -> Result<usize, MonitorError> {
        let mut saved = 0;
        for m in self.list()? {
            let (version, bytes) = {
                let v = m.view.read().map_err(lock_err)?;
                if v.version == m.snapshot_version.load(Ordering::SeqCst) {
                    continue;
                }
                (v.version, crate::snapshot::encode(&v.bank.derived_state()))
            };
            if self.with_store(|s| s.save_bank_snapshot(m.id, version, &bytes))? {
                m.snapshot_version.store(version, Ordering::SeqCst);
                saved += 1;
            }
        }
        Ok(saved)
    }

    /// Prunes every monitor's history to its retention; returns the rows dropped. It deletes
    /// [`PRUNE_CHUNK`] rows per transaction and lets go of the store in between, so scores wait for
    /// one chunk at most, never for a whole pruning.
    pub fn prune(&self, now_ms: i64) -> Result<u64, MonitorError> {
        let mut gone = 0;
        for m in self.list()? {
            let r = m.policy()?.retention;
            loop {
                let n = self.with_store(|s| {
                    s.prune_history(m.id, r.max_rows, r.cutoff_ms(now_ms), PRUNE_CHUNK)
                })?;
                gone += n;
                if n < PRUNE_CHUNK {
                    break;
                }
            }
        }
        Ok(gone)
    }

    /// The embeddings' length and distance.
    pub fn space(&self) -> Space {
        self.space
    }

    pub fn get(&self, id: u64) -> Result<Arc<Monitor>, MonitorError> {
        self.monitors
            .read()
            .map_err(lock_err)?
            .get(&id)
            .cloned()
            .ok_or(MonitorError::NoMonitor(id))
    }

    pub fn list(&self) -> Result<Vec<Arc<Monitor>>, MonitorError> {
        Ok(self
            .monitors
            .read()
            .map_err(lock_err)?
            .values()
            .cloned()
            .collect())
    }

    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, MonitorError> {
        let mut s = self.store.lock().map_err(lock_err)?;
        Ok(f(s.as_mut())?)
    }

    /// Creates a monitor with its first references (possibly none).
    pub fn create(
        &self,
        spec: MonitorSpec,
        initial: Vec<Enrolment>,
    ) -> Result<Arc<Monitor>, MonitorError> {
        self.create_with(spec, Policy::default(), initial)
    }

    /// [`Monitors::create`] with an alert rule and retention.
    pub fn create_with(
        &self,
        spec: MonitorSpec,
        policy: Policy,
        initial: Vec<Enrolment>,
    ) -> Result<Arc<Monitor>, MonitorError> {
        validate_spec(&spec)?;
        policy.validate().map_err(MonitorError::Invalid)?;
        let now = now_ms();
        let rows: Vec<(u64, Enrolment)> = (0..initial.len() as u64).zip(initial).collect();
        let bank = ReferenceBank::from_rows_with_ids_by(
            self.space.dim,
            spec.density,
            self.space.distance,
            rows.iter()
                .map(|(id, e)| (*id, &e.embedding[..], e.condition.as_str())),
            0,
        )?;
        let added = rows
            .iter()
            .map(|(id, e)| ReferenceRow {
                id: *id,
                condition: e.condition.clone(),
                file: e.file.clone(),
                created_ms: now,
                embedding: e.embedding.clone(),
                density: bank.density_of_id(*id),
            })
            .collect();
        let change = BankChange {
            monitor: 0,
            added,
            removed: vec![],
            densities: vec![],
            next_ref_id: bank.next_id(),
        };
        let mut all = self.monitors.write().map_err(lock_err)?;
        let id = self.with_store(|s| s.create_monitor(&spec, &policy, now, &change))?;
        let meta = rows
            .into_iter()
            .map(|(rid, e)| {
                (
                    rid,
                    Meta {
                        file: e.file,
                        created_ms: now,
                        raw: e.embedding,
                    },
                )
            })
            .collect();
        let mut view = BankView {
            bank,
            threshold: None,
            meta,
            version: 1,
        };
        view.refresh_threshold(spec.percentile);
        let m = Arc::new(Monitor {
            id,
            spec,
            created_ms: now,
            view: RwLock::new(view),
            snapshot_version: AtomicU64::new(0),
            from_snapshot: false,
            watch: Mutex::new(Watch {
                policy,
                alert: AlertState::default(),
            }),
        });
        all.insert(id, m.clone());
        Ok(m)
    }

    pub fn delete(&self, id: u64) -> Result<(), MonitorError> {
        let mut all = self.monitors.write().map_err(lock_err)?;
        if !all.contains_key(&id) {
            return Err(MonitorError::NoMonitor(id));
        }
        self.with_store(|s| s.delete_monitor(id))?;
        all.remove(&id);
        Ok(())
    }

    /// Enrols clips as references in one transaction; returns their ids. All or nothing.
    pub fn enrol(&self, id: u64, clips: Vec<Enrolment>) -> Result<Vec<u64>, MonitorError> {
        let m = self.get(id)?;
        let mut v = m.view.write().map_err(lock_err)?;
        let before = v.densities_by_id();
        let now = now_ms();
        let mut ids = Vec::with_capacity(clips.len());
        for c in &clips {
            match v.bank.add(&c.embedding, &c.condition) {
                Ok(rid) => ids.push(rid),
                Err(e) => {
                    for &rid in ids.iter().rev() {
                        let _ = v.bank.remove(rid);
                    }
                    return Err(e.into());
                }
            }
        }
        let mut densities = v.changed_densities(&before);
        let added: Vec<ReferenceRow> = ids
            .iter()
            .zip(&clips)
            .map(|(&rid, c)| ReferenceRow {
                id: rid,
                condition: c.condition.clone(),
                file: c.file.clone(),
                created_ms: now,
                embedding: c.embedding.clone(),
                density: v.bank.density_of_id(rid),
            })
            .collect();
        densities.retain(|(rid, _)| !ids.contains(rid));
        let change = BankChange {
            monitor: id,
            added,
            removed: vec![],
            densities,
            next_ref_id: v.bank.next_id(),
        };
        if let Err(e) = self.with_store(|s| s.apply(&change)) {
            for &rid in ids.iter().rev() {
                let _ = v.bank.remove(rid);
            }
            return Err(e);
        }
        v.version += 1;
        for (rid, c) in ids.iter().zip(clips) {
            v.meta.insert(
                *rid,
                Meta {
                    file: c.file,
                    created_ms: now,
                    raw: c.embedding,
                },
            );
        }
        v.refresh_threshold(m.spec.percentile);
        Ok(ids)
    }

    /// Removes one reference.
    pub fn remove_reference(&self, id: u64, reference: u64) -> Result<(), MonitorError> {
        let m = self.get(id)?;
        let mut v = m.view.write().map_err(lock_err)?;
        if v.bank.condition(reference).is_none() {
            return Err(MonitorError::NoReference {
                monitor: id,
                id: reference,
            });
        }
        let condition = v.bank.condition(reference).unwrap_or_default().to_string();
        let before = v.densities_by_id();
        v.bank.remove(reference)?;
        let change = BankChange {
            monitor: id,
            added: vec![],
            removed: vec![reference],
            densities: v.changed_densities(&before),
            next_ref_id: v.bank.next_id(),
        };
        if let Err(e) = self.with_store(|s| s.apply(&change)) {
            // Put it back as a restart would see the store: every reference, the removed one
            // included, rebuilt from the embeddings as enrolled in id order (the store's order), and
            // the threshold taken from that bank, so memory and a restart agree bit for bit.
            let mut refs: Vec<(u64, Vec<f32>, String)> = v
                .bank
                .ids()
                .iter()
                .copied()
                .chain(std::iter::once(reference))
                .filter_map(|rid| {
                    let c = if rid == reference {
                        condition.clone()
                    } else {
                        v.bank.condition(rid)?.to_string()
                    };
                    Some((rid, v.meta.get(&rid)?.raw.clone(), c))
                })
                .collect();
            refs.sort_by_key(|r| r.0);
            if let Ok(b) = ReferenceBank::from_rows_with_ids_by(
                self.space.dim,
                m.spec.density,
                self.space.distance,
                refs.iter().map(|(i, x, c)| (*i, &x[..], c.as_str())),
                v.bank.next_id(),
            ) {
                v.bank = b;
                v.refresh_threshold(m.spec.percentile);
            }
            return Err(e);
        }
        v.version += 1;
        v.meta.remove(&reference);
        v.refresh_threshold(m.spec.percentile);
        Ok(())
    }

    /// Scores clips' embeddings against a monitor's bank and records them in its history.
    pub fn score(
        &self,
        id: u64,
        clips: Vec<(String, Vec<f32>)>,
        origin: &str,
    ) -> Result<Vec<ClipScore>, MonitorError> {
        let keyed = clips.into_iter().map(|(f, x)| (f, x, None)).collect();
        self.score_keyed(id, keyed, origin)
    }

    /// [`Monitors::score`] with a key per clip (`None`: none): a key the monitor has scored before
    /// is a conflict, and nothing of the batch is stored.
    pub fn score_keyed(
        &self,
        id: u64,
        clips: Vec<(String, Vec<f32>, Option<String>)>,
        origin: &str,
    ) -> Result<Vec<ClipScore>, MonitorError> {
        let m = self.get(id)?;
        let v = m.view.read().map_err(lock_err)?;
        if v.bank.len() < 2 {
            return Err(MonitorError::TooFewReferences {
                monitor: id,
                n: v.bank.len(),
            });
        }
        let now = now_ms();
        let mut out = Vec::with_capacity(clips.len());
        let mut keys = Vec::with_capacity(clips.len());
        for (file, x, key) in clips {
            let s = v.bank.score(&x)?;
            out.push(ClipScore {
                file,
                score: s.score,
                threshold: v.threshold,
                anomaly: v.threshold.map(|t| s.score > t),
                reference: s.reference,
                condition: s.condition,
                percentile: s.percentile,
                seq: 0,
            });
            keys.push(key);
        }
        drop(v);
        let rows: Vec<HistoryRow> = out
            .iter()
            .zip(keys)
            .map(|(c, clip_key)| HistoryRow {
                seq: 0,
                monitor: id,
                at_ms: now,
                file: c.file.clone(),
                score: c.score,
                threshold: c.threshold,
                anomaly: c.anomaly,
                condition: c.condition.clone(),
                reference: c.reference,
                percentile: c.percentile,
                origin: origin.to_string(),
                clip_key,
            })
            .collect();
        let mut w = m.watch.lock().map_err(lock_err)?;
        let batch: Vec<(Option<bool>, &str, f64)> = out
            .iter()
            .map(|c| (c.anomaly, c.file.as_str(), c.score))
            .collect();
        let alert = crate::alerts::evaluate(&w.policy.alert, &w.alert, id, &batch, now);
        let seqs = self.with_store(|s| s.append_history(&rows, Some(&alert)))?;
        for (c, s) in out.iter_mut().zip(&seqs) {
            c.seq = *s;
        }
        let rule = w.policy.alert;
        w.alert = alert.state;
        drop(w);
        if !alert.events.is_empty() {
            for (i, e) in &alert.events {
                tracing::warn!(
                    monitor = id,
                    name = %m.spec.name,
                    file = %e.file,
                    "alert {}: {} of the last {} decisions anomalous",
                    e.event.as_str(),
                    e.anomalies,
                    e.decisions
                );
                if let Some(hook) = self.webhook.lock().map_err(lock_err)?.as_ref() {
                    hook.send(Notice {
                        event: AlertEvent {
                            history_seq: seqs.get(*i).copied().unwrap_or_default(),
                            ..e.clone()
                        },
                        name: m.spec.name.clone(),
                        rule,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The score a monitor gave the clip with this key, if any.
    pub fn scored_key(&self, id: u64, key: &str) -> Result<Option<HistoryRow>, MonitorError> {
        self.get(id)?;
        self.with_store(|s| s.history_by_key(id, key))
    }

    pub fn history(
        &self,
        id: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, MonitorError> {
        self.get(id)?;
        self.with_store(|s| s.history(id, before, after, limit))
    }
}

#[cfg(test)]
mod recent_tests {
    use super::Recent;
    use crate::store::HistoryRow;

    /// Rows newest first with these decisions.
    fn rows(decisions: &[Option<bool>]) -> Vec<HistoryRow> {
        decisions
            .iter()
            .enumerate()
            .map(|(i, &anomaly)| HistoryRow {
                seq: (decisions.len() - i) as i64,
                monitor: 1,
                at_ms: 1000 * (decisions.len() - i) as i64,
                file: format!("c{i}.wav"),
                score: 0.1 * i as f64,
                threshold: anomaly.map(|_| 0.5),
                anomaly,
                condition: "source".into(),
                reference: 0,
                percentile: 0.5,
                origin: "request".into(),
                clip_key: None,
            })
            .collect()
    }

    #[test]
    fn the_state_reads_the_latest_decisions() {
        let (t, f) = (Some(true), Some(false));
        assert_eq!(Recent::of(&[], false).state, "idle");
        assert_eq!(Recent::of(&rows(&[None, None]), false).state, "idle");
        assert_eq!(Recent::of(&rows(&[f, t, t]), false).state, "normal");
        assert_eq!(Recent::of(&rows(&[t, f, f]), false).state, "anomalous");
        // A raised alert is the state, whatever the last decision says.
        assert_eq!(Recent::of(&rows(&[f, t, f, t, t, f]), true).state, "alert");
        assert_eq!(Recent::of(&rows(&[f, t, t]), true).state, "alert");
        let r = Recent::of(&rows(&[t, f, t, None]), false);
        assert_eq!((r.anomalies, r.decisions), (2, 3));
        assert_eq!(r.last_file.as_deref(), Some("c0.wav"));
        assert_eq!(r.last_threshold, Some(0.5));
    }
}
