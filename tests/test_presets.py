"""Registry-wide tests, parametrized over `list_models()`: every preset has a reference parameter count, builds to
it with the input and output it announces, and round trips its config; one preset of each family runs a forward
pass. A new preset is tested by these without a new test (and fails until its count is in REFERENCE_PARAMETERS).

Full-size presets are built under `unallocated_variables` (shapes, no values): all of them in seconds, where
initializing vit_huge_patch14_224 alone takes some 20 s and 2.5 GB.
"""

import json

import keras
import numpy as np
import pytest

import keras_vit
from helpers import (REFERENCE_PARAMETERS, preset_depth_cut, random_pixels, to_numpy, trainable_parameters,
                     unallocated_variables)
from keras_vit.models.vit import image_size_pair

PRESET_NAMES = keras_vit.list_models()


def family(name):
    """What makes presets build different layers: architecture, version, linear SRA, a convolutional stem."""
    config = keras_vit.preset_config(name)
    return (config["architecture"], config.get("version", 1), config.get("linear", False),
            bool(config.get("conv_stem")))


def family_representatives():
    """The preset with the fewest parameters of each family."""
    chosen = {}
    for name in PRESET_NAMES:
        key = family(name)
        if key not in chosen or REFERENCE_PARAMETERS.get(name, 0) < REFERENCE_PARAMETERS.get(chosen[key], 0):
            chosen[key] = name
    return sorted(chosen.values())


def weight_shapes(model):
    return [(weight.path, tuple(weight.shape), weight.trainable) for weight in model.weights]


def test_reference_table_names_every_preset_and_no_other():
    assert sorted(REFERENCE_PARAMETERS) == PRESET_NAMES


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_builds_to_its_reference_parameter_count(name):
    assert name in REFERENCE_PARAMETERS, f"add the parameter count of {name} to REFERENCE_PARAMETERS (tests/helpers.py)"
    expected = REFERENCE_PARAMETERS[name]
    assert keras_vit.count_parameters(name) == expected
    config = keras_vit.preset_config(name)
    with unallocated_variables():
        model = keras_vit.create_model(name)
    assert trainable_parameters(model) == expected
    batch_norm_statistics = 2 * sum(config.get("conv_stem", ()))  # moving mean and variance, not trained
    assert model.count_params() == expected + batch_norm_statistics
    assert model.input_shape == (None, *image_size_pair(config["image_size"]), config.get("channels", 3))
    assert model.output_shape == (None, config["num_classes"])
    assert model.preset == name and model.name == name


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_config_round_trips(name):
    # One block a stage: the config round trip is the same for every depth, and the graph a fraction of the size.
    with unallocated_variables():
        model = keras_vit.create_model(name, **preset_depth_cut(name))
        config = json.dumps(model.get_config())
        restored = type(model).from_config(json.loads(config))  # from_config takes the dict apart
    assert keras.saving.serialize_keras_object(model)["registered_name"] == "keras_vit>ImageModel"
    assert restored.preset == name and restored.name == name
    assert json.loads(json.dumps(restored.get_config())) == json.loads(config)
    assert weight_shapes(restored) == weight_shapes(model)


@pytest.mark.parametrize("name", family_representatives())
def test_one_preset_of_each_family_runs_and_builds_as_without_weights(name):
    overrides = preset_depth_cut(name)
    keras.utils.set_random_seed(0)
    model = keras_vit.create_model(name, **overrides)
    with unallocated_variables():
        unallocated = keras_vit.create_model(name, **overrides)
    assert weight_shapes(unallocated) == weight_shapes(model)  # the table's counts hold for allocated models too
    images = random_pixels((2, *model.input_shape[1:]))
    outputs = to_numpy(model(images, training=False))
    assert outputs.shape == (2, model.output_shape[-1]) and np.isfinite(outputs).all()
    keras.backend.clear_session()
