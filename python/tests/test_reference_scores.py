"""Every scoring method reproduces the reference fixtures (the authors' implementation and
scikit-learn on synthetic unit vectors), section by section as `asd score` computes them."""

import json

import numpy as np
import pytest

import asd
from conftest import rel_err

CASES = [
    ("scores_nn.npy", dict(method="nn")),
    ("scores_ratio_k1.npy", dict(method="ratio", k=1)),
    ("scores_ratio_k16.npy", dict(method="ratio", k=16)),
    ("scores_ratio_gwrp_r0.5.npy", dict(method="ratio", gwrp=0.5)),
    ("scores_ratio_gwrp_r0.9.npy", dict(method="ratio", gwrp=0.9)),
    ("scores_difference_k16.npy", dict(method="difference", k=16)),
    ("scores_difference_gwrp_r0.9.npy", dict(method="difference", gwrp=0.9)),
    ("scores_lof_k8.npy", dict(method="lof", k=8)),
    ("scores_ratio_k16_standardized.npy", dict(method="ratio", k=16, standardize=True)),
]


def domain_words(is_source):
    return np.where(is_source == 1, "source", "target")


def score_sections(s, **kwargs):
    out = np.full(len(s["test_emb"]), np.nan)
    for sec in np.unique(s["test_section"]):
        tr = s["train_section"] == sec
        te = s["test_section"] == sec
        scorer = asd.Scorer(**kwargs).fit(
            s["train_emb"][tr], domain=domain_words(s["train_domain_is_source"][tr])
        )
        out[te] = scorer.decision_function(s["test_emb"][te])
    return out


@pytest.mark.parametrize("file,kwargs", CASES, ids=[c[0] for c in CASES])
def test_scores_match_the_reference(fixtures, scoring_set, file, kwargs):
    want = np.load(fixtures / "scoring" / file)
    got = score_sections(scoring_set, **kwargs)
    assert rel_err(got, want) < 1e-4


@pytest.mark.parametrize("file,kwargs", CASES, ids=[c[0] for c in CASES])
def test_official_metrics_match_the_reference(fixtures, scoring_set, file, kwargs):
    s = scoring_set
    want = json.loads((fixtures / "scoring" / "metrics_official.json").read_text())
    name = file[len("scores_"):-len(".npy")]
    scores = np.load(fixtures / "scoring" / file)
    r = asd.metrics.dcase(scores, s["test_is_anomaly"], s["test_domain_is_source"] == 0,
                          s["test_section"])
    for got, ref in zip(r["sections"], want[name]["sections"]):
        assert got["section"] == f"{ref['section']:02d}"
        for key in ["auc_source", "auc_target", "pauc", "pauc_source", "pauc_target",
                    "simple_auc_source", "simple_auc_target"]:
            assert got[key] == pytest.approx(ref[key], abs=1e-12), key
    assert r["official_score"] == pytest.approx(want[name]["official_score_hmean"], abs=1e-12)


def test_float64_and_fortran_order_inputs_score_as_float32(scoring_set):
    s = scoring_set
    tr, te = s["train_section"] == 0, s["test_section"] == 0
    refs, q = s["train_emb"][tr], s["test_emb"][te]
    base = asd.Scorer("ratio", k=16).fit(refs).decision_function(q)
    for r, x in [(refs.astype(np.float64), q.astype(np.float64)),
                 (np.asfortranarray(refs), np.asfortranarray(q)),
                 (refs.tolist(), q.tolist())]:
        np.testing.assert_array_equal(asd.Scorer("ratio", k=16).fit(r).decision_function(x), base)


@pytest.mark.parametrize("name,kwargs", [
    ("scores_nn.npy", dict(method="nn")),
    ("scores_ratio_k16.npy", dict(method="ratio", k=16)),
    ("scores_ratio_gwrp_r0.9.npy", dict(method="ratio", gwrp=0.9)),
    ("scores_difference_k16.npy", dict(method="difference", k=16)),
])
def test_raw_embeddings_with_the_euclidean_distance(fixtures, name, kwargs):
    d = fixtures / "scoring_euclidean"
    load = lambda n: np.load(d / f"{n}.npy")  # noqa: E731
    tr, te = load("train_emb"), load("test_emb")
    trs, tes, dom = load("train_section"), load("test_section"), load("train_domain_is_source")
    want = np.load(d / name)
    got = np.full(len(te), np.nan)
    for sec in np.unique(tes):
        s = asd.Scorer(distance="euclidean", **kwargs).fit(
            tr[trs == sec], domain=domain_words(dom[trs == sec]))
        got[tes == sec] = s.decision_function(te[tes == sec])
    assert rel_err(got, want) < 1e-4
