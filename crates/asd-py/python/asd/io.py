"""The project's embedding-set folders: ``embeddings.npy`` (N × D float32) and ``index.csv`` (one
record per row), as ``asd embed`` writes them and ``asd score`` reads them."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import _checks, _native

#: The record columns of ``index.csv``, in order.
COLUMNS = ("file", "machine_type", "section", "domain", "split", "label", "attribute")


@dataclass
class EmbeddingSet:
    """Embeddings (N × D float32) and their records: one array of strings per column of
    ``COLUMNS`` (``pandas.DataFrame(s.records)`` gives a table)."""

    embeddings: np.ndarray
    records: dict

    def __len__(self) -> int:
        return self.embeddings.shape[0]


def read_embedding_set(path) -> EmbeddingSet:
    """Reads and checks an embedding-set folder (equal row counts, finite values).

    >>> import asd, numpy as np, tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "set")
    >>> rec = {"file": ["a.wav", "b.wav"], "machine_type": "fan", "section": "00",
    ...        "domain": "source", "split": "train", "label": "normal", "attribute": ""}
    >>> asd.write_embedding_set(d, np.eye(2), rec)
    >>> s = asd.read_embedding_set(d)
    >>> len(s), s.records["file"].tolist()
    (2, ['a.wav', 'b.wav'])
    """
    emb, columns = _native.read_embedding_set(os.fspath(path))
    return EmbeddingSet(emb, {c: np.asarray(v, dtype=str) for c, v in zip(COLUMNS, columns)})


def write_embedding_set(path, embeddings, records=None) -> None:
    """Writes an embedding-set folder atomically. ``records`` maps each name of ``COLUMNS`` to one
    value per row (or one value for all rows); ``domain`` is source/target/unknown, ``split``
    train/test, ``label`` normal/anomaly/unknown. An ``EmbeddingSet`` may be passed as
    ``embeddings`` alone. See ``read_embedding_set`` for an example."""
    if isinstance(embeddings, EmbeddingSet) and records is None:
        embeddings, records = embeddings.embeddings, embeddings.records
    emb = _checks.matrix(embeddings, "embeddings")
    n = emb.shape[0]
    if not isinstance(records, dict):
        raise TypeError(f"records: expected a dict of columns, got {type(records).__name__}")
    missing = [c for c in COLUMNS if c not in records]
    if missing:
        raise ValueError(f"records: missing column(s) {', '.join(missing)}")
    columns = []
    for c in COLUMNS:
        v = records[c]
        if isinstance(v, str):
            columns.append([v] * n)
            continue
        v = [str(x) for x in np.asarray(v, dtype=object).ravel()]
        if len(v) != n:
            raise ValueError(f"records: column {c} has {len(v)} values for {n} rows")
        columns.append(v)
    _native.write_embedding_set(os.fspath(path), np.ascontiguousarray(emb), columns)
