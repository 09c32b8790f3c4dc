"""Tests of Patches, extract_patches and patches_to_image against a NumPy reference."""

import keras
import numpy as np
import pytest

from helpers import numbers_in, random_pixels, to_numpy
from keras_vit import KerasViTError
from keras_vit.layers import Patches, extract_patches, patches_to_image

# (batch, height, width, channels, patch_size)
SHAPES = [
    (1, 8, 8, 1, 4),
    (3, 12, 20, 3, 4),
    (2, 6, 9, 5, 3),
    (2, 16, 16, 3, 16),
    (4, 4, 6, 3, 1),
]


def reference_patches(images, patch_size):
    """Cuts each patch out with a loop, row by row, flattening it in (row, col, channel) order."""
    batch, height, width, channels = images.shape
    p = patch_size
    out = []
    for b in range(batch):
        patches = []
        for row in range(height // p):
            for col in range(width // p):
                patch = images[b, row * p:(row + 1) * p, col * p:(col + 1) * p, :]
                patches.append([patch[i, j, c] for i in range(p) for j in range(p) for c in range(channels)])
        out.append(patches)
    return np.array(out, dtype=images.dtype)


@pytest.mark.parametrize("batch,height,width,channels,patch_size", SHAPES)
def test_patches_match_numpy_loop(batch, height, width, channels, patch_size):
    images = random_pixels((batch, height, width, channels))
    patches = to_numpy(Patches(patch_size)(images))
    expected = reference_patches(images, patch_size)
    assert patches.shape == (batch, (height // patch_size) * (width // patch_size), patch_size ** 2 * channels)
    np.testing.assert_array_equal(patches, expected)


@pytest.mark.parametrize("batch,height,width,channels,patch_size", SHAPES)
def test_extract_patches_function_matches_numpy_loop(batch, height, width, channels, patch_size):
    images = random_pixels((batch, height, width, channels), seed=1)
    np.testing.assert_array_equal(to_numpy(extract_patches(images, patch_size)),
                                  reference_patches(images, patch_size))


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_patches_with_unknown_batch_in_functional_model(channels):
    inputs = keras.Input((12, 20, channels))
    outputs = Patches(4)(inputs)
    assert tuple(outputs.shape) == (None, 15, 16 * channels)
    model = keras.Model(inputs, outputs)
    for batch in (1, 5):
        images = random_pixels((batch, 12, 20, channels), seed=batch)
        np.testing.assert_array_equal(model.predict(images, verbose=0), reference_patches(images, 4))


def test_patches_compute_output_shape():
    assert tuple(Patches(4).compute_output_shape((None, 12, 20, 5))) == (None, 15, 80)
    assert tuple(Patches(3).compute_output_shape((7, 6, 9, 1))) == (7, 6, 9)


@pytest.mark.parametrize("batch,height,width,channels,patch_size", SHAPES)
def test_patches_to_image_inverts_extract_patches_exactly(batch, height, width, channels, patch_size):
    images = random_pixels((batch, height, width, channels), seed=2)
    restored = patches_to_image(extract_patches(images, patch_size), patch_size, height, width)
    assert np.array_equal(to_numpy(restored), images)


def test_patches_inverse_method_inverts_layer():
    images = random_pixels((3, 12, 20, 3), seed=3)
    layer = Patches(4)
    restored = layer.inverse(layer(images), height=12, width=20)
    assert np.array_equal(to_numpy(restored), images)


def test_patches_to_image_of_reference_patches_rebuilds_image():
    images = random_pixels((2, 6, 9, 5), seed=4)
    restored = patches_to_image(reference_patches(images, 3), 3, 6, 9)
    assert np.array_equal(to_numpy(restored), images)


def test_dense_on_patches_equals_strided_convolution():
    patch_size, channels, dim = 4, 3, 6
    images = random_pixels((2, 12, 20, channels), seed=5) / 255.0
    dense = keras.layers.Dense(dim, bias_initializer="random_normal")
    projected = to_numpy(dense(Patches(patch_size)(images)))
    kernel = to_numpy(dense.kernel).reshape(patch_size, patch_size, channels, dim)
    bias = to_numpy(dense.bias)
    conv = keras.ops.conv(images, kernel, strides=patch_size, padding="valid", data_format="channels_last")
    conv = to_numpy(conv) + bias
    assert conv.shape == (2, 3, 5, dim)
    np.testing.assert_allclose(projected, conv.reshape(2, 15, dim), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("height,width", [(12, 18), (10, 12), (7, 7)])
def test_patches_rejects_image_not_divisible_by_patch_size(height, width):
    with pytest.raises(KerasViTError) as error:
        Patches(4)(np.zeros((1, height, width, 3), "float32"))
    assert {str(height), str(width), "4"} <= numbers_in(error)


def test_patches_rejects_unknown_height():
    with pytest.raises(KerasViTError):
        Patches(4)(keras.Input((None, 8, 3)))


def test_patches_rejects_non_image_rank():
    with pytest.raises(KerasViTError):
        Patches(2)(np.zeros((2, 8, 8), "float32"))


def test_patches_rejects_non_positive_patch_size():
    with pytest.raises(KerasViTError):
        extract_patches(np.zeros((1, 8, 8, 3), "float32"), 0)


def test_patches_to_image_rejects_wrong_number_of_patches():
    with pytest.raises(KerasViTError):
        patches_to_image(np.zeros((1, 5, 48), "float32"), 4, 12, 20)


def test_patches_to_image_rejects_patch_length_not_multiple_of_area():
    with pytest.raises(KerasViTError):
        patches_to_image(np.zeros((1, 15, 17), "float32"), 4, 12, 20)
