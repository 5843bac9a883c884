"""AUC, pAUC and the DCASE evaluator's numbers: against scikit-learn and the official evaluator."""

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import asd
from asd.metrics import auc, dcase, pauc


@pytest.mark.parametrize("seed", range(20))
def test_auc_and_pauc_equal_scikit_learn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    # Few distinct values: many ties, which the tie-corrected curve must count as scikit-learn does.
    s = rng.integers(0, 1 + seed % 7, n) / 3.0 if seed % 2 else rng.normal(size=n)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    for max_fpr in (0.05, 0.1, 0.5, 1.0):
        assert pauc(y, s, max_fpr) == pytest.approx(roc_auc_score(y, s, max_fpr=max_fpr), abs=1e-12)


def test_auc_cases_fixture(fixtures):
    for case in json.loads((fixtures / "metrics" / "auc_cases.json").read_text()):
        assert auc(case["y_true"], case["score"]) == pytest.approx(case["auc"], abs=1e-12)
        for p in (0.1, 0.2):
            got = pauc(case["y_true"], case["score"], max_fpr=p)
            assert got == pytest.approx(case[f"pauc_max_fpr_{p}"], abs=1e-12)


def read_rows(path):
    with open(path, newline="") as f:
        return [row for row in csv.reader(f) if row]


def test_the_official_evaluator_fixture(fixtures):
    ev = fixtures / "evaluator"
    want = json.loads((ev / "values.json").read_text())
    scores, anomaly, target, section, machine, decision = [], [], [], [], [], []
    for truth in sorted((ev / "ground_truth_data").glob("ground_truth_*_section_*_test.csv")):
        m, sec = truth.stem[len("ground_truth_"):-len("_test")].split("_section_")
        labels = dict(read_rows(truth))
        domains = dict(read_rows(ev / "ground_truth_domain" / truth.name))
        sub = ev / "submission"
        given = dict(read_rows(sub / f"anomaly_score_{m}_section_{sec}_test.csv"))
        decided = dict(read_rows(sub / f"decision_result_{m}_section_{sec}_test.csv"))
        for clip, label in labels.items():
            scores.append(float(given[clip]))
            anomaly.append(int(label))
            target.append(int(domains[clip]))
            section.append(sec)
            machine.append(m)
            decision.append(int(decided[clip]))
    r = dcase(scores, anomaly, target, section, decisions=decision, machine_type=machine)
    assert r["official_score"] == pytest.approx(want["official_score"], abs=1e-12)
    assert r["official_score_ci95"] == pytest.approx(want["official_score_ci95"], rel=1e-9)
    names = {
        "AUC (all)": "auc", "AUC (source)": "auc_source", "AUC (target)": "auc_target",
        "pAUC": "pauc", "pAUC (source)": "pauc_source", "pAUC (target)": "pauc_target",
        "precision (source)": "precision_source", "precision (target)": "precision_target",
        "recall (source)": "recall_source", "recall (target)": "recall_target",
        "F1 score (source)": "f1_source", "F1 score (target)": "f1_target",
    }
    got = {(s["machine_type"], s["section"]): s for s in r["sections"]}
    assert len(got) == len(want["sections"])
    for ref in want["sections"]:
        mine = got[(ref["machine_type"], ref["section"])]
        for theirs, ours in names.items():
            assert mine[ours] == pytest.approx(ref[theirs], abs=1e-12), (ref["machine_type"], theirs)


def test_dcase_2020_has_no_domains():
    r = dcase([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], None, ["01"] * 4, edition=2020)
    sec = r["sections"][0]
    assert sec["auc"] == 1.0 and sec["auc_source"] is None
    assert r["official_score"] == pytest.approx(1.0)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: auc([0, 1, 2], [0.1, 0.2, 0.3]), ValueError, ["y_true", "value 2"]),
    (lambda: auc([0, 1], [0.1, np.nan]), ValueError, ["y_score", "value 1", "nan"]),
    (lambda: auc([0, 1], [0.1]), ValueError, ["y_true", "2 values, expected 1"]),
    (lambda: auc([0, 0], [0.1, 0.2]), ValueError, ["no anomal"]),
    (lambda: pauc([0, 1], [0.1, 0.2], max_fpr=0), ValueError, ["max_fpr"]),
    (lambda: dcase([0.1, 0.2], [0, 1], None, None), ValueError, ["is_target"]),
    (lambda: dcase([0.1, 0.2], [0, 1], [0, 1], None, edition=2019), ValueError, ["edition"]),
    (lambda: dcase([0.1, 0.2], [0, 1], [0, 1], ["00"]), ValueError, ["section", "expected 2"]),
])
def test_bad_metric_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as e:
        call()
    for w in words:
        assert w in str(e.value), str(e.value)
