"""``asd.Model``: embeddings of waveforms from a trained model folder (``asd train``, ``asd model
import``)."""

from __future__ import annotations

import os

import numpy as np

from . import _checks, _native


class Model:
    """A trained embedding network, in eval mode (BatchNorm folded into the convolutions).

    >>> import asd, numpy as np, os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "model")
    >>> asd.Model.init_untrained(out, clip_len=80_000, seed=0)  # or import_torch, or `asd train`
    >>> m = asd.Model.load(out)
    >>> m.embed(np.random.default_rng(0).normal(size=(2, 40_000)), sample_rate=8_000).shape
    (2, 512)
    """

    def __init__(self, native):
        self._native = native

    @classmethod
    def load(cls, path) -> "Model":
        """Loads a model folder (``config.json``, ``weights.safetensors``, ...)."""
        if not getattr(_native, "HAS_MODEL", False):
            raise RuntimeError("this build of asd has no model support (built without the 'model' feature)")
        return cls(_native.Model(os.fspath(path)))

    @staticmethod
    def import_torch(weights, out, clip_len: int = 160_000) -> None:
        """Writes a model folder from the reference implementation's PyTorch state dict
        (safetensors); ``clip_len`` is the clip length in samples at 16 kHz."""
        if isinstance(clip_len, bool) or not isinstance(clip_len, (int, np.integer)) or clip_len < 1:
            raise ValueError(f"clip_len: expected a positive number of samples, got {clip_len!r}")
        _native.Model.import_torch(os.fspath(weights), os.fspath(out), int(clip_len))

    @staticmethod
    def init_untrained(out, clip_len: int = 160_000, seed: int = 0) -> None:
        """Writes a model folder holding a freshly initialised (untrained) network: a stand-in with a
        trained model's cost, for tests and benchmarks."""
        if isinstance(clip_len, bool) or not isinstance(clip_len, (int, np.integer)) or clip_len < 1:
            raise ValueError(f"clip_len: expected a positive number of samples, got {clip_len!r}")
        _native.Model.init_untrained(os.fspath(out), int(clip_len), int(seed))

    @property
    def sample_rate(self) -> int:
        """The rate the network was trained at (Hz)."""
        return self._native.sample_rate

    @property
    def clip_len(self) -> int:
        """Samples per clip at ``sample_rate``; longer clips are cropped, shorter ones tiled."""
        return self._native.clip_len

    def embed(self, waves, sample_rate: int) -> np.ndarray:
        """Embeds each row of ``waves`` (B × T, or one clip of T samples) recorded at ``sample_rate``
        Hz: resampled to the model's rate, tiled or cropped to its clip length; unit vectors (B × 512).
        """
        a, rate = _checks.waves(waves, sample_rate)
        return self._native.embed(a, rate)
