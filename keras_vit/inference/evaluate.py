"""`evaluate_model`: a trained classifier's figures on one split of a dataset, and its confusion-matrix PNG."""

import dataclasses
import functools
import pathlib

import numpy as np
import tensorflow as tf

from keras_vit.data import named_image_errors, split_images
from keras_vit.data.spec import DataSpec
from keras_vit.data.splits import joined
from keras_vit.errors import KerasViTError
from keras_vit.inference.metrics import ClassificationMetrics, classification_metrics
from keras_vit.models import load_classifier, model_metadata
from keras_vit.viz import plot_confusion_matrix

SPLITS = ("test", "validation", "train", "all")  # "all": every image of the dataset (or folder), its splits joined
TEST_TIME_AUGMENTATIONS = (None, "flip")


@dataclasses.dataclass
class EvaluationResult(ClassificationMetrics):
    """`ClassificationMetrics` of one split, with the split's name and the confusion-matrix PNG written."""

    split: str = "test"
    confusion_path: pathlib.Path = None
    tta: str = None


def evaluate_model(model_path, data=None, split="test", batch_size=64, output=None, tta=None, **sources):
    """Evaluates a classifier on a split of a dataset and writes its confusion matrix as a PNG.

    The data are loaded as `train` loads them, at the model's input size and channel count (image folders and
    TFDS/IDX images are resized to it). When the model carries class names (`model_metadata`), the data's class
    names must be the same, in the same order. Figures are those of `classification_metrics` (top-5 accuracy is 1.0 for
    a model with fewer than 5 classes).

    Args:
        model_path: a `.keras` file (loaded with `load_classifier`, in safe mode), or a `keras.Model` (then
            `output` is required).
        data: the images, a `keras_vit.DataSpec` (its cache and data service are not used here) or a dataset
            name; default: the embedded digits.
        split: "test", "validation", "train", or "all": every image, e.g. of a folder of a dataset's test images.
        batch_size: images per prediction step.
        output: the PNG to write; default `<model folder>/<model stem>.confusion_<split>.png`.
        tta: test-time augmentation: None, or "flip": each image's class probabilities are the mean of the
            image's and its horizontal mirror's (two forward passes an image); the result and the PNG's name and
            title say so.
        **sources: shortcuts, each replacing the `DataSpec` field of the same name: `dataset="mnist"`,
            `data_dir="flowers/"`, `idx_dir=...`, `tfds_data_dir=...`.

    Returns:
        EvaluationResult.

    Raises:
        KerasViTError: an unknown or absent split, `batch_size` < 1, data whose image shape, class count or class
            names differ from the model's, or no `output` for a model in memory.

    Example:
        >>> result = evaluate_model("runs/digits/model.keras", dataset="digits")
        >>> print(f"{result.accuracy:.3f}", result.confusion_path)
        0.975 runs/digits/model.confusion_test.png
        >>> evaluate_model("runs/flowers/model.keras", DataSpec(data_dir="flowers_test/"), split="all")
    """
    if split not in SPLITS:
        raise KerasViTError(f"Unknown split '{split}'. Known: {', '.join(SPLITS)}.")
    if batch_size < 1:
        raise KerasViTError(f"batch_size={batch_size} must be at least 1.")
    if tta not in TEST_TIME_AUGMENTATIONS:
        raise KerasViTError(f"Unknown tta={tta!r}. Known: None (no test-time augmentation) or 'flip'.")
    if output is None and not isinstance(model_path, (str, pathlib.Path)):
        raise KerasViTError("A model in memory needs output=<PNG path> for its confusion matrix.")
    spec = DataSpec.of(data, **sources)
    model, class_names = load_classifier(model_path)
    image_shape = tuple(model.input_shape[1:])
    data = spec.load(image_size=image_shape[:2], channels=image_shape[2])
    _check_data_fits(data, image_shape, class_names, model_metadata(model).class_names is not None)
    if split == "all":
        images = functools.reduce(joined, [part for part in (data.train, data.validation, data.test) if part])
    else:
        images = getattr(data, split)
    if images is None:
        raise KerasViTError(f"The dataset has no {split} split; choose split='test' or 'train'.")
    logits, labels = [], []
    with named_image_errors(images):
        for batch_images, batch_labels in split_images(images).batch(batch_size).prefetch(tf.data.AUTOTUNE):
            logits.append(logits_with_tta(model, batch_images, tta))
            labels.append(batch_labels.numpy())
    if not labels:
        raise KerasViTError(f"The {split} split holds no images.")
    metrics = classification_metrics(np.concatenate(labels), np.concatenate(logits), class_names)
    if output is None:
        model_path = pathlib.Path(model_path)
        output = model_path.with_name(f"{model_path.stem}.confusion_{split}{f'_tta-{tta}' if tta else ''}.png")
    plot_confusion_matrix(metrics.confusion_matrix, class_names, output,
                          title=f"{spec.name}, {split} split{f' (test-time {tta})' if tta else ''}: "
                                f"{100 * metrics.accuracy:.2f}% accuracy")
    return EvaluationResult(**vars(metrics), split=split, confusion_path=pathlib.Path(output), tta=tta)


def logits_with_tta(model, images, tta):
    """The model's logits of a batch; with tta="flip", the log of the mean class probabilities of the images and
    their horizontal mirrors (the same ranking as the mean probabilities).

    Example:
        >>> logits_with_tta(model, images, "flip").shape  # (batch, classes), the mirrors' probabilities averaged in
        (8, 10)
    """
    logits = np.asarray(model.predict_on_batch(images), dtype="float32")
    if tta is None:
        return logits
    mirrored = np.asarray(model.predict_on_batch(tf.image.flip_left_right(images)), dtype="float32")
    return np.log((tf.nn.softmax(logits).numpy() + tf.nn.softmax(mirrored).numpy()) / 2)


def _check_data_fits(data, image_shape, class_names, names_known):
    """Raises KerasViTError when the data's images or classes are not those of the model."""
    if tuple(data.image_shape) != image_shape:
        raise KerasViTError(f"The data's images are {data.image_shape}, the model takes {image_shape} "
                            f"(height, width, channels).")
    if data.num_classes != len(class_names):
        raise KerasViTError(f"The data has {data.num_classes} classes, the model {len(class_names)}.")
    if names_known and list(data.class_names) != list(class_names):
        only_data = [name for name in data.class_names if name not in class_names]
        only_model = [name for name in class_names if name not in data.class_names]
        difference = (f"only in the data: {only_data}; only in the model: {only_model}" if only_data or only_model
                      else f"same names in another order: data {data.class_names}, model {class_names}")
        raise KerasViTError(f"The data's class names are not the model's ({difference}).")
