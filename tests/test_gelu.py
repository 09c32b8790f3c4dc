"""exact_gelu: the erf GELU computed in float32, and its written-out gradient."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_vit.layers import MLP, gelu as gelu_module
from keras_vit.layers.gelu import exact_gelu


def reference_gelu(x):
    """0.5 x (1 + erf(x / sqrt 2)) in float64."""
    return np.array([0.5 * value * (1 + math.erf(value / math.sqrt(2))) for value in np.asarray(x, "float64")])


def gradient_of(function, values, upstream):
    """d sum(upstream * function(values)) / d values, through TensorFlow's tape."""
    values = tf.constant(values)
    with tf.GradientTape() as tape:
        tape.watch(values)
        outputs = tf.cast(function(values), tf.float32)
    return tape.gradient(outputs, values, output_gradients=tf.constant(upstream, tf.float32)).numpy()


def test_exact_gelu_in_inference_is_the_exact_erf_form():
    values = np.linspace(-6, 6, 101).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exact_gelu(values)), reference_gelu(values),
                               rtol=1e-6, atol=1e-7)


def test_exact_gelu_in_training_is_the_erf_form_within_its_documented_error():
    positive = np.linspace(0, 6, 101).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(exact_gelu(positive, training=True)),
                               reference_gelu(positive), rtol=1e-6, atol=1e-7)
    # For x < 0, float32 rounds 1 + erf(x / sqrt 2) (as PyTorch's and JAX's erf form do): 1e-6 at most.
    negative = np.linspace(-12, 0, 241, endpoint=False).astype("float32")
    outputs = keras.ops.convert_to_numpy(exact_gelu(negative, training=True))
    np.testing.assert_allclose(outputs, reference_gelu(negative), rtol=0, atol=1e-6)
    assert np.all(outputs <= 0)


@pytest.mark.parametrize("training", [False, True])
def test_exact_gelu_keeps_a_bfloat16_input_s_dtype_and_rounds_the_float32_result(training):
    values = ops.convert_to_tensor(np.linspace(-4, 4, 33), "bfloat16")
    outputs = exact_gelu(values, training)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    expected = ops.cast(exact_gelu(ops.cast(values, "float32"), training), "bfloat16")
    np.testing.assert_array_equal(ops.convert_to_numpy(ops.cast(outputs, "float32")),
                                  ops.convert_to_numpy(ops.cast(expected, "float32")))


@pytest.mark.parametrize("training", [False, True])
def test_exact_gelu_gradient_is_the_derivative_of_the_erf_form(training):
    values = np.linspace(-6, 6, 97)
    upstream = np.random.default_rng(0).normal(size=values.shape).astype("float32")
    step = 1e-4  # central differences of the float64 reference
    expected = upstream * (reference_gelu(values + step) - reference_gelu(values - step)) / (2 * step)
    gelu = lambda x: exact_gelu(x, training)  # noqa: E731
    np.testing.assert_allclose(gradient_of(gelu, values.astype("float32"), upstream), expected, rtol=1e-5, atol=1e-6)


def test_exact_gelu_training_gradient_equals_autodiff_of_the_keras_gelu():
    values = np.random.default_rng(1).normal(scale=3, size=(4, 7, 16)).astype("float32")
    upstream = np.random.default_rng(2).normal(size=values.shape).astype("float32")
    ours = lambda x: exact_gelu(x, training=True)  # noqa: E731
    keras_gelu = lambda x: keras.activations.gelu(x, approximate=False)  # noqa: E731
    np.testing.assert_allclose(gradient_of(ours, values, upstream), gradient_of(keras_gelu, values, upstream),
                               rtol=1e-5, atol=1e-6)


def test_exact_gelu_training_gradient_of_a_bfloat16_input_is_bfloat16_and_close_to_float32():
    values = np.linspace(-4, 4, 33).astype("float32")
    upstream = np.ones_like(values)
    half = tf.constant(values, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(half)
        outputs = exact_gelu(half, training=True)
    gradient = tape.gradient(outputs, half, output_gradients=tf.constant(upstream, tf.bfloat16))
    assert gradient.dtype == tf.bfloat16
    expected = gradient_of(lambda x: exact_gelu(x, training=True), tf.cast(half, tf.float32).numpy(), upstream)
    np.testing.assert_allclose(tf.cast(gradient, tf.float32).numpy(), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_an_mlp_trains_through_the_training_form_and_predicts_through_the_keras_gelu(jit_compile, monkeypatch):
    calls = []
    training_form = gelu_module._gelu_for_training
    monkeypatch.setattr(gelu_module, "_gelu_for_training", lambda x: calls.append(x.shape) or training_form(x))

    def model_with_mlp():
        inputs = keras.Input((3, 6))
        return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(MLP(5)(inputs))))

    ours, reference = model_with_mlp(), model_with_mlp()
    reference.set_weights(ours.get_weights())
    data = np.random.default_rng(3).normal(size=(16, 3, 6)).astype("float32"), np.zeros((16, 1), "float32")
    ours.predict(data[0], verbose=0)
    assert not calls
    ours.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile)
    losses = [float(ours.train_on_batch(*data)) for _ in range(3)]
    assert calls
    # The same steps through autodiff of the Keras GELU, the form the layer had before.
    monkeypatch.setattr(gelu_module, "_gelu_for_training",
                        lambda x: keras.activations.gelu(x, approximate=False))
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile)
    np.testing.assert_allclose(losses, [float(reference.train_on_batch(*data)) for _ in range(3)], rtol=1e-5)
    assert losses[2] < losses[0]
