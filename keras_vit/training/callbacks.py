"""Callbacks of `train`: the best model by validation accuracy, and a NaN loss that stops training with an error."""

import math
import time

import keras

from keras_vit.errors import KerasViTError
from keras_vit.models import save_classifier


class SaveBestClassifier(keras.callbacks.Callback):
    """Saves the model with its class names (`save_classifier`) whenever validation accuracy improves.

    `keras.callbacks.ModelCheckpoint` cannot write the class names beside the model, hence this callback.

    Args:
        path: the `.keras` file to write.
        class_names: the class names saved beside it.
        best: validation accuracy to beat (of epochs already run, when training resumes).
        model: the model to save, when not the one trained (e.g. the functional model whose layers a
            `MultiWorkerModel` trains).

    Example:
        >>> model.fit(..., validation_data=..., callbacks=[SaveBestClassifier("run/best.keras", ["cat", "dog"])])
    """

    def __init__(self, path, class_names, best=-math.inf, model=None):
        super().__init__()
        self.path = path
        self.class_names = class_names
        self.best = best
        self.saved_model = model

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is not None and accuracy > self.best:
            self.best = accuracy
            save_classifier(self.saved_model or self.model, self.path, self.class_names)


class RaiseOnNaN(keras.callbacks.Callback):
    """Raises `KerasViTError` as soon as the training loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets `fit` end normally (so that `BackupAndRestore` then deletes
    its backup, after backing up the NaN weights), the error leaves `fit` at once and the last backup stays.

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
            raise KerasViTError(f"loss became NaN at epoch {self.epoch + 1}; {kept}. Lower --learning-rate or "
                                f"use --precision float32.")


class IntervalBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that writes its end-of-epoch backup at most every `min_interval` seconds.

    Backing up weights and optimizer state after every epoch costs more than a short epoch itself (about 0.2 s an
    epoch for the nano ViT on the digits, where an epoch takes 0.5 s). The first and last epochs are always backed
    up; a killed run loses at most `min_interval` seconds of training. 0 backs up every epoch.

    Args:
        backup_dir: folder of the backup.
        min_interval: least number of seconds between two backups.

    Example:
        >>> model.fit(..., callbacks=[IntervalBackupAndRestore("run/backup", min_interval=30)])
    """

    def __init__(self, backup_dir, min_interval=30.0):
        super().__init__(backup_dir)
        self.min_interval = float(min_interval)
        self._last_backup = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        if now - self._last_backup >= self.min_interval or epoch + 1 == self.params.get("epochs"):
            super().on_epoch_end(epoch, logs)
            self._last_backup = now
