"""The one function that turns encoded image bytes into model input for prediction and serving: the evaluation
view of training (`keras_vit.data.views.eval_view`), so that a served model sees the pixels it was evaluated on."""

import tensorflow as tf

from keras_vit.data.views import eval_view


def decode_image(image_bytes, image_size, channels):
    """Decodes JPEG, PNG, BMP or GIF (first frame) bytes to float32 pixels in [0, 255] of `image_size`.

    Exactly the evaluation view of training (`keras_vit.data.views`): from 64 pixels a side up, the centre
    87.5% of the shorter side is cropped and resized; smaller sizes resize the whole image. Resizing is bilinear
    (half-pixel centres, no antialiasing), rounded to whole values. `keras-vit predict` and the exported serving
    signature call this function.

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
    return tf.cast(eval_view(image_bytes, tuple(image_size), channels), tf.float32)
