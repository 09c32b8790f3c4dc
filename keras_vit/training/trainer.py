"""`train`: build a model from a preset, fit it on a dataset, evaluate it on the held-out test split, save it."""

import dataclasses
import math
import pathlib
import time

import keras

from keras_vit.atomic_files import atomic_write
from keras_vit.data import DEFAULT_DATASET, load_dataset, make_augmentation, make_batches, named_image_errors
from keras_vit.data.cache_policy import check_cache
from keras_vit.data.service import distribute_through_service
from keras_vit.distribute import (
    check_batch_size, data_workers, distributable, is_multi_worker, make_strategy, step_settings, worker_index)
from keras_vit.errors import KerasViTError
from keras_vit.kill_points import kill_point
from keras_vit.models import create_model, preset_config
from keras_vit.models.vit import image_size_pair
from keras_vit.training.atomic_saves import save_model_atomically
from keras_vit.training.callbacks import IntervalBackupAndRestore, KillPoints, RaiseOnNaN, SaveBestModel
from keras_vit.training.epochs import epoch_steps
from keras_vit.training.history import HistoryLogger, read_history
from keras_vit.training.optimizer import build_optimizer
from keras_vit.training.precision import AUTO, check_precision, precision_scope, resolve_precision
from keras_vit.training.recipes import recommended_model, recommended_recipe
from keras_vit.training.run_folder import (
    BACKUP_DIR, HISTORY_FILE, LOGS_DIR, finish_run, mark_trained, planned_epochs, prepare_run_folder, record_plan)
from keras_vit.training.run_report import run_report
from keras_vit.training.time_budget import MAX_PLANNED_EPOCHS, TimeBudget, schedule_of
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


def train(model=None, dataset=DEFAULT_DATASET, data_dir=None, epochs=None, batch_size=None,
          learning_rate=None, weight_decay=None, warmup_epochs=None, label_smoothing=None, augment=None,
          drop_path_rate=None, clip_norm=None, ema_momentum=None, output_dir=None, seed=0, precision="float32",
          strategy="auto", tpu=None, jit_compile=True, steps_per_execution=8, verbose=1, validation_dir=None,
          skip_corrupt=False, cache="auto", data_service=None, idx_dir=None, tfds_data_dir=None, overwrite=False,
          backup_interval=30.0, time_budget=None, test_dir=None, weights=None, **model_overrides):
    """Trains preset `model` on `dataset` (or the image folder `data_dir`) and evaluates it on the test split.

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
            (`keras_vit.training.recipes.recommended_model`: vitc_nano_patch4_28 for the digits, MNIST and
            Fashion-MNIST, vitc_nano_patch4_32 for image folders and TFDS), printed.
        dataset: "digits" (embedded), "mnist", "fashion_mnist" or "tfds:NAME"; ignored when `data_dir` is an
            image folder.
        data_dir: folder with one sub-folder of images per class (with "mnist"/"fashion_mnist": their IDX files).
        epochs: training epochs (given, `time_budget` is not used).
        batch_size: images per step, the global batch split across the strategy's replicas.
        learning_rate: peak learning rate (default: the recipe's, scaled linearly to `batch_size`).
        weight_decay: AdamW decoupled weight decay (kernels only).
        warmup_epochs: epochs of linear learning-rate warmup.
        label_smoothing: label smoothing of the cross-entropy.
        augment: augmentation policy of the training batches (see `keras_vit.data.make_augmentation`), or an
            augmentation it returned, e.g. `make_augmentation("deit", seed=0, extra_layers=[...])`.
        drop_path_rate: stochastic depth of the last block (rising linearly from 0 at the first).
        clip_norm: clip the gradients to this global norm; 0 for no clipping.
        ema_momentum: keep an exponential moving average of the weights with this momentum (e.g. 0.9999) and end
            training with the averaged weights; None for no average.
        output_dir: the output folder (see above); default runs/<model>_<dataset>.
        seed: seed of weights initialisation, shuffling and dropout.
        precision: "float32", "mixed_float16" (with loss scaling) or "mixed_bfloat16"; logits stay float32.
            "auto" is mixed_bfloat16 without XLA on CPUs that multiply bfloat16 natively (AVX-512 BF16, AMX),
            mixed_bfloat16 on GPUs of compute capability 8.0 or more and TPUs, else float32 (`resolve_precision`;
            the choice is printed and written to run.json as "precision_chosen").
        strategy: "auto", "one-device", "mirrored", "multi-worker", "tpu" (see `make_strategy`) or a
            `tf.distribute.Strategy`; the model, optimizer and metrics are created in its scope.
        tpu: the TPU of `strategy="tpu"` (name or address; default: the local one).
        jit_compile: compile the train and predict steps with XLA (not over several replicas; see `step_settings`).
        steps_per_execution: the most training steps run in one call into the compiled graph (less Python
            overhead; 1 over several replicas). An epoch is one pass over the training data rounded up to whole,
            evenly sized executions (`keras_vit.training.epochs.epoch_steps`): a few more steps than batches.
        verbose: 0 silent, 1 progress bars (an image folder's header check, a fill of the memory cache, each
            epoch), 2 one line per epoch (and per pass before training).
        validation_dir: separate folder of validation images, same class sub-folders as `data_dir`.
        test_dir: separate folder of test images (e.g. the dataset's official ones), same class sub-folders as
            `data_dir`, which then holds no test split.
        skip_corrupt: skip unreadable or corrupt images of `data_dir` (logged) instead of failing.
        cache: what the input pipeline keeps in memory: "auto", "none", "memory" or a folder for cache files
            (`keras_vit.data.cache_policy`); images are otherwise streamed from disk every epoch.
        data_service: "grpc://HOST:PORT" of a tf.data service dispatcher that runs the training input pipeline
            on its workers (`keras_vit.data.service`); None runs it in this process.
        idx_dir: folder holding the four IDX files of "mnist" or "fashion_mnist".
        tfds_data_dir: TFDS data folder for `dataset="tfds:NAME"`.
        overwrite: replace the run in `output_dir` when it is another run or a finished one, instead of failing.
        backup_interval: least seconds between two backups of a running training (first and last epochs are
            always backed up); a killed run resumes from its last backup.
        time_budget: seconds the whole run should take, from this call to the saved model; without `epochs`, the
            epochs (and the learning-rate schedule over them) are planned from the first two epochs, timed
            (`keras_vit.training.time_budget`), printed and recorded in run.json; a resumed run keeps its plan.
        weights: start from a published checkpoint (a name from `keras_vit.weights.list_pretrained()`, or a
            .safetensors / .npz file) with a new head for the dataset's classes, at the data's image size (position
            embeddings resampled); for a published name the preset is the checkpoint's and `model` is ignored.
        **model_overrides: builder arguments replacing the preset's (e.g. dropout_rate=0.1).

    Returns:
        TrainResult, whose history covers all epochs, those before a resume included.

    Raises:
        KerasViTError: bad arguments or data, `output_dir` holds another run or a finished one, or the loss became
            NaN (the backup is kept).

    Example:
        >>> result = keras_vit.train("vit_nano_patch2_32", dataset="digits", epochs=5)
        >>> print(f"{result.test_accuracy:.3f}")
    """
    check_precision(precision)
    published = PUBLISHED.get(str(weights)) if weights else None
    if published:
        model = published.preset
    elif model is None:
        model = recommended_model(dataset, data_dir)
        if verbose:
            print(f"model {model}: the recommended preset for {'an image folder' if data_dir else dataset}")
    config = preset_config(model)
    recipe = recommended_recipe(model).fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, augment=augment,
        drop_path_rate=drop_path_rate, clip_norm=clip_norm)
    options = RunOptions.pick(locals())

    def network(image_size, channels, num_classes):
        arguments = dict(image_size=image_size, channels=channels, num_classes=num_classes,
                         drop_path_rate=recipe["drop_path_rate"], **model_overrides)
        if weights is None:
            return create_model(model, **arguments)
        return create_pretrained(weights, preset=model, head="new", **arguments)

    return fit_classifier(model, config, recipe, network, options, ema_momentum=ema_momentum, augment=augment,
                          arguments=dict(model_overrides=model_overrides,
                                         **({"weights": str(weights)} if weights else {})))


@dataclasses.dataclass
class RunOptions:
    """The settings every run (`train`, `finetune`, `pretrain`) takes alike: data, output folder, devices.

    Example:
        >>> RunOptions(dataset="fashion_mnist", output_dir="runs/fm", jit_compile=False).source
        'fashion_mnist'
    """

    dataset: str = DEFAULT_DATASET
    data_dir: str = None
    validation_dir: str = None
    test_dir: str = None
    skip_corrupt: bool = False
    cache: str = "auto"
    data_service: str = None
    idx_dir: str = None
    tfds_data_dir: str = None
    time_budget: float = None
    output_dir: str = None
    seed: int = 0
    precision: str = "float32"
    strategy: object = "auto"
    tpu: str = None
    jit_compile: bool = True
    steps_per_execution: int = 8
    verbose: int = 1
    overwrite: bool = False
    backup_interval: float = 30.0

    @classmethod
    def pick(cls, arguments):
        """The options found in `arguments` (e.g. a function's `locals()`), by name; a time budget is not used when
        `arguments` give the epochs."""
        options = cls(**{field.name: arguments[field.name] for field in dataclasses.fields(cls)})
        if options.time_budget is not None and arguments.get("epochs") is not None:
            if options.verbose:
                print(f"time budget not used: the number of epochs is given ({arguments['epochs']})")
            options = dataclasses.replace(options, time_budget=None)
        return options

    @property
    def source(self):
        """What the data is called in the default output folder and in plot titles."""
        return "folder" if self.data_dir else self.dataset


@dataclasses.dataclass
class Run:
    """A run made ready by `start_run`: its strategy, output folder, data and step settings.

    Example:
        >>> run = start_run("vit_nano_patch4_28", RunOptions(), {"epochs": 2}, 2, 64, (28, 28), 1)
        >>> history = run.fit(model, train_batches, validation_batches)
    """

    options: RunOptions
    strategy: object
    run_dir: pathlib.Path
    data: object
    completed_epochs: int
    epochs: int  # None until a time budget plans them
    batch_size: int
    jit_compile: bool
    steps_per_execution: int
    steps_per_epoch: int
    precision: str
    started: float  # time.monotonic() when the run started, for its time budget

    def optimizer(self, recipe, ema_momentum=None, beta_2=0.999):
        """`build_optimizer` with the recipe's learning rate, warmup, weight decay and clipping over this run (over
        the recipe's epochs until a time budget plans them)."""
        epochs = self.epochs or recipe["epochs"]
        optimizer = build_optimizer(recipe["learning_rate"], total_steps=epochs * self.steps_per_epoch,
                                    warmup_steps=min(recipe["warmup_epochs"], epochs) * self.steps_per_epoch,
                                    weight_decay=recipe["weight_decay"], clip_norm=recipe["clip_norm"],
                                    ema_momentum=ema_momentum, beta_2=beta_2)
        self._warmup_epochs = recipe["warmup_epochs"]  # of the schedule a time budget replans
        return optimizer

    def batches(self, split, training=False, augment=None):
        """`make_batches` of `split` as this run reads it: its batch size, seed, cache and this worker's part; the
        training batches endless, continuing the sequence of passes after the completed epochs, and served by the
        tf.data service when the run has one."""
        batches = make_batches(split, self.data.num_classes, self.batch_size, training=training,
                               seed=self.options.seed, augment=augment if training else None, repeat=training,
                               cache=self.options.cache, workers=data_workers(self.strategy),
                               start_epoch=self.completed_epochs if training else 0,
                               skip_corrupt=self.options.skip_corrupt, verbose=self.options.verbose)
        if training and self.options.data_service:  # each service worker runs whole passes of the pipeline
            batches = distribute_through_service(batches, self.options.data_service, "distributed_epoch")
        return batches

    def fit(self, trained, train_batches, validation_batches, extra_callbacks=()):
        """`trained.fit` with the run's callbacks (history.csv, backup and resume, NaN stop, TensorBoard), then the
        run folder marked "trained"; returns the history of every epoch, those before a resume included.
        `train_batches` are endless (`make_batches(..., repeat=True)`); an epoch is `steps_per_epoch` steps of them.
        When the backup holds every epoch, `fit` runs none: it restores the final weights. The optimizer is built
        before `fit`, so that the training step is traced once (a step that creates variables is traced twice)."""
        history_path = self.run_dir / HISTORY_FILE
        callbacks = [HistoryLogger(history_path),  # logs an epoch before backing it up
                     *extra_callbacks,
                     KillPoints(),
                     IntervalBackupAndRestore(str(self.run_dir / BACKUP_DIR),
                                              min_interval=self.options.backup_interval),
                     RaiseOnNaN(self.run_dir / BACKUP_DIR),
                     keras.callbacks.TensorBoard(str(self.run_dir / LOGS_DIR), write_graph=False)]
        if self.epochs is None:  # a time budget plans them after the first two epochs
            progbar = keras.callbacks.ProgbarLogger()
            test_steps = math.ceil(self.data.sizes["test"] / self.batch_size)
            schedule = schedule_of(trained.optimizer)
            callbacks += [TimeBudget(self.started + self.options.time_budget, self.options.time_budget, test_steps,
                                     lambda epochs: self._plan(epochs, schedule), progbar,
                                     verbose=self.options.verbose), progbar]
        if not trained.optimizer.built:  # else the first step creates its variables, and is traced twice
            with self.strategy.scope():
                trained.optimizer.build(trained.trainable_variables)
        with named_image_errors(self.data.train, self.data.validation):
            trained.fit(train_batches, steps_per_epoch=self.steps_per_epoch,  # endless batches: `epoch_steps`
                        validation_data=validation_batches, epochs=self.epochs or MAX_PLANNED_EPOCHS,
                        verbose=self.options.verbose, shuffle=False,  # the pipeline shuffles
                        callbacks=callbacks)
        mark_trained(self.run_dir)
        kill_point("trained")
        return read_history(history_path)

    def report(self, model, recipe):
        """Prints what the run found and chose (`run_report`), at verbose >= 1."""
        if self.options.verbose:
            print("\n".join(run_report(self, model, recipe, self.options.data_dir or self.options.dataset)),
                  flush=True)

    def _plan(self, epochs, schedule):
        """Sets the run's epochs to those its time budget planned: `schedule` over them, and run.json."""
        self.epochs = epochs
        schedule.total_steps = epochs * self.steps_per_epoch
        schedule.warmup_steps = min(self._warmup_epochs, epochs) * self.steps_per_epoch
        record_plan(self.run_dir, epochs)

    def earlier_history(self):
        """The history of the epochs completed before a resume (empty for a new run)."""
        return read_history(self.run_dir / HISTORY_FILE) if self.completed_epochs else {}


def start_run(name, options, arguments, epochs, batch_size, image_size, channels):
    """Checks the counts, makes the strategy, seeds, loads the data and prepares the run folder (resume).

    Args:
        name: the preset, used in the default output folder runs/<name>_<dataset>.
        options: the `RunOptions`.
        arguments: JSON-serialisable arguments that define the run besides `options` (written to run.json).
        epochs: training epochs (with `options.time_budget`: the recipe's, which the schedule spans until the first
            epoch has been timed and the epochs planned).
        batch_size: global batch size.
        image_size: (height, width) image folders are resized to.
        channels: channels of image folders.

    Returns:
        A `Run`.

    Example:
        >>> run = start_run("vit_nano_patch4_28", RunOptions(), {"epochs": 2}, 2, 64, (28, 28), 1)
    """
    started = time.monotonic()
    _check_counts(epochs=epochs, batch_size=batch_size, steps_per_execution=options.steps_per_execution)
    if options.time_budget is not None and not options.time_budget > 0:
        raise KerasViTError(f"time_budget={options.time_budget} must be a positive number of seconds.")
    check_cache(options.cache)
    strategy = make_strategy(options.strategy, options.tpu)
    check_batch_size(batch_size, strategy)
    if options.time_budget and is_multi_worker(strategy):
        raise KerasViTError("time_budget= plans the epochs in each worker apart, and workers must run the same "
                            "epochs: pass epochs= with strategy='multi-worker'.")
    worker = worker_index(strategy)
    precision, jit_compile, reason = resolve_precision(options.precision, options.jit_compile, strategy)
    jit_compile, steps_per_execution = step_settings(strategy, jit_compile, options.steps_per_execution)
    output_dir = pathlib.Path(options.output_dir or f"runs/{name}_{options.source}")
    run_dir = output_dir / f"worker_{worker}" if worker else output_dir
    run_arguments = dict(
        dataset=None if options.data_dir else options.dataset, data_dir=_absolute(options.data_dir),
        validation_dir=_absolute(options.validation_dir), test_dir=_absolute(options.test_dir),
        skip_corrupt=options.skip_corrupt,
        **{**arguments, **({"epochs": None, "time_budget": options.time_budget} if options.time_budget else {})},
        seed=options.seed, precision=options.precision, **({"precision_chosen": precision} if reason else {}))
    if reason and options.verbose:
        print(f"precision {AUTO}: {reason}")
    keras.utils.set_random_seed(options.seed)
    data = load_dataset(options.dataset, data_dir=options.data_dir, image_size=image_size, channels=channels,
                        validation_dir=options.validation_dir, test_dir=options.test_dir,
                        skip_corrupt=options.skip_corrupt, idx_dir=options.idx_dir,
                        tfds_data_dir=options.tfds_data_dir, verbose=options.verbose)
    completed_epochs = prepare_run_folder(run_dir, run_arguments, overwrite=options.overwrite)
    if options.time_budget:
        epochs = planned_epochs(run_dir)
        if options.verbose:
            print(f"time budget {options.time_budget / 60:.1f} min: " + (
                f"{epochs} epochs, as planned when the run started" if epochs else
                "the epochs are planned from the first two"))
    steps_per_epoch, steps_per_execution = epoch_steps(data.sizes["train"], batch_size, steps_per_execution)
    return Run(options, strategy, run_dir, data, completed_epochs, epochs, batch_size, jit_compile,
               steps_per_execution, steps_per_epoch, precision, started)


def fit_classifier(name, config, recipe, network, options, ema_momentum=None, augment=None, arguments=None,
                   wrap_optimizer=None):
    """The classifier training of `train` and `finetune`: data, model in the strategy's scope, fit, test, save.

    Args:
        name: the preset.
        config: its builder arguments (image size and channels of image folders).
        recipe: the filled training recipe (`Recipe.fill`).
        network: function (image_size, channels, num_classes) -> the classifier, called in the strategy's and
            precision's scope.
        options: the `RunOptions`.
        ema_momentum: see `train`.
        augment: an augmentation callable given by the user, or None to build the recipe's.
        arguments: other JSON-serialisable arguments that define the run (for run.json).
        wrap_optimizer: optional function (optimizer, model) -> optimizer, e.g. to add layer-wise decay.

    Returns:
        A `TrainResult`.

    Example:
        >>> recipe = recommended_recipe("vit_nano_patch4_28").fill(epochs=2, batch_size=64, learning_rate=None, ...)
        >>> fit_classifier("vit_nano_patch4_28", preset_config("vit_nano_patch4_28"), recipe,
        ...                lambda size, channels, classes: create_model("vit_nano_patch4_28", image_size=size,
        ...                                                             channels=channels, num_classes=classes),
        ...                RunOptions(dataset="digits"))
    """
    recipe = dict(recipe)
    recipe["augment"] = recipe["augment"] if isinstance(recipe["augment"], str) else type(augment).__name__
    run = start_run(name, options, dict(model=name, **recipe, ema_momentum=ema_momentum, **(arguments or {})),
                    recipe["epochs"], recipe["batch_size"], image_size_pair(config["image_size"]),
                    config.get("channels", 3))
    data = run.data
    augmentation = augment if callable(augment) else make_augmentation(recipe["augment"], seed=options.seed)
    with run.strategy.scope():
        with precision_scope(run.precision):
            classifier = network(data.image_shape[:2], data.image_shape[2], data.num_classes)
        classifier.class_names = data.class_names  # saved in its .keras files
        trained = distributable(classifier, run.strategy)
        optimizer = run.optimizer(recipe, ema_momentum)
        trained.compile(
            optimizer=wrap_optimizer(optimizer, classifier) if wrap_optimizer else optimizer,
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["label_smoothing"]),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            jit_compile=run.jit_compile,
            steps_per_execution=run.steps_per_execution,
        )
    run.report(classifier, recipe)
    train_batches = run.batches(data.train, training=True, augment=augmentation)
    validation_batches = None if data.validation is None else run.batches(data.validation)
    best = max(run.earlier_history().get("val_accuracy", []), default=-math.inf)
    history = run.fit(trained, train_batches, validation_batches,
                      [SaveBestModel(run.run_dir / "best.keras", model=classifier, best=best)])
    with named_image_errors(data.test):
        test_loss, test_accuracy = trained.evaluate(run.batches(data.test), verbose=0)
    result = TrainResult(classifier, history, float(test_accuracy), float(test_loss), data.sizes["test"],
                         run.run_dir)
    save_model_atomically(classifier, result.model_path)
    result.plot_curves(f"{name} on {options.data_dir or options.dataset}")
    finish_run(run.run_dir, [result.model_path, result.curves_path])
    return result


def _check_counts(**counts):
    for argument, value in counts.items():
        if value < 1:
            raise KerasViTError(f"{argument}={value} must be at least 1.")


def _absolute(path):
    return None if path is None else str(pathlib.Path(path).resolve())
