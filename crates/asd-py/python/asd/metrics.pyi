from typing import Any, Dict, Optional, Sequence, Union

import numpy.typing as npt

__all__ = ["auc", "pauc", "dcase"]

_ArrayLike = npt.ArrayLike
_Labels = Union[str, Sequence[str], Sequence[int], npt.ArrayLike]

def auc(y_true: _ArrayLike, y_score: _ArrayLike) -> float: ...
def pauc(y_true: _ArrayLike, y_score: _ArrayLike, max_fpr: float = 0.1) -> float: ...
def dcase(
    scores: _ArrayLike,
    is_anomaly: _ArrayLike,
    is_target: Optional[_ArrayLike] = None,
    section: Optional[_Labels] = None,
    decisions: Optional[_ArrayLike] = None,
    edition: int = 2023,
    machine_type: Optional[_Labels] = None,
    max_fpr: float = 0.1,
) -> Dict[str, Any]: ...
