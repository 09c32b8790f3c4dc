"""timm's RandAugment policy "rand-m9-mstd0.5" on one uint8 image, in TensorFlow ops with a stateless seed.

`rand_augment` is meant for `tf.data.Dataset.map(..., num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)`
with one seed per image: the same (image, seed) always gives the same result, whatever the thread or the batch.
It applies `num_ops` operations drawn uniformly, with replacement, from timm's `_RAND_TRANSFORMS` (the table
`RAND_AUGMENT_OPS`), each with probability 0.5 and a magnitude drawn from a normal distribution around
`magnitude`, clipped to [0, 10]. Each operation is also public with its argument spelled out (`solarize(image,
threshold)`, `rotate(image, degrees)`, ...) and reproduces its PIL counterpart: the same lookup tables, the same
integer grey conversion, the same float32 blends and truncations (tests/test_rand_augment.py compares them).

Twelve operations give PIL's values exactly, TranslateXRel and TranslateYRel included (their interpolation
weights are computed as PIL computes them, in float64). Rotate, ShearX and ShearY are within 1 level: Rotate
takes PIL's matrix and sample points (float64) but blends in float32 where PIL uses float64 (about one value in
10^5 differs); the shears use one interpolation weight per row (column), where PIL's rounding of x + 0.5 +
offset varies by 1e-14 along it, which decides a truncation when the weighted difference of two neighbours is
that close to an integer: with factors such as 0.1, 0.2 or 0.3 (level 10, where 2% of timm's draws clip) up to
a few percent of the values, with other factors about 1e-3 of them (float32 blends).

Time per image is bounded by `num_ops` operations of a few passes over its H x W x C pixels each: elementwise
arithmetic, a per-channel histogram and a 256-entry table lookup (Equalize), a 3x3 smoothing (Sharpness) or a
gather of whole pixels (the geometric operations); nothing loops over pixels in Python or depends on the
content. On 224x224x3 images `rand_augment` costs about 1.1 ms of CPU per image inside a tf.data map on a 2-core
machine (benchmarks/augment_ops.py), the geometric operations 0.7 to 1.2 ms each and Rotate 4.5 ms.

Differences from timm: the geometric operations always interpolate bilinearly (timm draws bilinear or bicubic
per call), and a three-value `fill` on a one-channel image becomes its grey value.
"""

import functools
import math
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from keras_vit.errors import KerasViTError

MAX_LEVEL = 10.0  # timm's _LEVEL_DENOM: a magnitude of 10 is an operation's strongest argument
GREY_FILL = (128, 128, 128)  # timm's _FILL, the colour geometric operations leave where they uncover the image


def _check_image(image):
    if image.dtype != tf.uint8 or image.shape.rank != 3 or not image.shape.is_fully_defined():
        raise KerasViTError(f"Expected a uint8 image of static shape [height, width, channels], got "
                            f"{image.dtype.name} {image.shape}.")
    if image.shape[-1] not in (1, 3):
        raise KerasViTError(f"Expected 1 (grey) or 3 (RGB) channels, got an image of shape {image.shape}.")


# How the operations stay cheap (TensorFlow 2.21 on CPU): element-wise kernels are fast on tensors of one shape,
# with scalars, and with [H, 1] or [1, W * C] operands of an [H, W * C] view; they are several times slower with
# per-channel [C] or per-pixel [H, W, 1] broadcasts, and so are tf.where over an image, reversed slices, tf.pad
# with a fill value, slices along the last axis and tf.gather of single values (tf.gather_nd costs about half).
# So per-channel values are tiled to [1, W * C], per-pixel values meet the channels in a channel-planar
# [C, H * W] transpose or a matrix product that repeats them (Color's grey values, exact: integers below 2 ** 24),
# images are assembled from slices with tf.concat, and the geometric operations gather whole pixels (C or 2 * C
# values at a time).


def _rows(image):
    """The [H, W * C] view of an [H, W, C] tensor."""
    height, width, channels = image.shape
    return tf.reshape(image, [height, width * channels])


def _tiled(values, width):
    """Per-channel values [C] as a [1, width * C] row, to scale or offset an [H, width * C] view."""
    return tf.reshape(tf.tile(values, [width]), [1, -1])


def _fill_pixel(fill, channels):
    values = tuple(fill) if isinstance(fill, (tuple, list)) else (fill,)
    if len(values) == 3 and channels == 1:
        red, green, blue = values
        values = ((19595 * red + 38470 * green + 7471 * blue + 32768) >> 16,)
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise KerasViTError(f"fill has {len(values)} values for an image of {channels} channels.")
    return tf.constant(values, tf.uint8)


def _fill_block(fill, height, width):
    """A [height, width, C] block of the fill colour; the sizes may be tensors."""
    return tf.broadcast_to(fill, tf.stack([height, width, fill.shape[0]]))


def _truncated_blend(degenerate, image, factor):
    """PIL's Image.blend(degenerate, image, factor) on float32 values: a + factor * (b - a), clipped, truncated."""
    blended = degenerate + tf.cast(factor, tf.float32) * (image - degenerate)
    return tf.cast(tf.clip_by_value(blended, 0.0, 255.0), tf.uint8)


# PIL's convert("L") weights 19595, 38470 and 7471 split into 256 * high + low, so that every product of the
# matrix products below is exact even where float32 matrix products round their inputs to fewer bits (TF32 on
# GPUs, bfloat16 on some CPUs); the sums stay below 2 ** 24 and are exact too.
_GREY_HIGH = (76.0, 150.0, 29.0)
_GREY_LOW = (139.0, 70.0, 47.0)


def _grey_values(pixels, copies):
    """PIL's grey value (19595 R + 38470 G + 7471 B + 2 ** 15) >> 16 of float32 RGB pixels [N, 3 * group].

    Returns [N, copies * group]: the grey values of each row's `group` pixels, each repeated `copies` times
    (block-diagonal matrices: a few pixels per row make better shaped matrix products than one; the products are
    oneDNN's in a tf.data map, Eigen's, about twice as slow, inside rand_augment's branches).
    """
    group = pixels.shape[1] // 3
    high = np.zeros([3 * group, copies * group], np.float32)
    low = np.zeros_like(high)
    for pixel in range(group):
        high[3 * pixel:3 * pixel + 3, copies * pixel:copies * (pixel + 1)] = np.array(_GREY_HIGH)[:, None]
        low[3 * pixel:3 * pixel + 3, copies * pixel:copies * (pixel + 1)] = np.array(_GREY_LOW)[:, None]
    weighted = 256.0 * tf.matmul(pixels, tf.constant(high)) + tf.matmul(pixels, tf.constant(low))
    return tf.floor((weighted + 32768.0) * (1.0 / 65536.0))


def _pixel_groups(image, group):
    """An RGB image's float32 pixels as [H * W / g, 3 * g], g the largest of `group`, 2 and 1 dividing H * W."""
    height, width, channels = image.shape
    group = next(size for size in (group, 2, 1) if (height * width) % size == 0)
    return tf.cast(tf.reshape(image, [height * width // group, channels * group]), tf.float32)


def auto_contrast(image):
    """PIL's ImageOps.autocontrast: stretches each channel so that its darkest value becomes 0, its lightest 255.

    Args:
        image: uint8 tensor [H, W, C].

    Returns:
        uint8 tensor of the same shape; a channel with a single value is left as it is.

    Example:
        >>> stretched = auto_contrast(tf.constant([[[10], [20]]], tf.uint8))  # [[[0], [255]]]
    """
    _, width, channels = image.shape
    rows = _rows(image)
    lowest = tf.cast(tf.reduce_min(tf.reshape(tf.reduce_min(rows, axis=0), [width, channels]), axis=0), tf.float64)
    highest = tf.cast(tf.reduce_max(tf.reshape(tf.reduce_max(rows, axis=0), [width, channels]), axis=0), tf.float64)
    # PIL's table int(value * scale + offset) in float64, evaluated on the pixels themselves (all in [lo, hi], so
    # PIL's clipping to [0, 255] never applies); a channel with one value keeps scale 1 and offset 0.
    stretch = highest > lowest
    scale = tf.where(stretch, 255.0 / tf.maximum(highest - lowest, 1.0), 1.0)
    offset = tf.where(stretch, -lowest * scale, 0.0)
    stretched = tf.cast(rows, tf.float64) * _tiled(scale, width) + _tiled(offset, width)
    return tf.reshape(tf.cast(stretched, tf.uint8), image.shape)


def equalize(image):
    """PIL's ImageOps.equalize: maps each channel through its cumulative histogram (integer arithmetic as PIL).

    Args:
        image: uint8 tensor [H, W, C].

    Returns:
        uint8 tensor of the same shape.

    Example:
        >>> dark = tf.cast(tf.random.stateless_uniform([64, 64, 3], [0, 0], maxval=64, dtype=tf.int32), tf.uint8)
        >>> equalized = equalize(dark)  # values spread over 0 to 255
    """
    _, width, channels = image.shape
    # Each value's index into the per-channel tables flattened to [C * 256]: value + 256 * channel.
    indices = tf.cast(_rows(image), tf.int32)
    if channels > 1:
        indices += _tiled(256 * tf.range(channels), width)
    histograms = tf.reshape(tf.math.bincount(tf.reshape(indices, [-1]), minlength=256 * channels,
                                             maxlength=256 * channels), [channels, 256])
    last_value = 255 - tf.argmax(tf.reverse(histograms > 0, axis=[1]), axis=1, output_type=tf.int32)
    last_count = tf.gather(histograms, last_value, batch_dims=1)
    step = (tf.reduce_sum(histograms, axis=1) - last_count) // 255
    safe_step = tf.maximum(step, 1)[:, None]
    equalized = tf.minimum((safe_step // 2 + tf.cumsum(histograms, axis=1, exclusive=True)) // safe_step, 255)
    # PIL keeps a channel as it is when it has one value only or when step is 0; one value implies step 0.
    tables = tf.cast(tf.where((step > 0)[:, None], equalized, tf.range(256)), tf.uint8)
    return tf.reshape(tf.gather_nd(tf.reshape(tables, [-1]), indices[..., None]), image.shape)


def invert(image):
    """PIL's ImageOps.invert: 255 - value.

    Example:
        >>> negative = invert(tf.constant([[[0, 100, 255]]], tf.uint8))  # [[[255, 155, 0]]]
    """
    return tf.bitwise.invert(image)


def posterize(image, bits):
    """PIL's ImageOps.posterize: keeps the `bits` most significant bits of each value (8 or more: unchanged).

    Args:
        image: uint8 tensor [H, W, C].
        bits: int scalar (or int32 tensor), 0 to 8; 0 makes the image black.

    Example:
        >>> coarse = posterize(tf.constant([[[0, 100, 255]]], tf.uint8), 2)  # [[[0, 64, 192]]]
    """
    bits = tf.clip_by_value(tf.cast(bits, tf.int32), 0, 8)
    mask = tf.bitwise.bitwise_and(tf.bitwise.left_shift(255, 8 - bits), 255)
    return tf.bitwise.bitwise_and(image, tf.cast(mask, tf.uint8))


def solarize(image, threshold):
    """PIL's ImageOps.solarize: inverts every value at or above `threshold` (256: none).

    Example:
        >>> solarized = solarize(tf.constant([[[0, 100, 255]]], tf.uint8), 128)  # [[[0, 100, 0]]]
    """
    threshold = tf.cast(threshold, tf.int32)
    inverting = tf.cast(image >= tf.cast(tf.clip_by_value(threshold, 0, 255), tf.uint8), tf.uint8)
    # 255 - value is value XOR 255; a threshold above 255 inverts nothing.
    return tf.bitwise.bitwise_xor(image, inverting * tf.cast(tf.where(threshold > 255, 0, 255), tf.uint8))


def solarize_add(image, addition, threshold=128):
    """timm's solarize_add: adds `addition` (0 to 255, saturating at 255) to every value below `threshold`.

    Example:
        >>> brightened = solarize_add(tf.constant([[[0, 100, 255]]], tf.uint8), 50)  # [[[50, 150, 255]]]
    """
    addition = tf.cast(tf.clip_by_value(tf.cast(addition, tf.int32), 0, 255), tf.uint8)
    # A threshold above 255 spares 255 only, which the saturation leaves at 255 anyway.
    below = tf.cast(image < tf.cast(tf.clip_by_value(tf.cast(threshold, tf.int32), 0, 255), tf.uint8), tf.uint8)
    return image + below * tf.minimum(255 - image, addition)


def color(image, factor):
    """PIL's ImageEnhance.Color: blends the image with its grey version (factor 0: grey, 1: unchanged).

    A one-channel image is returned unchanged, as PIL does.

    Example:
        >>> faded = color(tf.constant([[[200, 0, 0]]], tf.uint8), 0.5)
    """
    channels = image.shape[-1]
    if channels == 1:
        return image
    pixels = _pixel_groups(image, 4)
    return tf.reshape(_truncated_blend(_grey_values(pixels, copies=channels), pixels, factor), image.shape)


def contrast(image, factor):
    """PIL's ImageEnhance.Contrast: blends the image with a flat image of its mean grey value, rounded.

    Example:
        >>> flatter = contrast(tf.constant([[[0, 0, 0]], [[255, 255, 255]]], tf.uint8), 0.5)
    """
    height, width, channels = image.shape
    if channels == 1:
        grey = tf.cast(image, tf.int32)
    else:  # PIL's integer grey values, from the channel-planar [3, H * W] image
        red, green, blue = tf.unstack(tf.cast(tf.transpose(tf.reshape(image, [height * width, 3])), tf.int32))
        grey = tf.bitwise.right_shift(19595 * red + 38470 * green + 7471 * blue + 32768, 16)
    mean_grey = tf.floor(tf.reduce_sum(tf.cast(grey, tf.float64)) / (height * width) + 0.5)
    rows = tf.cast(_rows(image), tf.float32)
    return tf.reshape(_truncated_blend(tf.cast(mean_grey, tf.float32), rows, factor), image.shape)


def brightness(image, factor):
    """PIL's ImageEnhance.Brightness: blends the image with black (factor 0: black, 1: unchanged).

    Example:
        >>> darker = brightness(tf.constant([[[200, 100, 0]]], tf.uint8), 0.5)  # [[[100, 50, 0]]]
    """
    # PIL's 0 + factor * (value - 0) is factor * value exactly.
    scaled = tf.cast(factor, tf.float32) * tf.cast(image, tf.float32)
    return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)


def sharpness(image, factor):
    """PIL's ImageEnhance.Sharpness: blends with PIL's SMOOTH filter, which leaves the one-pixel border as it is.

    SMOOTH weighs the centre 5 and its eight neighbours 1 (divided by 13, rounded); factors above 1 sharpen.

    Example:
        >>> sharper = sharpness(tf.zeros([8, 8, 3], tf.uint8), 1.5)
    """
    height, width, _ = image.shape
    if height < 3 or width < 3:
        return image  # no interior: the smoothed image is the image
    pixels = tf.cast(image, tf.float32)
    rows = pixels[:-2] + pixels[1:-1] + pixels[2:]
    centre = pixels[1:-1, 1:-1]
    weighted = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] + 4.0 * centre
    # weighted / 13 rounded half up, exactly: (weighted + 6.5) / 13 is at least 0.5 / 13 from an integer.
    smoothed = tf.floor((weighted + 6.5) * (1.0 / 13.0))
    interior = _truncated_blend(smoothed, centre, factor)
    middle = tf.concat([image[1:-1, :1], interior, image[1:-1, -1:]], axis=1)
    return tf.concat([image[:1], middle, image[-1:]], axis=0)


# The geometric operations reproduce PIL's Image.transform(AFFINE, (a, b, c, d, e, f), BILINEAR, fillcolor=fill):
# output pixel (x, y) takes its centre (x + 0.5, y + 0.5) to the input point (x_in, y_in) = (a (x + 0.5) +
# b (y + 0.5) + c, d (x + 0.5) + e (y + 0.5) + f), computed in float64; the point is filled when it falls outside
# [0, W) x [0, H), and is otherwise sampled bilinearly at (x_in - 0.5, y_in - 0.5) with the neighbours clamped to
# the image, v = v0 + (v1 - v0) * fraction in float64 per axis, truncated to uint8.
#
# Translations and shears move each row (ShearX, TranslateX) or each column (ShearY, TranslateY) by its own
# offset along itself: the other coordinate is exact, so they are one-dimensional interpolations with one integer
# shift and one weight per row or column, computed here with PIL's arithmetic.


def _float64(value):
    """A float64 scalar tensor; a Python float keeps all its bits (tf.cast would round it to float32 first)."""
    return tf.cast(value, tf.float64) if tf.is_tensor(value) else tf.constant(value, tf.float64)


def _lerp_truncated(first, second, weight, dtype=tf.float64):
    """PIL's first + (second - first) * weight on uint8 values, truncated to uint8 (weight in [0, 1], `dtype`)."""
    first = tf.cast(first, dtype)
    return tf.cast(first + (tf.cast(second, dtype) - first) * weight, tf.uint8)


def _extend(image, axis):
    """The image with its first and last rows (axis 0) or columns (axis 1) repeated once: PIL's clamping."""
    if axis == 0:
        return tf.concat([image[:1], image, image[-1:]], axis=0)
    return tf.concat([image[:, :1], image, image[:, -1:]], axis=1)


def _translate(image, offset, fill, axis):
    """Output position p along `axis` samples the input at p + offset (PIL's x_in = p + 0.5 + offset).

    The uncovered positions are filled and the others are one window of the clamped image, blended with its
    neighbour window; each position's weight is computed as PIL computes it, so the result is PIL's exactly.
    """
    height, width, channels = image.shape
    length = image.shape[axis]
    offset = tf.clip_by_value(offset, -length - 2.0, length + 2.0)  # beyond: all fill
    positions = tf.range(length, dtype=tf.float64)
    centres = positions + 0.5 + offset  # PIL's x_in (or y_in) of each output position
    first = tf.reduce_sum(tf.cast(centres < 0, tf.int32))  # positions [first, last) fall inside the image
    last = length - tf.reduce_sum(tf.cast(centres >= length, tf.int32))
    shift = tf.floor(offset)
    weights = (centres - 0.5) - (positions + shift)  # PIL's fraction, in [0, 1]; 1 where PIL's floor is one more
    count = last - first
    # Window of the clamped image (index j + 1 holds position clip(j)) for positions first .. last - 1.
    start = tf.clip_by_value(first + tf.cast(shift, tf.int32) + 1, 0, length + 1 - count)
    extended = _extend(image, axis)
    weights = weights[first:last]
    if axis == 0:
        begin, size = tf.stack([start, 0, 0]), tf.stack([count, width, channels])
        step = tf.constant([1, 0, 0])
        weights = weights[:, None]
        view = [-1, width * channels]
    else:
        begin, size = tf.stack([0, start, 0]), tf.stack([height, count, channels])
        step = tf.constant([0, 1, 0])
        weights = tf.repeat(weights, channels)[None]
        view = [height, -1]
    lower = tf.reshape(tf.slice(extended, begin, size), view)
    upper = tf.reshape(tf.slice(extended, begin + step, size), view)
    inside = tf.reshape(_lerp_truncated(lower, upper, weights), size)
    if axis == 0:
        parts = [_fill_block(fill, first, width), inside, _fill_block(fill, length - last, width)]
    else:
        parts = [_fill_block(fill, height, first), inside, _fill_block(fill, height, length - last)]
    return tf.ensure_shape(tf.concat(parts, axis=axis), image.shape)


def _shear(image, offsets, fill, axis):
    """Output row y (axis 1) or column x (axis 0) samples the input's along itself at p + offsets[y or x].

    Each line is interpolated at its own fraction on the input's grid, framed by its clamped end samples where
    they are inside and by fill, and moved by its integer shift with one gather of whole pixels. The fractions
    are PIL's up to the rounding of p + 0.5 + offset, which PIL does per pixel; the blend is in float32.
    """
    height, width, channels = image.shape
    length = image.shape[axis]  # along the lines
    offsets = tf.clip_by_value(offsets, -length - 2.0, length + 2.0)  # beyond: all fill
    shifts = tf.floor(offsets)
    weights = offsets - shifts  # one fraction per line, in [0, 1)
    shifts = tf.cast(shifts, tf.int32)
    margin = tf.reduce_max(tf.abs(shifts)) + 2
    # Position p of a line samples j = p + shift at fraction `weight`: inside the image iff -0.5 <= j + weight <
    # length - 0.5, i.e. always for 0 <= j <= length - 2, at j = -1 iff weight >= 0.5 (the clamped first value),
    # at j = length - 1 iff weight < 0.5 (the clamped last value); fill elsewhere.
    upper_half = weights >= 0.5
    if axis == 1:
        interior = _lerp_truncated(_rows(image[:, :-1]), _rows(image[:, 1:]), tf.cast(weights, tf.float32)[:, None],
                                   tf.float32)
        upper_half = upper_half[:, None, None]
        ends = [tf.where(upper_half, image[:, :1], fill), tf.where(upper_half, fill, image[:, -1:])]
        pad = _fill_block(fill, height, margin)
        samples = tf.concat([pad, ends[0], tf.reshape(interior, [height, width - 1, channels]), ends[1], pad], axis=1)
        line_length = width + 1 + 2 * margin  # position j of row y at y * line_length + j + 1 + margin
        index = (tf.range(height) * line_length + shifts + 1 + margin)[:, None] + tf.range(width)
    else:
        weights = tf.repeat(tf.cast(weights, tf.float32), channels)[None]
        interior = _lerp_truncated(_rows(image[:-1]), _rows(image[1:]), weights, tf.float32)
        upper_half = upper_half[None, :, None]
        ends = [tf.where(upper_half, image[:1], fill), tf.where(upper_half, fill, image[-1:])]
        pad = _fill_block(fill, margin, width)
        samples = tf.concat([pad, ends[0], tf.reshape(interior, [height - 1, width, channels]), ends[1], pad], axis=0)
        # position j of column x at (j + 1 + margin) * W + x
        index = (tf.range(height) * width)[:, None] + ((shifts + 1 + margin) * width + tf.range(width))
    return tf.gather_nd(tf.reshape(samples, [-1, channels]), index[..., None])


def _warp(image, coefficients, fill):
    """PIL's Image.transform(AFFINE, coefficients, BILINEAR, fillcolor=fill) for any coefficients.

    The input points are computed in float64 as PIL computes them, the bilinear blends in float32 (PIL: float64).
    Each output pixel gathers its top and its bottom pair of neighbours (two adjacent pixels of the image clamped
    by one row and column on each side) with two gathers of 2 * C values, from the image's pixel pairs starting
    at even and at odd positions; the pixels outside take a pair of fill pixels.
    """
    height, width, channels = image.shape
    a, b, c, d, e, f = coefficients
    x = tf.range(width, dtype=tf.float64)[None, :] + 0.5
    y = tf.range(height, dtype=tf.float64)[:, None] + 0.5
    x_in = a * x + b * y + c  # [H, W], PIL's order of operations
    y_in = d * x + e * y + f
    inside = tf.cast((x_in >= 0) & (x_in < width) & (y_in >= 0) & (y_in < height), tf.int32)
    x_floor, y_floor = tf.floor(x_in - 0.5), tf.floor(y_in - 0.5)
    x_weight = tf.reshape(tf.cast(x_in - 0.5 - x_floor, tf.float32), [1, height * width])
    y_weight = tf.reshape(tf.cast(y_in - 0.5 - y_floor, tf.float32), [1, height * width])
    # Inside, the pixel's neighbours are rows y_floor, y_floor + 1 and columns x_floor, x_floor + 1 of the image
    # clamped (rows and columns -1 .. H or W, so +1 below); outside, clipped to keep the indices in range.
    row_length = width + 2
    top = (tf.cast(tf.clip_by_value(y_floor, -1.0, height - 1.0), tf.int32) + 1) * row_length + tf.cast(
        tf.clip_by_value(x_floor, -1.0, width - 1.0), tf.int32) + 1
    clamped = _extend(_extend(image, 1), 0)
    count = (height + 2) * row_length
    even_count = count + count % 2  # the fill pair starts at this even pixel
    pixels = tf.concat([tf.reshape(clamped, [-1]), tf.tile(fill, [count % 2 + 3])], axis=0)
    half = even_count // 2 + 1
    pairs = tf.concat([tf.reshape(pixels[:2 * half * channels], [half, 2 * channels]),  # pixels 2i, 2i + 1
                       tf.reshape(pixels[channels:(2 * half + 1) * channels], [half, 2 * channels])], axis=0)
    fill_pair = even_count // 2  # pair p starts at pixel 2p (p < half) or 2 (p - half) + 1

    def pair_index(start):
        index = tf.bitwise.bitwise_and(start, 1) * half + tf.bitwise.right_shift(start, 1)
        return tf.reshape(fill_pair + inside * (index - fill_pair), [height * width, 1])

    # Blended channel-planar, [2 * C, H * W] (one transpose each way), where the weights are [1, H * W] rows.
    top_pairs = tf.cast(tf.transpose(tf.gather_nd(pairs, pair_index(top))), tf.float32)
    bottom_pairs = tf.cast(tf.transpose(tf.gather_nd(pairs, pair_index(top + row_length))), tf.float32)
    upper = top_pairs[:channels] + (top_pairs[channels:] - top_pairs[:channels]) * x_weight
    lower = bottom_pairs[:channels] + (bottom_pairs[channels:] - bottom_pairs[:channels]) * x_weight
    return tf.reshape(tf.transpose(tf.cast(upper + (lower - upper) * y_weight, tf.uint8)), image.shape)


def _round15(value):
    """Python's round(value, 15) for |value| <= 1 (the nearest float64 to value rounded to 15 decimals)."""
    return tf.round(value * 1e15) / 1e15


def rotate(image, degrees, fill=GREY_FILL):
    """PIL's Image.rotate(degrees) about the image centre, counter-clockwise, bilinear, uncovered area `fill`.

    The affine matrix is PIL's: the angle modulo 360, cosine and sine rounded to 15 decimals.

    Args:
        image: uint8 tensor [H, W, C].
        degrees: float scalar.
        fill: one value per channel, or one for all.

    Example:
        >>> turned = rotate(tf.zeros([32, 32, 3], tf.uint8), 30.0)
    """
    height, width, channels = image.shape
    radians = -(tf.math.floormod(_float64(degrees), 360.0) * (math.pi / 180.0))
    cos, sin = _round15(tf.cos(radians)), _round15(tf.sin(radians))
    centre_x, centre_y = width / 2.0, height / 2.0
    # PIL: matrix (cos, sin, 0, -sin, cos, 0), then c, f = matrix applied to (-centre_x, -centre_y), plus the centre.
    return _warp(image, [cos, sin, cos * -centre_x + sin * -centre_y + 0.0 + centre_x,
                         -sin, cos, -sin * -centre_x + cos * -centre_y + 0.0 + centre_y],
                 _fill_pixel(fill, channels))


def shear_x(image, factor, fill=GREY_FILL):
    """timm's shear_x: output (x, y) samples the input at (x + factor * y, y).

    Example:
        >>> sheared = shear_x(tf.zeros([32, 32, 3], tf.uint8), 0.3)
    """
    height, _, channels = image.shape
    offsets = _float64(factor) * (tf.range(height, dtype=tf.float64) + 0.5)  # PIL's b * (y + 0.5)
    return _shear(image, offsets, _fill_pixel(fill, channels), axis=1)


def shear_y(image, factor, fill=GREY_FILL):
    """timm's shear_y: output (x, y) samples the input at (x, y + factor * x).

    Example:
        >>> sheared = shear_y(tf.zeros([32, 32, 3], tf.uint8), -0.3)
    """
    _, width, channels = image.shape
    offsets = _float64(factor) * (tf.range(width, dtype=tf.float64) + 0.5)  # PIL's d * (x + 0.5)
    return _shear(image, offsets, _fill_pixel(fill, channels), axis=0)


def translate_x(image, fraction, fill=GREY_FILL):
    """timm's translate_x_rel: output (x, y) samples the input at (x + fraction * W, y), i.e. moves it left.

    Example:
        >>> moved = translate_x(tf.zeros([32, 32, 3], tf.uint8), 0.25)
    """
    return _translate(image, _float64(fraction) * image.shape[1], _fill_pixel(fill, image.shape[-1]),
                      axis=1)


def translate_y(image, fraction, fill=GREY_FILL):
    """timm's translate_y_rel: output (x, y) samples the input at (x, y + fraction * H), i.e. moves it up.

    Example:
        >>> moved = translate_y(tf.zeros([32, 32, 3], tf.uint8), -0.25)
    """
    return _translate(image, _float64(fraction) * image.shape[0], _fill_pixel(fill, image.shape[-1]),
                      axis=0)


# timm's level -> argument mappings (timm/data/auto_augment.py, LEVEL_TO_ARG), for a level in [0, 10] as a
# float64 tensor and a sign of +1 or -1 (timm's _randomly_negate); computed in float64 like timm's Python floats.
def _no_arguments(level, sign):
    return ()


def _rotate_arguments(level, sign):
    return (sign * level / MAX_LEVEL * 30.0,)


def _enhance_arguments(level, sign):
    return (level / MAX_LEVEL * 1.8 + 0.1,)


def _shear_arguments(level, sign):
    return (sign * level / MAX_LEVEL * 0.3,)


def _translate_arguments(level, sign):
    return (sign * level / MAX_LEVEL * 0.45,)


def _posterize_arguments(level, sign):
    return (tf.cast(level / MAX_LEVEL * 4.0, tf.int32),)


def _solarize_arguments(level, sign):
    return (tf.cast(level / MAX_LEVEL * 256.0, tf.int32),)


def _solarize_add_arguments(level, sign):
    return (tf.cast(level / MAX_LEVEL * 110.0, tf.int32),)


class RandAugmentOp(NamedTuple):
    """One RandAugment operation: its function, timm's level -> arguments, and whether it takes `fill`."""

    function: Callable
    level_to_arguments: Callable
    geometric: bool = False


RAND_AUGMENT_OPS = {  # timm's _RAND_TRANSFORMS, in its order
    "AutoContrast": RandAugmentOp(auto_contrast, _no_arguments),
    "Equalize": RandAugmentOp(equalize, _no_arguments),
    "Invert": RandAugmentOp(invert, _no_arguments),
    "Rotate": RandAugmentOp(rotate, _rotate_arguments, geometric=True),
    "Posterize": RandAugmentOp(posterize, _posterize_arguments),
    "Solarize": RandAugmentOp(solarize, _solarize_arguments),
    "SolarizeAdd": RandAugmentOp(solarize_add, _solarize_add_arguments),
    "Color": RandAugmentOp(color, _enhance_arguments),
    "Contrast": RandAugmentOp(contrast, _enhance_arguments),
    "Brightness": RandAugmentOp(brightness, _enhance_arguments),
    "Sharpness": RandAugmentOp(sharpness, _enhance_arguments),
    "ShearX": RandAugmentOp(shear_x, _shear_arguments, geometric=True),
    "ShearY": RandAugmentOp(shear_y, _shear_arguments, geometric=True),
    "TranslateXRel": RandAugmentOp(translate_x, _translate_arguments, geometric=True),
    "TranslateYRel": RandAugmentOp(translate_y, _translate_arguments, geometric=True),
}


def apply_op(name, image, level, sign=1.0, fill=GREY_FILL):
    """Applies RandAugment operation `name` at magnitude `level`, with timm's level -> argument mapping.

    Args:
        name: a key of `RAND_AUGMENT_OPS`.
        image: uint8 tensor [H, W, C].
        level: magnitude, 0 to 10 (float or float tensor).
        sign: +1 or -1, the direction of the signed operations (Rotate, ShearX/Y, TranslateX/YRel).
        fill: the geometric operations' fill, one value per channel or one for all.

    Example:
        >>> rotated = apply_op("Rotate", tf.zeros([32, 32, 3], tf.uint8), level=9.0, sign=-1.0)  # -27 degrees
    """
    op = RAND_AUGMENT_OPS[name]
    arguments = op.level_to_arguments(_float64(level), _float64(sign))
    if op.geometric:
        return op.function(image, *arguments, fill=fill)
    return op.function(image, *arguments)


def _draw_level(seed, magnitude, magnitude_std):
    if magnitude_std == math.inf:  # timm's "mstd" above 100: uniform in [0, magnitude]
        level = tf.random.stateless_uniform([], seed, maxval=magnitude, dtype=tf.float64)
    else:
        level = magnitude + magnitude_std * tf.random.stateless_normal([], seed, dtype=tf.float64)
    return tf.clip_by_value(level, 0.0, MAX_LEVEL)


def rand_augment(image, seed, num_ops=2, magnitude=9, magnitude_std=0.5, fill=GREY_FILL):
    """timm's RandAugment ("rand-m9-mstd0.5" by default) on one image, reproducibly from `seed`.

    `num_ops` times: an operation of `RAND_AUGMENT_OPS` is drawn uniformly (with replacement) and, with
    probability 0.5, applied at a level drawn from N(magnitude, magnitude_std) clipped to [0, 10], its sign drawn
    with probability 0.5. All draws are stateless functions of `seed`, so the call traces inside `tf.data` maps.

    Args:
        image: uint8 tensor of static shape [H, W, C], C 1 or 3.
        seed: int32 or int64 tensor of shape [2], e.g. one per image from `tf.random.experimental.stateless_split`.
        num_ops: operations per image (timm's "n").
        magnitude: mean level, 0 to 10 (timm's "m").
        magnitude_std: standard deviation of the level (timm's "mstd"); 0: always `magnitude`; `math.inf`: uniform
            in [0, magnitude].
        fill: colour the geometric operations leave where they uncover the image: one value per channel or one
            for all; three values on a one-channel image give their grey value.

    Returns:
        uint8 tensor of the same shape as `image`.

    In a graph (a tf.data map, a tf.function) the drawn operation runs as a branch of a functional Case, so only
    it runs; the 16 branch functions are traced once per image shape and fill, and each new iterator of a
    dataset instantiates them again (a fraction of a second). Called eagerly, the drawn operation simply runs.

    Example:
        >>> seeds = tf.random.experimental.stateless_split([0, 42], num=len(images))
        >>> dataset = tf.data.Dataset.from_tensor_slices((images, seeds)).map(
        ...     rand_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    """
    image = tf.convert_to_tensor(image)
    _check_image(image)
    names = list(RAND_AUGMENT_OPS)
    op_seeds = tf.random.experimental.stateless_split(seed, num=num_ops)
    for index in range(num_ops):
        branch, level, sign = _draw_op(op_seeds[index], magnitude, magnitude_std)
        if tf.executing_eagerly():
            if int(branch) < len(names):
                image = apply_op(names[int(branch)], image, level, sign, fill)
        else:
            # A functional Case runs the drawn branch only; tf.switch_case would be lowered to a graph in which
            # every node of the 15 untaken branches is visited (as dead) at each call, ~0.5 ms of a 2-op image.
            image = tf.raw_ops.Case(branch_index=branch, input=[image, level, sign], Tout=[tf.uint8],
                                    branches=_branch_functions(image.shape, fill), output_shapes=[image.shape])[0]
    return image


def _draw_op(seed, magnitude, magnitude_std):
    """The branch (an operation's index, or len(RAND_AUGMENT_OPS) where none applies), level and sign."""
    choice_seed, apply_seed, level_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=4))
    choice = tf.random.stateless_uniform([], choice_seed, maxval=len(RAND_AUGMENT_OPS), dtype=tf.int32)
    applied = tf.random.stateless_uniform([], apply_seed) < 0.5
    level = _draw_level(level_seed, magnitude, magnitude_std)
    sign = tf.where(tf.random.stateless_uniform([], sign_seed) > 0.5, -1.0, 1.0)
    return tf.where(applied, choice, len(RAND_AUGMENT_OPS)), level, tf.cast(sign, tf.float64)


_BRANCHES = {}


def _identity(image, level, sign):
    return tf.identity(image)


def _branch_functions(shape, fill):
    """rand_augment's branches: a concrete function (image, level, sign) -> image per operation, then the identity.

    Traced once per image shape, fill and operation table, and shared by every graph that draws from them.
    """
    fill = tuple(fill) if isinstance(fill, (tuple, list)) else fill
    key = (tuple(shape), fill, tuple(RAND_AUGMENT_OPS.items()))
    if key not in _BRANCHES:
        signature = [tf.TensorSpec(shape, tf.uint8), tf.TensorSpec([], tf.float64), tf.TensorSpec([], tf.float64)]
        functions = [functools.partial(apply_op, name, fill=fill) for name in RAND_AUGMENT_OPS]
        functions.append(_identity)
        _BRANCHES[key] = [tf.function(function, input_signature=signature, autograph=False).get_concrete_function()
                          for function in functions]
    return _BRANCHES[key]
