"""Argument checks shared by the public functions: every message names the argument."""

from __future__ import annotations

import numpy as np


def matrix(x, name: str) -> np.ndarray:
    """A 2-D float32 array, without a copy where `x` already is one (C or Fortran order)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected an array of numbers, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (one row per clip), got {a.ndim}-D with shape {a.shape}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{name}: no rows (an empty set)")
    if a.dtype != np.float32:
        # The scores are computed in float32, as the reference implementation (PyTorch) does.
        a = a.astype(np.float32)
    return a


def vector(x, name: str, n: int | None = None, dtype=np.float64) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {a.ndim}-D with shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: {a.shape[0]} values, expected {n}")
    if dtype is np.float64:
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{name}: expected numbers, got dtype {a.dtype}")
        a = np.ascontiguousarray(a, dtype=np.float64)
        bad = ~np.isfinite(a)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}: value {i} is {a[i]}, not a finite number")
    return a


def labels(x, name: str, n: int) -> list:
    """0/1 or boolean labels as a list of bool."""
    a = vector(x, name, n, dtype=None)
    if a.dtype == np.bool_:
        return a.tolist()
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected booleans or 0/1, got dtype {a.dtype}")
    bad = (a != 0) & (a != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: value {i} is {a[i]}; expected 0/1 or True/False")
    return (a == 1).tolist()


def domains(domain, name: str, n: int) -> list:
    """`None` (all source) or one of "source"/"target" per row, as a list of is-source flags."""
    if domain is None:
        return [True] * n
    if isinstance(domain, str):
        words = [domain] * n
    else:
        words = list(domain)
    if len(words) != n:
        raise ValueError(f"{name}: {len(words)} labels for {n} rows")
    out = []
    for i, w in enumerate(words):
        w = str(w).strip().lower()
        if w not in ("source", "target"):
            raise ValueError(f"{name}: label {i} is {words[i]!r}; expected 'source' or 'target'")
        out.append(w == "source")
    return out


def waves(x, sample_rate, name: str = "waves") -> tuple:
    """A (clips × samples) float32 C-order array of finite samples (one clip of T samples becomes
    1 × T) and a positive whole sample rate, or a TypeError/ValueError naming the argument."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected samples as numbers, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected a (clips × samples) array, got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        i, j = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{name}: clip {i} holds {a[i, j]} at sample {j}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate < 1:
        raise ValueError(f"sample_rate: expected a positive whole number of Hz, got {sample_rate!r}")
    return a, int(sample_rate)
