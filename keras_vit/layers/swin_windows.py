"""Window geometry of the Swin Transformer: partition and reverse, padding, the shift mask, relative positions.

The tensor functions use `keras.ops` on (batch, height, width, channels) feature maps with static spatial sizes.
The constant tables (mask, relative position index, V2 coordinates) are NumPy arrays computed once per layer: they
are not weights, so they are neither trained nor saved.
"""

import math

import numpy as np
from keras import ops

from keras_vit.errors import KerasViTError


def as_pair(value, name="window_size"):
    """(height, width) from an int or a pair of ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        first, second = value
    except (TypeError, ValueError):
        raise KerasViTError(f"{name} must be an int or a (height, width) pair, got {value!r}.") from None
    return int(first), int(second)


def effective_window(resolution, window_size, shift_size=0):
    """The window and shift a block uses on a feature map of `resolution`, axis by axis.

    Where the feature map is no larger than the window along an axis, the window becomes the whole axis and that
    axis is not shifted (as in the reference implementation): one window covers it, so a shift would only split it.

    Args:
        resolution: (height, width) of the feature map, in tokens.
        window_size: requested window side, an int or a (height, width) pair.
        shift_size: requested cyclic shift, an int or a pair; 0 for no shift.

    Returns:
        ((window_height, window_width), (shift_height, shift_width)).

    Raises:
        KerasViTError: a window smaller than 1, or a shift outside [0, window).

    Example:
        >>> effective_window((56, 56), 7, 3)
        ((7, 7), (3, 3))
        >>> effective_window((4, 8), 7, 3)
        ((4, 7), (0, 3))
    """
    window, shift = as_pair(window_size), as_pair(shift_size, "shift_size")
    if min(window) < 1:
        raise KerasViTError(f"window_size must be at least 1, got {window_size}.")
    if any(not 0 <= s < w for s, w in zip(shift, window)):
        raise KerasViTError(f"shift_size {shift_size} must be at least 0 and smaller than window_size {window_size}.")
    pairs = [(r, 0) if r <= w else (w, s) for r, w, s in zip(resolution, window, shift)]
    return (pairs[0][0], pairs[1][0]), (pairs[0][1], pairs[1][1])


def window_padding(resolution, window):
    """Rows and columns of zeros to add at the bottom and right so `window` tiles `resolution`."""
    return tuple((-size) % side for size, side in zip(resolution, window))


def pad_to_windows(x, window):
    """Pads a (batch, height, width, channels) map with zeros at the bottom and right to a multiple of `window`.

    Example:
        >>> tuple(pad_to_windows(np.zeros((2, 5, 7, 3)), (4, 4)).shape)
        (2, 8, 8, 3)
    """
    pad_height, pad_width = window_padding(x.shape[1:3], window)
    if not pad_height and not pad_width:
        return x
    return ops.pad(x, ((0, 0), (0, pad_height), (0, pad_width), (0, 0)))


def window_partition(x, window):
    """Splits a (batch, height, width, channels) map into windows of (batch * windows, wh * ww, channels).

    Windows are ordered row by row within an image, images one after the other; tokens in a window row by row.

    Args:
        x: feature map whose height and width are multiples of the window's (see `pad_to_windows`).
        window: (height, width) of a window, or one int.

    Example:
        >>> tuple(window_partition(np.zeros((2, 8, 12, 5)), 4).shape)
        (12, 16, 5)
    """
    window_height, window_width = as_pair(window)
    height, width, channels = x.shape[1:]
    if height % window_height or width % window_width:
        raise KerasViTError(
            f"A {window_height}x{window_width} window cannot tile a {height}x{width} feature map: pad it first.")
    x = ops.reshape(x, (-1, height // window_height, window_height, width // window_width, window_width, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, window_height * window_width, channels))


def window_reverse(windows, window, height, width):
    """Inverse of `window_partition`: (batch * windows, wh * ww, channels) back to (batch, height, width, channels).

    Example:
        >>> x = np.random.rand(2, 8, 12, 5)
        >>> np.allclose(window_reverse(window_partition(x, 4), 4, 8, 12), x)
        True
    """
    window_height, window_width = as_pair(window)
    channels = windows.shape[-1]
    x = ops.reshape(windows, (-1, height // window_height, width // window_width, window_height, window_width,
                              channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height, width, channels))


def shifted_window_mask(resolution, window, shift):
    """Which token of a window may attend to which: a boolean (windows, wh * ww, wh * ww) array, or None.

    The feature map of `resolution` is rolled by -`shift` along both axes, then padded at the bottom and right to
    a multiple of `window`, then partitioned. Two tokens of a window may attend to each other only when both come
    from the same side of the roll's seam (both wrapped around, or both not, along each axis), and a padding token
    is never attended to. Without shift and padding every pair is allowed and the mask is None.

    Without padding this equals the mask of the reference implementation. With padding, the reference draws the
    seams on the padded map and lets tokens attend to the padding; here the padding takes no part, so a token's
    output does not depend on how much padding its window got.

    Args:
        resolution: (height, width) of the feature map before padding.
        window: (height, width) of a window, as from `effective_window`.
        shift: (height, width) of the shift, as from `effective_window`.

    Returns:
        A boolean NumPy array, True where attention is allowed, or None when nothing is masked.

    Example:
        >>> shifted_window_mask((8, 8), (4, 4), (2, 2)).shape
        (4, 16, 16)
    """
    padding = window_padding(resolution, window)
    if not any(shift) and not any(padding):
        return None
    padded = [size + pad for size, pad in zip(resolution, padding)]
    # Per axis, a padded position gets region -1 (never a key); a real one 1 if it wrapped around in the roll.
    regions = []
    for size, padded_size, axis_shift in zip(resolution, padded, shift):
        index = np.arange(padded_size)
        regions.append(np.where(index < size, (index >= size - axis_shift).astype(int), -1))
    region_map = regions[0][:, None] * 2 + regions[1][None, :]
    region_map = np.where((regions[0][:, None] < 0) | (regions[1][None, :] < 0), -1, region_map)
    windows = _partition_numpy(region_map, window)  # (windows, tokens)
    allowed = (windows[:, :, None] == windows[:, None, :]) & (windows[:, None, :] >= 0)
    return allowed


def _partition_numpy(grid, window):
    height, width = grid.shape
    window_height, window_width = window
    grid = grid.reshape(height // window_height, window_height, width // window_width, window_width)
    return grid.transpose(0, 2, 1, 3).reshape(-1, window_height * window_width)


def relative_position_index(window):
    """Index into a ((2 wh - 1) * (2 ww - 1))-row table of the relative position of each pair of window tokens.

    Entry [i, j] encodes (row_i - row_j + wh - 1) * (2 ww - 1) + (col_i - col_j + ww - 1), tokens numbered row by
    row, the layout of the reference Swin checkpoints.

    Example:
        >>> relative_position_index((7, 7)).shape
        (49, 49)
    """
    window_height, window_width = as_pair(window)
    rows, cols = np.meshgrid(np.arange(window_height), np.arange(window_width), indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    delta_rows = rows[:, None] - rows[None, :] + window_height - 1
    delta_cols = cols[:, None] - cols[None, :] + window_width - 1
    return (delta_rows * (2 * window_width - 1) + delta_cols).astype("int32")


def relative_coordinates_table(window, pretrained_window=None):
    """Log-spaced relative coordinates of Swin V2's continuous position bias: ((2 wh - 1) * (2 ww - 1), 2).

    Each relative offset (dy, dx) is scaled to [-8, 8] by (window - 1) (or the window of pre-training), then
    mapped to sign(t) * log2(1 + |t|) / log2(8). A window side of 1 has only the offset 0.

    Example:
        >>> relative_coordinates_table((8, 8)).shape
        (225, 2)
    """
    window_height, window_width = as_pair(window)
    reference = as_pair(pretrained_window) if pretrained_window else (window_height, window_width)
    axes = []
    for side, ref in zip((window_height, window_width), reference):
        axes.append(np.arange(-(side - 1), side, dtype="float64") / max(ref - 1, 1) * 8.0)
    dy, dx = np.meshgrid(axes[0], axes[1], indexing="ij")
    table = np.stack([dy.reshape(-1), dx.reshape(-1)], axis=-1)
    table = np.sign(table) * np.log2(np.abs(table) + 1.0) / math.log2(8.0)
    return table.astype("float32")
