"""What the explanation maps share: scaling a coarse map to [0, 1] at the image's size."""

import numpy as np
import tensorflow as tf


def scale_to_image(maps, image_size):
    """Scales each (rows, cols) map linearly to [0, 1] (its minimum to 0, its maximum to 1), then resizes it
    bilinearly to `image_size`.

    Args:
        maps: (batch, rows, cols) array.
        image_size: (height, width) of the output.

    Returns:
        float32 array of shape (batch, height, width) in [0, 1]; a constant map becomes zero.

    Example:
        >>> scale_to_image(np.array([[[0.0, 2.0], [1.0, 4.0]]]), (8, 8)).shape
        (1, 8, 8)
    """
    maps = np.asarray(maps, dtype="float32")
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    peak = maps.max(axis=(1, 2), keepdims=True)
    maps = maps / np.where(peak > 0, peak, 1.0)
    resized = tf.image.resize(maps[..., None], image_size).numpy()[..., 0]
    return np.clip(resized, 0.0, 1.0)
