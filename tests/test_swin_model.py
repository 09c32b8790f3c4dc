"""Tests of the Swin builder, presets and parameter counter: shapes, round trips, mixed precision, errors, CLI."""

import json
import re

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import KerasViTError, layers
from keras_vit.cli import main
from keras_vit.models import PRESETS, count_swin_parameters

PUBLISHED_PARAMETERS = {
    "swin_tiny_patch4_window7_224": 28_288_354,
    "swin_small_patch4_window7_224": 49_606_258,
    "swin_base_patch4_window7_224": 87_768_224,
    "swinv2_tiny_window8_256": 28_347_154,
}
SMALL_PRESETS = ["swin_nano_patch2_window4_32", "swin_micro_patch2_window4_32", "swinv2_nano_patch2_window4_32"]


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def tiny_swin(version=1, image_size=(24, 20), **overrides):
    """Two stages on a 12x10 grid, then 6x5: a padded, shifted first stage and a clamped, padded second one."""
    arguments = dict(image_size=image_size, patch_size=2, num_classes=5, embed_dim=8, depths=(2, 2),
                     num_heads=(2, 4), window_size=4, version=version, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    return keras_vit.build_swin(**{**arguments, **overrides})


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(weight + (rng.normal(size=weight.shape) * 0.1).astype("float32"))


@pytest.mark.parametrize("name,expected", list(PUBLISHED_PARAMETERS.items()))
def test_counter_gives_published_counts(name, expected):
    assert keras_vit.count_parameters(name) == expected


@pytest.mark.parametrize("name", ["swin_tiny_patch4_window7_224", "swinv2_tiny_window8_256"])
def test_built_tiny_has_published_count(name):
    model = keras_vit.create_model(name)
    try:
        assert trainable_parameters(model) == PUBLISHED_PARAMETERS[name] == model.count_params()
        assert model.output_shape == (None, 1000)
    finally:
        del model
        keras.backend.clear_session()


@pytest.mark.parametrize("arguments", [
    {},
    {"version": 2},
    {"qkv_bias": False, "mlp_ratio": 3.0},
    {"version": 2, "qkv_bias": False, "include_top": False},
    {"image_size": (16, 32), "window_size": (2, 3), "depths": (1, 3), "channels": 1, "mean": 0.5, "std": 0.5},
    {"image_size": 8, "window_size": 7, "depths": (1, 1, 1), "num_heads": (1, 2, 4)},
    {"include_top": False, "pooling": None, "version": 2},
])
def test_counter_equals_built_model(arguments):
    model = tiny_swin(**arguments)
    config = {"image_size": (24, 20), "patch_size": 2, "num_classes": 5, "embed_dim": 8, "depths": (2, 2),
              "num_heads": (2, 4), "window_size": 4, **arguments}
    assert count_swin_parameters(**config) == trainable_parameters(model) == model.count_params()


def test_shapes_through_every_stage():
    model = keras_vit.build_swin(image_size=(64, 32), patch_size=4, num_classes=7, embed_dim=8,
                                 depths=(2, 1, 2, 1), num_heads=(1, 2, 2, 4), window_size=3)
    assert model.get_layer("patches").output.shape == (None, 128, 48)
    assert model.get_layer("patch_encoder").output.shape == (None, 128, 8)
    assert model.get_layer("patch_grid").output.shape == (None, 16, 8, 8)
    grids = [(16, 8), (8, 4), (4, 2), (2, 1)]
    for stage, (depth, (rows, cols)) in enumerate(zip((2, 1, 2, 1), grids)):
        width = 8 * 2 ** stage
        if stage:
            assert model.get_layer(f"stage_{stage}_merging").output.shape == (None, rows, cols, width)
        for index in range(depth):
            block = model.get_layer(f"stage_{stage}_block_{index}")
            assert block.output.shape == (None, rows, cols, width)
    assert model.get_layer("stage_0_block_1").effective_shift_size == (1, 1)
    assert model.get_layer("stage_3_block_0").effective_window_size == (2, 1)
    assert model.get_layer("norm").output.shape == (None, 2, 1, 64)
    assert model.get_layer("pool").output.shape == (None, 64)
    assert tuple(model(images((2, 64, 32, 3))).shape) == (2, 7)
    with pytest.raises(ValueError):
        model.get_layer("stage_0_merging")
    features = keras_vit.build_swin(image_size=32, patch_size=4, embed_dim=8, depths=(1, 1), num_heads=(1, 2),
                                    window_size=2, include_top=False, pooling=None)
    assert features.output_shape == (None, 4, 4, 16)


def test_drop_path_rises_over_all_blocks():
    model = tiny_swin(drop_path_rate=0.3)
    rates = [model.get_layer(f"stage_{s}_block_{b}").drop_path_rate for s in range(2) for b in range(2)]
    np.testing.assert_allclose(rates, [0.0, 0.1, 0.2, 0.3])


@pytest.mark.parametrize("name", SMALL_PRESETS)
def test_small_presets_build_at_32_and_at_8(name):
    model = keras_vit.create_model(name)
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    assert trainable_parameters(model) == keras_vit.count_parameters(name)
    digits = keras_vit.create_model(name, image_size=(8, 8), channels=1)
    assert digits.get_layer("normalize").mean == (0.5,)
    outputs = keras.ops.convert_to_numpy(digits(images((2, 8, 8, 1))))
    assert outputs.shape == (2, 10) and np.isfinite(outputs).all()


def test_every_swin_preset_is_listed_and_counted():
    names = keras_vit.list_models("swin*")
    expected = {f"swin_{size}_patch4_window7_224" for size in ("tiny", "small", "base", "large")}
    expected |= {"swin_base_patch4_window12_384", "swin_large_patch4_window12_384"}
    expected |= {f"swinv2_{size}_window{window}_256" for size in ("tiny", "small", "base") for window in (8, 16)}
    assert expected | set(SMALL_PRESETS) == set(names)
    for name in names:
        preset = PRESETS[name]
        assert preset["architecture"] == "swin" and preset["version"] == (2 if name.startswith("swinv2") else 1)
        assert f"window{preset['window_size']}" in name and str(preset["image_size"]) in name
        assert keras_vit.count_parameters(name) > 0


def test_models_command_lists_swin(capsys):
    assert main(["models", "swin*_224"]) == 0
    out = capsys.readouterr().out
    assert "swin_tiny_patch4_window7_224" in out and "28,288,354" in out


@pytest.mark.parametrize("version", [1, 2])
def test_keras_file_round_trip(tmp_path, version):
    keras.utils.set_random_seed(version)
    model = tiny_swin(version, drop_path_rate=0.2, dropout_rate=0.1, name="tiny_swin")
    randomize(model, version)
    inputs = images((3, 24, 20, 3), seed=version)
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / "swin.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), expected, atol=1e-5, rtol=1e-5)
    assert loaded.name == "tiny_swin"
    block = loaded.get_layer("stage_1_block_1")
    assert isinstance(block, layers.SwinTransformerBlock) and block.version == version
    assert block.drop_path_rate == pytest.approx(0.2)
    for original, restored in zip(model.weights, loaded.weights):
        assert original.path == restored.path
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(original))
    assert "Lambda" not in json.dumps(keras.saving.serialize_keras_object(model))


def test_model_config_round_trip():
    model = tiny_swin(2)
    randomize(model, 3)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    inputs = images((2, 24, 20, 3), seed=4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(inputs)), keras.ops.convert_to_numpy(model(inputs)),
                               atol=1e-6, rtol=0)


@pytest.fixture
def dtype_policy(request):
    """Sets the global dtype policy for one test and restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("dtype_policy,tolerance", [("mixed_float16", 0.03), ("mixed_bfloat16", 0.15)],
                         indirect=["dtype_policy"])
def test_mixed_precision_is_finite_and_close_to_float32(dtype_policy, tolerance, version):
    inputs = images((4, 24, 20, 3), seed=5)
    mixed = tiny_swin(version)
    keras.config.set_dtype_policy("float32")
    reference = tiny_swin(version)
    keras.config.set_dtype_policy(dtype_policy)
    randomize(reference, 6)
    mixed.set_weights(reference.get_weights())
    assert mixed.get_layer("stage_0_block_1").compute_dtype == dtype_policy.split("_")[1]
    expected = keras.ops.convert_to_numpy(reference(inputs))
    outputs = keras.ops.convert_to_numpy(mixed(inputs))
    assert outputs.dtype == np.float32 and np.isfinite(outputs).all()
    assert np.abs(outputs - expected).max() <= tolerance * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("dtype_policy", ["mixed_float16"], indirect=True)
def test_masked_softmax_does_not_overflow_float16(dtype_policy):
    # Large logits and a mask with fully masked rows: float16 logits would overflow a float16 mask value.
    attention = layers.WindowAttention(num_heads=1, window_size=2)
    attention.build((None, 4, 8))
    attention.qkv.kernel.assign(np.full((8, 24), 3.0, "float32"))
    mask = np.eye(4, dtype=bool)[None].repeat(2, axis=0)
    mask[1, 2] = False
    outputs, probabilities = attention(np.full((2, 4, 8), 2.0, "float32"), attention_mask=mask,
                                       return_attention_scores=True)
    assert outputs.dtype == "float16"
    assert np.isfinite(keras.ops.convert_to_numpy(outputs)).all()
    assert np.isfinite(keras.ops.convert_to_numpy(probabilities)).all()


def numbers_in(error):
    return set(re.findall(r"\d+", str(error.value)))


def test_image_size_not_divisible_by_patch_size_is_named():
    with pytest.raises(KerasViTError) as error:
        keras_vit.create_model("swin_nano_patch2_window4_32", image_size=31)
    assert {"31", "2"} <= numbers_in(error)


def test_grid_the_merging_window_cannot_tile_is_named():
    with pytest.raises(KerasViTError, match="cannot tile the 7x7 token grid of stage 0") as error:
        keras_vit.create_model("swin_tiny_patch4_window7_224", image_size=28)
    assert {"28", "4", "8"} <= numbers_in(error)


def test_heads_not_dividing_a_stage_width_are_named():
    with pytest.raises(KerasViTError, match="Width 192 of stage 1 .* heads 5") as error:
        keras_vit.create_model("swin_tiny_patch4_window7_224", num_heads=(3, 5, 12, 24))
    assert {"192", "5"} <= numbers_in(error)


@pytest.mark.parametrize("overrides,message", [
    ({"window_size": 0}, "window_size must be at least 1, got 0"),
    ({"depths": (2, 2)}, "one entry per stage"),
    ({"version": 3}, "version must be 1 or 2, got 3"),
    ({"pooling": "token"}, "pooling must be 'gap' or None"),
    ({"pooling": None}, "needs pooling='gap'"),
])
def test_other_bad_arguments_are_clear_errors(overrides, message):
    with pytest.raises(KerasViTError, match=re.escape(message)):
        keras_vit.create_model("swin_nano_patch2_window4_32", **overrides)


@pytest.mark.parametrize("version", [1, 2])
def test_xla_compiled_forward_pass_matches_eager(version):
    # Shifted and padded windows (roll, pad, gather, masked softmax) must lower to XLA.
    model = tiny_swin(version)
    randomize(model, 8)
    inputs = images((3, 24, 20, 3), seed=9)
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), keras.ops.convert_to_numpy(model(inputs)),
                               atol=1e-5, rtol=1e-5)


def test_short_cli_training_run_of_a_small_swin(tmp_path):
    # Without XLA: compiling the whole training step takes longer than the run; the test above covers XLA.
    argv = ["train", "--model", "swin_nano_patch2_window4_32", "--epochs", "1", "--batch-size", "128",
            "--output", str(tmp_path), "--verbose", "0", "--no-jit-compile"]
    assert main(argv) == 0
    assert (tmp_path / "history.csv").read_text().count("\n") == 2
    assert (tmp_path / "training_curves.png").read_bytes().startswith(b"\x89PNG")
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    assert isinstance(model.get_layer("stage_0_block_1"), layers.SwinTransformerBlock)
