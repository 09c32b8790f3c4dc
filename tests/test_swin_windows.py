"""Tests of Swin's window geometry: partition and reverse, padding, effective windows, shift mask, relative positions."""

import itertools

import numpy as np
import pytest

from helpers import to_numpy
from keras_vit import KerasViTError
from keras_vit.layers import window_partition, window_reverse
from keras_vit.layers.swin_windows import (effective_window, pad_to_windows, relative_coordinates_table,
                                           relative_position_index, shifted_window_mask, window_padding)


@pytest.mark.parametrize("window", [(2, 2), (4, 3), (1, 6), (8, 6)])
def test_partition_matches_slicing_and_reverse_restores(window):
    x = np.random.default_rng(0).normal(size=(2, 8, 6, 3)).astype("float32")
    windows = to_numpy(window_partition(x, window))
    wh, ww = window
    rows, cols = 8 // wh, 6 // ww
    assert windows.shape == (2 * rows * cols, wh * ww, 3)
    for image, row, col in itertools.product(range(2), range(rows), range(cols)):
        expected = x[image, row * wh:(row + 1) * wh, col * ww:(col + 1) * ww].reshape(wh * ww, 3)
        np.testing.assert_array_equal(windows[(image * rows + row) * cols + col], expected)
    np.testing.assert_array_equal(to_numpy(window_reverse(windows, window, 8, 6)), x)


def test_partition_rejects_a_map_the_window_does_not_tile():
    with pytest.raises(KerasViTError, match="4x4 window cannot tile a 6x8"):
        window_partition(np.zeros((1, 6, 8, 2), "float32"), 4)


def test_padding_adds_zeros_at_bottom_and_right():
    x = np.ones((2, 5, 7, 3), "float32")
    assert window_padding((5, 7), (4, 4)) == (3, 1)
    assert window_padding((8, 4), (4, 4)) == (0, 0)
    padded = to_numpy(pad_to_windows(x, (4, 4)))
    assert padded.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(padded[:, :5, :7], x)
    assert padded[:, 5:].sum() == 0 and padded[:, :, 7:].sum() == 0


@pytest.mark.parametrize("resolution,window,shift,expected", [
    ((56, 56), 7, 3, ((7, 7), (3, 3))),
    ((7, 7), 7, 3, ((7, 7), (0, 0))),  # a window equal to the grid is not shifted
    ((3, 3), 7, 3, ((3, 3), (0, 0))),  # nor one larger than the grid, which shrinks to it
    ((4, 10), 7, 3, ((4, 7), (0, 3))),  # axis by axis
    ((10, 10), (4, 2), (2, 1), ((4, 2), (2, 1))),
    ((1, 1), 4, 2, ((1, 1), (0, 0))),
])
def test_effective_window(resolution, window, shift, expected):
    assert effective_window(resolution, window, shift) == expected


@pytest.mark.parametrize("window,shift", [(0, 0), (4, 4), (4, -1), ((4, 0), 0)])
def test_effective_window_rejects_bad_window_or_shift(window, shift):
    with pytest.raises(KerasViTError, match="window_size|shift_size"):
        effective_window((8, 8), window, shift)


def brute_force_mask(resolution, window, shift):
    """For every window of the rolled, padded map: which tokens are real, and may token a attend to token b?

    Decided from original coordinates: position (r, c) of the rolled map holds original row (r + sh) % height, so
    it wrapped around iff r + sh >= height (columns alike).
    """
    height, width = resolution
    (wh, ww), (sh, sw) = window, shift
    padded_height, padded_width = -(-height // wh) * wh, -(-width // ww) * ww
    masks, reals = [], []
    for row0, col0 in itertools.product(range(0, padded_height, wh), range(0, padded_width, ww)):
        cells = [(row0 + r, col0 + c) for r in range(wh) for c in range(ww)]
        real = np.array([r < height and c < width for r, c in cells])
        mask = np.zeros((len(cells), len(cells)), bool)
        for (a, (ra, ca)), (b, (rb, cb)) in itertools.product(enumerate(cells), repeat=2):
            if real[a] and real[b]:
                same_rows = (ra + sh >= height) == (rb + sh >= height)
                same_cols = (ca + sw >= width) == (cb + sw >= width)
                mask[a, b] = same_rows and same_cols
        masks.append(mask)
        reals.append(real)
    return np.stack(masks), np.stack(reals)


@pytest.mark.parametrize("resolution,window,shift", [
    ((8, 8), (4, 4), (2, 2)), ((6, 7), (4, 4), (2, 2)), ((6, 6), (3, 2), (1, 1)), ((5, 8), (4, 4), (0, 0)),
    ((8, 4), (4, 4), (2, 0)),
])
def test_shift_mask_matches_brute_force(resolution, window, shift):
    mask = shifted_window_mask(resolution, window, shift)
    expected, real = brute_force_mask(resolution, window, shift)
    assert mask.shape == expected.shape
    for window_mask, window_expected, window_real in zip(mask, expected, real):
        np.testing.assert_array_equal(window_mask[window_real], window_expected[window_real])
        assert not window_mask[:, ~window_real].any(), "no query may attend to a padding key"


def test_shift_mask_is_none_without_shift_or_padding():
    assert shifted_window_mask((8, 8), (4, 4), (0, 0)) is None
    mask = shifted_window_mask((8, 8), (4, 4), (2, 2))
    assert mask.shape == (4, 16, 16) and mask.dtype == bool
    assert mask[0].all(), "the top-left window holds no seam"
    assert not mask[3].all() and all(mask[3][i, i] for i in range(16))


def brute_force_relative_position_index(window):
    wh, ww = window
    offsets = sorted(itertools.product(range(-(wh - 1), wh), range(-(ww - 1), ww)))
    ids = {offset: number for number, offset in enumerate(offsets)}
    cells = [(r, c) for r in range(wh) for c in range(ww)]
    return np.array([[ids[(ra - rb, ca - cb)] for rb, cb in cells] for ra, ca in cells])


@pytest.mark.parametrize("window", [(7, 7), (3, 5), (1, 4), (1, 1), (2, 2)])
def test_relative_position_index_matches_brute_force(window):
    index = relative_position_index(window)
    np.testing.assert_array_equal(index, brute_force_relative_position_index(window))
    assert index.min() == 0 and index.max() == (2 * window[0] - 1) * (2 * window[1] - 1) - 1


@pytest.mark.parametrize("window", [(8, 8), (3, 5), (1, 4)])
def test_relative_coordinates_table_is_log_spaced(window):
    table = relative_coordinates_table(window)
    wh, ww = window
    offsets = list(itertools.product(range(-(wh - 1), wh), range(-(ww - 1), ww)))
    assert table.shape == (len(offsets), 2) and np.isfinite(table).all()
    for row, (dy, dx) in zip(table, offsets):
        for value, offset, side in zip(row, (dy, dx), window):
            scaled = 8.0 * offset / max(side - 1, 1)
            assert value == pytest.approx(np.sign(scaled) * np.log2(1 + abs(scaled)) / 3.0, abs=1e-6)
    assert np.abs(table).max() <= np.log2(9.0) / 3.0 + 1e-6


def test_relative_coordinates_table_scales_by_pretrained_window():
    table = relative_coordinates_table((4, 4), pretrained_window=(8, 8))
    assert table.max() == pytest.approx(np.log2(1 + 8 * 3 / 7) / 3, abs=1e-6)
