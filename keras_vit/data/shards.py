"""TFRecord shards of an image folder (`keras-vit prepare`): the encoded files, unchanged, in a few large files.

A folder of shards holds `{split}-{index:05d}-of-{count:05d}.tfrecord` files, each a run of `tf.train.Example`
records (`image`: the file's bytes, `label`: int64, `path`: the file relative to the data folder),
`prepare_progress.json` (what has been written: a rerun resumes from it) and, written last, `dataset.json`:

    {"format": "keras_vit.shards", "version": 1, "class_names": [...],
     "source": {"data_dir": ..., "validation_dir": ... or null},
     "splits": {"train": {"files": [...], "records": [...], "images": ..., "class_counts": {name: count},
                          "bytes": ..., "image_bytes": ..., "skipped": [...]},
                "validation": {...}, "test": {...}}}

`files` are the shard names (beside dataset.json), `records` the images in each, `bytes` the size of the shard
files, `image_bytes` that of the images in them, `skipped` the corrupt files left out (with `skip_corrupt`). The
splits are `load_image_folder`'s (fixed, stratified); a split without images (no validation split) is absent.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import re

import numpy as np
import tensorflow as tf

from keras_vit.atomic_files import INCOMPLETE, atomic_write, remove_incomplete, write_text_atomically
from keras_vit.data.folder import load_image_folder
from keras_vit.data.image_guards import file_image_problem
from keras_vit.data.progress import PassProgress
from keras_vit.data.scan import check_images
from keras_vit.errors import KerasViTError

FORMAT = "keras_vit.shards"
VERSION = 1
INFO_FILE = "dataset.json"
PROGRESS_FILE = "prepare_progress.json"
SPLITS = ("train", "validation", "test")
_SHARD_NAME = re.compile(r"(train|validation|test)-\d{5}-of-\d{5}\.tfrecord")
_ORDER_SEED = 0
_SPLIT_FIELDS = {"files": list, "records": list, "images": int, "class_counts": dict, "bytes": int,
                 "image_bytes": int, "skipped": list}
_FEATURES = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64),
             "path": tf.io.FixedLenFeature([], tf.string)}


@dataclasses.dataclass(frozen=True)
class _Shard:
    """One planned shard: its file name and the files it holds, in order."""

    split: str
    name: str
    paths: tuple
    labels: tuple
    sizes: tuple
    names: tuple  # the paths relative to data_dir, stored in the records

    @property
    def digest(self):
        """What the shard holds (files, labels, sizes): a complete shard of another plan is not reused."""
        return hashlib.sha256(json.dumps([self.names, self.labels, self.sizes]).encode()).hexdigest()


def write_shards(data_dir, output_dir, validation_dir=None, shard_megabytes=150, skip_corrupt=False, verbose=1):
    """Writes the splits of an image folder as TFRecord shards of about `shard_megabytes` each, in one pass.

    The splits are those of `load_image_folder` (80 / 10 / 10, or 90 / 10 with `validation_dir`); within a split
    the images are in a fixed seeded order, so every shard mixes the classes. The shards are planned up front from
    the file sizes, so the same folder gives the same shards. Each image's header passes
    `keras_vit.data.image_guards.image_problem` (with `FILE_LIMITS`) before it is written, unchanged (no re-encoding).
    Each shard is written under a temporary name and renamed when complete, then recorded in
    `prepare_progress.json`; `dataset.json` is written last. A killed run leaves only complete shards, and the same
    call again keeps them (its files unchanged) and writes the rest. Memory: the few images read ahead in parallel
    and one shard's writer, never more than one shard's records, never the dataset.

    Args:
        data_dir: the folder holding one sub-folder of images per class.
        output_dir: the folder of shards: new, empty, or a previous (partial) run of this call.
        validation_dir: optional folder of validation images with the same class sub-folders.
        shard_megabytes: target size of a shard, in 10**6 bytes.
        skip_corrupt: leave out (and log) files that fail the check, instead of failing.
        verbose: 0 silent; 1 a progress bar over the folders' header check, then one over the images written
            (those of shards a previous run completed counted at the start); 2 their final counts only.

    Returns:
        the folder's `read_shard_info`.

    Raises:
        KerasViTError: `output_dir` lies inside `data_dir` or `validation_dir`, or holds other files than a run of
            this call; `shard_megabytes` is not positive; the folders are not image folders; files fail the check
            (all listed) and `skip_corrupt` is False.

    Example:
        >>> info = write_shards("flowers/", "flowers_shards/", shard_megabytes=150)
        Scanning the images of 'flowers/': 3,670 files, headers only
        3670/3670 ━━━━━━━━━━━━━━━━━━━━ 1s 250us/image
        Writing 3,670 images as 5 shards in 'flowers_shards/'
        3670/3670 ━━━━━━━━━━━━━━━━━━━━ 6s 2ms/image
        >>> info["splits"]["train"]["images"], info["splits"]["train"]["files"][0]
        (2936, 'flowers_shards/train-00000-of-00003.tfrecord')
    """
    if not shard_megabytes > 0:
        raise KerasViTError(f"shard_megabytes must be positive, got {shard_megabytes}.")
    output_dir = pathlib.Path(output_dir)
    source = {"data_dir": str(pathlib.Path(data_dir).resolve()),
              "validation_dir": None if validation_dir is None else str(pathlib.Path(validation_dir).resolve())}
    done = _previous_shards(output_dir, source)
    class_names, splits = _folder_splits(data_dir, validation_dir, skip_corrupt, verbose)
    plan = [shard for split, (paths, labels) in splits.items()
            for shard in _plan_split(split, paths, labels, data_dir, shard_megabytes * 10**6)]
    done = {shard.name: done[shard.name] for shard in plan if _is_complete(output_dir, shard, done, skip_corrupt)}
    todo = [shard for shard in plan if shard.name not in done]
    _clear_all_but(output_dir, source, done, keep_info=not todo)
    total = sum(len(shard.paths) for shard in plan)
    kept = f" ({len(done)} of them written before)" if done else ""
    with PassProgress(f"Writing {total:,} images as {len(plan)} shards in '{output_dir}'{kept}", total,
                      verbose) as progress:
        progress.add(sum(entry["records"] + len(entry["skipped"]) for entry in done.values()))
        images = _checked_images([path for shard in todo for path in shard.paths])
        for shard in todo:
            done[shard.name] = _write_shard(output_dir / shard.name, shard, images, skip_corrupt, data_dir, progress)
            write_text_atomically(output_dir / PROGRESS_FILE,
                                  json.dumps({**_progress_header(source), "shards": done}))
    skipped = [os.path.join(data_dir, name) for entry in done.values() for name in entry["skipped"]]
    if skipped:
        check_images(skipped, skip_corrupt=True, what=f"the images of '{data_dir}'", decode=False)  # logs them
    write_text_atomically(output_dir / INFO_FILE, json.dumps(_info(class_names, source, plan, done), indent=1))
    return read_shard_info(output_dir)


def is_shard_folder(path):
    """True when `path` is a folder of shards written by `write_shards` (its `dataset.json` says so).

    Example:
        >>> is_shard_folder("flowers_shards/"), is_shard_folder("flowers/")
        (True, False)
    """
    try:
        return json.loads((pathlib.Path(path) / INFO_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_shard_info(path):
    """The `dataset.json` of a folder of shards, checked, with `files` as paths (the folder joined to each name).

    Raises:
        KerasViTError: naming the file: it is missing (the prepare is incomplete, or this is no folder of shards),
            not JSON of this format and version, lacks a field, or a shard it lists is missing or changed size.

    Example:
        >>> info = read_shard_info("flowers_shards/")
        >>> dataset = tf.data.TFRecordDataset(info["splits"]["train"]["files"]).map(parse_shard_record)
    """
    folder = pathlib.Path(path)
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        state = ("the prepare that writes it is incomplete: run it again to finish it"
                 if (folder / PROGRESS_FILE).exists() else "not a folder of shards written by `keras-vit prepare`")
        raise KerasViTError(f"'{info_path}' does not exist: {state}.")
    try:
        info = json.loads(info_path.read_text())
    except ValueError as error:
        raise KerasViTError(f"'{info_path}' is not valid JSON: {error}.") from None
    _check_info(info, info_path)
    for split in info["splits"].values():
        split["files"] = [str(folder / name) for name in split["files"]]
        missing = [name for name in split["files"] if not os.path.isfile(name)]
        if missing:
            raise KerasViTError(f"'{info_path}' lists shard(s) that are missing: {', '.join(missing)}.")
        if sum(os.path.getsize(name) for name in split["files"]) != split["bytes"]:
            raise KerasViTError(f"The shards listed in '{info_path}' do not have the size it records: a shard was "
                                f"changed or truncated; prepare the folder again.")
    return info


def parse_shard_record(serialized):
    """(encoded image bytes, int32 label, path relative to the data folder) of one serialized shard record.

    Example:
        >>> dataset = tf.data.TFRecordDataset(files).map(parse_shard_record, num_parallel_calls=tf.data.AUTOTUNE)
    """
    record = tf.io.parse_single_example(serialized, _FEATURES)
    return record["image"], tf.cast(record["label"], tf.int32), record["path"]


def _folder_splits(data_dir, validation_dir, skip_corrupt, verbose):
    """class names and {split: (paths, labels)} of `load_image_folder` (the size is unused: bytes are kept)."""
    data = load_image_folder(data_dir, image_size=(1, 1), validation_dir=validation_dir, skip_corrupt=skip_corrupt,
                             verbose=verbose)
    splits = {"train": data.train, "validation": data.validation, "test": data.test}
    return data.class_names, {name: (split.paths, split.labels) for name, split in splits.items() if split is not None}


def _plan_split(split, paths, labels, data_dir, shard_bytes):
    """The shards of one split: its files in a seeded order, cut where a shard would exceed `shard_bytes`."""
    order = np.random.default_rng([_ORDER_SEED, SPLITS.index(split)]).permutation(len(paths))
    groups = [[]]
    filled = 0
    for index in order:
        size = os.stat(paths[index]).st_size
        if groups[-1] and filled + size > shard_bytes:
            groups.append([])
            filled = 0
        groups[-1].append((str(paths[index]), int(labels[index]), size))
        filled += size
    return [_Shard(split, f"{split}-{index:05d}-of-{len(groups):05d}.tfrecord", *map(tuple, zip(*group)),
                   tuple(os.path.relpath(path, data_dir) for path, _, _ in group))
            for index, group in enumerate(groups)]


def _previous_shards(output_dir, source):
    """The shards a previous run with `source` completed in `output_dir`; an error when it holds anything else."""
    for folder in (source["data_dir"], source["validation_dir"]):
        if folder is not None and output_dir.resolve().is_relative_to(folder):
            raise KerasViTError(f"output_dir '{output_dir}' lies inside the image folder '{folder}': give a folder "
                                f"outside it (its files would be read as images).")
    if not output_dir.exists():
        return {}
    if not output_dir.is_dir():
        raise KerasViTError(f"output_dir '{output_dir}' is not a folder.")
    entries = sorted(entry.name for entry in output_dir.iterdir())
    if not entries:
        return {}
    foreign = [name for name in entries if name not in (INFO_FILE, PROGRESS_FILE)
               and not _SHARD_NAME.fullmatch(name) and not name.startswith(INCOMPLETE)]
    try:
        progress = json.loads((output_dir / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        progress = {}
    if foreign or not isinstance(progress, dict) or not _progress_header(source).items() <= progress.items():
        held = f"files of its own ({', '.join(foreign[:3])})" if foreign else "no prepare of these image folders"
        raise KerasViTError(f"output_dir '{output_dir}' holds {held}: give a new or empty folder, or the folder of "
                            f"an earlier prepare of the same data.")
    return progress["shards"]


def _progress_header(source):
    return {"format": f"{FORMAT}.progress", "version": VERSION, "source": source}


def _is_complete(output_dir, shard, done, skip_corrupt):
    """Whether a previous run wrote `shard` as planned now (and with no skipped file, unless skipping now)."""
    entry = done.get(shard.name)
    path = output_dir / shard.name
    return (entry is not None and entry["digest"] == shard.digest and path.is_file()
            and path.stat().st_size == entry["bytes"] and (skip_corrupt or not entry["skipped"]))


def _clear_all_but(output_dir, source, done, keep_info):
    """Leaves `output_dir` holding only the shards of `done` and a progress file recording them; dataset.json goes
    first unless `keep_info` and nothing is removed, so the folder is never complete while it changes."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stale = [path for path in output_dir.iterdir() if _SHARD_NAME.fullmatch(path.name) and path.name not in done]
    if stale or not keep_info:
        (output_dir / INFO_FILE).unlink(missing_ok=True)
    write_text_atomically(output_dir / PROGRESS_FILE, json.dumps({**_progress_header(source), "shards": done}))
    for path in stale:
        path.unlink()
    remove_incomplete(output_dir)


def _checked_images(paths):
    """Yields (path, encoded bytes or None when unreadable or failing `image_problem` with `FILE_LIMITS`) for every
    path, in order; files are read and checked in parallel (`file_image_problem`: traced once per process)."""

    def read_and_check(path):
        image_bytes = tf.io.read_file(path)
        return path, image_bytes, file_image_problem(image_bytes)

    checked = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string)).map(
        read_and_check, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()  # an unreadable file is left out
    expected = iter(paths)
    for path, image_bytes, problem in checked.as_numpy_iterator():
        for unreadable in iter(lambda: next(expected), path.decode()):
            yield unreadable, None
        yield path.decode(), image_bytes if not problem else None
    for unreadable in expected:
        yield unreadable, None


def _write_shard(path, shard, images, skip_corrupt, data_dir, progress):
    """Writes `shard` from the next images of `images`; returns its progress entry. A bad file without
    `skip_corrupt` is an error listing it with every bad file after it (the shard is not written)."""
    skipped, image_bytes = [], 0
    with atomic_write(path) as temporary, tf.io.TFRecordWriter(str(temporary)) as writer:
        for label, name in zip(shard.labels, shard.names):
            source_path, encoded = next(images)
            if encoded is None and not skip_corrupt:
                bad = [source_path] + [later for later, later_bytes in images if later_bytes is None]
                check_images(bad, what=f"the images of '{data_dir}'", decode=False)  # raises, naming their problems
                raise KerasViTError(f"Files of '{data_dir}' could not be read: {', '.join(bad)}.")
            if encoded is None:
                skipped.append(name)
            else:
                writer.write(_example(encoded, label, name))
                image_bytes += len(encoded)
            progress.add()
    return {"digest": shard.digest, "records": len(shard.names) - len(skipped), "bytes": path.stat().st_size,
            "image_bytes": image_bytes, "skipped": skipped}


def _example(encoded, label, name):
    feature = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "image": feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "label": feature(int64_list=tf.train.Int64List(value=[label])),
        "path": feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
    })).SerializeToString(deterministic=True)  # map keys sorted: the same bytes in every process


def _info(class_names, source, plan, done):
    """The content of dataset.json once every shard of `plan` is in `done`."""
    splits = {}
    for split in SPLITS:
        shards = [shard for shard in plan if shard.split == split]
        if not shards:
            continue
        counts = dict.fromkeys(class_names, 0)
        for shard in shards:
            skipped = set(done[shard.name]["skipped"])
            for label, name in zip(shard.labels, shard.names):
                counts[class_names[label]] += name not in skipped
        entries = [done[shard.name] for shard in shards]
        splits[split] = {"files": [shard.name for shard in shards], "records": [e["records"] for e in entries],
                         "images": sum(e["records"] for e in entries), "class_counts": counts,
                         "bytes": sum(e["bytes"] for e in entries),
                         "image_bytes": sum(e["image_bytes"] for e in entries),
                         "skipped": [name for e in entries for name in e["skipped"]]}
    return {"format": FORMAT, "version": VERSION, "class_names": class_names, "source": source, "splits": splits}


def _check_info(info, info_path):
    """Raises a KerasViTError naming `info_path` when `info` is not a complete dataset.json of this format."""
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise KerasViTError(f"'{info_path}' is not a dataset.json of keras_vit shards (format '{FORMAT}').")
    if info.get("version") != VERSION:
        raise KerasViTError(f"'{info_path}' is version {info.get('version')} of the shard format; this keras_vit "
                            f"reads version {VERSION}: prepare the folder again.")
    class_names, splits = info.get("class_names"), info.get("splits")
    if not (isinstance(class_names, list) and len(class_names) >= 2 and all(isinstance(n, str) for n in class_names)):
        raise KerasViTError(f"'{info_path}' is malformed: class_names is not a list of two or more names.")
    if not (isinstance(splits, dict) and {"train", "test"} <= set(splits) <= set(SPLITS)):
        raise KerasViTError(f"'{info_path}' is malformed: splits does not hold train, test and optionally validation.")
    for name, split in splits.items():
        wrong = [field for field, kind in _SPLIT_FIELDS.items()
                 if not isinstance(split, dict) or not isinstance(split.get(field), kind)]
        if wrong:
            raise KerasViTError(f"'{info_path}' is malformed: split {name} lacks {', '.join(wrong)}.")
        if (len(split["files"]) != len(split["records"]) or sum(split["records"]) != split["images"]
                or sum(split["class_counts"].values()) != split["images"]
                or not set(split["class_counts"]) <= set(class_names)):
            raise KerasViTError(f"'{info_path}' is malformed: the counts of split {name} do not add up.")
