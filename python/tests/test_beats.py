"""``asd.BEATs`` gives the reference code's ``BEATs-raw`` embedding (``beats/pooled_*``) from the
official checkpoint layout, and refuses bad input with a named error."""

import numpy as np
import pytest

import asd
from conftest import rel_err


@pytest.mark.parametrize("weights", ["model.pt", "weights.safetensors"])
@pytest.mark.parametrize("case", ["clip10s", "clip6s"])
def test_pooled_embeddings_equal_the_reference(fixtures, weights, case):
    m = asd.BEATs.load(fixtures / "beats" / weights)
    assert m.layers == 2 and m.config["encoder_embed_dim"] == 192
    wave = np.load(fixtures / "beats" / f"wave_{case}.npy")
    want = np.load(fixtures / "beats" / f"pooled_{case}.npy")
    got = m.embed(wave)
    assert got.shape == want.shape
    assert rel_err(got, want) < 1e-4
    # The mean over every token is the mean of the per-frequency-patch means.
    mean = m.embed(wave, pooling="mean")
    assert rel_err(mean, got.reshape(len(wave), 8, -1).mean(axis=1)) < 1e-5


def test_bad_input_is_refused_with_a_named_error(fixtures, tmp_path):
    m = asd.BEATs.load(fixtures / "beats" / "model.pt")
    with pytest.raises(ValueError, match="shorter than one BEATs patch"):
        m.embed(np.zeros((1, 1000), dtype=np.float32))
    with pytest.raises(ValueError, match="layer"):
        m.embed(np.zeros((1, 16000), dtype=np.float32), layer=3)
    with pytest.raises(ValueError, match="pooling"):
        m.embed(np.zeros((1, 16000), dtype=np.float32), pooling="max")
    bad = tmp_path / "not_beats.pt"
    bad.write_bytes(b"PK\x03\x04 certainly not a checkpoint")
    with pytest.raises(ValueError, match="not_beats.pt"):
        asd.BEATs.load(bad)
    with pytest.raises(OSError, match="missing.pt"):
        asd.BEATs.load(tmp_path / "missing.pt")
