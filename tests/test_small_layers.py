"""Tests of DropPath, LayerScale, MLP, TokenPooling and ImageNormalization against NumPy."""

import keras
import numpy as np
import pytest

from helpers import gelu, randomize, to_numpy
from keras_vit import KerasViTError
from keras_vit.layers import MLP, DropPath, ImageNormalization, LayerScale, TokenPooling


def random_array(shape, seed=0, low=0.5, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype("float32")


# DropPath


@pytest.mark.parametrize("training", [False, None])
def test_drop_path_is_identity_at_inference(training):
    x = random_array((16, 3, 4))
    assert np.array_equal(to_numpy(DropPath(0.5)(x, training=training)), x)


def test_drop_path_with_rate_zero_is_identity_in_training():
    x = random_array((16, 3, 4), seed=1)
    assert np.array_equal(to_numpy(DropPath(0.0)(x, training=True)), x)


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_drop_path_drops_whole_samples_and_rescales_the_rest(seeded, rate):
    samples = 2000
    x = random_array((samples, 3, 4), seed=2)
    outputs = to_numpy(DropPath(rate)(x, training=True))
    dropped = np.all(outputs == 0, axis=(1, 2))
    kept = np.all(np.isclose(outputs, x / (1.0 - rate), rtol=1e-6, atol=0), axis=(1, 2))
    assert np.all(dropped | kept), "every sample must be all zeros or exactly input / (1 - rate)"
    # The kept fraction is binomial with standard deviation below 0.011 here: 0.05 is over 4.5 of them.
    assert abs(kept.mean() - (1.0 - rate)) < 0.05


def test_drop_path_draws_differ_between_calls(seeded):
    x = random_array((64, 2), seed=3)
    layer = DropPath(0.5)
    first, second = (to_numpy(layer(x, training=True)) for _ in range(2))
    assert not np.array_equal(first, second)


def test_drop_path_works_on_2d_and_5d_inputs(seeded):
    for shape in [(500, 3), (500, 2, 2, 2, 2)]:
        x = random_array(shape, seed=4)
        outputs = to_numpy(DropPath(0.5)(x, training=True)).reshape(500, -1)
        flat = x.reshape(500, -1)
        assert np.all(np.all(outputs == 0, axis=1) | np.all(np.isclose(outputs, 2 * flat, rtol=1e-6), axis=1))
        assert 0.35 < np.all(outputs != 0, axis=1).mean() < 0.65


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_drop_path_rejects_rate_outside_unit_interval(rate):
    with pytest.raises(KerasViTError):
        DropPath(rate)


# LayerScale


@pytest.mark.parametrize("init_value", [1e-5, 0.1, 2.5])
def test_layer_scale_multiplies_by_init_value(init_value):
    x = random_array((2, 3, 6), seed=5, low=-2.0)
    layer = LayerScale(init_value)
    np.testing.assert_allclose(to_numpy(layer(x)), x * np.float32(init_value), rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(layer.scale), np.full(6, init_value, "float32"))
    assert len(layer.trainable_weights) == 1


def test_layer_scale_scales_last_axis_per_channel():
    x = random_array((2, 3, 4), seed=6)
    layer = LayerScale(1.0)
    layer.build(x.shape)
    scale = np.array([0.5, -1.0, 2.0, 3.0], "float32")
    layer.scale.assign(scale)
    np.testing.assert_allclose(to_numpy(layer(x)), x * scale, rtol=1e-6)


# MLP


def test_mlp_matches_numpy_with_exact_gelu():
    x = np.random.default_rng(7).normal(size=(2, 5, 6)).astype("float32")
    mlp = MLP(hidden_dim=10)
    mlp.build(x.shape)
    randomize(mlp, seed=8, scale=1.0)
    fc1_kernel, fc1_bias = to_numpy(mlp.fc1.kernel), to_numpy(mlp.fc1.bias)
    fc2_kernel, fc2_bias = to_numpy(mlp.fc2.kernel), to_numpy(mlp.fc2.bias)
    assert fc1_kernel.shape == (6, 10) and fc2_kernel.shape == (10, 6)
    hidden = x.astype("float64") @ fc1_kernel + fc1_bias
    expected = gelu(hidden) @ fc2_kernel + fc2_bias
    np.testing.assert_allclose(to_numpy(mlp(x)), expected, atol=1e-5, rtol=1e-5)


def test_mlp_dropout_only_in_training():
    x = np.random.default_rng(9).normal(size=(4, 5, 6)).astype("float32")
    mlp = MLP(hidden_dim=10, dropout_rate=0.5)
    inference = to_numpy(mlp(x))
    np.testing.assert_array_equal(to_numpy(mlp(x, training=False)), inference)
    assert not np.allclose(to_numpy(mlp(x, training=True)), inference)


# TokenPooling


def test_token_pooling_takes_first_token():
    x = random_array((3, 7, 5), seed=10)
    np.testing.assert_array_equal(to_numpy(TokenPooling("token")(x)), x[:, 0])


def test_token_pooling_gap_averages_tokens():
    x = random_array((3, 7, 5), seed=11)
    np.testing.assert_allclose(to_numpy(TokenPooling("gap")(x)), x.astype("float64").mean(axis=1), rtol=1e-6)


def test_token_pooling_seq_weighs_tokens_by_softmax_of_scores():
    x = random_array((3, 7, 5), seed=12)
    layer = TokenPooling("seq")
    layer.build(x.shape)
    kernel, bias = random_array((5, 1), seed=13, low=-1.0, high=1.0), np.array([0.3], "float32")
    layer.score.kernel.assign(kernel)
    layer.score.bias.assign(bias)
    scores = x.astype("float64") @ kernel + bias  # (3, 7, 1)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(to_numpy(layer(x)), (weights * x).sum(axis=1), rtol=1e-5)


@pytest.mark.parametrize("pooling,shapes", [("seq", [(5, 1), (1,)]), ("gap", []), ("token", [])])
def test_token_pooling_weights(pooling, shapes):
    layer = TokenPooling(pooling)
    layer.build((None, 7, 5))
    assert [tuple(w.shape) for w in layer.trainable_weights] == shapes


@pytest.mark.parametrize("pooling", ["token", "gap", "seq"])
def test_token_pooling_output_shape(pooling):
    layer = TokenPooling(pooling)
    assert tuple(layer.compute_output_shape((None, 7, 5))) == (None, 5)
    inputs = keras.Input((7, 5))
    assert tuple(layer(inputs).shape) == (None, 5)


def test_token_pooling_rejects_unknown_pooling():
    with pytest.raises(KerasViTError):
        TokenPooling("max")


# ImageNormalization

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_image_normalization_per_channel_maps_0_and_255():
    layer = ImageNormalization(IMAGENET_MEAN, IMAGENET_STD)
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    images = np.stack([np.zeros((2, 2, 3)), np.full((2, 2, 3), 255.0)]).astype("float32")
    outputs = to_numpy(layer(images))
    np.testing.assert_allclose(outputs[0], np.broadcast_to(-mean / std, (2, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(outputs[1], np.broadcast_to((1 - mean) / std, (2, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_image_normalization_single_value_maps_to_minus_one_and_one(channels):
    layer = ImageNormalization(0.5, 0.5)
    images = np.stack([np.zeros((2, 2, channels)), np.full((2, 2, channels), 255.0)]).astype("float32")
    outputs = to_numpy(layer(images))
    np.testing.assert_allclose(outputs[0], -1.0, atol=1e-6)
    np.testing.assert_allclose(outputs[1], 1.0, atol=1e-6)


def test_image_normalization_default_is_half():
    outputs = to_numpy(ImageNormalization()(np.array([[[[0.0], [127.5], [255.0]]]], "float32")))
    np.testing.assert_allclose(outputs.ravel(), [-1.0, 0.0, 1.0], atol=1e-6)


def test_image_normalization_matches_formula_on_random_uint8_pixels():
    pixels = np.random.default_rng(12).integers(0, 256, size=(2, 4, 5, 3)).astype("uint8")
    mean, std = (0.2,), (0.1, 0.3, 0.7)
    outputs = to_numpy(ImageNormalization(mean, std)(pixels))
    expected = (pixels / 255.0 - 0.2) / np.array(std)
    assert outputs.dtype == np.float32
    np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mean,std", [
    ((0.5,), (0.0,)),
    ((0.5,), (-0.2, 0.3, 0.3)),
    ((0.1, 0.2), (0.3, 0.3, 0.3)),
    ((), (0.5,)),
])
def test_image_normalization_rejects_bad_constants(mean, std):
    with pytest.raises(KerasViTError):
        ImageNormalization(mean, std)


def test_image_normalization_rejects_constants_not_matching_channels():
    with pytest.raises(KerasViTError):
        ImageNormalization(IMAGENET_MEAN, IMAGENET_STD)(np.zeros((1, 2, 2, 1), "float32"))
