"""The block structure of a GIF, walked inside a TensorFlow graph: its frames and their sizes, without decoding.

A GIF decoder allocates every frame from that frame's own image descriptor, not from the logical screen in the
header, and TensorFlow's reads every frame even when it returns only the first. So the screen alone bounds nothing:
this walk visits the header, the logical screen, the global colour table, then each extension block and image
descriptor with their data sub-blocks, up to the trailer, and reports the frames it found.
"""

import tensorflow as tf

from keras_vit.data.header_bytes import bytes_at, checked_header, first_match, number

GIF_MAX_STEPS = 2**13  # graph-loop iterations of the walk: one per block, per short sub-block, per run of full ones
_FULL_RUN = 64  # full sub-blocks (255 bytes, what encoders write but the last of a frame) skipped in one step
_IMAGE, _EXTENSION, _TRAILER = 0x2C, 0x21, 0x3B
_DESCRIPTOR_BYTES = 11  # the image separator, left, top, width, height, flags; then the LZW code size
_WALKING, _DONE, _TRUNCATED, _BAD_BLOCK, _OUTSIDE_SCREEN = range(5)


def gif_header(image_bytes, length):
    """The `ImageHeader` of GIF bytes: logical screen size, frame count, pixels of all frames, what is wrong.

    A frame that reaches outside the logical screen makes the header corrupt (the decoder would allocate it in
    full). Bytes that end between blocks without a trailer are accepted, as the decoder accepts them; bytes that end
    inside a block are truncated. The walk takes one graph-loop iteration per block, per sub-block shorter than 255
    bytes and per run of up to 64 full ones; after `GIF_MAX_STEPS` iterations the GIF is corrupt. Each iteration
    reads 16 KiB at most, so time and memory do not depend on what the bytes declare.

    Args:
        image_bytes: scalar string tensor that starts with "GIF8".
        length: its length in bytes (int32 scalar).

    Returns:
        ImageHeader (`keras_vit.data.header_bytes`).

    Example:
        >>> header = gif_header(tf.constant(gif_bytes), tf.strings.length(gif_bytes))
        >>> int(header.frames), header.problem.numpy()
        (5, b'')
    """
    screen = bytes_at(image_bytes, 0, 13)  # signature (6), width and height (2 each, little endian), flags, 2 more
    width, height = number(screen, 6, 2), number(screen, 8, 2)
    length = tf.cast(length, tf.int64)

    def walking(position, in_sub_blocks, frames, frame_pixels, status):
        return tf.equal(status, _WALKING)

    def next_block(position, in_sub_blocks, frames, frame_pixels, status):
        ahead = bytes_at(image_bytes, position, 256 * _FULL_RUN)
        block = ahead[:_DESCRIPTOR_BYTES]
        kind = block[0]  # the block's type; inside a run of sub-blocks, the size of the next one (0 ends the run)
        full_sub_blocks = tf.reduce_sum(tf.math.cumprod(tf.cast(tf.equal(ahead[::256], 255), tf.int64)))
        is_frame = tf.logical_not(in_sub_blocks) & tf.equal(kind, _IMAGE)
        starts_sub_blocks = is_frame | (tf.logical_not(in_sub_blocks) & tf.equal(kind, _EXTENSION))
        left, top, frame_width, frame_height = (number(block, start, 2) for start in (1, 3, 5, 7))
        frames += tf.cast(is_frame, tf.int64)
        frame_pixels += tf.where(is_frame, frame_width * frame_height, 0)
        status = first_match([
            (in_sub_blocks & (position >= length), _TRUNCATED),
            (position >= length, _DONE),
            (in_sub_blocks, _WALKING),
            (tf.equal(kind, _TRAILER), _DONE),
            (is_frame & (position + _DESCRIPTOR_BYTES > length), _TRUNCATED),
            (is_frame & ((left + frame_width > width) | (top + frame_height > height)), _OUTSIDE_SCREEN),
            (starts_sub_blocks, _WALKING),
        ], _BAD_BLOCK)
        extension_step = tf.constant(2, tf.int64)  # an extension's introducer and label
        step = first_match([(in_sub_blocks & (full_sub_blocks > 0), 256 * full_sub_blocks),
                            (in_sub_blocks, 1 + kind),
                            (is_frame, _DESCRIPTOR_BYTES + _colour_table_bytes(block[9]))], extension_step)
        in_sub_blocks = tf.where(in_sub_blocks, tf.not_equal(kind, 0), starts_sub_blocks)
        return position + step, in_sub_blocks, frames, frame_pixels, status

    zero = tf.constant(0, tf.int64)
    start = (13 + _colour_table_bytes(screen[10]), tf.constant(False), zero, zero, tf.constant(_WALKING))
    _, _, frames, frame_pixels, status = tf.while_loop(walking, next_block, start, maximum_iterations=GIF_MAX_STEPS)
    problem = first_match([
        (tf.equal(status, _TRUNCATED), tf.strings.format("truncated: the GIF ends after {} bytes, inside a block",
                                                         length)),
        (tf.equal(status, _BAD_BLOCK), tf.strings.format(
            "corrupt: after frame {} the GIF has a block that is neither an image, an extension nor the trailer",
            frames)),
        (tf.equal(status, _OUTSIDE_SCREEN), tf.strings.format(
            "corrupt: frame {} of the GIF reaches outside its {}x{} logical screen", (frames, width, height))),
        (tf.equal(status, _WALKING),
         f"corrupt: the GIF has more blocks and short sub-blocks than {GIF_MAX_STEPS} steps of its walk reach"),
    ], "")
    signature = tf.strings.substr(image_bytes, 0, 6)
    return checked_header("GIF", width, height, length, 13, [
        (tf.logical_and(tf.not_equal(signature, b"GIF87a"), tf.not_equal(signature, b"GIF89a")),
         "the signature is neither GIF87a nor GIF89a"),
    ], problem, frames, frame_pixels)


def _colour_table_bytes(flags):
    """Bytes of the colour table that follows a screen or image descriptor whose flags byte is `flags`."""
    return tf.where(flags >= 128, 3 * 2 ** (flags % 8 + 1), 0)
