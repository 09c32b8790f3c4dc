"""timm's RandAugment policy "rand-m9-mstd0.5" on one uint8 image, in TensorFlow ops with a stateless seed.

`rand_augment` is meant for `tf.data.Dataset.map(..., num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)`
with one seed per image: the same (image, seed) always gives the same result, whatever the thread or the batch.
It applies `num_ops` operations drawn uniformly, with replacement, from timm's `_RAND_TRANSFORMS` (the table
`RAND_AUGMENT_OPS`), each with probability 0.5 and a magnitude drawn from a normal distribution around
`magnitude`, clipped to [0, 10]. Each operation is also public with its argument spelled out (`solarize(image,
threshold)`, `rotate(image, degrees)`, ...) and reproduces its PIL counterpart: the same lookup tables, the same
integer grey conversion, the same truncation of blended values (tests/test_rand_augment.py compares them).

Time per image is bounded by `num_ops` operations of a few passes over its H x W x C pixels each: elementwise
arithmetic, a per-channel histogram and a 256-entry table lookup (AutoContrast, Equalize), a 3x3 smoothing
(Sharpness) or one bilinear warp (the geometric operations); nothing loops over pixels in Python or depends on
the content.

Differences from timm: the geometric operations always interpolate bilinearly (timm draws bilinear or bicubic
per call), and a three-value `fill` on a one-channel image becomes its grey value.
"""

import functools
import math
from typing import Callable, NamedTuple

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


def _grey(image):
    """PIL's convert("L"): (19595 R + 38470 G + 7471 B + 2**15) >> 16, as int32 of shape [H, W, 1]."""
    pixels = tf.cast(image, tf.int32)
    if image.shape[-1] == 1:
        return pixels
    weighted = tf.reduce_sum(pixels * tf.constant([19595, 38470, 7471]), axis=-1, keepdims=True)
    return tf.bitwise.right_shift(weighted + 32768, 16)


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


def _blend(degenerate, image, factor):
    """PIL's Image.blend(degenerate, image, factor): computed in float32, clipped, truncated to uint8."""
    degenerate = tf.cast(degenerate, tf.float32)
    blended = degenerate + tf.cast(factor, tf.float32) * (tf.cast(image, tf.float32) - degenerate)
    return tf.cast(tf.clip_by_value(blended, 0.0, 255.0), tf.uint8)


def _channel_indices(image):
    """Each pixel's index into per-channel tables flattened to [C * 256]: value + 256 * channel."""
    channel_offsets = 256 * tf.range(image.shape[-1], dtype=tf.int32)
    return tf.cast(image, tf.int32) + channel_offsets


def _histograms(indices, channels):
    counts = tf.math.bincount(tf.reshape(indices, [-1]), minlength=256 * channels, maxlength=256 * channels)
    return tf.reshape(counts, [channels, 256])


def _apply_tables(indices, tables):
    return tf.cast(tf.gather(tf.reshape(tables, [-1]), indices), tf.uint8)


def auto_contrast(image):
    """PIL's ImageOps.autocontrast: stretches each channel so that its darkest value becomes 0, its lightest 255.

    Args:
        image: uint8 tensor [H, W, C].

    Returns:
        uint8 tensor of the same shape; a channel with a single value is left as it is.

    Example:
        >>> stretched = auto_contrast(tf.constant([[[10], [20]]], tf.uint8))  # [[[0], [255]]]
    """
    indices = _channel_indices(image)
    present = _histograms(indices, image.shape[-1]) > 0
    lowest = tf.argmax(present, axis=1, output_type=tf.int32)
    highest = 255 - tf.argmax(tf.reverse(present, axis=[1]), axis=1, output_type=tf.int32)
    scale = 255.0 / tf.cast(tf.maximum(highest - lowest, 1), tf.float64)
    offset = -tf.cast(lowest, tf.float64) * scale
    values = tf.range(256, dtype=tf.float64)
    stretched = tf.clip_by_value(tf.floor(values * scale[:, None] + offset[:, None]), 0.0, 255.0)
    tables = tf.where((highest > lowest)[:, None], tf.cast(stretched, tf.int32), tf.range(256))
    return _apply_tables(indices, tables)


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
    indices = _channel_indices(image)
    histograms = _histograms(indices, image.shape[-1])
    last_value = 255 - tf.argmax(tf.reverse(histograms > 0, axis=[1]), axis=1, output_type=tf.int32)
    last_count = tf.gather(histograms, last_value, batch_dims=1)
    step = (tf.reduce_sum(histograms, axis=1) - last_count) // 255
    safe_step = tf.maximum(step, 1)[:, None]
    equalized = tf.minimum((safe_step // 2 + tf.cumsum(histograms, axis=1, exclusive=True)) // safe_step, 255)
    # PIL keeps a channel as it is when it has one value only or when step is 0; one value implies step 0.
    tables = tf.where((step > 0)[:, None], equalized, tf.range(256))
    return _apply_tables(indices, tables)


def invert(image):
    """PIL's ImageOps.invert: 255 - value.

    Example:
        >>> negative = invert(tf.constant([[[0, 100, 255]]], tf.uint8))  # [[[255, 155, 0]]]
    """
    return 255 - image


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
    return tf.where(tf.cast(image, tf.int32) < tf.cast(threshold, tf.int32), image, 255 - image)


def solarize_add(image, addition, threshold=128):
    """timm's solarize_add: adds `addition` (saturating at 255) to every value below `threshold`.

    Example:
        >>> brightened = solarize_add(tf.constant([[[0, 100, 255]]], tf.uint8), 50)  # [[[50, 150, 255]]]
    """
    pixels = tf.cast(image, tf.int32)
    added = tf.minimum(pixels + tf.cast(addition, tf.int32), 255)
    return tf.cast(tf.where(pixels < tf.cast(threshold, tf.int32), added, pixels), tf.uint8)


def color(image, factor):
    """PIL's ImageEnhance.Color: blends the image with its grey version (factor 0: grey, 1: unchanged).

    A one-channel image is returned unchanged, as PIL does.

    Example:
        >>> faded = color(tf.constant([[[200, 0, 0]]], tf.uint8), 0.5)
    """
    if image.shape[-1] == 1:
        return image
    return _blend(_grey(image), image, factor)


def contrast(image, factor):
    """PIL's ImageEnhance.Contrast: blends the image with a flat image of its mean grey value, rounded.

    Example:
        >>> flatter = contrast(tf.constant([[[0, 0, 0]], [[255, 255, 255]]], tf.uint8), 0.5)
    """
    mean_grey = tf.floor(tf.reduce_mean(tf.cast(_grey(image), tf.float64)) + 0.5)
    return _blend(mean_grey, image, factor)


def brightness(image, factor):
    """PIL's ImageEnhance.Brightness: blends the image with black (factor 0: black, 1: unchanged).

    Example:
        >>> darker = brightness(tf.constant([[[200, 100, 0]]], tf.uint8), 0.5)  # [[[100, 50, 0]]]
    """
    return _blend(tf.zeros_like(image), image, factor)


def sharpness(image, factor):
    """PIL's ImageEnhance.Sharpness: blends with PIL's SMOOTH filter, which leaves the one-pixel border as it is.

    SMOOTH weighs the centre 5 and its eight neighbours 1 (divided by 13, rounded); factors above 1 sharpen.

    Example:
        >>> sharper = sharpness(tf.zeros([8, 8, 3], tf.uint8), 1.5)
    """
    pixels = tf.cast(image, tf.int32)
    rows = pixels[:-2] + pixels[1:-1] + pixels[2:]
    neighbourhood = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]
    centre = pixels[1:-1, 1:-1]
    weighted = neighbourhood + 4 * centre
    smoothed = (2 * weighted + 13) // 26  # weighted / 13 rounded half up, exactly
    degenerate = pixels + tf.pad(smoothed - centre, [[1, 1], [1, 1], [0, 0]])
    return _blend(degenerate, image, factor)


def _affine(image, coefficients, fill):
    """PIL's Image.transform(AFFINE, coefficients, BILINEAR, fillcolor=fill).

    PIL maps each output pixel's centre (x + 0.5, y + 0.5) to the input point (a x + b y + c, d x + e y + f)
    in pixel-edge coordinates; the point is filled when it falls outside [0, W) x [0, H), and otherwise sampled
    bilinearly with the neighbours clamped to the image (TF's fill_mode NEAREST clamps the same way) and the
    value truncated (TF's uint8 output truncates too).
    """
    height, width, _ = image.shape
    a, b, c, d, e, f = tf.unstack(tf.cast(tf.stack(coefficients), tf.float32))
    centre_transform = tf.stack([a, b, c + 0.5 * (a + b) - 0.5, d, e, f + 0.5 * (d + e) - 0.5, 0.0, 0.0])
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=centre_transform[None], output_shape=[height, width], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")[0]
    x = tf.range(width, dtype=tf.float32) + 0.5
    y = tf.range(height, dtype=tf.float32)[:, None] + 0.5
    source_x = a * x + b * y + c
    source_y = d * x + e * y + f
    inside = (source_x >= 0) & (source_x < width) & (source_y >= 0) & (source_y < height)
    return tf.where(inside[..., None], warped, _fill_pixel(fill, image.shape[-1]))


def rotate(image, degrees, fill=GREY_FILL):
    """PIL's Image.rotate(degrees) about the image centre, counter-clockwise, bilinear, uncovered area `fill`.

    Args:
        image: uint8 tensor [H, W, C].
        degrees: float scalar.
        fill: one value per channel, or one for all.

    Example:
        >>> turned = rotate(tf.zeros([32, 32, 3], tf.uint8), 30.0)
    """
    height, width, _ = image.shape
    radians = -tf.cast(degrees, tf.float64) * (math.pi / 180.0)
    cos, sin = tf.cos(radians), tf.sin(radians)
    centre_x, centre_y = width / 2.0, height / 2.0
    return _affine(image, [cos, sin, centre_x - cos * centre_x - sin * centre_y,
                           -sin, cos, centre_y + sin * centre_x - cos * centre_y], fill)


def shear_x(image, factor, fill=GREY_FILL):
    """timm's shear_x: output (x, y) samples the input at (x + factor * y, y).

    Example:
        >>> sheared = shear_x(tf.zeros([32, 32, 3], tf.uint8), 0.3)
    """
    return _affine(image, [1.0, factor, 0.0, 0.0, 1.0, 0.0], fill)


def shear_y(image, factor, fill=GREY_FILL):
    """timm's shear_y: output (x, y) samples the input at (x, y + factor * x).

    Example:
        >>> sheared = shear_y(tf.zeros([32, 32, 3], tf.uint8), -0.3)
    """
    return _affine(image, [1.0, 0.0, 0.0, factor, 1.0, 0.0], fill)


def translate_x(image, fraction, fill=GREY_FILL):
    """timm's translate_x_rel: output (x, y) samples the input at (x + fraction * W, y), i.e. moves it left.

    Example:
        >>> moved = translate_x(tf.zeros([32, 32, 3], tf.uint8), 0.25)
    """
    return _affine(image, [1.0, 0.0, fraction * image.shape[1], 0.0, 1.0, 0.0], fill)


def translate_y(image, fraction, fill=GREY_FILL):
    """timm's translate_y_rel: output (x, y) samples the input at (x, y + fraction * H), i.e. moves it up.

    Example:
        >>> moved = translate_y(tf.zeros([32, 32, 3], tf.uint8), -0.25)
    """
    return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, fraction * image.shape[0]], fill)


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
    arguments = op.level_to_arguments(tf.cast(level, tf.float64), tf.cast(sign, tf.float64))
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

    Example:
        >>> seeds = tf.random.experimental.stateless_split([0, 42], num=len(images))
        >>> dataset = tf.data.Dataset.from_tensor_slices((images, seeds)).map(
        ...     rand_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    """
    image = tf.convert_to_tensor(image)
    _check_image(image)
    op_seeds = tf.random.experimental.stateless_split(seed, num=num_ops)
    # A loop rather than num_ops copies: the 15-way choice is traced (and instantiated by tf.data) only once.
    _, image = tf.while_loop(
        lambda index, image: index < num_ops,
        lambda index, image: (index + 1, _maybe_apply_random_op(image, op_seeds[index], magnitude, magnitude_std,
                                                                fill)),
        (tf.constant(0), image))
    return image


def _maybe_apply_random_op(image, seed, magnitude, magnitude_std, fill):
    choice_seed, apply_seed, level_seed, sign_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=4))
    choice = tf.random.stateless_uniform([], choice_seed, maxval=len(RAND_AUGMENT_OPS), dtype=tf.int32)
    applied = tf.random.stateless_uniform([], apply_seed) < 0.5
    level = _draw_level(level_seed, magnitude, magnitude_std)
    sign = tf.where(tf.random.stateless_uniform([], sign_seed) > 0.5, -1.0, 1.0)
    branches = [functools.partial(apply_op, name, image, level, sign, fill) for name in RAND_AUGMENT_OPS]
    return tf.cond(applied, lambda: tf.switch_case(choice, branches), lambda: image)
