"""Augmentation policies in the tf.data pipeline: shapes and ranges, label mixing, seeds, added layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vit.data import AUGMENTATIONS, make_augmentation, make_batches
from keras_vit.errors import KerasViTError

BATCH = 16


def _batch(seed=0, size=32, channels=3):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (BATCH, size, size, channels)).astype("float32")
    return images, np.eye(BATCH, dtype="float32")


def _run(augment, images, labels, training=True):
    batches = tf.data.Dataset.from_tensors((images, labels)).map(
        lambda x, y: augment(x, y, training=training))
    return [tuple(tensor.numpy() for tensor in batch) for batch in batches][0]


@pytest.mark.parametrize("policy", AUGMENTATIONS)
def test_policies_keep_shape_dtype_and_pixel_range(policy):
    images, labels = _batch()
    augmented, new_labels = _run(make_augmentation(policy, seed=0), images, labels)
    assert augmented.shape == images.shape and augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 255.0
    assert new_labels.shape == labels.shape
    np.testing.assert_allclose(new_labels.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("policy", AUGMENTATIONS)
def test_outside_training_every_policy_is_identity(policy):
    images, labels = _batch()
    augmented, new_labels = _run(make_augmentation(policy, seed=0), images, labels, training=False)
    np.testing.assert_array_equal(augmented, images)
    np.testing.assert_array_equal(new_labels, labels)


def test_none_is_identity_when_training():
    images, labels = _batch()
    augmented, new_labels = _run(make_augmentation("none"), images, labels)
    np.testing.assert_array_equal(augmented, images)
    np.testing.assert_array_equal(new_labels, labels)


@pytest.mark.parametrize("policy", ["shift", "light"])
def test_shift_and_light_move_pixels_but_keep_labels(policy):
    images, labels = _batch()
    augmented, new_labels = _run(make_augmentation(policy, seed=0), images, labels)
    moved = np.abs(augmented - images).reshape(BATCH, -1).max(axis=1) > 1.0
    assert moved.sum() >= BATCH // 2
    np.testing.assert_array_equal(new_labels, labels)


def _constant_images(size=16):
    """Image i is filled with 10 * i, so a pixel tells which image it came from."""
    return np.stack([np.full((size, size, 3), 10.0 * i, "float32") for i in range(BATCH)])


def test_mixup_mixes_images_and_labels_with_the_same_weight():
    images, labels = _constant_images(), np.eye(BATCH, dtype="float32")
    augment = make_augmentation("none", seed=0, extra_layers=[keras.layers.MixUp(alpha=0.8, seed=0)])
    mixed, soft = _run(augment, images, labels)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    assert ((soft > 1e-6).sum(axis=1) <= 2).all()
    assert (soft.max(axis=1) < 0.999).any(), "MixUp left every label one-hot"
    expected = soft @ (10.0 * np.arange(BATCH))  # λ·pixel(a) + (1 − λ)·pixel(b), with the labels' λ
    np.testing.assert_allclose(mixed[:, 0, 0, 0], expected, atol=1e-2)
    np.testing.assert_allclose(mixed, mixed[:, :1, :1, :1] * np.ones_like(mixed), atol=1e-4)


def test_cutmix_label_weights_are_the_pasted_areas():
    size = 64
    images, labels = _constant_images(size), np.eye(BATCH, dtype="float32")
    augment = make_augmentation("none", seed=1, extra_layers=[keras.layers.CutMix(factor=1.0, seed=1)])
    mixed, soft = _run(augment, images, labels)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    assert (soft.max(axis=1) < 0.999).any(), "CutMix left every label one-hot"
    for image, weights in zip(mixed, soft):
        sources = np.round(image[..., 0] / 10.0).astype(int)
        areas = np.bincount(sources.ravel(), minlength=BATCH) / sources.size
        assert (areas > 0).sum() <= 2 and np.array_equal(areas > 0, weights > 1e-6)
        # Keras derives the weight from the box before rounding it to whole pixels: one row and column of slack.
        np.testing.assert_allclose(areas, weights, atol=2 / size)


def test_deit_mixes_labels_of_at_most_two_classes():
    images, labels = _batch(size=16)
    _, soft = _run(make_augmentation("deit", seed=0), images, labels)
    assert ((soft > 1e-6).sum(axis=1) <= 2).all()
    assert (soft.max(axis=1) < 0.999).any(), "deit left every label one-hot"


def test_seeded_pipeline_is_reproducible_and_seed_matters():
    images = np.random.default_rng(0).uniform(0, 255, (64, 16, 16, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(64) % 4))

    def first_batches(seed):
        batches = make_batches(dataset, 4, 16, training=True, seed=seed, augment=make_augmentation("deit", seed=seed))
        return [np.concatenate([x.reshape(-1), y.reshape(-1)]) for x, y in batches.as_numpy_iterator()]

    first = first_batches(3)
    for a, b in zip(first, first_batches(3)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, first_batches(4)))


def test_unknown_policy_lists_the_known_ones():
    with pytest.raises(KerasViTError, match="Known: none, flip, shift, light, deit"):
        make_augmentation("randaugment")


def test_keras_cv_layer_is_added_through_extra_layers():
    keras_cv = pytest.importorskip("keras_cv", reason="keras-cv (the `cv` extra) is not installed")
    images, labels = _batch()
    augment = make_augmentation("light", seed=0, extra_layers=[keras_cv.layers.Grayscale(output_channels=3)])
    gray, new_labels = _run(augment, images, labels)
    assert gray.shape == images.shape
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-3)
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-3)
    assert np.abs(gray[..., 0] - images[..., 0]).max() > 1.0
    np.testing.assert_array_equal(new_labels, labels)


def test_flip_mirrors_some_images_left_to_right_and_leaves_the_others():
    images, labels = _batch()
    augmented, new_labels = _run(make_augmentation("flip", seed=0), images, labels)
    mirrored = [np.array_equal(after, before[:, ::-1]) for after, before in zip(augmented, images)]
    unchanged = [np.array_equal(after, before) for after, before in zip(augmented, images)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 0 < sum(mirrored) < BATCH
    np.testing.assert_array_equal(new_labels, labels)
