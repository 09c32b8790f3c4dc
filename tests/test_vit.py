"""Tests of build_vit: shapes, layer layout, pooling and head numerics, parameter counting, errors."""

import keras
import numpy as np
import pytest

from helpers import TINY_VIT, layer_norm, numbers_in, random_pixels, tiny_vit, to_numpy
from keras_vit import KerasViTError, build_vit
from keras_vit.layers import DepthwiseConvMLP, TransformerBlock
from keras_vit.models.vit import count_vit_parameters, drop_path_rates


@pytest.mark.parametrize("pooling", ["token", "gap", "seq"])
@pytest.mark.parametrize("image_size", [16, (16, 24), (24, 8)])
def test_vit_output_shape(pooling, image_size):
    model = tiny_vit(image_size=image_size, pooling=pooling)
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    assert model.input_shape == (None, height, width, 3)
    assert model.output_shape == (None, 5)
    for batch in (1, 3):
        assert tuple(model(random_pixels((batch, height, width, 3))).shape) == (batch, 5)


@pytest.mark.parametrize("pooling", ["token", "gap", "seq"])
def test_vit_without_top_returns_features(pooling):
    model = tiny_vit(image_size=(16, 24), include_top=False, pooling=pooling)
    assert model.output_shape == (None, 16)
    assert tuple(model(random_pixels((2, 16, 24, 3))).shape) == (2, 16)


@pytest.mark.parametrize("channels", [1, 5])
def test_vit_with_other_channel_counts(channels):
    model = tiny_vit(channels=channels, mean=(0.5,), std=(0.5,))
    assert model.input_shape == (None, 16, 16, channels)
    assert tuple(model(random_pixels((2, 16, 16, channels))).shape) == (2, 5)


@pytest.mark.parametrize("pooling,tokens", [("token", 17), ("gap", 16), ("seq", 16)])
def test_vit_layer_layout(pooling, tokens):
    model = tiny_vit(pooling=pooling)
    names = [layer.name for layer in model.layers]
    head_order = ["pool", "norm"] if pooling == "gap" else ["norm", "pool"]
    assert names == ["images", "normalize", "patches", "patch_encoder", "embedding_dropout", "block_0", "block_1",
                     *head_order, "head"]
    assert model.get_layer("patch_encoder").output.shape == (None, tokens, 16)
    assert model.get_layer("patch_encoder").use_class_token == (pooling == "token")


@pytest.mark.parametrize("pooling", ["token", "gap", "seq"])
def test_vit_pooling_norm_and_head_match_numpy(pooling):
    model = tiny_vit(pooling=pooling)
    rng = np.random.default_rng(1)
    for layer_name in ("norm", "pool", "head"):
        for weight in model.get_layer(layer_name).trainable_weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
    images = random_pixels((3, 16, 16, 3), seed=2)
    tokens = keras.Model(model.input, model.get_layer("block_1").output).predict(images, verbose=0)
    tokens = tokens.astype("float64")
    norm, head = model.get_layer("norm"), model.get_layer("head")
    gamma, beta = (to_numpy(w) for w in (norm.gamma, norm.beta))
    if pooling == "token":
        features = layer_norm(tokens, gamma, beta)[:, 0]
    elif pooling == "seq":  # CCT: scores of the normalised tokens, softmax over the tokens, weighted sum
        normed = layer_norm(tokens, gamma, beta)
        score = model.get_layer("pool").score
        scores = normed @ to_numpy(score.kernel) + to_numpy(score.bias)  # (batch, tokens, 1)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        features = (weights / weights.sum(axis=1, keepdims=True) * normed).sum(axis=1)
    else:
        features = layer_norm(tokens.mean(axis=1), gamma, beta)
    logits = features @ to_numpy(head.kernel) + to_numpy(head.bias)
    np.testing.assert_allclose(model.predict(images, verbose=0), logits, atol=1e-5, rtol=1e-5)


def test_vit_normalizes_pixels_before_patching():
    model = tiny_vit(mean=(0.2, 0.4, 0.6), std=(0.1, 0.2, 0.3))
    images = random_pixels((2, 16, 16, 3), seed=3)
    normalized = keras.Model(model.input, model.get_layer("normalize").output).predict(images, verbose=0)
    expected = (images / 255.0 - np.array([0.2, 0.4, 0.6])) / np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(normalized, expected, atol=1e-5, rtol=1e-5)


def test_vit_classifier_activation_and_float32_head():
    model = tiny_vit(classifier_activation="softmax")
    probabilities = model.predict(random_pixels((4, 16, 16, 3), seed=4), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert model.get_layer("head").dtype_policy.compute_dtype == "float32"


def test_vit_block_arguments_reach_every_block():
    model = tiny_vit(depth=3, drop_path_rate=0.4, layer_scale_init=0.01, qkv_bias=False, dropout_rate=0.1,
                     attention_dropout_rate=0.2)
    blocks = [model.get_layer(f"block_{i}") for i in range(3)]
    assert all(isinstance(block, TransformerBlock) for block in blocks)
    assert [block.drop_path_rate for block in blocks] == pytest.approx([0.0, 0.2, 0.4])
    assert all(block.layer_scale_init == 0.01 and not block.qkv_bias for block in blocks)
    assert all(block.dropout_rate == 0.1 and block.attention_dropout_rate == 0.2 for block in blocks)
    assert model.get_layer("embedding_dropout").rate == 0.1


@pytest.mark.parametrize("rate,depth,expected", [
    (0.1, 1, [0.0]),
    (0.3, 4, [0.0, 0.1, 0.2, 0.3]),
    (0.0, 3, [0.0, 0.0, 0.0]),
])
def test_drop_path_rates_rise_linearly(rate, depth, expected):
    assert drop_path_rates(rate, depth) == pytest.approx(expected)


def test_vit_trains_one_step_with_dropout_and_drop_path():
    keras.utils.set_random_seed(0)
    model = tiny_vit(depth=1, dropout_rate=0.1, drop_path_rate=0.3, layer_scale_init=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [to_numpy(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(random_pixels((4, 16, 16, 3), seed=5), np.array([0, 1, 2, 3]))
    assert np.isfinite(loss)
    after = [to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


PARAMETER_CONFIGS = [
    {"image_size": 16, "pooling": "token"},
    {"image_size": 16, "pooling": "gap"},
    {"image_size": 16, "pooling": "seq"},
    {"image_size": 16, "layer_scale_init": 1e-5},
    {"image_size": 16, "qkv_bias": False},
    {"image_size": 16, "include_top": False},
    {"image_size": (16, 24), "pooling": "gap", "layer_scale_init": 0.1, "qkv_bias": False},
    {"image_size": (8, 20), "channels": 1, "mean": (0.5,), "std": (0.5,), "num_classes": 11, "depth": 3},
    {"image_size": 16, "pooling": "token", "local_mlp": True},
    {"image_size": (16, 24), "pooling": "gap", "local_mlp": True},
]


def config_id(config):
    return "-".join(f"{key}={value}" for key, value in config.items())


@pytest.mark.parametrize("config", PARAMETER_CONFIGS, ids=config_id)
def test_count_vit_parameters_matches_built_model(config):
    arguments = {**TINY_VIT, **config}
    model = build_vit(**arguments)
    assert count_vit_parameters(**arguments) == model.count_params()
    assert count_vit_parameters(**arguments) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("pooling,leading_tokens", [("token", 1), ("gap", 0)])
def test_local_mlp_convolves_each_block_on_the_patch_grid(pooling, leading_tokens):
    model = tiny_vit(image_size=(16, 24), pooling=pooling, local_mlp=True)
    for index in range(TINY_VIT["depth"]):
        mlp = model.get_layer(f"block_{index}").mlp
        assert isinstance(mlp, DepthwiseConvMLP)
        assert (mlp.grid_size, mlp.leading_tokens) == ((4, 6), leading_tokens)
    assert not isinstance(tiny_vit().get_layer("block_0").mlp, DepthwiseConvMLP)


def test_vit_rejects_image_size_not_divisible_by_patch_size():
    with pytest.raises(KerasViTError) as error:
        tiny_vit(image_size=(18, 16))
    assert {"18", "4"} <= numbers_in(error)


def test_vit_rejects_embed_dim_not_divisible_by_heads():
    with pytest.raises(KerasViTError) as error:
        tiny_vit(embed_dim=18, num_heads=4)
    assert {"18", "4"} <= numbers_in(error)


@pytest.mark.parametrize("overrides", [{"depth": 0}, {"pooling": "max"}, {"num_classes": 0}, {"patch_size": 0}])
def test_vit_rejects_bad_arguments(overrides):
    with pytest.raises(KerasViTError):
        tiny_vit(**overrides)


def test_vit_without_top_accepts_zero_classes():
    assert tiny_vit(include_top=False, num_classes=0).output_shape == (None, 16)
