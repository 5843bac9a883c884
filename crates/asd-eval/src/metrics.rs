//! ROC AUC and McClish-standardised partial AUC, exactly as scikit-learn's `roc_auc_score`.

use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq)]
pub enum MetricError {
    #[error("undefined: no {0} clips")]
    MissingClass(&'static str),
    #[error("scores and labels differ in length ({0} vs {1})")]
    Length(usize, usize),
    #[error("score {0} is not finite")]
    NotFinite(f64),
    #[error("max_fpr must lie in (0, 1], got {0}")]
    MaxFpr(f64),
}

/// ROC curve points (fpr, tpr) at every distinct threshold, starting at (0, 0); ties of scores form one
/// point, which makes the trapezoidal area the tie-corrected Mann–Whitney statistic.
pub fn roc_curve(positive: &[bool], score: &[f64]) -> Result<(Vec<f64>, Vec<f64>), MetricError> {
    check(positive, score)?;
    let order = descending(score);
    roc_in_order(positive, score, order.iter().copied())
}

fn check(positive: &[bool], score: &[f64]) -> Result<(), MetricError> {
    if positive.len() != score.len() {
        return Err(MetricError::Length(positive.len(), score.len()));
    }
    if let Some(&s) = score.iter().find(|s| !s.is_finite()) {
        return Err(MetricError::NotFinite(s));
    }
    Ok(())
}

/// Indices sorted by descending score.
fn descending(score: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    order
}

/// The ROC curve of the clips `order` lists, which must be sorted by descending score; clips it leaves
/// out do not count (that is how the jackknife drops one clip without sorting again).
fn roc_in_order(
    positive: &[bool],
    score: &[f64],
    order: impl Iterator<Item = usize> + Clone,
) -> Result<(Vec<f64>, Vec<f64>), MetricError> {
    let n_pos = order.clone().filter(|&i| positive[i]).count();
    let n_neg = order.clone().count() - n_pos;
    if n_pos == 0 {
        return Err(MetricError::MissingClass("anomalous"));
    }
    if n_neg == 0 {
        return Err(MetricError::MissingClass("normal"));
    }
    let (mut fpr, mut tpr) = (vec![0.0], vec![0.0]);
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut it = order.peekable();
    while let Some(i) = it.next() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = it.peek().is_none_or(|&next| score[next] != score[i]);
        if last_of_tie {
            fpr.push(fp as f64 / n_neg as f64);
            tpr.push(tp as f64 / n_pos as f64);
        }
    }
    Ok((fpr, tpr))
}

fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xw, yw)| (xw[1] - xw[0]) * (yw[0] + yw[1]) / 2.0)
        .sum()
}

/// Area under the ROC curve; anomalies are the positive class.
pub fn auc(anomaly: &[bool], score: &[f64]) -> Result<f64, MetricError> {
    let (fpr, tpr) = roc_curve(anomaly, score)?;
    Ok(trapezoid(&fpr, &tpr))
}

/// Partial AUC up to `max_fpr`, McClish-standardised to [0.5, 1] for better-than-chance detectors, as
/// `roc_auc_score(max_fpr=…)` and the DCASE evaluators compute it.
pub fn partial_auc(anomaly: &[bool], score: &[f64], max_fpr: f64) -> Result<f64, MetricError> {
    check_max_fpr(max_fpr)?;
    let (fpr, tpr) = roc_curve(anomaly, score)?;
    Ok(standardised_partial_area(fpr, tpr, max_fpr))
}

fn check_max_fpr(max_fpr: f64) -> Result<(), MetricError> {
    if !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return Err(MetricError::MaxFpr(max_fpr));
    }
    Ok(())
}

/// `max_fpr = 1` is the plain AUC, as in scikit-learn.
fn standardised_partial_area(mut fpr: Vec<f64>, mut tpr: Vec<f64>, max_fpr: f64) -> f64 {
    if max_fpr == 1.0 {
        return trapezoid(&fpr, &tpr);
    }
    // numpy.searchsorted(fpr, max_fpr, side="right")
    let stop = fpr.partition_point(|&f| f <= max_fpr);
    let (x0, x1, y0, y1) = (fpr[stop - 1], fpr[stop], tpr[stop - 1], tpr[stop]);
    let y = if x1 > x0 {
        y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
    } else {
        y1
    };
    fpr.truncate(stop);
    tpr.truncate(stop);
    fpr.push(max_fpr);
    tpr.push(y);
    let partial = trapezoid(&fpr, &tpr);
    let min_area = 0.5 * max_fpr * max_fpr;
    let max_area = max_fpr;
    0.5 * (1.0 + (partial - min_area) / (max_area - min_area))
}

/// The metric (AUC for `max_fpr = 1`, else the standardised partial AUC) with each clip left out in
/// turn: element i is the value over every clip but clip i. One sort serves all of them.
pub fn leave_one_out(
    anomaly: &[bool],
    score: &[f64],
    max_fpr: f64,
) -> Result<Vec<f64>, MetricError> {
    check(anomaly, score)?;
    check_max_fpr(max_fpr)?;
    let order = descending(score);
    (0..score.len())
        .map(|left_out| {
            let kept = order.iter().copied().filter(move |&i| i != left_out);
            let (fpr, tpr) = roc_in_order(anomaly, score, kept)?;
            Ok(standardised_partial_area(fpr, tpr, max_fpr))
        })
        .collect()
}

/// Harmonic mean as the DCASE evaluators take it: every value is first floored at the float epsilon
/// (`numpy.maximum(x, sys.float_info.epsilon)` before `scipy.stats.hmean`), so a zero gives a mean
/// near 1e-16 rather than no mean. `None` for an empty list or a NaN.
pub fn harmonic_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let inverse_mean = values
        .iter()
        .map(|&v| 1.0 / v.max(f64::EPSILON))
        .sum::<f64>()
        / values.len() as f64;
    Some(1.0 / inverse_mean)
}

pub fn arithmetic_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_inverse_and_tied_scores() {
        let y = [false, false, true, true];
        assert_eq!(auc(&y, &[0.1, 0.2, 0.3, 0.4]).unwrap(), 1.0);
        assert_eq!(auc(&y, &[0.4, 0.3, 0.2, 0.1]).unwrap(), 0.0);
        assert_eq!(auc(&y, &[1.0, 1.0, 1.0, 1.0]).unwrap(), 0.5);
        assert_eq!(partial_auc(&y, &[0.1, 0.2, 0.3, 0.4], 0.1).unwrap(), 1.0);
    }

    #[test]
    fn undefined_cases_are_errors() {
        assert_eq!(
            auc(&[false, false], &[0.1, 0.2]),
            Err(MetricError::MissingClass("anomalous"))
        );
        assert_eq!(
            auc(&[true], &[0.1]),
            Err(MetricError::MissingClass("normal"))
        );
        assert!(matches!(
            auc(&[true, false], &[f64::NAN, 0.2]),
            Err(MetricError::NotFinite(_))
        ));
        assert!(partial_auc(&[true, false], &[0.1, 0.2], 0.0).is_err());
    }

    #[test]
    fn harmonic_mean_of_known_values() {
        assert!((harmonic_mean(&[0.5, 1.0]).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(harmonic_mean(&[]), None);
        assert_eq!(harmonic_mean(&[0.5, f64::NAN]), None);
    }

    #[test]
    fn harmonic_mean_floors_zeros_at_epsilon_as_the_evaluator() {
        // scipy.stats.hmean(numpy.maximum([0, 0.5], eps)) = 2 / (1/eps + 2)
        let want = 2.0 / (1.0 / f64::EPSILON + 2.0);
        let got = harmonic_mean(&[0.0, 0.5]).unwrap();
        assert!(got > 0.0 && (got - want).abs() < 1e-30, "{got} vs {want}");
        assert_eq!(harmonic_mean(&[-1.0]), Some(f64::EPSILON));
    }

    #[test]
    fn leave_one_out_equals_recomputing_without_each_clip() {
        let y = [false, true, false, true, true, false, false, true];
        let s = [0.1, 0.9, 0.4, 0.4, 0.7, 0.2, 0.9, 0.3];
        for max_fpr in [1.0, 0.1, 0.5] {
            let loo = leave_one_out(&y, &s, max_fpr).unwrap();
            assert_eq!(loo.len(), y.len());
            for (i, &got) in loo.iter().enumerate() {
                let yi: Vec<bool> = (0..y.len()).filter(|&j| j != i).map(|j| y[j]).collect();
                let si: Vec<f64> = (0..y.len()).filter(|&j| j != i).map(|j| s[j]).collect();
                let want = if max_fpr == 1.0 {
                    auc(&yi, &si).unwrap()
                } else {
                    partial_auc(&yi, &si, max_fpr).unwrap()
                };
                assert_eq!(got, want, "clip {i}, max_fpr {max_fpr}");
            }
        }
    }
}
