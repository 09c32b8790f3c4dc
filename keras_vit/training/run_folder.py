"""The output folder of a run: `run.json` (what defines the run, and its state), resuming from its backup.

A run folder is in one of three states, held in `run.json`'s "state" and read alike by `train`, `finetune` and
`pretrain`:

- "training": `backup/` (if there) holds the state after the last backed-up epoch; the same call resumes there.
- "trained": every epoch ran and `backup/` holds the last one: the final weights are safe on disk, the final files
  (test evaluation, model, curves) are pending. The same call restores the backup, runs no epoch, and writes them.
- "finished": every final file is in place; the backup is gone. The same call is an error (without `overwrite`).

Every file a later step trusts (run.json, history.csv, the backup, the models) is written atomically
(`keras_vit.atomic_files`), so a kill at any moment leaves one of these states, never a truncated file.
"""

import json
import pathlib
import shutil

from keras_vit.atomic_files import remove_incomplete, write_text_atomically
from keras_vit.errors import KerasViTError
from keras_vit.training.history import keep_history_rows

RUN_FILE = "run.json"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
HISTORY_FILE = "history.csv"
STATE = "state"  # the key of run.json that holds the state
PLAN = "planned_epochs"  # the key of run.json that holds the epochs a time budget planned (`record_plan`)
PLANNED_WARMUP = "planned_warmup_epochs"  # and the one that holds that plan's warmup epochs
TRAINING, TRAINED, FINISHED = "training", "trained", "finished"
FINAL_MODELS = ("model.keras", "encoder.keras")  # written when a training (or a pretraining) run ends
RUN_OUTPUTS = (RUN_FILE, HISTORY_FILE, *FINAL_MODELS, "best.keras", "training_curves.png", "reconstruction.png",
               "model.class_names.json", "best.class_names.json")  # the class names of runs of earlier versions


def prepare_run_folder(output_dir, arguments, overwrite=False):
    """Makes `output_dir` ready for the run defined by `arguments` and returns how many epochs it has completed.

    A folder without `run.json` starts a new run. A folder whose `run.json` holds the same arguments resumes from
    its backup (`IntervalBackupAndRestore`, in `output_dir/backup`), in the state "training" or "trained", with the
    epochs and warmup its time budget planned (`record_plan`), or starts over when no epoch was backed up. A folder
    holding another run, or the same run finished, is an error unless `overwrite`, which deletes that run's files.
    `history.csv` keeps the rows of the backed-up epochs only (an epoch cut short, or not backed up, is run again),
    and the temporary files of killed writes are deleted.

    Args:
        output_dir: the output folder (created when missing).
        arguments: JSON-serialisable dict of the arguments that define the run.
        overwrite: replace another run or a finished one instead of failing.

    Returns:
        The number of epochs completed, from which training resumes (0: from the start).

    Example:
        >>> prepare_run_folder("runs/digits", {"model": "vit_nano_patch4_28", "epochs": 5})
        0
    """
    output_dir = pathlib.Path(output_dir)
    arguments = json.loads(json.dumps(arguments))  # as read back: tuples become lists
    previous = _read_run_file(output_dir)
    state = run_state(output_dir)
    completed = _completed_epochs(output_dir / BACKUP_DIR)
    plan = {} if previous is None else {key: previous.pop(key) for key in (PLAN, PLANNED_WARMUP) if key in previous}
    if previous is not None and not overwrite:
        previous.pop(STATE, None)
        differing = sorted(key for key in previous.keys() | arguments.keys()
                           if previous.get(key) != arguments.get(key))
        if differing:
            changes = ", ".join(f"{key} {previous.get(key)!r} -> {arguments.get(key)!r}" for key in differing)
            raise KerasViTError(f"Output folder '{output_dir}' holds another run ({changes}); choose another "
                                f"output_dir=, or pass overwrite=True to replace it.")
        if state == FINISHED:
            shutil.rmtree(output_dir / BACKUP_DIR, ignore_errors=True)  # left by a kill just after finishing
            raise KerasViTError(f"Output folder '{output_dir}' already holds a finished run; choose another "
                                f"output_dir=, or pass overwrite=True to replace it.")
    if previous is None or overwrite or completed == 0:
        _delete_run(output_dir)
        completed, state, plan = 0, TRAINING, {}
    output_dir.mkdir(parents=True, exist_ok=True)
    for folder in (output_dir, output_dir / BACKUP_DIR):
        remove_incomplete(folder)
    _write_run_file(output_dir, {**arguments, **plan}, state)
    keep_history_rows(output_dir / HISTORY_FILE, completed)
    return completed


def run_state(output_dir):
    """The state of the run in `output_dir` (see the module's docstring), or None when it holds no run.

    A run.json without a state (written by an earlier version) is "finished" when a final model is there and no
    backup, else "training".

    Example:
        >>> run_state("runs/digits")
        'finished'
    """
    output_dir = pathlib.Path(output_dir)
    previous = _read_run_file(output_dir)
    if previous is None:
        return None
    if STATE in previous:
        return previous[STATE]
    finished = (_completed_epochs(output_dir / BACKUP_DIR) == 0
                and any((output_dir / name).is_file() for name in FINAL_MODELS))
    return FINISHED if finished else TRAINING


def record_plan(output_dir, epochs, warmup_epochs):
    """Records in run.json the number of epochs a time budget planned and the warmup epochs of that plan; a
    resumed run keeps them. The recipe in run.json holds the warmup of before the plan.

    Example:
        >>> record_plan("runs/fashion", 27, 2)
        >>> planned_epochs("runs/fashion")
        27
    """
    output_dir = pathlib.Path(output_dir)
    previous = _read_run_file(output_dir)
    plan = {PLAN: int(epochs), PLANNED_WARMUP: int(warmup_epochs)}
    _write_run_file(output_dir, {**previous, **plan}, previous[STATE])


def planned_epochs(output_dir):
    """The epochs recorded by `record_plan` in the run folder `output_dir`, or None (not planned, or no run)."""
    return (_read_run_file(pathlib.Path(output_dir)) or {}).get(PLAN)


def mark_trained(output_dir):
    """Records in run.json that every epoch ran and the backup holds the last one (state "trained").

    Example:
        >>> mark_trained("runs/digits")
    """
    output_dir = pathlib.Path(output_dir)
    _write_run_file(output_dir, _read_run_file(output_dir), TRAINED)


def finish_run(output_dir, final_files):
    """Checks that every one of `final_files` is in place, records the state "finished", then removes the backup.

    Args:
        output_dir: the run folder.
        final_files: the paths of the files the run ends with (each written atomically).

    Raises:
        KerasViTError: a final file is missing (the run stays "trained", its backup kept).

    Example:
        >>> finish_run("runs/digits", ["runs/digits/model.keras", "runs/digits/training_curves.png"])
    """
    output_dir = pathlib.Path(output_dir)
    missing = [str(path) for path in final_files if not pathlib.Path(path).is_file()]
    if missing:
        raise KerasViTError(f"The run in '{output_dir}' did not write {', '.join(missing)}; its backup is kept, and "
                            f"the same call writes the final files again.")
    _write_run_file(output_dir, _read_run_file(output_dir), FINISHED)
    shutil.rmtree(output_dir / BACKUP_DIR, ignore_errors=True)


def _completed_epochs(backup_dir):
    # IntervalBackupAndRestore writes {"epoch": epochs completed, "batch": ..., "weights": ...} there.
    metadata = backup_dir / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0


def _delete_run(output_dir):
    for name in (BACKUP_DIR, LOGS_DIR):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    for name in RUN_OUTPUTS:
        (output_dir / name).unlink(missing_ok=True)


def _read_run_file(output_dir):
    run_file = output_dir / RUN_FILE
    return json.loads(run_file.read_text()) if run_file.is_file() else None


def _write_run_file(output_dir, arguments, state):
    write_text_atomically(output_dir / RUN_FILE, json.dumps({**arguments, STATE: state}, indent=1))
