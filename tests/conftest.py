"""Shared fixtures of the keras_vit test suite."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def seeded():
    """Seeds Keras, NumPy and Python; returns a NumPy generator seeded the same way."""
    keras.utils.set_random_seed(1234)
    return np.random.default_rng(1234)


@pytest.fixture
def dtype_policy(request):
    """Sets the global dtype policy for one test (parametrize it indirectly) and restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)
