"""Saving classifiers with their class names, and loading them safely."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.models import class_names_path, load_classifier, save_classifier


def _tiny_model(num_classes=3):
    return keras_vit.build_vit(image_size=8, patch_size=4, channels=1, num_classes=num_classes, embed_dim=8,
                               depth=1, num_heads=2, mlp_dim=8)


def test_round_trip_keeps_outputs_and_class_names(tmp_path):
    model = _tiny_model()
    save_classifier(model, tmp_path / "model.keras", ["cat", "dog", "bird"])
    assert json.loads((tmp_path / "model.class_names.json").read_text()) == ["cat", "dog", "bird"]
    loaded, class_names = load_classifier(tmp_path / "model.keras")
    assert class_names == ["cat", "dog", "bird"]
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_model_without_class_names_gets_numbered_classes(tmp_path):
    _tiny_model(4).save(tmp_path / "plain.keras")
    assert load_classifier(tmp_path / "plain.keras")[1] == ["0", "1", "2", "3"]
    assert class_names_path(tmp_path / "plain.keras") == tmp_path / "plain.class_names.json"


def test_class_name_count_must_match_the_outputs(tmp_path):
    with pytest.raises(KerasViTError, match="2 class names for a model with 3 outputs"):
        save_classifier(_tiny_model(), tmp_path / "model.keras", ["a", "b"])


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
