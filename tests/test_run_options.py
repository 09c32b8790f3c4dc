"""The two option objects of a run: `DataSpec` (the images) and `RunConfig` (how and where it runs), their checks,
the keyword shortcuts that fill them, and the CLI flags gathered into them."""

import json
import re

import pytest

import keras_vit
from keras_vit import DataSpec, KerasViTError, RunConfig
from keras_vit.training.run import run_options
from keras_vit_cli import commands
from keras_vit_cli.main import main


@pytest.mark.parametrize("make, parameter", [
    (lambda: DataSpec(cache=3), "cache=3"),
    (lambda: DataSpec(validation_dir="v/"), "validation_dir= goes with data_dir="),
    (lambda: DataSpec("digits", test_dir="t/"), "test_dir= goes with data_dir="),
    (lambda: DataSpec(dataset=None), "dataset=None"),
    (lambda: RunConfig(precision="float8"), "Unknown precision 'float8'"),
    (lambda: RunConfig(steps_per_execution=0), "steps_per_execution=0 must be at least 1"),
    (lambda: RunConfig(time_budget=-5), "time_budget=-5 must be a positive number"),
    (lambda: RunConfig(backup_interval=-1), "backup_interval=-1 must be"),
    (lambda: DataSpec.of(RunConfig()), "data=RunConfig"),
    (lambda: DataSpec.of("digits", datadir="d/"), "Unknown data argument(s) datadir. Known: dataset, data_dir"),
    (lambda: keras_vit.evaluate_model("m.keras", split="test", data_dri="d/"), "Unknown data argument(s) data_dri"),
    (lambda: RunConfig.of("runs/x"), "run='runs/x' must be a RunConfig"),
])
def test_a_bad_option_is_an_error_when_the_object_is_made_naming_the_parameter(make, parameter):
    with pytest.raises(KerasViTError, match=re.escape(parameter)):
        make()


def test_data_dir_is_an_image_or_shard_folder_only():
    with pytest.raises(KerasViTError, match="data_dir='idx/' is a folder of images or shards, which replaces "
                                            "dataset='mnist'; the IDX files of 'mnist' go in idx_dir=FOLDER"):
        DataSpec("mnist", data_dir="idx/")
    folder = DataSpec(data_dir="flowers/", validation_dir="v/")
    assert (folder.source, folder.name, DataSpec("mnist", idx_dir="idx/").source) == ("folder", "flowers/", "mnist")
    assert folder.recorded()["dataset"] is None and folder.recorded()["validation_dir"].endswith("/v")


def test_keyword_shortcuts_fill_the_objects_and_leave_the_builder_arguments():
    spec, config, others = run_options(None, None, dict(dataset="mnist", idx_dir="idx/", cache="none", seed=3,
                                                        output_dir="runs/a", verbose=0, dropout_rate=0.1))
    assert spec == DataSpec("mnist", idx_dir="idx/", cache="none")
    assert config == RunConfig(seed=3, output_dir="runs/a", verbose=0) and others == {"dropout_rate": 0.1}
    given = run_options(DataSpec("mnist", cache="none"), RunConfig(seed=3), dict(idx_dir="idx/", verbose=0))
    assert given[:2] == (DataSpec("mnist", idx_dir="idx/", cache="none"), RunConfig(seed=3, verbose=0)), (
        "a shortcut replaces the field of the object given")
    assert run_options("tfds:cifar10", None, {})[0] == DataSpec(dataset="tfds:cifar10")
    assert run_options(None, RunConfig(time_budget=60), {}, epochs=3)[1].time_budget is None, "epochs win"


def test_train_with_shortcuts_is_train_with_the_objects(tmp_path):
    recipe = dict(model="vit_nano_patch4_28", epochs=1, batch_size=512, warmup_epochs=0)
    keras_vit.train(**recipe, dataset="digits", seed=1, jit_compile=False, output_dir=tmp_path / "a", verbose=0)
    keras_vit.train(**recipe, data=DataSpec("digits"),
                    run=RunConfig(seed=1, jit_compile=False, output_dir=tmp_path / "b", verbose=0))
    assert json.loads((tmp_path / "a" / "run.json").read_text()) == json.loads((tmp_path / "b" / "run.json").read_text())


def test_the_cli_gathers_its_flags_into_the_objects_and_names_their_errors_as_flags(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(commands, "_report_classifier", lambda result: None)
    monkeypatch.setattr(keras_vit.training, "train", lambda **arguments: seen.update(arguments))
    assert main(["train", "--dataset", "mnist", "--idx-dir", "idx/", "--seed", "3", "--no-jit-compile",
                     "--epochs", "2"]) == 0
    assert seen == {"data": DataSpec("mnist", idx_dir="idx/"), "run": RunConfig(seed=3, jit_compile=False),
                    "epochs": 2}
    assert main(["train", "--dataset", "mnist", "--data-dir", "idx/"]) == 2
    assert ("--data-dir idx/ is a folder of images or shards, which replaces --dataset mnist; the IDX files of "
            "'mnist' go in --idx-dir FOLDER") in capsys.readouterr().err
