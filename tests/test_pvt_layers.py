"""Tests of the PVT layers against a brute-force NumPy reference, their round trips and their errors."""

import re

import numpy as np
import pytest

import helpers
import pvt_numpy
from helpers import check_layer_contract, random_normal, to_numpy
from keras_vit import KerasViTError, layers
from keras_vit.layers.pvt_attention import adaptive_pool_matrix
from keras_vit.layers.pvt_embedding import embedded_size


def randomize(layer, seed):
    """Random weights (LayerNorm scales around 1), so no part of the reference is a no-op."""
    return helpers.randomize(layer, seed, scale=0.3, all_weights=True, unit_gammas=True)


@pytest.mark.parametrize("sr_ratio,grid", [(1, (6, 5)), (2, (8, 6)), (4, (8, 8)), (8, (16, 8)),
                                           (4, (15, 10)), (8, (17, 9))])
def test_sra_equals_plain_attention_over_reduced_keys(sr_ratio, grid):
    # (15, 10) with ratio 4 and (17, 9) with ratio 8: the reduction covers 12x8 / 16x8 tokens and drops the rest,
    # as the reference's stride-4 (8) convolution without padding does.
    attention = layers.SpatialReductionAttention(num_heads=2, grid_size=grid, sr_ratio=sr_ratio)
    x = random_normal((2, grid[0] * grid[1], 8), seed=sr_ratio)
    attention.build(x.shape)
    randomize(attention, seed=grid[0])
    outputs, probabilities = attention(x, return_attention_scores=True)
    keys = (grid[0] // sr_ratio) * (grid[1] // sr_ratio)
    assert tuple(probabilities.shape) == (2, 2, grid[0] * grid[1], keys)
    expected = pvt_numpy.sra(x.astype("float64"), grid, pvt_numpy.layer_weights(attention), 2, sr_ratio)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_sra_ignores_the_rows_and_columns_the_reduction_drops():
    attention = layers.SpatialReductionAttention(num_heads=1, grid_size=(6, 5), sr_ratio=4)
    x = random_normal((1, 30, 4))
    attention.build(x.shape)
    randomize(attention, seed=1)
    keys_before = to_numpy(attention.reduced_tokens(x))
    changed = x.reshape(1, 6, 5, 4).copy()
    changed[:, 4:] += 5.0  # rows 4-5 and column 4 lie outside the 4x4 the reduction sees
    changed[:, :, 4] -= 5.0
    keys_after = to_numpy(attention.reduced_tokens(changed.reshape(1, 30, 4)))
    np.testing.assert_array_equal(keys_after, keys_before)
    assert keys_before.shape == (1, 1, 4)


@pytest.mark.parametrize("grid", [(14, 14), (8, 10), (5, 3)])
def test_linear_sra_equals_reference_with_adaptive_pooling(grid):
    # 14x14 pools in 2x2 bins; 8x10 in overlapping bins; 5x3, smaller than 7x7, repeats tokens.
    attention = layers.SpatialReductionAttention(num_heads=2, grid_size=grid, linear=True)
    x = random_normal((2, grid[0] * grid[1], 6), seed=3)
    attention.build(x.shape)
    randomize(attention, seed=4)
    outputs, probabilities = attention(x, return_attention_scores=True)
    assert tuple(probabilities.shape) == (2, 2, grid[0] * grid[1], 49)
    expected = pvt_numpy.sra(x.astype("float64"), grid, pvt_numpy.layer_weights(attention), 2, linear=True)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_adaptive_pool_matrix_averages_equal_bins_where_the_size_divides():
    np.testing.assert_allclose(adaptive_pool_matrix(14, 7), np.kron(np.eye(7), [[0.5, 0.5]]))
    np.testing.assert_allclose(adaptive_pool_matrix(3, 7).sum(axis=1), 1.0)
    assert (adaptive_pool_matrix(3, 7) > 0).sum(axis=1).tolist() == [1, 1, 2, 1, 2, 1, 1]


@pytest.mark.parametrize("extra_relu", [False, True])
def test_depthwise_conv_mlp_equals_reference(extra_relu):
    mlp = layers.DepthwiseConvMLP(hidden_dim=12, grid_size=(5, 7), extra_relu=extra_relu)
    x = random_normal((2, 35, 4), seed=5)
    mlp.build(x.shape)
    randomize(mlp, seed=6)
    expected = pvt_numpy.mlp(x.astype("float64"), (5, 7), pvt_numpy.layer_weights(mlp), extra_relu=extra_relu)
    np.testing.assert_allclose(to_numpy(mlp(x)), expected, atol=1e-5, rtol=0)


def test_depthwise_conv_mlp_convolves_the_grid_alone_after_leading_tokens():
    mlp = layers.DepthwiseConvMLP(hidden_dim=12, grid_size=(5, 7), leading_tokens=1)
    x = random_normal((2, 36, 4), seed=7).astype("float64")
    mlp.build(x.shape)
    randomize(mlp, seed=8)
    weights = pvt_numpy.layer_weights(mlp)
    expected = np.concatenate([pvt_numpy.mlp(x[:, :1], None, weights, depthwise=False),
                               pvt_numpy.mlp(x[:, 1:], (5, 7), weights)], axis=1)
    np.testing.assert_allclose(to_numpy(mlp(x.astype("float32"))), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("patch_size,stride,size", [(7, 4, (30, 26)), (3, 2, (7, 8)), (4, 4, (30, 17)),
                                                    (2, 2, (5, 4))])
def test_patch_embedding_equals_reference_convolution(patch_size, stride, size):
    embedding = layers.PyramidPatchEmbedding(6, patch_size, stride)
    x = random_normal((2, *size, 3), seed=7)
    embedding.build(x.shape)
    randomize(embedding, seed=8)
    weights = pvt_numpy.layer_weights(embedding)
    padding = patch_size // 2 if stride < patch_size else 0
    expected = pvt_numpy.conv2d(x.astype("float64"), weights["projection"]["kernel"], weights["projection"]["bias"],
                                stride, padding)
    expected = helpers.layer_norm(expected, weights["norm"]["gamma"], weights["norm"]["beta"], 1e-5)
    outputs = to_numpy(embedding(x))
    rows, cols = (embedded_size(side, patch_size, stride) for side in size)
    assert outputs.shape == (2, rows, cols, 6) == tuple(embedding.compute_output_shape(x.shape))
    np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=0)


def test_embedded_sizes_follow_pytorch_convolution_arithmetic():
    assert [embedded_size(n, 7, 4) for n in (224, 223, 32, 28, 8, 1)] == [56, 56, 8, 7, 2, 1]
    assert [embedded_size(n, 3, 2) for n in (56, 7, 2, 1)] == [28, 4, 1, 1]
    assert [embedded_size(n, 4, 4) for n in (224, 30, 4)] == [56, 7, 1]


@pytest.mark.parametrize("version,linear,sr_ratio", [(1, False, 2), (2, False, 2), (2, True, 1)])
def test_block_equals_reference(version, linear, sr_ratio):
    block = layers.PVTBlock(num_heads=2, grid_size=(6, 4), sr_ratio=sr_ratio, mlp_ratio=2.0, version=version,
                            linear=linear)
    x = random_normal((2, 24, 8), seed=9)
    block.build(x.shape)
    randomize(block, seed=10)
    outputs, scores = block(x, return_attention_scores=True)
    expected = pvt_numpy.block(x.astype("float64"), (6, 4), pvt_numpy.layer_weights(block), 2, sr_ratio, version,
                               linear)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)
    assert tuple(scores.shape) == (2, 2, 24, 49 if linear else 6)


def test_v1_block_takes_a_class_token_with_plain_attention():
    block = layers.PVTBlock(num_heads=2, grid_size=(3, 3), version=1)
    x = random_normal((2, 10, 8), seed=11)
    block.build(x.shape)
    randomize(block, seed=12)
    expected = pvt_numpy.block(x.astype("float64"), (3, 3), pvt_numpy.layer_weights(block), 2, 1, version=1)
    np.testing.assert_allclose(to_numpy(block(x)), expected, atol=1e-5, rtol=0)


def test_stage_position_embedding_prepends_the_class_token_and_adds_positions():
    positions = layers.StagePositionEmbedding((2, 3), use_class_token=True)
    x = random_normal((2, 6, 4), seed=13)
    positions.build(x.shape)
    randomize(positions, seed=14)
    class_token = positions.class_token.numpy()
    table = positions.position_embedding.numpy()
    expected = np.concatenate([np.broadcast_to(class_token, (2, 1, 4)), x], axis=1) + table
    np.testing.assert_allclose(to_numpy(positions(x)), expected, atol=1e-6)


def bilinear_half_pixel(grid, rows, cols):
    """PyTorch's F.interpolate(mode="bilinear", align_corners=False) of a (h, w, c) grid, by hand."""
    height, width = grid.shape[:2]
    out = np.zeros((rows, cols, grid.shape[-1]))
    for i in range(rows):
        for j in range(cols):
            y = min(max((i + 0.5) * height / rows - 0.5, 0.0), height - 1)
            x = min(max((j + 0.5) * width / cols - 0.5, 0.0), width - 1)
            top, left = int(np.floor(y)), int(np.floor(x))
            bottom, right = min(top + 1, height - 1), min(left + 1, width - 1)
            dy, dx = y - top, x - left
            out[i, j] = ((1 - dy) * ((1 - dx) * grid[top, left] + dx * grid[top, right])
                         + dy * ((1 - dx) * grid[bottom, left] + dx * grid[bottom, right]))
    return out


def test_position_embeddings_resample_bilinearly_keeping_the_class_token():
    positions = layers.StagePositionEmbedding((3, 2), use_class_token=True)
    positions.build((None, 6, 5))
    randomize(positions, seed=15)
    table = positions.position_embedding.numpy()
    resampled = to_numpy(positions.resampled_position_embedding((5, 4)))
    assert resampled.shape == (1, 21, 5)
    np.testing.assert_array_equal(resampled[0, 0], table[0, 0])
    expected = bilinear_half_pixel(table[0, 1:].reshape(3, 2, 5), 5, 4).reshape(20, 5)
    np.testing.assert_allclose(resampled[0, 1:], expected, atol=1e-5)


LAYERS = [
    (lambda: layers.SpatialReductionAttention(2, (6, 4), sr_ratio=2, qkv_bias=False, attention_dropout_rate=0.1,
                                              layer_norm_epsilon=1e-4), (2, 24, 8)),
    (lambda: layers.SpatialReductionAttention(2, 5, linear=True, projection_dropout_rate=0.2), (2, 25, 8)),
    (lambda: layers.DepthwiseConvMLP(16, (6, 4), dropout_rate=0.1, extra_relu=True), (2, 24, 8)),
    (lambda: layers.DepthwiseConvMLP(16, (3, 2), leading_tokens=1), (2, 7, 8)),
    (lambda: layers.PyramidPatchEmbedding(8, 7, 4, layer_norm_epsilon=1e-6), (2, 17, 13, 3)),
    (lambda: layers.PyramidPatchEmbedding(8, 2), (2, 6, 4, 3)),
    (lambda: layers.StagePositionEmbedding((3, 2), use_class_token=True), (2, 6, 8)),
    (lambda: layers.PVTBlock(2, (6, 4), sr_ratio=2, mlp_ratio=3.0, version=2, linear=True, qkv_bias=False,
                             dropout_rate=0.1, attention_dropout_rate=0.1, drop_path_rate=0.2,
                             layer_norm_epsilon=1e-5), (2, 24, 8)),
    (lambda: layers.PVTBlock(2, (3, 3), version=1), (2, 10, 8)),
]


@pytest.mark.parametrize("make,shape", LAYERS)
def test_layer_contract(make, shape):
    check_layer_contract(make(), random_normal(shape, seed=16))


@pytest.mark.parametrize("make,message", [
    (lambda: layers.SpatialReductionAttention(1, (3, 6), sr_ratio=4), "sr_ratio 4 is larger than the 3x6"),
    (lambda: layers.SpatialReductionAttention(1, 4, sr_ratio=0), "sr_ratio must be at least 1"),
    (lambda: layers.PyramidPatchEmbedding(8, 3, stride=4), "stride must be in [1, patch_size=3], got 4"),
    (lambda: layers.PVTBlock(1, 4, version=3), "PVT version must be 1 or 2, got 3"),
    (lambda: layers.PVTBlock(1, 4, version=1, linear=True), "it needs version=2"),
    (lambda: layers.StagePositionEmbedding((0, 3)), "grid_size must be positive"),
    (lambda: layers.DepthwiseConvMLP(8, 4, leading_tokens=-1), "leading_tokens must be 0 or more, got -1"),
])
def test_bad_constructor_arguments_are_named(make, message):
    with pytest.raises(KerasViTError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("make,shape,message", [
    (lambda: layers.SpatialReductionAttention(3, (2, 2)), (1, 4, 8), "Width 8 is not divisible by the number of heads 3"),
    (lambda: layers.SpatialReductionAttention(1, (4, 4), sr_ratio=2), (1, 17, 8), "prefix tokens such as a class"),
    (lambda: layers.SpatialReductionAttention(1, (4, 4)), (1, 15, 8), "needs at least 16 tokens, got 15"),
    (lambda: layers.DepthwiseConvMLP(8, (4, 4)), (1, 17, 8), "needs 16 tokens, got 17"),
    (lambda: layers.DepthwiseConvMLP(8, (4, 4), leading_tokens=1), (1, 16, 8),
     "on a 4x4 grid after 1 leading needs 17 tokens, got 16"),
    (lambda: layers.PyramidPatchEmbedding(8, 4), (1, 3, 8, 3), "3x8 map is smaller than the 4x4 patches"),
])
def test_shapes_the_layers_cannot_take_are_named(make, shape, message):
    with pytest.raises(KerasViTError, match=re.escape(message)):
        make().build(shape)
