"""The optimizer, its schedule, and `train` through the Python API."""

import json
import math

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.training import NO_WEIGHT_DECAY, WarmupCosineDecay, build_optimizer


def test_warmup_cosine_schedule_values():
    schedule = WarmupCosineDecay(1e-3, total_steps=110, warmup_steps=10, final_learning_rate=1e-5)
    expected = {0: 0.0, 5: 5e-4, 10: 1e-3, 60: 1e-5 + (1e-3 - 1e-5) * 0.5, 110: 1e-5, 500: 1e-5}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, rel=1e-5, abs=1e-9), step
    quarter = 10 + 25
    assert float(schedule(quarter)) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi / 4)),
                                                     rel=1e-5)


def test_schedule_round_trips_and_rejects_bad_steps():
    schedule = WarmupCosineDecay(3e-4, total_steps=100, warmup_steps=20)
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert rebuilt.get_config() == schedule.get_config()
    with pytest.raises(KerasViTError, match="warmup_steps"):
        WarmupCosineDecay(1e-3, total_steps=10, warmup_steps=20)


def test_weight_decay_skips_biases_norms_scales_and_embeddings():
    model = keras_vit.create_model("vit_nano_patch4_28", layer_scale_init=1e-4)
    optimizer = build_optimizer(1e-3, total_steps=10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed, "kernels must be decayed"
    for variable in model.trainable_variables:
        is_matrix = len(variable.shape) >= 2 and variable.name not in ("class_token", "position_embedding")
        assert (variable.path in decayed) == is_matrix, variable.path
    assert any("class_token" in n for n in NO_WEIGHT_DECAY)


def test_weight_decay_shrinks_only_kernels():
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    layer.kernel.assign(np.ones((2, 3)))
    layer.bias.assign(np.ones(3))
    optimizer = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    optimizer.apply_gradients([(np.zeros((2, 3), "float32"), layer.kernel), (np.zeros(3, "float32"), layer.bias)])
    np.testing.assert_allclose(layer.kernel.numpy(), np.full((2, 3), 1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), np.ones(3))


def test_train_learns_digits_and_writes_its_outputs(tmp_path):
    result = keras_vit.train("vit_nano_patch4_28", dataset="digits", epochs=3, batch_size=128,
                             learning_rate=3e-3, warmup_epochs=1, output_dir=tmp_path / "run", verbose=0)
    assert result.test_accuracy > 0.5, "three epochs should lift digits far above chance (0.1)"
    assert result.test_size == 360 and len(result.history["loss"]) == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.model.input_shape == (None, 8, 8, 1) and result.model.output_shape == (None, 10)
    for path in (result.model_path, result.history_path, result.curves_path):
        assert path.is_file() and path.stat().st_size > 0, path
    reloaded = keras.saving.load_model(result.model_path, safe_mode=True)
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), result.model.predict(images, verbose=0),
                               atol=1e-6)


def test_train_on_an_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for class_index, class_name in enumerate(["bright", "dark"]):
        (tmp_path / "data" / class_name).mkdir(parents=True)
        for index in range(12):
            level = 200 if class_index == 0 else 30
            pixels = np.clip(rng.normal(level, 20, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / class_name / f"{index}.jpg")
    result = keras_vit.train("vit_nano_patch4_32", data_dir=tmp_path / "data", epochs=4, batch_size=8,
                             learning_rate=3e-3, warmup_epochs=1, output_dir=tmp_path / "run", verbose=0)
    assert result.model.input_shape == (None, 32, 32, 3) and result.model.output_shape == (None, 2)
    assert result.test_size == 2 and result.test_accuracy == 1.0, "bright vs dark is trivially separable"
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["augment"] == "light", "a small preset on photographs takes the photographs' recipe"


@pytest.mark.parametrize("argument", ["epochs", "batch_size"])
def test_train_rejects_non_positive_counts(argument, tmp_path):
    with pytest.raises(KerasViTError, match=f"{argument}=0 must be at least 1"):
        keras_vit.train(**{argument: 0}, output_dir=tmp_path)
