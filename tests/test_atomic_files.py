"""Atomic files (complete under their name, or absent), the kill points, and the single-file exports using them."""

import collections

import keras
import pytest

from keras_vit import atomic_files, kill_points
from keras_vit.atomic_files import INCOMPLETE, atomic_write, remove_incomplete, write_text_atomically
from keras_vit.export import export_onnx, export_tflite


def test_an_atomic_write_replaces_the_file_in_one_rename_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    path.write_text("old")
    renames = []
    monkeypatch.setattr(atomic_files.os, "replace", lambda source, target: (
        renames.append((source.name, path.read_text())), atomic_files.os.rename(source, target)))
    write_text_atomically(path, "new")
    assert path.read_text() == "new" and list(tmp_path.iterdir()) == [path]
    [(temporary, seen_then)] = renames
    assert temporary.startswith(INCOMPLETE) and temporary.endswith(".run.json") and seen_then == "old"


def test_a_failed_atomic_write_keeps_the_previous_file_and_deletes_its_temporary(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("complete")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(path) as temporary:
            temporary.write_text("trunc")
            raise OSError("disk full")
    assert path.read_text() == "complete" and list(tmp_path.iterdir()) == [path]


def test_remove_incomplete_deletes_what_killed_writes_left_and_nothing_else(tmp_path):
    kept = [tmp_path / "model.keras", tmp_path / ".hidden"]
    for path in kept + [tmp_path / f"{INCOMPLETE}1f2e.model.keras", tmp_path / f"{INCOMPLETE}9a.history.csv"]:
        path.write_text("x")
    remove_incomplete(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_kill_point_kills_at_the_visit_it_is_asked_for_only(monkeypatch):
    kills = []
    monkeypatch.setattr(kill_points, "_reached", collections.Counter())
    monkeypatch.setattr(kill_points.os, "kill", lambda pid, sent: kills.append((pid, sent)))
    monkeypatch.delenv(kill_points.VARIABLE, raising=False)
    kill_points.kill_point("epoch_end")
    assert not kills
    monkeypatch.setenv(kill_points.VARIABLE, "epoch_end@2")
    for point in ("batch", "epoch_end", "batch", "epoch_end", "epoch_end"):
        kill_points.kill_point(point)
    assert kills == [(kill_points.os.getpid(), kill_points.signal.SIGKILL)]
    monkeypatch.setenv(kill_points.VARIABLE, "write:model.keras")
    kill_points.kill_point("write:model.keras")
    assert len(kills) == 2, "POINT alone: its first visit"


@pytest.mark.parametrize("export, suffix, modules", [(export_tflite, ".tflite", []),
                                                     (export_onnx, ".onnx", ["onnx", "tf2onnx"])])
def test_a_failed_export_leaves_the_previous_file(tmp_path, monkeypatch, export, suffix, modules):
    for module in modules:
        pytest.importorskip(module)
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"previous export")

    def cut_short(model, filepath, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"half a fi")
        raise RuntimeError("killed")

    monkeypatch.setattr(keras.Model, "export", cut_short)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(RuntimeError, match="killed"):
        export(model, path)
    assert path.read_bytes() == b"previous export" and list(tmp_path.iterdir()) == [path]
