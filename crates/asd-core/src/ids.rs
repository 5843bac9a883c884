//! Names of the units the pipeline groups by, as types rather than tuples of strings: a section of a
//! machine type (scored and evaluated together) and one clip of it. Both order as the tuples they
//! replace (machine type, then section, then file), so maps keyed by them iterate in the same order.

use crate::ClipRecord;

/// A section of one machine type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SectionKey {
    pub machine_type: String,
    pub section: String,
}

/// One clip: its section and file name (unique within a section).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClipId {
    pub machine_type: String,
    pub section: String,
    pub file: String,
}

/// A file as the official evaluator lists it: by machine type and file name, without the section
/// (its ground-truth files name each clip once per machine type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MachineFile {
    pub machine_type: String,
    pub file: String,
}

impl MachineFile {
    pub fn new(machine_type: impl Into<String>, file: impl Into<String>) -> Self {
        Self {
            machine_type: machine_type.into(),
            file: file.into(),
        }
    }
}

impl SectionKey {
    pub fn new(machine_type: impl Into<String>, section: impl Into<String>) -> Self {
        Self {
            machine_type: machine_type.into(),
            section: section.into(),
        }
    }

    pub fn of(r: &ClipRecord) -> Self {
        Self::new(&r.machine_type, &r.section)
    }
}

impl ClipId {
    pub fn of(r: &ClipRecord) -> Self {
        Self {
            machine_type: r.machine_type.clone(),
            section: r.section.clone(),
            file: r.file.clone(),
        }
    }

    pub fn section(&self) -> SectionKey {
        SectionKey::new(&self.machine_type, &self.section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_as_the_tuples_they_replace() {
        let ids = [
            ("fan", "01", "a.wav"),
            ("fan", "00", "b.wav"),
            ("bearing", "02", "a.wav"),
            ("fan", "00", "a.wav"),
        ];
        let mut typed: Vec<ClipId> = ids
            .iter()
            .map(|(m, s, f)| ClipId {
                machine_type: m.to_string(),
                section: s.to_string(),
                file: f.to_string(),
            })
            .collect();
        let mut tuples = ids.to_vec();
        typed.sort();
        tuples.sort();
        let back: Vec<(&str, &str, &str)> = typed
            .iter()
            .map(|c| (c.machine_type.as_str(), c.section.as_str(), c.file.as_str()))
            .collect();
        assert_eq!(back, tuples);
        assert_eq!(typed[1].section(), SectionKey::new("fan", "00"));
        assert!(SectionKey::new("fan", "00") < SectionKey::new("fan", "01"));
    }
}
