//! Reference sets: the normal training embeddings a test clip is compared with.

use crate::distance::Distance;
use crate::kmeans;
use ndarray::{Array2, ArrayView2, Axis};

/// Normal reference embeddings of one section (or machine type), with their domains: unit length for
/// the cosine distance, as they are for the Euclidean one.
#[derive(Debug, Clone)]
pub struct ReferenceSet {
    /// Human-readable key for messages, e.g. `fan section 00`.
    pub key: String,
    pub embeddings: Array2<f32>,
    /// How the embeddings are compared.
    pub distance: Distance,
    pub is_source: Vec<bool>,
    /// For each reference, the training clip it is (its row among the section's training clips), or
    /// `None` for a synthetic reference such as a k-means centre.
    pub origin: Vec<Option<usize>>,
}

/// Which references stand for the normal data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReferenceChoice {
    /// Every training embedding of both domains.
    All,
    /// k-means centres of the source domain (unit-normalised) plus every target-domain sample: the
    /// "source means and target samples" of the paper's Table I.
    SourceMeans { k: usize, seed: u64 },
}

impl ReferenceSet {
    /// Builds the reference set from the training clips of one section, compared by cosine distance.
    pub fn build(
        key: String,
        train: ArrayView2<f32>,
        is_source: &[bool],
        choice: ReferenceChoice,
    ) -> Self {
        Self::build_with(key, train, is_source, choice, Distance::Cosine)
    }

    /// [`ReferenceSet::build`] for a distance: with the Euclidean one, k-means centres are not brought
    /// to unit length.
    pub fn build_with(
        key: String,
        train: ArrayView2<f32>,
        is_source: &[bool],
        choice: ReferenceChoice,
        distance: Distance,
    ) -> Self {
        match choice {
            ReferenceChoice::All => Self {
                key,
                distance,
                embeddings: train.to_owned(),
                is_source: is_source.to_vec(),
                origin: (0..train.nrows()).map(Some).collect(),
            },
            ReferenceChoice::SourceMeans { k, seed } => {
                let src: Vec<usize> = (0..train.nrows()).filter(|&i| is_source[i]).collect();
                let tgt: Vec<usize> = (0..train.nrows()).filter(|&i| !is_source[i]).collect();
                let src_emb = train.select(Axis(0), &src);
                let mut centres = if src.is_empty() {
                    Array2::zeros((0, train.ncols()))
                } else {
                    kmeans::fit(src_emb.view(), k, seed)
                };
                if distance.normalises() {
                    for mut c in centres.rows_mut() {
                        let norm = c.dot(&c).sqrt();
                        if norm > 0.0 {
                            c /= norm;
                        }
                    }
                }
                let nc = centres.nrows();
                let tgt_emb = train.select(Axis(0), &tgt);
                let embeddings = ndarray::concatenate(Axis(0), &[centres.view(), tgt_emb.view()])
                    .unwrap_or_else(|_| unreachable!("same number of columns"));
                let mut is_src = vec![true; nc];
                is_src.extend(std::iter::repeat_n(false, tgt.len()));
                let mut origin = vec![None; nc];
                origin.extend(tgt.iter().map(|&i| Some(i)));
                Self {
                    key,
                    distance,
                    embeddings,
                    is_source: is_src,
                    origin,
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.embeddings.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.embeddings.nrows() == 0
    }

    /// The sub-set of one domain (source if `source`), keeping the key.
    pub fn domain_subset(&self, source: bool) -> ReferenceSet {
        let rows: Vec<usize> = (0..self.len())
            .filter(|&i| self.is_source[i] == source)
            .collect();
        ReferenceSet {
            key: self.key.clone(),
            distance: self.distance,
            embeddings: self.embeddings.select(Axis(0), &rows),
            is_source: vec![source; rows.len()],
            origin: rows.iter().map(|&i| self.origin[i]).collect(),
        }
    }
}
