//! Blocked distance kernels.
//!
//! Queries are processed in blocks of [`QUERY_BLOCK`] rows (in parallel) against references in blocks of
//! [`REF_BLOCK`] rows; each block's inner products come from one single-precision GEMM and are reduced at
//! once, so no M × N matrix is ever held. Cosine: d = ½(1 − s) with s the inner product of unit
//! vectors. Euclidean: d = 0.25 · √(‖x‖² + ‖y‖² − 2s) on copies of both sides centred on the
//! references' mean (f64), which keeps the cancellation small for embeddings far from the origin
//! (the distance does not change under a shift; the squared norms are summed in f64).

use crate::distance::Distance;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;

pub const QUERY_BLOCK: usize = 256;
pub const REF_BLOCK: usize = 1024;

/// "No reference to skip" marker for the `skip` arguments.
pub const NO_SKIP: usize = usize::MAX;

/// Computes one block of similarities: `out[i * nr + j] = ⟨q_i, r_j⟩`.
fn sim_block(q: ArrayView2<f32>, r: ArrayView2<f32>, out: &mut [f32]) {
    asd_kernels::gemm::sgemm_abt(q, r, out);
}

/// Visits every (query block, reference block) similarity tile, query blocks in parallel.
///
/// `init` makes the per-query state of one query block; `visit(state, q0, r0, tile, nq, nr)` folds the
/// tile in; the states are returned in query order.
fn for_each_tile<S, I, V>(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    init: I,
    visit: V,
) -> Vec<S>
where
    S: Send,
    I: Fn(usize) -> S + Sync,
    V: Fn(&mut S, usize, usize, &[f32], usize, usize) + Sync,
{
    assert_eq!(queries.ncols(), refs.ncols(), "dimension mismatch");
    let m = queries.nrows();
    let n = refs.nrows();
    let starts: Vec<usize> = (0..m).step_by(QUERY_BLOCK).collect();
    starts
        .into_par_iter()
        .map(|q0| {
            let nq = QUERY_BLOCK.min(m - q0);
            let qb = queries.slice(ndarray::s![q0..q0 + nq, ..]);
            let mut state = init(nq);
            let mut tile = vec![0f32; nq * REF_BLOCK.min(n.max(1))];
            for r0 in (0..n).step_by(REF_BLOCK) {
                let nr = REF_BLOCK.min(n - r0);
                let rb = refs.slice(ndarray::s![r0..r0 + nr, ..]);
                let t = &mut tile[..nq * nr];
                sim_block(qb, rb, t);
                visit(&mut state, q0, r0, t, nq, nr);
            }
            state
        })
        .collect()
}

#[inline]
fn cosine(sim: f32) -> f64 {
    0.5 * (1.0 - sim as f64)
}

/// Both sides of a distance computation in the form the kernels multiply: as given for the cosine
/// distance; centred on the references' mean, with squared norms, for the Euclidean one.
struct Geometry<'a> {
    queries: ArrayView2<'a, f32>,
    refs: ArrayView2<'a, f32>,
    /// The centred copies (Euclidean only).
    centred: Option<(Array2<f32>, Array2<f32>)>,
    qn: Vec<f64>,
    rn: Vec<f64>,
}

fn squared_norms(x: &Array2<f32>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect()
}

impl<'a> Geometry<'a> {
    fn new(queries: ArrayView2<'a, f32>, refs: ArrayView2<'a, f32>, distance: Distance) -> Self {
        let mut g = Self {
            queries,
            refs,
            centred: None,
            qn: Vec::new(),
            rn: Vec::new(),
        };
        if distance == Distance::Euclidean {
            let mut centre = vec![0.0f64; refs.ncols()];
            for r in refs.rows() {
                for (c, &v) in centre.iter_mut().zip(r) {
                    *c += f64::from(v);
                }
            }
            let n = refs.nrows().max(1) as f64;
            let centre: Vec<f32> = centre.iter().map(|c| (c / n) as f32).collect();
            let shift = |x: ArrayView2<f32>| {
                let mut y = x.to_owned();
                for mut row in y.axis_iter_mut(Axis(0)) {
                    for (v, c) in row.iter_mut().zip(&centre) {
                        *v -= c;
                    }
                }
                y
            };
            let (q, r) = (shift(queries), shift(refs));
            g.qn = squared_norms(&q);
            g.rn = squared_norms(&r);
            g.centred = Some((q, r));
        }
        g
    }

    fn queries(&self) -> ArrayView2<'_, f32> {
        match &self.centred {
            Some((q, _)) => q.view(),
            None => self.queries.view(),
        }
    }

    fn refs(&self) -> ArrayView2<'_, f32> {
        match &self.centred {
            Some((_, r)) => r.view(),
            None => self.refs.view(),
        }
    }

    /// The distance of query i and reference j whose inner product (as multiplied) is `s`.
    #[inline]
    fn d(&self, i: usize, j: usize, s: f32) -> f64 {
        if self.centred.is_some() {
            0.25 * (self.qn[i] + self.rn[j] - 2.0 * f64::from(s))
                .max(0.0)
                .sqrt()
        } else {
            cosine(s)
        }
    }
}

/// For each query i: min over references j (`j ≠ skip[i]`) of `alpha[j] · d(q_i, r_j) + beta[j]`.
///
/// This one reduction covers the nearest neighbour (α = 1, β = 0), the ratio re-scaling (α = 1/den),
/// the difference (β = −den) and their domain-wise standardisation.
pub fn min_affine(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    alpha: &[f64],
    beta: &[f64],
    skip: Option<&[usize]>,
    distance: Distance,
) -> Vec<f64> {
    assert_eq!(alpha.len(), refs.nrows());
    assert_eq!(beta.len(), refs.nrows());
    let g = Geometry::new(queries, refs, distance);
    let blocks = for_each_tile(
        g.queries(),
        g.refs(),
        |nq| vec![f64::INFINITY; nq],
        |best, q0, r0, tile, nq, nr| {
            for i in 0..nq {
                let row = &tile[i * nr..(i + 1) * nr];
                let skip_j = skip.map_or(NO_SKIP, |s| s[q0 + i]);
                let mut b = best[i];
                for (j, &s) in row.iter().enumerate() {
                    let v = alpha[r0 + j] * g.d(q0 + i, r0 + j, s) + beta[r0 + j];
                    if v < b && r0 + j != skip_j {
                        b = v;
                    }
                }
                best[i] = b;
            }
        },
    );
    blocks.into_iter().flatten().collect()
}

#[derive(Clone, Copy, PartialEq)]
struct Entry {
    dist: f64,
    index: usize,
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    // Ties broken by index so that results do not depend on the block order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.index.cmp(&other.index))
    }
}

/// The k nearest references of each query, ascending by distance: (distances, indices), each of
/// length `min(k, n)` per query.
pub struct Neighbours {
    pub k: usize,
    pub dist: Vec<f64>,
    pub index: Vec<usize>,
}

impl Neighbours {
    pub fn dist_row(&self, i: usize) -> &[f64] {
        &self.dist[i * self.k..(i + 1) * self.k]
    }
    pub fn index_row(&self, i: usize) -> &[usize] {
        &self.index[i * self.k..(i + 1) * self.k]
    }
    pub fn rows(&self) -> usize {
        self.dist.len().checked_div(self.k).unwrap_or(0)
    }
}

/// The distance above which an entry cannot enter a heap of the k smallest: its largest entry's
/// once it is full, else +∞. An entry at exactly this distance still needs [`offer`] (ties are
/// broken by index).
#[inline]
fn admission(heap: &BinaryHeap<Entry>, k: usize) -> f64 {
    match heap.peek() {
        Some(top) if heap.len() >= k => top.dist,
        _ => f64::INFINITY,
    }
}

/// Offers the distances `dists` (with their reference indices) to one heap. Most are rejected
/// by one comparison with the cached admission distance, which [`offer`] alone would make with a
/// heap peek and a two-key comparison each: the same heap, fewer branches.
#[inline]
fn offer_all(heap: &mut BinaryHeap<Entry>, k: usize, dists: impl Iterator<Item = (usize, f64)>) {
    let mut worst = admission(heap, k);
    for (index, dist) in dists {
        if dist > worst {
            continue;
        }
        offer(heap, k, Entry { dist, index });
        worst = admission(heap, k);
    }
}

/// Keeps the k smallest entries offered to it.
fn offer(heap: &mut BinaryHeap<Entry>, k: usize, e: Entry) {
    if heap.len() < k {
        heap.push(e);
    } else if let Some(top) = heap.peek()
        && e < *top
    {
        heap.pop();
        heap.push(e);
    }
}

fn into_neighbours(heaps: impl IntoIterator<Item = BinaryHeap<Entry>>, k: usize) -> Neighbours {
    let (mut dist, mut index) = (Vec::new(), Vec::new());
    for heap in heaps {
        for e in heap.into_sorted_vec() {
            dist.push(e.dist);
            index.push(e.index);
        }
    }
    Neighbours { k, dist, index }
}

/// The `k` nearest of every reference among the references themselves (itself included), with
/// each pair's similarity computed once: the tile of blocks (I, J), I < J, serves the rows of I
/// and, read by columns, those of J. Half the matrix products of `k_nearest(refs, refs, k)`, the
/// fit's whole cost. Which pairs a heap sees first does not matter: it keeps the k smallest by
/// (distance, index), a total order, so the result does not depend on the thread count.
pub fn k_nearest_self(refs: ArrayView2<f32>, k: usize, distance: Distance) -> Neighbours {
    let g = Geometry::new(refs, refs, distance);
    let refs = g.refs();
    let n = refs.nrows();
    let k = k.min(n);
    let b = QUERY_BLOCK;
    let blocks = n.div_ceil(b);
    let rows = |i: usize| b.min(n - i * b);
    let heaps: Vec<Mutex<Vec<BinaryHeap<Entry>>>> = (0..blocks)
        .map(|i| Mutex::new(vec![BinaryHeap::with_capacity(k + 1); rows(i)]))
        .collect();
    // A poisoned lock means a panic elsewhere, which rayon re-raises; the heaps are still whole.
    let lock = |i: usize| heaps[i].lock().unwrap_or_else(|e| e.into_inner());
    let pairs: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|i| (i..blocks).map(move |j| (i, j)))
        .collect();
    if k > 0 {
        pairs
            .into_par_iter()
            .for_each_init(Vec::new, |tile: &mut Vec<f32>, (bi, bj)| {
                let (ni, nj) = (rows(bi), rows(bj));
                tile.resize(ni * nj, 0.0);
                let ri = refs.slice(ndarray::s![bi * b..bi * b + ni, ..]);
                let rj = refs.slice(ndarray::s![bj * b..bj * b + nj, ..]);
                sim_block(ri, rj, tile);
                {
                    let mut hi = lock(bi);
                    for (r, heap) in hi.iter_mut().enumerate() {
                        let i = bi * b + r;
                        let row = tile[r * nj..(r + 1) * nj].iter().copied();
                        offer_all(
                            heap,
                            k,
                            row.enumerate()
                                .map(|(c, s)| (bj * b + c, g.d(i, bj * b + c, s))),
                        );
                    }
                }
                if bi != bj {
                    // The tile's columns, read with a stride (the tile stays in cache).
                    let mut hj = lock(bj);
                    for (c, heap) in hj.iter_mut().enumerate() {
                        let j = bj * b + c;
                        let col =
                            (0..ni).map(|r| (bi * b + r, g.d(j, bi * b + r, tile[r * nj + c])));
                        offer_all(heap, k, col);
                    }
                }
            });
    }
    into_neighbours(
        heaps
            .into_iter()
            .flat_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())),
        k,
    )
}

/// The reference pairs whose similarity `k_nearest_self` computes for n references: every pair
/// once, the diagonal tiles whole.
pub fn self_pairs_computed(n: usize) -> usize {
    let b = QUERY_BLOCK;
    let diagonal: usize = (0..n).step_by(b).map(|i| b.min(n - i).pow(2)).sum();
    (n * n + diagonal) / 2
}

/// Finds the `k` nearest references of every query (bounded max-heaps, one per query).
pub fn k_nearest(
    queries: ArrayView2<f32>,
    refs: ArrayView2<f32>,
    k: usize,
    distance: Distance,
) -> Neighbours {
    let k = k.min(refs.nrows());
    let g = Geometry::new(queries, refs, distance);
    let blocks = for_each_tile(
        g.queries(),
        g.refs(),
        |nq| {
            (0..nq)
                .map(|_| BinaryHeap::<Entry>::with_capacity(k + 1))
                .collect::<Vec<_>>()
        },
        |heaps, q0, r0, tile, nq, nr| {
            if k == 0 {
                return;
            }
            for (i, heap) in heaps.iter_mut().enumerate().take(nq) {
                let row = tile[i * nr..(i + 1) * nr].iter().copied();
                offer_all(
                    heap,
                    k,
                    row.enumerate()
                        .map(|(j, s)| (r0 + j, g.d(q0 + i, r0 + j, s))),
                );
            }
        },
    );
    into_neighbours(blocks.into_iter().flatten(), k)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    pub(crate) fn random_unit(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut a = Array2::from_shape_fn((n, d), |_| rng.random::<f32>() - 0.5);
        for mut row in a.rows_mut() {
            let norm = row.dot(&row).sqrt();
            row /= norm;
        }
        a
    }

    fn naive_dist(q: &Array2<f32>, r: &Array2<f32>, i: usize, j: usize) -> f64 {
        0.5 * (1.0
            - q.row(i)
                .iter()
                .zip(r.row(j))
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum::<f64>())
    }

    #[test]
    fn min_affine_matches_naive_across_block_boundaries() {
        let q = random_unit(QUERY_BLOCK + 7, 16, 1);
        let r = random_unit(REF_BLOCK + 13, 16, 2);
        let alpha: Vec<f64> = (0..r.nrows()).map(|j| 1.0 + (j % 5) as f64).collect();
        let beta: Vec<f64> = (0..r.nrows()).map(|j| -0.01 * (j % 3) as f64).collect();
        let skip: Vec<usize> = (0..q.nrows())
            .map(|i| if i % 2 == 0 { i } else { NO_SKIP })
            .collect();
        let got = min_affine(
            q.view(),
            r.view(),
            &alpha,
            &beta,
            Some(&skip),
            Distance::Cosine,
        );
        for i in [0, 1, 100, QUERY_BLOCK, QUERY_BLOCK + 6] {
            let want = (0..r.nrows())
                .filter(|&j| j != skip[i])
                .map(|j| alpha[j] * naive_dist(&q, &r, i, j) + beta[j])
                .fold(f64::INFINITY, f64::min);
            assert!(
                (got[i] - want).abs() < 1e-6,
                "query {i}: {} vs {want}",
                got[i]
            );
        }
    }

    /// The symmetric search finds what the general one finds, across block boundaries, for k
    /// below, at and above a block's size, and for k = 0.
    #[test]
    fn k_nearest_self_equals_k_nearest_of_refs_against_refs() {
        let r = random_unit(2 * QUERY_BLOCK + 37, 12, 5);
        for k in [0, 1, 5, QUERY_BLOCK + 3, r.nrows() + 2] {
            let sym = k_nearest_self(r.view(), k, Distance::Cosine);
            let general = k_nearest(r.view(), r.view(), k, Distance::Cosine);
            assert_eq!(sym.k, general.k);
            assert_eq!(sym.index, general.index, "k = {k}");
            for (a, b) in sym.dist.iter().zip(&general.dist) {
                assert!((a - b).abs() < 1e-7, "k = {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn self_pairs_counts_diagonal_tiles_whole() {
        assert_eq!(self_pairs_computed(10), 100);
        let b = QUERY_BLOCK;
        // Two full blocks: both diagonal tiles and one off-diagonal tile.
        assert_eq!(self_pairs_computed(2 * b), 3 * b * b);
        assert_eq!(self_pairs_computed(b + 1), b * b + b + 1);
    }

    #[test]
    fn k_nearest_is_sorted_and_exact() {
        let q = random_unit(30, 8, 3);
        let r = random_unit(REF_BLOCK + 50, 8, 4);
        let nb = k_nearest(q.view(), r.view(), 5, Distance::Cosine);
        for i in 0..q.nrows() {
            let mut all: Vec<(f64, usize)> = (0..r.nrows())
                .map(|j| (naive_dist(&q, &r, i, j), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let want: Vec<usize> = all[..5].iter().map(|x| x.1).collect();
            assert_eq!(nb.index_row(i), &want[..]);
            assert!(nb.dist_row(i).windows(2).all(|w| w[0] <= w[1]));
        }
    }

    /// Points far from the origin (a mean of 20 per coordinate, spread 1): what the raw embeddings of
    /// a frozen front-end look like.
    fn offset_points(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| 20.0 + rng.random::<f32>() - 0.5)
    }

    fn naive_euclid(q: &Array2<f32>, r: &Array2<f32>, i: usize, j: usize) -> f64 {
        0.25 * q
            .row(i)
            .iter()
            .zip(r.row(j))
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn euclidean_kernels_equal_the_naive_distance_far_from_the_origin() {
        let q = offset_points(QUERY_BLOCK + 7, 24, 7);
        let r = offset_points(300, 24, 8);
        let n = r.nrows();
        let got = min_affine(
            q.view(),
            r.view(),
            &vec![1.0; n],
            &vec![0.0; n],
            None,
            Distance::Euclidean,
        );
        let nb = k_nearest(q.view(), r.view(), 6, Distance::Euclidean);
        for i in [0, 3, QUERY_BLOCK + 6] {
            let mut all: Vec<(f64, usize)> =
                (0..n).map(|j| (naive_euclid(&q, &r, i, j), j)).collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            // f32 products of centred values: a relative error of a few 1e-7 of the distance.
            assert!(
                (got[i] - all[0].0).abs() < 1e-5 * all[0].0,
                "{} vs {}",
                got[i],
                all[0].0
            );
            for (k, &(d, _)) in all[..6].iter().enumerate() {
                assert!((nb.dist_row(i)[k] - d).abs() < 1e-5 * d);
            }
        }
        let sym = k_nearest_self(r.view(), 5, Distance::Euclidean);
        let general = k_nearest(r.view(), r.view(), 5, Distance::Euclidean);
        assert_eq!(sym.index, general.index);
        // Each point is its own nearest, at distance 0 up to rounding.
        for i in 0..n {
            assert_eq!(sym.index_row(i)[0], i);
            assert!(sym.dist_row(i)[0] < 1e-3);
        }
    }
}
