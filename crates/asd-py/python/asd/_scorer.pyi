from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

METHODS: Tuple[str, ...]
_Domains = Union[None, str, Sequence[str]]

class Scorer:
    method: str
    k: Optional[int]
    gwrp: Optional[float]
    standardize: bool
    percentile: float
    distance: str
    smote: Optional[int]
    seed: int
    def __init__(
        self,
        method: str = "ratio",
        k: Optional[int] = None,
        gwrp: Optional[float] = None,
        standardize: bool = False,
        percentile: float = 0.9,
        distance: str = "cosine",
        smote: Optional[int] = None,
        seed: int = 0,
    ) -> None: ...
    def fit(self, references: npt.ArrayLike, domain: _Domains = None) -> "Scorer": ...
    def decision_function(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]: ...
    def add_references(self, X: npt.ArrayLike, domain: _Domains = None) -> "Scorer": ...
    def remove_references(self, idx: npt.ArrayLike) -> "Scorer": ...
    @property
    def threshold_(self) -> float: ...
    @property
    def decision_scores_(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_references_(self) -> int: ...
    @property
    def n_synthetic_(self) -> int: ...
    @property
    def references_(self) -> npt.NDArray[np.float32]: ...
    @property
    def densities_(self) -> Optional[npt.NDArray[np.float64]]: ...
    @property
    def method_(self) -> str: ...
