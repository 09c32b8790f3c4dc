"""`train`: build a model from a preset, fit it on a dataset, evaluate it on the held-out test split, save it."""

import dataclasses
import math
import pathlib

import keras

from keras_vit.data import DEFAULT_DATASET, load_dataset, make_augmentation, make_batches
from keras_vit.errors import KerasViTError
from keras_vit.models import create_model, preset_config, save_classifier
from keras_vit.models.vit import image_size_pair
from keras_vit.training.callbacks import IntervalBackupAndRestore, RaiseOnNaN, SaveBestClassifier
from keras_vit.training.optimizer import build_optimizer
from keras_vit.training.precision import check_precision, precision_scope
from keras_vit.training.run_folder import BACKUP_DIR, HISTORY_FILE, LOGS_DIR, prepare_run_folder, read_history
from keras_vit.viz import plot_history

DEFAULT_MODEL = "vit_nano_patch2_32"


@dataclasses.dataclass
class TrainResult:
    """What `train` hands back: the trained model, its history, the test figures and the files it wrote."""

    model: keras.Model
    history: dict
    test_accuracy: float
    test_loss: float
    test_size: int
    output_dir: pathlib.Path

    @property
    def model_path(self):
        return self.output_dir / "model.keras"

    @property
    def best_model_path(self):
        return self.output_dir / "best.keras"

    @property
    def history_path(self):
        return self.output_dir / HISTORY_FILE

    @property
    def curves_path(self):
        return self.output_dir / "training_curves.png"


def train(model=DEFAULT_MODEL, dataset=DEFAULT_DATASET, data_dir=None, epochs=300, batch_size=64,
          learning_rate=1e-3, weight_decay=0.05, warmup_epochs=5, label_smoothing=0.1, augment="shift",
          output_dir=None, seed=0, precision="float32", jit_compile=True, steps_per_execution=8, verbose=1,
          validation_dir=None, skip_corrupt=False, idx_dir=None, tfds_data_dir=None, overwrite=False,
          backup_interval=30.0, **model_overrides):
    """Trains preset `model` on `dataset` (or the image folder `data_dir`) and evaluates it on the test split.

    The model's image size, channels and class count come from the data (an embedded dataset) or from the preset
    (an image folder, whose images are resized to the preset's size). Training uses AdamW with linear warmup then
    cosine decay, label smoothing, and `model.fit`.

    The output folder holds run.json (the arguments that define the run), the model after the last epoch
    (model.keras), the best one by validation accuracy (best.keras; when there is a validation split), history.csv,
    TensorBoard logs (logs/) and training_curves.png. During training, backup/ holds the state after the last
    completed epoch: the same call, after a crash or a kill, resumes from there (learning-rate schedule included), and
    the backup is deleted when training ends.

    Args:
        model: preset name (see `list_models()`).
        dataset: "digits" (embedded), "mnist", "fashion_mnist" or "tfds:NAME"; ignored when `data_dir` is an
            image folder.
        data_dir: folder with one sub-folder of images per class (with "mnist"/"fashion_mnist": their IDX files).
        epochs: training epochs.
        batch_size: images per step.
        learning_rate: peak learning rate.
        weight_decay: AdamW decoupled weight decay (kernels only).
        warmup_epochs: epochs of linear learning-rate warmup.
        label_smoothing: label smoothing of the cross-entropy.
        augment: augmentation policy of the training batches (see `keras_vit.data.make_augmentation`), or an
            augmentation it returned, e.g. `make_augmentation("deit", seed=0, extra_layers=[...])`.
        output_dir: the output folder (see above); default runs/<model>_<dataset>.
        seed: seed of weights initialisation, shuffling and dropout.
        precision: "float32", "mixed_float16" (with loss scaling) or "mixed_bfloat16"; logits stay float32.
        jit_compile: compile the train and predict steps with XLA.
        steps_per_execution: training steps run in one call into the compiled graph (less Python overhead).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        validation_dir: separate folder of validation images, same class sub-folders as `data_dir`.
        skip_corrupt: skip unreadable or corrupt images of `data_dir` (counted in the log) instead of failing.
        idx_dir: folder holding the four IDX files of "mnist" or "fashion_mnist".
        tfds_data_dir: TFDS data folder for `dataset="tfds:NAME"`.
        overwrite: replace the run in `output_dir` when it is another run or a finished one, instead of failing.
        backup_interval: least seconds between two backups of a running training (first and last epochs are
            always backed up); a killed run resumes from its last backup.
        **model_overrides: builder arguments replacing the preset's (e.g. drop_path_rate=0.1).

    Returns:
        TrainResult, whose history covers all epochs, those before a resume included.

    Raises:
        KerasViTError: bad arguments or data, `output_dir` holds another run or a finished one, or the loss became
            NaN (the backup is kept).

    Example:
        >>> result = keras_vit.train("vit_nano_patch2_32", dataset="digits", epochs=5)
        >>> print(f"{result.test_accuracy:.3f}")
    """
    for argument, value in (("epochs", epochs), ("batch_size", batch_size),
                            ("steps_per_execution", steps_per_execution)):
        if value < 1:
            raise KerasViTError(f"--{argument.replace('_', '-')} must be at least 1, got {value}.")
    check_precision(precision)
    output_dir = pathlib.Path(output_dir or f"runs/{model}_{'folder' if data_dir else dataset}")
    run_arguments = dict(
        model=model, dataset=None if data_dir else dataset, data_dir=_absolute(data_dir),
        validation_dir=_absolute(validation_dir), skip_corrupt=skip_corrupt, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, augment=augment if isinstance(augment, str) else type(augment).__name__,
        seed=seed, precision=precision, model_overrides=model_overrides)
    keras.utils.set_random_seed(seed)
    augmentation = augment if callable(augment) else make_augmentation(augment, seed=seed)
    config = preset_config(model)
    data = load_dataset(dataset, data_dir=data_dir, image_size=image_size_pair(config["image_size"]),
                        channels=config.get("channels", 3), validation_dir=validation_dir,
                        skip_corrupt=skip_corrupt, idx_dir=idx_dir, tfds_data_dir=tfds_data_dir)
    completed_epochs = prepare_run_folder(output_dir, run_arguments, overwrite=overwrite)
    with precision_scope(precision):
        network = create_model(model, image_size=data.image_shape[:2], channels=data.image_shape[2],
                               num_classes=data.num_classes, **model_overrides)
    train_batches = make_batches(data.train, data.num_classes, batch_size, training=True, seed=seed,
                                 augment=augmentation)
    validation_batches = (None if data.validation is None
                          else make_batches(data.validation, data.num_classes, batch_size))
    steps_per_epoch = math.ceil(data.sizes["train"] / batch_size)
    network.compile(
        optimizer=build_optimizer(learning_rate, total_steps=epochs * steps_per_epoch,
                                  warmup_steps=min(warmup_epochs, epochs) * steps_per_epoch,
                                  weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    history_path = output_dir / HISTORY_FILE
    earlier = read_history(history_path) if completed_epochs else {}
    callbacks = [keras.callbacks.CSVLogger(str(history_path), append=True),  # logs an epoch before backing it up
                 SaveBestClassifier(output_dir / "best.keras", data.class_names,
                                    best=max(earlier.get("val_accuracy", []), default=-math.inf)),
                 IntervalBackupAndRestore(str(output_dir / BACKUP_DIR), min_interval=backup_interval),
                 RaiseOnNaN(output_dir / BACKUP_DIR),
                 keras.callbacks.TensorBoard(str(output_dir / LOGS_DIR), write_graph=False)]
    network.fit(train_batches, validation_data=validation_batches, epochs=epochs, verbose=verbose,
                shuffle=False,  # the pipeline shuffles
                callbacks=callbacks)
    history = read_history(history_path)
    test_loss, test_accuracy = network.evaluate(
        make_batches(data.test, data.num_classes, batch_size), verbose=0)
    result = TrainResult(network, history, float(test_accuracy), float(test_loss), data.sizes["test"],
                         output_dir)
    save_classifier(network, result.model_path, data.class_names)
    plot_history(history, result.curves_path, title=f"{model} on {dataset if not data_dir else data_dir}")
    return result


def _absolute(path):
    return None if path is None else str(pathlib.Path(path).resolve())
