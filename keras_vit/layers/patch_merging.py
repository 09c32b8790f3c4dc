"""Swin's downsampling between stages: each 2x2 group of tokens becomes one token of twice the width."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.layer_norm import LayerNorm


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchMerging(keras.layers.Layer):
    """(batch, height, width, dim) -> (batch, height / 2, width / 2, output_dim), by default output_dim = 2 * dim.

    The four neighbours of each 2x2 group are concatenated in the order (top left, bottom left, top right,
    bottom right), the layout of the reference checkpoints, then normalised and projected without bias
    (version 1), or projected and then normalised (version 2).

    Args:
        output_dim: width of the merged tokens; None for twice the input width.
        version: 1 (Swin: LayerNorm then Dense) or 2 (Swin V2: Dense then LayerNorm).
        layer_norm_epsilon: epsilon of the LayerNormalization.

    Example:
        >>> tuple(PatchMerging()(np.zeros((2, 56, 56, 96))).shape)
        (2, 28, 28, 192)
    """

    def __init__(self, output_dim=None, version=1, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if version not in (1, 2):
            raise KerasViTError(f"Swin version must be 1 or 2, got {version}.")
        self.output_dim = None if output_dim is None else int(output_dim)
        self.version = int(version)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.norm = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm")

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise KerasViTError(
                f"PatchMerging expects a (batch, height, width, dim) map of known size, got {input_shape}.")
        height, width, dim = input_shape[1:]
        if height % 2 or width % 2:
            raise KerasViTError(
                f"2x2 patch merging cannot tile a {height}x{width} token grid: both sides must be even.")
        output_dim = self.output_dim or 2 * dim
        self.reduction = keras.layers.Dense(output_dim, use_bias=False, dtype=self.dtype_policy, name="reduction")
        self.reduction.build((None, 4 * dim))
        self.norm.build((None, 4 * dim if self.version == 1 else output_dim))
        self.built = True

    def call(self, inputs):
        height, width, dim = inputs.shape[1:]
        x = ops.reshape(inputs, (-1, height // 2, 2, width // 2, 2, dim))
        x = ops.transpose(x, (0, 1, 3, 4, 2, 5))  # (..., column offset, row offset, dim)
        x = ops.reshape(x, (-1, height // 2, width // 2, 4 * dim))
        if self.version == 1:
            return self.reduction(self.norm(x))
        return self.norm(self.reduction(x))

    def compute_output_shape(self, input_shape):
        height, width, dim = input_shape[1:]
        return (input_shape[0], height // 2, width // 2, self.output_dim or 2 * dim)

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "version": self.version,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
