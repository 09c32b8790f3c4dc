"""Swin window attention and blocks against an independent NumPy reference: full attention with an explicit mask."""

import math

import numpy as np
import pytest

import helpers
from helpers import gelu, layer_norm_of, numbers_in, random_normal, to_float64
from keras_vit import KerasViTError
from keras_vit.layers import PatchMerging, SwinTransformerBlock, WindowAttention


def mlp(x, layer):
    hidden = gelu(x @ to_float64(layer.fc1.kernel) + to_float64(layer.fc1.bias))
    return hidden @ to_float64(layer.fc2.kernel) + to_float64(layer.fc2.bias)


def pair_bias(attention, dy, dx):
    """The bias of every head for one pair of tokens dy rows and dx columns apart, looked up independently."""
    wh, ww = attention.window_size
    if attention.version == 1:
        return to_float64(attention.relative_position_bias_table)[(dy + wh - 1) * (2 * ww - 1) + (dx + ww - 1)]
    coordinates = []
    for offset, side in ((dy, wh), (dx, ww)):
        t = 8.0 * offset / max(side - 1, 1)
        coordinates.append(np.sign(t) * np.log2(1.0 + abs(t)) / 3.0)
    hidden = np.maximum(np.array(coordinates) @ to_float64(attention.cpb_fc1.kernel) + to_float64(attention.cpb_fc1.bias),
                        0.0)
    return 16.0 / (1.0 + np.exp(-(hidden @ to_float64(attention.cpb_fc2.kernel))))


def shifted_window_attention_reference(attention, x, window, shift):
    """Plain attention over all tokens of the rolled map, a pair allowed only inside one window and one region.

    x: (batch, height, width, dim) in float64, the input of the attention branch. window, shift: what the block
    should use on this map. Returns the branch output, rolled back.
    """
    batch, height, width, dim = x.shape
    (wh, ww), (sh, sw) = window, shift
    heads = attention.num_heads
    head_dim = dim // heads
    tokens = np.roll(x, (-sh, -sw), axis=(1, 2)).reshape(batch, height * width, dim)
    rows, cols = np.divmod(np.arange(height * width), width)
    count = height * width
    allowed = np.zeros((count, count), bool)
    bias = np.zeros((heads, count, count))
    for p in range(count):
        for q in range(count):
            same_window = rows[p] // wh == rows[q] // wh and cols[p] // ww == cols[q] // ww
            same_region = ((rows[p] >= height - sh) == (rows[q] >= height - sh)
                           and (cols[p] >= width - sw) == (cols[q] >= width - sw))
            allowed[p, q] = same_window and same_region
            if allowed[p, q]:
                bias[:, p, q] = pair_bias(attention, rows[p] - rows[q], cols[p] - cols[q])
    kernel = to_float64(attention.qkv.kernel)
    if attention.version == 1:
        qkv_bias = to_float64(attention.qkv.bias) if attention.qkv_bias else 0.0
    else:
        qkv_bias = (np.concatenate([to_float64(attention.q_bias), np.zeros(dim), to_float64(attention.v_bias)])
                    if attention.qkv_bias else 0.0)
    qkv = tokens @ kernel + qkv_bias
    outputs = []
    for h in range(heads):
        part = slice(h * head_dim, (h + 1) * head_dim)
        q, k, v = qkv[..., part], qkv[..., dim:][..., part], qkv[..., 2 * dim:][..., part]
        if attention.version == 1:
            logits = q @ np.swapaxes(k, 1, 2) / math.sqrt(head_dim)
        else:
            q = q / np.linalg.norm(q, axis=-1, keepdims=True)
            k = k / np.linalg.norm(k, axis=-1, keepdims=True)
            logits = q @ np.swapaxes(k, 1, 2) * min(math.exp(to_float64(attention.logit_scale)[h]), 100.0)
        logits = np.where(allowed, logits + bias[h], -np.inf)
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        outputs.append((weights / weights.sum(axis=-1, keepdims=True)) @ v)
    out = np.concatenate(outputs, axis=-1) @ to_float64(attention.projection.kernel) + to_float64(
        attention.projection.bias)
    return np.roll(out.reshape(batch, height, width, dim), (sh, sw), axis=(1, 2))


def block_reference(block, x, window, shift):
    def attention(inputs):
        return shifted_window_attention_reference(block.attention, inputs, window, shift)

    if block.version == 1:
        x = x + attention(layer_norm_of(x, block.norm1))
        return x + mlp(layer_norm_of(x, block.norm2), block.mlp)
    x = x + layer_norm_of(attention(x), block.norm1)
    return x + layer_norm_of(mlp(x, block.mlp), block.norm2)


def randomize(layer, seed, scale=0.4):
    helpers.randomize(layer, seed, scale)
    attention = getattr(layer, "attention", layer)
    if isinstance(attention, WindowAttention) and attention.version == 2:  # one head above the clamp of log(100), one below
        scales = np.resize([math.log(200.0), math.log(5.0)], attention.num_heads)
        attention.logit_scale.assign(scales.astype("float32"))


# (resolution, requested window, requested shift, window and shift the block must use)
CASES = [
    ((8, 8), 4, 2, (4, 4), (2, 2)),  # a multiple of the window
    ((6, 7), 4, 2, (4, 4), (2, 2)),  # needs padding on both axes
    ((6, 7), 4, 0, (4, 4), (0, 0)),  # padding, regular windows
    ((3, 5), 4, 2, (3, 4), (0, 2)),  # rows shorter than the window: one window row, shifted columns only, padded
    ((3, 3), 7, 3, (3, 3), (0, 0)),  # a window larger than the map becomes the map, unshifted
    ((8, 6), (4, 2), (2, 1), (4, 2), (2, 1)),  # rectangular windows
]
CASE_IDS = ["multiple", "padded", "padded-unshifted", "clamped-rows", "window-is-map", "rectangular"]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("resolution,window,shift,expected_window,expected_shift", CASES, ids=CASE_IDS)
def test_shifted_window_attention_matches_full_attention_with_explicit_mask(
        version, resolution, window, shift, expected_window, expected_shift):
    x = random_normal((2, *resolution, 8), seed=version)
    block = SwinTransformerBlock(num_heads=2, window_size=window, shift_size=shift, mlp_ratio=2.0, version=version)
    block.build(x.shape)
    randomize(block, seed=3)
    assert block.effective_window_size == expected_window and block.effective_shift_size == expected_shift
    expected = shifted_window_attention_reference(block.attention, x.astype("float64"), expected_window,
                                                  expected_shift)
    np.testing.assert_allclose(to_float64(block.window_attention(x)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("resolution,window,shift,expected_window,expected_shift", CASES[:4], ids=CASE_IDS[:4])
def test_block_matches_numpy(version, resolution, window, shift, expected_window, expected_shift):
    x = random_normal((2, *resolution, 8), seed=10 + version)
    block = SwinTransformerBlock(num_heads=2, window_size=window, shift_size=shift, mlp_ratio=1.5, version=version,
                                 layer_norm_epsilon=1e-3)
    block.build(x.shape)
    randomize(block, seed=4)
    expected = block_reference(block, x.astype("float64"), expected_window, expected_shift)
    np.testing.assert_allclose(to_float64(block(x)), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_float64(block(x, training=False)), expected, atol=1e-5, rtol=1e-5)


def test_shift_changes_the_output_only_through_the_seams():
    x = random_normal((1, 8, 8, 8), seed=5)
    regular = SwinTransformerBlock(num_heads=2, window_size=4, shift_size=0)
    shifted = SwinTransformerBlock(num_heads=2, window_size=4, shift_size=2)
    regular.build(x.shape)
    shifted.build(x.shape)
    randomize(regular, seed=6)
    shifted.set_weights(regular.get_weights())
    assert not np.allclose(to_float64(regular(x)), to_float64(shifted(x)), atol=1e-4)


@pytest.mark.parametrize("version", [1, 2])
def test_window_attention_probabilities_respect_the_mask(version):
    x = random_normal((6, 4, 8), seed=7)  # 2 images of 3 windows of 2x2 tokens
    mask = np.ones((3, 4, 4), bool)
    mask[1, :, 2:] = False
    mask[2, 3] = False  # a row with every key masked, as for a padding query: finite, no NaN
    attention = WindowAttention(num_heads=2, window_size=2, version=version)
    attention.build(x.shape)
    randomize(attention, seed=8, scale=1.0)
    outputs, probabilities = attention(x, attention_mask=mask, return_attention_scores=True)
    probabilities = to_float64(probabilities)
    assert np.isfinite(to_float64(outputs)).all() and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(probabilities[[1, 4], :, :, 2:] < 1e-30)


def test_window_attention_weights_and_constants():
    v1 = WindowAttention(num_heads=3, window_size=(7, 5))
    v1.build((None, 35, 12))
    assert tuple(v1.relative_position_bias_table.shape) == (13 * 9, 3)
    assert v1.count_params() == 12 * 36 + 36 + 13 * 9 * 3 + 12 * 12 + 12
    v2 = WindowAttention(num_heads=3, window_size=8, version=2)
    v2.build((None, 64, 12))
    assert {w.name for w in v2.trainable_weights} >= {"q_bias", "v_bias", "logit_scale"}
    assert v2.count_params() == 12 * 36 + 2 * 12 + 3 + (2 * 512 + 512 + 512 * 3) + 12 * 12 + 12
    np.testing.assert_allclose(to_float64(v2.logit_scale), math.log(10.0), rtol=1e-6)
    assert not v1.non_trainable_weights and not v2.non_trainable_weights  # index and coordinates are constants


def test_patch_merging_matches_numpy():
    x = random_normal((2, 4, 6, 3), seed=9)
    for version in (1, 2):
        layer = PatchMerging(version=version)
        layer.build(x.shape)
        randomize(layer, seed=10)
        outputs = to_float64(layer(x))
        assert outputs.shape == (2, 2, 3, 6)
        x64 = x.astype("float64")
        merged = np.concatenate([x64[:, 0::2, 0::2], x64[:, 1::2, 0::2], x64[:, 0::2, 1::2], x64[:, 1::2, 1::2]], -1)
        kernel = to_float64(layer.reduction.kernel)
        expected = (layer_norm_of(merged, layer.norm) @ kernel if version == 1
                    else layer_norm_of(merged @ kernel, layer.norm))
        np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=1e-5)
    assert PatchMerging(output_dim=5)(x).shape == (2, 2, 3, 5)


def test_heads_not_dividing_the_width_name_both():
    for layer, shape in ((SwinTransformerBlock(num_heads=3, window_size=2), (1, 4, 4, 8)),
                         (WindowAttention(num_heads=3, window_size=2), (1, 4, 8))):
        with pytest.raises(KerasViTError) as error:
            layer(np.zeros(shape, "float32"))
        assert {"8", "3"} <= set(numbers_in(error))


def test_bad_windows_and_grids_are_clear_errors():
    with pytest.raises(KerasViTError, match="shift_size 4 .* window_size 4"):
        SwinTransformerBlock(num_heads=2, window_size=4, shift_size=4)
    with pytest.raises(KerasViTError, match="window_size must be at least 1, got 0"):
        WindowAttention(num_heads=2, window_size=0)
    with pytest.raises(KerasViTError, match="2x2 patch merging cannot tile a 5x4"):
        PatchMerging()(np.zeros((1, 5, 4, 2), "float32"))
    with pytest.raises(KerasViTError, match="expects 16 tokens per window, got 9"):
        WindowAttention(num_heads=2, window_size=4)(np.zeros((1, 9, 4), "float32"))
    with pytest.raises(KerasViTError, match="version must be 1 or 2, got 3"):
        SwinTransformerBlock(num_heads=2, version=3)


def test_drop_path_and_dropout_only_in_training():
    x = random_normal((8, 4, 4, 8), seed=11)
    block = SwinTransformerBlock(num_heads=2, window_size=2, shift_size=1, dropout_rate=0.3,
                                 attention_dropout_rate=0.3, drop_path_rate=0.5)
    block.build(x.shape)
    randomize(block, seed=12)
    inference = to_float64(block(x))
    np.testing.assert_allclose(inference, block_reference(block, x.astype("float64"), (2, 2), (1, 1)), atol=1e-5)
    assert not np.allclose(to_float64(block(x, training=True)), inference, atol=1e-3)
