//! SMOTE of the target references (the authors' code's `smote`, `smote_num_neighbors`): per reference
//! set, synthetic target references, each on the segment between a target reference and one of its k
//! nearest target neighbours, until the domains have equal counts. The draws follow imbalanced-learn's
//! `SMOTE`: a uniformly drawn (reference, neighbour) pair, then a uniform step along their segment.
//! For the cosine distance the synthetic points are brought back to unit length (the segment's
//! direction), for the Euclidean one they stay on it.

use crate::distance::Distance;
use crate::kernel;
use crate::reference::ReferenceSet;
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// SMOTE's settings: neighbours per target reference (imbalanced-learn's default is 5) and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Smote {
    pub k: usize,
    pub seed: u64,
}

/// A synthetic reference: the two target references (rows of the set) it lies between, and where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    pub from: usize,
    pub towards: usize,
    pub step: f32,
}

/// FNV-1a of a reference set's key: each section draws from its own stream of the one seed.
fn key_hash(key: &str) -> u64 {
    asd_core::hash::fnv1a(key.bytes())
}

impl ReferenceSet {
    /// The set with synthetic target references appended until there are as many target references
    /// as source ones; with what each synthetic one was made from. Unchanged when the target domain
    /// already has as many, or fewer than 2 references (no segment to draw on).
    pub fn with_smote(&self, s: Smote) -> (ReferenceSet, Vec<Synthetic>) {
        let target: Vec<usize> = (0..self.len()).filter(|&i| !self.is_source[i]).collect();
        let sources = self.len() - target.len();
        if target.len() < 2 || target.len() >= sources || s.k == 0 {
            return (self.clone(), Vec::new());
        }
        let need = sources - target.len();
        let t = self.embeddings.select(Axis(0), &target);
        // k + 1 nearest among the targets, the reference itself dropped.
        let k = s.k.min(target.len() - 1);
        let nb = kernel::k_nearest_self(t.view(), k + 1, self.distance);
        let mut rng =
            ChaCha8Rng::seed_from_u64(asd_core::seed::derive_seed(s.seed, &[key_hash(&self.key)]));
        let mut made = Vec::with_capacity(need);
        let mut rows = Array2::<f32>::zeros((need, self.embeddings.ncols()));
        for mut row in rows.rows_mut() {
            let pick = rng.random_range(0..target.len() * k);
            let (i, c) = (pick / k, pick % k);
            let neighbours: Vec<usize> = nb
                .index_row(i)
                .iter()
                .copied()
                .filter(|&j| j != i)
                .take(k)
                .collect();
            let j = neighbours[c.min(neighbours.len() - 1)];
            let step: f32 = rng.random();
            let (a, b) = (t.row(i), t.row(j));
            for ((o, &x), &y) in row.iter_mut().zip(a).zip(b) {
                *o = x + step * (y - x);
            }
            if self.distance == Distance::Cosine {
                let n = row
                    .iter()
                    .map(|v| f64::from(*v).powi(2))
                    .sum::<f64>()
                    .sqrt() as f32;
                if n > 0.0 {
                    row /= n;
                }
            }
            made.push(Synthetic {
                from: target[i],
                towards: target[j],
                step,
            });
        }
        let embeddings = ndarray::concatenate(Axis(0), &[self.embeddings.view(), rows.view()])
            .unwrap_or_else(|_| unreachable!("same number of columns"));
        let mut is_source = self.is_source.clone();
        is_source.extend(std::iter::repeat_n(false, need));
        let mut origin = self.origin.clone();
        origin.extend(std::iter::repeat_n(None, need));
        (
            ReferenceSet {
                key: self.key.clone(),
                embeddings,
                distance: self.distance,
                is_source,
                origin,
            },
            made,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ReferenceChoice;

    fn set(distance: Distance, sources: usize, targets: usize, seed: u64) -> ReferenceSet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = 12;
        let n = sources + targets;
        let mut x = Array2::from_shape_fn((n, d), |(i, _)| {
            let centre = if i < sources { 1.0 } else { -1.0 };
            centre + rng.random::<f32>() - 0.5
        });
        if distance == Distance::Cosine {
            for mut r in x.rows_mut() {
                let norm = r.dot(&r).sqrt();
                r /= norm;
            }
        }
        let is_source: Vec<bool> = (0..n).map(|i| i < sources).collect();
        ReferenceSet::build_with(
            "fan section 00".into(),
            x.view(),
            &is_source,
            ReferenceChoice::All,
            distance,
        )
    }

    #[test]
    fn synthetic_targets_lie_on_segments_to_near_targets_and_balance_the_domains() {
        for distance in [Distance::Euclidean, Distance::Cosine] {
            let refs = set(distance, 40, 7, 1);
            let k = 3;
            let (out, made) = refs.with_smote(Smote { k, seed: 5 });
            assert_eq!(out.len(), 80);
            assert_eq!(out.is_source.iter().filter(|s| !**s).count(), 40);
            assert_eq!(made.len(), 33);
            assert!(out.origin[47..].iter().all(Option::is_none));
            assert_eq!(
                &out.embeddings.slice(ndarray::s![..47, ..]),
                &refs.embeddings
            );
            // Each synthetic point: on the segment from a target to one of its k nearest targets.
            let targets: Vec<usize> = (40..47).collect();
            for (r, m) in made.iter().enumerate() {
                assert!(targets.contains(&m.from) && targets.contains(&m.towards));
                assert_ne!(m.from, m.towards);
                assert!((0.0..1.0).contains(&m.step));
                let dist = |a: usize, b: usize| {
                    refs.embeddings
                        .row(a)
                        .iter()
                        .zip(refs.embeddings.row(b))
                        .map(|(x, y)| f64::from(x - y).powi(2))
                        .sum::<f64>()
                };
                let closer = targets
                    .iter()
                    .filter(|&&t| t != m.from && dist(m.from, t) < dist(m.from, m.towards))
                    .count();
                assert!(
                    closer < k,
                    "neighbour {} is not among the {k} nearest",
                    m.towards
                );
                let (a, b) = (refs.embeddings.row(m.from), refs.embeddings.row(m.towards));
                let mut p: Vec<f32> = a.iter().zip(b).map(|(x, y)| x + m.step * (y - x)).collect();
                if distance == Distance::Cosine {
                    let n = p.iter().map(|v| v * v).sum::<f32>().sqrt();
                    p.iter_mut().for_each(|v| *v /= n);
                }
                let got = out.embeddings.row(47 + r);
                for (g, w) in got.iter().zip(&p) {
                    assert!((g - w).abs() < 1e-6, "{distance}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_points_and_another_seed_others() {
        let refs = set(Distance::Euclidean, 30, 5, 2);
        let (a, _) = refs.with_smote(Smote { k: 5, seed: 9 });
        let (b, _) = refs.with_smote(Smote { k: 5, seed: 9 });
        let (c, _) = refs.with_smote(Smote { k: 5, seed: 10 });
        assert_eq!(a.embeddings, b.embeddings);
        assert_ne!(a.embeddings, c.embeddings);
        // Nothing to do: balanced already, or a single target reference.
        let (same, made) = set(Distance::Euclidean, 5, 5, 3).with_smote(Smote { k: 5, seed: 1 });
        assert!(made.is_empty() && same.len() == 10);
        let (same, made) = set(Distance::Euclidean, 9, 1, 3).with_smote(Smote { k: 5, seed: 1 });
        assert!(made.is_empty() && same.len() == 10);
    }
}
