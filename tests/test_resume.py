"""What a run leaves behind: resume after SIGKILL, NaN loss, the output folder of another run, best model, logs."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import time

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.data import load_dataset
from keras_vit.errors import KerasViTError
from keras_vit.training import run as run_steps
from keras_vit.training.callbacks import IntervalBackupAndRestore

TINY = dict(model="vit_nano_patch4_28", dataset="digits", batch_size=128, learning_rate=3e-3, warmup_epochs=1,
            jit_compile=False, verbose=0)


def _epochs_logged(path):
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def test_a_killed_run_resumes_from_its_last_backup(tmp_path):
    output = tmp_path / "run"
    epochs, batch_size = 5, 64
    command = [shutil.which("keras-vit"), "train", "--model", "vit_nano_patch4_28", "--epochs", str(epochs),
               "--batch-size", str(batch_size), "--steps-per-execution", "1", "--no-jit-compile", "--verbose", "2",
               "--backup-interval", "0",
               "--output", str(output)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    deadline = time.monotonic() + 120
    while len(_epochs_logged(output / "history.csv")) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL, "the first run ended before it could be killed"
    backed_up = json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"]
    assert 1 <= backed_up < epochs, "history.csv logs an epoch just before it is backed up"

    second = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert second.returncode == 0, second.stderr[-3000:]
    started = [int(epoch) for epoch in re.findall(rf"^Epoch (\d+)/{epochs}", second.stdout, re.MULTILINE)]
    assert started and started[0] == backed_up + 1 and started[-1] == epochs, started
    assert _epochs_logged(output / "history.csv") == list(range(epochs)), "each epoch logged once"
    assert not (output / "backup").exists()
    steps_per_epoch = -(-load_dataset("digits").sizes["train"] // batch_size)
    optimizer = keras.saving.load_model(output / "model.keras", safe_mode=True).optimizer
    assert int(optimizer.iterations.numpy()) == epochs * steps_per_epoch, "the schedule's step count was restored"


def test_nan_loss_stops_training_with_an_error_and_keeps_the_backup(tmp_path, monkeypatch):
    # a NaN learning rate turns the weights NaN at the update of epoch 1 (one step per epoch, its loss computed
    # before the update): the loss of epoch 2 is NaN
    monkeypatch.setattr(run_steps, "build_optimizer", lambda *args, **kwargs: keras.optimizers.SGD(
        keras.optimizers.schedules.PiecewiseConstantDecay([0], [1e-3, float("nan")])))
    with pytest.raises(KerasViTError, match="loss became NaN at epoch 2; the last backup is kept in"):
        keras_vit.train(**{**TINY, "batch_size": 4096}, epochs=5, output_dir=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())["epoch"] == 1


def test_an_output_folder_of_another_or_a_finished_run_is_an_error(tmp_path):
    output = tmp_path / "run"
    keras_vit.train(**TINY, epochs=1, output_dir=output)
    with pytest.raises(KerasViTError, match=r"holds another run \(epochs 1 -> 2, seed 0 -> 1\).*overwrite=True"):
        keras_vit.train(**TINY, epochs=2, seed=1, output_dir=output)
    with pytest.raises(KerasViTError, match="already holds a finished run.*overwrite=True"):
        keras_vit.train(**TINY, epochs=1, output_dir=output)
    result = keras_vit.train(**TINY, epochs=2, output_dir=output, overwrite=True)
    assert len(result.history["loss"]) == 2 and _epochs_logged(result.history_path) == [0, 1]
    assert json.loads((output / "run.json").read_text())["epochs"] == 2


def test_a_run_leaves_the_best_model_logs_history_and_curves_and_traces_its_step_once(tmp_path, monkeypatch):
    traced = []
    train_step = keras.Model.train_step
    monkeypatch.setattr(keras.Model, "train_step", lambda self, data: (traced.append(1), train_step(self, data))[1])
    result = keras_vit.train(**TINY, epochs=2, output_dir=tmp_path / "run")
    assert len(traced) == 1, "the optimizer is built before fit: no variable created in the traced step"
    model, class_names = keras_vit.models.load_classifier(result.best_model_path)
    assert class_names == [str(digit) for digit in range(10)] and model.output_shape == (None, 10)
    assert keras_vit.models.model_metadata(model).preset == TINY["model"]
    assert [path.name for path in result.output_dir.glob("*.json")] == ["run.json"], "no class names file"
    assert any((result.output_dir / "logs").rglob("events.out.tfevents.*"))
    assert result.curves_path.is_file() and _epochs_logged(result.history_path) == [0, 1]
    assert not (result.output_dir / "backup").exists()


@pytest.mark.parametrize("min_interval, backed_up_epochs", [(0, [1, 2, 3, 4]), (1e9, [1, 4])])
def test_backups_are_spaced_by_the_interval_but_cover_the_first_and_last_epoch(tmp_path, min_interval,
                                                                              backed_up_epochs):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    backup = IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=min_interval)
    saved = []
    original = backup._save_model
    backup._save_model = lambda: (saved.append(backup._current_epoch), original())
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=4, verbose=0, callbacks=[backup])
    assert saved == backed_up_epochs


def test_a_backup_names_its_weights_file_and_outlives_fit_and_the_next_fit_resumes_from_it(tmp_path):
    def model():
        network = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        network.compile(optimizer="sgd", loss="mse")
        return network

    class Epochs(keras.callbacks.Callback):
        begun = []

        def on_epoch_begin(self, epoch, logs=None):
            self.begun.append(epoch)

    data = np.zeros((4, 2)), np.zeros((4, 1))
    model().fit(*data, batch_size=2, epochs=3, verbose=0, callbacks=[
        IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=0)])
    assert sorted(path.name for path in (tmp_path / "backup").iterdir()) == [
        "epoch_3.weights.h5", "training_metadata.json"], "older backups are removed, the last one kept"
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["weights"] == "epoch_3.weights.h5"
    resumed = model()
    resumed.fit(*data, batch_size=2, epochs=5, verbose=0, callbacks=[
        Epochs(), IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=0)])
    assert Epochs.begun == [3, 4] and int(resumed.optimizer.iterations.numpy()) == 5 * 2


def test_a_backup_of_keras_backup_and_restore_is_resumed_from(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    data = np.zeros((4, 2)), np.zeros((4, 1))
    model.fit(*data, batch_size=2, epochs=2, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)])
    model.fit(*data, batch_size=2, epochs=3, verbose=0, callbacks=[
        IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=0)])
    assert int(model.optimizer.iterations.numpy()) == 3 * 2, "one epoch more, from the restored two"


def test_a_fit_with_every_epoch_backed_up_runs_none_and_ends_with_the_same_averaged_weights(tmp_path, seeded):
    def model():
        network = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        network.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
        return network

    data = seeded.normal(size=(8, 2)), seeded.normal(size=(8, 1))
    trained = model()
    trained.fit(*data, batch_size=4, epochs=3, verbose=0, callbacks=[
        IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=0)])
    again = model()
    again.fit(*data, batch_size=4, epochs=3, verbose=0, callbacks=[
        IntervalBackupAndRestore(str(tmp_path / "backup"), min_interval=0)])
    assert int(again.optimizer.iterations.numpy()) == 3 * 2, "no step ran again"
    for restored, final in zip(again.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(restored, final)  # the moving average replaced the weights both times
