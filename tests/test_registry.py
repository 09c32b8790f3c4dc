"""Tests of the model registry: list_models, preset_config, create_model, count_parameters."""

import re

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import KerasViTError
from keras_vit.models import PRESETS

PUBLISHED_PARAMETERS = {
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
    "vit_large_patch16_224": 304_326_632,
    "vit_base_patch32_224": 88_224_232,
}


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def numbers_in(message):
    return re.findall(r"\d+", message)


def test_list_models_is_sorted_and_complete():
    names = keras_vit.list_models()
    assert names == sorted(names)
    assert len(names) == len(set(names)) == len(PRESETS)
    assert set(PUBLISHED_PARAMETERS) <= set(names)


@pytest.mark.parametrize("pattern,expected", [
    ("vit_tiny*", ["vit_tiny_patch16_224", "vit_tiny_patch16_384"]),
    ("vit_huge*", ["vit_huge_patch14_224"]),
    ("*_patch4_28", ["vit_micro_patch4_28", "vit_nano_patch4_28", "vitc_micro_patch4_28", "vitc_nano_patch4_28"]),
    ("resnet*", []),
])
def test_list_models_filters_with_pattern(pattern, expected):
    assert keras_vit.list_models(pattern) == expected


def test_list_models_pattern_selects_only_matching_names():
    names = keras_vit.list_models("*patch32*")
    assert names and names == sorted(names)
    assert all("patch32" in name for name in names)
    assert set(names) == {name for name in keras_vit.list_models() if "patch32" in name}


@pytest.mark.parametrize("name,expected", list(PUBLISHED_PARAMETERS.items()))
def test_count_parameters_matches_published_counts(name, expected):
    assert keras_vit.count_parameters(name) == expected


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224"])
def test_built_model_has_published_parameter_count(name):
    model = keras_vit.create_model(name)
    try:
        assert trainable_parameters(model) == PUBLISHED_PARAMETERS[name]
        assert model.output_shape == (None, 1000)
    finally:
        del model
        keras.backend.clear_session()


@pytest.mark.parametrize("name", keras_vit.list_models("vit_nano*") + keras_vit.list_models("vit_micro*")
                         + keras_vit.list_models("vitc_*"))
def test_small_presets_build_and_count_parameters(name):
    model = keras_vit.create_model(name)
    batch_norm_statistics = 2 * sum(PRESETS[name].get("conv_stem", ()))  # moving mean and variance, not trained
    assert trainable_parameters(model) == keras_vit.count_parameters(name)
    assert model.count_params() == keras_vit.count_parameters(name) + batch_norm_statistics
    size = PRESETS[name]["image_size"]
    assert model.input_shape == (None, size, size, PRESETS[name].get("channels", 3))
    assert model.output_shape == (None, 10)


def test_every_preset_counts_parameters():
    for name in keras_vit.list_models():
        assert keras_vit.count_parameters(name) > 0


def test_create_model_with_overrides():
    model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=7, image_size=32, depth=2)
    assert model.name == "vit_tiny_patch16_224"
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 7)
    assert len([layer for layer in model.layers if layer.name.startswith("block_")]) == 2
    assert tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape) == (2, 7)


def test_create_model_name_override():
    # `name` is a builder argument (create_model sets it by default), so it must be overridable too.
    assert keras_vit.create_model("vit_nano_patch4_32", name="mine").name == "mine"


def test_create_model_grayscale_on_rgb_preset_adapts_normalization():
    model = keras_vit.create_model("vit_tiny_patch16_224", channels=1, image_size=32, depth=1, num_classes=3)
    assert model.input_shape == (None, 32, 32, 1)
    normalize = model.get_layer("normalize")
    assert normalize.mean == (0.5,) and normalize.std == (0.5,)
    images = np.zeros((1, 32, 32, 1), "float32")
    images[:, :, 16:] = 255.0
    outputs = keras.ops.convert_to_numpy(keras.Model(model.input, normalize.output)(images))
    np.testing.assert_allclose(outputs[:, :, :16], -1.0, atol=1e-6)
    np.testing.assert_allclose(outputs[:, :, 16:], 1.0, atol=1e-6)
    assert tuple(model(np.zeros((1, 32, 32, 1), "float32")).shape) == (1, 3)


def test_preset_config_averages_per_channel_constants_for_other_channel_counts():
    config = keras_vit.preset_config("vit_tiny_patch16_224", channels=1)
    assert config["channels"] == 1 and config["mean"] == (0.5,) and config["std"] == (0.5,)
    assert keras_vit.preset_config("vit_tiny_patch16_224")["mean"] == (0.5, 0.5, 0.5)


def test_preset_config_returns_new_dict_with_overrides():
    config = keras_vit.preset_config("vit_small_patch16_224", num_classes=10)
    assert config["num_classes"] == 10 and config["architecture"] == "vit"
    config["embed_dim"] = 1
    assert PRESETS["vit_small_patch16_224"]["embed_dim"] == 384
    assert PRESETS["vit_small_patch16_224"]["num_classes"] == 1000


def test_count_parameters_applies_overrides():
    assert keras_vit.count_parameters("vit_tiny_patch16_224", num_classes=10) == (
        PUBLISHED_PARAMETERS["vit_tiny_patch16_224"] - 990 * 193)


def test_unknown_model_suggests_closest_names():
    with pytest.raises(KerasViTError) as error:
        keras_vit.create_model("vit_tiny_patch16_225")
    assert "vit_tiny_patch16_225" in str(error.value)
    assert "vit_tiny_patch16_224" in str(error.value)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("function", [keras_vit.create_model, keras_vit.count_parameters, keras_vit.preset_config])
def test_unknown_model_raises_in_every_entry_point(function):
    with pytest.raises(KerasViTError):
        function("not_a_model")


@pytest.mark.parametrize("function", [keras_vit.create_model, keras_vit.count_parameters])
def test_unknown_override_is_named(function):
    with pytest.raises(KerasViTError) as error:
        function("vit_nano_patch4_32", num_clases=3)
    assert "num_clases" in str(error.value)


def test_image_size_not_divisible_by_patch_size_names_both():
    with pytest.raises(KerasViTError) as error:
        keras_vit.create_model("vit_nano_patch4_32", image_size=30)
    numbers = numbers_in(str(error.value))
    assert "30" in numbers and "4" in numbers


def test_embed_dim_not_divisible_by_heads_names_both():
    with pytest.raises(KerasViTError) as error:
        keras_vit.create_model("vit_nano_patch4_32", embed_dim=50)
    numbers = numbers_in(str(error.value))
    assert "50" in numbers and "4" in numbers
