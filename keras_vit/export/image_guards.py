"""Decoding untrusted image bytes inside a serving graph: caps on bytes and declared pixels, checked before decoding."""

import tensorflow as tf

from keras_vit.data.decode import decode_image
from keras_vit.export.image_header import first_match, image_header_size

DEFAULT_MAX_BYTES = 16 * 2**20
DEFAULT_MAX_PIXELS = 4096 * 4096


def guarded_decode_image(image_bytes, image_size, channels, max_bytes=DEFAULT_MAX_BYTES,
                         max_pixels=DEFAULT_MAX_PIXELS):
    """`decode_image`, run only once the bytes have passed the guards (graph-safe; no Python or file ops).

    The guards, in order: not empty; at most `max_bytes` bytes; a JPEG, PNG, BMP or GIF header that is complete and
    sound; at most `max_pixels` width x height declared in it. The first that fails raises an `InvalidArgumentError`
    whose message starts with "empty", "too many bytes", "unknown format", "truncated", "corrupt" or "too many
    pixels". Bytes whose header passes but whose image data is broken fail in the decoder, with its message.

    Args:
        image_bytes: scalar string tensor holding an encoded image.
        image_size: (height, width) of the output.
        channels: 1 or 3.
        max_bytes: largest accepted encoded size.
        max_pixels: largest accepted width x height, as declared in the header.

    Returns:
        float32 tensor of shape (height, width, channels) in [0, 255], exactly what `decode_image` returns.

    Example:
        >>> pixels = guarded_decode_image(tf.constant(png_bytes), (32, 32), 3, max_pixels=1024 * 1024)
    """
    length = tf.strings.length(image_bytes)
    width, height, header_problem = image_header_size(image_bytes)
    problem = first_match([
        (tf.equal(length, 0), "empty: the image has 0 bytes"),
        (length > max_bytes, tf.strings.format("too many bytes: the image has {} bytes, the limit is {}",
                                               (length, max_bytes))),
        (tf.not_equal(header_problem, ""), header_problem),
        (width * height > max_pixels, tf.strings.format(
            "too many pixels: the header declares {}x{} (width x height) = {} pixels, the limit is {}",
            (width, height, width * height, max_pixels))),
    ], "")
    check = tf.debugging.Assert(tf.equal(problem, ""), [problem], name="image_guards")
    with tf.control_dependencies([check]):
        image_bytes = tf.identity(image_bytes)
    return decode_image(image_bytes, image_size, channels)
