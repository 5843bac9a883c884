//! Scoring methods: each one a small type behind [`Method`] (fit on references) and [`Fitted`] (score).
//!
//! A new back-end is one file here plus one arm in [`MethodSpec`].

pub(crate) mod knn;
mod lof;
mod scaled;

pub use knn::KnnMean;
pub use lof::Lof;
pub use scaled::{Combine, Scaled};

use crate::density::Density;
use crate::error::ScoringError;
use crate::reference::ReferenceSet;
use ndarray::ArrayView2;
use std::fmt;
use std::str::FromStr;

/// A scoring method, fitted per reference set.
pub trait Method: Send + Sync {
    /// Fits on the references of one section. `queries` are that section's test clips: only
    /// transductive options (domain-wise standardisation) read them.
    fn fit(
        &self,
        refs: &ReferenceSet,
        queries: ArrayView2<f32>,
    ) -> Result<Box<dyn Fitted>, ScoringError>;
}

/// A method fitted on one reference set.
pub trait Fitted: Send + Sync {
    /// Anomaly score of each query (higher = more anomalous). `skip[i]`, when given, is a reference
    /// index that query i must not be compared with (the query itself, for leave-one-out scores), or
    /// [`crate::kernel::NO_SKIP`].
    fn score(&self, queries: ArrayView2<f32>, skip: Option<&[usize]>) -> Vec<f64>;
}

/// A method named on the command line, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MethodSpec {
    /// Minimum cosine distance.
    Nn,
    /// Mean distance to the k nearest references.
    KnnMean { k: usize },
    /// The paper's re-scaled score d / den (eq. 1, 2).
    Ratio(Density),
    /// d − den with the same densities.
    Difference(Density),
    /// Local outlier factor (novelty mode), as scikit-learn.
    Lof { k: usize },
}

impl MethodSpec {
    /// `(asked, available)` when the method asks for more neighbours than a reference set of
    /// `n_refs` has (it then uses all of them, as scikit-learn clips LOF's `n_neighbors`).
    pub fn k_clipped(&self, n_refs: usize) -> Option<(usize, usize)> {
        let (k, available) = match self {
            MethodSpec::KnnMean { k } => (*k, n_refs),
            MethodSpec::Ratio(Density::KnnMean(k))
            | MethodSpec::Difference(Density::KnnMean(k)) => (*k, n_refs.saturating_sub(1)),
            MethodSpec::Lof { k } => (*k, n_refs.saturating_sub(1).max(1)),
            _ => return None,
        };
        (k > available).then_some((k, available))
    }

    /// Builds the method. `standardize` applies the domain-wise standardisation to the distance-matrix
    /// family (nn, ratio, difference).
    pub fn build(&self, standardize: bool) -> Result<Box<dyn Method>, ScoringError> {
        if standardize && matches!(self, MethodSpec::KnnMean { .. } | MethodSpec::Lof { .. }) {
            return Err(ScoringError::InvalidParameter(format!(
                "domain-wise standardisation applies to nn, ratio and difference, not {self}"
            )));
        }
        Ok(match *self {
            MethodSpec::Nn => Box::new(Scaled {
                density: None,
                combine: Combine::Ratio,
                standardize,
            }),
            MethodSpec::Ratio(d) => Box::new(Scaled {
                density: Some(d),
                combine: Combine::Ratio,
                standardize,
            }),
            MethodSpec::Difference(d) => Box::new(Scaled {
                density: Some(d),
                combine: Combine::Difference,
                standardize,
            }),
            MethodSpec::KnnMean { k } => Box::new(KnnMean { k }),
            MethodSpec::Lof { k } => Box::new(Lof { k }),
        })
    }

    /// Builds a spec from a method name and its optional parameters, checking their ranges.
    pub fn from_parts(
        name: &str,
        k: Option<usize>,
        gwrp: Option<f64>,
    ) -> Result<Self, ScoringError> {
        if let Some(k) = k
            && k == 0
        {
            return Err(ScoringError::InvalidParameter(
                "K must be at least 1".into(),
            ));
        }
        if let Some(r) = gwrp
            && !(0.0..=1.0).contains(&r)
        {
            return Err(ScoringError::InvalidParameter(format!(
                "GWRP factor r must lie in [0, 1], got {r}"
            )));
        }
        let density = || match (k, gwrp) {
            (Some(_), Some(_)) => Err(ScoringError::InvalidParameter(
                "give either K or the GWRP factor r, not both".into(),
            )),
            (Some(k), None) => Ok(Density::KnnMean(k)),
            (None, Some(r)) => Ok(Density::Gwrp(r)),
            (None, None) => Ok(Density::KnnMean(16)),
        };
        let only_k = |default: usize| {
            if gwrp.is_some() {
                Err(ScoringError::InvalidParameter(format!(
                    "the GWRP factor r does not apply to {name}"
                )))
            } else {
                Ok(k.unwrap_or(default))
            }
        };
        match name {
            "nn" => {
                if k.is_some() || gwrp.is_some() {
                    return Err(ScoringError::InvalidParameter(
                        "nn takes neither K nor a GWRP factor".into(),
                    ));
                }
                Ok(MethodSpec::Nn)
            }
            "knn-mean" => Ok(MethodSpec::KnnMean { k: only_k(16)? }),
            "lof" => Ok(MethodSpec::Lof { k: only_k(8)? }),
            "ratio" => Ok(MethodSpec::Ratio(density()?)),
            "difference" => Ok(MethodSpec::Difference(density()?)),
            other => Err(ScoringError::InvalidMethod(other.to_string())),
        }
    }
}

impl fmt::Display for MethodSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dens = |d: &Density| match d {
            Density::KnnMean(k) => format!("k{k}"),
            Density::Gwrp(r) => format!("gwrp_r{r}"),
        };
        match self {
            MethodSpec::Nn => write!(f, "nn"),
            MethodSpec::KnnMean { k } => write!(f, "knn-mean_k{k}"),
            MethodSpec::Ratio(d) => write!(f, "ratio_{}", dens(d)),
            MethodSpec::Difference(d) => write!(f, "difference_{}", dens(d)),
            MethodSpec::Lof { k } => write!(f, "lof_k{k}"),
        }
    }
}

impl FromStr for MethodSpec {
    type Err = ScoringError;
    /// Parses the names [`fmt::Display`] writes: `nn`, `knn-mean_k16`, `ratio_k16`, `ratio_gwrp_r0.9`,
    /// `difference_k16`, `lof_k8`; a bare name takes the defaults.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (name, param) = match s.split_once('_') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let bad = || ScoringError::InvalidMethod(s.to_string());
        let (k, r) = match param {
            None => (None, None),
            Some(p) => {
                if let Some(v) = p.strip_prefix("gwrp_r") {
                    (None, Some(v.parse::<f64>().map_err(|_| bad())?))
                } else if let Some(v) = p.strip_prefix('k') {
                    (Some(v.parse::<usize>().map_err(|_| bad())?), None)
                } else {
                    return Err(bad());
                }
            }
        };
        MethodSpec::from_parts(name, k, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            "nn",
            "knn-mean_k4",
            "ratio_k16",
            "ratio_gwrp_r0.9",
            "difference_k2",
            "lof_k8",
        ] {
            let spec: MethodSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "ratio".parse::<MethodSpec>().unwrap(),
            MethodSpec::Ratio(Density::KnnMean(16))
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!("ratio_k0".parse::<MethodSpec>().is_err());
        assert!("ratio_gwrp_r1.5".parse::<MethodSpec>().is_err());
        assert!("nn_k3".parse::<MethodSpec>().is_err());
        assert!("cosine".parse::<MethodSpec>().is_err());
        assert!(MethodSpec::from_parts("ratio", Some(4), Some(0.5)).is_err());
        assert!(MethodSpec::Lof { k: 8 }.build(true).is_err());
    }
}
