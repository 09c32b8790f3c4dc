"""Decoding untrusted image bytes: caps on what the headers declare, checked in the graph before the decoder runs.

What each guard bounds, per image, once its header has passed (P = `max_pixels`, the canvas width x height):

- Every format: the bytes (`max_bytes`) and the canvas (P). The decoder returns the canvas as uint8 (3 bytes a
  pixel for RGB) and `decode_image` resizes it straight from uint8, so the decoded image costs ~3P bytes besides
  what each decoder needs on top. The header walk itself costs at most one copy of the bytes.
- GIF: the decoder allocates every frame from its own image descriptor, and TensorFlow's reads all frames even when
  it returns the first. The guard walks the block structure (`keras_vit.data.gif_header`) and refuses a frame that
  reaches outside the logical screen, more than `max_frames` frames, and frames whose pixels add up to more than P:
  memory ~P bytes of frame indices + the canvas; time one LZW pass over at most P pixels.
- JPEG: a progressive JPEG keeps a coefficient buffer (~2 bytes per pixel and colour component) and makes one pass
  over it per scan; thousands of tiny scans make a CPU-time bomb. The guard counts the start-of-scan markers and
  refuses more than `max_jpeg_scans`: time at most that many passes over P pixels.
- PNG: the decoder allocates the canvas and one row; interlaced and 16-bit images within P cost no more. Ancillary
  chunks (text, compressed text, ICC profiles) are not inflated by TensorFlow's decoder (a 1 GiB zTXt chunk in a
  1 MiB file costs nothing), so no guard beyond P is needed: time is one inflate of the pixel data.
- BMP: uncompressed rows of width x bits, so the file must hold offset + rows x height bytes; the guard refuses
  less ("truncated") before the decoder sees it, which bounds time and memory by the file itself.

The serving signature (`keras_vit.export.export_saved_model`) uses the serving defaults below; image files read for
training, evaluation and prediction use the more generous file defaults, so a bomb in a folder is reported by path
instead of eating the machine. Measured figures are in README's serving section and `benchmarks/decode_memory.py`.
"""

import tensorflow as tf

from keras_vit.data.decode import decode_image
from keras_vit.data.header_bytes import ImageHeader, first_match
from keras_vit.data.image_header import read_image_header

DEFAULT_MAX_BYTES = 16 * 2**20
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_FRAMES = 100
DEFAULT_MAX_JPEG_SCANS = 100
# Image files on disk (training folders, `keras-vit predict`): photos of up to 64 megapixels, files of up to 1 GiB.
FILE_LIMITS = {"max_bytes": 2**30, "max_pixels": 8192 * 8192, "max_frames": DEFAULT_MAX_FRAMES,
               "max_jpeg_scans": DEFAULT_MAX_JPEG_SCANS}


def image_problem(image_bytes, max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS,
                  max_frames=DEFAULT_MAX_FRAMES, max_jpeg_scans=DEFAULT_MAX_JPEG_SCANS):
    """What is wrong with encoded image bytes before decoding them: an empty string when nothing is.

    The checks, in order: not empty; at most `max_bytes` bytes; a JPEG, PNG, BMP or GIF header that is complete and
    sound; at most `max_pixels` width x height declared in it; a GIF of at most `max_frames` frames whose frames
    hold at most `max_pixels` pixels together; a JPEG of at most `max_jpeg_scans` scans. The problem starts with
    "empty", "too many bytes", "unknown format", "truncated", "corrupt", "too many pixels", "too many frames" or
    "too many scans". Bytes over `max_bytes` are not parsed at all.

    Args:
        image_bytes: scalar string tensor holding an encoded image.
        max_bytes: largest accepted encoded size.
        max_pixels: largest accepted width x height, as declared in the header, and largest number of pixels of
            all GIF frames together.
        max_frames: largest accepted number of GIF frames.
        max_jpeg_scans: largest accepted number of JPEG scans (progressive JPEGs have about 10).

    Returns:
        string scalar tensor.

    Example:
        >>> image_problem(tf.constant(b"GIF89a"), max_pixels=1024 * 1024).numpy()
        b'truncated: a GIF header needs 13 bytes, got 6'
    """
    length = tf.strings.length(image_bytes)
    parsed = tf.logical_and(length > 0, length <= max_bytes)
    zero = tf.constant(0, tf.int64)
    header = ImageHeader(*tf.cond(parsed, lambda: tuple(read_image_header(image_bytes)),
                                  lambda: (zero, zero, zero, zero, zero, tf.constant(""))))
    pixels = header.width * header.height
    return first_match([
        (tf.equal(length, 0), "empty: the image has 0 bytes"),
        (length > max_bytes, tf.strings.format("too many bytes: the image has {} bytes, the limit is {}",
                                               (length, max_bytes))),
        (tf.not_equal(header.problem, ""), header.problem),
        (pixels > max_pixels, tf.strings.format(
            "too many pixels: the header declares {}x{} (width x height) = {} pixels, the limit is {}",
            (header.width, header.height, pixels, max_pixels))),
        (header.frames > max_frames, tf.strings.format(
            "too many frames: the GIF has {} frames, the limit is {}", (header.frames, max_frames))),
        (header.frame_pixels > max_pixels, tf.strings.format(
            "too many pixels: the {} frames of the GIF hold {} pixels together, the limit is {}",
            (header.frames, header.frame_pixels, max_pixels))),
        (header.scans > max_jpeg_scans, tf.strings.format(
            "too many scans: the JPEG has {} start-of-scan markers, the limit is {}", (header.scans, max_jpeg_scans))),
    ], "")


def guarded_decode_image(image_bytes, image_size, channels, max_bytes=DEFAULT_MAX_BYTES,
                         max_pixels=DEFAULT_MAX_PIXELS, max_frames=DEFAULT_MAX_FRAMES,
                         max_jpeg_scans=DEFAULT_MAX_JPEG_SCANS):
    """`decode_image`, run only once the bytes have passed `image_problem` (graph-safe; no Python or file ops).

    A failed check raises an `InvalidArgumentError` whose message holds the problem in brackets
    ("assertion failed: [too many pixels: ...]"). Bytes whose headers pass but whose image data is broken fail in
    the decoder, with its message.

    Args:
        image_bytes: scalar string tensor holding an encoded image.
        image_size: (height, width) of the output.
        channels: 1 or 3.
        max_bytes, max_pixels, max_frames, max_jpeg_scans: the caps of `image_problem`.

    Returns:
        float32 tensor of shape (height, width, channels) in [0, 255], exactly what `decode_image` returns.

    Example:
        >>> pixels = guarded_decode_image(tf.constant(png_bytes), (32, 32), 3, max_pixels=1024 * 1024)
    """
    problem = image_problem(image_bytes, max_bytes, max_pixels, max_frames, max_jpeg_scans)
    check = tf.debugging.Assert(tf.equal(problem, ""), [problem], name="image_guards")
    with tf.control_dependencies([check]):
        image_bytes = tf.identity(image_bytes)
    return decode_image(image_bytes, image_size, channels)


@tf.function(autograph=False)
def file_image_problem(image_bytes):
    """`image_problem` with the limits of image files (`FILE_LIMITS`), compiled once for callers that check one
    file at a time in eager mode (the header walks are graph loops).

    Example:
        >>> file_image_problem(tf.io.read_file("cat.gif")).numpy()
        b''
    """
    return image_problem(image_bytes, **FILE_LIMITS)
