"""The one function that turns encoded image bytes into model input: used by training, prediction and serving."""

import tensorflow as tf


def decode_image(image_bytes, image_size, channels):
    """Decodes JPEG, PNG, BMP or GIF (first frame) bytes to float32 pixels in [0, 255] of `image_size`.

    Resizing is bilinear (half-pixel centres, no antialiasing), then clipped to [0, 255]. Training on image folders,
    `keras-vit predict` and the exported serving signature all call this function, so a model sees the same pixels
    in each.

    Args:
        image_bytes: scalar string tensor holding an encoded image.
        image_size: (height, width) of the output.
        channels: 1 (grayscale) or 3 (RGB); the image is converted to it, whatever its own channel count
            (gray, gray+alpha, RGB, RGBA, palette GIF): gray is repeated, RGB is weighted to gray, alpha is dropped.

    Returns:
        float32 tensor of shape (height, width, channels).

    Example:
        >>> pixels = decode_image(tf.io.read_file("cat.jpg"), (224, 224), 3)
    """
    if channels == 1:  # TensorFlow's GIF and BMP decoders give no gray: decode those to RGB, then weight to gray
        signature = tf.strings.substr(image_bytes, 0, 2)
        image = tf.cond(
            tf.logical_or(tf.equal(signature, b"\xff\xd8"), tf.equal(signature, b"\x89P")),  # JPEG, PNG
            lambda: tf.io.decode_image(image_bytes, channels=1, expand_animations=False),
            lambda: tf.image.rgb_to_grayscale(tf.io.decode_image(image_bytes, channels=3, expand_animations=False)))
    else:
        image = tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)
    return resize_pixels(image, image_size)


def resize_pixels(image, image_size):
    """Resizes decoded pixels (any numeric dtype, [0, 255]) to float32 `image_size` exactly as `decode_image` does.

    Used by sources that hold pixels rather than encoded files (IDX files, TFDS arrays), so every source resizes
    the same way.

    Example:
        >>> resize_pixels(tf.zeros((28, 28, 1), tf.uint8), (32, 32)).shape
        TensorShape([32, 32, 1])
    """
    image = tf.image.resize(image, image_size)  # float32 out; from uint8 it needs no full-size float32 copy
    return tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (*image_size, image.shape[-1]))
