//! The distance between two embeddings. The paper and the trained network use the cosine distance on
//! unit vectors; the authors' code scores the frozen front-ends' raw embeddings (`*-raw`) with a scaled
//! Euclidean distance instead, the embeddings left as they are (`utils.get_scores(use_mse=True)`).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    /// d(x, y) = ½(1 − ⟨x̂, ŷ⟩) on unit-normalised embeddings.
    #[default]
    Cosine,
    /// d(x, y) = 0.25 · ‖x − y‖₂ on the embeddings as they are (torch.cdist, not squared).
    Euclidean,
}

impl Distance {
    pub fn name(self) -> &'static str {
        match self {
            Distance::Cosine => "cosine",
            Distance::Euclidean => "euclidean",
        }
    }

    /// Whether embeddings are brought to unit length before scoring.
    pub fn normalises(self) -> bool {
        self == Distance::Cosine
    }
}

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Distance {
    type Err = asd_core::ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cosine" => Ok(Distance::Cosine),
            "euclidean" => Ok(Distance::Euclidean),
            _ => Err(asd_core::ParseValueError {
                kind: "distance",
                value: s.to_string(),
                expected: "cosine or euclidean",
            }),
        }
    }
}
