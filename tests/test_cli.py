"""The `keras-vit` command line: an end-to-end run, the model list, and its one-line errors."""

import csv
import os
import shutil
import subprocess

import keras
import pytest

from keras_vit import cli


def _console_script():
    path = shutil.which("keras-vit")
    if path is None:
        pytest.fail("the keras-vit console script is not on PATH: install the package (pip install -e .)")
    return path


def test_train_end_to_end_through_the_console_script(tmp_path):
    output = tmp_path / "run"
    completed = subprocess.run(
        [_console_script(), "train", "--model", "vit_nano_patch4_28", "--epochs", "2",
         "--batch-size", "128", "--learning-rate", "0.003", "--warmup-epochs", "1", "--output", str(output)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("Test accuracy: ") and lines[-1].endswith("/360 test images)"), lines[-1]
    assert "Epoch 2/2" in completed.stdout, "a Keras progress report per epoch"
    with open(output / "history.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert (output / "training_curves.png").read_bytes().startswith(b"\x89PNG")
    model = keras.saving.load_model(output / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 10)


def test_models_lists_presets_with_parameter_counts(capsys):
    assert cli.main(["models", "vit_*_patch16_224"]) == 0
    out = capsys.readouterr().out
    assert "vit_tiny_patch16_224" in out and "5,717,416" in out
    assert "vit_base_patch16_224" in out and "86,567,656" in out
    assert "vit_base_patch32_224" not in out


def _error_of(argv, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got: {captured.err}"
    assert lines[0].startswith("keras-vit: error: ")
    return lines[0]


def test_unknown_model_error_suggests_the_closest_names(capsys):
    message = _error_of(["train", "--model", "vit_tiny_patch16_225"], capsys)
    assert "Unknown model 'vit_tiny_patch16_225'" in message and "vit_tiny_patch16_224" in message


def test_missing_data_folder_error_names_it(tmp_path, capsys):
    message = _error_of(["train", "--data-dir", str(tmp_path / "absent"), "--output", str(tmp_path / "o")], capsys)
    assert str(tmp_path / "absent") in message and "does not exist" in message


def test_empty_data_folder_error_names_it(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    message = _error_of(["train", "--data-dir", str(tmp_path / "empty"), "--output", str(tmp_path / "o")], capsys)
    assert str(tmp_path / "empty") in message and "is empty" in message


def test_image_size_not_divisible_by_patch_size(tmp_path, capsys):
    message = _error_of(["train", "--model", "vit_tiny_patch16_224", "--output", str(tmp_path)], capsys)
    assert "8x8" in message and "patch size 16" in message


def test_width_not_divisible_by_heads_is_a_clear_error():
    from keras_vit import KerasViTError, create_model

    with pytest.raises(KerasViTError, match="Width .*100.* not divisible by the number of heads 3"):
        create_model("vit_nano_patch4_28", embed_dim=100, num_heads=3)


def test_bad_number_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err
