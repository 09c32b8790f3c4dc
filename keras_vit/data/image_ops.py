"""Random per-image operations of the simple augmentation policies, on uint8 pixels with stateless seeds.

Each takes one image (height, width, channels) and an int seed of shape [2] and returns an image of the same shape
and dtype, so that the pipeline can run them in parallel and a seed still fixes the result. Time: one pass over the
pixels.
"""

import tensorflow as tf

SHIFT_FRACTION = 0.125


def random_flip(image, seed):
    """Mirrors the image left to right with probability 1/2.

    Example:
        >>> random_flip(tf.zeros((8, 8, 1), tf.uint8), tf.constant([0, 1])).shape
        TensorShape([8, 8, 1])
    """
    return tf.image.stateless_random_flip_left_right(image, seed)


def random_shift(image, seed, fraction=SHIFT_FRACTION, fill="constant"):
    """Translates the image by a whole number of pixels, up to `fraction` of each side in each direction.

    The uncovered border is filled with zeros (`fill="constant"`), or with the image mirrored at its edge
    (`fill="reflect"`).

    Example:
        >>> random_shift(tf.ones((8, 8, 1), tf.uint8), tf.constant([0, 1])).shape
        TensorShape([8, 8, 1])
    """
    height, width, channels = image.shape
    pad_height, pad_width = max(1, round(height * fraction)), max(1, round(width * fraction))
    padded = tf.pad(image, [[pad_height, pad_height], [pad_width, pad_width], [0, 0]],
                    mode="REFLECT" if fill == "reflect" else "CONSTANT")
    return tf.image.stateless_random_crop(padded, (height, width, channels), seed)
