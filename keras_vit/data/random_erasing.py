"""timm's RandomErasing(mode="pixel", max_count=1) on one uint8 image, in TensorFlow ops with a stateless seed.

With probability `probability`, one rectangle covering a random fraction of the image (uniform in `area`), of
log-uniform aspect ratio height / width (in `aspect`), is filled with random pixels. As in timm, up to 10 drawn
rectangles are tried and the first that fits inside the image is used; when none fits the image is unchanged.

Fill: timm erases after normalisation with N(0, 1) noise per pixel and channel, i.e. about N(mean, std) in pixels
(ImageNet: means 124/116/104, deviations 59/57/57, unclipped). On uint8 pixels this module draws each value
uniformly from 0..255 instead: the same "every pixel independent noise" erasure within the representable range,
with a slightly wider spread (deviation 74) and no dependence on the normalisation constants.

Time per image is bounded by one copy of its H x W x C pixels (assembled from slices) plus drawing the noise of
the rectangle only (at most `area[1]` of the pixels); the 10 tries are drawn at once as vectors of 10.
"""

import math

import tensorflow as tf

from keras_vit.errors import KerasViTError

ATTEMPTS = 10  # timm's tries at drawing a rectangle that fits


def random_erasing(image, seed, probability=0.25, area=(0.02, 1 / 3), aspect=(0.3, 1 / 0.3)):
    """Erases one random rectangle of `image` with random pixels, with probability `probability`.

    Args:
        image: uint8 tensor of static shape [H, W, C].
        seed: int32 or int64 tensor of shape [2]; the same seed gives the same rectangle and pixels.
        probability: chance that the image is erased (timm's re_prob; DeiT uses 0.25).
        area: range of the erased fraction of the image's area (timm's min_area, max_area).
        aspect: range of the rectangle's height / width, drawn log-uniformly (timm's min_aspect and its default
            max_aspect 1 / min_aspect).

    Returns:
        uint8 tensor of the same shape as `image`.

    Example:
        >>> erased = random_erasing(tf.zeros([224, 224, 3], tf.uint8), tf.constant([0, 7]), probability=1.0)
    """
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8 or image.shape.rank != 3 or not image.shape.is_fully_defined():
        raise KerasViTError(f"Expected a uint8 image of static shape [height, width, channels], got "
                            f"{image.dtype.name} {image.shape}.")
    height, width, channels = image.shape
    apply_seed, area_seed, aspect_seed, position_seed, noise_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=5))
    target_areas = height * width * tf.random.stateless_uniform(
        [ATTEMPTS], area_seed, minval=area[0], maxval=area[1], dtype=tf.float64)
    aspects = tf.exp(tf.random.stateless_uniform(
        [ATTEMPTS], aspect_seed, minval=math.log(aspect[0]), maxval=math.log(aspect[1]), dtype=tf.float64))
    heights = tf.cast(tf.round(tf.sqrt(target_areas * aspects)), tf.int32)  # round half to even, as Python's
    widths = tf.cast(tf.round(tf.sqrt(target_areas / aspects)), tf.int32)
    fits = (heights < height) & (widths < width)
    first_fit = tf.argmax(fits, output_type=tf.int32)
    erased = (tf.random.stateless_uniform([], apply_seed) < probability) & tf.reduce_any(fits)

    def erase():
        box_height, box_width = heights[first_fit], widths[first_fit]
        top_draw, left_draw = tf.unstack(tf.random.stateless_uniform([2], position_seed, dtype=tf.float64))
        top = tf.cast(top_draw * tf.cast(height - box_height + 1, tf.float64), tf.int32)  # 0 to H - h
        left = tf.cast(left_draw * tf.cast(width - box_width + 1, tf.float64), tf.int32)
        noise = tf.random.stateless_uniform(
            tf.stack([box_height, box_width, channels]), noise_seed, maxval=256, dtype=tf.int32)
        # Assembled from slices: a tf.where over the whole image costs several times as much.
        rows = image[top:top + box_height]
        middle = tf.concat([rows[:, :left], tf.cast(noise, tf.uint8), rows[:, left + box_width:]], axis=1)
        return tf.ensure_shape(tf.concat([image[:top], middle, image[top + box_height:]], axis=0), image.shape)

    return tf.cond(erased, erase, lambda: image)
