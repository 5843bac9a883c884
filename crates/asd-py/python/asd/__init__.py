"""Anomalous sound detection for machine condition monitoring.

The density re-scaled anomaly scores of Wilkinghoff et al., "Keeping the Balance: Anomaly Score
Calculation for Domain Generalization" (ICASSP 2025) and their baselines (``Scorer``), the DCASE task 2
metrics exactly as the official evaluator computes them (``asd.metrics``), the project's embedding-set
folders, and embeddings from trained models (``Model``). The work runs in Rust with the GIL released.

>>> import numpy as np, asd
>>> rng = np.random.default_rng(0)
>>> refs, queries = rng.normal(size=(200, 32)), rng.normal(size=(10, 32))
>>> scores = asd.Scorer("ratio", k=16).fit(refs).decision_function(queries)
>>> scores.shape, bool((scores > 0).all())
((10,), True)
"""

from . import metrics
from .beats import BEATs
from ._native import __version__
from ._scorer import METHODS, Scorer
from .io import COLUMNS, EmbeddingSet, read_embedding_set, write_embedding_set
from .model import Model

__all__ = [
    "BEATs",
    "METHODS",
    "COLUMNS",
    "EmbeddingSet",
    "Model",
    "Scorer",
    "metrics",
    "read_embedding_set",
    "write_embedding_set",
    "__version__",
]
