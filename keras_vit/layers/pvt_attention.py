"""Spatial-reduction attention (SRA) of the Pyramid Vision Transformer, and PVT v2's linear SRA."""

import keras
import numpy as np
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.attention import attend_and_project, fused_attend_and_project, split_heads, takes_fused_path
from keras_vit.layers.flat_dense import flat_dense
from keras_vit.layers.gelu import exact_gelu
from keras_vit.layers.layer_norm import LayerNorm

# PVT v2's linear SRA pools keys and values to a fixed 7x7 grid, whatever the image size.
LINEAR_POOL_SIZE = 7


def adaptive_pool_matrix(size, pooled):
    """(pooled, size) matrix whose row i averages the bin [floor(i size / pooled), ceil((i + 1) size / pooled)).

    These are the bins of PyTorch's adaptive average pooling: equal, disjoint bins where `pooled` divides `size`,
    overlapping ones elsewhere (a side smaller than `pooled` repeats its values).

    Example:
        >>> adaptive_pool_matrix(4, 2)
        array([[0.5, 0.5, 0. , 0. ],
               [0. , 0. , 0.5, 0.5]], dtype=float32)
    """
    matrix = np.zeros((pooled, size), "float32")
    for index in range(pooled):
        start, end = (index * size) // pooled, -((-(index + 1) * size) // pooled)
        matrix[index, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="keras_vit")
class SpatialReductionAttention(keras.layers.Layer):
    """Attention of every token of a (rows, cols) grid to keys and values from a reduced copy of the grid.

    Input (batch, [prefix +] rows * cols, dim) gives the same shape. Queries come from every token. Keys and
    values come from the grid reduced by a `sr_ratio` x `sr_ratio` convolution of stride `sr_ratio` and a
    LayerNorm (PVT v1 and v2), from the grid itself with `sr_ratio=1` (plain attention), or, with `linear=True`
    (PVT v2-Li), from the grid average-pooled to 7x7, then a 1x1 convolution, a LayerNorm and GELU.

    Like the reference's convolution without padding, the reduction drops the last rows (columns) of a grid
    whose height (width) is not a multiple of `sr_ratio`: a 15x15 grid with ratio 4 gives 3x3 keys from its top
    left 12x12 tokens. Leading prefix tokens (a class token) are allowed only with plain attention. On JAX and
    torch the attention goes through `keras.ops.dot_product_attention` (`keras_vit.layers.attention.takes_fused_path`).

    Args:
        num_heads: attention heads; must divide the token width.
        grid_size: (rows, cols) of the token grid, or one int for a square grid.
        sr_ratio: reduction ratio of the keys' and values' grid; 1 for plain attention.
        linear: PVT v2's linear SRA (pool to 7x7); `sr_ratio` is then unused.
        qkv_bias: whether the query and key/value projections have biases.
        attention_dropout_rate: dropout on the attention probabilities.
        projection_dropout_rate: dropout on the output projection.
        layer_norm_epsilon: epsilon of the LayerNorm after the reduction.

    Example:
        >>> attention = SpatialReductionAttention(num_heads=2, grid_size=(56, 56), sr_ratio=8)
        >>> outputs, probabilities = attention(np.zeros((2, 3136, 64)), return_attention_scores=True)
        >>> tuple(probabilities.shape)  # 7x7 keys for every one of the 56x56 queries
        (2, 2, 3136, 49)
    """

    def __init__(self, num_heads, grid_size, sr_ratio=1, linear=False, qkv_bias=True, attention_dropout_rate=0.0,
                 projection_dropout_rate=0.0, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.grid_size = as_grid(grid_size)
        self.sr_ratio = int(sr_ratio)
        self.linear = bool(linear)
        self.qkv_bias = bool(qkv_bias)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.projection_dropout_rate = float(projection_dropout_rate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        if self.sr_ratio < 1:
            raise KerasViTError(f"sr_ratio must be at least 1, got {sr_ratio}.")
        rows, cols = self.grid_size
        if not self.linear and (rows < self.sr_ratio or cols < self.sr_ratio):
            raise KerasViTError(
                f"sr_ratio {self.sr_ratio} is larger than the {rows}x{cols} token grid: the reduction would leave "
                f"no keys. Use an sr_ratio of at most {min(rows, cols)} or a larger image.")
        self.attention_dropout = keras.layers.Dropout(self.attention_dropout_rate, dtype=self.dtype_policy)
        self.projection_dropout = keras.layers.Dropout(self.projection_dropout_rate, dtype=self.dtype_policy)

    @property
    def reduces(self):
        """Whether keys and values come from a reduced grid (linear SRA, or sr_ratio > 1)."""
        return self.linear or self.sr_ratio > 1

    @property
    def key_grid(self):
        """(rows, cols) of the keys' grid."""
        if self.linear:
            return (LINEAR_POOL_SIZE, LINEAR_POOL_SIZE)
        return (self.grid_size[0] // self.sr_ratio, self.grid_size[1] // self.sr_ratio)

    def build(self, input_shape):
        dim, tokens = input_shape[-1], input_shape[1]
        if dim % self.num_heads:
            raise KerasViTError(f"Width {dim} is not divisible by the number of heads {self.num_heads}.")
        rows, cols = self.grid_size
        prefix = None if tokens is None else tokens - rows * cols
        if prefix is not None and (prefix < 0 or (prefix and self.reduces)):
            allowed = "exactly" if self.reduces else "at least"
            raise KerasViTError(
                f"SpatialReductionAttention on a {rows}x{cols} grid needs {allowed} {rows * cols} tokens, got "
                f"{tokens}" + (" (prefix tokens such as a class token need sr_ratio=1 and linear=False)."
                               if prefix > 0 else "."))
        self.head_dim = dim // self.num_heads
        policy = self.dtype_policy
        self.query = keras.layers.Dense(dim, use_bias=self.qkv_bias, dtype=policy, name="query")
        self.query.build(input_shape)
        self.key_value = keras.layers.Dense(2 * dim, use_bias=self.qkv_bias, dtype=policy, name="key_value")
        self.key_value.build(input_shape)
        self.projection = keras.layers.Dense(dim, dtype=policy, name="projection")
        self.projection.build(input_shape)
        if self.reduces:
            kernel = 1 if self.linear else self.sr_ratio
            self.reduction = keras.layers.Conv2D(dim, kernel, strides=kernel, dtype=policy, name="reduction")
            self.reduction.build((None, *(self.key_grid if self.linear else self.grid_size), dim))
            self.norm = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm")
            self.norm.build((None, None, dim))
        if self.linear:
            self._pool_rows = adaptive_pool_matrix(rows, LINEAR_POOL_SIZE)
            self._pool_cols = adaptive_pool_matrix(cols, LINEAR_POOL_SIZE)
        self.built = True

    def reduced_tokens(self, inputs, training=None):
        """The (batch, key tokens, dim) tokens the keys and values are projected from."""
        if not self.reduces:
            return inputs
        rows, cols = self.grid_size
        dim = inputs.shape[-1]
        grid = ops.reshape(inputs, (-1, rows, cols, dim))
        if self.linear:
            pool_rows = ops.convert_to_tensor(self._pool_rows, dtype=grid.dtype)
            pool_cols = ops.convert_to_tensor(self._pool_cols, dtype=grid.dtype)
            grid = ops.einsum("ih,bhwc,jw->bijc", pool_rows, grid, pool_cols)
        else:  # the convolution of stride sr_ratio would skip them anyway: drop the rows and columns left over
            kept = (self.key_grid[0] * self.sr_ratio, self.key_grid[1] * self.sr_ratio)
            if kept != (rows, cols):  # a slice's gradient is a full-size scatter: only where something is left over
                grid = grid[:, :kept[0], :kept[1]]
        reduced = self.reduction(grid)
        reduced = self.norm(ops.reshape(reduced, (-1, self.key_grid[0] * self.key_grid[1], dim)))
        if self.linear:
            reduced = exact_gelu(reduced, training)
        return reduced

    def call(self, inputs, training=None, return_attention_scores=False):
        fused = takes_fused_path(self, training, return_attention_scores)
        query = split_heads(flat_dense(self.query, inputs), self.num_heads, parts=1, heads_first=not fused)[0]
        key, value = split_heads(flat_dense(self.key_value, self.reduced_tokens(inputs, training)), self.num_heads,
                                 parts=2, heads_first=not fused)
        if fused:
            return fused_attend_and_project(self, query, key, value, training, scale=self.head_dim ** -0.5)
        logits = ops.matmul(query * (self.head_dim ** -0.5), ops.transpose(key, (0, 1, 3, 2)))
        logits = ops.cast(logits, "float32")
        if key.shape[2] == 1:  # one key (a 1x1 reduced grid): its softmax is exp(0) = 1 (written out; Keras warns)
            probabilities = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))
        else:
            probabilities = ops.softmax(logits, axis=-1)
        probabilities = ops.cast(probabilities, inputs.dtype)
        return attend_and_project(self, probabilities, value, training, return_attention_scores)

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        keys = inputs.shape[1] if not self.reduces else self.key_grid[0] * self.key_grid[1]
        shape = (inputs.shape[0], self.num_heads, inputs.shape[1], keys)
        return outputs, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "grid_size": list(self.grid_size),
            "sr_ratio": self.sr_ratio,
            "linear": self.linear,
            "qkv_bias": self.qkv_bias,
            "attention_dropout_rate": self.attention_dropout_rate,
            "projection_dropout_rate": self.projection_dropout_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }


def as_grid(grid_size):
    """(rows, cols) from one int or a pair of positive ints; raises `KerasViTError` naming `grid_size` otherwise."""
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if int(rows) < 1 or int(cols) < 1:
        raise KerasViTError(f"grid_size must be positive, got {grid_size}.")
    return (int(rows), int(cols))
