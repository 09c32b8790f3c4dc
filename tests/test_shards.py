"""`keras-vit prepare` shards: every image once per split, resuming a killed run, corrupt files, refused folders."""

import collections
import json
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_vit.atomic_files import INCOMPLETE
from keras_vit.data import shards
from keras_vit.data.folder import load_image_folder
from keras_vit.data.shards import is_shard_folder, parse_shard_record, read_shard_info, write_shards
from keras_vit.errors import KerasViTError
from keras_vit_cli.main import main

TINY_SHARDS = 0.001  # megabytes: two or three 8x8 images a shard


def _write_images(root, counts):
    rng = np.random.default_rng(0)
    for class_name, count in counts.items():
        (root / class_name).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / class_name / f"{index}.{'png' if index % 2 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(image folder, its shard folder, write_shards' result): 3 classes of 6 images, tiny shards."""
    root = _write_images(tmp_path_factory.mktemp("data") / "images", {"cat": 6, "dog": 6, "eel": 6})
    output = tmp_path_factory.mktemp("data") / "shards"
    return root, output, write_shards(root, output, shard_megabytes=TINY_SHARDS, verbose=0)


def _records(files):
    return [(image, int(label), path.decode()) for image, label, path in
            tf.data.TFRecordDataset(files).map(parse_shard_record).as_numpy_iterator()]


def _shard_files(folder):
    return {path.name: path for path in folder.iterdir()
            if path.suffix == ".tfrecord" and not path.name.startswith(INCOMPLETE)}


def test_every_image_comes_back_once_in_its_split_with_its_bytes_and_label(prepared):
    root, output, info = prepared
    data = load_image_folder(root, image_size=(8, 8))
    assert info["class_names"] == data.class_names == ["cat", "dog", "eel"] and is_shard_folder(output)
    assert not is_shard_folder(root)
    for split_name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        entry = info["splits"][split_name]
        records = _records(entry["files"])
        expected = sorted((os.path.relpath(path, root), int(label)) for path, label in zip(split.paths, split.labels))
        assert sorted((path, label) for _, label, path in records) == expected, split_name
        assert all(image == (root / path).read_bytes() for image, _, path in records), "the file's bytes, unchanged"
        assert entry["images"] == len(records) == sum(entry["records"])
        assert entry["class_counts"] == {name: [label for _, label in expected].count(index)
                                         for index, name in enumerate(info["class_names"])}
        assert entry["image_bytes"] == sum(len(image) for image, _, _ in records) and entry["skipped"] == []
    train_labels = [label for _, label, _ in _records(info["splits"]["train"]["files"])]
    assert len(info["splits"]["train"]["files"]) > 3 and train_labels != sorted(train_labels), "shards mix classes"
    assert info["splits"]["train"]["files"][0] == str(output / "train-00000-of-00008.tfrecord")


def test_a_rerun_after_a_kill_keeps_complete_shards_and_writes_the_rest_identically(prepared, tmp_path):
    root, complete, info = prepared
    output = tmp_path / "shards"
    shutil.copytree(complete, output)  # copy2: the mtimes are kept
    progress = json.loads((output / shards.PROGRESS_FILE).read_text())
    killed_before_its_record, deleted = (os.path.basename(info["splits"][split]["files"][index])
                                         for split, index in (("test", 0), ("train", -1)))
    del progress["shards"][killed_before_its_record]  # renamed, not yet in the progress file
    (output / shards.PROGRESS_FILE).write_text(json.dumps(progress))
    (output / deleted).unlink()  # its temporary was left behind instead
    (output / f"{INCOMPLETE}1f2e.{deleted}").write_bytes(b"half a shard")
    (output / shards.INFO_FILE).unlink()
    with pytest.raises(KerasViTError, match="incomplete: run it again"):
        read_shard_info(output)
    kept = {name: path.stat().st_mtime_ns for name, path in _shard_files(output).items()
            if name != killed_before_its_record}
    write_shards(root, output, shard_megabytes=TINY_SHARDS, verbose=0)
    assert sorted(os.listdir(output)) == sorted(os.listdir(complete)), "no temporary left, nothing else"
    assert all((output / name).read_bytes() == path.read_bytes() for name, path in _shard_files(complete).items())
    assert {name: (output / name).stat().st_mtime_ns for name in kept} == kept, "complete shards not rewritten"
    assert (output / shards.INFO_FILE).read_text() == (complete / shards.INFO_FILE).read_text()


def test_prepare_shows_its_scan_and_its_writing_at_verbose_1_and_prints_nothing_at_0(prepared, tmp_path, capsys):
    root, _, info = prepared
    output = tmp_path / "shards"
    write_shards(root, output, shard_megabytes=TINY_SHARDS)  # verbose=1 by default, as `keras-vit prepare`
    shown = capsys.readouterr().out
    count = sum(len(entry["files"]) for entry in info["splits"].values())
    assert f"Scanning the images of '{root}': 18 files, headers only\n" in shown
    assert f"Writing 18 images as {count} shards in '{output}'\n" in shown and shown.count("18/18") == 2
    write_shards(root, output, shard_megabytes=TINY_SHARDS, verbose=2)
    shown = capsys.readouterr().out
    assert f"Writing 18 images as {count} shards in '{output}' ({count} of them written before)\n" in shown
    assert shown.count("18/18 - ") == 2 and "\r" not in shown, "verbose=2: each pass's final count only"
    write_shards(root, tmp_path / "quiet", shard_megabytes=TINY_SHARDS, verbose=0)
    assert capsys.readouterr().out == ""
    assert main(["prepare", "--data-dir", str(root), "--output", str(tmp_path / "cli"), "--verbose", "0"]) == 0
    assert capsys.readouterr().out.startswith("train: "), "the command's summary only"


def _listing_whose_files_break(monkeypatch, root, broken):
    """Replaces the folder's listing (and its check) by all files in train and the first of each class in test;
    the files of `broken` turn corrupt once listed, so only the check of the writing pass can find them."""
    class_names = sorted(folder.name for folder in root.iterdir())
    files = [(str(path), label) for label, name in enumerate(class_names) for path in sorted((root / name).iterdir())]
    test = [(path, label) for path, label in files if os.path.basename(path).startswith("0.")]

    def listed_then_broken(*arguments):
        for path in broken:
            path.write_bytes(b"this is not an image")
        return class_names, {split: ([path for path, _ in chosen], np.array([label for _, label in chosen]))
                             for split, chosen in (("train", files), ("test", test))}

    monkeypatch.setattr(shards, "_folder_splits", listed_then_broken)


def test_corrupt_files_are_all_named_and_no_incomplete_shard_is_left(tmp_path, monkeypatch):
    root = _write_images(tmp_path / "images", {"cat": 4, "dog": 4})
    bad = [root / "cat" / "1.png", root / "dog" / "2.jpg"]
    _listing_whose_files_break(monkeypatch, root, bad)
    with pytest.raises(KerasViTError, match="2 unreadable or corrupt file") as error:
        write_shards(root, tmp_path / "shards", shard_megabytes=TINY_SHARDS, verbose=0)
    assert all(f"{path} (unknown format" in str(error.value) for path in bad)
    left = sorted(os.listdir(tmp_path / "shards"))
    assert shards.INFO_FILE not in left and not any(name.startswith(INCOMPLETE) for name in left)
    recorded = json.loads((tmp_path / "shards" / shards.PROGRESS_FILE).read_text())["shards"]
    assert recorded and set(_shard_files(tmp_path / "shards")) == set(recorded), "only complete, recorded shards"


def test_skip_corrupt_leaves_corrupt_files_out_and_lists_them(tmp_path, monkeypatch, caplog):
    root = _write_images(tmp_path / "images", {"cat": 4, "dog": 4})
    _listing_whose_files_break(monkeypatch, root, [root / "cat" / "1.png"])
    with caplog.at_level(logging.WARNING, logger="keras_vit"):
        info = write_shards(root, tmp_path / "shards", shard_megabytes=TINY_SHARDS, skip_corrupt=True,
                            verbose=0)
    assert "Skipped 1 corrupt" in caplog.text and "1.png" in caplog.text
    skipped = [name for entry in info["splits"].values() for name in entry["skipped"]]
    assert skipped == [os.path.join("cat", "1.png")]
    written = [path for entry in info["splits"].values() for _, _, path in _records(entry["files"])]
    assert len(written) == sum(entry["images"] for entry in info["splits"].values()) == 8 + 2 - 1
    assert skipped[0] not in written and info["splits"]["train"]["class_counts"] == {"cat": 3, "dog": 4}


def test_output_folders_that_would_mix_or_lose_files_are_refused(prepared, tmp_path):
    root, complete, _ = prepared
    with pytest.raises(KerasViTError, match="output_dir .* lies inside the image folder"):
        write_shards(root, root / "shards")
    assert not (root / "shards").exists()
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "notes.txt").write_text("mine")
    with pytest.raises(KerasViTError, match=r"output_dir '.*own' holds files of its own \(notes.txt\)"):
        write_shards(root, tmp_path / "own")
    shutil.copytree(complete, tmp_path / "other")
    with pytest.raises(KerasViTError, match="holds no prepare of these image folders"):
        write_shards(tmp_path / "elsewhere", tmp_path / "other")
    with pytest.raises(KerasViTError, match="shard_megabytes must be positive, got 0"):
        write_shards(root, tmp_path / "new", shard_megabytes=0)


def _edited_copy(complete, folder, edit):
    shutil.copytree(complete, folder)
    info = json.loads((folder / shards.INFO_FILE).read_text())
    edit(info)
    (folder / shards.INFO_FILE).write_text(json.dumps(info))
    return folder


def test_read_shard_info_names_the_file_and_what_is_wrong(prepared, tmp_path):
    _, complete, _ = prepared
    with pytest.raises(KerasViTError, match="dataset.json' does not exist: not a folder of shards"):
        read_shard_info(tmp_path)
    (tmp_path / shards.INFO_FILE).write_text("{")
    with pytest.raises(KerasViTError, match="dataset.json' is not valid JSON"):
        read_shard_info(tmp_path)
    broken = {
        "is not a dataset.json of keras_vit shards": lambda info: info.update(format="tfds"),
        "is version 2 of the shard format": lambda info: info.update(version=2),
        "is malformed: split train lacks images": lambda info: info["splits"]["train"].pop("images"),
        "is malformed: the counts of split test do not add up": lambda info: info["splits"]["test"].update(images=9),
        "is malformed: splits does not hold train": lambda info: info["splits"].pop("test"),
    }
    for index, (message, edit) in enumerate(broken.items()):
        with pytest.raises(KerasViTError, match=f"{index}.dataset.json' {message}"):
            read_shard_info(_edited_copy(complete, tmp_path / str(index), edit))
    shard = os.path.basename(prepared[2]["splits"]["test"]["files"][-1])
    folder = _edited_copy(complete, tmp_path / "missing", lambda info: None)
    (folder / shard).unlink()
    with pytest.raises(KerasViTError, match=f"lists shard.* missing: .*{shard}"):
        read_shard_info(folder)
    folder = _edited_copy(complete, tmp_path / "truncated", lambda info: None)
    (folder / shard).write_bytes(b"")
    with pytest.raises(KerasViTError, match="do not have the size it records"):
        read_shard_info(folder)


def test_prepare_command_writes_shards_with_a_validation_folder(tmp_path, capsys):
    root = _write_images(tmp_path / "images", {"cat": 5, "dog": 5})
    validation = _write_images(tmp_path / "validation", {"cat": 2, "dog": 1})
    output = tmp_path / "shards"
    assert main(["prepare", "--data-dir", str(root), "--validation-dir", str(validation), "--output",
                     str(output), "--shard-megabytes", str(TINY_SHARDS)]) == 0
    info = read_shard_info(output)
    assert {split: entry["images"] for split, entry in info["splits"].items()} == {
        "train": 8, "validation": 3, "test": 2}, "90 / 10, and the validation folder"
    assert collections.Counter(path for _, _, path in _records(info["splits"]["validation"]["files"])) == {
        os.path.join("..", "validation", "cat", "0.jpg"): 1, os.path.join("..", "validation", "cat", "1.png"): 1,
        os.path.join("..", "validation", "dog", "0.jpg"): 1}
    assert f"Saved {output / 'dataset.json'}" in capsys.readouterr().out
    assert main(["prepare", "--data-dir", str(root), "--output", str(root / "inside")]) == 2
    assert "output_dir" in capsys.readouterr().err
