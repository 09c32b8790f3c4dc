"""Classification figures from labels and logits, with numpy only: accuracy, top-k, per-class and confusion."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class ClassMetrics:
    """Precision, recall, F1 and support (number of true images) of one class."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclasses.dataclass
class ClassificationMetrics:
    """Figures of a classifier on one set of labelled images.

    `confusion_matrix[true, predicted]` counts images; `per_class` has one row per class, in class order.
    """

    accuracy: float
    top5_accuracy: float
    per_class: list
    confusion_matrix: np.ndarray
    class_names: list

    @property
    def size(self):
        return int(self.confusion_matrix.sum())


def classification_metrics(labels, logits, class_names):
    """Accuracy, top-5 accuracy, per-class precision/recall/F1/support and the confusion matrix.

    The prediction is the largest logit. Top-5 counts an image as right when its label is among its 5 largest logits;
    with fewer than 5 classes that is every class, so top-5 accuracy is 1.0. A class never predicted has precision
    0, a class with no images has recall 0, and F1 is 0 when both are 0 (as scikit-learn's `zero_division=0`).

    Args:
        labels: int array (images,) of class indices.
        logits: float array (images, classes).
        class_names: one name per class.

    Returns:
        ClassificationMetrics.

    Example:
        >>> metrics = classification_metrics(np.array([0, 1]), np.array([[2.0, 1.0], [3.0, 0.0]]), ["cat", "dog"])
        >>> metrics.accuracy, metrics.per_class[0].precision
        (0.5, 0.5)
    """
    labels = np.asarray(labels, dtype="int64")
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(confusion, (labels, np.argmax(logits, axis=-1)), 1)
    top5 = np.argsort(-np.asarray(logits), axis=-1, kind="stable")[:, :5]
    true_positives, predicted, support = np.diag(confusion), confusion.sum(axis=0), confusion.sum(axis=1)
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return ClassificationMetrics(
        accuracy=float(true_positives.sum() / len(labels)),
        top5_accuracy=float(np.mean(np.any(top5 == labels[:, None], axis=-1))),
        per_class=[ClassMetrics(*row) for row in zip(class_names, precision.tolist(), recall.tolist(),
                                                      f1.tolist(), support.tolist())],
        confusion_matrix=confusion,
        class_names=list(class_names),
    )


def _ratio(numerator, denominator):
    """numerator / denominator element-wise, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)
