"""The patch embedding that starts each PVT stage: a strided convolution of the map, then a LayerNorm."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.layer_norm import LayerNorm


def embedded_size(size, patch_size, stride):
    """Side of the grid `PyramidPatchEmbedding` makes of a side of `size` (PyTorch's convolution arithmetic).

    Example:
        >>> embedded_size(224, 7, 4), embedded_size(56, 3, 2), embedded_size(30, 4, 4)
        (56, 28, 7)
    """
    padding = patch_size // 2 if stride < patch_size else 0
    return (size + 2 * padding - patch_size) // stride + 1


@keras.saving.register_keras_serializable(package="keras_vit")
class PyramidPatchEmbedding(keras.layers.Layer):
    """(batch, height, width, channels) -> (batch, rows, cols, embed_dim): Conv2D(patch_size, stride), LayerNorm.

    Non-overlapping (PVT v1) when `stride` equals `patch_size`: no padding, and like the reference's convolution
    it drops the last rows and columns of a side that is not a multiple of the stride. Overlapping (PVT v2) when
    `stride` is smaller: `patch_size // 2` zeros on every side, so a side of n gives ceil(n / stride) for an odd
    `patch_size` (kernel 7 stride 4 for the image, kernel 3 stride 2 between stages).

    Args:
        embed_dim: width of the tokens.
        patch_size: side of the convolution kernel.
        stride: stride of the convolution; None for `patch_size` (non-overlapping patches).
        layer_norm_epsilon: epsilon of the LayerNormalization.

    Example:
        >>> tuple(PyramidPatchEmbedding(64, patch_size=7, stride=4)(np.zeros((2, 224, 224, 3))).shape)
        (2, 56, 56, 64)
    """

    def __init__(self, embed_dim, patch_size, stride=None, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = int(embed_dim)
        self.patch_size = int(patch_size)
        self.stride = self.patch_size if stride is None else int(stride)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if not 1 <= self.stride <= self.patch_size:
            raise KerasViTError(f"stride must be in [1, patch_size={self.patch_size}], got {stride}.")
        self.padding = self.patch_size // 2 if self.stride < self.patch_size else 0
        self.projection = keras.layers.Conv2D(self.embed_dim, self.patch_size, strides=self.stride,
                                              dtype=self.dtype_policy, name="projection")
        self.norm = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm")

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise KerasViTError(
                f"PyramidPatchEmbedding expects a (batch, height, width, channels) map of known size, got "
                f"{input_shape}.")
        height, width = input_shape[1:3]
        if min(height, width) + 2 * self.padding < self.patch_size:
            raise KerasViTError(
                f"A {height}x{width} map is smaller than the {self.patch_size}x{self.patch_size} patches "
                f"(patch_size {self.patch_size}, stride {self.stride}): use a larger image or fewer stages.")
        padded = (None, height + 2 * self.padding, width + 2 * self.padding, input_shape[-1])
        self.projection.build(padded)
        self.norm.build((None, self.embed_dim))
        self.built = True

    def call(self, inputs):
        x = inputs
        if self.padding:
            x = ops.pad(x, ((0, 0), (self.padding, self.padding), (self.padding, self.padding), (0, 0)))
        return self.norm(self.projection(x))

    def compute_output_shape(self, input_shape):
        height, width = (embedded_size(side, self.patch_size, self.stride) for side in input_shape[1:3])
        return (input_shape[0], height, width, self.embed_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "patch_size": self.patch_size,
            "stride": self.stride,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
