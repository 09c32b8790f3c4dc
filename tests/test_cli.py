"""The `keras-vit` command line: an end-to-end run, the model list, and its one-line errors in flags."""

import argparse
import ast
import csv
import os
import pathlib
import re
import shutil
import subprocess
import sys

import keras
import pytest

import keras_vit
from keras_vit_cli import commands
from keras_vit_cli.flags import flags_of, in_flags
from keras_vit_cli.main import main
from keras_vit_cli.parser import build_parser

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


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
        capture_output=True, text=True, timeout=300,
        env={key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "Could not find cuda drivers"):
        assert noise not in completed.stderr, "TensorFlow's start-up lines are held back"
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
    assert main(["models", "vit_*_patch16_224"]) == 0
    out = capsys.readouterr().out
    assert "vit_tiny_patch16_224" in out and "5,717,416" in out
    assert "vit_base_patch16_224" in out and "86,567,656" in out
    assert "vit_base_patch32_224" not in out


PARSING_ONLY = """
import sys
from keras_vit_cli.main import main
for argv in (["--help"], ["train", "--help"], ["pretrain", "--help"]):
    try:
        main(argv)
    except SystemExit:
        pass
status = main(["models", "vit_tiny*"]), main(["models", "no_such_model*"])
print(status, sorted(name for name in ("keras", "tensorflow", "keras_vit") if name in sys.modules))
"""


def test_help_and_the_model_list_import_neither_keras_nor_tensorflow():
    completed = subprocess.run([sys.executable, "-c", PARSING_ONLY], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "(0, 2) []"
    assert "usage: keras-vit train" in completed.stdout and "vit_tiny_patch16_224" in completed.stdout
    assert completed.stderr.strip() == "keras-vit: error: No model matches 'no_such_model*'."


def _error_of(argv, capsys):
    assert main(argv) == 2
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


def test_train_takes_a_separate_test_folder(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(commands, "_report_classifier", lambda result: None)
    monkeypatch.setattr(keras_vit.training, "train", lambda **arguments: seen.update(arguments))
    assert main(["train", "--data-dir", str(tmp_path / "train"), "--test-dir", str(tmp_path / "test")]) == 0
    assert seen["data"] == keras_vit.DataSpec(data_dir=str(tmp_path / "train"), test_dir=str(tmp_path / "test"))


def test_bad_number_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_library_errors_name_python_parameters_and_the_cli_prints_them_as_flags():
    flags = {name: flags_of(sub_parser) for name, sub_parser in _sub_parsers().items()}
    train, finetune = flags["train"], flags["finetune"]
    assert in_flags("clip_norm=-1.0 must be positive.", train) == "--clip-norm -1.0 must be positive."
    assert in_flags("choose another output_dir=, or pass overwrite=True to replace it.", train) == (
        "choose another --output, or pass --overwrite to replace it.")
    assert in_flags("jit_compile=False and skip_corrupt=True", train) == "--no-jit-compile and --skip-corrupt"
    assert in_flags("pretrained='runs/a b' is a folder", finetune) == "--from runs/a b is a folder"
    assert in_flags("pass mean=0.5, model=PRESET.", train) == "pass mean=0.5, --model PRESET."
    assert in_flags("batch_size=0 must be at least 1.", flags["evaluate"]) == "--batch-size 0 must be at least 1."


def test_no_library_error_message_names_a_command_line_flag():
    offenders = []
    for path in sorted((REPO_ROOT / "keras_vit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KerasViTError"):
                text = "".join(_literal_text(argument) for argument in node.args)
                if re.search(r"(?<![\w-])--[a-z]", re.sub(r"`[^`]*`", "", text)):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {text}")
    assert not offenders, "\n".join(offenders)


def _literal_text(node):
    """The literal text of a string expression, `{}` for each value formatted into it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_literal_text(value) if isinstance(value, ast.Constant) else "{}" for value in node.values)
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) + _literal_text(node.right)
    return ""


def _sub_parsers():
    sub_commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return sub_commands.choices
