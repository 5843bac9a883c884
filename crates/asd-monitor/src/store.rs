//! What the service keeps: monitors, their references (embedding, condition, file, time, density) and
//! the history of scores. Behind a trait so that a shared server database can stand in for the embedded
//! SQLite file later (docs/design.md, "Monitor store").

use crate::alerts::{AlertEvent, AlertState, AlertWrite, Policy, Transition};
use asd_scoring::density::Density;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database: {0}")]
    Database(String),
    /// The store's server cannot be reached (a PostgreSQL server stopped or unreachable): retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no monitor with id {0}")]
    NoMonitor(u64),
    #[error("{path}: {message}")]
    Open { path: String, message: String },
}

/// How a monitor scores: the density of its references and the percentile of the fitted leave-one-out
/// score distribution that is its decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSpec {
    pub name: String,
    pub machine_type: String,
    pub section: String,
    pub density: Density,
    pub percentile: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRow {
    pub id: u64,
    pub spec: MonitorSpec,
    pub created_ms: i64,
    /// The id the next reference gets (ids are never reused, so history rows stay unambiguous).
    pub next_ref_id: u64,
    /// Its alert rule and retention.
    pub policy: Policy,
    /// Raised by every change of its bank (1 after creation), in the change's transaction.
    pub bank_version: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRow {
    pub id: u64,
    pub condition: String,
    pub file: String,
    pub created_ms: i64,
    pub embedding: Vec<f32>,
    /// The density the bank computed for it (`None` while the bank has fewer than 2 references).
    pub density: Option<f64>,
}

/// One change of a monitor's bank, written as one transaction.
#[derive(Debug, Clone, Default)]
pub struct BankChange {
    pub monitor: u64,
    pub added: Vec<ReferenceRow>,
    pub removed: Vec<u64>,
    /// References (old ones included) whose density changed.
    pub densities: Vec<(u64, Option<f64>)>,
    pub next_ref_id: u64,
}

/// One scored clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Assigned by the store, increasing.
    pub seq: i64,
    pub monitor: u64,
    pub at_ms: i64,
    pub file: String,
    pub score: f64,
    pub threshold: Option<f64>,
    /// `None` while the monitor has no threshold.
    pub anomaly: Option<bool>,
    pub condition: String,
    pub reference: u64,
    pub percentile: f64,
    /// request, stream, watch or mqtt.
    pub origin: String,
    /// What makes a delivered clip the same clip when it comes again (an MQTT message redelivered):
    /// at most one score per key and monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_key: Option<String>,
}

/// A monitor's columns as both stores keep them (its density and policy as JSON text).
#[derive(Debug, Clone)]
pub struct MonitorColumns {
    pub id: i64,
    pub name: String,
    pub machine_type: String,
    pub section: String,
    pub density: String,
    pub percentile: f64,
    pub created_ms: i64,
    pub next_ref_id: i64,
    pub policy: String,
    pub bank_version: i64,
}

impl MonitorColumns {
    /// The row, or which column of which monitor cannot be read.
    pub fn into_row(self) -> Result<MonitorRow, StoreError> {
        let id = self.id;
        let density = serde_json::from_str(&self.density).map_err(|e| {
            StoreError::Corrupt(format!("monitor {id}: density '{}': {e}", self.density))
        })?;
        let policy = serde_json::from_str(&self.policy).map_err(|e| {
            StoreError::Corrupt(format!("monitor {id}: policy '{}': {e}", self.policy))
        })?;
        Ok(MonitorRow {
            id: id as u64,
            spec: MonitorSpec {
                name: self.name,
                machine_type: self.machine_type,
                section: self.section,
                density,
                percentile: self.percentile,
            },
            created_ms: self.created_ms,
            next_ref_id: self.next_ref_id as u64,
            policy,
            bank_version: self.bank_version as u64,
        })
    }
}

/// The JSON texts a store keeps for a density and a policy.
pub fn settings_text(density: &Density, policy: &Policy) -> Result<(String, String), StoreError> {
    let text = |r: serde_json::Result<String>| r.map_err(|e| StoreError::Database(e.to_string()));
    Ok((
        text(serde_json::to_string(density))?,
        text(serde_json::to_string(policy))?,
    ))
}

/// An alert event's columns as both stores keep them.
#[derive(Debug, Clone)]
pub struct AlertEventColumns {
    pub seq: i64,
    pub monitor: i64,
    pub event: String,
    pub at_ms: i64,
    pub history_seq: i64,
    pub file: String,
    pub score: f64,
    pub anomalies: i64,
    pub decisions: i64,
}

impl AlertEventColumns {
    pub fn into_event(self) -> Result<AlertEvent, StoreError> {
        let event = Transition::parse(&self.event).ok_or_else(|| {
            StoreError::Corrupt(format!("alert event {}: kind '{}'", self.seq, self.event))
        })?;
        Ok(AlertEvent {
            seq: self.seq,
            monitor: self.monitor as u64,
            event,
            at_ms: self.at_ms,
            history_seq: self.history_seq,
            file: self.file,
            score: self.score,
            anomalies: self.anomalies as usize,
            decisions: self.decisions as usize,
        })
    }
}

/// An embedding as both stores keep it: little-endian f32 values.
pub fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An embedding back from its bytes, or which reference's bytes are not f32 values.
pub fn blob_f32(b: &[u8], monitor: u64, id: i64) -> Result<Vec<f32>, StoreError> {
    if !b.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!(
            "monitor {monitor}, reference {id}: embedding of {} bytes",
            b.len()
        )));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub trait Store: Send {
    /// The key of the model whose embeddings the store holds (`None` for a new store).
    fn model_key(&self) -> Result<Option<String>, StoreError>;
    fn set_model_key(&mut self, key: &str) -> Result<(), StoreError>;
    /// Creates a monitor with its first references, in one transaction; a taken name is a conflict.
    fn create_monitor(
        &mut self,
        spec: &MonitorSpec,
        policy: &Policy,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError>;
    /// Replaces a monitor's alert rule and retention.
    fn set_policy(&mut self, id: u64, policy: &Policy) -> Result<(), StoreError>;
    fn delete_monitor(&mut self, id: u64) -> Result<(), StoreError>;
    fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError>;
    fn references(&self, monitor: u64) -> Result<Vec<ReferenceRow>, StoreError>;
    fn apply(&mut self, change: &BankChange) -> Result<(), StoreError>;
    /// Appends scored clips of one monitor and, in the same transaction, what they did to its alert;
    /// returns their sequence numbers.
    fn append_history(
        &mut self,
        rows: &[HistoryRow],
        alert: Option<&AlertWrite>,
    ) -> Result<Vec<i64>, StoreError>;
    /// A monitor's saved bank state (`crate::snapshot`) and the bank version it belongs to.
    fn bank_snapshot(&self, monitor: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// Saves a monitor's bank state of bank version `version`; returns false (and saves nothing)
    /// where the store's bank has another version by now.
    fn save_bank_snapshot(
        &mut self,
        monitor: u64,
        version: u64,
        state: &[u8],
    ) -> Result<bool, StoreError>;
    /// The score a monitor gave the clip with this key, if it has one.
    fn history_by_key(&self, monitor: u64, key: &str) -> Result<Option<HistoryRow>, StoreError>;
    /// Each monitor's alert state (monitors never scored are absent).
    fn alert_states(&self) -> Result<Vec<(u64, AlertState)>, StoreError>;
    /// Raises and clears, newest first: of one monitor or all, with `seq < before` when given.
    fn alert_events(
        &self,
        monitor: Option<u64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AlertEvent>, StoreError>;
    /// Drops a monitor's oldest scores beyond its retention (by count, by age at or before
    /// `cutoff_ms`), at most `limit` of them in one transaction; returns how many went (fewer than
    /// `limit`: nothing is left to prune).
    fn prune_history(
        &mut self,
        monitor: u64,
        max_rows: Option<u64>,
        cutoff_ms: Option<i64>,
        limit: u64,
    ) -> Result<u64, StoreError>;
    /// Newest first: rows with `seq < before` (all when `None`), or with `seq > after` when given.
    fn history(
        &self,
        monitor: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError>;
}
