"""From an encoded image (or decoded pixels) to the uint8 pixels a model sees: the evaluation view and the training
crop, each decoding only what it keeps.

Evaluation (also prediction and serving, through `keras_vit.data.decode_image`): images of at least
`CENTRE_CROP_FROM` pixels a side are scaled so that the target covers `EVAL_CROP_FRACTION` of the shorter side, and
the centre is cropped (timm's evaluation transform, crop_pct 0.875); smaller targets (28x28, 32x32 presets) resize
the whole image, as their datasets are already framed. Training: a random crop of the original image, 8% to 100%
of its area with an aspect ratio of 3/4 to 4/3 (the Inception / DeiT / timm defaults), resized to the target.
JPEG crops are decoded with `tf.image.decode_and_crop_jpeg`, so only the crop's blocks are decoded; other formats
are decoded whole, then cropped. Resizing is bilinear with half-pixel centres and no antialiasing, then rounded to
uint8.

Time and memory per image: one decode (of the crop for JPEG) to uint8, one resize; the canvas of the decoded image
is bounded by the image guards (`keras_vit.data.image_guards`), which every encoded image passes first.
"""

import tensorflow as tf

from keras_vit.data.image_header import read_image_header

EVAL_CROP_FRACTION = 0.875
CENTRE_CROP_FROM = 64  # target sides from which evaluation centre-crops
CROP_AREA = (0.08, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)
_JPEG = b"\xff\xd8"


def eval_crop_fraction(image_size):
    """The fraction of the shorter side the evaluation view keeps for a target `image_size`; None resizes whole.

    Example:
        >>> eval_crop_fraction((224, 224)), eval_crop_fraction((32, 32))
        (0.875, None)
    """
    return EVAL_CROP_FRACTION if min(image_size) >= CENTRE_CROP_FROM else None


def eval_view(image, image_size, channels, encoded=True):
    """The evaluation pixels of one image: `image_size`, `channels`, uint8.

    Args:
        image: scalar string tensor of encoded bytes (JPEG, PNG, BMP, GIF: first frame), or (encoded=False) decoded
            pixels (height, width, 1 or 3) of any numeric dtype in [0, 255].
        image_size: (height, width) of the output.
        channels: 1 or 3.
        encoded: whether `image` is encoded bytes.

    Returns:
        uint8 tensor (height, width, channels).

    Example:
        >>> eval_view(tf.io.read_file("cat.jpg"), (224, 224), 3).shape
        TensorShape([224, 224, 3])
    """
    fraction = eval_crop_fraction(image_size)
    if fraction is None:
        return resized(_decoded(image, channels, encoded), image_size)
    height, width = _source_size(image, encoded)
    scale = tf.maximum(image_size[0] / height, image_size[1] / width) / fraction
    crop_height = tf.minimum(height, tf.cast(tf.round(image_size[0] / scale), tf.int32))
    crop_width = tf.minimum(width, tf.cast(tf.round(image_size[1] / scale), tf.int32))
    window = tf.stack([(height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width])
    return resized(_decoded_window(image, window, channels, encoded), image_size)


def train_crop(image, seed, image_size, channels, encoded=True, area=CROP_AREA, aspect=CROP_ASPECT):
    """A random-resized crop of the original image (the training view of the `deit` augmentation), uint8.

    The window is drawn by `tf.image.stateless_sample_distorted_bounding_box` (10 attempts; the whole image when
    none fits, where timm falls back to a centre crop).

    Args:
        image: as `eval_view`.
        seed: int tensor of shape [2], the stateless seed of the draw.
        image_size: (height, width) of the output.
        channels: 1 or 3.
        encoded: whether `image` is encoded bytes.
        area: range of the crop's fraction of the image area.
        aspect: range of the crop's width / height.

    Returns:
        uint8 tensor (height, width, channels).

    Example:
        >>> train_crop(tf.io.read_file("cat.jpg"), tf.constant([0, 1]), (224, 224), 3).shape
        TensorShape([224, 224, 3])
    """
    height, width = _source_size(image, encoded)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.stack([height, width, channels]), tf.zeros((1, 0, 4)), seed=seed, min_object_covered=0.0,
        aspect_ratio_range=aspect, area_range=area, max_attempts=10, use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    return resized(_decoded_window(image, window, channels, encoded), image_size)


def _source_size(image, encoded):
    """(height, width) int32 of an encoded image from its header, or of decoded pixels from their shape."""
    if not encoded:
        shape = tf.shape(image)
        return shape[0], shape[1]
    size = tf.cond(tf.equal(tf.strings.substr(image, 0, 2), _JPEG),
                   lambda: tf.image.extract_jpeg_shape(image)[:2],  # a fast C++ header read
                   lambda: tf.cast(tf.stack(read_image_header(image)[1::-1]), tf.int32))
    return size[0], size[1]


def _decoded_window(image, window, channels, encoded):
    """The pixels inside window (top, left, height, width): only those decoded for a JPEG."""
    if not encoded:
        return _to_channels(tf.image.crop_to_bounding_box(image, *tf.unstack(window)), channels)

    def whole_then_crop():
        return tf.image.crop_to_bounding_box(_decoded(image, channels), *tf.unstack(window))

    return tf.cond(tf.equal(tf.strings.substr(image, 0, 2), _JPEG),
                   lambda: tf.image.decode_and_crop_jpeg(image, window, channels=channels), whole_then_crop)


def _decoded(image, channels, encoded=True):
    """All pixels of an image as uint8 with `channels` channels (gray repeated, RGB weighted, alpha dropped)."""
    if not encoded:
        return _to_channels(image, channels)
    if channels == 3:
        return tf.io.decode_image(image, channels=3, expand_animations=False)
    # TensorFlow's GIF and BMP decoders give no gray: decode those to RGB, then weight to gray
    signature = tf.strings.substr(image, 0, 2)
    return tf.cond(
        tf.logical_or(tf.equal(signature, _JPEG), tf.equal(signature, b"\x89P")),
        lambda: tf.io.decode_image(image, channels=1, expand_animations=False),
        lambda: _to_channels(tf.io.decode_image(image, channels=3, expand_animations=False), 1))


def _to_channels(pixels, channels):
    """Pixels with `channels` channels: RGB weighted to gray, gray repeated to RGB."""
    have = pixels.shape[-1]
    if have == channels:
        return pixels
    if channels == 1:
        return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(pixels, tf.float32))), pixels.dtype)
    return tf.image.grayscale_to_rgb(pixels)


def resized(pixels, image_size):
    """Bilinear resize (half-pixel centres) of an image or a batch to `image_size`, rounded to uint8."""
    pixels = tf.image.resize(pixels, image_size)
    return tf.ensure_shape(tf.cast(tf.round(tf.clip_by_value(pixels, 0.0, 255.0)), tf.uint8),
                           (*pixels.shape[:-3], *image_size, pixels.shape[-1]))
