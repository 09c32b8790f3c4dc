"""MixUp and CutMix on a batch, with stateless seeds, keeping uint8 pixels uint8.

Each image is mixed with the image at the mirrored position of the batch (timm's batch mode), with one weight per
batch drawn from Beta(alpha, alpha); labels mix with the same weight (CutMix: the weight corrected to the pasted
box's share of the area). Mixed uint8 pixels are rounded back to uint8, as timm's fast collate does, so batches
stay a quarter of the bytes of float32 on their way to the accelerator.
"""

import tensorflow as tf

MIXUP_ALPHA = 0.8
CUTMIX_ALPHA = 1.0


def beta_sample(seed, alpha):
    """One draw from Beta(alpha, alpha), as the ratio of two stateless gamma draws.

    Example:
        >>> float(beta_sample(tf.constant([0, 1], tf.int64), 0.8))  # in [0, 1]
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    first = tf.random.stateless_gamma((), seeds[0], alpha)
    second = tf.random.stateless_gamma((), seeds[1], alpha)
    return first / tf.maximum(first + second, 1e-12)


def mixup(images, labels, seed, alpha=MIXUP_ALPHA):
    """Blends each image with its mirror in the batch: weight w ~ Beta(alpha, alpha) for the image, 1 - w the other.

    Example:
        >>> images, labels = mixup(images, one_hot_labels, tf.constant([0, 1], tf.int64))
    """
    weight = beta_sample(seed, alpha)
    mixed = weight * tf.cast(images, tf.float32) + (1.0 - weight) * tf.cast(tf.reverse(images, [0]), tf.float32)
    return _like(mixed, images.dtype), weight * labels + (1.0 - weight) * tf.reverse(labels, [0])


def cutmix(images, labels, seed, alpha=CUTMIX_ALPHA):
    """Pastes a box of each image's mirror in the batch into it: the box covers 1 - w of the area, w ~ Beta.

    The box's centre is uniform over the image and the box is clipped at the borders; the label weight is the
    share of the area left unpasted.

    Example:
        >>> images, labels = cutmix(images, one_hot_labels, tf.constant([0, 1], tf.int64))
    """
    weight_seed, centre_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    weight = beta_sample(weight_seed, alpha)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    cut = tf.sqrt(1.0 - weight)
    box_height = tf.cast(tf.cast(height, tf.float32) * cut, tf.int32)
    box_width = tf.cast(tf.cast(width, tf.float32) * cut, tf.int32)
    centre = tf.random.stateless_uniform((2,), centre_seed, maxval=tf.int32.max, dtype=tf.int32) % tf.stack(
        [height, width])
    top, bottom = tf.maximum(centre[0] - box_height // 2, 0), tf.minimum(centre[0] + box_height // 2, height)
    left, right = tf.maximum(centre[1] - box_width // 2, 0), tf.minimum(centre[1] + box_width // 2, width)
    rows, columns = tf.range(height), tf.range(width)
    inside = ((rows >= top) & (rows < bottom))[:, None] & ((columns >= left) & (columns < right))[None, :]
    pasted = tf.where(inside[None, :, :, None], tf.reverse(images, [0]), images)
    kept = 1.0 - tf.cast((bottom - top) * (right - left), tf.float32) / tf.cast(height * width, tf.float32)
    return pasted, kept * labels + (1.0 - kept) * tf.reverse(labels, [0])


def _like(mixed, dtype):
    """float pixels back to `dtype`, rounded when it is an integer type."""
    if dtype.is_integer:
        return tf.cast(tf.round(tf.clip_by_value(mixed, dtype.min, dtype.max)), dtype)
    return tf.cast(mixed, dtype)
