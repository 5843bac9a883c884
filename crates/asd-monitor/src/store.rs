//! What the service keeps: monitors, their references (embedding, condition, file, time, density) and
//! the history of scores. Behind a trait so that a shared server database can stand in for the embedded
//! SQLite file later (docs/design.md, "Monitor store").

use asd_scoring::density::Density;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database: {0}")]
    Database(String),
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
    /// request, stream or watch.
    pub origin: String,
}

pub trait Store: Send {
    /// The key of the model whose embeddings the store holds (`None` for a new store).
    fn model_key(&self) -> Result<Option<String>, StoreError>;
    fn set_model_key(&mut self, key: &str) -> Result<(), StoreError>;
    /// Creates a monitor with its first references, in one transaction; a taken name is a conflict.
    fn create_monitor(
        &mut self,
        spec: &MonitorSpec,
        created_ms: i64,
        initial: &BankChange,
    ) -> Result<u64, StoreError>;
    fn delete_monitor(&mut self, id: u64) -> Result<(), StoreError>;
    fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError>;
    fn references(&self, monitor: u64) -> Result<Vec<ReferenceRow>, StoreError>;
    fn apply(&mut self, change: &BankChange) -> Result<(), StoreError>;
    /// Appends scored clips; returns their sequence numbers.
    fn append_history(&mut self, rows: &[HistoryRow]) -> Result<Vec<i64>, StoreError>;
    /// Newest first: rows with `seq < before` (all when `None`), or with `seq > after` when given.
    fn history(
        &self,
        monitor: u64,
        before: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, StoreError>;
}
