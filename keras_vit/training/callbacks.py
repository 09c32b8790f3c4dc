"""Callbacks of `train`: the best model by validation accuracy, and a NaN loss that stops training with an error."""

import math

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

    Example:
        >>> model.fit(..., validation_data=..., callbacks=[SaveBestClassifier("run/best.keras", ["cat", "dog"])])
    """

    def __init__(self, path, class_names, best=-math.inf):
        super().__init__()
        self.path = path
        self.class_names = class_names
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is not None and accuracy > self.best:
            self.best = accuracy
            save_classifier(self.model, self.path, self.class_names)


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
