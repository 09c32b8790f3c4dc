"""`train`: build a model from a preset, fit it on a dataset, evaluate it on the held-out test split, save it; and
the classifier's part of a run that `train` and `finetune` share (`compile_classifier`, `fit_classifier`)."""

import dataclasses
import math
import pathlib

import keras

from keras_vit.atomic_files import atomic_write
from keras_vit.data import named_image_errors
from keras_vit.models import create_model, preset_config
from keras_vit.models.vit import image_size_pair
from keras_vit.training.callbacks import SaveBestModel
from keras_vit.training.recipes import recommended_model, recommended_recipe
from keras_vit.training.run import Run, as_recorded, run_options
from keras_vit.training.run_folder import HISTORY_FILE
from keras_vit.viz import plot_history
from keras_vit.weights import create_pretrained
from keras_vit.weights.published import PUBLISHED

DEFAULT_MODEL = "vit_nano_patch2_32"  # of `pretrain`; `train` picks `recommended_model` for the data


class RunFiles:
    """The files every run (`train`, `finetune`, `pretrain`) writes in its `output_dir`."""

    @property
    def history_path(self):
        return self.output_dir / HISTORY_FILE

    @property
    def curves_path(self):
        return self.output_dir / "training_curves.png"

    def plot_curves(self, title):
        """Plots the history to `curves_path`, written atomically.

        Example:
            >>> result.plot_curves("vit_nano_patch4_28 on digits")
        """
        with atomic_write(self.curves_path) as temporary:
            plot_history(self.history, temporary, title=title)


@dataclasses.dataclass
class TrainResult(RunFiles):
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


def train(model=None, data=None, run=None, epochs=None, batch_size=None, learning_rate=None, weight_decay=None,
          warmup_epochs=None, label_smoothing=None, augment=None, drop_path_rate=None, clip_norm=None,
          ema_momentum=None, weights=None, **options):
    """Trains preset `model` on the images of `data` and evaluates it on the test split.

    The model's image size, channels and class count come from the data (an embedded dataset) or from the preset
    (an image folder, whose images are resized to the preset's size). Training uses AdamW with linear warmup then
    cosine decay, label smoothing, and `model.fit`. The training arguments left as None take the model's
    recommended recipe (`keras_vit.training.recommended_recipe`; README lists them and their sources).

    The output folder holds run.json (the arguments that define the run, and its state), the model after the last
    epoch (model.keras), the best one by validation accuracy (best.keras; when there is a validation split),
    history.csv, TensorBoard logs (logs/) and training_curves.png. During training, backup/ holds the state after the
    last backed-up epoch: the same call, after a crash or a kill, resumes from there (learning-rate schedule
    included); killed after the last epoch, it runs no epoch and writes the final files from the backup, which is
    deleted once they are in place (`keras_vit.training.run_folder`). Every file is written atomically: complete
    under its name, or absent. Under a multi-worker strategy, worker N > 0 writes the same files in
    `output_dir/worker_N`.

    Args:
        model: preset name (see `list_models()`); None picks the recommended one for the data's channels
            (`keras_vit.training.recipes.recommended_model`: vitc_nano_patch4_local_28 for the digits, MNIST and
            Fashion-MNIST, vitc_nano_patch4_local_32 for image folders and TFDS), printed.
        data: the images, a `keras_vit.DataSpec` (dataset or image folder, validation and test folders, corrupt
            files, cache, tf.data service) or a dataset name; default: the embedded digits.
        run: how and where it runs, a `keras_vit.RunConfig` (output folder, seed, precision, strategy, XLA, steps
            per execution, backups, time budget, overwrite, verbosity); default: `RunConfig()`.
        epochs: training epochs (given, a time budget is not used).
        batch_size: images per step, the global batch split across the strategy's replicas.
        learning_rate: peak learning rate (default: the recipe's, scaled linearly to `batch_size`).
        weight_decay: AdamW decoupled weight decay (kernels only).
        warmup_epochs: epochs of linear learning-rate warmup; default: the recipe's share of the epochs (given,
            or planned by a time budget; `Recipe.warmup_share`).
        label_smoothing: label smoothing of the cross-entropy.
        augment: augmentation policy of the training batches (see `keras_vit.data.make_augmentation`), or an
            augmentation it returned, e.g. `make_augmentation("deit", seed=0, extra_layers=[...])`.
        drop_path_rate: stochastic depth of the last block (rising linearly from 0 at the first).
        clip_norm: clip the gradients to this global norm; 0 for no clipping.
        ema_momentum: keep an exponential moving average of the weights with this momentum (e.g. 0.9999) and end
            training with the averaged weights; None for no average.
        weights: start from a published checkpoint (a name from `keras_vit.weights.list_pretrained()`, or a
            .safetensors / .npz file) with a new head for the dataset's classes, at the data's image size (position
            embeddings resampled); for a published name the preset is the checkpoint's and `model` is ignored.
        **options: shortcuts, each replacing the field of the same name of `data` or `run` (`dataset="mnist"`,
            `data_dir="flowers/"`, `output_dir=...`, `verbose=0`; see `DataSpec` and `RunConfig`); the other
            names are builder arguments replacing the preset's (e.g. dropout_rate=0.1). The default output folder
            is runs/<model>_<dataset>.

    Returns:
        TrainResult, whose history covers all epochs, those before a resume included.

    Raises:
        KerasViTError: bad arguments or data, `output_dir` holds another run or a finished one, or the loss became
            NaN (the backup is kept).

    Example:
        >>> result = keras_vit.train("vit_nano_patch2_32", dataset="digits", epochs=5)
        >>> print(f"{result.test_accuracy:.3f}")
        >>> keras_vit.train(data=keras_vit.DataSpec(data_dir="flowers/", cache="none"),
        ...                 run=keras_vit.RunConfig(output_dir="runs/flowers", precision="auto"), epochs=50)
    """
    spec, config, model_overrides = run_options(data, run, options, epochs)
    published = PUBLISHED.get(str(weights)) if weights else None
    if published:
        model = published.preset
    elif model is None:
        model = recommended_model(spec.dataset, spec.data_dir)
        if config.verbose:
            print(f"model {model}: the recommended preset for {'an image folder' if spec.data_dir else spec.dataset}")
    preset = preset_config(model)
    source_recipe = recommended_recipe(model, spec.dataset, spec.data_dir)
    recipe = source_recipe.fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, augment=augment,
        drop_path_rate=drop_path_rate, clip_norm=clip_norm)
    recorded = dict(model=model, **as_recorded(recipe), ema_momentum=ema_momentum, model_overrides=model_overrides,
                    **({"weights": str(weights)} if weights else {}))
    run = Run(model, spec, config, recorded, recipe["epochs"], recipe["batch_size"])
    data = run.load_data(image_size_pair(preset["image_size"]), preset.get("channels", 3))
    augmentation = run.augmentation(recipe["augment"])
    with run.building():
        arguments = dict(image_size=data.image_shape[:2], channels=data.image_shape[2], num_classes=data.num_classes,
                         drop_path_rate=recipe["drop_path_rate"], **model_overrides)
        if weights is None:
            classifier = create_model(model, **arguments)
        else:
            classifier = create_pretrained(weights, preset=model, head="new", **arguments)
    warmup_share = None if warmup_epochs is not None else source_recipe.warmup_share
    optimizer = run.optimizer(recipe, ema_momentum, warmup_share=warmup_share)
    trained = compile_classifier(run, classifier, optimizer, recipe)
    return fit_classifier(run, model, classifier, trained, recipe, augmentation)


def compile_classifier(run, classifier, optimizer, recipe):
    """`run.compile` of a classifier: categorical cross-entropy on logits with the recipe's label smoothing, and
    accuracy; returns the model `fit` trains.

    Example:
        >>> trained = compile_classifier(run, classifier, run.optimizer(recipe), recipe)
    """
    return run.compile(
        classifier,
        optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def fit_classifier(run, name, classifier, trained, recipe, augmentation):
    """The end of a classifier's run (`train`, `finetune`): report, fit (best.keras kept by validation accuracy),
    test, then model.keras and the curves saved and the run finished.

    Args:
        run: the `Run`, its data loaded.
        name: the preset, in the plot's title.
        classifier: the model built in `run.building()`, which is saved (with the data's class names).
        trained: the model `compile_classifier` returned.
        recipe: the filled training recipe (`Recipe.fill`).
        augmentation: the augmentation of the training batches (`run.augmentation`).

    Returns:
        A `TrainResult`.

    Example:
        >>> result = fit_classifier(run, "vit_nano_patch4_28", classifier, trained, recipe, augmentation)
    """
    data = run.data
    classifier.class_names = data.class_names  # saved in its .keras files
    run.report(classifier, as_recorded(recipe))
    train_batches = run.batches(data.train, training=True, augment=augmentation)
    validation_batches = None if data.validation is None else run.batches(data.validation)
    best = max(run.earlier_history().get("val_accuracy", []), default=-math.inf)
    history = run.fit(trained, train_batches, validation_batches,
                      [SaveBestModel(run.run_dir / "best.keras", model=classifier, best=best)])
    with named_image_errors(data.test):
        test_loss, test_accuracy = trained.evaluate(run.batches(data.test), verbose=0)
    result = TrainResult(classifier, history, float(test_accuracy), float(test_loss), data.sizes["test"],
                         run.run_dir)
    run.save(classifier, result.model_path.name)
    result.plot_curves(f"{name} on {run.spec.name}")
    run.finish([result.model_path, result.curves_path])
    return result
