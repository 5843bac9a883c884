//! The clip length a network is built for, from the training clips' own lengths.
//!
//! One network embeds every machine type, and its FFT branch fixes the input length. DCASE 2024–2026
//! mix machine types with clips of 6, 10 and 16 s, so the rule is: take each machine type's median
//! training-clip length and build the network for the longest of these medians. Shorter clips are
//! tiled (repeated) up to it, as the reference implementation does, so no machine type loses any of
//! its signal; a clip longer than it (an outlier within its type) is cropped, and named in a warning.
//! A median rather than the first clip's length, so that one odd file cannot size the network.
//! docs/experiments.md has the measurement against cropping everything to the shortest type.

use crate::dataset::Dataset;
use asd_core::Split;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the training clips' lengths say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LengthSurvey {
    /// Median training-clip length per machine type, in seconds.
    pub median_s: BTreeMap<String, f64>,
    /// The longest of the medians: the length the network is built for.
    pub chosen_s: f64,
    /// Training clips longer than `chosen_s` (they will be cropped), with their lengths.
    pub longer: Vec<(PathBuf, f64)>,
    /// Clips whose header could not be read.
    pub failures: Vec<(PathBuf, String)>,
}

impl LengthSurvey {
    /// One line for logs: the chosen length and the per-type medians.
    pub fn describe(&self) -> String {
        let per: Vec<String> = self
            .median_s
            .iter()
            .map(|(m, s)| format!("{m} {s:.2} s"))
            .collect();
        format!(
            "clip length {:.2} s, the longest of the machine types' median training-clip lengths ({}); shorter clips are tiled",
            self.chosen_s,
            per.join(", ")
        )
    }

    /// A warning naming the clips that will be cropped (at most 10, and the count of the rest).
    pub fn crop_warning(&self) -> Option<String> {
        if self.longer.is_empty() {
            return None;
        }
        let shown: Vec<String> = self
            .longer
            .iter()
            .take(10)
            .map(|(p, s)| format!("{} ({s:.2} s)", p.display()))
            .collect();
        let rest = self.longer.len().saturating_sub(10);
        Some(format!(
            "{} training clip(s) are longer than the network's {:.2} s and will be cropped: {}{}",
            self.longer.len(),
            self.chosen_s,
            shown.join(", "),
            if rest > 0 {
                format!(" and {rest} more")
            } else {
                String::new()
            }
        ))
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Reads every training clip's length from its header (in parallel) and applies the rule above.
pub fn survey_training_lengths(ds: &Dataset) -> LengthSurvey {
    let train: Vec<_> = ds
        .clips
        .iter()
        .filter(|c| c.record.split == Split::Train)
        .collect();
    let probed: Vec<_> = train
        .par_iter()
        .map(|c| (c, asd_audio::probe_seconds(&c.path)))
        .collect();
    let mut per_type: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut survey = LengthSurvey::default();
    let mut lengths = Vec::new();
    for (c, r) in probed {
        match r {
            Ok(s) => {
                per_type
                    .entry(c.record.machine_type.clone())
                    .or_default()
                    .push(s);
                lengths.push((c.path.clone(), s));
            }
            Err(e) => survey.failures.push((c.path.clone(), e.to_string())),
        }
    }
    survey.median_s = per_type
        .into_iter()
        .map(|(m, mut v)| (m, median(&mut v)))
        .collect();
    survey.chosen_s = survey.median_s.values().copied().fold(0.0, f64::max);
    // A clip within a millisecond of the chosen length is not cropped in any way that matters.
    survey.longer = lengths
        .into_iter()
        .filter(|(_, s)| *s > survey.chosen_s + 1e-3)
        .collect();
    survey
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 600.0]), 3.0);
        assert_eq!(median(&mut [1.0, 2.0, 4.0, 600.0]), 3.0);
    }
}
