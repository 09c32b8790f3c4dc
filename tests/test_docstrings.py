"""The `>>>` examples of the docstrings of keras_vit.layers, keras_vit.models and keras_vit_cli run and print what
they show.

Every module of those packages with examples runs them, except those in NOT_RUN (with the reason). Shapes are
shown backend-neutral, as tuples (`tuple(x.shape)`), not as a backend's TensorShape. The examples run with `np`,
`keras`, `ops` (keras.ops) and `keras_vit` besides the module's own names, in a temporary working directory.
"""

import doctest
import importlib
import io
import pkgutil

import keras
import numpy as np
import pytest

import keras_vit

PACKAGES = ("keras_vit.layers", "keras_vit.models", "keras_vit_cli")
NOT_RUN = {
    "keras_vit.models.saving": "its examples load runs/digits/model.keras, the output of a training run",
}


def modules_with_examples():
    names = []
    for package in PACKAGES:
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
            names.append(info.name)
    return sorted(name for name in names if examples_of(importlib.import_module(name)))


def examples_of(module):
    globs = {"np": np, "keras": keras, "ops": keras.ops, "keras_vit": keras_vit, **vars(module)}
    return [test for test in doctest.DocTestFinder().find(module, module.__name__, globs=globs) if test.examples]


MODULES = modules_with_examples()


def test_every_module_not_run_has_examples_and_a_reason():
    assert set(NOT_RUN) <= set(MODULES) and all(NOT_RUN.values())


@pytest.mark.parametrize("name", [name for name in MODULES if name not in NOT_RUN])
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may save a file
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in examples_of(importlib.import_module(name)):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
    keras.backend.clear_session()
