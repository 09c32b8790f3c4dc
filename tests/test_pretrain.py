"""Masked-image pretraining: the masks, the loss on masked patches only, a run and its files, resuming, and the CLI
(the encoder it leaves, loaded into a classifier: test_finetune.py)."""

import csv
import json
import math

import numpy as np
import pytest

import keras_vit
from keras_vit import KerasViTError
from keras_vit.pretrain import MaskTokens, RandomMasking, build_mae, masked_reconstruction_loss, visible_count
from keras_vit.training import run as run_steps
from keras_vit.training.callbacks import RaiseOnNaN
from keras_vit_cli.main import main

TINY = dict(model="vit_nano_patch4_28", dataset="digits", batch_size=128, learning_rate=3e-3, warmup_epochs=1,
            mask_ratio=0.5, jit_compile=False, verbose=0)  # digits: 2x2 patches, 2 of them kept


def _logged_epochs(path):
    with open(path, newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


@pytest.mark.parametrize("num_patches, mask_ratio, prefix, visible", [(16, 0.75, 0, 4), (49, 0.75, 1, 12),
                                                                      (10, 0.5, 1, 5), (4, 0.9, 0, 1)])
def test_masking_keeps_exactly_the_visible_count_and_restores_the_patch_order(num_patches, mask_ratio, prefix,
                                                                              visible):
    assert visible_count(num_patches, mask_ratio) == visible  # floor(N * (1 - ratio)), at least 1
    batch = 32
    ids = np.broadcast_to(np.arange(-prefix, num_patches, dtype="float32")[None, :, None],
                          (batch, prefix + num_patches, 3))  # each token carries its patch index (-1: class token)
    kept, mask, restore = (np.asarray(value) for value in RandomMasking(mask_ratio, prefix, seed=1)(ids))
    assert kept.shape == (batch, prefix + visible, 3) and mask.shape == (batch, num_patches)
    assert np.all(mask.sum(1) == num_patches - visible)
    assert np.all(kept[:, :prefix, 0] == -1), "the class token is always kept, first"
    for row in range(batch):
        assert sorted(kept[row, prefix:, 0]) == sorted(np.flatnonzero(mask[row] == 0)), "mask 0 = kept patch"
    possible = math.comb(num_patches, visible)
    assert len({tuple(row) for row in mask}) >= min(batch // 2, possible), "each image draws its own mask"
    # the decoder input puts every kept patch back at its place and the mask token everywhere else
    tokens = MaskTokens(num_patches, prefix, embedding_initializer="zeros")
    tokens.build([kept.shape, restore.shape])
    tokens.mask_token.assign(np.full((1, 1, 3), 1000.0))
    decoded = np.asarray(tokens([kept, restore]))[:, prefix:, 0]
    expected = np.where(mask == 1, 1000.0, np.arange(num_patches)[None])
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_loss_counts_only_the_masked_patches(norm_pix_loss, seeded):
    target = seeded.normal(size=(3, 6, 8)).astype("float32")
    predictions = seeded.normal(size=(3, 6, 8)).astype("float32")
    mask = (seeded.random((3, 6)) < 0.5).astype("float32")
    mask[0, 0] = 1.0
    expected_target = target
    if norm_pix_loss:
        expected_target = (target - target.mean(-1, keepdims=True)) / np.sqrt(
            target.var(-1, ddof=1, keepdims=True) + 1e-6)
    errors = ((predictions - expected_target) ** 2).mean(-1)
    expected = errors[mask == 1].mean()
    loss = float(masked_reconstruction_loss(target, predictions, mask, norm_pix_loss))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    changed = np.where(mask[..., None] == 1, predictions, predictions + 100.0)  # kept patches: any prediction
    np.testing.assert_allclose(float(masked_reconstruction_loss(target, changed, mask, norm_pix_loss)), expected,
                               rtol=1e-5)


def test_swin_presets_are_refused_with_a_clear_error():
    with pytest.raises(KerasViTError, match="ViT presets only; 'swin_nano_patch2_window4_32' is a swin"):
        build_mae("swin_nano_patch2_window4_32")


def test_the_encoder_runs_on_the_visible_patches_only():
    autoencoder, encoder = build_mae("vit_tiny_patch16_224", image_size=32, patch_size=8, depth=2, mask_ratio=0.75)
    block = autoencoder.get_layer("block_0")
    assert block is encoder.get_layer("block_0"), "the autoencoder trains the encoder's own layers"
    seen, call = [], block.call
    block.call = lambda tokens, *args, **kwargs: (seen.append(tuple(tokens.shape)), call(tokens, *args, **kwargs))[1]
    outputs = autoencoder(np.zeros((2, 32, 32, 3)))
    assert seen == [(2, 1 + 4, 192)], "class token + floor(16 * 0.25) patches"
    assert outputs["predictions"].shape == outputs["target"].shape == (2, 16, 8 * 8 * 3), "every patch predicted"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    return keras_vit.pretrain(**TINY, epochs=3, output_dir=tmp_path_factory.mktemp("mae") / "run")


def test_a_short_pretraining_lowers_the_loss_and_writes_its_files(pretrained):
    losses = pretrained.history["loss"]
    assert len(losses) == 3 and losses[-1] < 0.7 * losses[0], losses
    assert _logged_epochs(pretrained.history_path) == [0, 1, 2]
    for path in (pretrained.curves_path, pretrained.reconstruction_path):
        assert path.read_bytes().startswith(b"\x89PNG")
    assert not (pretrained.output_dir / "backup").exists()
    assert json.loads((pretrained.output_dir / "run.json").read_text())["mask_ratio"] == 0.5
    assert pretrained.autoencoder.optimizer.beta_2 == 0.95, "MAE's AdamW beta2"


def test_a_finished_pretraining_is_not_silently_run_again(pretrained):
    with pytest.raises(KerasViTError, match="already holds a finished run"):
        keras_vit.pretrain(**TINY, epochs=3, output_dir=pretrained.output_dir)


class _StopAtEpoch(RaiseOnNaN):
    """Fails at the start of epoch index 2, as a killed run would."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("killed")


def test_an_interrupted_pretraining_resumes_from_its_backup(tmp_path, monkeypatch):
    arguments = dict(**TINY, epochs=3, output_dir=tmp_path / "run", backup_interval=0)
    monkeypatch.setattr(run_steps, "RaiseOnNaN", _StopAtEpoch)
    with pytest.raises(RuntimeError, match="killed"):
        keras_vit.pretrain(**arguments)
    started = []

    class Recorder(RaiseOnNaN):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    monkeypatch.setattr(run_steps, "RaiseOnNaN", Recorder)
    result = keras_vit.pretrain(**arguments)
    assert started == [2], "resumed after the two backed-up epochs"
    assert _logged_epochs(result.history_path) == [0, 1, 2] and len(result.history["loss"]) == 3
    assert keras_vit.load_dataset("digits").sizes["train"] == 1293  # 11 batches of 128: 2 executions of 6 steps
    assert int(result.autoencoder.optimizer.iterations.numpy()) == 3 * 12


def test_pretrain_command_end_to_end(tmp_path, capsys):
    output = tmp_path / "mae"
    assert main(["pretrain", "--model", "vit_nano_patch4_28", "--epochs", "1", "--batch-size", "256",
                     "--mask-ratio", "0.5", "--norm-pix-loss", "--decoder-dim", "32", "--decoder-depth", "1",
                     "--no-jit-compile", "--verbose", "0", "--output", str(output)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("Final masked-patch loss: ") and "encoder.keras" in lines[-2]
    run = json.loads((output / "run.json").read_text())
    assert (run["mask_ratio"], run["norm_pix_loss"], run["decoder_dim"], run["decoder_depth"]) == (0.5, True, 32, 1)
    assert (output / "reconstruction.png").is_file()


def test_convolutional_stems_are_refused_with_a_clear_error():
    with pytest.raises(KerasViTError, match="'vitc_nano_patch4_28' has a convolutional stem"):
        build_mae("vitc_nano_patch4_28")
