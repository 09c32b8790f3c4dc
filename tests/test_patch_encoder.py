"""Tests of PatchEncoder and position-embedding resampling against NumPy references."""

import keras
import numpy as np
import pytest

from helpers import randomize, to_numpy
from keras_vit import KerasViTError
from keras_vit.layers import PatchEncoder, Patches, resample_position_embeddings


def smooth_grid(rows, cols, dim):
    """f(r, c) = sin(0.3 r) + cos(0.2 c), varied per channel, laid out as (1, rows * cols, dim)."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    channels = [(k + 1) * np.sin(0.3 * r) + np.cos(0.2 * c * (k + 1)) + k for k in range(dim)]
    return np.stack(channels, axis=-1).reshape(1, rows * cols, dim)


def half_pixel_coordinates(size_in, size_out):
    return (np.arange(size_out) + 0.5) * size_in / size_out - 0.5


def bilinear_reference(grid, source, target):
    """Separable bilinear resize with half-pixel centres; np.interp clamps at the edges."""
    dim = grid.shape[-1]
    values = grid.reshape(source[0], source[1], dim).astype("float64")
    row_x = half_pixel_coordinates(source[0], target[0])
    col_x = half_pixel_coordinates(source[1], target[1])
    by_rows = np.empty((target[0], source[1], dim))
    for j in range(source[1]):
        for k in range(dim):
            by_rows[:, j, k] = np.interp(row_x, np.arange(source[0]), values[:, j, k])
    out = np.empty((target[0], target[1], dim))
    for i in range(target[0]):
        for k in range(dim):
            out[i, :, k] = np.interp(col_x, np.arange(source[1]), by_rows[i, :, k])
    return out.reshape(1, target[0] * target[1], dim)


@pytest.mark.parametrize("use_class_token", [True, False])
@pytest.mark.parametrize("grid", [(3, 5), (4, 4)])
def test_patch_encoder_output_shape(use_class_token, grid):
    encoder = PatchEncoder(8, grid, use_class_token=use_class_token)
    outputs = encoder(np.zeros((2, grid[0] * grid[1], 12), "float32"))
    assert tuple(outputs.shape) == (2, use_class_token + grid[0] * grid[1], 8)
    assert tuple(encoder.compute_output_shape((None, grid[0] * grid[1], 12))) == (
        None, use_class_token + grid[0] * grid[1], 8)


def test_patch_encoder_int_grid_is_square():
    encoder = PatchEncoder(4, 3)
    assert encoder.grid_size == (3, 3)
    assert tuple(encoder(np.zeros((1, 9, 5), "float32")).shape) == (1, 10, 4)


def test_patch_encoder_weight_shapes():
    encoder = PatchEncoder(8, (3, 5))
    encoder.build((None, 15, 12))
    assert tuple(encoder.projection.kernel.shape) == (12, 8)
    assert tuple(encoder.class_token.shape) == (1, 1, 8)
    assert tuple(encoder.position_embedding.shape) == (1, 16, 8)
    assert encoder.count_params() == 12 * 8 + 8 + 8 + 16 * 8


def test_patch_encoder_without_class_token_or_positions_has_only_projection():
    encoder = PatchEncoder(8, (3, 5), use_class_token=False, use_position_embedding=False)
    encoder.build((None, 15, 12))
    assert encoder.count_params() == 12 * 8 + 8
    assert encoder.num_prefix_tokens == 0


@pytest.mark.parametrize("use_class_token", [True, False])
def test_patch_encoder_matches_numpy(use_class_token):
    rng = np.random.default_rng(1)
    patches = rng.normal(size=(3, 6, 10)).astype("float32")
    encoder = PatchEncoder(4, (2, 3), use_class_token=use_class_token)
    encoder.build(patches.shape)
    randomize(encoder, seed=2, scale=1.0)
    kernel, bias = to_numpy(encoder.projection.kernel), to_numpy(encoder.projection.bias)
    positions = to_numpy(encoder.position_embedding)[0]
    tokens = patches.astype("float64") @ kernel + bias
    if use_class_token:
        class_token = np.broadcast_to(to_numpy(encoder.class_token), (3, 1, 4))
        tokens = np.concatenate([class_token, tokens], axis=1)
    np.testing.assert_allclose(to_numpy(encoder(patches)), tokens + positions, atol=1e-5, rtol=1e-5)


def test_patch_encoder_projection_equals_strided_convolution():
    patch_size, channels, dim = 4, 3, 5
    images = np.random.default_rng(3).uniform(size=(2, 8, 12, channels)).astype("float32")
    encoder = PatchEncoder(dim, (2, 3), use_class_token=False, use_position_embedding=False)
    encoder.build((None, 6, patch_size * patch_size * channels))
    randomize(encoder, seed=4, scale=1.0)
    tokens = to_numpy(encoder(Patches(patch_size)(images)))
    kernel = to_numpy(encoder.projection.kernel).reshape(patch_size, patch_size, channels, dim)
    conv = to_numpy(keras.ops.conv(images, kernel, strides=patch_size, padding="valid"))
    conv = conv + to_numpy(encoder.projection.bias)
    np.testing.assert_allclose(tokens, conv.reshape(2, 6, dim), atol=1e-5, rtol=1e-5)


def test_patch_encoder_rejects_wrong_number_of_patches():
    with pytest.raises(KerasViTError):
        PatchEncoder(8, (3, 5))(np.zeros((1, 16, 12), "float32"))


def test_patch_encoder_with_unknown_batch():
    inputs = keras.Input((6, 10))
    model = keras.Model(inputs, PatchEncoder(4, (2, 3))(inputs))
    assert model.output_shape == (None, 7, 4)
    assert model.predict(np.zeros((5, 6, 10), "float32"), verbose=0).shape == (5, 7, 4)


@pytest.mark.parametrize("target", [(7, 9), (2, 3), (8, 4), (4, 11)])
@pytest.mark.parametrize("num_prefix_tokens", [0, 1])
def test_bilinear_resampling_matches_numpy_interp(target, num_prefix_tokens):
    source, dim = (4, 6), 3
    grid = smooth_grid(*source, dim)
    prefix = np.full((1, num_prefix_tokens, dim), 7.5)
    embeddings = np.concatenate([prefix, grid], axis=1).astype("float32")
    resampled = to_numpy(resample_position_embeddings(embeddings, source, target, num_prefix_tokens,
                                                      interpolation="bilinear"))
    assert resampled.shape == (1, num_prefix_tokens + target[0] * target[1], dim)
    assert np.array_equal(resampled[:, :num_prefix_tokens], embeddings[:, :num_prefix_tokens])
    np.testing.assert_allclose(resampled[:, num_prefix_tokens:], bilinear_reference(grid, source, target),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_resampling_to_same_grid_is_identity(interpolation):
    embeddings = np.random.default_rng(5).normal(size=(1, 1 + 12, 4)).astype("float32")
    resampled = resample_position_embeddings(embeddings, (3, 4), (3, 4), num_prefix_tokens=1,
                                             interpolation=interpolation)
    assert np.array_equal(to_numpy(resampled), embeddings)


@pytest.mark.parametrize("axis", [0, 1])
def test_bicubic_resampling_reproduces_linear_ramp_in_interior(axis):
    source, target, dim = (6, 8), (10, 16), 2
    r, c = np.meshgrid(np.arange(source[0]), np.arange(source[1]), indexing="ij")
    ramp = 2.0 * (r if axis == 0 else c) + 1.0
    grid = np.stack([ramp, -3.0 * ramp], axis=-1).reshape(1, -1, dim)
    embeddings = np.concatenate([np.full((1, 1, dim), -9.0), grid], axis=1).astype("float32")
    resampled = to_numpy(resample_position_embeddings(embeddings, source, target, num_prefix_tokens=1,
                                                      interpolation="bicubic"))
    assert resampled.shape == (1, 1 + target[0] * target[1], dim)
    assert np.array_equal(resampled[:, :1], embeddings[:, :1])
    values = resampled[0, 1:].reshape(target[0], target[1], dim)
    x = half_pixel_coordinates(source[axis], target[axis])
    interior = (np.floor(x) >= 1) & (np.floor(x) + 2 <= source[axis] - 1)
    assert interior.sum() >= target[axis] // 2
    expected = 2.0 * x[interior] + 1.0
    along = values[:, :, 0] if axis == 0 else values[:, :, 0].T
    # TensorFlow's bicubic kernel reads its weights from a 1024-entry table: positions are exact to 1/1024.
    tolerance = 2.0 / 1024
    for line in along.T:  # every line across the ramp
        np.testing.assert_allclose(line[interior], expected, atol=tolerance, rtol=0)
    np.testing.assert_allclose(values[..., 1], -3.0 * values[..., 0], atol=1e-4)


def test_bicubic_resampling_reproduces_quadratic_unlike_bilinear():
    source, target = (4, 8), (4, 13)
    c = np.tile(np.arange(source[1], dtype="float64"), source[0])
    embeddings = (0.5 * c ** 2).reshape(1, -1, 1).astype("float32")
    x = half_pixel_coordinates(source[1], target[1])
    interior = (np.floor(x) >= 1) & (np.floor(x) + 2 <= source[1] - 1)
    expected = 0.5 * x[interior] ** 2

    def resampled_row(interpolation):
        resampled = resample_position_embeddings(embeddings, source, target, interpolation=interpolation)
        return to_numpy(resampled)[0, :, 0].reshape(target)[0]

    # Keys' cubic kernel (a = -0.5) reproduces quadratics; TF's 1024-entry weight table limits the precision.
    np.testing.assert_allclose(resampled_row("bicubic")[interior], expected, atol=source[1] / 1024, rtol=0)
    assert np.max(np.abs(resampled_row("bilinear")[interior] - expected)) > 0.05


@pytest.mark.parametrize("embedding_shape,grid,prefix", [
    ((1, 1 + 12, 4), (4, 4), 1),  # too few positions for the grid
    ((1, 16, 4), (4, 4), 1),  # forgot the class token
    ((2, 17, 4), (4, 4), 1),  # batch of embeddings
    ((17, 4), (4, 4), 1),  # missing batch axis
])
def test_resampling_rejects_embeddings_that_do_not_fit_grid(embedding_shape, grid, prefix):
    with pytest.raises(KerasViTError):
        resample_position_embeddings(np.zeros(embedding_shape, "float32"), grid, (6, 6), prefix)


def test_encoder_resampled_position_embedding_bilinear_matches_numpy():
    source, target, dim = (3, 5), (6, 4), 3
    encoder = PatchEncoder(dim, source)
    encoder.build((None, 15, 8))
    class_position = np.array([[[0.25, -1.5, 4.0]]], "float32")
    encoder.position_embedding.assign(np.concatenate([class_position, smooth_grid(*source, dim)], axis=1))
    resampled = to_numpy(encoder.resampled_position_embedding(target, interpolation="bilinear"))
    assert np.array_equal(resampled[:, :1], class_position)
    np.testing.assert_allclose(resampled[:, 1:], bilinear_reference(smooth_grid(*source, dim), source, target),
                               atol=1e-5, rtol=0)


def test_encoder_resampled_position_embedding_fits_encoder_of_new_grid():
    old = PatchEncoder(4, (3, 3))
    old.build((None, 9, 8))
    new = PatchEncoder(4, (5, 2))
    new.build((None, 10, 8))
    resampled = old.resampled_position_embedding((5, 2))
    assert tuple(resampled.shape) == (1, 11, 4)
    new.position_embedding.assign(resampled)
    np.testing.assert_array_equal(to_numpy(new.position_embedding)[:, 0], to_numpy(old.position_embedding)[:, 0])


def test_encoder_without_class_token_resamples_every_position():
    encoder = PatchEncoder(3, (3, 5), use_class_token=False)
    encoder.build((None, 15, 8))
    encoder.position_embedding.assign(smooth_grid(3, 5, 3))
    resampled = to_numpy(encoder.resampled_position_embedding((6, 4), interpolation="bilinear"))
    np.testing.assert_allclose(resampled, bilinear_reference(smooth_grid(3, 5, 3), (3, 5), (6, 4)), atol=1e-5)


def test_encoder_without_position_embedding_cannot_resample():
    encoder = PatchEncoder(4, (3, 3), use_position_embedding=False)
    encoder.build((None, 9, 8))
    with pytest.raises(KerasViTError):
        encoder.resampled_position_embedding((4, 4))
