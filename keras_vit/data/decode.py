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
        channels: 1 (grayscale) or 3 (RGB); the image is converted to it.

    Returns:
        float32 tensor of shape (height, width, channels).

    Example:
        >>> pixels = decode_image(tf.io.read_file("cat.jpg"), (224, 224), 3)
    """
    image = tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), image_size)
    image = tf.ensure_shape(tf.clip_by_value(image, 0.0, 255.0), (*image_size, channels))
    return image
