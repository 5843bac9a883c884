"""``asd.BEATs``: a pretrained BEATs checkpoint used frozen: embeddings with no training."""

from __future__ import annotations

import json
import os

import numpy as np

from . import _checks, _native

_POOLINGS = ("freq-patch-mean", "mean")


class BEATs:
    """BEATs (the published ``BEATs_iter3*.pt`` checkpoints as they are, or safetensors with the same
    tensor names), inference only, in Rust: equal to the reference code to 1e-4.

    ``embed`` gives MERL's ``BEATs-raw`` embedding by default: the last layer's tokens averaged over
    time per frequency patch (8 × width values; 6144 for the published checkpoints).
    """

    def __init__(self, native):
        self._native = native

    @classmethod
    def load(cls, path) -> "BEATs":
        """Loads a checkpoint (``.pt`` as published, or ``.safetensors``)."""
        return cls(_native.BEATs(os.fspath(path)))

    @property
    def config(self) -> dict:
        """The checkpoint's configuration (``cfg``)."""
        return json.loads(self._native.config)

    @property
    def layers(self) -> int:
        """Transformer layers; ``embed(layer=0)`` is the first layer's input."""
        return self._native.layers

    def embed(self, waves, sample_rate: int = 16_000, pooling: str = "freq-patch-mean", layer=None) -> np.ndarray:
        """Embeds each row of ``waves`` (B × T, or one clip of T samples in [-1, 1]) recorded at
        ``sample_rate`` Hz (resampled to 16 kHz). ``pooling``: ``"freq-patch-mean"`` (MERL's) or
        ``"mean"`` (over every token). ``layer``: 0 to ``layers`` (default the last)."""
        a, rate = _checks.waves(waves, sample_rate)
        if pooling not in _POOLINGS:
            raise ValueError(f"pooling: expected one of {_POOLINGS}, got {pooling!r}")
        if layer is None:
            layer = -1
        elif isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer <= self.layers:
            raise ValueError(f"layer: expected 0 to {self.layers}, got {layer!r}")
        return self._native.embed(a, rate, pooling, int(layer))
