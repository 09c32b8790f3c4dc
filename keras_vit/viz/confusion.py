"""A confusion matrix, written as a PNG."""

from matplotlib.figure import Figure  # not pyplot: no global backend, no figure kept open
import numpy as np

MAX_CLASSES_WITH_COUNTS = 20
MAX_CLASSES_WITH_NAMES = 50


def plot_confusion_matrix(matrix, class_names, path, title=None):
    """Writes a PNG of a confusion matrix: true classes down, predicted classes across.

    Colours are row-normalised (the fraction of each true class predicted as each class), so rare and common
    classes read alike; counts are written in the cells when there are at most 20 classes, and class names label
    the axes when there are at most 50.

    Args:
        matrix: (classes, classes) counts, `matrix[true, predicted]`.
        class_names: one name per class.
        path: where to write the PNG.
        title: optional figure title.

    Example:
        >>> plot_confusion_matrix(result.confusion_matrix, result.class_names, "runs/confusion.png")
    """
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    num_classes = len(class_names)
    side = min(20.0, max(5.0, 0.45 * num_classes + 2.5))
    figure = Figure(figsize=(side + 1.0, side), layout="constrained")
    axis = figure.subplots()
    shown = axis.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(shown, ax=axis, shrink=0.8, label="fraction of the true class")
    if num_classes <= MAX_CLASSES_WITH_NAMES:
        ticks = np.arange(num_classes)
        axis.set_xticks(ticks, class_names, rotation=90 if max(map(len, class_names)) > 3 else 0)
        axis.set_yticks(ticks, class_names)
    if num_classes <= MAX_CLASSES_WITH_COUNTS:
        for (true, predicted), count in np.ndenumerate(matrix):
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=8,
                      color="white" if fractions[true, predicted] > 0.5 else "black")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if title:
        axis.set_title(title)
    figure.savefig(path, dpi=100)
