"""Tests of the PVT builder, presets and parameter counter: numerics, shapes, round trips, precision, errors, CLI."""

import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
import pvt_numpy
from helpers import (TINY_PVT, check_keras_file_round_trip, check_mixed_precision_close, check_model_config_round_trip,
                     numbers_in, perturb, random_pixels, tiny_pvt, to_numpy, trainable_parameters)
from keras_vit import KerasViTError, layers
from keras_vit_cli.main import main
from keras_vit.inference.predict import load_image
from keras_vit.models import PRESETS, count_pvt_parameters
from keras_vit.viz.saliency import grad_cam

IMAGENET_PRESETS = ["pvt_v2_b0", "pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b2_li", "pvt_v2_b3", "pvt_v2_b4", "pvt_v2_b5",
                    "pvt_tiny", "pvt_small", "pvt_medium", "pvt_large"]
SMALL_PRESETS = ["pvt_nano_patch2_28", "pvt_nano_patch2_32", "pvt_v2_nano_patch2_28", "pvt_v2_nano_patch2_32"]


@pytest.mark.parametrize("version,arguments", [
    (2, {}), (2, {"linear": True}), (2, {"qkv_bias": False, "include_top": False}),
    (2, {"include_top": False, "pooling": None}), (1, {}), (1, {"pooling": "gap"}),
    (1, {"include_top": False, "pooling": None, "channels": 1, "mean": 0.5, "std": 0.5}),
    (2, {"image_size": 9, "patch_size": 1, "sr_ratios": (8, 4, 2)}),
])
def test_counter_equals_built_model(version, arguments):
    model = tiny_pvt(version, **arguments)
    config = {**TINY_PVT, "image_size": (22, 18), "version": version,
              "pooling": "token" if version == 1 else "gap", **arguments}
    assert count_pvt_parameters(**config) == trainable_parameters(model) == model.count_params()


@pytest.mark.parametrize("version,linear,pooling", [(2, False, "gap"), (2, True, "gap"), (1, False, "token"),
                                                    (1, False, "gap")])
def test_forward_pass_equals_numpy_reference(version, linear, pooling):
    model = tiny_pvt(version, linear=linear, pooling=pooling)
    perturb(model, seed=version)
    inputs = random_pixels((2, 22, 18, 3), seed=1)
    expected = pvt_numpy.forward(model, inputs, version, TINY_PVT["patch_size"], TINY_PVT["num_heads"],
                                 TINY_PVT["sr_ratios"], TINY_PVT["mean"], TINY_PVT["std"], linear=linear,
                                 pooling=pooling)
    np.testing.assert_allclose(to_numpy(model(inputs)), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("version,grids", [(2, [(16, 8), (8, 4), (4, 2), (2, 1)]),
                                           (1, [(16, 8), (8, 4), (4, 2), (2, 1)])])
def test_shapes_through_every_stage(version, grids):
    model = keras_vit.build_pvt(image_size=(64, 32), version=version, num_classes=7, embed_dims=(8, 16, 16, 32),
                                depths=(2, 1, 1, 1), num_heads=(1, 2, 2, 4), mlp_ratios=(2, 2, 2, 2),
                                pooling="token" if version == 1 else "gap")
    for stage, (rows, cols) in enumerate(grids):
        width = (8, 16, 16, 32)[stage]
        assert model.get_layer(f"stage_{stage}_embedding").output.shape == (None, rows, cols, width)
        tokens = rows * cols + (version == 1 and stage == 3)
        assert model.get_layer(f"stage_{stage}_block_0").output.shape == (None, tokens, width)
        if stage < 3:
            assert model.get_layer(f"stage_{stage}_grid").output.shape == (None, rows, cols, width)
    if version == 1:
        assert model.get_layer("stage_3_position").use_class_token
        assert not model.get_layer("stage_2_position").use_class_token
        assert model.get_layer("norm").output.shape == (None, 3, 32)
    else:
        assert model.get_layer("stage_3_norm").output.shape == (None, 2, 32)
    assert model.get_layer("stage_0_block_1").attention.key_grid == (2, 1)  # 16x8 reduced 8 times
    assert model.get_layer("pool").output.shape == (None, 32)
    assert tuple(model(random_pixels((2, 64, 32, 3))).shape) == (2, 7)
    features = tiny_pvt(version, include_top=False, pooling=None)
    assert features.output_shape == ((None, 3, 3, 24) if version == 2 else (None, 2, 2, 24))


def test_drop_path_rises_over_all_blocks():
    model = tiny_pvt(drop_path_rate=0.3)
    rates = [model.get_layer(name).drop_path_rate for name in
             ("stage_0_block_0", "stage_1_block_0", "stage_1_block_1", "stage_2_block_0")]
    np.testing.assert_allclose(rates, [0.0, 0.1, 0.2, 0.3])


@pytest.mark.parametrize("name", ["pvt_nano_patch2_32", "pvt_v2_nano_patch2_32"])  # the 28s: the same layers
def test_small_presets_run_on_the_digits(name):
    digits = keras_vit.create_model(name, image_size=8, channels=1)
    outputs = to_numpy(digits(random_pixels((2, 8, 8, 1))))
    assert outputs.shape == (2, 10) and np.isfinite(outputs).all()


def test_every_pvt_preset_is_listed_and_counted():
    expected = set(IMAGENET_PRESETS) | set(SMALL_PRESETS)
    assert set(keras_vit.list_models("pvt*")) == expected
    for name in expected:
        preset = PRESETS[name]
        assert preset["architecture"] == "pvt" and preset["version"] == (2 if name.startswith("pvt_v2") else 1)
        assert preset["linear"] == name.endswith("_li")
        assert keras_vit.count_parameters(name) > 0


def test_models_command_lists_pvt(capsys):
    assert main(["models", "pvt*"]) == 0
    out = capsys.readouterr().out
    assert "pvt_v2_b2_li" in out and "22,553,512" in out and "pvt_large" in out and "61,369,320" in out


@pytest.mark.parametrize("version", [1, 2])
def test_keras_file_round_trip(tmp_path, version):
    keras.utils.set_random_seed(version)
    model = tiny_pvt(version, drop_path_rate=0.2, dropout_rate=0.1, linear=version == 2, name="tiny_pvt")
    perturb(model, version)
    inputs = random_pixels((3, 22, 18, 3), seed=version)
    loaded = check_keras_file_round_trip(model, inputs, tmp_path / "pvt.keras")
    assert loaded.name == "tiny_pvt"
    block = loaded.get_layer("stage_2_block_0")
    assert isinstance(block, layers.PVTBlock) and block.version == version and block.linear == (version == 2)
    assert block.drop_path_rate == pytest.approx(0.2)
    assert "Lambda" not in json.dumps(keras.saving.serialize_keras_object(model))


@pytest.mark.parametrize("version", [1, 2])
def test_model_config_round_trip(version):
    model = tiny_pvt(version)
    perturb(model, 3)
    check_model_config_round_trip(model, random_pixels((2, 22, 18, 3), seed=4))


@pytest.mark.parametrize("dtype_policy,tolerance,version,linear",
                         [("mixed_float16", 0.03, 1, False), ("mixed_bfloat16", 0.15, 2, True)],
                         indirect=["dtype_policy"])
def test_mixed_precision_is_finite_and_close_to_float32(dtype_policy, tolerance, version, linear):
    inputs = random_pixels((4, 22, 18, 3), seed=5)
    mixed = check_mixed_precision_close(lambda: tiny_pvt(version, linear=linear), inputs, dtype_policy, tolerance)
    assert mixed.get_layer("stage_0_block_0").compute_dtype == dtype_policy.split("_")[1]


def test_xla_compiled_forward_pass_matches_eager():
    # Strided slices, the adaptive-pooling einsum and the depth-wise convolution must lower to XLA.
    model = tiny_pvt(2, linear=True, embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), mlp_ratios=(2, 2),
                     sr_ratios=(4, 1))
    perturb(model, 8)
    inputs = random_pixels((3, 22, 18, 3), seed=9)
    model.compile(jit_compile=True)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), to_numpy(model(inputs)),
                               atol=1e-5, rtol=1e-5)


def test_image_too_small_for_the_stages_is_named():
    with pytest.raises(KerasViTError, match="too small for 4 PVT stages") as error:
        # 7x7, then 3x3, then 1x1: stage 3 has no 2x2 patch
        keras_vit.create_model("pvt_tiny", image_size=28, sr_ratios=(1, 1, 1, 1))
    assert {"28", "1", "2", "3"} <= numbers_in(error)


def test_sr_ratio_larger_than_a_stage_grid_is_named():
    with pytest.raises(KerasViTError, match=re.escape("sr_ratios[0] = 8 is larger than the 4x4 token grid")):
        keras_vit.create_model("pvt_v2_b0", image_size=16)
    assert keras_vit.create_model("pvt_v2_nano_patch2_28", image_size=8, linear=True).output_shape == (None, 10)


def test_heads_not_dividing_a_stage_width_are_named():
    with pytest.raises(KerasViTError, match=re.escape("Width 128 of stage 1 (embed_dims[1]) is not divisible by "
                                                      "the number of heads 3 (num_heads[1])")):
        keras_vit.create_model("pvt_v2_b1", num_heads=(1, 3, 5, 8))


@pytest.mark.parametrize("overrides,message", [
    ({"depths": (2, 2)}, "must have one entry per stage"),
    ({"sr_ratios": 2}, "sr_ratios must hold one value per stage"),
    ({"version": 3}, "PVT version must be 1 or 2, got 3"),
    ({"linear": True, "version": 1}, "linear SRA (linear=True) is PVT v2's"),
    ({"pooling": "token"}, "PVT version 2 pooling must be one of ('gap', None), got 'token'"),
    ({"pooling": None}, "needs pooling='gap'"),
    ({"depths": (2, 0, 2)}, "Every stage needs at least one block"),
    ({"sr_ratios": (4, 2, 0)}, "sr_ratios must be at least 1, got sr_ratios[2] = 0"),
    ({"patch_size": 0}, "patch_size must be a positive integer, got 0"),
])
def test_other_bad_arguments_are_clear_errors(overrides, message):
    with pytest.raises(KerasViTError, match=re.escape(message)):
        keras_vit.create_model("pvt_v2_nano_patch2_32", **overrides)


def test_class_token_stage_must_attend_plainly():
    with pytest.raises(KerasViTError, match=re.escape("sr_ratios[-1] must be 1, got 2")):
        keras_vit.create_model("pvt_nano_patch2_32", sr_ratios=(4, 2, 2))


def test_short_cli_training_run_of_a_small_pvt(tmp_path, monkeypatch):
    # A two-block cut of pvt_v2_nano_patch2_32 (same name pattern, so the same "small" recipe): tracing the
    # training step costs about 8 s a block on a CPU, and what is under test is the command's path (recipe, build
    # at the digits' 8x8x1, fit, save, reload); the real small presets run on the digits in
    # test_small_presets_run_on_the_digits.
    preset = {**PRESETS["pvt_v2_nano_patch2_32"], "embed_dims": (16, 32), "depths": (1, 1), "num_heads": (1, 2),
              "mlp_ratios": (2, 2), "sr_ratios": (2, 1)}
    monkeypatch.setitem(PRESETS, "pvt_v2_nano_patch2_32_cut", preset)
    argv = ["train", "--model", "pvt_v2_nano_patch2_32_cut", "--epochs", "1", "--batch-size", "128",
            "--output", str(tmp_path), "--verbose", "0", "--no-jit-compile"]
    assert main(argv) == 0
    assert (tmp_path / "history.csv").read_text().count("\n") == 2
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    assert isinstance(model.get_layer("stage_1_block_0"), layers.PVTBlock)
    assert model.get_layer("stage_0_block_0").attention.key_grid == (2, 2)  # the 4x4 grid of 8x8 digits, halved


def test_grad_cam_explains_the_last_stage_and_follows_the_class():
    # Version 1: the class token classifies, so the map is the last block's input (the explain test below: v2).
    model = tiny_pvt(1, num_classes=3)
    perturb(model, seed=21)
    inputs = random_pixels((2, 22, 18, 3), seed=21)
    maps = [grad_cam(model, inputs, class_index=index) for index in range(3)]
    for heatmap in maps:
        assert heatmap.shape == (2, 22, 18) and np.isfinite(heatmap).all()
        assert heatmap.min() >= 0.0 and 0.0 < heatmap.max() <= 1.0
    assert np.abs(maps[0] - maps[1]).max() > 1e-2
    predicted = np.argmax(to_numpy(model(inputs)), axis=-1)
    np.testing.assert_allclose(grad_cam(model, inputs), [maps[c][i] for i, c in enumerate(predicted)], atol=1e-6)


def test_explain_writes_a_grad_cam_png_for_a_pvt(tmp_path):
    model = tiny_pvt(2, num_classes=3)
    perturb(model, seed=22)
    path = tmp_path / "pvt.keras"
    model.class_names = ["cat", "dog", "bird"]
    model.save(path)
    image = tmp_path / "image.png"
    image.write_bytes(tf.io.encode_png(random_pixels((22, 18, 3), seed=23).astype("uint8")).numpy())
    heatmap = keras_vit.explain_image(path, image, tmp_path / "explained.png")
    pixels = load_image(image, (22, 18), 3)
    np.testing.assert_allclose(heatmap, grad_cam(model, pixels[None])[0], atol=1e-5)
    assert (tmp_path / "explained.png").read_bytes().startswith(b"\x89PNG")
