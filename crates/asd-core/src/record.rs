//! Metadata of one clip, as it appears in an embedding set's `index.csv`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Error for a metadata value that is not one of the allowed words.
#[derive(Debug, thiserror::Error)]
#[error("invalid {kind} '{value}' (expected one of: {expected})")]
pub struct ParseValueError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = ParseValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok(Self::$variant),)+
                    _ => Err(ParseValueError {
                        kind: $kind,
                        value: s.to_string(),
                        expected: concat!($($word, " "),+),
                    }),
                }
            }
        }
    };
}

word_enum!(
    /// Recording domain. DCASE 2020 has none (`Unknown`), anonymised eval files have it only in the
    /// ground truth.
    Domain, "domain", { Source => "source", Target => "target", Unknown => "unknown" }
);
word_enum!(
    /// Dataset split.
    Split, "split", { Train => "train", Test => "test" }
);
word_enum!(
    /// Ground-truth label of a clip.
    Label, "label", { Normal => "normal", Anomaly => "anomaly", Unknown => "unknown" }
);

/// One row of `index.csv`: everything the scoring and evaluation stages need to know about a clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipRecord {
    /// File name (or relative path) that identifies the clip; used in submission files.
    pub file: String,
    pub machine_type: String,
    /// Section (or DCASE 2020 machine id) as written in file names, e.g. `00`.
    pub section: String,
    pub domain: Domain,
    pub split: Split,
    pub label: Label,
    /// Attribute string, e.g. `vel_12_loc_A`, or `noAttribute`; empty when unknown.
    pub attribute: String,
}

impl ClipRecord {
    /// Key of the reference set of this clip: machine type and section.
    pub fn section_key(&self) -> crate::SectionKey {
        crate::SectionKey::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_reject_unknown_values() {
        assert_eq!("Source".parse::<Domain>().unwrap(), Domain::Source);
        assert_eq!(Label::Anomaly.to_string(), "anomaly");
        let err = "tgt".parse::<Domain>().unwrap_err();
        assert!(err.to_string().contains("tgt"));
        assert!(err.to_string().contains("target"));
    }
}
