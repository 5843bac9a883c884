"""The DCASE task 2 metrics, as scikit-learn and the official evaluator compute them.

``auc`` and ``pauc`` equal ``sklearn.metrics.roc_auc_score`` (ties included; ``pauc`` is its
McClish-standardised partial AUC); ``dcase`` gives every section's metrics and the official score
as ``dcase2023_task2_evaluator.py`` does (used unchanged for 2023–2026; the 2021/2022 definitions
are the same, DCASE 2020 has no domains).
"""

from __future__ import annotations

import json

import numpy as np

from . import _checks, _native

__all__ = ["auc", "pauc", "dcase"]


def auc(y_true, y_score) -> float:
    """Area under the ROC curve; anomalies (``y_true`` 1/True) are the positive class.

    >>> from asd.metrics import auc
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    s = _checks.vector(y_score, "y_score")
    return _native.auc(_checks.labels(y_true, "y_true", s.shape[0]), s)


def pauc(y_true, y_score, max_fpr: float = 0.1) -> float:
    """Partial AUC up to ``max_fpr``, standardised as ``roc_auc_score(max_fpr=...)``.

    >>> from asd.metrics import pauc
    >>> round(pauc([0, 0, 0, 1, 1], [0.1, 0.2, 0.9, 0.8, 0.7], max_fpr=0.5), 4)
    0.5556
    """
    s = _checks.vector(y_score, "y_score")
    if not (isinstance(max_fpr, (int, float)) and 0.0 < max_fpr <= 1.0):
        raise ValueError(f"max_fpr: must lie in (0, 1], got {max_fpr!r}")
    return _native.pauc(_checks.labels(y_true, "y_true", s.shape[0]), s, float(max_fpr))


def _words(x, name: str, n: int) -> list:
    if x is None:
        return ["00"] * n
    if isinstance(x, str):
        return [x] * n
    a = np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected {n} labels, got shape {a.shape}")
    if a.dtype.kind in "iu":
        return [f"{int(v):02d}" for v in a]
    return [str(v) for v in a]


def dcase(scores, is_anomaly, is_target=None, section=None, decisions=None, edition: int = 2023,
          machine_type=None, max_fpr: float = 0.1) -> dict:
    """Per-section metrics and the official score of a DCASE task 2 edition.

    ``is_target`` is True for target-domain clips (not used for 2020); ``section`` labels each clip's
    section (integers are written as two digits, ``0`` → ``"00"``); ``machine_type`` is needed where
    several machine types share section names; ``decisions`` (0/1 per clip) adds precision, recall
    and F1 per domain. The result holds ``official_score`` (harmonic mean over every section's AUC
    (source), AUC (target) and pAUC; for 2020 AUC and pAUC), ``official_score_ci95`` (the
    evaluator's jackknife, 2023 on) and ``sections``: one dict per section with ``auc_source``,
    ``auc_target``, ``pauc``, ``pauc_source``, ``pauc_target``, ``precision_source``, … (``None``
    where undefined, with ``notes``).

    >>> from asd.metrics import dcase
    >>> r = dcase([0.1, 0.2, 0.9, 0.3, 0.8, 0.7], [0, 0, 1, 0, 1, 1], [0, 0, 0, 1, 1, 1], [0] * 6)
    >>> r["sections"][0]["auc_source"], r["sections"][0]["auc_target"]
    (1.0, 1.0)
    """
    s = _checks.vector(scores, "scores")
    n = s.shape[0]
    anomaly = _checks.labels(is_anomaly, "is_anomaly", n)
    target = None if is_target is None else _checks.labels(is_target, "is_target", n)
    decided = None if decisions is None else _checks.labels(decisions, "decisions", n)
    if isinstance(edition, bool) or not isinstance(edition, (int, np.integer)):
        raise TypeError(f"edition: expected a year such as 2023, got {edition!r}")
    if not (isinstance(max_fpr, (int, float)) and 0.0 < max_fpr <= 1.0):
        raise ValueError(f"max_fpr: must lie in (0, 1], got {max_fpr!r}")
    text = _native.dcase(
        s, anomaly, target, _words(section, "section", n),
        _words(machine_type if machine_type is not None else "", "machine_type", n),
        decided, int(edition), float(max_fpr),
    )
    return json.loads(text)
