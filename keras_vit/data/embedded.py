"""The embedded default dataset: scikit-learn's handwritten digits, shipped inside scikit-learn (no network)."""

import numpy as np
from sklearn.datasets import load_digits as _load_sklearn_digits
from sklearn.model_selection import train_test_split

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.splits import ImageArrays

DIGITS_TEST_FRACTION = 0.2
DIGITS_VALIDATION_FRACTION = 0.1
_SPLIT_SEED = 0  # fixed, so every run and every reported figure uses the same test images


def load_digits():
    """The 1,797 8x8 grayscale digits of UCI/scikit-learn as train / validation / test splits.

    Pixels (0..16 in the source) are scaled to [0, 255] and rounded to uint8. The split is stratified and fixed: 20% test (360
    images), then 10% of the rest for validation (144), and the remaining 1,293 for training.

    Returns:
        ImageClassificationData with image_shape (8, 8, 1) and class names "0".."9".

    Example:
        >>> data = load_digits()
        >>> data.sizes
        {'train': 1293, 'validation': 144, 'test': 360}
    """
    digits = _load_sklearn_digits()
    images = np.round(digits.images[..., np.newaxis] * (255.0 / 16.0)).astype("uint8")
    labels = digits.target.astype("int32")
    rest_images, test_images, rest_labels, test_labels = train_test_split(
        images, labels, test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=_SPLIT_SEED)
    train_images, validation_images, train_labels, validation_labels = train_test_split(
        rest_images, rest_labels, test_size=DIGITS_VALIDATION_FRACTION, stratify=rest_labels,
        random_state=_SPLIT_SEED)
    splits = {
        "train": (train_images, train_labels),
        "validation": (validation_images, validation_labels),
        "test": (test_images, test_labels),
    }
    datasets = {name: ImageArrays(*arrays, images.shape[1:], f"digits {name}") for name, arrays in splits.items()}
    return ImageClassificationData(
        train=datasets["train"], validation=datasets["validation"], test=datasets["test"],
        class_names=[str(name) for name in digits.target_names], image_shape=images.shape[1:],
        sizes={name: len(arrays[1]) for name, arrays in splits.items()},
    )
