"""Embedding-set folders and embeddings from a model: the network fixture through the Python API."""

import numpy as np
import pytest

import asd
from conftest import rel_err


def test_embedding_sets_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 8)).astype(np.float32)
    rec = {"file": ["a.wav", "b.wav", "c.wav"], "machine_type": "fan", "section": ["00", "00", "01"],
           "domain": ["source", "target", "source"], "split": ["train", "test", "test"],
           "label": ["normal", "anomaly", "unknown"], "attribute": ""}
    asd.write_embedding_set(tmp_path / "set", emb, rec)
    s = asd.read_embedding_set(tmp_path / "set")
    np.testing.assert_array_equal(s.embeddings, emb)
    assert s.records["label"].tolist() == ["normal", "anomaly", "unknown"]
    assert s.records["machine_type"].tolist() == ["fan"] * 3
    asd.write_embedding_set(tmp_path / "again", s)
    np.testing.assert_array_equal(asd.read_embedding_set(tmp_path / "again").embeddings, emb)


def test_embedding_set_errors_name_the_path_or_the_value(tmp_path):
    with pytest.raises(OSError) as e:
        asd.read_embedding_set(tmp_path / "missing")
    assert "missing" in str(e.value) and "cannot read" in str(e.value)
    rec = {"file": ["a.wav"], "machine_type": "fan", "section": "00", "domain": "tgt",
           "split": "train", "label": "normal", "attribute": ""}
    with pytest.raises(ValueError, match="row 0.*tgt"):
        asd.write_embedding_set(tmp_path / "bad", np.ones((1, 4)), rec)
    with pytest.raises(ValueError, match="missing column"):
        asd.write_embedding_set(tmp_path / "bad", np.ones((1, 4)), {"file": ["a.wav"]})
    assert not (tmp_path / "bad").exists()


def test_the_reference_network_embeds_as_the_authors_code(fixtures, tmp_path):
    net = fixtures / "network"
    asd.Model.import_torch(net / "weights.safetensors", tmp_path / "model", clip_len=160_000)
    model = asd.Model.load(tmp_path / "model")
    assert (model.sample_rate, model.clip_len) == (16_000, 160_000)
    wave = np.load(net / "wave.npy")
    emb = model.embed(wave, 16_000)
    assert rel_err(emb, np.load(net / "eval_emb.npy")) < 1e-3
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # The same clips at 32 kHz are resampled to 16 kHz first: nearly the same embeddings.
    up = np.repeat(wave, 2, axis=1)
    assert rel_err(model.embed(up, 32_000), emb) < 0.2


def test_model_errors_name_the_argument(tmp_path):
    with pytest.raises(OSError, match="config.json"):
        asd.Model.load(tmp_path)
    asd.Model.init_untrained(tmp_path / "m", clip_len=80_000, seed=1)
    m = asd.Model.load(tmp_path / "m")
    with pytest.raises(ValueError, match="waves: clip 1 holds nan at sample 3"):
        w = np.zeros((2, 100), np.float32)
        w[1, 3] = np.nan
        m.embed(w, 16_000)
    with pytest.raises(ValueError, match="sample_rate"):
        m.embed(np.zeros((1, 100)), 0)
