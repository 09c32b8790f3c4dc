"""Reading numbers out of encoded image bytes inside a TensorFlow graph (the header parsers' common tools)."""

import typing

import numpy as np
import tensorflow as tf


def bytes_at(image_bytes, position, count):
    """`count` bytes from `position` as int64, zero-padded past the end (so reading never fails).

    Example:
        >>> bytes_at(tf.constant(b"GIF89a"), 4, 4).numpy()
        array([57, 97,  0,  0])
    """
    length = tf.cast(tf.strings.length(image_bytes), tf.int64)
    position = tf.cast(tf.minimum(tf.cast(position, tf.int64), length), tf.int32)
    chunk = tf.strings.substr(image_bytes, position, count)
    return tf.cast(tf.io.decode_raw(chunk, tf.uint8, fixed_length=count), tf.int64)


def number(header, start, size, big_endian=False):
    """The unsigned integer in bytes `start` to `start + size` of `header` (an int64 vector of bytes).

    Example:
        >>> number(tf.constant([1, 2], tf.int64), 0, 2).numpy()  # little endian: 1 + 2 * 256
        513
    """
    weights = 256 ** np.arange(size, dtype=np.int64)
    return tf.reduce_sum(header[start:start + size] * (weights[::-1] if big_endian else weights))


def first_match(cases, default):
    """The value of the first (condition, value) pair whose condition holds, else `default` (scalar tensors).

    Example:
        >>> first_match([(length == 0, "empty"), (length > 10, "too long")], "")
    """
    result = tf.convert_to_tensor(default)
    for condition, value in reversed(cases):
        result = tf.where(condition, tf.convert_to_tensor(value, dtype_hint=result.dtype), result)
    return result


class ImageHeader(typing.NamedTuple):
    """What an image header declares, as scalar tensors: enough to bound the decoder's memory and time beforehand.

    Attributes:
        width, height: int64, the canvas the decoder returns (0 when unreadable).
        frames: int64, frames the decoder reads (GIF: its image descriptors; 1 for the other formats).
        frame_pixels: int64, width x height of all those frames together (what a GIF decoder allocates for them).
        scans: int64, start-of-scan markers of a JPEG (passes of the decoder over the image); 0 for the others.
        problem: string, empty for a readable header, else starts with "unknown format", "truncated" or "corrupt"
            and says what was found.
    """

    width: tf.Tensor
    height: tf.Tensor
    frames: tf.Tensor
    frame_pixels: tf.Tensor
    scans: tf.Tensor
    problem: tf.Tensor


def checked_header(format_name, width, height, length, header_length, corruptions, problem="", frames=1,
                   frame_pixels=None, scans=0):
    """The `ImageHeader` of a parse, whose problem is the first of: truncation, a failed corruption check, the
    parser's own `problem`, a zero size.

    Example:
        >>> checked_header("PNG", width, height, length, 24, [(signature_is_wrong, "the PNG signature is wrong")])
    """
    problem = first_match([
        (length < header_length, tf.strings.format(
            f"truncated: a {format_name} header needs {header_length} bytes, got {{}}", length)),
        *((failed, f"corrupt: {message}") for failed, message in corruptions),
        (tf.not_equal(problem, ""), problem),
        (tf.logical_or(width <= 0, height <= 0), tf.strings.format(
            f"corrupt: the {format_name} header declares {{}}x{{}} pixels (width x height)", (width, height))),
    ], "")
    counts = (width, height, frames, width * height if frame_pixels is None else frame_pixels, scans)
    return ImageHeader(*(tf.cast(count, tf.int64) for count in counts), problem)
