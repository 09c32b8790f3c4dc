"""The streamed pipeline: passes, worker parts, resuming, caching, evaluation views, unchecked images, shards."""

import logging

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_vit.data import (ImageArrays, ImageFiles, RecordFiles, load_dataset, make_augmentation, make_batches,
                            named_image_errors, split_images)
from keras_vit.data.cache_policy import check_cache
from keras_vit.data.shards import parse_shard_record, write_shards
from keras_vit.data import splits
from keras_vit.data.splits import shuffled
from keras_vit.data.views import eval_view, train_crop
from keras_vit.errors import KerasViTError


def _numbered(count=24, size=4):
    """Image i is filled with i, so a pixel tells which image it is."""
    images = np.stack([np.full((size, size, 1), i, np.uint8) for i in range(count)])
    return ImageArrays(images, np.arange(count) % 3, (size, size, 1), "numbered")


def _ids(batches, take):
    return np.concatenate([images[:, 0, 0, 0] for images, _ in batches.take(take).as_numpy_iterator()])


def test_every_pass_is_a_new_order_of_every_image():
    ids = _ids(make_batches(_numbered(), 3, 6, training=True, seed=0, repeat=True), 12)
    passes = ids.reshape(3, 24)
    for one_pass in passes:
        assert sorted(one_pass) == list(range(24))
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[0], np.arange(24))


def test_workers_read_disjoint_parts_that_cover_each_pass():
    split = _numbered()
    parts = [_ids(make_batches(split, 3, 4, training=True, seed=1, repeat=True, workers=(2, index)), 3)
             for index in range(2)]
    assert sorted(np.concatenate(parts)) == list(range(24)), "together the workers read every image once"
    evaluation = [_ids(make_batches(split, 3, 4, workers=(3, index)), 10) for index in range(3)]
    assert sorted(np.concatenate(evaluation)) == list(range(24))


def _shard_files(tmp_path, files=3, per_file=6):
    paths = []
    for file_index in range(files):
        path = tmp_path / f"part-{file_index}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for row in range(per_file):
                image = tf.io.encode_png(np.full((4, 4, 1), file_index * per_file + row, np.uint8)).numpy()
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[row % 2])),
                    "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.name.encode()])),
                })).SerializeToString())
        paths.append((path, 0, -1))
    return RecordFiles(paths, parse_shard_record, files * per_file, (4, 4, 1), "parts")


@pytest.mark.parametrize("workers", [2, 4], ids=["by file", "by record"])
def test_record_files_split_across_workers_by_file_or_by_record(tmp_path, workers):
    split = _shard_files(tmp_path)
    parts = [_ids(make_batches(split, 2, 3, training=True, seed=0, workers=(workers, index)), 100)
             for index in range(workers)]
    assert sorted(np.concatenate(parts)) == list(range(18))


def test_record_passes_are_shuffled_runs_that_ignore_the_global_seed(tmp_path):
    split = _shard_files(tmp_path)
    tf.random.set_seed(None)
    unseeded = _ids(make_batches(split, 2, 3, training=True, seed=0, repeat=True), 12)
    try:
        tf.random.set_seed(0)  # Dataset.shuffle with a seed tensor fails under global seed 0
        assert np.array_equal(_ids(make_batches(split, 2, 3, training=True, seed=0, repeat=True), 12), unseeded)
    finally:
        tf.random.set_seed(None)
    passes = unseeded.reshape(2, 18)
    assert sorted(passes[0]) == sorted(passes[1]) == list(range(18))
    assert not np.array_equal(passes[0], passes[1])


def test_shuffled_reorders_each_run_by_seed_and_epoch_alone():
    def order(seed, epoch):
        stream = tf.data.Dataset.range(10).map(lambda i: (i, -i))
        return np.array([i for i, _ in shuffled(stream, 4, seed, epoch).as_numpy_iterator()])

    first = order(0, 0)
    for start in (0, 4, 8):
        assert sorted(first[start:start + 4]) == list(range(start, min(start + 4, 10))), "runs stay runs"
    np.testing.assert_array_equal(order(0, 0), first)
    assert not np.array_equal(order(0, 1), first) and not np.array_equal(order(1, 0), first)


def test_a_resumed_run_continues_the_sequence_of_passes_and_draws():
    split = _numbered(count=16, size=8)
    augment = make_augmentation("light")
    whole = [x for x, _ in make_batches(split, 3, 8, training=True, seed=2, augment=augment, repeat=True)
             .take(4).as_numpy_iterator()]
    resumed = [x for x, _ in make_batches(split, 3, 8, training=True, seed=2, augment=augment, repeat=True,
                                          start_epoch=1).take(2).as_numpy_iterator()]
    for a, b in zip(whole[2:], resumed):
        np.testing.assert_array_equal(a, b)


def _jpegs(folder, count=6, size=(48, 64)):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / label / f"{index}.jpg")
    return folder


def test_caching_in_memory_gives_the_streamed_batches_and_cache_files_repeat_theirs(tmp_path):
    data = load_dataset(data_dir=_jpegs(tmp_path / "images"), image_size=(16, 16))

    def batches(cache):
        stream = make_batches(data.train, 2, 4, training=True, seed=0, augment=make_augmentation("flip"),
                              repeat=True, cache=cache)
        return np.stack([x for x, _ in stream.take(6).as_numpy_iterator()])

    streamed = batches("none")
    assert streamed.dtype == np.uint8
    np.testing.assert_array_equal(batches("memory"), streamed)
    in_files = batches(str(tmp_path / "cache"))  # cache files are read in another (seeded) order
    assert in_files.shape == streamed.shape and in_files.dtype == np.uint8
    np.testing.assert_array_equal(batches(str(tmp_path / "cache")), in_files)
    assert list((tmp_path / "cache").iterdir()), "the cache files are written"


def test_a_fill_of_the_memory_cache_shows_its_progress_at_verbose_1_and_cache_files_fill_in_the_first_pass(
        tmp_path, capsys, monkeypatch):
    data = load_dataset(data_dir=_jpegs(tmp_path / "images"), image_size=(16, 16))
    monkeypatch.setattr(splits, "CACHE_CHUNK_RECORDS", 3)  # 8 records: 3 chunks joined

    def batches(cache, verbose=0):
        stream = make_batches(data.train, 2, 4, training=True, seed=0, repeat=True, cache=cache, verbose=verbose)
        return np.stack([x for x, _ in stream.take(4).as_numpy_iterator()])

    np.testing.assert_array_equal(batches("memory", verbose=1), batches("none"))
    shown = capsys.readouterr().out
    assert f"Caching 8 images in memory (encoded bytes): train images of '{tmp_path / 'images'}'\n" in shown
    assert "8/8" in shown
    batches("memory")
    batches(str(tmp_path / "cache"), verbose=1)  # a cache file fills lazily, as the first epoch reads it
    assert capsys.readouterr().out == ""


def test_auto_cache_logs_its_choice_and_bad_cache_values_are_named(tmp_path, caplog):
    data = load_dataset(data_dir=_jpegs(tmp_path / "images"), image_size=(16, 16))
    with caplog.at_level(logging.INFO, logger="keras_vit"):
        make_batches(data.train, 2, 4, training=True, seed=0)
    assert "cache auto: the 8 training images' encoded bytes" in caplog.text and "cached in memory" in caplog.text
    with pytest.raises(KerasViTError, match="cache=3 is not one of auto, none, memory or a folder path"):
        check_cache(3)
    (tmp_path / "file").write_text("x")
    with pytest.raises(KerasViTError, match="is a file, not a folder"):
        check_cache(str(tmp_path / "file"))


def test_evaluation_centre_crops_from_64_pixels_and_resizes_smaller_targets_whole():
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    encoded = tf.io.encode_png(image)
    # 87.5% of the shorter side (96 -> 84), centred: rows 6..90, columns 22..106, resized to 64 x 64
    expected = tf.image.resize(image[6:90, 22:106], (64, 64))
    np.testing.assert_array_equal(eval_view(encoded, (64, 64), 3), np.round(expected).astype(np.uint8))
    whole = np.round(tf.image.resize(image, (32, 32))).astype(np.uint8)
    np.testing.assert_array_equal(eval_view(encoded, (32, 32), 3), whole)
    np.testing.assert_array_equal(eval_view(tf.constant(image), (32, 32), 3, encoded=False), whole)


def test_training_crops_cover_8_to_100_percent_of_the_area_with_bounded_aspect():
    image = np.arange(200 * 300, dtype=np.int64).reshape(200, 300)
    pixels = np.stack([image % 256, image // 256 % 256, image // 65536], axis=-1).astype(np.uint8)
    for seed in range(20):
        crop = train_crop(tf.constant(pixels), tf.constant([seed, 0]), (200, 300), 3, encoded=False,
                          area=(0.08, 1.0)).numpy().astype(np.int64)
        assert crop.shape == (200, 300, 3)
    areas = []
    for seed in range(40):
        begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            [200, 300, 3], tf.zeros((1, 0, 4)), seed=[seed, 0], min_object_covered=0.0, area_range=(0.08, 1.0),
            aspect_ratio_range=(3 / 4, 4 / 3), use_image_if_no_bounding_boxes=True)
        areas.append(int(size[0]) * int(size[1]) / 60000)
    assert 0.07 <= min(areas) and max(areas) <= 1.0 and max(areas) - min(areas) > 0.3


def test_an_unchecked_file_that_fails_its_guards_is_named_as_it_streams(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    bad.write_bytes(b"not an image")
    split = ImageFiles([good, bad], [0, 1], (8, 8, 3), "two files")
    with pytest.raises(KerasViTError, match=rf"Image {bad} cannot be used \(unknown format.*skip_corrupt=True"):
        with named_image_errors(split):
            list(make_batches(split, 2, 2))
    kept = list(split_images(split).take(1)) + list(make_batches(split, 2, 2, skip_corrupt=True).unbatch())
    assert len(kept) == 2, "skip_corrupt keeps the good file only"


def test_shard_folders_train_like_image_folders(tmp_path):
    folder = _jpegs(tmp_path / "images", count=10)
    write_shards(folder, tmp_path / "shards", shard_megabytes=0.002, verbose=0)
    shards = load_dataset(data_dir=tmp_path / "shards", image_size=(16, 16))
    files = load_dataset(data_dir=folder, image_size=(16, 16))
    assert isinstance(shards.train, RecordFiles) and len(shards.train.files) > 1
    assert shards.sizes == files.sizes and shards.class_names == files.class_names
    from_shards = sorted(image.tobytes() for image, _ in split_images(shards.test).as_numpy_iterator())
    from_files = sorted(image.tobytes() for image, _ in split_images(files.test).as_numpy_iterator())
    assert from_shards == from_files
    batch, labels = next(iter(make_batches(shards.train, 2, 4, training=True, seed=0,
                                           augment=make_augmentation("deit"), repeat=True)))
    assert batch.shape == (4, 16, 16, 3) and batch.dtype == tf.uint8 and labels.shape == (4, 2)
    with pytest.raises(KerasViTError, match="holds its own validation and test splits"):
        load_dataset(data_dir=tmp_path / "shards", image_size=(16, 16), validation_dir=folder)
