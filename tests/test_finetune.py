"""Fine-tuning: layer-wise learning rates (ViT, and Swin / PVT blocks numbered over their stages), a pretraining's
encoder loaded into a classifier (position embeddings resampled), a classifier from a pretraining, the linear probe,
a published checkpoint as the start of `train`, and the CLI. Swin and PVT starts: test_finetune_swin_pvt.py."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import KerasViTError
from keras_vit.finetuning import load_encoder_weights
from keras_vit.training.layer_decay import LayerDecayAdamW, layer_decay_scales, layer_decay_scales_of, with_layer_decay
from keras_vit.training.optimizer import build_optimizer
from keras_vit.weights import write_safetensors
from keras_vit_cli.main import main
from helpers import weight_value
from test_weights_vit import timm_vit_tensors

DEPTH, DECAY, RATE = 4, 0.5, 1e-2


def _expected_scale(path):
    layer = path.split("/")[0]
    if layer.startswith("block_"):
        return DECAY ** (DEPTH - int(layer.split("_")[1]))
    return DECAY ** (DEPTH + 1) if layer == "patch_encoder" else 1.0  # norm and head: the full rate


def _classifier():
    return keras_vit.create_model("vit_nano_patch4_28", image_size=8, channels=1, num_classes=3)


def test_each_variable_gets_the_layer_wise_learning_rate_scale():
    model = _classifier()
    optimizer = LayerDecayAdamW(layer_decay_scales(DEPTH, DECAY), learning_rate=RATE)
    scales = {weight.path: optimizer.learning_rate_scale(weight) for weight in model.trainable_weights}
    assert scales == {path: _expected_scale(path) for path in scales}
    assert scales["block_3/mlp/fc2/kernel"] == 0.5 and scales["patch_encoder/position_embedding"] == 0.5 ** 5
    for decay in (0.0, 1.5):
        with pytest.raises(KerasViTError, match="layer_decay must be in"):
            layer_decay_scales(DEPTH, decay)
        with pytest.raises(KerasViTError, match="layer_decay must be in"):
            layer_decay_scales_of(model, decay)


def test_the_scales_of_a_vit_by_its_layers_are_those_by_its_depth():
    model = _classifier()
    by_depth = LayerDecayAdamW(layer_decay_scales(DEPTH, DECAY))
    by_layers = LayerDecayAdamW(layer_decay_scales_of(model, DECAY))
    for weight in model.trainable_weights:
        assert by_layers.learning_rate_scale(weight) == by_depth.learning_rate_scale(weight), weight.path
    blockless = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")], name="mlp")
    with pytest.raises(KerasViTError, match=r"model='mlp' has no transformer blocks \(layers named block_\{i\}"):
        layer_decay_scales_of(blockless, DECAY)


_SWIN_EXPONENTS = {"patch_encoder": 7, "patch_norm": 7, "stage_0_block_0": 6, "stage_0_block_1": 5,
                   "stage_1_merging": 4, "stage_1_block_0": 4, "stage_1_block_1": 3,
                   "stage_2_merging": 2, "stage_2_block_0": 2, "stage_2_block_1": 1, "norm": 0, "head": 0}
_PVT_BLOCKS = {"stage_0_block_0": 6, "stage_0_block_1": 5, "stage_1_block_0": 4, "stage_1_block_1": 3,
               "stage_2_block_0": 2, "stage_2_block_1": 1, "head": 0}
# The exponent of DECAY of each layer with variables in the nano presets: 3 stages of 2 blocks, depth 6. The first
# patch embedding (and stage 0's positions) decay ** 7; what feeds stage s (merging, patch and position embeddings)
# as its first block; PVT v2's stage norms as their stage's last block; the final norm and head the full rate.
HIERARCHICAL_EXPONENTS = {
    "swin_nano_patch2_window4_32": _SWIN_EXPONENTS,
    "swinv2_nano_patch2_window4_32": _SWIN_EXPONENTS,
    "pvt_v2_nano_patch2_28": {**_PVT_BLOCKS, "stage_0_embedding": 7, "stage_0_norm": 5, "stage_1_embedding": 4,
                              "stage_1_norm": 3, "stage_2_embedding": 2, "stage_2_norm": 0},
    "pvt_nano_patch2_28": {**_PVT_BLOCKS, "stage_0_embedding": 7, "stage_0_position": 7, "stage_1_embedding": 4,
                           "stage_1_position": 4, "stage_2_embedding": 2, "stage_2_position": 2, "norm": 0},
}


@pytest.mark.parametrize("preset", sorted(HIERARCHICAL_EXPONENTS))
def test_each_variable_of_a_swin_or_pvt_gets_the_scale_of_its_block_numbered_over_the_stages(preset):
    model = keras_vit.create_model(preset, image_size=8, channels=1, num_classes=3)
    optimizer = LayerDecayAdamW(layer_decay_scales_of(model, DECAY), learning_rate=RATE)
    exponents = HIERARCHICAL_EXPONENTS[preset]
    scales = {weight.path: optimizer.learning_rate_scale(weight) for weight in model.trainable_weights}
    assert {path.split("/")[0] for path in scales} == set(exponents), "every layer with variables is accounted for"
    assert scales == {path: DECAY ** exponents[path.split("/")[0]] for path in scales}


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_one_adam_step_moves_each_variable_by_its_own_learning_rate(loss_scaled):
    model = _classifier()
    optimizer = LayerDecayAdamW(layer_decay_scales(DEPTH, DECAY), learning_rate=RATE, weight_decay=0.0)
    scale = 1024.0 if loss_scaled else 1.0  # a LossScaleOptimizer divides the gradients by it first
    applied = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=scale) if loss_scaled else optimizer
    before = {weight.path: weight.numpy() for weight in model.trainable_weights}
    gradients = [np.full(weight.shape, scale, "float32") for weight in model.trainable_weights]
    applied.apply_gradients(zip(gradients, model.trainable_weights))
    for weight in model.trainable_weights:  # Adam's first step from zero moments is learning rate x sign(gradient)
        np.testing.assert_allclose(before[weight.path] - weight.numpy(), RATE * _expected_scale(weight.path),
                                   rtol=1e-3, err_msg=weight.path)


def test_weight_decay_is_scaled_like_the_learning_rate_and_skips_biases_norms_embeddings():
    model = _classifier()
    optimizer = with_layer_decay(build_optimizer(RATE, total_steps=1000, weight_decay=0.1),
                                 layer_decay_scales(DEPTH, DECAY))
    before = {weight.path: weight.numpy() for weight in model.trainable_weights}
    optimizer.apply_gradients([(np.zeros(weight.shape, "float32"), weight) for weight in model.trainable_weights])
    for weight in model.trainable_weights:
        decayed = weight.path.endswith("kernel")
        factor = 1 - 0.1 * RATE * _expected_scale(weight.path) if decayed else 1.0
        np.testing.assert_allclose(weight.numpy(), before[weight.path] * factor, rtol=1e-6, err_msg=weight.path)


def test_a_compiled_xla_fit_step_uses_the_layer_wise_rates(seeded):
    model = _classifier()
    model.compile(optimizer=LayerDecayAdamW(layer_decay_scales(DEPTH, DECAY), learning_rate=RATE, weight_decay=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    before = {weight.path: weight.numpy() for weight in model.trainable_weights}
    model.fit(seeded.uniform(0, 255, (16, 8, 8, 1)), seeded.integers(0, 3, 16), batch_size=16, epochs=1, verbose=0)
    for weight in model.trainable_weights:
        largest = np.abs(before[weight.path] - weight.numpy()).max()
        np.testing.assert_allclose(largest, RATE * _expected_scale(weight.path), rtol=0.02, err_msg=weight.path)


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory):
    return keras_vit.pretrain("vit_nano_patch4_28", epochs=1, batch_size=256, mask_ratio=0.5, jit_compile=False,
                              verbose=0, output_dir=tmp_path_factory.mktemp("mae") / "run")


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("three")
    rng = np.random.default_rng(0)
    for level, name in ((30, "dark"), (128, "grey"), (220, "bright")):
        (folder / name).mkdir()
        for index in range(12):
            pixels = np.clip(rng.normal(level, 15, (20, 20)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{index}.png")
    return folder


def test_finetuning_from_a_pretraining_gets_a_new_head_a_new_image_size_and_decayed_rates(pretraining,
                                                                                           three_classes, tmp_path):
    encoder = keras.saving.load_model(pretraining.encoder_path, safe_mode=True)
    result = keras_vit.finetune(pretraining.output_dir, data_dir=three_classes, image_size=12, epochs=2,
                                batch_size=8, learning_rate=1e-3, layer_decay=DECAY, warmup_epochs=0,
                                jit_compile=False, verbose=0, output_dir=tmp_path / "run")
    model = result.model
    assert model.input_shape == (None, 12, 12, 1) and model.output_shape == (None, 3)
    assert model.get_layer("patch_encoder").position_embedding.shape == (1, 9, 64), "2x2 grid resampled to 3x3"
    run = json.loads((result.output_dir / "run.json").read_text())
    assert run["layer_decay"] == DECAY and run["pretrained"] == str(pretraining.output_dir)
    steps = 2 * -(-36 // 8)  # at most: 2 epochs of the 36 images (fewer: some are held out)
    for layer, scale in (("block_0", DECAY ** DEPTH), ("block_3", DECAY)):
        path = f"{layer}/attention/qkv/kernel"
        moved = np.abs(weight_value(model, path) - weight_value(encoder, path))
        assert 0 < moved.max() <= steps * 1e-3 * scale * 1.01, "loaded, then trained at the block's own rate"
    assert 0 <= result.test_accuracy <= 1 and result.model_path.is_file()


def test_a_linear_probe_trains_the_head_only(pretraining, tmp_path):
    encoder = keras.saving.load_model(pretraining.encoder_path, safe_mode=True)
    result = keras_vit.finetune(pretraining.encoder_path, linear_probe=True, epochs=1, batch_size=256,
                                jit_compile=False, verbose=0, output_dir=tmp_path / "probe")
    assert [weight.path for weight in result.model.trainable_weights] == ["head/kernel", "head/bias"]
    for layer in encoder.layers:
        for trained, original in zip(result.model.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(trained.numpy(), original.numpy(), err_msg=trained.path)
    assert json.loads((result.output_dir / "run.json").read_text())["weight_decay"] == 0.0


def test_finetune_command_end_to_end(pretraining, tmp_path, capsys):
    assert main(["finetune", "--from", str(pretraining.output_dir), "--epochs", "1", "--batch-size", "256",
                     "--no-jit-compile", "--verbose", "0", "--output", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("Test accuracy: ") and lines[-1].endswith("/360 test images)"), lines[-1]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["layer_decay"] == 1.0, "nano presets: no decay"


def test_finetune_errors_name_what_is_missing(tmp_path, capsys):
    assert main(["finetune", "--from", str(tmp_path)]) == 2
    assert f"--from {tmp_path} is a folder without encoder.keras" in capsys.readouterr().err
    assert main(["finetune", "--from", "no_such_checkpoint"]) == 2
    assert "neither a folder, a file, nor a published checkpoint name" in capsys.readouterr().err


def test_train_starts_from_a_checkpoint_file_with_a_new_head(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    tensors["patch_embed.proj.weight"] = tensors["patch_embed.proj.weight"][:, :1]  # one channel, as the digits
    write_safetensors(tmp_path / "vit.safetensors", tensors)
    result = keras_vit.train("vit_tiny_patch16_224", weights=tmp_path / "vit.safetensors", epochs=1, batch_size=512,
                             learning_rate=1e-9, augment="none", jit_compile=False, verbose=0,
                             output_dir=tmp_path / "run", embed_dim=16, depth=2, num_heads=2, mlp_dim=32,
                             patch_size=4)
    assert result.model.output_shape == (None, 10) and result.model.input_shape == (None, 8, 8, 1)
    np.testing.assert_allclose(result.model.get_layer("block_1").weights[0].numpy(),
                               tensors["blocks.1.norm1.weight"], atol=1e-6)
    assert json.loads((result.output_dir / "run.json").read_text())["weights"] == str(tmp_path / "vit.safetensors")


def test_models_pretrained_lists_the_published_checkpoints(capsys):
    assert main(["models", "--pretrained", "deit_*"]) == 0
    out = capsys.readouterr().out
    assert "deit_tiny_patch16_224.fb_in1k" in out and "vit_tiny_patch16_224" in out and "google/" not in out


def test_the_saved_encoder_loads_into_a_classifier_with_no_weight_left_over(pretraining):
    encoder = keras.saving.load_model(pretraining.encoder_path, safe_mode=True)
    classifier = keras_vit.create_model("vit_nano_patch4_28", image_size=8, channels=1, num_classes=3)
    loaded = load_encoder_weights(classifier, encoder)
    assert sorted(loaded) == sorted(weight.path for weight in classifier.weights if not weight.path.startswith("head"))
    trained = {weight.path: weight for weight in pretraining.autoencoder.weights}
    weights = {weight.path: weight for weight in classifier.weights}
    for path in loaded:
        np.testing.assert_array_equal(weights[path].numpy(), trained[path].numpy(), err_msg=path)


def test_resampled_position_embeddings_when_the_image_size_changes(pretraining):
    encoder = keras.saving.load_model(pretraining.encoder_path, safe_mode=True)
    classifier = keras_vit.create_model("vit_nano_patch4_28", image_size=12, channels=1, num_classes=5)
    load_encoder_weights(classifier, encoder)
    expected = keras_vit.layers.resample_position_embeddings(
        encoder.get_layer("patch_encoder").position_embedding, (2, 2), (3, 3))
    np.testing.assert_allclose(classifier.get_layer("patch_encoder").position_embedding.numpy(), expected, atol=1e-6)
    wrong = keras_vit.create_model("vit_micro_patch4_28", image_size=8, channels=1)
    with pytest.raises(KerasViTError, match=r"does not fit model .*patch_encoder/projection/kernel has shape"):
        load_encoder_weights(wrong, encoder)
