"""The output folder of a training run: `run.json` (what defines the run), resuming from its backup, its history."""

import csv
import json
import pathlib
import shutil

from keras_vit.errors import KerasViTError

RUN_FILE = "run.json"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
HISTORY_FILE = "history.csv"
FINAL_MODELS = ("model.keras", "encoder.keras")  # written when a training (or a pretraining) run ends
RUN_OUTPUTS = (RUN_FILE, HISTORY_FILE, *FINAL_MODELS, "model.class_names.json", "best.keras",
               "best.class_names.json", "training_curves.png", "reconstruction.png")


def prepare_run_folder(output_dir, arguments, overwrite=False):
    """Makes `output_dir` ready for the run defined by `arguments` and returns how many epochs it has completed.

    A folder without `run.json` starts a new run. A folder whose `run.json` holds the same arguments resumes from
    its backup (`BackupAndRestore`, in `output_dir/backup`), or starts over when no epoch was backed up. A folder
    holding another run, or the same run finished, is an error unless `overwrite`, which deletes that run's files.
    `history.csv` keeps the rows of the completed epochs only (an epoch cut short is run again).

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
    run_file = output_dir / RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    completed = _completed_epochs(output_dir / BACKUP_DIR)
    if previous is not None and not overwrite:
        differing = sorted(key for key in previous.keys() | arguments.keys()
                           if previous.get(key) != arguments.get(key))
        if differing:
            changes = ", ".join(f"{key} {previous.get(key)!r} -> {arguments.get(key)!r}" for key in differing)
            raise KerasViTError(f"Output folder '{output_dir}' holds another run ({changes}); choose another "
                                f"--output, or pass --overwrite to replace it.")
        if completed == 0 and any((output_dir / name).is_file() for name in FINAL_MODELS):
            raise KerasViTError(f"Output folder '{output_dir}' already holds a finished run; choose another "
                                f"--output, or pass --overwrite to replace it.")
    if previous is None or overwrite or completed == 0:
        _delete_run(output_dir)
        completed = 0
    output_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(arguments, indent=1))
    _keep_history_rows(output_dir / HISTORY_FILE, completed)
    return completed


def read_history(path):
    """Reads a `keras.callbacks.CSVLogger` file into a dict of metric name -> list of values, one per epoch.

    Example:
        >>> read_history("runs/digits/history.csv")["val_accuracy"]
        [0.41, 0.78, 0.9]
    """
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    names = [name for name in (rows[0] if rows else {}) if name != "epoch"]
    return {name: [float(row[name]) for row in rows] for name in names}


def _completed_epochs(backup_dir):
    # BackupAndRestore writes {"epoch": epochs completed, "batch": ...} there at the end of each epoch.
    metadata = backup_dir / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0


def _delete_run(output_dir):
    for name in (BACKUP_DIR, LOGS_DIR):
        shutil.rmtree(output_dir / name, ignore_errors=True)
    for name in RUN_OUTPUTS:
        (output_dir / name).unlink(missing_ok=True)


def _keep_history_rows(path, epochs):
    """Drops the rows of `history.csv` from epoch index `epochs` on: a run killed after logging an epoch but before
    backing it up runs that epoch again."""
    if not path.is_file():
        return
    with open(path, newline="") as file:
        lines = file.read().splitlines(keepends=True)
    header, rows = lines[:1], lines[1:]
    kept = [row for row in rows if int(row.split(",", 1)[0]) < epochs]
    path.write_text("".join(header + kept))
