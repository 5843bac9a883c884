//! AUC and the standardised partial AUC against naive implementations written from their
//! definitions, on scores with many ties: the AUC as the Mann–Whitney count of anomaly–normal pairs
//! (a tie counts one half), the partial AUC as the exact area under the ROC polygon through the
//! points of every distinct threshold, counted clip by clip, up to `max_fpr`, McClish-standardised.
//! Both sides are sums of at most a few hundred terms, so they agree to far below 1e-12.

use asd_eval::metrics::{auc, partial_auc};
use proptest::prelude::*;

/// (anomaly, score) with scores from a few levels, so that ties are common; both classes present.
fn clips() -> impl Strategy<Value = Vec<(bool, f64)>> {
    proptest::collection::vec((any::<bool>(), 0u8..8), 2..120)
        .prop_filter("both classes", |v| {
            v.iter().any(|c| c.0) && v.iter().any(|c| !c.0)
        })
        .prop_map(|v| {
            v.into_iter()
                .map(|(a, s)| (a, f64::from(s) * 0.125))
                .collect()
        })
}

fn naive_auc(c: &[(bool, f64)]) -> f64 {
    let mut wins = 0.0;
    let (mut p, mut n) = (0.0, 0.0);
    for a in c.iter().filter(|x| x.0) {
        p += 1.0;
        for b in c.iter().filter(|x| !x.0) {
            wins += if a.1 > b.1 {
                1.0
            } else if a.1 == b.1 {
                0.5
            } else {
                0.0
            };
        }
    }
    for _ in c.iter().filter(|x| !x.0) {
        n += 1.0;
    }
    wins / (p * n)
}

/// The ROC points (fpr, tpr), one per distinct threshold from the highest down, after (0, 0).
fn naive_roc(c: &[(bool, f64)]) -> Vec<(f64, f64)> {
    let mut levels: Vec<f64> = c.iter().map(|x| x.1).collect();
    levels.sort_by(|a, b| b.total_cmp(a));
    levels.dedup();
    let p = c.iter().filter(|x| x.0).count() as f64;
    let n = c.len() as f64 - p;
    let mut pts = vec![(0.0, 0.0)];
    for t in levels {
        let tp = c.iter().filter(|x| x.0 && x.1 >= t).count() as f64;
        let fp = c.iter().filter(|x| !x.0 && x.1 >= t).count() as f64;
        pts.push((fp / n, tp / p));
    }
    pts
}

fn naive_partial_auc(c: &[(bool, f64)], max_fpr: f64) -> f64 {
    let pts = naive_roc(c);
    let mut area = 0.0;
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x0 >= max_fpr {
            break;
        }
        if x1 <= max_fpr {
            area += (x1 - x0) * (y0 + y1) / 2.0;
        } else {
            let y = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0);
            area += (max_fpr - x0) * (y0 + y) / 2.0;
        }
    }
    let (lo, hi) = (0.5 * max_fpr * max_fpr, max_fpr);
    0.5 * (1.0 + (area - lo) / (hi - lo))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn auc_is_the_share_of_anomaly_normal_pairs_ranked_right(c in clips()) {
        let (a, s): (Vec<bool>, Vec<f64>) = c.iter().copied().unzip();
        let ours = auc(&a, &s).unwrap();
        prop_assert!((ours - naive_auc(&c)).abs() < 1e-12, "{} vs {}", ours, naive_auc(&c));
    }

    #[test]
    fn partial_auc_is_the_standardised_area_under_the_roc_up_to_max_fpr(
        c in clips(),
        max_fpr in prop_oneof![Just(0.1), Just(0.5), 0.01f64..0.99],
    ) {
        let (a, s): (Vec<bool>, Vec<f64>) = c.iter().copied().unzip();
        let ours = partial_auc(&a, &s, max_fpr).unwrap();
        let naive = naive_partial_auc(&c, max_fpr);
        prop_assert!((ours - naive).abs() < 1e-12, "{} vs {}", ours, naive);
        // max_fpr = 1 is the plain AUC.
        prop_assert_eq!(partial_auc(&a, &s, 1.0).unwrap().to_bits(), auc(&a, &s).unwrap().to_bits());
    }

    #[test]
    fn the_metrics_do_not_depend_on_the_order_of_the_clips(c in clips(), rot in any::<usize>()) {
        let mut r = c.clone();
        let k = rot % r.len();
        r.rotate_left(k);
        r.reverse();
        let (a, s): (Vec<bool>, Vec<f64>) = c.iter().copied().unzip();
        let (ra, rs): (Vec<bool>, Vec<f64>) = r.iter().copied().unzip();
        prop_assert!((auc(&a, &s).unwrap() - auc(&ra, &rs).unwrap()).abs() < 1e-12);
        prop_assert!((partial_auc(&a, &s, 0.1).unwrap() - partial_auc(&ra, &rs, 0.1).unwrap()).abs() < 1e-12);
    }
}
