"""The pre-norm transformer encoder block of ViT."""

import keras

from keras_vit.layers.attention import MultiHeadSelfAttention, attention_with_scores
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.mlp import MLP
from keras_vit.layers.pvt_attention import as_grid
from keras_vit.layers.pvt_mlp import DepthwiseConvMLP


@keras.saving.register_keras_serializable(package="keras_vit")
class TransformerBlock(keras.layers.Layer):
    """x + DropPath(LayerScale(Attention(LayerNorm(x)))), then the same around an MLP.

    With `local_grid`, the MLP convolves the hidden features of the grid's tokens with a 3x3 depth-wise
    convolution (`DepthwiseConvMLP`: LocalViT's locality, Li et al. 2021); `leading_tokens` (a class token) skip it.

    Args:
        num_heads: attention heads; must divide the token width.
        mlp_dim: hidden width of the MLP.
        dropout_rate: dropout after the attention projection and in the MLP.
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic-depth rate of both residual branches.
        layer_scale_init: start value of LayerScale on both branches, or None for no LayerScale.
        qkv_bias: whether the query/key/value projection has a bias.
        layer_norm_epsilon: epsilon of both LayerNormalization layers.
        local_grid: (rows, cols) of the tokens' grid for an MLP with a depth-wise convolution, or None for the
            plain MLP.
        leading_tokens: tokens before the grid (1 for a class token); only with `local_grid`.

    Example:
        >>> block = TransformerBlock(num_heads=3, mlp_dim=768)
        >>> tokens, attention = block(np.zeros((2, 197, 192)), return_attention_scores=True)
        >>> tuple(attention.shape)
        (2, 3, 197, 197)
    """

    def __init__(self, num_heads, mlp_dim, dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0,
                 layer_scale_init=None, qkv_bias=True, layer_norm_epsilon=1e-6, local_grid=None, leading_tokens=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.drop_path_rate = float(drop_path_rate)
        self.layer_scale_init = None if layer_scale_init is None else float(layer_scale_init)
        self.qkv_bias = bool(qkv_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.local_grid = None if local_grid is None else as_grid(local_grid)
        self.leading_tokens = int(leading_tokens)
        policy = self.dtype_policy
        self.norm1 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm1")
        self.attention = MultiHeadSelfAttention(self.num_heads, qkv_bias=self.qkv_bias,
                                                attention_dropout_rate=self.attention_dropout_rate,
                                                projection_dropout_rate=self.dropout_rate, dtype=policy,
                                                name="attention")
        self.norm2 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm2")
        if self.local_grid is None:
            self.mlp = MLP(self.mlp_dim, dropout_rate=self.dropout_rate, dtype=policy, name="mlp")
        else:
            self.mlp = DepthwiseConvMLP(self.mlp_dim, self.local_grid, dropout_rate=self.dropout_rate,
                                        leading_tokens=self.leading_tokens, dtype=policy, name="mlp")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy, name="drop_path")
        if self.layer_scale_init is None:
            self.layer_scale1 = self.layer_scale2 = None
        else:
            self.layer_scale1 = LayerScale(self.layer_scale_init, dtype=policy, name="layer_scale1")
            self.layer_scale2 = LayerScale(self.layer_scale_init, dtype=policy, name="layer_scale2")

    def build(self, input_shape):
        for layer in (self.norm1, self.attention, self.norm2, self.mlp, self.layer_scale1, self.layer_scale2):
            if layer is not None:
                layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=None, return_attention_scores=False):
        attended, scores = attention_with_scores(self.attention, self.norm1(inputs), training, return_attention_scores)
        x = inputs + self.drop_path(self._scale(self.layer_scale1, attended), training=training)
        transformed = self.mlp(self.norm2(x), training=training)
        x = x + self.drop_path(self._scale(self.layer_scale2, transformed), training=training)
        if return_attention_scores:
            return x, scores
        return x

    @staticmethod
    def _scale(layer_scale, branch):
        return branch if layer_scale is None else layer_scale(branch)

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False):
        # Same shapes as the attention layer: tokens in, tokens (and attention probabilities) out.
        return self.attention.compute_output_spec(inputs, return_attention_scores=return_attention_scores)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "dropout_rate": self.dropout_rate,
            "attention_dropout_rate": self.attention_dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "layer_scale_init": self.layer_scale_init,
            "qkv_bias": self.qkv_bias,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "local_grid": None if self.local_grid is None else list(self.local_grid),
            "leading_tokens": self.leading_tokens,
        }
