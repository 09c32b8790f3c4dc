"""The Pyramid Vision Transformer block: spatial-reduction attention and an MLP, each around a residual."""

import keras

from keras_vit.errors import KerasViTError
from keras_vit.layers.attention import attention_with_scores
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.mlp import MLP
from keras_vit.layers.pvt_attention import SpatialReductionAttention, as_grid
from keras_vit.layers.pvt_mlp import DepthwiseConvMLP


@keras.saving.register_keras_serializable(package="keras_vit")
class PVTBlock(keras.layers.Layer):
    """x + DropPath(SRA(LayerNorm(x))), then x + DropPath(MLP(LayerNorm(x))), on the tokens of a grid.

    Input (batch, [prefix +] rows * cols, dim) gives the same shape. Version 1 (PVT) has the plain MLP; version 2
    (PVT v2) the MLP with a 3x3 depth-wise convolution (`DepthwiseConvMLP`), and, with `linear`, linear SRA and a
    ReLU before that convolution (PVT v2-Li).

    Args:
        num_heads: attention heads; must divide the width.
        grid_size: (rows, cols) of the token grid, or one int for a square grid.
        sr_ratio: spatial-reduction ratio of the keys and values; 1 for plain attention.
        mlp_ratio: hidden width of the MLP as a multiple of the width.
        version: 1 (PVT) or 2 (PVT v2).
        linear: linear SRA (version 2 only).
        qkv_bias: whether the query and key/value projections have biases.
        dropout_rate: dropout after the attention projection and in the MLP.
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: epsilon of both LayerNormalization layers.

    Example:
        >>> block = PVTBlock(num_heads=1, grid_size=(56, 56), sr_ratio=8, mlp_ratio=8.0)
        >>> tuple(block(np.zeros((2, 3136, 64))).shape)
        (2, 3136, 64)
    """

    def __init__(self, num_heads, grid_size, sr_ratio=1, mlp_ratio=4.0, version=2, linear=False, qkv_bias=True,
                 dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0, layer_norm_epsilon=1e-6,
                 **kwargs):
        super().__init__(**kwargs)
        if version not in (1, 2):
            raise KerasViTError(f"PVT version must be 1 or 2, got {version}.")
        if linear and version == 1:
            raise KerasViTError("linear SRA (linear=True) is PVT v2's: it needs version=2.")
        self.num_heads = int(num_heads)
        self.grid_size = as_grid(grid_size)
        self.sr_ratio = int(sr_ratio)
        self.mlp_ratio = float(mlp_ratio)
        self.version = int(version)
        self.linear = bool(linear)
        self.qkv_bias = bool(qkv_bias)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.drop_path_rate = float(drop_path_rate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        self.norm1 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm1")
        self.attention = SpatialReductionAttention(
            self.num_heads, self.grid_size, sr_ratio=self.sr_ratio, linear=self.linear, qkv_bias=self.qkv_bias,
            attention_dropout_rate=self.attention_dropout_rate, projection_dropout_rate=self.dropout_rate,
            dtype=policy, name="attention")
        self.norm2 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm2")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy, name="drop_path")

    def build(self, input_shape):
        hidden = int(input_shape[-1] * self.mlp_ratio)
        if self.version == 1:
            self.mlp = MLP(hidden, dropout_rate=self.dropout_rate, dtype=self.dtype_policy, name="mlp")
        else:
            self.mlp = DepthwiseConvMLP(hidden, self.grid_size, dropout_rate=self.dropout_rate,
                                        extra_relu=self.linear, dtype=self.dtype_policy, name="mlp")
        for layer in (self.norm1, self.attention, self.norm2, self.mlp):
            layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=None, return_attention_scores=False):
        attended, scores = attention_with_scores(self.attention, self.norm1(inputs), training, return_attention_scores)
        x = inputs + self.drop_path(attended, training=training)
        x = x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)
        if return_attention_scores:
            return x, scores
        return x

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False):
        return self.attention.compute_output_spec(inputs, return_attention_scores=return_attention_scores)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "grid_size": list(self.grid_size),
            "sr_ratio": self.sr_ratio,
            "mlp_ratio": self.mlp_ratio,
            "version": self.version,
            "linear": self.linear,
            "qkv_bias": self.qkv_bias,
            "dropout_rate": self.dropout_rate,
            "attention_dropout_rate": self.attention_dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
