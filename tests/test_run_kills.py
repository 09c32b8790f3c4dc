"""Runs killed with SIGKILL at each phase, and at random moments, then run again by the same call.

Each attempt is a forked child of `run_attempts.py` (a subprocess that imported keras_vit once), cut by SIGKILL
at a kill point of the library (`keras_vit.kill_points`) or at a random moment. The run is the nano ViT cut to
one block on the digits, so that an attempt costs little more than its first compiled step.
"""

import csv
import json
import pathlib
import random
import signal
import subprocess
import sys

import keras
import pytest

from keras_vit.data import load_dataset
from keras_vit.models import load_classifier

TINY_RUN = dict(model="vit_nano_patch4_28", dataset="digits", depth=1, augment="none", batch_size=128,
                learning_rate=3e-3, warmup_epochs=1, jit_compile=False, steps_per_execution=1, verbose=2,
                backup_interval=0)
STEPS_PER_EPOCH = -(-load_dataset("digits").sizes["train"] // TINY_RUN["batch_size"])


class Driver:
    """The `run_attempts.py` process: `attempt` runs one attempt of a call and returns its answer."""

    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.process = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name("run_attempts.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def attempt(self, call, kwargs, kill_at=None, kill_after=None):
        self.count += 1
        log = self.folder / f"attempt_{self.count}.log"
        self.process.stdin.write(json.dumps(dict(call=call, kwargs=kwargs, log=str(log), kill_at=kill_at,
                                                 kill_after=kill_after)) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        answer["log"] = log.read_text()
        return answer


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    driver = Driver(tmp_path_factory.mktemp("attempts"))
    yield driver
    driver.process.stdin.close()
    driver.process.wait(timeout=60)


def _killed(answer):
    assert answer["signal"] == signal.SIGKILL, answer["log"][-3000:]


def _completed(answer):
    assert answer["exit_code"] == 0, answer["log"][-3000:]


def _state(output):
    return json.loads((output / "run.json").read_text())["state"]


def _backed_up(output):
    return json.loads((output / "backup" / "training_metadata.json").read_text())["epoch"]


def _logged(output):
    with open(output / "history.csv", newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def _leftovers(output):
    return sorted(path.name for path in output.rglob(".incomplete-*"))


def test_a_run_killed_at_each_phase_resumes_from_its_last_backup_and_finishes(driver, tmp_path):
    output = tmp_path / "run"
    run = dict(TINY_RUN, epochs=4, output_dir=str(output))

    within_epoch_2 = driver.attempt("train", run, kill_at=f"batch@{STEPS_PER_EPOCH + 2}")
    _killed(within_epoch_2)
    assert within_epoch_2["epochs"] == [1, 2] and _backed_up(output) == 1 and _state(output) == "training"

    after_epoch_3_before_its_backup = driver.attempt("train", run, kill_at="epoch_end@2")
    _killed(after_epoch_3_before_its_backup)
    assert after_epoch_3_before_its_backup["epochs"] == [2, 3], "resumed after the backed-up epoch 1"
    assert _backed_up(output) == 2 and _logged(output) == [0, 1, 2]

    during_backup_4 = driver.attempt("train", run, kill_at="write:epoch_4.weights.h5")
    _killed(during_backup_4)
    assert during_backup_4["epochs"] == [3, 4], "epoch 3, logged but not backed up, runs again"
    assert _backed_up(output) == 3 and _leftovers(output / "backup"), "the complete backup of epoch 3 stays"

    after_the_last_epoch = driver.attempt("train", run, kill_at="trained")
    _killed(after_the_last_epoch)
    assert after_the_last_epoch["epochs"] == [4] and _state(output) == "trained" and _backed_up(output) == 4
    assert not (output / "model.keras").exists()

    during_model_write = driver.attempt("train", run, kill_at="write:model.keras")
    _killed(during_model_write)
    assert during_model_write["epochs"] == [], "a trained run runs no epoch again"
    assert not (output / "model.keras").exists() and _state(output) == "trained" and _backed_up(output) == 4
    assert any(name.endswith(".model.keras") for name in _leftovers(output))

    last = driver.attempt("train", run)
    _completed(last)
    assert last["epochs"] == [], "nor does a run killed in its final files"
    assert _state(output) == "finished" and not (output / "backup").exists() and not _leftovers(output)
    assert _logged(output) == [0, 1, 2, 3], "each epoch logged once"
    model, class_names = load_classifier(output / "model.keras")
    assert class_names == [str(digit) for digit in range(10)]
    assert int(model.optimizer.iterations.numpy()) == 4 * STEPS_PER_EPOCH, "no step trained twice"
    assert load_classifier(output / "best.keras")[0].output_shape == (None, 10)
    assert (output / "training_curves.png").is_file()


def test_random_kills_cost_at_most_their_epoch_and_end_in_the_model_of_an_unkilled_run(driver, tmp_path):
    epochs, kills = 10, 3
    output = tmp_path / "killed"
    run = dict(TINY_RUN, epochs=epochs, output_dir=str(output))
    moments = random.Random(21)
    started, killed = [], 0
    for _ in range(kills):
        answer = driver.attempt("train", run, kill_after=moments.uniform(0.0, 1.5))
        started += answer["epochs"]
        if _state(output) == "finished":  # the run ended before its kill (or in its very last instant)
            break
        _killed(answer)
        killed += 1
    else:
        last = driver.attempt("train", run)
        _completed(last)
        started += last["epochs"]
    assert _state(output) == "finished"
    assert killed >= 2, "kills at random moments of the run"
    assert sorted(set(started)) == list(range(1, epochs + 1))
    assert len(started) <= epochs + killed, f"a kill costs at most the epoch it cuts (backup every epoch): {started}"
    assert _logged(output) == list(range(epochs))

    unkilled = driver.attempt("train", dict(run, output_dir=str(tmp_path / "unkilled")))
    _completed(unkilled)
    final = {name: _last(tmp_path / name / "history.csv") for name in ("killed", "unkilled")}
    # a resumed run restarts the shuffled stream: it sees other batches, not other weights or another schedule
    assert final["killed"]["val_accuracy"] == pytest.approx(final["unkilled"]["val_accuracy"], abs=0.02)
    assert final["killed"]["val_loss"] == pytest.approx(final["unkilled"]["val_loss"], rel=0.03)


def test_a_pretraining_killed_after_its_last_epoch_writes_its_final_files_without_training(driver, tmp_path):
    output = tmp_path / "mae"
    run = dict(model="vit_nano_patch4_28", dataset="digits", depth=1, decoder_depth=1, epochs=2, batch_size=512,
               jit_compile=False, steps_per_execution=1, verbose=2, backup_interval=0, output_dir=str(output))

    after_the_last_epoch = driver.attempt("pretrain", run, kill_at="trained")
    _killed(after_the_last_epoch)
    assert after_the_last_epoch["epochs"] == [1, 2] and _state(output) == "trained"

    during_encoder_write = driver.attempt("pretrain", run, kill_at="write:encoder.keras")
    _killed(during_encoder_write)
    assert during_encoder_write["epochs"] == [] and not (output / "encoder.keras").exists()

    last = driver.attempt("pretrain", run)
    _completed(last)
    assert last["epochs"] == [] and _state(output) == "finished" and not (output / "backup").exists()
    assert _logged(output) == [0, 1] and not _leftovers(output)
    assert keras.saving.load_model(output / "encoder.keras", safe_mode=True).name
    assert (output / "reconstruction.png").is_file() and (output / "training_curves.png").is_file()


def _last(path):
    with open(path, newline="") as file:
        return {name: float(value) for name, value in list(csv.DictReader(file))[-1].items()}
