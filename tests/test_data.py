"""The embedded digits, image folders and the tf.data pipeline."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_vit.data import find_class_files, load_dataset, load_digits, load_image_folder, make_batches, split_images
from keras_vit.errors import KerasViTError


def _arrays(dataset):
    images, labels = zip(*split_images(dataset).as_numpy_iterator())
    return np.stack(images), np.array(labels)


def test_digits_splits_are_disjoint_stratified_and_scaled():
    data = load_digits()
    assert data.sizes == {"train": 1293, "validation": 144, "test": 360}
    assert data.image_shape == (8, 8, 1) and data.class_names == [str(i) for i in range(10)]
    splits = {name: _arrays(getattr(data, name)) for name in ("train", "validation", "test")}
    for name, (images, labels) in splits.items():
        assert len(labels) == data.sizes[name]
        assert images.dtype == np.uint8 and images.min() == 0 and images.max() == 255
        counts = np.bincount(labels, minlength=10)
        assert counts.min() >= 0.8 * counts.mean(), f"{name} split is not stratified: {counts}"
    assert np.array_equal(_arrays(load_digits().test)[1], splits["test"][1]), "the test split must be fixed"


def test_digits_splits_share_no_image_and_cover_the_dataset():
    data = load_digits()
    splits = [{image.tobytes() for image in _arrays(getattr(data, name))[0]}
              for name in ("train", "validation", "test")]
    assert sum(len(split) for split in splits) == len(set().union(*splits)) == 1797


def _write_folder(root, counts, size=(10, 12), mode="RGB"):
    rng = np.random.default_rng(0)
    for class_name, count in counts.items():
        (root / class_name).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(root / class_name / f"{index}.png")
    return root


def test_image_folder_splits_resizes_and_names_classes(tmp_path):
    root = _write_folder(tmp_path / "images", {"cat": 10, "dog": 20})
    data = load_image_folder(root, image_size=(16, 8), channels=3)
    assert data.class_names == ["cat", "dog"]
    assert data.sizes == {"train": 24, "validation": 3, "test": 3}
    images, labels = _arrays(data.train)
    assert images.shape == (24, 16, 8, 3) and images.dtype == np.uint8
    assert sorted(np.bincount(labels)) == [8, 16]


def test_image_folder_decodes_grayscale_to_requested_channels(tmp_path):
    root = _write_folder(tmp_path / "images", {"a": 3, "b": 3}, mode="L")
    images, _ = _arrays(load_image_folder(root, image_size=(4, 4), channels=3).train)
    assert images.shape[-1] == 3
    images, _ = _arrays(load_image_folder(root, image_size=(4, 4), channels=1).train)
    assert images.shape[-1] == 1


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(KerasViTError, match="does not exist") as error:
        find_class_files(tmp_path / "nowhere")
    assert "nowhere" in str(error.value)


def test_empty_folder_is_named(tmp_path):
    with pytest.raises(KerasViTError, match="is empty") as error:
        find_class_files(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_class_folder_without_images_is_named(tmp_path):
    _write_folder(tmp_path, {"cat": 2})
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(KerasViTError, match="holds no image") as error:
        find_class_files(tmp_path)
    assert "dog" in str(error.value)


def test_unknown_dataset_name_lists_the_known_ones():
    with pytest.raises(KerasViTError, match="Unknown dataset 'digitz'.*digits"):
        load_dataset("digitz")


def test_batches_are_one_hot_and_shuffled_reproducibly():
    data = load_digits()
    first = [labels for _, labels in make_batches(data.train, 10, 64, training=True, seed=3).take(2)]
    again = [labels for _, labels in make_batches(data.train, 10, 64, training=True, seed=3).take(2)]
    assert first[0].shape == (64, 10)
    np.testing.assert_array_equal(np.asarray(first[0]).sum(axis=1), np.ones(64))
    np.testing.assert_array_equal(first[0], again[0])
    ordered = next(iter(make_batches(data.train, 10, 64)))[1]
    assert not np.array_equal(first[0], ordered), "training batches must be shuffled"
    evaluation = make_batches(data.test, 10, 64)
    assert sum(int(images.shape[0]) for images, _ in evaluation) == 360


def test_repeated_batches_are_endless_full_shuffled_and_reproducible():
    examples = tf.data.Dataset.from_tensor_slices((np.arange(10, dtype="float32")[:, None], np.arange(10) % 3))
    batches = make_batches(examples, 3, 4, training=True, seed=1, repeat=True)
    assert batches.cardinality() == tf.data.INFINITE_CARDINALITY
    drawn = [images.numpy()[:, 0].astype(int) for images, _ in batches.take(100)]
    assert all(len(batch) == 4 for batch in drawn), "batches run across passes, all full"
    counts = np.bincount(np.concatenate(drawn), minlength=10)
    # 400 images come from the first 410 of the endless stream (41 of each), less the 10 still in the shuffle buffer
    assert counts.sum() == 400 and counts.min() >= 38 and counts.max() <= 41, counts
    assert not np.array_equal(np.concatenate(drawn)[:10], np.arange(10)), "shuffled"
    again = [images.numpy()[:, 0].astype(int) for images, _ in
             make_batches(examples, 3, 4, training=True, seed=1, repeat=True).take(100)]
    np.testing.assert_array_equal(np.concatenate(drawn), np.concatenate(again))


def test_small_classes_still_hold_out_one_test_and_one_validation_image(tmp_path):
    root = _write_folder(tmp_path / "images", {"a": 3, "b": 4})
    data = load_image_folder(root, image_size=(4, 4))
    assert data.sizes == {"train": 3, "validation": 2, "test": 2}


def test_folder_too_small_for_a_test_split_is_a_clear_error(tmp_path):
    root = _write_folder(tmp_path / "images", {"a": 2, "b": 2})
    with pytest.raises(KerasViTError, match="too few images to hold out a test split"):
        load_image_folder(root, image_size=(4, 4))
