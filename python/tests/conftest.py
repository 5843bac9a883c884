"""Shared helpers: the reference fixtures (tests/fixtures/reference, a copy of the authors' and
scikit-learn's numbers) and the relative error the Rust tests use."""

import pathlib

import numpy as np
import pytest

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "reference"


def rel_err(got, want) -> float:
    got = np.asarray(got, dtype=np.float64).ravel()
    want = np.asarray(want, dtype=np.float64).ravel()
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


@pytest.fixture(scope="session")
def fixtures() -> pathlib.Path:
    assert FIXTURES.is_dir(), f"reference fixtures missing at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def scoring_set(fixtures):
    d = fixtures / "scoring"
    load = lambda name: np.load(d / f"{name}.npy")  # noqa: E731
    return {name: load(name) for name in [
        "train_emb", "test_emb", "train_section", "test_section", "train_domain_is_source",
        "test_domain_is_source", "test_is_anomaly",
    ]}
