//! What the store tests share: random embeddings around a centre, clips to enrol, monitor settings,
//! and scoring helpers.
#![allow(dead_code)]

use asd_monitor::alerts::Policy;
use asd_monitor::monitors::{Enrolment, Monitors};
use asd_monitor::store::MonitorSpec;
use asd_scoring::density::Density;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub mod postgres;

pub fn unit(rng: &mut ChaCha8Rng, centre: &[f32], spread: f32) -> Vec<f32> {
    let v: Vec<f32> = centre
        .iter()
        .map(|c| c + spread * (rng.random::<f32>() - 0.5))
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

pub fn clips(rng: &mut ChaCha8Rng, n: usize, condition: &str, centre: &[f32]) -> Vec<Enrolment> {
    (0..n)
        .map(|i| Enrolment {
            embedding: unit(rng, centre, 0.5),
            condition: condition.into(),
            file: format!("{condition}_{i}.wav"),
        })
        .collect()
}

pub fn spec(name: &str) -> MonitorSpec {
    MonitorSpec {
        name: name.into(),
        machine_type: "fan".into(),
        section: "00".into(),
        density: Density::KnnMean(4),
        percentile: 0.9,
    }
}

pub fn scores(m: &Monitors, id: u64, queries: &[Vec<f32>]) -> Vec<u64> {
    let q = queries
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("q{i}"), x.clone()))
        .collect();
    m.score(id, q, "test")
        .unwrap()
        .iter()
        .map(|c| c.score.to_bits())
        .collect()
}

pub fn policy(raise_m: usize, raise_n: usize, clear_k: usize) -> Policy {
    Policy {
        alert: asd_monitor::alerts::AlertRule {
            raise_m,
            raise_n,
            clear_k,
        },
        retention: asd_monitor::alerts::Retention::default(),
    }
}

/// A monitor with a tight bank around `c`, and queries that are clearly normal (`n`) or anomalous
/// (`a`: another direction), one clip each, in the order of `pattern`.
pub fn score_pattern(
    m: &Monitors,
    id: u64,
    rng: &mut ChaCha8Rng,
    c: &[f32],
    far: &[f32],
    pattern: &str,
) {
    for (i, p) in pattern.chars().enumerate() {
        let x = if p == 'a' {
            unit(rng, far, 0.1)
        } else {
            unit(rng, c, 0.05)
        };
        let r = m.score(id, vec![(format!("{p}{i}"), x)], "test").unwrap();
        assert_eq!(r[0].anomaly, Some(p == 'a'), "clip {i} of {pattern}");
    }
}
