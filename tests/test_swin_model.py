"""Tests of the Swin builder, presets and parameter counter: shapes, round trips, mixed precision, errors, CLI."""

import json
import re

import keras
import numpy as np
import pytest

import keras_vit
from helpers import (check_keras_file_round_trip, check_mixed_precision_close, check_model_config_round_trip, numbers_in,
                     perturb, random_pixels, tiny_swin, to_numpy, trainable_parameters)
from keras_vit import KerasViTError, layers
from keras_vit_cli.main import main
from keras_vit.models import PRESETS, count_swin_parameters

SMALL_PRESETS = ["swin_nano_patch2_window4_32", "swin_micro_patch2_window4_32", "swinv2_nano_patch2_window4_32"]


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
    assert tuple(model(random_pixels((2, 64, 32, 3))).shape) == (2, 7)
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
def test_small_presets_run_on_the_digits(name):
    # Their build at 32x32, counts and shapes: test_presets.py, for every preset.
    digits = keras_vit.create_model(name, image_size=(8, 8), channels=1)
    assert digits.get_layer("normalize").mean == (0.5,)
    outputs = to_numpy(digits(random_pixels((2, 8, 8, 1))))
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
    perturb(model, version)
    inputs = random_pixels((3, 24, 20, 3), seed=version)
    loaded = check_keras_file_round_trip(model, inputs, tmp_path / "swin.keras",
                                         outputs_of=lambda m: m.predict(inputs, verbose=0))
    assert loaded.name == "tiny_swin"
    block = loaded.get_layer("stage_1_block_1")
    assert isinstance(block, layers.SwinTransformerBlock) and block.version == version
    assert block.drop_path_rate == pytest.approx(0.2)
    assert "Lambda" not in json.dumps(keras.saving.serialize_keras_object(model))


def test_model_config_round_trip():
    model = tiny_swin(2)
    perturb(model, 3)
    check_model_config_round_trip(model, random_pixels((2, 24, 20, 3), seed=4))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("dtype_policy,tolerance", [("mixed_float16", 0.03), ("mixed_bfloat16", 0.15)],
                         indirect=["dtype_policy"])
def test_mixed_precision_is_finite_and_close_to_float32(dtype_policy, tolerance, version):
    inputs = random_pixels((4, 24, 20, 3), seed=5)
    mixed = check_mixed_precision_close(lambda: tiny_swin(version), inputs, dtype_policy, tolerance)
    assert mixed.get_layer("stage_0_block_1").compute_dtype == dtype_policy.split("_")[1]


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
    assert np.isfinite(to_numpy(outputs)).all()
    assert np.isfinite(to_numpy(probabilities)).all()


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
    perturb(model, 8)
    inputs = random_pixels((3, 24, 20, 3), seed=9)
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), to_numpy(model(inputs)),
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
