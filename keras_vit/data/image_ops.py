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


def random_flips(images, seed):
    """`random_flip` of a batch (batch, height, width, channels): each image mirrored with probability 1/2, the
    draws taken from one stateless seed for the batch.

    Example:
        >>> random_flips(tf.zeros((4, 8, 8, 1), tf.uint8), tf.constant([0, 1])).shape
        TensorShape([4, 8, 8, 1])
    """
    mirrored = tf.random.stateless_uniform(tf.shape(images)[:1], seed) < 0.5
    return tf.where(mirrored[:, None, None, None], tf.reverse(images, [2]), images)


def random_shifts(images, seed, fraction=SHIFT_FRACTION, fill="constant"):
    """`random_shift` of a batch: each image translated by its own whole-pixel offsets, drawn from one stateless
    seed for the batch.

    Example:
        >>> random_shifts(tf.ones((4, 8, 8, 1), tf.uint8), tf.constant([0, 1])).shape
        TensorShape([4, 8, 8, 1])
    """
    _, height, width, _ = images.shape
    pad_height, pad_width = max(1, round(height * fraction)), max(1, round(width * fraction))
    padded = tf.pad(images, [[0, 0], [pad_height, pad_height], [pad_width, pad_width], [0, 0]],
                    mode="REFLECT" if fill == "reflect" else "CONSTANT")
    count = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform((count, 1), seeds[0], maxval=2 * pad_height + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform((count, 1), seeds[1], maxval=2 * pad_width + 1, dtype=tf.int32)
    rows = tf.gather(padded, top + tf.range(height), axis=1, batch_dims=1)
    return tf.gather(rows, left + tf.range(width), axis=2, batch_dims=1)
