//! A reference bank that changes one clip at a time: the paper's deployment case, where a user enrols a
//! few normal clips of a new condition (or drops a bad one) and is scored correctly from the next query
//! on, without retraining and without refitting the whole bank.
//!
//! The bank keeps, for every reference, its sorted list of nearest other references (as many as the
//! density reads, [`Density::neighbours_needed`]), its density, and its leave-one-out score (the ratio
//! score of the reference against the others, the basis of the decision threshold). Adding a reference
//! computes its distances to the bank once and touches only the lists it enters; removing one refills only
//! the lists that held it. Densities are recomputed where a list changed (for GWRP also where the
//! normaliser, which depends on the bank's size, changes their bits), and leave-one-out scores where the
//! minimum may have moved. Every value is computed by the same functions as a full refit
//! ([`ReferenceBank::refit`]), so the incremental state equals a refit bit for bit.
//!
//! Distances are d(x, y) = ½(1 − ⟨x, y⟩) with the dot product accumulated in f64 in a fixed order; they
//! agree with the blocked float32 kernel of [`crate::kernel`] (used by `asd score`) to about 1e-7.

use crate::density::Density;
use crate::distance::Distance;
use crate::threshold::GammaFit;
use rayon::prelude::*;
use std::collections::HashMap;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum BankError {
    #[error("embedding has {got} values, the bank holds {want}-dimensional embeddings")]
    Dimension { got: usize, want: usize },
    #[error("embedding has a non-finite value at position {0}")]
    NotFinite(usize),
    #[error("embedding is all zeros; it has no direction")]
    Zero,
    #[error("no reference with id {0}")]
    UnknownId(u64),
    #[error("the bank has {n} reference(s); scoring needs at least 2")]
    TooSmall { n: usize },
    #[error("saved bank state is inconsistent: {0}")]
    Corrupt(String),
}

/// Fewest references a parallel task takes: below this, splitting costs more than it saves.
const MIN_PAR: usize = 64;

/// One entry of a neighbour list, ordered by distance, then id (so that a list is unique).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Neighbour {
    d: f64,
    id: u64,
}

fn before(a: &Neighbour, b: &Neighbour) -> bool {
    a.d < b.d || (a.d == b.d && a.id < b.id)
}

/// A leave-one-out score and the reference that attains it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Loo {
    score: f64,
    by: u64,
}

/// The score of a query against the bank.
#[derive(Debug, Clone, PartialEq)]
pub struct BankScore {
    /// min over references of d(x, y) / density(y).
    pub score: f64,
    /// The reference that attains the minimum, and its condition.
    pub reference: u64,
    pub condition: String,
    /// Share of the bank's leave-one-out scores below this score (0 – 1).
    pub percentile: f64,
}

/// Everything a bank holds, for saving it and loading it back without recomputing anything (a service's
/// start-up; a full rebuild of 10 000 references takes ~18 s on 2 cores). Lists and leave-one-out scores
/// are (distance or score, reference id) pairs. Save it with a lossless serializer (a binary one, or
/// serde_json with its `float_roundtrip` feature) to get every bit back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BankState {
    pub dim: usize,
    pub density: Density,
    /// Absent in states saved before the Euclidean distance existed: cosine.
    #[serde(default)]
    pub distance: Distance,
    pub next_id: u64,
    pub ids: Vec<u64>,
    pub conditions: Vec<String>,
    /// The rows as the distance compares them (unit vectors for the cosine), row-major (ids.len() × dim).
    pub rows: Vec<f32>,
    pub lists: Vec<Vec<(f64, u64)>>,
    pub densities: Vec<f64>,
    pub loo: Vec<(f64, u64)>,
}

/// What a full refit computes, for comparison with the incremental state.
#[derive(Debug, Clone, PartialEq)]
pub struct Refit {
    pub densities: Vec<f64>,
    pub loo: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct ReferenceBank {
    dim: usize,
    density: Density,
    /// Cosine on unit vectors (rows normalised when they come in) or Euclidean on the rows as given.
    distance: Distance,
    ids: Vec<u64>,
    conditions: Vec<String>,
    /// Unit vectors, row-major (len × dim).
    rows: Vec<f32>,
    lists: Vec<Vec<Neighbour>>,
    densities: Vec<f64>,
    loo: Vec<Loo>,
    index: HashMap<u64, usize>,
    next_id: u64,
}

/// ⟨a, b⟩ accumulated in f64 over 8 interleaved partial sums, added in a fixed order: the same bits
/// wherever it is called (which the bit-for-bit equality with a refit rests on), and independent chains
/// the compiler can vectorise.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += f64::from(x[l]) * f64::from(y[l]);
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += f64::from(*x) * f64::from(*y);
    }
    acc.iter().sum()
}

/// ‖a − b‖² accumulated in f64 like [`dot`] (fixed order: the same bits wherever it is called).
fn squared_difference(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            let d = f64::from(x[l]) - f64::from(y[l]);
            acc[l] += d * d;
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        let d = f64::from(*x) - f64::from(*y);
        acc[l] += d * d;
    }
    acc.iter().sum()
}

impl ReferenceBank {
    /// An empty bank of `dim`-dimensional embeddings whose densities are measured with `density`
    /// (K larger than the bank allows is clipped to the references there are, as everywhere else).
    pub fn new(dim: usize, density: Density) -> Self {
        Self::with_distance(dim, density, Distance::Cosine)
    }

    /// [`ReferenceBank::new`] comparing embeddings by `distance`.
    pub fn with_distance(dim: usize, density: Density, distance: Distance) -> Self {
        Self {
            dim,
            density,
            distance,
            ids: Vec::new(),
            conditions: Vec::new(),
            rows: Vec::new(),
            lists: Vec::new(),
            densities: Vec::new(),
            loo: Vec::new(),
            index: HashMap::new(),
            next_id: 0,
        }
    }

    /// A bank of many references at once (ids 0, 1, …, in order): every list, density and
    /// leave-one-out score computed directly, in parallel over references. The result equals adding the
    /// references one by one, bit for bit, and is what a service loads at start-up.
    pub fn from_rows<'a>(
        dim: usize,
        density: Density,
        rows: impl IntoIterator<Item = (&'a [f32], &'a str)>,
    ) -> Result<Self, BankError> {
        let rows: Vec<(&[f32], &str)> = rows.into_iter().collect();
        let n = rows.len() as u64;
        Self::from_rows_with_ids(
            dim,
            density,
            (0..n).zip(rows).map(|(id, (x, c))| (id, x, c)),
            n,
        )
    }

    /// A bank of references with given ids (a store's rows after additions and removals), computed as
    /// [`ReferenceBank::from_rows`] does; new references get ids from `next_id` on (raised past the
    /// largest id given). Equals the bank that grew to these references one change at a time, bit for
    /// bit, reference by reference (bank order may differ).
    pub fn from_rows_with_ids<'a>(
        dim: usize,
        density: Density,
        rows: impl IntoIterator<Item = (u64, &'a [f32], &'a str)>,
        next_id: u64,
    ) -> Result<Self, BankError> {
        Self::from_rows_with_ids_by(dim, density, Distance::Cosine, rows, next_id)
    }

    /// [`ReferenceBank::from_rows_with_ids`] comparing embeddings by `distance`.
    pub fn from_rows_with_ids_by<'a>(
        dim: usize,
        density: Density,
        distance: Distance,
        rows: impl IntoIterator<Item = (u64, &'a [f32], &'a str)>,
        next_id: u64,
    ) -> Result<Self, BankError> {
        let mut bank = Self::with_distance(dim, density, distance);
        bank.next_id = next_id;
        for (id, x, condition) in rows {
            let x = bank.unit(x)?;
            if bank.index.insert(id, bank.ids.len()).is_some() {
                return Err(BankError::Corrupt(format!("reference id {id} given twice")));
            }
            bank.rows.extend_from_slice(&x);
            bank.ids.push(id);
            bank.conditions.push(condition.to_string());
            bank.next_id = bank.next_id.max(id + 1);
        }
        bank.rebuild();
        Ok(bank)
    }

    /// The distance of two rows as held (unit vectors for the cosine).
    #[inline]
    fn dist(&self, a: &[f32], b: &[f32]) -> f64 {
        match self.distance {
            Distance::Cosine => (0.5 * (1.0 - dot(a, b))).max(0.0),
            Distance::Euclidean => 0.25 * squared_difference(a, b).sqrt(),
        }
    }

    /// How the bank compares embeddings.
    pub fn distance(&self) -> Distance {
        self.distance
    }

    /// The id the next added reference gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The density of one reference (`None` for an unknown id or below 2 references).
    pub fn density_of_id(&self, id: u64) -> Option<f64> {
        self.index
            .get(&id)
            .and_then(|&i| self.densities.get(i).copied())
    }

    /// The reference's unit vector.
    pub fn embedding(&self, id: u64) -> Option<&[f32]> {
        self.index.get(&id).map(|&i| self.row(i))
    }

    /// Every list, density and leave-one-out score from scratch.
    fn rebuild(&mut self) {
        let n = self.len();
        self.lists = (0..n)
            .into_par_iter()
            .with_min_len(MIN_PAR)
            .map(|i| self.full_list(i))
            .collect();
        if n < 2 {
            self.densities.clear();
            self.loo.clear();
            return;
        }
        self.densities = (0..n).map(|i| self.density_of(i)).collect();
        self.loo = (0..n)
            .into_par_iter()
            .with_min_len(MIN_PAR)
            .map(|i| self.full_loo(i))
            .collect();
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn density_kind(&self) -> Density {
        self.density
    }

    /// Reference ids in bank order.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    pub fn condition(&self, id: u64) -> Option<&str> {
        self.index.get(&id).map(|&i| self.conditions[i].as_str())
    }

    /// Densities in bank order (empty below 2 references).
    pub fn densities(&self) -> &[f64] {
        &self.densities
    }

    /// Leave-one-out scores in bank order (empty below 2 references).
    pub fn loo_scores(&self) -> Vec<f64> {
        self.loo.iter().map(|l| l.score).collect()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// A row as this bank holds it (the unit vector for the cosine, the row itself for the Euclidean
    /// distance), bit for bit as [`ReferenceBank::add`] stores it: what a saved state's rows are.
    pub fn normalised(&self, x: &[f32]) -> Result<Vec<f32>, BankError> {
        self.unit(x)
    }

    /// The unit vector of `x`, or why it cannot be a reference or a query.
    fn unit(&self, x: &[f32]) -> Result<Vec<f32>, BankError> {
        if x.len() != self.dim {
            return Err(BankError::Dimension {
                got: x.len(),
                want: self.dim,
            });
        }
        if let Some(p) = x.iter().position(|v| !v.is_finite()) {
            return Err(BankError::NotFinite(p));
        }
        let norm = dot(x, x).sqrt();
        if norm == 0.0 {
            return Err(BankError::Zero);
        }
        if self.distance == Distance::Euclidean {
            return Ok(x.to_vec());
        }
        Ok(x.iter().map(|v| (f64::from(*v) / norm) as f32).collect())
    }

    /// The density of reference `i` from its list.
    fn density_of(&self, i: usize) -> f64 {
        let d: Vec<f64> = self.lists[i].iter().map(|n| n.d).collect();
        self.density.reduce(&d, self.len())
    }

    /// The full neighbour list of reference `i`, from its distances to every other reference.
    fn full_list(&self, i: usize) -> Vec<Neighbour> {
        let l = self.density.neighbours_needed(self.len());
        let x = self.row(i);
        let mut all: Vec<Neighbour> = (0..self.len())
            .filter(|&j| j != i)
            .map(|j| Neighbour {
                d: self.dist(x, self.row(j)),
                id: self.ids[j],
            })
            .collect();
        all.sort_by(|a, b| a.d.total_cmp(&b.d).then(a.id.cmp(&b.id)));
        all.truncate(l);
        all
    }

    /// The leave-one-out score of reference `i` over every other reference.
    fn full_loo(&self, i: usize) -> Loo {
        let none = Loo {
            score: f64::INFINITY,
            by: u64::MAX,
        };
        self.loo_over(i, none, 0..self.len())
    }

    /// `best` improved by the references `candidates` (other than `i` itself); ties go to the
    /// smaller id, so that the result does not depend on the order of the candidates.
    fn loo_over(&self, i: usize, mut best: Loo, candidates: impl Iterator<Item = usize>) -> Loo {
        let x = self.row(i);
        for j in candidates.filter(|&j| j != i) {
            let s = self.dist(x, self.row(j)) / self.densities[j];
            if s < best.score || (s == best.score && self.ids[j] < best.by) {
                best = Loo {
                    score: s,
                    by: self.ids[j],
                };
            }
        }
        best
    }

    /// Recomputes the densities that may have changed (`changed_lists`, or all for GWRP, whose
    /// normaliser depends on the bank's size) and returns the references whose density bits changed,
    /// with their old density (NaN where there was none).
    fn update_densities(&mut self, changed_lists: &[usize]) -> Vec<(usize, f64)> {
        let n = self.len();
        self.densities.resize(n, f64::NAN);
        let candidates: Vec<usize> = match self.density {
            Density::Gwrp(_) => (0..n).collect(),
            Density::KnnMean(_) => changed_lists.to_vec(),
        };
        let mut changed = Vec::new();
        for i in candidates {
            let v = self.density_of(i);
            let old = self.densities[i];
            if v.to_bits() != old.to_bits() {
                self.densities[i] = v;
                changed.push((i, old));
            }
        }
        changed
    }

    /// Brings every leave-one-out score up to date after the densities of `changed` (with their old
    /// values) moved and the references `gone` left the bank.
    ///
    /// d(i, j) / den(j) only moves against its density, and IEEE division is monotone: where a density
    /// fell, the ratios through it rose (or kept their bits), so such a reference cannot become a new
    /// minimum, and only a score whose minimum it attained must be recomputed over all references.
    /// Where a density rose (or is new), the ratios fell: those references are the only candidates a
    /// kept minimum must be compared with. Adding a clip mostly lowers densities (a closer neighbour
    /// enters their lists), removing one mostly raises them, so each change touches one of the two
    /// sets only. The result is what a full recomputation gives, bit for bit.
    fn update_loo(&mut self, changed: &[(usize, f64)], gone: &[u64]) {
        let n = self.len();
        if n < 2 {
            self.loo.clear();
            return;
        }
        self.loo.resize(
            n,
            Loo {
                score: f64::NAN,
                by: u64::MAX,
            },
        );
        let raised: Vec<usize> = changed
            .iter()
            .filter(|&&(j, old)| old.is_nan() || self.densities[j] > old)
            .map(|&(j, _)| j)
            .collect();
        let lowered_ids: std::collections::HashSet<u64> = changed
            .iter()
            .filter(|&&(j, old)| !old.is_nan() && self.densities[j] < old)
            .map(|&(j, _)| self.ids[j])
            .collect();
        let loo: Vec<Loo> = (0..n)
            .into_par_iter()
            .with_min_len(MIN_PAR)
            .map(|i| {
                let old = self.loo[i];
                let stale = old.score.is_nan()
                    || lowered_ids.contains(&old.by)
                    || gone.contains(&old.by)
                    || !self.index.contains_key(&old.by);
                if stale {
                    self.full_loo(i)
                } else {
                    self.loo_over(i, old, raised.iter().copied())
                }
            })
            .collect();
        self.loo = loo;
    }

    /// Adds a normal clip's embedding (normalised to unit length) with its condition tag and returns
    /// its id.
    pub fn add(&mut self, x: &[f32], condition: &str) -> Result<u64, BankError> {
        let x = self.unit(x)?;
        let id = self.next_id;
        self.next_id += 1;
        let d_new: Vec<f64> = (0..self.len())
            .into_par_iter()
            .with_min_len(MIN_PAR)
            .map(|j| self.dist(&x, self.row(j)))
            .collect();
        self.rows.extend_from_slice(&x);
        self.ids.push(id);
        self.conditions.push(condition.to_string());
        self.index.insert(id, self.len() - 1);
        let n = self.len();
        let l = self.density.neighbours_needed(n);
        let mut changed_lists = Vec::new();
        for (j, &d) in d_new.iter().enumerate() {
            let entry = Neighbour { d, id };
            let list = &mut self.lists[j];
            let full = list.len() >= l;
            if full && !list.last().is_some_and(|last| before(&entry, last)) {
                continue;
            }
            let at = list.partition_point(|e| before(e, &entry));
            list.insert(at, entry);
            list.truncate(l);
            changed_lists.push(j);
        }
        self.lists.push(Vec::new());
        self.lists[n - 1] = self.full_list(n - 1);
        changed_lists.push(n - 1);
        if n >= 2 {
            let changed = self.update_densities(&changed_lists);
            self.update_loo(&changed, &[]);
        }
        Ok(id)
    }

    /// Removes a reference.
    pub fn remove(&mut self, id: u64) -> Result<(), BankError> {
        let i = *self.index.get(&id).ok_or(BankError::UnknownId(id))?;
        let last = self.len() - 1;
        // The last reference moves into slot i. Densities and scores exist only from 2 references on.
        self.ids.swap_remove(i);
        self.conditions.swap_remove(i);
        self.lists.swap_remove(i);
        if i < self.densities.len() {
            self.densities.swap_remove(i);
            self.loo.swap_remove(i);
        }
        let dim = self.dim;
        if i != last {
            self.rows.copy_within(last * dim..(last + 1) * dim, i * dim);
            self.index.insert(self.ids[i], i);
        }
        self.rows.truncate(last * dim);
        self.index.remove(&id);
        let n = self.len();
        let l = self.density.neighbours_needed(n);
        let mut changed_lists = Vec::new();
        for j in 0..n {
            let held = self.lists[j].iter().position(|e| e.id == id);
            match held {
                Some(p) => {
                    self.lists[j].remove(p);
                    if self.lists[j].len() < l {
                        self.lists[j] = self.full_list(j);
                    }
                    changed_lists.push(j);
                }
                None if self.lists[j].len() > l => {
                    self.lists[j].truncate(l);
                    changed_lists.push(j);
                }
                None => {}
            }
        }
        if n >= 2 {
            let changed = self.update_densities(&changed_lists);
            self.update_loo(&changed, &[id]);
        } else {
            self.densities.clear();
            self.loo.clear();
        }
        Ok(())
    }

    /// Scores a query: the paper's ratio score over the bank, the reference that attains it, and its
    /// place among the bank's leave-one-out scores.
    pub fn score(&self, x: &[f32]) -> Result<BankScore, BankError> {
        if self.len() < 2 {
            return Err(BankError::TooSmall { n: self.len() });
        }
        let x = self.unit(x)?;
        let mut best = (f64::INFINITY, 0usize);
        for j in 0..self.len() {
            let s = self.dist(&x, self.row(j)) / self.densities[j];
            if s < best.0 {
                best = (s, j);
            }
        }
        let below = self.loo.iter().filter(|l| l.score < best.0).count();
        Ok(BankScore {
            score: best.0,
            reference: self.ids[best.1],
            condition: self.conditions[best.1].clone(),
            percentile: below as f64 / self.loo.len() as f64,
        })
    }

    /// The decision threshold: the `percentile` of a gamma distribution fitted to the leave-one-out
    /// scores (the rule of `asd score`); `None` while they cannot be fitted.
    pub fn threshold(&self, percentile: f64) -> Option<f64> {
        GammaFit::fit(&self.loo_scores()).map(|g| g.percentile(percentile))
    }

    /// The bank's whole state.
    pub fn state(&self) -> BankState {
        BankState {
            conditions: self.conditions.clone(),
            rows: self.rows.clone(),
            ..self.derived_state()
        }
    }

    /// [`ReferenceBank::state`] without the rows and conditions (left empty): what a distance
    /// computation derived from them, for a store that keeps the rows itself (the monitor's
    /// snapshots), without copying N × D values.
    pub fn derived_state(&self) -> BankState {
        BankState {
            dim: self.dim,
            density: self.density,
            distance: self.distance,
            next_id: self.next_id,
            ids: self.ids.clone(),
            conditions: Vec::new(),
            rows: Vec::new(),
            lists: self
                .lists
                .iter()
                .map(|l| l.iter().map(|e| (e.d, e.id)).collect())
                .collect(),
            densities: self.densities.clone(),
            loo: self.loo.iter().map(|l| (l.score, l.by)).collect(),
        }
    }

    /// A bank from a saved state, after checking that the state is one a bank can be in (shapes, ids,
    /// list lengths and order); the values themselves are trusted (`refit` recomputes them).
    pub fn from_state(s: BankState) -> Result<Self, BankError> {
        let bad = |m: String| Err(BankError::Corrupt(m));
        let n = s.ids.len();
        if s.dim == 0 || s.rows.len() != n * s.dim {
            return bad(format!(
                "{} values for {n} references of dimension {}",
                s.rows.len(),
                s.dim
            ));
        }
        let scored = if n >= 2 { n } else { 0 };
        if s.conditions.len() != n
            || s.lists.len() != n
            || s.densities.len() != scored
            || s.loo.len() != scored
        {
            return bad(format!("{n} references but other lengths differ"));
        }
        let mut index = HashMap::new();
        for (i, &id) in s.ids.iter().enumerate() {
            if id >= s.next_id || index.insert(id, i).is_some() {
                return bad(format!("reference id {id} repeated or not below next_id"));
            }
        }
        let l = s.density.neighbours_needed(n);
        for (i, list) in s.lists.iter().enumerate() {
            let ordered = list.windows(2).all(|w| {
                let (a, b) = (w[0], w[1]);
                a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
            });
            let live = list
                .iter()
                .all(|&(d, id)| d.is_finite() && id != s.ids[i] && index.contains_key(&id));
            if list.len() != l || !ordered || !live {
                return bad(format!("neighbour list of reference {}", s.ids[i]));
            }
        }
        if s.loo.iter().any(|&(_, by)| !index.contains_key(&by)) {
            return bad("a leave-one-out score names an unknown reference".into());
        }
        Ok(Self {
            dim: s.dim,
            density: s.density,
            distance: s.distance,
            lists: s
                .lists
                .into_iter()
                .map(|l| l.into_iter().map(|(d, id)| Neighbour { d, id }).collect())
                .collect(),
            loo: s
                .loo
                .into_iter()
                .map(|(score, by)| Loo { score, by })
                .collect(),
            ids: s.ids,
            conditions: s.conditions,
            rows: s.rows,
            densities: s.densities,
            index,
            next_id: s.next_id,
        })
    }

    /// Densities and leave-one-out scores computed from scratch, in bank order.
    pub fn refit(&self) -> Refit {
        let mut fresh = self.clone();
        fresh.rebuild();
        Refit {
            densities: fresh.densities,
            loo: fresh.loo.iter().map(|l| l.score).collect(),
        }
    }
}
