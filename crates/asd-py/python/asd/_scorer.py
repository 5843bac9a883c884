"""`asd.Scorer`: anomaly scores of embeddings against normal references, PyOD-style."""

from __future__ import annotations

import warnings

import numpy as np

from . import _checks, _native

#: Method names and the parameters they take.
METHODS = ("nn", "knn-mean", "ratio", "difference", "lof")


def _method_name(method: str, k, gwrp) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method: expected a name such as 'ratio', got {type(method).__name__}")
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise ValueError(f"k: expected a whole number of at least 1, got {k!r}")
    if gwrp is not None and not (isinstance(gwrp, (int, float)) and 0.0 <= gwrp <= 1.0):
        raise ValueError(f"gwrp: expected the GWRP factor r in [0, 1], got {gwrp!r}")
    if k is not None and gwrp is not None:
        raise ValueError("k, gwrp: give either K (k-NN density) or r (GWRP density), not both")
    if method == "nn":
        if k is not None or gwrp is not None:
            raise ValueError("k, gwrp: nn takes neither")
        return "nn"
    if method in ("knn-mean", "lof"):
        if gwrp is not None:
            raise ValueError(f"gwrp: does not apply to {method}")
        return f"{method}_k{k if k is not None else (16 if method == 'knn-mean' else 8)}"
    if gwrp is not None:
        return f"{method}_gwrp_r{float(gwrp)!r}"
    return f"{method}_k{k if k is not None else 16}"


class Scorer:
    """Scores clips by their embeddings against the normal references of one section.

    Higher scores are more anomalous (as PyOD and the DCASE submission files use them). Methods:

    - ``"ratio"`` (the paper's score): min over references y of d(x, y) / den(y), with den(y) the mean
      cosine distance of y to its ``k`` nearest references (default 16), or with ``gwrp=r`` their
      GWRP-weighted mean;
    - ``"difference"``: d(x, y) − den(y) with the same densities;
    - ``"nn"``: the cosine distance to the nearest reference;
    - ``"knn-mean"``: the mean distance to the ``k`` nearest references;
    - ``"lof"``: scikit-learn's ``LocalOutlierFactor(novelty=True)`` score (``k`` neighbours, default 8).

    Rows are normalised to unit length; computation is float32 as in the reference implementation.
    ``standardize=True`` standardises the score against each domain's references by the mean and
    standard deviation over the queries (the paper's domain-wise standardisation; transductive), so it
    needs ``domain`` labels and at least two queries per call. ``percentile`` sets the decision
    threshold: that percentile of a gamma distribution fitted to the references' leave-one-out scores.
    ``distance="euclidean"`` compares the embeddings as they are, d = 0.25 · ‖x − y‖ (the reference's
    choice for frozen front-ends); ``smote=K`` appends synthetic target references, each on the segment
    between a target reference and one of its K nearest target references, until the domains have equal
    counts (the reference's ``smote``), drawn from ``seed``; they are redrawn from the given references
    whenever references are added or removed.

    >>> import numpy as np, asd
    >>> rng = np.random.default_rng(0)
    >>> refs = 3 + rng.normal(size=(100, 16))  # normal clips share a direction
    >>> s = asd.Scorer("ratio", k=4).fit(refs)
    >>> s.decision_function(refs[:3] + 0.01).shape
    (3,)
    >>> bool(s.decision_function(-refs[:1])[0] > s.threshold_)
    True
    """

    def __init__(self, method: str = "ratio", k=None, gwrp=None, standardize: bool = False,
                 percentile: float = 0.9, distance: str = "cosine", smote=None, seed: int = 0):
        if distance not in ("cosine", "euclidean"):
            raise ValueError(f"distance: expected 'cosine' or 'euclidean', got {distance!r}")
        if smote is not None and (
            isinstance(smote, bool) or not isinstance(smote, (int, np.integer)) or smote < 1
        ):
            raise ValueError(f"smote: expected the number of neighbours K (at least 1), got {smote!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed: expected a whole number in [0, 2**64), got {seed!r}")
        self.smote = None if smote is None else int(smote)
        self.seed = int(seed)
        self.distance = distance
        self.method = method
        self.k = k
        self.gwrp = gwrp
        self.standardize = bool(standardize)
        if not (isinstance(percentile, (int, float)) and 0.0 <= percentile < 1.0):
            raise ValueError(f"percentile: expected a value in [0, 1), got {percentile!r}")
        self.percentile = float(percentile)
        self._name = _method_name(method, k, gwrp)
        if self.standardize and method not in ("nn", "ratio", "difference"):
            raise ValueError(f"standardize: applies to nn, ratio and difference, not {method}")
        self._core = None
        self._threshold = None
        # With SMOTE: the references as given, from which the synthetic ones are drawn anew.
        self._given = None
        self._n_synthetic = 0

    def __repr__(self) -> str:
        fitted = f", {self._core.n_references} references" if self._core is not None else ""
        return f"Scorer({self._name!r}{', standardized' if self.standardize else ''}{fitted})"

    def _fitted(self):
        if self._core is None:
            raise RuntimeError("this Scorer is not fitted yet: call fit(references) first")
        return self._core

    def _warn_clipped(self) -> None:
        clipped = self._core.k_clipped
        if clipped is not None:
            k, available = clipped
            warnings.warn(
                f"K = {k} but the {self._core.n_references} references give only {available} "
                f"neighbours; all {available} are used",
                stacklevel=3,
            )

    def fit(self, references, domain=None) -> "Scorer":
        """Fits on normal reference embeddings (N × D); ``domain``: "source"/"target" per row
        (default: all source). Returns ``self``.

        >>> import numpy as np, asd
        >>> asd.Scorer("nn").fit(np.eye(3)).n_references_
        3
        """
        refs = _checks.matrix(references, "references")
        is_source = _checks.domains(domain, "domain", refs.shape[0])
        if self.standardize and (all(is_source) or not any(is_source)):
            raise ValueError("domain: standardize=True needs references of both domains")
        self._fit_rows(refs, list(is_source))
        return self

    def _fit_rows(self, refs: np.ndarray, is_source: list) -> None:
        """Fits on the given references, with SMOTE's synthetic targets appended where asked."""
        self._n_synthetic = 0
        if self.smote is not None:
            self._given = (refs, is_source)
            extra = _native.smote_rows(refs, is_source, self.smote, self.seed, self.distance)
            if extra.shape[0]:
                self._n_synthetic = extra.shape[0]
                refs = np.vstack([refs, extra])
                is_source = is_source + [False] * extra.shape[0]
        self._core = _native.Scorer(self._name, self.standardize, refs, is_source, self.distance)
        self._threshold = None
        self._warn_clipped()

    def _queries(self, X) -> np.ndarray:
        q = _checks.matrix(X, "X")
        d = self._fitted().dim
        if q.shape[1] != d:
            raise ValueError(f"X: {q.shape[1]} columns, but the references have {d}")
        return q

    def decision_function(self, X) -> np.ndarray:
        """Anomaly score of each row of ``X`` (M × D), higher = more anomalous.

        >>> import numpy as np, asd
        >>> s = asd.Scorer("nn").fit(np.eye(3))
        >>> s.decision_function([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]).tolist()
        [0.0, 0.5]
        """
        return self._fitted().score(self._queries(X))

    @property
    def threshold_(self) -> float:
        """Decision threshold (see ``percentile``); not defined for standardised scores, whose scale
        depends on the queries: use ``predict(X)`` there.

        >>> import numpy as np, asd
        >>> refs = np.random.default_rng(1).normal(size=(50, 8))
        >>> asd.Scorer("ratio", k=4).fit(refs).threshold_ > 0
        True
        """
        core = self._fitted()
        if self.standardize:
            raise AttributeError(
                "threshold_: standardised scores have no threshold of their own; predict(X) "
                "standardises the references' scores with the statistics of X"
            )
        if self._threshold is None:
            t = core.threshold(self.percentile)
            self._threshold = float("inf") if t is None else t
        return self._threshold

    @property
    def decision_scores_(self) -> np.ndarray:
        """Leave-one-out score of each reference against the others (PyOD's training scores).

        >>> import numpy as np, asd
        >>> asd.Scorer("nn").fit(np.eye(3)).decision_scores_.tolist()
        [0.5, 0.5, 0.5]
        """
        return self._fitted().loo_scores()

    def predict(self, X) -> np.ndarray:
        """1 (anomalous) where the score exceeds the threshold, else 0.

        >>> import numpy as np, asd
        >>> refs = 3 + np.random.default_rng(2).normal(size=(60, 8))
        >>> asd.Scorer("ratio", k=4).fit(refs).predict(np.vstack([refs[:1], -refs[:1]])).tolist()
        [0, 1]
        """
        q = self._queries(X)
        core = self._fitted()
        scores = core.score(q)
        if self.standardize:
            t = core.threshold(self.percentile, q)
            t = float("inf") if t is None else t
        else:
            t = self.threshold_
        return (scores > t).astype(np.int64)

    def add_references(self, X, domain=None) -> "Scorer":
        """Appends references (e.g. a few normal clips of a new condition); densities and
        thresholds update as a refit on all rows would give them, without recomputing the rest.

        >>> import numpy as np, asd
        >>> s = asd.Scorer("ratio", k=2).fit(np.eye(4)[:3])
        >>> s.add_references(np.eye(4)[3:], domain="target").n_references_
        4
        """
        x = _checks.matrix(X, "X")
        core = self._fitted()
        if x.shape[1] != core.dim:
            raise ValueError(f"X: {x.shape[1]} columns, but the references have {core.dim}")
        if self.smote is not None:
            refs, src = self._given
            self._fit_rows(
                np.vstack([refs, x]), src + list(_checks.domains(domain, "domain", x.shape[0]))
            )
            return self
        core.add(x, _checks.domains(domain, "domain", x.shape[0]))
        self._threshold = None
        self._warn_clipped()
        return self

    def remove_references(self, idx) -> "Scorer":
        """Removes the references at positions ``idx`` (ints, or a boolean mask); the others keep
        their order. With ``smote``, positions count the given references only (the synthetic ones
        are redrawn).

        >>> import numpy as np, asd
        >>> asd.Scorer("nn").fit(np.eye(4)).remove_references([0, 2]).n_references_
        2
        """
        core = self._fitted()
        n = core.n_references - self._n_synthetic
        a = np.asarray(idx)
        if a.dtype == np.bool_:
            if a.shape != (n,):
                raise ValueError(f"idx: a boolean mask needs {n} values, got shape {a.shape}")
            a = np.flatnonzero(a)
        a = np.atleast_1d(a)
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise TypeError(f"idx: expected integer positions or a boolean mask, got {a.dtype}")
        if (a < 0).any():
            raise ValueError(f"idx: position {int(a[a < 0][0])} is negative")
        if self.smote is not None:
            if (a >= n).any():
                raise ValueError(f"idx: position {int(a[a >= n][0])} is past the {n} references")
            refs, src = self._given
            keep = np.setdiff1d(np.arange(n), a)
            self._fit_rows(refs[keep], [src[i] for i in keep])
            return self
        core.remove([int(i) for i in a])
        self._threshold = None
        return self

    @property
    def n_references_(self) -> int:
        """Number of references (the synthetic ones of ``smote`` included)."""
        return self._fitted().n_references

    @property
    def n_synthetic_(self) -> int:
        """Number of synthetic target references ``smote`` appended (after the given ones)."""
        self._fitted()
        return self._n_synthetic

    @property
    def references_(self) -> np.ndarray:
        """The references, unit-normalised, in order (a copy)."""
        return self._fitted().references

    @property
    def densities_(self):
        """Each reference's local density (``ratio`` and ``difference``; else ``None``)."""
        return self._fitted().densities

    @property
    def method_(self) -> str:
        """The method's full name, as ``asd score`` writes it (e.g. ``ratio_k16``)."""
        return self._fitted().method
