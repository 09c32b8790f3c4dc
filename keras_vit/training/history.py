"""`history.csv`: one row of metrics per completed epoch, rewritten atomically at each epoch's end."""

import csv
import io
import pathlib

import keras

from keras_vit.atomic_files import write_text_atomically


class HistoryLogger(keras.callbacks.Callback):
    """Adds each epoch's row (`epoch`, then the metrics by name) to a CSV file, written with `atomic_write`.

    Like `keras.callbacks.CSVLogger(path, append=True)`, except that a kill never leaves half a row: the file is
    rewritten whole under a temporary name, then renamed. The rows already in the file (of the epochs run before a
    resume) are kept.

    Args:
        path: the CSV file.

    Example:
        >>> model.fit(..., callbacks=[HistoryLogger("runs/digits/history.csv")])
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)

    def on_epoch_end(self, epoch, logs=None):
        names, rows = _read(self.path)
        names = names or ["epoch", *sorted(logs or {})]
        rows.append({"epoch": epoch, **{name: float(value) for name, value in (logs or {}).items()}})
        _write_rows(self.path, names, rows)


def read_history(path):
    """Reads a history file (`HistoryLogger`, `keras.callbacks.CSVLogger`) into metric name -> one value an epoch.

    Example:
        >>> read_history("runs/digits/history.csv")["val_accuracy"]
        [0.41, 0.78, 0.9]
    """
    names, rows = _read(path)
    return {name: [float(row[name]) for row in rows] for name in names if name != "epoch"}


def keep_history_rows(path, epochs):
    """Drops the rows of the history file `path` from epoch index `epochs` on (a missing file is left missing).

    A run killed after logging an epoch but before backing it up runs that epoch again, and logs it again.

    Example:
        >>> keep_history_rows("runs/digits/history.csv", 3)  # the rows of epochs 0, 1 and 2 stay
    """
    path = pathlib.Path(path)
    if path.is_file():
        names, rows = _read(path)
        _write_rows(path, names, [row for row in rows if int(row["epoch"]) < epochs])


def _read(path):
    """(column names, rows as dicts) of the CSV file `path`; ([], []) when it is missing."""
    if not pathlib.Path(path).is_file():
        return [], []
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path, names, rows):
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=names)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(path, text.getvalue())
