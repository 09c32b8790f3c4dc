"""Reading an image's declared width and height from its header, inside a TensorFlow graph, without decoding it.

The serving signature checks the declared size against a pixel cap before it lets the decoder allocate anything, so
a small file that declares a huge image (a "decompression bomb") is refused cheaply. Only `tf.strings.substr`,
`tf.io.decode_raw` and arithmetic are used: no file or Python ops, nothing that decodes pixels.
"""

import numpy as np
import tensorflow as tf

_NO_PROBLEM = ""
# First bytes of PNG, GIF, BMP and JPEG (the order of the parsers below); each parser checks the rest of its header.
_PREFIXES = (b"\x89PNG", b"GIF8", b"BM", b"\xff\xd8")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
# JPEG start-of-frame markers (SOF0-3, 5-7, 9-11, 13-15) hold the frame size; the others carry no size.
_JPEG_FRAME_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
_JPEG_STANDALONE_MARKERS = (0x01, *range(0xD0, 0xD8))  # no length field follows them
_JPEG_SCAN_OR_END_MARKERS = (0xDA, 0xD9)  # reaching one before a frame header means there is none
_JPEG_MAX_MARKERS = 1024  # bounds the graph loop; real files reach their frame header within a few dozen
_SEARCHING, _FOUND, _TRUNCATED, _BAD_MARKER, _NO_FRAME, _TOO_MANY_MARKERS = range(6)


def image_header_size(image_bytes):
    """Declared (width, height) of a JPEG, PNG, BMP or GIF, read from its header only, and what is wrong with it.

    Args:
        image_bytes: scalar string tensor holding an encoded image.

    Returns:
        (width, height, problem): int64 scalars (0 when unreadable) and a string scalar that is empty for a readable
        header, else starts with "unknown format", "truncated" or "corrupt" and says what was found.

    Example:
        >>> width, height, problem = image_header_size(tf.io.read_file("cat.png"))
    """
    length = tf.strings.length(image_bytes)
    branches = [lambda parse=parse: parse(image_bytes, length) for parse in (_png, _gif, _bmp, _jpeg)]
    branches.append(lambda: _unreadable("unknown format: the bytes are not a JPEG, PNG, BMP or GIF image"))
    format_index = first_match([(tf.equal(tf.strings.substr(image_bytes, 0, len(prefix)), prefix), index)
                                for index, prefix in enumerate(_PREFIXES)], len(_PREFIXES))
    return tf.switch_case(format_index, branches)


def _png(image_bytes, length):
    # Signature (8 bytes), then the IHDR chunk: length (4), type "IHDR" (4), width and height (4 each, big endian).
    header = _bytes_at(image_bytes, 0, 24)
    width, height = _number(header, 16, 4, big_endian=True), _number(header, 20, 4, big_endian=True)
    return _checked("PNG", width, height, length, 24, [
        (tf.not_equal(tf.strings.substr(image_bytes, 0, 8), _PNG_SIGNATURE), "the 8-byte PNG signature is wrong"),
        (tf.not_equal(tf.strings.substr(image_bytes, 12, 4), b"IHDR"), "the first chunk is not IHDR"),
    ])


def _gif(image_bytes, length):
    # "GIF87a" or "GIF89a", then the logical screen width and height (2 bytes each, little endian): the canvas the
    # decoder allocates.
    header = _bytes_at(image_bytes, 0, 10)
    signature = tf.strings.substr(image_bytes, 0, 6)
    return _checked("GIF", _number(header, 6, 2), _number(header, 8, 2), length, 10, [
        (tf.logical_and(tf.not_equal(signature, _GIF_SIGNATURES[0]), tf.not_equal(signature, _GIF_SIGNATURES[1])),
         "the signature is neither GIF87a nor GIF89a"),
    ])


def _bmp(image_bytes, length):
    # "BM", file header to byte 14, then the info header: its size (4), width and height (4 each, little endian,
    # signed; a negative height means rows stored top-down). TensorFlow's decoder reads the same fields.
    header = _bytes_at(image_bytes, 0, 26)
    width, height = _signed_32(_number(header, 18, 4)), tf.abs(_signed_32(_number(header, 22, 4)))
    return _checked("BMP", width, height, length, 26, [])


def _jpeg(image_bytes, length):
    # Walk the marker segments after SOI (FFD8) up to the first start-of-frame, which holds the height and width
    # (2 bytes each, big endian, at offsets 5 and 7 of the segment).
    def keep_searching(position, status, width, height):
        return tf.equal(status, _SEARCHING)

    def next_segment(position, status, width, height):
        segment = _bytes_at(image_bytes, position, 9)
        marker = segment[1]
        is_frame, is_standalone, ends = (tf.reduce_any(tf.equal(marker, markers)) for markers in (
            _JPEG_FRAME_MARKERS, _JPEG_STANDALONE_MARKERS, _JPEG_SCAN_OR_END_MARKERS))
        is_fill = tf.equal(marker, 0xFF)  # a marker may be preceded by any number of FF fill bytes
        segment_length = tf.cast(_number(segment, 2, 2, big_endian=True), tf.int32)
        status = first_match([
            (position + 4 > length, _TRUNCATED),
            (tf.not_equal(segment[0], 0xFF), _BAD_MARKER),
            (tf.logical_and(is_frame, position + 9 > length), _TRUNCATED),
            (is_frame, _FOUND),
            (ends, _NO_FRAME),
            (tf.logical_not(is_fill | is_standalone) & (segment_length < 2), _BAD_MARKER),
        ], _SEARCHING)
        step = first_match([(is_fill, 1), (is_standalone, 2)], 2 + segment_length)
        frame_height, frame_width = _number(segment, 5, 2, big_endian=True), _number(segment, 7, 2, big_endian=True)
        return position + step, status, frame_width, frame_height

    start = (tf.constant(2), tf.constant(_SEARCHING), tf.constant(0, tf.int64), tf.constant(0, tf.int64))
    _, status, width, height = tf.while_loop(
        keep_searching, next_segment, start, maximum_iterations=_JPEG_MAX_MARKERS)
    status = tf.where(tf.equal(status, _SEARCHING), _TOO_MANY_MARKERS, status)
    problem = first_match([
        (tf.equal(status, _TRUNCATED), tf.strings.format(
            "truncated: the JPEG ends after {} bytes, before its frame header (SOF marker)", length)),
        (tf.equal(status, _BAD_MARKER), "corrupt: the marker segments of the JPEG are malformed"),
        (tf.equal(status, _NO_FRAME), "corrupt: the JPEG has no frame header (SOF marker) before its image data"),
        (tf.equal(status, _TOO_MANY_MARKERS),
         f"corrupt: the JPEG has no frame header (SOF marker) in its first {_JPEG_MAX_MARKERS} markers"),
    ], _NO_PROBLEM)
    return _checked("JPEG", width, height, length, 0, [], problem)


def _checked(format_name, width, height, length, header_length, corruptions, problem=_NO_PROBLEM):
    """(width, height, problem) with the first of: truncation, a failed corruption check, a zero size."""
    problem = first_match([
        (length < header_length, tf.strings.format(
            f"truncated: a {format_name} header needs {header_length} bytes, got {{}}", length)),
        *((failed, f"corrupt: {message}") for failed, message in corruptions),
        (tf.not_equal(problem, _NO_PROBLEM), problem),
        (tf.logical_or(width <= 0, height <= 0), tf.strings.format(
            f"corrupt: the {format_name} header declares {{}}x{{}} pixels (width x height)", (width, height))),
    ], _NO_PROBLEM)
    return width, height, problem


def _unreadable(problem):
    return tf.constant(0, tf.int64), tf.constant(0, tf.int64), tf.constant(problem)


def _bytes_at(image_bytes, position, count):
    """`count` bytes from `position` as int64, zero-padded past the end (so reading never fails)."""
    position = tf.minimum(position, tf.strings.length(image_bytes))
    chunk = tf.strings.substr(image_bytes, position, count)
    return tf.cast(tf.io.decode_raw(chunk, tf.uint8, fixed_length=count), tf.int64)


def _number(header, start, size, big_endian=False):
    """The unsigned integer in bytes `start` to `start + size` of `header` (an int64 vector of bytes)."""
    weights = 256 ** np.arange(size, dtype=np.int64)
    return tf.reduce_sum(header[start:start + size] * (weights[::-1] if big_endian else weights))


def _signed_32(value):
    return tf.where(value >= 2**31, value - 2**32, value)


def first_match(cases, default):
    """The value of the first (condition, value) pair whose condition holds, else `default` (scalar tensors).

    Example:
        >>> first_match([(length == 0, "empty"), (length > 10, "too long")], "")
    """
    result = tf.convert_to_tensor(default)
    for condition, value in reversed(cases):
        result = tf.where(condition, tf.convert_to_tensor(value, dtype_hint=result.dtype), result)
    return result
