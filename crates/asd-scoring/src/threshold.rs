//! Decision thresholds as in the DCASE baseline: fit a gamma distribution to the anomaly scores of
//! normal training clips and take a percentile of it.
//!
//! The fit is the maximum-likelihood gamma with location 0 (shape by Newton's method on
//! ln k − ψ(k) = ln mean − mean ln). When some scores are not positive (difference scores), the location
//! is moved just below the smallest score first. The baseline's SciPy fit also frees the location; on
//! positive scores both give nearly the same percentile.

use statrs::distribution::{ContinuousCDF, Gamma};
use statrs::function::gamma::digamma;

/// Location offset below the smallest score, relative to the score range, for non-positive scores.
const LOC_MARGIN: f64 = 1e-3;

/// Gamma distribution (shape k, scale θ, location) fitted to scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaFit {
    pub shape: f64,
    pub scale: f64,
    pub loc: f64,
}

fn trigamma(x: f64) -> f64 {
    // Numerical derivative of the digamma function; accurate to ~1e-8, plenty for Newton steps.
    let h = 1e-5 * x.max(1e-3);
    (digamma(x + h) - digamma(x - h)) / (2.0 * h)
}

impl GammaFit {
    /// Fits the scores; `None` when fewer than two distinct finite scores are given.
    pub fn fit(scores: &[f64]) -> Option<Self> {
        let mut xs: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        // Summed in ascending order: the fit is a function of the set of scores, not of the order
        // they are held in (a bank changed in place and one rebuilt from its store hold the same
        // scores in different orders and must give the same threshold, bit for bit).
        xs.sort_by(f64::total_cmp);
        if xs.len() < 2 {
            return None;
        }
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max <= min {
            return None;
        }
        let loc = if min > 0.0 {
            0.0
        } else {
            min - LOC_MARGIN * (max - min)
        };
        let n = xs.len() as f64;
        let mean = xs.iter().map(|x| x - loc).sum::<f64>() / n;
        let mean_ln = xs.iter().map(|x| (x - loc).ln()).sum::<f64>() / n;
        let s = mean.ln() - mean_ln;
        let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
        for _ in 0..50 {
            let f = k.ln() - digamma(k) - s;
            let df = 1.0 / k - trigamma(k);
            let step = f / df;
            let next = (k - step).max(k / 10.0);
            if (next - k).abs() < 1e-12 * k {
                k = next;
                break;
            }
            k = next;
        }
        Some(Self {
            shape: k,
            scale: mean / k,
            loc,
        })
    }

    /// The value below which a fraction `p` of the fitted distribution lies.
    pub fn percentile(&self, p: f64) -> f64 {
        match Gamma::new(self.shape, 1.0 / self.scale) {
            Ok(g) => self.loc + g.inverse_cdf(p),
            Err(_) => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Gamma as GammaDist};

    #[test]
    fn recovers_parameters_of_gamma_samples() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let dist = GammaDist::new(4.0, 0.5).unwrap();
        let xs: Vec<f64> = (0..20_000).map(|_| dist.sample(&mut rng)).collect();
        let fit = GammaFit::fit(&xs).unwrap();
        assert!((fit.shape - 4.0).abs() < 0.15, "{fit:?}");
        assert!((fit.scale - 0.5).abs() < 0.02, "{fit:?}");
        // The 90th percentile of Gamma(4, 0.5) is 3.3724 (tables).
        assert!((fit.percentile(0.9) - 3.3724).abs() < 0.05);
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        let empirical = sorted[(0.9 * sorted.len() as f64) as usize];
        assert!((fit.percentile(0.9) - empirical).abs() < 0.05);
    }

    #[test]
    fn handles_non_positive_scores_and_degenerate_input() {
        let fit = GammaFit::fit(&[-0.2, -0.1, 0.0, 0.1, 0.3]).unwrap();
        assert!(fit.loc < -0.2);
        assert!(fit.percentile(0.9) > 0.0 && fit.percentile(0.9) < 0.6);
        assert!(GammaFit::fit(&[1.0, 1.0]).is_none());
        assert!(GammaFit::fit(&[1.0]).is_none());
    }

    #[test]
    fn the_fit_does_not_depend_on_the_order_of_the_scores() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let dist = GammaDist::new(2.5, 0.3).unwrap();
        let mut xs: Vec<f64> = (0..997).map(|_| dist.sample(&mut rng)).collect();
        let a = GammaFit::fit(&xs).unwrap().percentile(0.9);
        xs.reverse();
        xs.swap(3, 500);
        let b = GammaFit::fit(&xs).unwrap().percentile(0.9);
        assert_eq!(a.to_bits(), b.to_bits());
    }
}
