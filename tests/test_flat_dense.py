"""flat_dense: a Dense layer over the rows of a token tensor."""

import keras
import numpy as np
import pytest

from keras_vit.layers.flat_dense import flat_dense


@pytest.mark.parametrize("shape", [(2, 5, 4), (2, 3, 3, 4), (7, 4)])
def test_flat_dense_equals_the_dense_layer_on_any_rank(shape):
    dense = keras.layers.Dense(6)
    inputs = np.random.default_rng(0).normal(size=shape).astype("float32")
    outputs = keras.ops.convert_to_numpy(flat_dense(dense, inputs))
    assert outputs.shape == shape[:-1] + (6,)
    np.testing.assert_allclose(outputs, keras.ops.convert_to_numpy(dense(inputs)), rtol=1e-6, atol=1e-6)
