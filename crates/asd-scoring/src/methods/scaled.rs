//! The distance-matrix family: nearest neighbour, ratio and difference re-scaling, and their
//! domain-wise standardisation. All are `min_j (α_j · d(x, y_j) + β_j)` with per-reference α, β.

use super::{Fitted, Method};
use crate::density::Density;
use crate::distance::Distance;
use crate::error::ScoringError;
use crate::kernel;
use crate::reference::ReferenceSet;
use ndarray::{Array2, ArrayView2};

/// How a distance is combined with the reference's density.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    /// d / den (the paper's re-scaling).
    Ratio,
    /// d − den.
    Difference,
}

/// Nearest neighbour (no density) or a density re-scaled score, optionally standardised per domain.
#[derive(Debug, Clone)]
pub struct Scaled {
    pub density: Option<Density>,
    pub combine: Combine,
    /// Standardise each reference's column by the mean and unbiased standard deviation, over the
    /// section's test clips, of the score computed against that reference's domain alone.
    pub standardize: bool,
}

struct FittedScaled {
    refs: Array2<f32>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    distance: Distance,
}

impl Fitted for FittedScaled {
    fn score(&self, queries: ArrayView2<f32>, skip: Option<&[usize]>) -> Vec<f64> {
        kernel::min_affine(
            queries,
            self.refs.view(),
            &self.alpha,
            &self.beta,
            skip,
            self.distance,
        )
    }
}

impl Scaled {
    fn min_refs(&self) -> usize {
        if self.density.is_some() { 2 } else { 1 }
    }

    /// Per-reference (α, β) without standardisation.
    fn coefficients(&self, refs: &ReferenceSet) -> (Vec<f64>, Vec<f64>) {
        let n = refs.len();
        match self.density {
            None => (vec![1.0; n], vec![0.0; n]),
            Some(density) => {
                let den = density.compute(refs.embeddings.view(), refs.distance);
                match self.combine {
                    Combine::Ratio => (den.iter().map(|&d| 1.0 / d).collect(), vec![0.0; n]),
                    Combine::Difference => (vec![1.0; n], den.iter().map(|&d| -d).collect()),
                }
            }
        }
    }

    fn check(&self, refs: &ReferenceSet) -> Result<(), ScoringError> {
        if refs.is_empty() {
            return Err(ScoringError::EmptyReferences {
                key: refs.key.clone(),
            });
        }
        if refs.len() < self.min_refs() {
            return Err(ScoringError::TooFewReferences {
                key: refs.key.clone(),
                method: "a density re-scaled score".into(),
                n: refs.len(),
                needed: self.min_refs(),
            });
        }
        Ok(())
    }
}

fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

impl Method for Scaled {
    fn fit(
        &self,
        refs: &ReferenceSet,
        queries: ArrayView2<f32>,
    ) -> Result<Box<dyn Fitted>, ScoringError> {
        self.check(refs)?;
        let (mut alpha, mut beta) = self.coefficients(refs);
        if self.standardize {
            if queries.nrows() < 2 {
                return Err(ScoringError::InvalidParameter(format!(
                    "{}: standardisation needs at least two test clips",
                    refs.key
                )));
            }
            for (source, name) in [(true, "source"), (false, "target")] {
                let sub = refs.domain_subset(source);
                if sub.is_empty() {
                    return Err(ScoringError::EmptyDomain {
                        key: refs.key.clone(),
                        domain: name,
                    });
                }
                self.check(&sub)?;
                let (a, b) = self.coefficients(&sub);
                let own =
                    kernel::min_affine(queries, sub.embeddings.view(), &a, &b, None, refs.distance);
                let (mean, std) = mean_std(&own);
                if std.is_nan() || std <= 0.0 {
                    return Err(ScoringError::ZeroVariance {
                        key: refs.key.clone(),
                        what: name,
                    });
                }
                for j in (0..refs.len()).filter(|&j| refs.is_source[j] == source) {
                    alpha[j] /= std;
                    beta[j] = (beta[j] - mean) / std;
                }
            }
        }
        Ok(Box::new(FittedScaled {
            refs: refs.embeddings.clone(),
            alpha,
            beta,
            distance: refs.distance,
        }))
    }
}
