"""Every public function, class and method documents itself with an example, and every example runs."""

import doctest
import inspect

import pytest

import asd
import asd.io
import asd.metrics
import asd.model
from asd import _scorer

MODULES = [asd, asd.metrics, asd.io, asd.model, _scorer]


def public_objects():
    for obj in [asd.Scorer, asd.Model, asd.metrics.auc, asd.metrics.pauc, asd.metrics.dcase,
                asd.read_embedding_set]:
        yield obj.__qualname__, obj
    for name, member in inspect.getmembers(asd.Scorer):
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
            if name in ("fit", "decision_function", "predict", "add_references",
                        "remove_references", "threshold_", "decision_scores_"):
                yield f"Scorer.{name}", member


@pytest.mark.parametrize("name,obj", list(public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_has_an_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{name} has no example in its docstring"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_examples_run(module):
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{module.__name__}: no examples found"
    assert failed == 0


def test_type_stubs_match_the_runtime(tmp_path):
    # mypy's stubtest imports the installed package and compares every stub with what it finds.
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "asd"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
