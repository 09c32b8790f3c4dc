"""Augmentation policies in the streamed pipeline: per-image operations, label mixing, seeds, added layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_vit.data import (AUGMENTATIONS, Augmentation, ImageArrays, ImageFiles, make_augmentation, make_batches,
                            split_images)
from keras_vit.data.mixing import cutmix, mixup
from keras_vit.errors import KerasViTError

BATCH = 16


def _arrays(size=32, channels=3, count=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, channels), dtype=np.uint8)
    return ImageArrays(images, np.arange(count) % 4, (size, size, channels), "random")


def _first_batch(split, augment, seed=0, classes=4):
    images, labels = next(iter(make_batches(split, classes, BATCH, training=True, seed=seed, augment=augment)))
    return images.numpy(), labels.numpy()


def _in_order(split):
    """The evaluation view of the split's images, in its fixed order."""
    return np.stack([image for image, _ in split_images(split).as_numpy_iterator()])


@pytest.mark.parametrize("policy", AUGMENTATIONS)
def test_policies_keep_shape_uint8_and_labels_that_sum_to_one(policy):
    split = _arrays()
    images, labels = _first_batch(split, make_augmentation(policy, seed=0))
    assert images.shape == (BATCH, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (BATCH, 4)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)


def test_none_gives_the_evaluation_view_in_a_shuffled_order():
    split = _arrays()
    images, labels = _first_batch(split, make_augmentation("none"))
    originals = {image.tobytes() for image in _in_order(split)}
    assert {image.tobytes() for image in images} == originals, "the same images, unchanged"
    assert (labels.max(axis=1) == 1.0).all()


def test_flip_mirrors_some_images_left_to_right_and_leaves_the_others():
    split = _arrays()
    images, _ = _first_batch(split, make_augmentation("flip", seed=0))
    originals = {image.tobytes() for image in _in_order(split)}
    mirrored = [image[:, ::-1].tobytes() in originals for image in images]
    unchanged = [image.tobytes() in originals for image in images]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 0 < sum(mirrored) < BATCH


@pytest.mark.parametrize("policy", ["shift", "light"])
def test_shift_and_light_translate_by_whole_pixels_within_an_eighth(policy):
    split = _arrays(size=16)
    images, _ = _first_batch(split, make_augmentation(policy, seed=0))
    originals = _in_order(split)
    moved = 0
    for image in images:
        # each augmented image is an original translated by (dy, dx) with |dy|, |dx| <= 2, flipped or not
        found = False
        for original in originals:
            for candidate in (original, original[:, ::-1]):
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        shifted = np.roll(candidate, (dy, dx), axis=(0, 1))
                        if np.array_equal(image[4:12, 4:12], shifted[4:12, 4:12]):
                            found, moved = True, moved + int((dy, dx) != (0, 0))
        assert found, "not a whole-pixel translation of an original"
    assert moved >= BATCH // 2


def test_shift_fills_the_uncovered_border_with_zeros():
    split = ImageArrays(np.full((BATCH, 8, 8, 1), 200, np.uint8), np.zeros(BATCH), (8, 8, 1), "flat")
    images, _ = _first_batch(split, make_augmentation("shift", seed=0), classes=1)
    assert set(np.unique(images)) <= {0, 200} and (images == 0).any()


def test_mixup_blends_images_and_labels_with_one_weight_and_stays_uint8():
    images = tf.constant(np.stack([np.full((8, 8, 3), 10 * i, np.uint8) for i in range(BATCH)]))
    labels = tf.eye(BATCH)
    mixed, soft = (tensor.numpy() for tensor in mixup(images, labels, tf.constant([0, 3], tf.int64)))
    assert mixed.dtype == np.uint8
    weight = soft[0, 0]
    assert 0.0 < weight < 1.0 and ((soft > 0).sum(axis=1) <= 2).all()
    expected = np.round(weight * 10 * np.arange(BATCH) + (1 - weight) * 10 * np.arange(BATCH)[::-1])
    np.testing.assert_allclose(mixed[:, 0, 0, 0], expected, atol=1)


def test_cutmix_label_weights_are_the_pasted_areas():
    size = 32
    images = tf.constant(np.stack([np.full((size, size, 3), 10 * i, np.uint8) for i in range(BATCH)]))
    for seed in range(5):
        mixed, soft = (tensor.numpy() for tensor in cutmix(images, tf.eye(BATCH), tf.constant([seed, 1], tf.int64)))
        for image, weights in zip(mixed, soft):
            areas = np.bincount((image[..., 0] // 10).ravel(), minlength=BATCH) / image[..., 0].size
            np.testing.assert_allclose(areas, weights, atol=1e-6)  # the weight is the pasted box's exact share


def test_deit_mixes_labels_of_at_most_two_classes():
    _, soft = _first_batch(_arrays(), make_augmentation("deit", seed=0))
    assert ((soft > 1e-6).sum(axis=1) <= 2).all()
    assert (soft.max(axis=1) < 0.999).any(), "deit left every label one-hot"


def _jpeg_files(tmp_path, count=8, size=(96, 128)):
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize(size[::-1], Image.BILINEAR)
        paths.append(tmp_path / f"{index}.jpg")
        image.save(paths[-1], quality=95)
    return ImageFiles(paths, np.arange(count) % 2, (32, 32, 3), "jpegs")


def test_deit_crops_the_original_image_not_its_evaluation_view(tmp_path):
    split = _jpeg_files(tmp_path)
    crop_only = Augmentation(crop=True)
    images, _ = next(iter(make_batches(split, 2, 8, training=True, seed=0, augment=crop_only)))
    evaluation = {image.tobytes() for image in _in_order(split)}
    assert not any(image.tobytes() in evaluation for image in images.numpy()), "every image is a random crop"
    again, _ = next(iter(make_batches(split, 2, 8, training=True, seed=0, augment=crop_only)))
    np.testing.assert_array_equal(images, again)


def test_a_seed_fixes_every_batch_and_another_seed_changes_them():
    split = _arrays(size=16, count=64)

    def batches(seed):
        stream = make_batches(split, 4, 16, training=True, seed=seed, augment=make_augmentation("deit"), repeat=True)
        return [np.concatenate([x.reshape(-1), y.reshape(-1)]) for x, y in stream.take(6).as_numpy_iterator()]

    first = batches(3)
    for a, b in zip(first, batches(3)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, batches(4)))


def test_one_core_and_all_cores_give_the_same_batches():
    split = _arrays(size=16, count=32)

    def batches(threads):
        stream = make_batches(split, 4, 8, training=True, seed=5, augment=make_augmentation("deit"), repeat=True)
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        return [x for x, _ in stream.with_options(options).take(8).as_numpy_iterator()]

    for one, many in zip(batches(1), batches(0)):
        np.testing.assert_array_equal(one, many)


def test_unknown_policy_lists_the_known_ones():
    with pytest.raises(KerasViTError, match="policy='randaugment'.*Known: none, flip, shift, light, deit"):
        make_augmentation("randaugment")


def test_extra_layers_run_on_each_batch_before_mixing():
    split = _arrays()
    augment = make_augmentation("none", extra_layers=[keras.layers.RandomInvert(1.0, value_range=(0, 255), seed=0)])
    images, labels = _first_batch(split, augment)
    assert images.dtype == np.float32
    originals = {image.tobytes() for image in _in_order(split)}
    inverted = [(255 - image).astype(np.uint8).tobytes() in originals for image in images]
    kept = [image.astype(np.uint8).tobytes() in originals for image in images]
    assert all(i or k for i, k in zip(inverted, kept)) and sum(inverted) >= BATCH // 2
    assert (labels.max(axis=1) == 1.0).all()


def test_keras_cv_layer_is_added_through_extra_layers():
    keras_cv = pytest.importorskip("keras_cv", reason="keras-cv (the `cv` extra) is not installed")
    augment = make_augmentation("light", seed=0, extra_layers=[keras_cv.layers.Grayscale(output_channels=3)])
    gray, _ = _first_batch(_arrays(), augment)
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-3)


def test_an_augmentation_function_runs_on_each_training_batch():
    def darken(images, labels, training):
        return images // 2, labels

    images, _ = _first_batch(_arrays(), darken)
    assert images.max() <= 127

