"""Models carry their class names and preset in their .keras files; files of earlier versions load with their side
files; loading is safe."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.models import ImageModel, ModelMetadata, load_classifier, load_image_model, model_metadata
from keras_vit.training.precision import precision_scope

PRESET = "vit_nano_patch4_28"


def _tiny_model(num_classes=3, **overrides):
    return keras_vit.create_model(PRESET, image_size=8, channels=1, num_classes=num_classes, **overrides)


def _images():
    return np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype("float32")


def test_class_names_and_preset_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    model = _tiny_model(mean=(0.25,), std=(0.5,))
    model.class_names = ["cat", "dog", "bird"]
    model.save(tmp_path / "model.keras")
    assert [path.name for path in tmp_path.iterdir()] == ["model.keras"], "no file beside the model"
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(loaded, ImageModel)
    assert model_metadata(loaded) == ModelMetadata(["cat", "dog", "bird"], PRESET, mean=(0.25,), std=(0.5,))
    assert load_classifier(tmp_path / "model.keras")[1] == ["cat", "dog", "bird"]
    np.testing.assert_allclose(loaded.predict(_images(), verbose=0), model.predict(_images(), verbose=0), atol=1e-6)


def test_an_encoder_and_a_mixed_precision_model_carry_their_metadata_too(tmp_path):
    _tiny_model(include_top=False).save(tmp_path / "encoder.keras")
    assert model_metadata(load_image_model(tmp_path / "encoder.keras")) == ModelMetadata(None, PRESET, (0.5,), (0.5,))
    with precision_scope("mixed_bfloat16"):
        model = _tiny_model()
    model.class_names = ["a", "b", "c"]
    model.save(tmp_path / "mixed.keras")
    loaded = load_image_model(tmp_path / "mixed.keras")
    assert loaded.class_names == ["a", "b", "c"] and loaded.get_layer("block_0").dtype_policy.name == "mixed_bfloat16"


def test_a_file_of_an_earlier_version_loads_with_its_side_files(tmp_path):
    model = _tiny_model()
    keras.Model(model.inputs, model.outputs, name=model.name).save(tmp_path / "model.keras")  # what they saved
    (tmp_path / "model.class_names.json").write_text(json.dumps(["cat", "dog", "bird"]))
    (tmp_path / "run.json").write_text(json.dumps({"model": PRESET, "state": "finished"}))
    loaded, class_names = load_classifier(tmp_path / "model.keras")
    assert class_names == ["cat", "dog", "bird"] and model_metadata(loaded).preset == PRESET
    np.testing.assert_allclose(loaded.predict(_images(), verbose=0), model.predict(_images(), verbose=0), atol=1e-6)
    loaded.save(tmp_path / "resaved.keras")
    assert model_metadata(load_image_model(tmp_path / "resaved.keras")).class_names == ["cat", "dog", "bird"]


def test_a_model_without_class_names_gets_numbered_classes(tmp_path):
    plain = _tiny_model(4)
    keras.Model(plain.inputs, plain.outputs).save(tmp_path / "plain.keras")
    loaded, class_names = load_classifier(tmp_path / "plain.keras")
    assert class_names == ["0", "1", "2", "3"] and model_metadata(loaded).class_names is None
    assert load_classifier(_tiny_model(2))[1] == ["0", "1"]


def test_class_names_must_be_one_string_per_output():
    model = _tiny_model()
    with pytest.raises(KerasViTError, match="class_names gives 2 class names for a model with 3 outputs"):
        model.class_names = ["a", "b"]
    with pytest.raises(KerasViTError, match="class_names must be non-empty strings"):
        model.class_names = ["a", "", "c"]
    with pytest.raises(KerasViTError, match="preset must be a preset name or None"):
        model.preset = 3


def test_a_clone_is_an_image_model_without_metadata():
    model = _tiny_model()
    model.class_names = ["a", "b", "c"]
    clone = keras.models.clone_model(model)
    assert isinstance(clone, ImageModel) and clone.class_names is None and clone.preset is None
    assert clone.predict(_images(), verbose=0).shape == (2, 3)


def test_missing_and_wrong_files_are_named(tmp_path):
    with pytest.raises(KerasViTError, match="does not exist"):
        load_classifier(tmp_path / "absent.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(KerasViTError, match="is not a .keras file"):
        load_classifier(tmp_path / "weights.h5")


def test_lambda_layer_is_refused_with_a_clear_error(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(KerasViTError, match="Lambda layer") as error:
        load_classifier(tmp_path / "lambda.keras")
    assert "lambda.keras" in str(error.value)
