from . import metrics as metrics
from .beats import BEATs as BEATs
from ._scorer import METHODS as METHODS, Scorer as Scorer
from .io import (
    COLUMNS as COLUMNS,
    EmbeddingSet as EmbeddingSet,
    read_embedding_set as read_embedding_set,
    write_embedding_set as write_embedding_set,
)
from .model import Model as Model

__version__: str
__all__ = ["BEATs", "COLUMNS", "EmbeddingSet", "METHODS", "Model", "Scorer", "__version__", "metrics", "read_embedding_set", "write_embedding_set"]
