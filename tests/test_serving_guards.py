"""The in-graph guards of decoding: what image headers declare, read without decoding, and the refusals."""

import io
import struct

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from keras_vit.data.decode import decode_image
from keras_vit.export import guarded_decode_image
from keras_vit.data.image_header import read_image_header

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

read_header = tf.function(read_image_header, autograph=False)
guarded = tf.function(lambda data: guarded_decode_image(data, (16, 16), 3), autograph=False)


@pytest.mark.parametrize("name", ENCODINGS)
def test_header_gives_the_size_the_decoder_finds(name):
    header = read_header(tf.constant(ENCODINGS[name]))
    assert (int(header.width), int(header.height), header.problem.numpy()) == (WIDTH, HEIGHT, b"")
    assert (int(header.frames), int(header.frame_pixels)) == (1, WIDTH * HEIGHT)
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
    "truncated gif": (ENCODINGS["gif"][:7], "truncated: a GIF header needs 13 bytes, got 7"),
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


def _gif_parts(gif):
    """(header with its global colour table, first frame's image block, trailer) of a one-frame GIF87a from PIL."""
    flags = gif[10]
    start = 13 + (3 * 2 ** (flags % 8 + 1) if flags >= 128 else 0)
    assert gif[start] == 0x2C and gif[-1] == 0x3B, "a GIF87a has no extension before its frame"
    return gif[:start], gif[start:-1], gif[-1:]


def _frames(count, size=(HEIGHT, WIDTH)):
    rng = np.random.default_rng(1)
    return [PIL.Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for _ in range(count)]


def _animated_gif(**options):
    first, *others = _frames(5)
    buffer = io.BytesIO()
    first.save(buffer, "GIF", save_all=True, append_images=others, **options)
    return buffer.getvalue()


GIF_HEAD, GIF_FRAME, GIF_END = _gif_parts(ENCODINGS["gif"])


def test_an_animated_gif_with_local_colour_tables_and_extensions_passes_and_gives_its_first_frame():
    gif = _animated_gif(comment=b"made by a test", loop=0, duration=40)
    assert b"NETSCAPE2.0" in gif and b"made by a test" in gif, "an application and a comment extension"
    header = read_header(tf.constant(gif))
    assert (int(header.frames), int(header.frame_pixels), header.problem.numpy()) == (5, 5 * WIDTH * HEIGHT, b"")
    first_frame = tf.io.decode_image(gif, channels=3, expand_animations=True)[0]
    np.testing.assert_array_equal(guarded(tf.constant(gif)), np.round(tf.image.resize(first_frame, (16, 16))))


def test_the_walk_reads_each_frame_descriptor_and_its_local_colour_table():
    gif = _animated_gif()
    local_tables = [gif[index + 9] >= 128 for index in range(len(gif) - 10) if gif[index] == 0x2C and
                    gif[index + 1:index + 9] == struct.pack("<HHHH", 0, 0, WIDTH, HEIGHT)]
    assert sum(local_tables) >= 4, "PIL gives the later frames their own palettes"
    assert int(read_header(tf.constant(gif)).frames) == 5


def test_a_gif_without_trailer_passes_as_the_decoder_takes_it():
    gif = ENCODINGS["gif"][:-1]
    assert tf.io.decode_image(gif, expand_animations=False).shape[:2] == (HEIGHT, WIDTH)
    assert read_header(tf.constant(gif)).problem.numpy() == b""


def _screen(gif, width, height):
    return gif[:6] + struct.pack("<HH", width, height) + gif[10:]


def _moved(frame, left, top):
    return frame[:1] + struct.pack("<HH", left, top) + frame[5:]


PROGRESSIVE_JPEG = ENCODINGS["progressive jpeg"]
STRUCTURE_LIMITS = {"max_pixels": 3 * WIDTH * HEIGHT, "max_frames": 4, "max_jpeg_scans": 9}
REFUSED_FOR_THEIR_STRUCTURE = {
    "frame larger than the screen": (_screen(ENCODINGS["gif"], 1, 1),
                                     "corrupt: frame 1 of the GIF reaches outside its 1x1 logical screen"),
    "frame moved outside the screen": (GIF_HEAD + GIF_FRAME + _moved(GIF_FRAME, 1, 0) + GIF_END,
                                       "corrupt: frame 2 of the GIF reaches outside its 30x20 logical screen"),
    "too many frames": (GIF_HEAD + GIF_FRAME * 5 + GIF_END, "too many frames: the GIF has 5 frames, the limit is 4"),
    "frames of too many pixels": (_screen(GIF_HEAD, 2 * WIDTH, HEIGHT) + GIF_FRAME * 3 + _moved(GIF_FRAME, WIDTH, 0)
                                  + GIF_END, "too many pixels: the 4 frames of the GIF hold 2400 pixels together, "
                                             "the limit is 1800"),
    "unknown gif block": (GIF_HEAD + GIF_FRAME + b"\x99" + GIF_END,
                          "corrupt: after frame 1 the GIF has a block that is neither an image, an extension nor"),
    "gif cut inside a frame": (ENCODINGS["gif"][:-20], f"truncated: the GIF ends after {len(ENCODINGS['gif']) - 20} "
                                                       f"bytes, inside a block"),
    "gif of countless short sub-blocks": (GIF_HEAD + b"\x21\xfe" + b"\x01x" * 9000 + b"\x00" + GIF_FRAME + GIF_END,
                                          "corrupt: the GIF has more blocks and short sub-blocks than 8192 steps"),
    "jpeg of too many scans": (PROGRESSIVE_JPEG,
                               "too many scans: the JPEG has 10 start-of-scan markers, the limit is 9"),
    "bmp shorter than its pixels": (ENCODINGS["bmp"][:200], "truncated: the BMP declares 30x20 pixels of 24 bits "
                                    f"from byte 54, which needs {len(ENCODINGS['bmp'])} bytes; it has 200"),
}
structurally_guarded = tf.function(lambda data: guarded_decode_image(data, (16, 16), 3, **STRUCTURE_LIMITS),
                                   autograph=False)

GUARDED_BY = {**{name: strictly_guarded for name in REFUSED},
              **{name: structurally_guarded for name in REFUSED_FOR_THEIR_STRUCTURE}}


@pytest.mark.parametrize("name", GUARDED_BY)
def test_refused_bytes_raise_invalid_argument_saying_why(name):
    data, message = {**REFUSED, **REFUSED_FOR_THEIR_STRUCTURE}[name]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"assertion failed: \[") as error:
        GUARDED_BY[name](tf.constant(data))
    assert message in error.value.message


def test_within_the_structure_limits_the_same_files_pass():
    for data in (GIF_HEAD + GIF_FRAME * 3 + GIF_END, PROGRESSIVE_JPEG, ENCODINGS["bmp"]):
        assert guarded_decode_image(tf.constant(data), (16, 16), 3, **dict(STRUCTURE_LIMITS, max_jpeg_scans=10)
                                    ).shape == (16, 16, 3)
