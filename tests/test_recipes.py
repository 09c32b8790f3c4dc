"""The recommended recipe per model size, gradient clipping and the moving average of the weights."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.models import PRESETS
from keras_vit.training import build_optimizer, recommended_recipe
from keras_vit.training.recipes import recommended_model
from keras_vit_cli.main import main


def test_every_preset_has_a_recipe_matching_its_size():
    recipes = {name: recommended_recipe(name) for name in PRESETS}
    assert recipes["vit_nano_patch2_32"].augment == "shift" and recipes["vit_nano_patch2_32"].drop_path_rate == 0
    assert recipes["vit_small_patch16_224"].name == "deit" and recipes["vit_small_patch16_224"].augment == "deit"
    assert [recipes[f"swin_{size}_patch4_window7_224"].drop_path_rate
            for size in ("tiny", "small", "base")] == [0.2, 0.3, 0.5]
    assert recipes["swin_tiny_patch4_window7_224"].clip_norm == 5.0
    assert recipes["swin_tiny_patch4_window7_224"].warmup_epochs == 20
    assert recipes["vitc_nano_patch4_28"] == dataclasses.replace(recipes["vit_nano_patch4_28"], name="small_conv",
                                                                 epochs=100)
    for name in ("vitc_nano_patch4_local_28", "vitc_nano_patch4_local_32"):
        assert recipes[name] == recipes["vitc_nano_patch4_28"], name


def test_the_convolutional_stem_presets_count_as_small_for_pretraining_and_fine_tuning():
    from keras_vit.finetuning import default_layer_decay, finetuning_recipe
    from keras_vit.pretrain.recipe import pretraining_recipe

    for name in ("vitc_nano_patch4_28", "vit_nano_patch4_28"):
        assert pretraining_recipe(name).name == "mae-small" and default_layer_decay(name) == 1.0, name
        assert finetuning_recipe(name).base_learning_rate == finetuning_recipe("vit_nano_patch4_28").base_learning_rate


def test_without_a_model_train_picks_the_recommended_preset_for_the_datas_channels():
    assert recommended_model("digits") == recommended_model("fashion_mnist") == "vitc_nano_patch4_local_28"
    assert recommended_model("mnist") == "vitc_nano_patch4_local_28"
    assert recommended_model("digits", data_dir="photos/") == recommended_model("tfds:cifar10") == (
        "vitc_nano_patch4_local_32")
    assert {recommended_model(name) for name in ("digits", "tfds:x")} <= set(PRESETS)


def test_small_presets_on_photographs_take_flips_and_mirrored_shifts_and_nothing_else_changes():
    for name in ("vitc_nano_patch4_32", "vit_micro_patch4_32", "swin_nano_patch2_window4_32"):
        alone = recommended_recipe(name)
        for data in ({"data_dir": "photos/"}, {"dataset": "tfds:cifar10"}, {"dataset": "digits", "data_dir": "x/"}):
            photos = recommended_recipe(name, **data)
            assert photos == dataclasses.replace(alone, name=f"{alone.name}_photos", augment="light",
                                                  batch_size=128), (name, data)
        for dataset in ("digits", "mnist", None):
            assert recommended_recipe(name, dataset=dataset) == alone, (name, dataset)
    assert recommended_recipe("vit_tiny_patch16_224", data_dir="photos/") == recommended_recipe("vit_tiny_patch16_224")


def test_small_presets_on_centred_objects_take_flips_alone_and_nothing_else_changes():
    for name in ("vitc_nano_patch4_28", "vit_nano_patch4_28", "pvt_v2_nano_patch2_32"):
        alone = recommended_recipe(name)
        assert recommended_recipe(name, dataset="fashion_mnist") == dataclasses.replace(
            alone, name=f"{alone.name}_centred", augment="flip", batch_size=128), name
        assert recommended_recipe(name, dataset="fashion_mnist", data_dir="x/").name == f"{alone.name}_photos"
    assert recommended_recipe("vit_tiny_patch16_224", dataset="fashion_mnist").name == "deit"


def test_recipe_fills_only_what_is_left_out_and_scales_the_learning_rate_with_the_batch():
    deit = recommended_recipe("vit_tiny_patch16_224")
    assert deit.fill(batch_size=None, learning_rate=None) == {"batch_size": 128, "learning_rate": 5e-4 * 128 / 512}
    assert deit.fill(batch_size=1024, learning_rate=None)["learning_rate"] == pytest.approx(1e-3)
    assert deit.fill(batch_size=1024, learning_rate=3e-4, weight_decay=0.3) == {
        "batch_size": 1024, "weight_decay": 0.3, "learning_rate": 3e-4}
    assert recommended_recipe("swin_tiny_patch4_window7_224").learning_rate(1024) == 1e-3


@pytest.mark.parametrize("model,epochs,warmup", [
    ("vitc_nano_patch4_28", 18, 1),  # 5 of 100: 0.9 -> 1
    ("vitc_nano_patch4_28", 60, 3),
    ("vitc_nano_patch4_28", 100, 5),
    ("vitc_nano_patch4_28", 400, 5),  # never beyond the recipe's own warmup
    ("swin_tiny_patch4_window7_224", 30, 2),  # 20 of 300
    ("vit_tiny_patch16_224", 1, 1),  # at least one epoch, at most the run
])
def test_the_warmup_left_out_is_the_recipes_share_of_the_epochs(model, epochs, warmup):
    recipe = recommended_recipe(model)
    assert recipe.warmup_share(epochs) == warmup
    assert recipe.fill(epochs=epochs, warmup_epochs=None) == {"epochs": epochs, "warmup_epochs": warmup}
    assert recipe.fill(epochs=epochs, warmup_epochs=7)["warmup_epochs"] == 7, "a given warmup is kept"
    assert recipe.fill(epochs=None, warmup_epochs=None)["warmup_epochs"] == recipe.warmup_epochs


def test_train_records_the_recipe_it_used(tmp_path):
    result = keras_vit.train("vit_nano_patch4_28", epochs=1, warmup_epochs=1, clip_norm=1.0, ema_momentum=0.9,
                             output_dir=tmp_path, verbose=0, jit_compile=False)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["learning_rate"] == 1e-3 and run["batch_size"] == 64 and run["augment"] == "shift"
    assert run["clip_norm"] == 1.0 and run["ema_momentum"] == 0.9 and run["drop_path_rate"] == 0.0
    optimizer = result.model.optimizer
    assert optimizer.global_clipnorm == 1.0 and optimizer.use_ema and optimizer.ema_momentum == 0.9


def test_gradients_are_clipped_to_the_global_norm():
    optimizer = build_optimizer(1e-3, total_steps=10, clip_norm=1.0)
    gradients = [keras.ops.convert_to_tensor(np.full((3,), 4.0, "float32")),
                 keras.ops.convert_to_tensor(np.full((2, 2), 3.0, "float32"))]
    clipped = optimizer._clip_gradients(gradients)
    norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in clipped))
    assert norm == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(clipped[0] / clipped[1][0, 0], np.full((3,), 4 / 3), rtol=1e-5)  # direction kept


def test_training_ends_with_the_moving_average_of_the_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=build_optimizer(0.1, total_steps=5, weight_decay=0.0, ema_momentum=0.5), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.normal(size=(20, 2)).astype("float32")
    trajectory = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: trajectory.append(model.layers[0].kernel.numpy().copy()))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[record])
    average = trajectory[0]
    for weights in trajectory[1:]:
        average = 0.5 * average + 0.5 * weights
    assert len(trajectory) == 5
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), average, atol=1e-6)
    assert np.max(np.abs(average - trajectory[-1])) > 1e-3, "the average differs from the last weights"


@pytest.mark.parametrize("arguments, message", [
    (dict(clip_norm=-1.0), "clip_norm=-1.0 must be positive"),
    (dict(ema_momentum=1.0), r"ema_momentum=1.0 must be in \[0, 1\)"),
])
def test_bad_clipping_or_average_is_a_clear_error(arguments, message):
    with pytest.raises(KerasViTError, match=message):
        build_optimizer(1e-3, total_steps=10, **arguments)


def test_cli_rejects_an_unknown_strategy(capsys):
    assert main(["train", "--strategy", "gpus", "--epochs", "1"]) == 2
    assert "keras-vit: error: Unknown strategy 'gpus'" in capsys.readouterr().err
