"""Training for a time budget: the epochs planned from the measured first epochs, so that the run ends within it.

The first epoch traces and compiles the training and validation steps; the second runs compiled, as every later
epoch does. Both are timed in their parts (training steps, validation, end-of-epoch callbacks), and the plan counts,
from the budget left after the second epoch:

- a second compilation of the training step, as long as the first epoch's training took beyond the second's (the
  learning-rate schedule is rebuilt for the planned epochs, and its step counts are constants of the step);
- the second epoch's time for each further epoch;
- the test evaluation at the validation's pace a step, its compilation (the last, smaller batch compiles anew) as
  long as the first validation took beyond the second's, and the final files as long as the second epoch's
  callbacks;
- a margin of `MARGIN` of the budget for epochs slower than the second.

Where epochs run slower than that still (a shared machine), the run stops before an epoch that would not end in
time with the evaluation and files after it: from the second epoch after the plan (the first recompiles), each
epoch's time is taken as the next one's.

Example:
    >>> keras_vit.train("vitc_nano_patch4_28", dataset="fashion_mnist", time_budget=30 * 60)
"""

import dataclasses
import math
import time

import keras

from keras_vit.errors import KerasViTError
from keras_vit.training.schedules import WarmupCosineDecay

# The share of the budget left unplanned, for epochs that run slower than the second.
MARGIN = 0.05
# The epochs `fit` is started with before the plan cuts them to the planned count.
MAX_PLANNED_EPOCHS = 100_000
# The epochs timed before the plan: the first compiles, the second shows a compiled epoch.
TIMED_EPOCHS = 2


@dataclasses.dataclass(frozen=True)
class EpochSeconds:
    """Seconds of one epoch, in parts: its training steps, its validation (0 without) and the callbacks after."""

    training: float
    validation: float
    callbacks: float

    @property
    def total(self):
        return self.training + self.validation + self.callbacks


def plan_epochs(seconds_left, first, second, steps, validation_steps, evaluation_steps):
    """The epochs a run can have in all, given the budget left after its first two epochs.

    Args:
        seconds_left: the budget's seconds left after the second epoch, the margin already taken off.
        first: the `EpochSeconds` of the first epoch (compilations included).
        second: the `EpochSeconds` of the second.
        steps: training steps an epoch.
        validation_steps: validation steps an epoch (0 without validation).
        evaluation_steps: the evaluation steps after the last epoch (the test split's).

    Returns:
        The planned number of epochs, at least `TIMED_EPOCHS`.

    Example:
        >>> first = EpochSeconds(training=57.0, validation=4.0, callbacks=2.0)
        >>> second = EpochSeconds(training=49.0, validation=1.0, callbacks=1.0)  # 51 s an epoch
        >>> plan_epochs(1680.0, first, second, steps=472, validation_steps=47, evaluation_steps=79)
        34
    """
    further = (seconds_left - _recompilation(first, second)
               - finishing_seconds(first, second, steps, validation_steps, evaluation_steps)) / second.total
    return TIMED_EPOCHS + max(0, math.floor(further))


def finishing_seconds(first, second, steps, validation_steps, evaluation_steps):
    """The seconds a run takes after its last epoch: the test evaluation, its compilation and the final files.

    Args: those of `plan_epochs`.

    Example:
        >>> finishing_seconds(EpochSeconds(30.0, 5.0, 2.0), EpochSeconds(10.0, 1.0, 1.0), 100, 10, 10)
        6.0
    """
    if validation_steps:
        evaluation = second.validation / validation_steps * evaluation_steps + first.validation - second.validation
    else:  # a forward pass costs less than a training step, and compiles in less time
        evaluation = second.training / steps * evaluation_steps + _recompilation(first, second)
    return evaluation + second.callbacks


def _recompilation(first, second):
    """Seconds of a compilation of the training step: what the first epoch's training took beyond the second's."""
    return max(0.0, first.training - second.training)


class TimeBudget(keras.callbacks.Callback):
    """Times the first two epochs of `fit`, plans the epochs that fit in the budget and stops `fit` after the last,
    or earlier where later epochs run so slowly that the next would end after the deadline.

    `fit` is started with `MAX_PLANNED_EPOCHS`; after the timed epochs, `on_plan(epochs)` is called (to rebuild
    the learning-rate schedule for them and record the plan), the training step is compiled again (the schedule's
    step counts are constants of the compiled step), and the progress bar and the callbacks that read the number of
    epochs (the backup of the last epoch) see the planned count. Place it after the other callbacks, so that an
    epoch's end includes theirs.

    Args:
        deadline: `time.monotonic()` by which the whole run (test evaluation and final files included) should end.
        budget: the budget's seconds (for the margin and the log).
        evaluation_steps: evaluation steps after training (the test split's).
        on_plan: function called with the planned number of epochs.
        progbar: the `keras.callbacks.ProgbarLogger` of the same `fit`, whose count of epochs follows the plan.
        verbose: print the plan and why.

    Example:
        >>> progbar = keras.callbacks.ProgbarLogger()
        >>> budget = TimeBudget(time.monotonic() + 1800, 1800, 79, schedule_for, progbar)
        >>> model.fit(batches, steps_per_epoch=472, epochs=MAX_PLANNED_EPOCHS, callbacks=[budget, progbar])
    """

    def __init__(self, deadline, budget, evaluation_steps, on_plan, progbar, verbose=1):
        super().__init__()
        self.deadline = deadline
        self.budget = budget
        self.evaluation_steps = evaluation_steps
        self.on_plan = on_plan
        self.progbar = progbar
        self.verbose = verbose
        self.planned = None
        self._planned_after = None  # the epochs completed when the plan was made
        self._finishing = 0.0  # seconds of the test evaluation and the final files, estimated at the plan
        self._timed = []  # EpochSeconds of the timed epochs
        self._marks = {}
        self._validation_steps = 0

    def on_train_begin(self, logs=None):
        self.progbar.epochs = 1  # no "Epoch 1/100000" line before the plan

    def on_epoch_begin(self, epoch, logs=None):
        self._marks = {"start": time.monotonic()}

    def on_test_begin(self, logs=None):
        self._marks["trained"] = time.monotonic()

    def on_test_batch_end(self, batch, logs=None):
        self._validation_steps = batch + 1

    def on_test_end(self, logs=None):
        self._marks["validated"] = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if self.planned is None:
            now = time.monotonic()
            trained = self._marks.get("trained", now)
            validated = self._marks.get("validated", trained)
            self._timed.append(EpochSeconds(trained - self._marks["start"], validated - trained, now - validated))
            if len(self._timed) == TIMED_EPOCHS:
                self._plan(epoch + 1, now)
        elif epoch + 1 < self.planned and epoch > self._planned_after:  # not the epoch that recompiled
            self._stop_if_the_next_epoch_ends_late(epoch + 1)
        if self.planned is not None and epoch + 1 >= self.planned:
            self.model.stop_training = True

    def _stop_if_the_next_epoch_ends_late(self, completed):
        now = time.monotonic()
        last_epoch = now - self._marks["start"]
        if now + last_epoch + self._finishing > self.deadline:
            self.model.stop_training = True
            if self.verbose:
                print(f"time budget {_minutes(self.budget)}: epoch {completed} took {last_epoch:.1f} s, and another "
                      f"would end after the budget: stopping after {completed} of the {self.planned} planned epochs")

    def _plan(self, completed, now):
        first, second = self._timed
        steps = self.params["steps"]
        self.planned = plan_epochs(self.deadline - now - MARGIN * self.budget, first, second, steps,
                                   self._validation_steps, self.evaluation_steps) + completed - TIMED_EPOCHS
        self._planned_after = completed
        self._finishing = finishing_seconds(first, second, steps, self._validation_steps, self.evaluation_steps)
        if self.verbose:
            print(f"time budget {_minutes(self.budget)}: the first epoch took {first.total:.1f} s (compiling), the "
                  f"second {second.total:.1f} s ({second.training:.1f} s training, {second.validation:.1f} s "
                  f"validating, {second.callbacks:.1f} s saving); {_minutes(self.deadline - now)} left: "
                  f"{self.planned} epochs planned")
        self.on_plan(self.planned)
        if self.planned > completed:
            self.model.make_train_function(force=True)
        self.params["epochs"] = self.planned  # shared by the callbacks of this `fit`: the backup's last epoch
        self.progbar.set_params(self.params)


def schedule_of(optimizer):
    """The `WarmupCosineDecay` that `optimizer` steps by, inside a loss-scale optimizer too (a time budget replans
    it; `with_layer_decay` builds its optimizer with a copy of the schedule it is given).

    Example:
        >>> schedule_of(build_optimizer(1e-3, total_steps=1000)).total_steps
        1000
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # keras.optimizers.LossScaleOptimizer
    schedule = getattr(inner, "_learning_rate", None)
    if not isinstance(schedule, WarmupCosineDecay):
        raise KerasViTError(f"time_budget= plans a WarmupCosineDecay schedule; this run's optimizer "
                            f"({type(inner).__name__}) steps by {type(schedule).__name__}.")
    return schedule


def _minutes(seconds):
    return f"{seconds / 60:.1f} min"
