"""Reading what an image declares (size, frames, scans) from its encoded bytes, inside a TensorFlow graph, without
decoding it.

The guards (`keras_vit.data.image_guards`) check these declarations against caps before they let the decoder
allocate anything, so a small file that declares a huge image (a "decompression bomb") is refused cheaply. Only
`tf.strings.substr`, `tf.io.decode_raw`, graph loops and arithmetic are used: no file or Python ops, nothing that
decodes pixels.
"""

import tensorflow as tf

from keras_vit.data.gif_header import gif_header
from keras_vit.data.header_bytes import ImageHeader, bytes_at, checked_header, first_match, number

# First bytes of PNG, GIF, BMP and JPEG (the order of the parsers below); each parser checks the rest of its header.
_PREFIXES = (b"\x89PNG", b"GIF8", b"BM", b"\xff\xd8")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (SOF0-3, 5-7, 9-11, 13-15) hold the frame size; the others carry no size.
_JPEG_FRAME_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
_JPEG_STANDALONE_MARKERS = (0x01, *range(0xD0, 0xD8))  # no length field follows them
_JPEG_SCAN_OR_END_MARKERS = (0xDA, 0xD9)  # reaching one before a frame header means there is none
_JPEG_MAX_MARKERS = 1024  # bounds the graph loop; real files reach their frame header within a few dozen
_SEARCHING, _FOUND, _TRUNCATED, _BAD_MARKER, _NO_FRAME, _TOO_MANY_MARKERS = range(6)


def read_image_header(image_bytes):
    """What a JPEG, PNG, BMP or GIF declares in its headers, and what is wrong with them.

    Time: constant for PNG and BMP; for JPEG one graph-loop iteration per marker segment before the frame header
    (at most 1024) and one pass over the bytes (counting start-of-scan markers); for GIF one iteration
    per block or sub-block (at most `keras_vit.data.gif_header.GIF_MAX_BLOCKS`). Memory: a copy of the bytes at most.

    Args:
        image_bytes: scalar string tensor holding an encoded image.

    Returns:
        ImageHeader (`keras_vit.data.header_bytes`): width and height of the canvas (0 when unreadable), frames,
        pixels of all frames, JPEG scans, and a problem string that is empty for a readable header, else starts
        with "unknown format", "truncated" or "corrupt" and says what was found.

    Example:
        >>> header = read_image_header(tf.io.read_file("cat.png"))
        >>> int(header.width), int(header.height), header.problem.numpy()
        (500, 375, b'')
    """
    length = tf.strings.length(image_bytes)
    branches = [lambda parse=parse: parse(image_bytes, length) for parse in (_png, gif_header, _bmp, _jpeg)]
    branches.append(lambda: _unreadable("unknown format: the bytes are not a JPEG, PNG, BMP or GIF image"))
    format_index = first_match([(tf.equal(tf.strings.substr(image_bytes, 0, len(prefix)), prefix), index)
                                for index, prefix in enumerate(_PREFIXES)], len(_PREFIXES))
    return ImageHeader(*tf.switch_case(format_index, branches))


def _png(image_bytes, length):
    # Signature (8 bytes), then the IHDR chunk: length (4), type "IHDR" (4), width and height (4 each, big endian).
    header = bytes_at(image_bytes, 0, 24)
    width, height = number(header, 16, 4, big_endian=True), number(header, 20, 4, big_endian=True)
    return checked_header("PNG", width, height, length, 24, [
        (tf.not_equal(tf.strings.substr(image_bytes, 0, 8), _PNG_SIGNATURE), "the 8-byte PNG signature is wrong"),
        (tf.not_equal(tf.strings.substr(image_bytes, 12, 4), b"IHDR"), "the first chunk is not IHDR"),
    ])


def _bmp(image_bytes, length):
    # "BM", the file size (4), 4 reserved bytes, the offset of the pixels (4), then the info header: its size (4),
    # width and height (4 each, little endian, signed; a negative height means rows stored top-down), planes (2) and
    # bits per pixel (2). TensorFlow's decoder reads the same fields, and takes only uncompressed pixels: rows of
    # width x bits rounded up to 4 bytes, so the file holds at least offset + row bytes x height bytes.
    header = bytes_at(image_bytes, 0, 30)
    width, height = _signed_32(number(header, 18, 4)), tf.abs(_signed_32(number(header, 22, 4)))
    pixels_offset, bits = number(header, 10, 4), number(header, 28, 2)
    row_bytes = (bits * tf.maximum(width, 0) + 31) // 32 * 4
    needed = tf.cast(pixels_offset, tf.float64) + tf.cast(row_bytes, tf.float64) * tf.cast(height, tf.float64)
    problem = tf.where(tf.cast(length, tf.float64) < needed, tf.strings.format(
        "truncated: the BMP declares {}x{} pixels of {} bits from byte {}, which needs {} bytes; it has {}",
        (width, height, bits, pixels_offset, tf.cast(needed, tf.int64), length)), "")
    return checked_header("BMP", width, height, length, 26, [], problem)


def _jpeg(image_bytes, length):
    # Walk the marker segments after SOI (FFD8) up to the first start-of-frame, which holds the height and width
    # (2 bytes each, big endian, at offsets 5 and 7 of the segment).
    def keep_searching(position, status, width, height):
        return tf.equal(status, _SEARCHING)

    def next_segment(position, status, width, height):
        segment = bytes_at(image_bytes, position, 9)
        marker = segment[1]
        is_frame, is_standalone, ends = (tf.reduce_any(tf.equal(marker, markers)) for markers in (
            _JPEG_FRAME_MARKERS, _JPEG_STANDALONE_MARKERS, _JPEG_SCAN_OR_END_MARKERS))
        is_fill = tf.equal(marker, 0xFF)  # a marker may be preceded by any number of FF fill bytes
        segment_length = tf.cast(number(segment, 2, 2, big_endian=True), tf.int32)
        status = first_match([
            (position + 4 > length, _TRUNCATED),
            (tf.not_equal(segment[0], 0xFF), _BAD_MARKER),
            (tf.logical_and(is_frame, position + 9 > length), _TRUNCATED),
            (is_frame, _FOUND),
            (ends, _NO_FRAME),
            (tf.logical_not(is_fill | is_standalone) & (segment_length < 2), _BAD_MARKER),
        ], _SEARCHING)
        step = first_match([(is_fill, 1), (is_standalone, 2)], 2 + segment_length)
        frame_height, frame_width = number(segment, 5, 2, big_endian=True), number(segment, 7, 2, big_endian=True)
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
    ], "")
    return checked_header("JPEG", width, height, length, 0, [], problem, scans=_jpeg_scans(image_bytes))


def _jpeg_scans(image_bytes):
    """Start-of-scan markers (FF DA) anywhere in the bytes: each is one pass of the decoder over the whole image.

    Entropy-coded data never holds FF DA (an FF there is followed by 00 or a restart marker), so counting the byte
    pair over the whole file counts the scans, plus those of any thumbnail the metadata embeds: never fewer.
    """
    return tf.size(tf.strings.split(image_bytes, sep=b"\xff\xda"), out_type=tf.int64) - 1  # one copy of the bytes


def _unreadable(problem):
    zero = tf.constant(0, tf.int64)
    return ImageHeader(zero, zero, zero, zero, zero, tf.constant(problem))


def _signed_32(value):
    return tf.where(value >= 2**31, value - 2**32, value)
