"""The README's Python example runs as printed and gives the reference official score."""

import contextlib
import io
import json
import pathlib
import re

import numpy as np

import asd

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## Use from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def write_fixture_set(fixtures, out):
    """The set `asd demo --reference` writes: the scoring fixture as one embedding-set folder."""
    d = fixtures / "scoring"
    train, test = np.load(d / "train_emb.npy"), np.load(d / "test_emb.npy")
    n_tr, n_te = len(train), len(test)
    sec = [f"{s:02d}" for s in np.concatenate([np.load(d / "train_section.npy"),
                                               np.load(d / "test_section.npy")])]
    src = np.concatenate([np.load(d / "train_domain_is_source.npy"),
                          np.load(d / "test_domain_is_source.npy")])
    anomaly = np.load(d / "test_is_anomaly.npy")
    asd.write_embedding_set(out, np.vstack([train, test]), {
        "file": [f"train_{i}.wav" for i in range(n_tr)] + [f"test_{i}.wav" for i in range(n_te)],
        "machine_type": "fixture",
        "section": sec,
        "domain": np.where(src == 1, "source", "target"),
        "split": ["train"] * n_tr + ["test"] * n_te,
        "label": ["normal"] * n_tr + ["anomaly" if a else "normal" for a in anomaly],
        "attribute": "",
    })


def test_readme_example_reproduces_the_reference_official_score(fixtures, tmp_path, monkeypatch):
    write_fixture_set(fixtures, tmp_path / "ref" / "embeddings")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(readme_example(), "README.md", "exec"), {})
    official, auc_target = (float(v) for v in out.getvalue().split())
    want = json.loads((fixtures / "scoring" / "metrics_official.json").read_text())["ratio_k16"]
    assert abs(official - want["official_score_hmean"]) < 1e-12
    assert abs(auc_target - want["sections"][0]["auc_target"]) < 1e-12
