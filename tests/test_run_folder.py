"""The states of a run folder (training, trained, finished) as every entry point reads them, and its history."""

import json

import pytest

from keras_vit.atomic_files import INCOMPLETE
from keras_vit.errors import KerasViTError
from keras_vit.training.history import HistoryLogger, keep_history_rows, read_history
from keras_vit.training.run_folder import (
    finish_run, mark_trained, planned_epochs, prepare_run_folder, record_plan, run_state)

ARGUMENTS = {"model": "vit_nano_patch4_28", "epochs": 3}


def _back_up(output, epochs):
    (output / "backup").mkdir(exist_ok=True)
    (output / "backup" / "training_metadata.json").write_text(
        json.dumps({"epoch": epochs, "batch": 0, "weights": f"epoch_{epochs}.weights.h5"}))


def _log(output, epochs):
    logger = HistoryLogger(output / "history.csv")
    for epoch in epochs:
        logger.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.5})


def test_a_run_goes_from_training_to_trained_to_finished_and_a_trained_one_resumes_as_trained(tmp_path):
    output = tmp_path / "run"
    assert run_state(output) is None and prepare_run_folder(output, ARGUMENTS) == 0
    assert run_state(output) == "training"
    _log(output, range(3))
    _back_up(output, 3)
    mark_trained(output)
    assert run_state(output) == "trained"
    assert prepare_run_folder(output, ARGUMENTS) == 3 and run_state(output) == "trained", "the state is kept"
    assert json.loads((output / "run.json").read_text()) == {**ARGUMENTS, "state": "trained"}
    (output / "model.keras").write_text("model")
    finish_run(output, [output / "model.keras"])
    assert run_state(output) == "finished" and not (output / "backup").exists()
    with pytest.raises(KerasViTError, match="already holds a finished run"):
        prepare_run_folder(output, ARGUMENTS)


def test_a_run_missing_a_final_file_stays_trained_with_its_backup(tmp_path):
    output = tmp_path / "run"
    prepare_run_folder(output, ARGUMENTS)
    _back_up(output, 3)
    mark_trained(output)
    with pytest.raises(KerasViTError, match=r"did not write .*model\.keras; its backup is kept"):
        finish_run(output, [output / "model.keras"])
    assert run_state(output) == "trained" and (output / "backup" / "training_metadata.json").is_file()


def test_a_backup_left_by_a_kill_just_after_finishing_is_removed(tmp_path):
    output = tmp_path / "run"
    prepare_run_folder(output, ARGUMENTS)
    finish_run(output, [])
    _back_up(output, 3)
    with pytest.raises(KerasViTError, match="already holds a finished run"):
        prepare_run_folder(output, ARGUMENTS)
    assert not (output / "backup").exists()


def test_a_run_json_without_a_state_is_finished_with_a_final_model_and_no_backup(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    (output / "run.json").write_text(json.dumps(ARGUMENTS))
    assert run_state(output) == "training"
    (output / "encoder.keras").write_text("model")
    assert run_state(output) == "finished"
    _back_up(output, 2)
    assert run_state(output) == "training" and prepare_run_folder(output, ARGUMENTS) == 2


def test_resuming_keeps_the_backed_up_rows_and_drops_what_killed_writes_left(tmp_path):
    output = tmp_path / "run"
    prepare_run_folder(output, ARGUMENTS)
    _log(output, range(3))  # epoch index 2 logged, not backed up
    _back_up(output, 2)
    for leftover in (output / f"{INCOMPLETE}1f.model.keras", output / "backup" / f"{INCOMPLETE}2e.epoch_3.weights.h5"):
        leftover.write_text("half")
    assert prepare_run_folder(output, ARGUMENTS) == 2
    assert read_history(output / "history.csv") == {"accuracy": [0.5, 0.5], "loss": [1.0, 0.5]}
    assert not list(output.rglob(f"{INCOMPLETE}*"))
    _log(output, [2])
    assert read_history(output / "history.csv")["loss"] == [1.0, 0.5, 1 / 3]


def test_a_resumed_run_keeps_its_time_budgets_plan_and_a_new_start_drops_it(tmp_path):
    output = tmp_path / "run"
    prepare_run_folder(output, ARGUMENTS)
    record_plan(output, 27, 2)
    _back_up(output, 4)
    assert prepare_run_folder(output, ARGUMENTS) == 4, "the plan is no argument: the same run resumes"
    recorded = json.loads((output / "run.json").read_text())
    assert (planned_epochs(output), recorded["planned_warmup_epochs"]) == (27, 2)
    (output / "backup" / "training_metadata.json").unlink()  # nothing backed up: the run starts over
    assert prepare_run_folder(output, ARGUMENTS) == 0
    assert planned_epochs(output) is None
    assert "planned_warmup_epochs" not in json.loads((output / "run.json").read_text())


def test_keep_history_rows_keeps_the_header_of_a_history_without_rows(tmp_path):
    path = tmp_path / "history.csv"
    _log(tmp_path, [0])
    keep_history_rows(path, 0)
    assert path.read_text().splitlines() == ["epoch,accuracy,loss"]
    keep_history_rows(tmp_path / "missing.csv", 0)
    assert not (tmp_path / "missing.csv").exists()
