"""Training for a time budget: the plan's arithmetic, the callback that applies it, and `train(time_budget=...)`."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.training import WarmupCosineDecay, build_optimizer, recommended_recipe, time_budget
from keras_vit.training import run as run_steps
from keras_vit.training.layer_decay import layer_decay_scales, with_layer_decay
from keras_vit.training.time_budget import TIMED_EPOCHS, EpochSeconds, TimeBudget, plan_epochs, schedule_of
from keras_vit_cli import commands
from keras_vit_cli.main import main


def test_the_plan_fills_what_the_budget_leaves_after_recompiling_and_the_final_evaluation():
    first = EpochSeconds(training=30.0, validation=5.0, callbacks=2.0)
    second = EpochSeconds(training=10.0, validation=1.0, callbacks=1.0)  # 12 s an epoch
    # left 200 s: recompile 20 s, test 10 steps at 0.1 s + 4 s compiling, final files 1 s -> 174 s = 14.5 epochs
    assert plan_epochs(200.0, first, second, steps=100, validation_steps=10, evaluation_steps=10) == 2 + 14
    # without validation, the test's steps cost a training step each and compile as long as the training step
    no_validation = EpochSeconds(training=10.0, validation=0.0, callbacks=1.0)  # 11 s an epoch
    assert plan_epochs(200.0, EpochSeconds(30.0, 0.0, 2.0), no_validation, steps=100, validation_steps=0,
                       evaluation_steps=10) == 2 + (200 - 20 - (1 + 20) - 1) // 11
    assert plan_epochs(5.0, first, second, 100, 10, 10) == TIMED_EPOCHS, "an exhausted budget runs no more"


class _Clock:
    """A clock that moves one second each time it is read."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 1.0
        return self.now


def fit_with_budget(callbacks_after=(), deadline=30.0, verbose=0):
    """A one-weight model fitted under a `TimeBudget` on the moving `_Clock`; (history, budget, progbar, plans,
    model). Loss = the kernel's sum over ones: every step's gradient is 1, so the kernel ends at -(sum of the rates).
    """
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    schedule = WarmupCosineDecay(1.0, total_steps=100 * STEPS, warmup_steps=STEPS)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss=lambda y, prediction: prediction,
                  jit_compile=False)
    plans = []

    def on_plan(epochs):
        plans.append(epochs)
        schedule.total_steps = epochs * STEPS

    progbar = keras.callbacks.ProgbarLogger()
    budget = TimeBudget(deadline=deadline, budget=deadline, evaluation_steps=2, on_plan=on_plan, progbar=progbar,
                        verbose=verbose)
    ones = np.ones((8, 1), "float32")
    history = model.fit(ones, ones, batch_size=2, epochs=time_budget.MAX_PLANNED_EPOCHS, validation_data=(ones[:4],
                        ones[:4]), shuffle=False, verbose=0, callbacks=[budget, *callbacks_after, progbar])
    return history, budget, progbar, plans, model


STEPS = 4  # steps an epoch of `fit_with_budget`


def test_the_callback_plans_after_two_epochs_recompiles_the_schedule_and_stops_at_the_plan(monkeypatch):
    monkeypatch.setattr(time_budget, "time", _Clock())
    # Each epoch reads the clock 4 times, 1 s apart: EpochSeconds(1, 1, 1). After epoch 2 (t = 8): 30 - 8 - 1.5
    # margin - 1 s of test evaluation (2 steps at 0.5 s) - 1 s of final files = 18.5 s = 6 further epochs. The
    # clock's epochs take 4 s, its reads, where the plan counts the 3 s between its marks: after epoch 7 (t = 28)
    # an eighth would end at 32, after the deadline, so the run stops one epoch short of the plan.
    history, budget, progbar, plans, model = fit_with_budget()
    assert plans == [8] and len(history.history["loss"]) == 7, "planned once, stopped where the next ends late"
    assert progbar.epochs == 8 and budget.params["epochs"] == 8
    rates = [float(WarmupCosineDecay(1.0, 100 * STEPS, STEPS)(step)) for step in range(2 * STEPS)]
    rates += [float(WarmupCosineDecay(1.0, 8 * STEPS, STEPS)(step)) for step in range(2 * STEPS, 7 * STEPS)]
    np.testing.assert_allclose(model.layers[0].kernel.numpy().ravel(), [-sum(rates)], rtol=1e-5,
                               err_msg="the steps after the plan follow the replanned schedule (step recompiled)")


def test_epochs_slower_than_planned_stop_the_run_before_the_one_that_would_end_late(monkeypatch, capsys):
    clock = _Clock()
    monkeypatch.setattr(time_budget, "time", clock)

    class SlowFromTheFourthEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch >= 3:
                clock.now += 5.0  # the machine slows down: epochs of 9 s instead of 4

    # Planned 8 as above. Epoch 3 (t = 9-11) recompiled and is not judged. Epoch 4 ends at t = 20 after 8 s: a
    # fifth would end at 28, + 1 s of test evaluation + 1 s of files = 30, in time. Epoch 5 ends at 29: a sixth
    # would not.
    history, _, _, plans, _ = fit_with_budget([SlowFromTheFourthEpoch()], verbose=1)
    assert plans == [8] and len(history.history["loss"]) == 5
    assert "epoch 5 took 8.0 s, and another would end after the budget: stopping after 5 of the 8 planned " \
           "epochs" in capsys.readouterr().out


def test_train_plans_its_epochs_records_them_and_given_epochs_win(tmp_path, capsys, monkeypatch):
    clock = _Clock()  # the run starts at 1 s; each epoch reads it 4 times: EpochSeconds(1, 1, 1)
    monkeypatch.setattr(run_steps, "time", clock)
    monkeypatch.setattr(time_budget, "time", clock)
    tiny = dict(model="vit_nano_patch4_28", dataset="digits", batch_size=128, learning_rate=3e-3, warmup_epochs=1,
                jit_compile=False)
    # After epoch 2 (t = 9): 1 + 16 - 9 - 0.8 margin - 1.5 s testing (3 steps at 0.5 s) - 1 s of files = 1 epoch
    # The warmup left to the recipe ("small": 5 of 300 epochs) is its share of the planned epochs: 1, not 5 or 3.
    result = keras_vit.train(**{**tiny, "warmup_epochs": None}, time_budget=16, output_dir=tmp_path / "planned",
                             verbose=2)
    run = json.loads((tmp_path / "planned" / "run.json").read_text())
    assert run["time_budget"] == 16 and run["epochs"] is None
    assert run["planned_epochs"] == len(result.history["loss"]) == TIMED_EPOCHS + 1
    assert run["planned_warmup_epochs"] == 1 and run["warmup_epochs"] == 5, "the plan's warmup, and the recipe's"
    schedule = schedule_of(result.model.optimizer)
    assert schedule.total_steps == 3 * 12, "the schedule spans the planned epochs"
    assert schedule.warmup_steps == 1 * 12, "the recipe's share of the planned epochs"
    printed = capsys.readouterr().out
    assert "3 epochs planned" in printed and "Epoch 3/3" in printed
    assert "warmup over 1 of the 3 planned epochs" in printed
    assert "warmup epochs the recipe's share of the planned epochs" in printed, "the report before the plan"

    without_model = {**tiny, "model": None}
    given = keras_vit.train(**without_model, epochs=1, time_budget=15, output_dir=tmp_path / "given", verbose=1)
    assert len(given.history["loss"]) == 1
    printed = capsys.readouterr().out
    assert "time budget not used: the number of epochs is given (1)" in printed
    assert "model vitc_nano_patch4_local_28: the recommended preset for digits" in printed
    assert given.model.get_layer("stem") is not None, "the convolutional stem of vitc_*"
    assert given.model.get_layer("block_0").local_grid == (2, 2), "*_local_*: the 8x8 digits' 2x2 grid of tokens"
    assert "planned_epochs" not in json.loads((tmp_path / "given" / "run.json").read_text())
    with pytest.raises(KerasViTError, match="time_budget=0 must be a positive number of seconds"):
        keras_vit.train(**tiny, time_budget=0, output_dir=tmp_path / "zero", verbose=0)


def test_the_schedule_replanned_is_the_one_the_optimizer_steps_by_under_layer_decay_and_loss_scaling():
    scaled = keras.optimizers.LossScaleOptimizer(with_layer_decay(build_optimizer(1e-3, total_steps=100),
                                                                  layer_decay_scales(2, 0.5)))
    schedule = schedule_of(scaled)
    schedule.total_steps = 10
    assert float(scaled.inner_optimizer.learning_rate) == pytest.approx(1e-3) and schedule.total_steps == 10
    scaled.inner_optimizer.iterations.assign(10)
    assert float(scaled.inner_optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9), "its schedule is replanned"
    with pytest.raises(KerasViTError, match="SGD"):
        schedule_of(keras.optimizers.SGD(0.1))


def test_a_multi_worker_run_cannot_take_a_time_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(run_steps, "is_multi_worker", lambda strategy: True)
    with pytest.raises(KerasViTError, match="workers must run the same epochs: pass epochs="):
        keras_vit.train(epochs=None, time_budget=60, output_dir=tmp_path, verbose=0)


def test_the_cli_reads_a_duration_with_its_unit(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(commands, "_report_classifier", lambda result: None)
    monkeypatch.setattr(keras_vit.training, "train", lambda **arguments: seen.update(arguments))
    assert main(["train", "--time-budget", "1.5h"]) == 0 and seen["run"].time_budget == 5400.0
    with pytest.raises(SystemExit):
        main(["train", "--time-budget", "30"])
    assert "'30' is not a duration with its unit, e.g. 90s, 30m or 1.5h" in capsys.readouterr().err


def test_until_the_plan_a_warmup_left_to_the_recipe_lasts_one_epoch_and_a_given_one_stands(tmp_path):
    recipe = recommended_recipe("vit_nano_patch4_28")  # "small": 5 warmup epochs of 300
    filled = recipe.fill(epochs=None, batch_size=None, learning_rate=None, weight_decay=None, warmup_epochs=None,
                         clip_norm=None)
    run = run_steps.Run("vit_nano_patch4_28", keras_vit.DataSpec(),
                        keras_vit.RunConfig(time_budget=60, output_dir=tmp_path, verbose=0), {}, filled["epochs"],
                        filled["batch_size"])
    run.load_data((28, 28), 1)
    assert run.epochs is None, "not planned yet"
    steps = run.steps_per_epoch
    left_to_recipe = schedule_of(run.optimizer(filled, warmup_share=recipe.warmup_share))
    assert (left_to_recipe.total_steps, left_to_recipe.warmup_steps) == (300 * steps, steps)
    assert schedule_of(run.optimizer(filled)).warmup_steps == 5 * steps, "a given warmup is kept"
