"""A run, read top to bottom: `RunConfig` (how and where it runs) and `Run`, whose steps `train`, `finetune` and
`pretrain` call in the same order.

    run = Run(name, data_spec, config, arguments, epochs, batch_size)   # strategy, precision, output folder, seed
    data = run.load_data(image_size, channels)                          # the data, the run folder (resume), steps
    with run.building():                                                # the strategy's scope, the run's precision
        model = create_model(...)
    trained = run.compile(model, run.optimizer(recipe), loss=...)       # in the strategy's scope
    run.report(model, recipe)
    history = run.fit(trained, run.batches(data.train, training=True), run.batches(data.validation))
    run.save(model, "model.keras"); run.finish([...])                    # the final files, then "finished"

`Run` keeps the run folder (its states and resuming: `keras_vit.training.run_folder`), the epoch arithmetic
(`keras_vit.training.epochs`), the backups and a time budget's plan (`keras_vit.training.time_budget`).
"""

import contextlib
import dataclasses
import math
import pathlib
import time

import keras

from keras_vit.data import make_augmentation, make_batches, named_image_errors
from keras_vit.data.service import distribute_through_service
from keras_vit.data.spec import DataSpec
from keras_vit.distribute import (
    check_batch_size, data_workers, distributable, is_multi_worker, make_strategy, step_settings, worker_index)
from keras_vit.errors import KerasViTError
from keras_vit.kill_points import kill_point
from keras_vit.training.atomic_saves import save_model_atomically
from keras_vit.training.callbacks import IntervalBackupAndRestore, KillPoints, RaiseOnNaN
from keras_vit.training.epochs import epoch_steps
from keras_vit.training.history import HistoryLogger, read_history
from keras_vit.training.optimizer import build_optimizer
from keras_vit.training.precision import AUTO, check_precision, precision_scope, resolve_precision
from keras_vit.training.recipes import is_small
from keras_vit.training.run_folder import (
    BACKUP_DIR, HISTORY_FILE, LOGS_DIR, finish_run, mark_trained, planned_epochs, prepare_run_folder, record_plan)
from keras_vit.training.run_report import run_report
from keras_vit.training.time_budget import MAX_PLANNED_EPOCHS, TimeBudget, schedule_of


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How and where a run (`train`, `finetune`, `pretrain`) runs: output folder, seed, devices, backups, output.

    Checked when made: a bad value raises at once, naming the parameter.

    Attributes:
        output_dir: the output folder (run.json, the models, history.csv, logs/, the curves, backup/); default
            runs/<model>_<dataset> (pretrain: runs/<model>_mae_<dataset>).
        seed: seed of weights initialisation, shuffling and dropout.
        precision: "auto" (the default), "float32", "mixed_float16" (with loss scaling) or "mixed_bfloat16";
            logits stay float32. "auto" is float32 without XLA for the nano/micro presets on a CPU,
            mixed_bfloat16 without XLA for the others on CPUs that multiply bfloat16 natively (AVX-512 BF16, AMX),
            mixed_bfloat16 on GPUs of compute capability 8.0 or more and TPUs, else float32
            (`resolve_precision`; the choice is printed and written to run.json as "precision_chosen").
        strategy: "auto", "one-device", "mirrored", "multi-worker", "tpu" (see `make_strategy`) or a
            `tf.distribute.Strategy`; the model, optimizer and metrics are created in its scope.
        tpu: the TPU of `strategy="tpu"` (name or address; default: the local one).
        jit_compile: compile the train and predict steps with XLA (not over several replicas; see `step_settings`).
        steps_per_execution: the most training steps run in one call into the compiled graph (less Python
            overhead; 1 over several replicas). An epoch is one pass over the training data rounded up to whole,
            evenly sized executions (`keras_vit.training.epochs.epoch_steps`): a few more steps than batches.
        backup_interval: least seconds between two backups of a running training (first and last epochs are
            always backed up); a killed run resumes from its last backup.
        time_budget: seconds the whole run should take, from its start to the saved model; without `epochs`, the
            epochs (and the learning-rate schedule over them) are planned from the first two epochs, timed
            (`keras_vit.training.time_budget`), printed and recorded in run.json; a resumed run keeps its plan.
        overwrite: replace the run in `output_dir` when it is another run or a finished one, instead of failing.
        verbose: 0 silent, 1 progress bars (an image folder's header check, a fill of the memory cache, each
            epoch), 2 one line per epoch (and per pass before training).

    Example:
        >>> config = RunConfig(output_dir="runs/fm", precision="auto", backup_interval=60)
        >>> keras_vit.train(data="fashion_mnist", run=config, epochs=10)
    """

    output_dir: str = None
    seed: int = 0
    precision: str = "auto"
    strategy: object = "auto"
    tpu: str = None
    jit_compile: bool = True
    steps_per_execution: int = 8
    backup_interval: float = 30.0
    time_budget: float = None
    overwrite: bool = False
    verbose: int = 1

    def __post_init__(self):
        check_precision(self.precision)
        _check_counts(steps_per_execution=self.steps_per_execution)
        if self.time_budget is not None and not self.time_budget > 0:
            raise KerasViTError(f"time_budget={self.time_budget} must be a positive number of seconds.")
        if not self.backup_interval >= 0:
            raise KerasViTError(f"backup_interval={self.backup_interval} must be a number of seconds, 0 or more.")

    @classmethod
    def of(cls, run=None, **fields):
        """The `RunConfig` of `run` (a `RunConfig`, or None for the default one) with `fields` replaced.

        Example:
            >>> RunConfig.of(RunConfig(seed=1), verbose=0) == RunConfig(seed=1, verbose=0)
            True
        """
        if run is None:
            return cls(**fields)
        if not isinstance(run, cls):
            raise KerasViTError(f"run={run!r} must be a RunConfig.")
        return dataclasses.replace(run, **fields)


DATA_FIELDS = tuple(field.name for field in dataclasses.fields(DataSpec))
RUN_FIELDS = tuple(field.name for field in dataclasses.fields(RunConfig))


def run_options(data, run, arguments, epochs=None):
    """The (`DataSpec`, `RunConfig`, other arguments) of an entry point's `data`, `run` and keyword arguments.

    Keyword arguments named like a field of `DataSpec` or `RunConfig` (the shortcuts: `dataset="mnist"`,
    `output_dir=...`) replace that field of `data` or `run`; the others are handed back (e.g. a model's builder
    overrides). A time budget is not used when `epochs` are given.

    Example:
        >>> spec, config, overrides = run_options("mnist", None, {"idx_dir": "/data", "seed": 3, "dropout_rate": 0.1})
        >>> spec == DataSpec("mnist", idx_dir="/data"), config == RunConfig(seed=3), overrides
        (True, True, {'dropout_rate': 0.1})
    """
    spec = DataSpec.of(data, **{key: arguments[key] for key in DATA_FIELDS if key in arguments})
    config = RunConfig.of(run, **{key: arguments[key] for key in RUN_FIELDS if key in arguments})
    if config.time_budget is not None and epochs is not None:
        if config.verbose:
            print(f"time budget not used: the number of epochs is given ({epochs})")
        config = dataclasses.replace(config, time_budget=None)
    others = {key: value for key, value in arguments.items() if key not in DATA_FIELDS + RUN_FIELDS}
    return spec, config, others


def as_recorded(recipe):
    """The filled recipe as run.json records it: an augmentation given as an object, by its class name.

    Example:
        >>> as_recorded({"epochs": 5, "augment": make_augmentation("deit", seed=0)})
        {'epochs': 5, 'augment': 'Augmentation'}
    """
    augment = recipe["augment"]
    return {**recipe, "augment": augment if isinstance(augment, str) else type(augment).__name__}


class Run:
    """One run of `train`, `finetune` or `pretrain`: its strategy, precision, output folder, data and epochs.

    Made, it has checked the counts, made the strategy, resolved the precision and step settings, named its folder
    (`run_dir`: `output_dir`, or `output_dir/worker_N` for worker N > 0 of a multi-worker strategy) and seeded;
    then its methods are called in order: `load_data`, `building` (the model), `optimizer` and `compile`, `report`,
    `batches` and `fit`, `save` and `finish`.

    Args:
        name: the preset (pretrain: "<preset>_mae"), used in the default output folder runs/<name>_<data source>.
        data: the `DataSpec`.
        config: the `RunConfig`.
        arguments: JSON-serialisable arguments that define the run besides `data` and `config` (for run.json).
        epochs: training epochs (with a time budget: the recipe's, which the schedule spans until the epochs are
            planned).
        batch_size: global batch size.

    Example:
        >>> run = Run("vit_nano_patch4_28", DataSpec(), RunConfig(verbose=0), {"epochs": 2}, 2, 64)
        >>> data = run.load_data((28, 28), 1)
    """

    def __init__(self, name, data, config, arguments, epochs, batch_size):
        self.started = time.monotonic()  # of the time budget
        self.spec, self.config = data, config
        _check_counts(epochs=epochs, batch_size=batch_size)
        self.strategy = make_strategy(config.strategy, config.tpu)
        check_batch_size(batch_size, self.strategy)
        if config.time_budget and is_multi_worker(self.strategy):
            raise KerasViTError("time_budget= plans the epochs in each worker apart, and workers must run the same "
                                "epochs: pass epochs= with strategy='multi-worker'.")
        self.precision, jit_compile, reason = resolve_precision(config.precision, config.jit_compile, self.strategy,
                                                                small_model=is_small(name))  # "<preset>_mae" too
        self.jit_compile, self.steps_per_execution = step_settings(self.strategy, jit_compile,
                                                                   config.steps_per_execution)
        output_dir = pathlib.Path(config.output_dir or f"runs/{name}_{data.source}")
        worker = worker_index(self.strategy)
        self.run_dir = output_dir / f"worker_{worker}" if worker else output_dir
        budget = {"epochs": None, "time_budget": config.time_budget} if config.time_budget else {}
        self.arguments = {**data.recorded(), **arguments, **budget, "seed": config.seed,
                          "precision": config.precision, **({"precision_chosen": self.precision} if reason else {})}
        if reason and config.verbose:
            print(f"precision {AUTO}: {reason}")
        keras.utils.set_random_seed(config.seed)
        self.epochs = epochs  # None once a time budget is to plan them
        self.warmup_planned = False  # whether the plan sets the warmup too (the recipe's share of the epochs)
        self.batch_size = batch_size
        self.data = None
        self.completed_epochs = 0
        self.steps_per_epoch = None

    def load_data(self, image_size, channels):
        """Loads the data (`DataSpec.load`), makes the run folder ready (`prepare_run_folder`: a new run, or the
        same run resumed after its completed epochs, with the epochs its time budget planned) and sets the steps
        of an epoch (`epoch_steps`); returns the data.

        Args:
            image_size: (height, width) an image folder is decoded to (the preset's).
            channels: the channels an image folder is decoded to (the preset's).
        """
        self.data = self.spec.load(image_size=image_size, channels=channels, verbose=self.config.verbose)
        self.completed_epochs = prepare_run_folder(self.run_dir, self.arguments, overwrite=self.config.overwrite)
        if self.config.time_budget:
            self.epochs = planned_epochs(self.run_dir)
            if self.config.verbose:
                print(f"time budget {self.config.time_budget / 60:.1f} min: " + (
                    f"{self.epochs} epochs, as planned when the run started" if self.epochs else
                    "the epochs are planned from the first two"))
        self.steps_per_epoch, self.steps_per_execution = epoch_steps(self.data.sizes["train"], self.batch_size,
                                                                     self.steps_per_execution)
        return self.data

    @contextlib.contextmanager
    def building(self):
        """The scope a run's model is built in: the strategy's, with the run's precision as Keras' dtype policy.

        Example:
            >>> with run.building():
            ...     model = create_model("vit_nano_patch4_28", image_size=data.image_shape[:2], num_classes=10)
        """
        with self.strategy.scope(), precision_scope(self.precision):
            yield

    def scope(self):
        """The strategy's scope, for what a run makes besides the model (e.g. an optimizer built from another)."""
        return self.strategy.scope()

    def optimizer(self, recipe, ema_momentum=None, beta_2=0.999, warmup_share=None):
        """`build_optimizer`, in the strategy's scope, with the recipe's learning rate, warmup, weight decay and
        clipping over this run (over the recipe's epochs until a time budget plans them).

        Args:
            recipe: the filled recipe (`Recipe.fill`).
            ema_momentum: as in `build_optimizer`.
            beta_2: Adam's second-moment decay.
            warmup_share: where the warmup was left to the recipe, `Recipe.warmup_share`: the warmup epochs of
                the run's epochs, so that a time budget's plan keeps the recipe's proportion (until the plan, the
                warmup lasts one epoch, the least a plan gives, so that the plan raises it or leaves it, and the
                learning rate does not jump); None keeps `recipe["warmup_epochs"]` whatever the plan (at most the
                epochs).
        """
        epochs = self.epochs or recipe["epochs"]
        given = recipe["warmup_epochs"]
        self._warmup_for = warmup_share or (lambda planned: min(given, planned))  # a time budget replans
        self.warmup_planned = self.epochs is None and warmup_share is not None
        warmup = 1 if self.warmup_planned else self._warmup_for(epochs)
        with self.strategy.scope():
            return build_optimizer(recipe["learning_rate"], total_steps=epochs * self.steps_per_epoch,
                                   warmup_steps=warmup * self.steps_per_epoch,
                                   weight_decay=recipe["weight_decay"], clip_norm=recipe["clip_norm"],
                                   ema_momentum=ema_momentum, beta_2=beta_2)

    def compile(self, model, optimizer, **compile_arguments):
        """Compiles, in the strategy's scope, the model `fit` trains (`distributable(model)`: `model` itself but
        under a multi-worker strategy) with the run's XLA and step settings; returns it.

        Args:
            model: the model built in `building()`; save this one.
            optimizer: e.g. `run.optimizer(recipe)`.
            **compile_arguments: the loss, metrics, ... of `keras.Model.compile`.
        """
        with self.strategy.scope():
            trained = distributable(model, self.strategy)
            trained.compile(optimizer=optimizer, jit_compile=self.jit_compile,
                            steps_per_execution=self.steps_per_execution, **compile_arguments)
        return trained

    def augmentation(self, augment):
        """The augmentation of the training batches: `augment` when it is one, else the policy it names
        (`make_augmentation`, with the run's seed)."""
        return augment if callable(augment) else make_augmentation(augment, seed=self.config.seed)

    def report(self, model, recipe):
        """Prints what the run found and chose (`run_report`), at verbose >= 1."""
        if self.config.verbose:
            print("\n".join(run_report(self, model, recipe, self.spec.name)), flush=True)

    def batches(self, split, training=False, augment=None):
        """`make_batches` of `split` as this run reads it: its batch size, seed, cache and this worker's part; the
        training batches endless, continuing the sequence of passes after the completed epochs, and served by the
        tf.data service when the run has one."""
        batches = make_batches(split, self.data.num_classes, self.batch_size, training=training,
                               seed=self.config.seed, augment=augment if training else None, repeat=training,
                               cache=self.spec.cache, workers=data_workers(self.strategy),
                               start_epoch=self.completed_epochs if training else 0,
                               skip_corrupt=self.spec.skip_corrupt, verbose=self.config.verbose)
        if training and self.spec.data_service:  # each service worker runs whole passes of the pipeline
            batches = distribute_through_service(batches, self.spec.data_service, "distributed_epoch")
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
                     IntervalBackupAndRestore(str(self.run_dir / BACKUP_DIR), min_interval=self.config.backup_interval),
                     RaiseOnNaN(self.run_dir / BACKUP_DIR),
                     keras.callbacks.TensorBoard(str(self.run_dir / LOGS_DIR), write_graph=False)]
        if self.epochs is None:  # a time budget plans them after the first two epochs
            progbar = keras.callbacks.ProgbarLogger()
            schedule = schedule_of(trained.optimizer)
            test_steps = math.ceil(self.data.sizes["test"] / self.batch_size)
            callbacks += [TimeBudget(self.started + self.config.time_budget, self.config.time_budget, test_steps,
                                     lambda epochs: self._plan(epochs, schedule), progbar,
                                     verbose=self.config.verbose), progbar]
        if not trained.optimizer.built:  # else the first step creates its variables, and is traced twice
            with self.strategy.scope():
                trained.optimizer.build(trained.trainable_variables)
        with named_image_errors(self.data.train, self.data.validation):
            trained.fit(train_batches, steps_per_epoch=self.steps_per_epoch,  # endless batches: `epoch_steps`
                        validation_data=validation_batches, epochs=self.epochs or MAX_PLANNED_EPOCHS,
                        verbose=self.config.verbose, shuffle=False,  # the pipeline shuffles
                        callbacks=callbacks)
        mark_trained(self.run_dir)
        kill_point("trained")
        return read_history(history_path)

    def earlier_history(self):
        """The history of the epochs completed before a resume (empty for a new run)."""
        return read_history(self.run_dir / HISTORY_FILE) if self.completed_epochs else {}

    def save(self, model, name):
        """Saves `model` as `name` in the run folder, atomically (`save_model_atomically`); returns its path."""
        path = self.run_dir / name
        save_model_atomically(model, path)
        return path

    def finish(self, final_files):
        """Marks the run "finished" once every one of `final_files` is in place, and removes its backup
        (`finish_run`)."""
        finish_run(self.run_dir, final_files)

    def _plan(self, epochs, schedule):
        """Sets the run's epochs to those its time budget planned: `schedule` over them, and run.json."""
        self.epochs = epochs
        schedule.total_steps = epochs * self.steps_per_epoch
        warmup = self._warmup_for(epochs)
        schedule.warmup_steps = warmup * self.steps_per_epoch
        record_plan(self.run_dir, epochs, warmup)
        if self.config.verbose:
            print(f"learning rate: warmup over {warmup} of the {epochs} planned epochs, then cosine decay")


def _check_counts(**counts):
    for argument, value in counts.items():
        if value < 1:
            raise KerasViTError(f"{argument}={value} must be at least 1.")
