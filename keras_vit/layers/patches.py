"""Cutting images into non-overlapping square patches, and putting them back together."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


def extract_patches(images, patch_size):
    """Cuts images into non-overlapping `patch_size` x `patch_size` patches, row by row.

    Each patch is flattened in (row, column, channel) order, the layout of a convolution kernel, so a Dense
    projection of these patches equals a stride-`patch_size` convolution of the image.

    Args:
        images: tensor of shape (batch, height, width, channels) with static height, width and channels.
        patch_size: side of a square patch, in pixels; must divide height and width.

    Returns:
        Tensor of shape (batch, (height // patch_size) * (width // patch_size), patch_size**2 * channels).

    Example:
        >>> tuple(extract_patches(np.zeros((2, 32, 48, 3)), 16).shape)
        (2, 6, 768)
    """
    height, width, channels = _static_image_shape(images.shape, patch_size)
    rows, cols = height // patch_size, width // patch_size
    x = ops.reshape(images, (-1, rows, patch_size, cols, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * cols, patch_size * patch_size * channels))


def patches_to_image(patches, patch_size, height, width):
    """Inverse of `extract_patches`: lays flattened patches back out as images.

    Args:
        patches: tensor of shape (batch, (height // patch_size) * (width // patch_size), patch_size**2 * channels).
        patch_size: side of a square patch, in pixels.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        Tensor of shape (batch, height, width, channels).

    Example:
        >>> images = np.random.rand(2, 32, 48, 3)
        >>> np.array_equal(patches_to_image(extract_patches(images, 16), 16, 32, 48), images)
        True
    """
    check_patch_grid(height, width, patch_size)
    rows, cols = height // patch_size, width // patch_size
    patch_dim = patches.shape[-1]
    if patches.shape[1] is not None and patches.shape[1] != rows * cols:
        raise KerasViTError(
            f"{patches.shape[1]} patches cannot form a {height}x{width} image of {patch_size}x{patch_size} "
            f"patches: expected {rows * cols}."
        )
    if patch_dim % (patch_size * patch_size):
        raise KerasViTError(
            f"Patch length {patch_dim} is not a multiple of patch_size**2 = {patch_size * patch_size}."
        )
    channels = patch_dim // (patch_size * patch_size)
    x = ops.reshape(patches, (-1, rows, cols, patch_size, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, height, width, channels))


def check_patch_grid(height, width, patch_size):
    """Raises `KerasViTError` unless `patch_size` is positive and divides both image sides."""
    if patch_size < 1:
        raise KerasViTError(f"patch_size must be a positive integer, got {patch_size}.")
    if height % patch_size or width % patch_size:
        raise KerasViTError(
            f"Image size {height}x{width} is not divisible by the patch size {patch_size}: "
            f"use an image size that is a multiple of {patch_size}."
        )


def _static_image_shape(shape, patch_size):
    if len(shape) != 4:
        raise KerasViTError(f"Patches expects images of shape (batch, height, width, channels), got {shape}.")
    height, width, channels = shape[1:]
    if None in (height, width, channels):
        raise KerasViTError(f"Patches needs a known height, width and channel count, got image shape {shape}.")
    check_patch_grid(height, width, patch_size)
    return height, width, channels


@keras.saving.register_keras_serializable(package="keras_vit")
class Patches(keras.layers.Layer):
    """Turns images into a sequence of flattened, non-overlapping square patches.

    Input shape (batch, height, width, channels) becomes (batch, num_patches, patch_size**2 * channels), the
    patches ordered row by row. Works for any batch size, non-square images and any channel count. `inverse`
    puts patches back into images (for visualisation and masked-image pretraining).

    Args:
        patch_size: side of a square patch, in pixels.

    Example:
        >>> layer = Patches(4)
        >>> patches = layer(np.zeros((8, 28, 32, 1)))  # (8, 56, 16)
        >>> tuple(layer.inverse(patches, height=28, width=32).shape)
        (8, 28, 32, 1)
    """

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = int(patch_size)

    def build(self, input_shape):
        _static_image_shape(input_shape, self.patch_size)
        self.built = True

    def call(self, images):
        return extract_patches(images, self.patch_size)

    def inverse(self, patches, height, width):
        """Lays patches made by this layer back out as images of `height` x `width` pixels."""
        return patches_to_image(patches, self.patch_size, height, width)

    def compute_output_shape(self, input_shape):
        height, width, channels = _static_image_shape(input_shape, self.patch_size)
        num_patches = (height // self.patch_size) * (width // self.patch_size)
        return (input_shape[0], num_patches, self.patch_size * self.patch_size * channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}
