"""Callbacks of `train`: the best model by validation accuracy, a NaN loss that stops training with an error, the
spaced and atomic backup, and the kill points of the tests."""

import json
import math
import pathlib
import time

import keras

from keras_vit.atomic_files import atomic_write, write_text_atomically
from keras_vit.errors import KerasViTError
from keras_vit.kill_points import kill_point
from keras_vit.training.atomic_saves import save_model_atomically


class SaveBestModel(keras.callbacks.Callback):
    """Saves the model (`save_model_atomically`) whenever validation accuracy improves.

    `keras.callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)` would do, but it writes the
    `.keras` file in place (a kill during the write leaves a truncated file) and saves the model that `fit` trains
    (a `MultiWorkerModel` under a multi-worker strategy, not the functional model that carries the class names).

    Args:
        path: the `.keras` file to write.
        best: validation accuracy to beat (of epochs already run, when training resumes).
        model: the model to save, when not the one trained (e.g. the functional model whose layers a
            `MultiWorkerModel` trains).

    Example:
        >>> model.fit(..., validation_data=..., callbacks=[SaveBestModel("run/best.keras")])
    """

    def __init__(self, path, best=-math.inf, model=None):
        super().__init__()
        self.path = path
        self.best = best
        self.saved_model = model

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is not None and accuracy > self.best:
            self.best = accuracy
            save_model_atomically(self.saved_model or self.model, self.path)


class RaiseOnNaN(keras.callbacks.Callback):
    """Raises `KerasViTError` as soon as the training loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets `fit` end normally (after backing up the NaN weights, and
    the run would count as trained), the error leaves `fit` at once and the last backup stays.

    Args:
        backup_dir: the `BackupAndRestore` folder, named in the error.

    Example:
        >>> model.fit(..., callbacks=[keras.callbacks.BackupAndRestore("run/backup"), RaiseOnNaN("run/backup")])
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            kept = (f"the last backup is kept in {self.backup_dir}" if self.backup_dir.exists()
                    else "no epoch completed, so there is no backup")
            raise KerasViTError(f"loss became NaN at epoch {self.epoch + 1}; {kept}. Lower learning_rate= or "
                                f"use precision='float32'.")


class IntervalBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backups are spaced by `min_interval` seconds, atomic, and kept.

    Backing up weights and optimizer state after every epoch costs more than a short epoch itself (about 0.2 s an
    epoch for the nano ViT on the digits, where an epoch takes 0.5 s). The first and last epochs are always backed
    up; a killed run loses at most `min_interval` seconds of training. 0 backs up every epoch.

    A backup is a weights file named after its epoch count (`epoch_3.weights.h5`) and `training_metadata.json`
    naming it, each written with `atomic_write`: the metadata, renamed last, always names a complete weights file
    of the epoch count it holds, and a kill during a backup leaves the previous one. The backup stays when training
    ends: the run's final files are written from it, and the run removes it after them (`finish_run`). It also
    resumes from a backup of `keras.callbacks.BackupAndRestore` (a run started by an earlier version).

    Args:
        backup_dir: folder of the backup.
        min_interval: least number of seconds between two backups.

    Example:
        >>> model.fit(..., callbacks=[IntervalBackupAndRestore("run/backup", min_interval=30)])
    """

    def __init__(self, backup_dir, min_interval=30.0):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.min_interval = float(min_interval)
        self._last_backup = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now - self._last_backup >= self.min_interval or epoch + 1 == self.params.get("epochs"):
            super().on_epoch_end(epoch, logs)
            self._last_backup = now

    def _load_model(self):
        metadata = pathlib.Path(self._training_metadata_path)
        if metadata.is_file():  # a backup of `keras.callbacks.BackupAndRestore` names no file: its latest.weights.h5
            weights = json.loads(metadata.read_text()).get("weights", pathlib.Path(self._weights_path).name)
            self._weights_path = str(metadata.parent / weights)
        super()._load_model()

    def _save_model(self):
        backup_dir = pathlib.Path(self.backup_dir)
        backup_dir.mkdir(parents=True, exist_ok=True)
        weights = backup_dir / f"epoch_{self._current_epoch}.weights.h5"
        with atomic_write(weights) as temporary:
            self.model.save_weights(temporary)
        write_text_atomically(self._training_metadata_path, json.dumps(
            {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": weights.name}))
        for older in backup_dir.glob("epoch_*.weights.h5"):
            if older != weights:
                older.unlink()


class KillPoints(keras.callbacks.Callback):
    """Reaches the kill points `batch` (each training batch's end) and `epoch_end` (see `keras_vit.kill_points`).

    Place it after the callbacks that log an epoch and before the backup, so that `epoch_end` falls between them.

    Example:
        >>> model.fit(..., callbacks=[HistoryLogger("run/history.csv"), KillPoints(), IntervalBackupAndRestore(...)])
    """

    def on_train_batch_end(self, batch, logs=None):
        kill_point("batch")

    def on_epoch_end(self, epoch, logs=None):
        kill_point("epoch_end")
