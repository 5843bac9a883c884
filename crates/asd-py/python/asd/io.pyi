from os import PathLike
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

COLUMNS: Tuple[str, ...]
_Path = Union[str, PathLike[str]]

@dataclass
class EmbeddingSet:
    embeddings: npt.NDArray[np.float32]
    records: Dict[str, npt.NDArray[np.str_]]
    def __len__(self) -> int: ...

def read_embedding_set(path: _Path) -> EmbeddingSet: ...
def write_embedding_set(
    path: _Path,
    embeddings: Union[npt.ArrayLike, EmbeddingSet],
    records: Optional[Dict[str, object]] = None,
) -> None: ...
