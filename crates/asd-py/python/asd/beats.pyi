import os
from typing import Optional, Union

import numpy as np
import numpy.typing as npt

class BEATs:
    def __init__(self, native: object) -> None: ...
    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "BEATs": ...
    @property
    def config(self) -> dict: ...
    @property
    def layers(self) -> int: ...
    def embed(
        self,
        waves: npt.ArrayLike,
        sample_rate: int = ...,
        pooling: str = ...,
        layer: Optional[int] = ...,
    ) -> np.ndarray: ...
