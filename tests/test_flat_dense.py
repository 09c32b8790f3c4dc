"""flat_dense (a Dense layer over the rows of a token tensor) and exact_gelu (the erf GELU computed in float32)."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_vit.layers.flat_dense import exact_gelu, flat_dense


@pytest.mark.parametrize("shape", [(2, 5, 4), (2, 3, 3, 4), (7, 4)])
def test_flat_dense_equals_the_dense_layer_on_any_rank(shape):
    dense = keras.layers.Dense(6)
    inputs = np.random.default_rng(0).normal(size=shape).astype("float32")
    outputs = keras.ops.convert_to_numpy(flat_dense(dense, inputs))
    assert outputs.shape == shape[:-1] + (6,)
    np.testing.assert_allclose(outputs, keras.ops.convert_to_numpy(dense(inputs)), rtol=1e-6, atol=1e-6)


def test_exact_gelu_is_the_erf_form():
    values = np.linspace(-6, 6, 101).astype("float32")
    reference = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in values.astype("float64")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exact_gelu(values)), reference, rtol=1e-6, atol=1e-7)


def test_exact_gelu_keeps_a_bfloat16_input_s_dtype_and_rounds_the_float32_result():
    values = ops.convert_to_tensor(np.linspace(-4, 4, 33), "bfloat16")
    outputs = exact_gelu(values)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    expected = ops.cast(keras.activations.gelu(ops.cast(values, "float32"), approximate=False), "bfloat16")
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.cast(outputs, "float32")),
                                  ops.convert_to_numpy(ops.cast(expected, "float32")))
