//! `asd monitor import`: every (machine type, section) of an embedding set becomes a monitor whose
//! references are its normal training clips, tagged with their domain.

use crate::monitors::{Enrolment, MonitorError, Monitors};
use crate::store::MonitorSpec;
use asd_core::EmbeddingSet;
use asd_core::record::{Label, Split};
use asd_scoring::density::Density;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Imported {
    pub name: String,
    pub id: u64,
    pub references: usize,
}

/// What an import did: monitors made, and sections left out with the reason (a name taken, …).
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<Imported>,
    pub skipped: Vec<(String, String)>,
}

pub fn monitor_name(machine_type: &str, section: &str) -> String {
    format!("{machine_type}_section_{section}")
}

pub fn import_set(
    monitors: &Monitors,
    set: &EmbeddingSet,
    density: Density,
    percentile: f64,
) -> Result<ImportReport, MonitorError> {
    let mut groups: BTreeMap<(String, String), Vec<Enrolment>> = BTreeMap::new();
    for (i, r) in set.records.iter().enumerate() {
        if r.split != Split::Train || r.label == Label::Anomaly {
            continue;
        }
        groups
            .entry((r.machine_type.clone(), r.section.clone()))
            .or_default()
            .push(Enrolment {
                embedding: set.embeddings.row(i).to_vec(),
                condition: r.domain.as_str().to_string(),
                file: r.file.clone(),
            });
    }
    let mut report = ImportReport::default();
    for ((machine_type, section), clips) in groups {
        let name = monitor_name(&machine_type, &section);
        let spec = MonitorSpec {
            name: name.clone(),
            machine_type,
            section,
            density,
            percentile,
        };
        let n = clips.len();
        match monitors.create(spec, clips) {
            Ok(m) => report.imported.push(Imported {
                name,
                id: m.id,
                references: n,
            }),
            Err(MonitorError::Store(crate::store::StoreError::Conflict(msg))) => {
                report.skipped.push((name, msg));
            }
            Err(MonitorError::Bank(e)) => report.skipped.push((name, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
