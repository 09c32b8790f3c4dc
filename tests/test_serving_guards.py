"""The in-graph guards of the serving signature: image header sizes read without decoding, and their error messages."""

import io
import struct

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from keras_vit.data.decode import decode_image
from keras_vit.export import guarded_decode_image
from keras_vit.export.image_header import image_header_size

WIDTH, HEIGHT = 30, 20
IMAGE = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def _encoded(image_format, **options):
    buffer = io.BytesIO()
    PIL.Image.fromarray(IMAGE).save(buffer, image_format, **options)
    return buffer.getvalue()


def _with_jpeg_comment_and_fill_bytes(jpeg):
    comment = b"x" * 3000
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + b"\xff\xff" + jpeg[2:]


def _top_down_bmp(bmp):
    return bmp[:22] + struct.pack("<i", -HEIGHT) + bmp[26:]


ENCODINGS = {
    "png": _encoded("PNG"),
    "jpeg": _encoded("JPEG"),
    "progressive jpeg": _encoded("JPEG", progressive=True),
    "jpeg with comment and fill bytes": _with_jpeg_comment_and_fill_bytes(_encoded("JPEG")),
    "gif": _encoded("GIF"),
    "bmp": _encoded("BMP"),
    "top-down bmp": _top_down_bmp(_encoded("BMP")),
}

header_size = tf.function(image_header_size, autograph=False)
guarded = tf.function(lambda data: guarded_decode_image(data, (16, 16), 3), autograph=False)


@pytest.mark.parametrize("name", ENCODINGS)
def test_header_gives_the_size_the_decoder_finds(name):
    width, height, problem = header_size(tf.constant(ENCODINGS[name]))
    assert (int(width), int(height), problem.numpy()) == (WIDTH, HEIGHT, b"")
    assert tf.io.decode_image(ENCODINGS[name], expand_animations=False).shape[:2] == (HEIGHT, WIDTH)


@pytest.mark.parametrize("name", ENCODINGS)
def test_images_that_pass_are_decoded_exactly_as_in_training(name):
    data = tf.constant(ENCODINGS[name])
    np.testing.assert_array_equal(guarded(data), decode_image(data, (16, 16), 3))


PNG, JPEG = ENCODINGS["png"], ENCODINGS["jpeg"]
REFUSED = {
    "empty": (b"", "empty: the image has 0 bytes"),
    "too many bytes": (PNG + bytes(100), f"too many bytes: the image has {len(PNG) + 100} bytes, the limit is"),
    "unknown format": (b"RIFF\x00\x00WEBPVP8 ", "unknown format: the bytes are not a JPEG, PNG, BMP or GIF image"),
    "truncated png": (PNG[:20], "truncated: a PNG header needs 24 bytes, got 20"),
    "truncated gif": (ENCODINGS["gif"][:7], "truncated: a GIF header needs 10 bytes, got 7"),
    "truncated bmp": (ENCODINGS["bmp"][:25], "truncated: a BMP header needs 26 bytes, got 25"),
    "truncated jpeg": (JPEG[:30], "truncated: the JPEG ends after 30 bytes, before its frame header"),
    "corrupt png signature": (PNG[:5] + b"XXX" + PNG[8:], "corrupt: the 8-byte PNG signature is wrong"),
    "corrupt png chunk": (PNG[:12] + b"IDAT" + PNG[16:], "corrupt: the first chunk is not IHDR"),
    "corrupt png size": (PNG[:16] + bytes(4) + PNG[20:], "corrupt: the PNG header declares 0x20 pixels"),
    "corrupt gif": (b"GIF80a" + ENCODINGS["gif"][6:], "corrupt: the signature is neither GIF87a nor GIF89a"),
    "corrupt jpeg marker": (JPEG[:2] + b"\xff\xe0\x00\x10" + b"\x00" * 14 + b"junk", "corrupt: the marker segments"),
    "jpeg without frame": (b"\xff\xd8\xff\xda\x00\x08" + bytes(40), "corrupt: the JPEG has no frame header"),
    "too many pixels": (PNG, "too many pixels: the header declares 30x20 (width x height) = 600 pixels, the limit "
                             "is 599"),
}
strictly_guarded = tf.function(
    lambda data: guarded_decode_image(data, (16, 16), 3, max_bytes=len(PNG) + 99, max_pixels=599), autograph=False)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_bytes_raise_invalid_argument_saying_why(name):
    data, message = REFUSED[name]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"assertion failed: \[") as error:
        strictly_guarded(tf.constant(data))
    assert message in error.value.message
