"""Tests of the model registry: list_models, preset_config, create_model, count_parameters."""

import keras
import numpy as np
import pytest

import keras_vit
from helpers import REFERENCE_PARAMETERS, numbers_in
from keras_vit import KerasViTError
from keras_vit.models import PRESETS

# Every preset: its parameter count, build, shapes and config round trip are tested in test_presets.py.


def test_list_models_is_sorted_and_complete():
    names = keras_vit.list_models()
    assert names == sorted(names)
    assert len(names) == len(set(names)) == len(PRESETS)
    assert set(REFERENCE_PARAMETERS) == set(names)


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
        REFERENCE_PARAMETERS["vit_tiny_patch16_224"] - 990 * 193)


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
    assert {"30", "4"} <= numbers_in(error)


def test_embed_dim_not_divisible_by_heads_names_both():
    with pytest.raises(KerasViTError) as error:
        keras_vit.create_model("vit_nano_patch4_32", embed_dim=50)
    assert {"50", "4"} <= numbers_in(error)
