"""The Scorer as a PyOD-style estimator: thresholds, incremental references, LOF against
scikit-learn, and the error messages of bad input."""

import warnings

import numpy as np
import pytest
from sklearn.neighbors import LocalOutlierFactor

import asd


def unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 5, 8, 20])
def test_lof_equals_scikit_learn_novelty_mode(k):
    rng = np.random.default_rng(k)
    refs, q = unit(rng, 300, 24), unit(rng, 100, 24)
    lof = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(refs)
    want = -lof.score_samples(q)
    got = asd.Scorer("lof", k=k).fit(refs).decision_function(q)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("method,kw", [
    ("nn", {}), ("knn-mean", {"k": 4}), ("ratio", {"k": 16}), ("ratio", {"gwrp": 0.9}),
    ("difference", {"k": 3}), ("lof", {"k": 8}),
])
def test_adding_and_removing_references_equals_a_refit(method, kw):
    rng = np.random.default_rng(7)
    refs, new, q = unit(rng, 300, 32), unit(rng, 12, 32), unit(rng, 50, 32)
    dom = np.where(np.arange(300) % 5 == 0, "target", "source")
    s = asd.Scorer(method, **kw).fit(refs, domain=dom)
    s.add_references(new, domain="target")
    s.remove_references([0, 7, 299, 305])
    keep = [i for i in range(312) if i not in (0, 7, 299, 305)]
    all_rows = np.vstack([refs, new])[keep]
    all_dom = np.concatenate([dom, ["target"] * 12])[keep]
    refit = asd.Scorer(method, **kw).fit(all_rows, domain=all_dom)
    np.testing.assert_array_equal(s.decision_function(q), refit.decision_function(q))
    np.testing.assert_array_equal(s.decision_scores_, refit.decision_scores_)
    assert s.threshold_ == refit.threshold_
    if s.densities_ is not None:
        np.testing.assert_array_equal(s.densities_, refit.densities_)


def test_enrolling_target_clips_lowers_their_scores_without_refitting_the_rest():
    rng = np.random.default_rng(3)
    source = unit(rng, 200, 16) + np.float32(2.0) * np.eye(16, dtype=np.float32)[0]
    target = unit(rng, 40, 16) + np.float32(2.0) * np.eye(16, dtype=np.float32)[1]
    s = asd.Scorer("ratio", k=8).fit(source)
    before = s.decision_function(target[10:]).mean()
    s.add_references(target[:10], domain="target")
    after = s.decision_function(target[10:]).mean()
    assert after < before / 2


def test_threshold_is_the_gamma_percentile_of_leave_one_out_scores():
    rng = np.random.default_rng(4)
    refs = unit(rng, 400, 16)
    s = asd.Scorer("ratio", k=8, percentile=0.9).fit(refs)
    loo = s.decision_scores_
    # A gamma fit's 90th percentile lies near the empirical one.
    assert np.quantile(loo, 0.8) < s.threshold_ < np.quantile(loo, 0.97)
    high = asd.Scorer("ratio", k=8, percentile=0.99).fit(refs)
    assert high.threshold_ > s.threshold_
    labels = s.predict(refs)
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (s.decision_function(refs) > s.threshold_).astype(int))


def test_standardized_scores_need_both_domains_and_predict_with_the_queries_statistics():
    rng = np.random.default_rng(5)
    refs, q = unit(rng, 100, 8), unit(rng, 30, 8)
    dom = np.where(np.arange(100) < 80, "source", "target")
    s = asd.Scorer("ratio", k=4, standardize=True).fit(refs, domain=dom)
    scores = s.decision_function(q)
    assert scores.shape == (30,)
    with pytest.raises(AttributeError, match="predict"):
        s.threshold_
    assert s.predict(q).shape == (30,)
    with pytest.raises(ValueError, match="both domains"):
        asd.Scorer("ratio", standardize=True).fit(refs)
    with pytest.raises(ValueError, match="standardize"):
        asd.Scorer("lof", standardize=True)


def test_k_beyond_the_references_is_clipped_with_a_warning():
    rng = np.random.default_rng(6)
    refs, q = unit(rng, 5, 8), unit(rng, 3, 8)
    with pytest.warns(UserWarning, match="K = 16 but the 5 references give only 4"):
        clipped = asd.Scorer("ratio", k=16).fit(refs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact = asd.Scorer("ratio", k=4).fit(refs)
    np.testing.assert_array_equal(clipped.decision_function(q), exact.decision_function(q))


@pytest.mark.parametrize("bad,exc,words", [
    (np.full((4, 3), np.nan), ValueError, ["references", "row 0", "NaN", "column 0"]),
    (np.ones(5), ValueError, ["references", "2-D", "1-D"]),
    (np.zeros((0, 8)), ValueError, ["references", "no rows"]),
    (np.array([["a", "b"]]), TypeError, ["references", "dtype"]),
])
def test_bad_references_name_the_argument_and_the_problem(bad, exc, words):
    with pytest.raises(exc) as e:
        asd.Scorer("ratio").fit(bad)
    for w in words:
        assert w in str(e.value)


def test_bad_queries_and_parameters_name_the_argument():
    rng = np.random.default_rng(8)
    s = asd.Scorer("ratio", k=2).fit(unit(rng, 10, 8))
    with pytest.raises(ValueError, match="X: 4 columns, but the references have 8"):
        s.decision_function(np.ones((2, 4)))
    q = unit(rng, 3, 8)
    q[2, 5] = np.inf
    with pytest.raises(ValueError, match="row 2 holds inf at column 5"):
        s.decision_function(q)
    with pytest.raises(ValueError, match="method: 'cosine'"):
        asd.Scorer("cosine")
    with pytest.raises(ValueError, match="k: "):
        asd.Scorer("ratio", k=0)
    with pytest.raises(ValueError, match="gwrp: "):
        asd.Scorer("ratio", gwrp=1.5)
    with pytest.raises(ValueError, match="not both"):
        asd.Scorer("ratio", k=4, gwrp=0.5)
    with pytest.raises(ValueError, match="domain: label 1 is 'tgt'"):
        asd.Scorer("nn").fit(np.eye(2), domain=["source", "tgt"])
    with pytest.raises(ValueError, match="out of range"):
        s.remove_references([10])
    with pytest.raises(RuntimeError, match="not fitted"):
        asd.Scorer("nn").decision_function(np.eye(2))
    with pytest.raises(ValueError, match="at least 2"):
        asd.Scorer("ratio").fit(np.eye(3)[:1])
    assert s.n_references_ == 10, "failed calls change nothing"


def test_one_query_costs_little_beyond_the_computation():
    # Not a timing test: a single query goes through the same path and gives the batch's value.
    rng = np.random.default_rng(9)
    refs, q = unit(rng, 50, 8), unit(rng, 4, 8)
    s = asd.Scorer("ratio", k=4).fit(refs)
    batch = s.decision_function(q)
    singles = [s.decision_function(q[i:i + 1])[0] for i in range(4)]
    np.testing.assert_array_equal(batch, singles)


def _on_a_target_segment(p, targets, tol):
    """Whether p = a + t (b - a) for some targets a, b and t in [0, 1]."""
    for i, a in enumerate(targets):
        for b in targets[i + 1:]:
            d = b - a
            t = float(np.dot(p - a, d) / np.dot(d, d))
            if -tol <= t <= 1 + tol and np.linalg.norm(a + np.clip(t, 0, 1) * d - p) <= tol * (
                1 + np.linalg.norm(a)
            ):
                return True
    return False


def test_smote_balances_the_domains_with_points_on_target_segments_drawn_from_the_seed():
    rng = np.random.default_rng(5)
    src = 3 + rng.normal(size=(40, 6))
    tgt = -2 + rng.normal(size=(6, 6))
    refs = np.vstack([src, tgt])
    dom = ["source"] * 40 + ["target"] * 6
    s = asd.Scorer("ratio", k=4, distance="euclidean", smote=3, seed=11).fit(refs, dom)
    assert s.n_synthetic_ == 34 and s.n_references_ == 80
    synth = s.references_[46:]
    np.testing.assert_array_equal(s.references_[:46], refs.astype(np.float32))
    tol = 1e-5
    assert all(_on_a_target_segment(p, tgt.astype(np.float32), tol) for p in synth)
    # Only the K nearest targets are partners: with K = 1 each point joins a target and its nearest.
    nearest = asd.Scorer("nn", distance="euclidean", smote=1, seed=3).fit(refs, dom)
    d = np.linalg.norm(tgt[:, None] - tgt[None], axis=2) + np.eye(6) * 1e9
    pairs = {tuple(sorted((i, int(np.argmin(d[i]))))) for i in range(6)}
    for p in nearest.references_[46:]:
        assert any(_on_a_target_segment(p, tgt[list(ij)].astype(np.float32), tol) for ij in pairs)
    # Same seed, same points; another seed, others.
    again = asd.Scorer("ratio", k=4, distance="euclidean", smote=3, seed=11).fit(refs, dom)
    np.testing.assert_array_equal(again.references_, s.references_)
    other = asd.Scorer("ratio", k=4, distance="euclidean", smote=3, seed=12).fit(refs, dom)
    assert not np.array_equal(other.references_[46:], synth)
    # The scores are those of a plain Scorer fitted on the given and the synthetic references.
    plain = asd.Scorer("ratio", k=4, distance="euclidean").fit(
        s.references_, dom + ["target"] * 34
    )
    q = rng.normal(size=(5, 6))
    np.testing.assert_array_equal(s.decision_function(q), plain.decision_function(q))


def test_smote_is_redrawn_when_references_change_and_leaves_balanced_sets_alone():
    rng = np.random.default_rng(6)
    refs = rng.normal(size=(20, 5))
    dom = ["source"] * 14 + ["target"] * 6
    s = asd.Scorer("nn", smote=2).fit(refs, dom)
    assert s.n_synthetic_ == 8
    s.add_references(rng.normal(size=(3, 5)), domain="source")
    assert s.n_synthetic_ == 11 and s.n_references_ == 34
    s.remove_references([0, 1])
    assert s.n_synthetic_ == 9 and s.n_references_ == 30
    with pytest.raises(ValueError, match="past the 21 references"):
        s.remove_references([21])
    # Domains already balanced, or fewer than two targets: nothing is added.
    assert asd.Scorer("nn", smote=2).fit(refs[:12], ["source"] * 6 + ["target"] * 6).n_synthetic_ == 0
    assert asd.Scorer("nn", smote=2).fit(refs[:8], ["source"] * 7 + ["target"]).n_synthetic_ == 0
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="smote"):
            asd.Scorer("nn", smote=bad)
