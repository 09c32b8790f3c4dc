"""LayerNorm: Keras's LayerNormalization over the last axis with a written-out gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import layer_norm_of, random_normal, randomize
from keras_vit.layers import LayerNorm


def pair(shape, epsilon=1e-6, seed=0, **kwargs):
    """A built LayerNorm and a keras.layers.LayerNormalization with the same (perturbed) weights."""
    ours = LayerNorm(epsilon=epsilon, **kwargs)
    ours.build(shape)
    randomize(ours, seed, scale=0.5, add=True)
    theirs = keras.layers.LayerNormalization(epsilon=epsilon, **kwargs)
    theirs.build(shape)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def gradients(layer, inputs, upstream):
    """d sum(upstream * layer(inputs)) / d (inputs, *trainable weights), through TensorFlow's tape."""
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = tf.cast(layer(inputs), tf.float32)
    return [g.numpy() for g in tape.gradient(outputs, [inputs, *layer.trainable_variables],
                                             output_gradients=tf.constant(upstream, tf.float32))]


@pytest.mark.parametrize("shape", [(3, 5, 16), (2, 4, 3, 8), (6, 32)])
def test_layer_norm_matches_numpy(shape):
    inputs = random_normal(shape, seed=1) * 3 + 1
    ours, _ = pair(shape)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(inputs)), layer_norm_of(inputs.astype("float64"), ours),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 5, 16), (2, 4, 3, 8)])
def test_layer_norm_gradients_equal_keras_autodiff(shape):
    inputs = random_normal(shape, seed=2) * 3 + 1
    upstream = random_normal(shape, seed=3)
    ours, theirs = pair(shape)
    for name, mine, reference in zip(("inputs", "gamma", "beta"), gradients(ours, inputs, upstream),
                                     gradients(theirs, inputs, upstream)):
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5, err_msg=name)


def test_layer_norm_input_gradient_matches_central_differences():
    shape = (2, 6)
    inputs = random_normal(shape, seed=4).astype("float64") * 2
    upstream = random_normal(shape, seed=5).astype("float64")
    ours, _ = pair(shape)
    step, expected = 1e-5, np.zeros(shape)
    for index in np.ndindex(shape):
        delta = np.zeros(shape)
        delta[index] = step
        plus, minus = layer_norm_of(inputs + delta, ours), layer_norm_of(inputs - delta, ours)
        expected[index] = np.sum(upstream * (plus - minus)) / (2 * step)
    actual = gradients(ours, inputs.astype("float32"), upstream.astype("float32"))[0]
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-4)


def test_layer_norm_in_mixed_bfloat16_computes_in_float32_and_returns_bfloat16():
    shape = (4, 7, 24)
    inputs = random_normal(shape, seed=6) * 3
    ours, theirs = pair(shape, dtype="mixed_bfloat16")
    outputs = ours(inputs)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32")),
                                  keras.ops.convert_to_numpy(keras.ops.cast(theirs(inputs), "float32")))
    upstream = random_normal(shape, seed=7)
    for mine, reference in zip(gradients(ours, inputs, upstream), gradients(theirs, inputs, upstream)):
        np.testing.assert_allclose(mine, reference, rtol=2e-2, atol=2e-2)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")  # deprecated by Keras, still a form it takes
@pytest.mark.parametrize("kwargs", [{"axis": (1, 2)}, {"rms_scaling": True}, {"center": False}, {"scale": False}])
def test_layer_norm_other_forms_take_the_keras_path(kwargs):
    shape = (2, 3, 4, 8)
    inputs = random_normal(shape, seed=8)
    ours, theirs = pair(shape, **kwargs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(inputs)), keras.ops.convert_to_numpy(theirs(inputs)),
                               rtol=1e-6, atol=1e-6)
    upstream = random_normal(shape, seed=9)
    for mine, reference in zip(gradients(ours, inputs, upstream), gradients(theirs, inputs, upstream)):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_layer_norm_trains_like_keras_in_a_compiled_model(jit_compile):
    def model_with(norm):
        inputs = keras.Input((5, 8))
        x = norm(keras.layers.Dense(8)(inputs))
        return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x)))

    ours, theirs = model_with(LayerNorm()), model_with(keras.layers.LayerNormalization())
    randomize(ours, 10, scale=0.3, add=True)
    theirs.set_weights(ours.get_weights())
    data = random_normal((16, 5, 8), seed=11), random_normal((16, 1), seed=12)
    losses = []
    for model in (ours, theirs):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=jit_compile)
        losses.append([float(model.train_on_batch(*data)) for _ in range(4)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][3] < losses[0][0]
    for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-6)


def test_layer_norm_keeps_the_keras_weight_names():
    # Weight layouts and checkpoint import address LayerNorm's weights as the Keras layer's.
    ours, theirs = pair((2, 8))
    assert [w.path.split("/")[-1] for w in ours.weights] == [w.path.split("/")[-1] for w in theirs.weights] \
        == ["gamma", "beta"]
