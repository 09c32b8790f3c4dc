"""PVT v2's feed-forward network: a 3x3 depth-wise convolution over the token grid between the two Dense layers.

The same network is the locality of LocalViT (Li et al. 2021, "LocalViT: Bringing Locality to Vision Transformers")
in a plain ViT's blocks (`build_vit(local_mlp=True)`)."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.flat_dense import flat_dense
from keras_vit.layers.gelu import exact_gelu
from keras_vit.layers.mlp import MLP
from keras_vit.layers.pvt_attention import as_grid


@keras.saving.register_keras_serializable(package="keras_vit")
class DepthwiseConvMLP(MLP):
    """Dense(hidden_dim) -> [ReLU] -> 3x3 depth-wise conv on the grid -> GELU -> dropout -> Dense -> dropout.

    Input (batch, rows * cols, dim) gives the same shape. The convolution (zero padding 1, with bias) gives the
    tokens the position information PVT v2 has instead of position embeddings, so one layer works on the grid of
    any image size it is built for. PVT v2-Li adds a ReLU before the convolution (`extra_relu=True`).

    Tokens before the grid (`leading_tokens`, e.g. ViT's class token: input (batch, leading + rows * cols, dim))
    take the two Dense layers and the activation but not the convolution, which sees the grid alone.

    Args:
        hidden_dim: width of the hidden layer.
        grid_size: (rows, cols) of the token grid, or one int for a square grid.
        dropout_rate: dropout after the activation and after the second Dense layer.
        extra_relu: a ReLU before the depth-wise convolution (PVT v2-Li).
        leading_tokens: tokens before the grid that the convolution skips (1 for a class token).

    Example:
        >>> tuple(DepthwiseConvMLP(hidden_dim=512, grid_size=(56, 56))(np.zeros((2, 3136, 64))).shape)
        (2, 3136, 64)
    """

    def __init__(self, hidden_dim, grid_size, dropout_rate=0.0, extra_relu=False, leading_tokens=0, **kwargs):
        super().__init__(hidden_dim, dropout_rate=dropout_rate, **kwargs)
        self.grid_size = as_grid(grid_size)
        self.extra_relu = bool(extra_relu)
        self.leading_tokens = int(leading_tokens)
        if self.leading_tokens < 0:
            raise KerasViTError(f"leading_tokens must be 0 or more, got {leading_tokens}.")

    def build(self, input_shape):
        rows, cols = self.grid_size
        tokens = self.leading_tokens + rows * cols
        if input_shape[1] is not None and input_shape[1] != tokens:
            leading = f" after {self.leading_tokens} leading" if self.leading_tokens else ""
            raise KerasViTError(
                f"DepthwiseConvMLP on a {rows}x{cols} grid{leading} needs {tokens} tokens, got {input_shape[1]}.")
        self.depthwise = keras.layers.DepthwiseConv2D(3, padding="same", dtype=self.dtype_policy, name="depthwise")
        self.depthwise.build((None, rows, cols, self.hidden_dim))
        super().build(input_shape)

    def call(self, inputs, training=None):
        hidden = flat_dense(self.fc1, inputs)
        if self.extra_relu:
            hidden = ops.relu(hidden)
        hidden = self._convolve_grid(hidden)
        hidden = self.dropout(exact_gelu(hidden, training), training=training)
        return self.dropout(flat_dense(self.fc2, hidden), training=training)

    def _convolve_grid(self, hidden):
        """The depth-wise convolution of the grid's tokens of (batch, tokens, hidden_dim) `hidden`."""
        leading, grid = ops.split(hidden, [self.leading_tokens], axis=1) if self.leading_tokens else (None, hidden)
        grid = self.depthwise(ops.reshape(grid, (-1, *self.grid_size, self.hidden_dim)))
        grid = ops.reshape(grid, (-1, self.grid_size[0] * self.grid_size[1], self.hidden_dim))
        return grid if leading is None else ops.concatenate([leading, grid], axis=1)

    def get_config(self):
        return {**super().get_config(), "grid_size": list(self.grid_size), "extra_relu": self.extra_relu,
                "leading_tokens": self.leading_tokens}
