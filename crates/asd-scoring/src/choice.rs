//! A scoring configuration as experiments and reports name it.

use crate::error::ScoringError;
use crate::methods::MethodSpec;
use crate::pipeline::ScoreOptions;
use crate::reference::ReferenceChoice;
use std::fmt;
use std::str::FromStr;

/// Suffix of the configurations scored against k-means source means plus the target samples.
const MEANS_SUFFIX: &str = "@means";

/// A method and the references it scores against, written as `asd score` names the method, with
/// `@means` for the paper's "source means and target samples" references: `ratio_k16`,
/// `ratio_gwrp_r0.9@means`, `lof_k8`. Parsed once (configuration files, flags), printed the same way
/// (reports, result files).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MethodChoice {
    pub spec: MethodSpec,
    /// k-means centres of the source domain plus every target sample, instead of all references.
    pub source_means: bool,
}

impl MethodChoice {
    /// The scoring options of this configuration; `means` centres per section, seeded by `seed`.
    pub fn options(&self, means: usize, seed: u64) -> ScoreOptions {
        let mut o = ScoreOptions::new(self.spec);
        if self.source_means {
            o.references = ReferenceChoice::SourceMeans { k: means, seed };
        }
        o
    }
}

impl From<MethodSpec> for MethodChoice {
    fn from(spec: MethodSpec) -> Self {
        Self {
            spec,
            source_means: false,
        }
    }
}

impl fmt::Display for MethodChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.source_means { MEANS_SUFFIX } else { "" };
        write!(f, "{}{suffix}", self.spec)
    }
}

impl FromStr for MethodChoice {
    type Err = ScoringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (base, source_means) = match s.strip_suffix(MEANS_SUFFIX) {
            Some(b) => (b, true),
            None => (s, false),
        };
        Ok(Self {
            spec: base.parse()?,
            source_means,
        })
    }
}

impl TryFrom<String> for MethodChoice {
    type Error = ScoringError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MethodChoice> for String {
    fn from(c: MethodChoice) -> Self {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::Density;

    #[test]
    fn names_round_trip_and_choose_the_references() {
        for s in ["nn", "lof_k16@means", "ratio_gwrp_r0.85", "ratio_k16@means"] {
            let c: MethodChoice = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
        }
        let c: MethodChoice = "ratio_k8@means".parse().unwrap();
        assert_eq!(c.spec, MethodSpec::Ratio(Density::KnnMean(8)));
        assert_eq!(
            c.options(12, 3).references,
            ReferenceChoice::SourceMeans { k: 12, seed: 3 }
        );
        let plain: MethodChoice = "ratio_k8".parse().unwrap();
        assert_eq!(plain.options(12, 3).references, ReferenceChoice::All);
        assert!("magic@means".parse::<MethodChoice>().is_err());
    }

    #[test]
    fn serde_reads_and_writes_the_name() {
        let c: Vec<MethodChoice> = serde_json::from_str(r#"["nn", "ratio_k4@means"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"["nn","ratio_k4@means"]"#
        );
        let err = serde_json::from_str::<MethodChoice>(r#""cosine""#).unwrap_err();
        assert!(err.to_string().contains("cosine"), "{err}");
    }
}
