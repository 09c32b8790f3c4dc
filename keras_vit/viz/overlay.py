"""A heatmap over an image, written as a PNG."""

from matplotlib.figure import Figure  # not pyplot: no global backend, no figure kept open
import numpy as np


def plot_overlay(image, heatmap, path, title):
    """Writes a PNG with the image on the left and the heatmap over it on the right.

    Args:
        image: (height, width, channels) pixels in [0, 255], 1 or 3 channels.
        heatmap: (height, width) values in [0, 1].
        path: where to write the PNG.
        title: figure title, e.g. the top class and its probability.

    Example:
        >>> plot_overlay(pixels, attention_rollout(model, pixels[None])[0], "cat_attention.png", "cat (91.2%)")
    """
    image = np.asarray(image, dtype="float32") / 255.0
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    figure = Figure(figsize=(8, 4.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.imshow(image)
    left.set_title("image")
    right.imshow(image)
    shown = right.imshow(heatmap, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
    right.set_title("heatmap")
    figure.colorbar(shown, ax=(left, right), shrink=0.8)
    for axis in (left, right):
        axis.axis("off")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
