"""Multi-head self-attention with one fused query/key/value projection."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


def split_heads(qkv, num_heads, parts=3):
    """Fused (batch, tokens, parts * dim) projections, e.g. [q | k | v] -> `parts` tensors of (batch, heads,
    tokens, d): query, key and value, or key and value (`parts=2`) where the query is projected apart."""
    head_dim = qkv.shape[-1] // (parts * num_heads)
    qkv = ops.reshape(qkv, (-1, ops.shape(qkv)[1], parts, num_heads, head_dim))
    return ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), num=parts, axis=0)


def attend_and_project(layer, probabilities, value, training=None):
    """Probabilities (with `layer.attention_dropout`) times values, heads merged, then `layer.projection` and
    `layer.projection_dropout`: the part every attention layer here shares after its softmax."""
    attended = ops.matmul(layer.attention_dropout(probabilities, training=training), value)
    num_heads, head_dim = value.shape[1], value.shape[3]
    # The queries' token count: spatial-reduction attention has fewer keys and values than queries.
    attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (-1, ops.shape(attended)[2], num_heads * head_dim))
    return layer.projection_dropout(layer.projection(attended), training=training)


@keras.saving.register_keras_serializable(package="keras_vit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """softmax(Q K^T / sqrt(head_dim)) V over all tokens, in `num_heads` heads, then an output projection.

    Q, K and V come from one Dense layer of width 3 * dim (laid out as [q | k | v], each split into heads), the
    layout of the reference ViT checkpoints. The softmax runs in float32 whatever the compute dtype.

    Args:
        num_heads: number of attention heads; must divide the token width.
        qkv_bias: whether the query/key/value projection has a bias.
        attention_dropout_rate: dropout on the attention probabilities.
        projection_dropout_rate: dropout on the output projection.

    Example:
        >>> attention = MultiHeadSelfAttention(num_heads=3)
        >>> outputs, probabilities = attention(np.zeros((2, 197, 192)), return_attention_scores=True)
        >>> probabilities.shape
        TensorShape([2, 3, 197, 197])
    """

    def __init__(self, num_heads, qkv_bias=True, attention_dropout_rate=0.0, projection_dropout_rate=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.qkv_bias = bool(qkv_bias)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.projection_dropout_rate = float(projection_dropout_rate)
        self.attention_dropout = keras.layers.Dropout(self.attention_dropout_rate, dtype=self.dtype_policy)
        self.projection_dropout = keras.layers.Dropout(self.projection_dropout_rate, dtype=self.dtype_policy)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise KerasViTError(f"Width {dim} is not divisible by the number of heads {self.num_heads}.")
        self.head_dim = dim // self.num_heads
        self.qkv = keras.layers.Dense(3 * dim, use_bias=self.qkv_bias, dtype=self.dtype_policy, name="qkv")
        self.qkv.build(input_shape)
        self.projection = keras.layers.Dense(dim, dtype=self.dtype_policy, name="projection")
        self.projection.build(input_shape)
        self.built = True

    def call(self, inputs, training=None, return_attention_scores=False):
        query, key, value = split_heads(self.qkv(inputs), self.num_heads)
        logits = ops.matmul(query * (self.head_dim ** -0.5), ops.transpose(key, (0, 1, 3, 2)))
        probabilities = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), inputs.dtype)
        outputs = attend_and_project(self, probabilities, value, training=training)
        if return_attention_scores:
            return outputs, probabilities
        return outputs

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        batch, tokens = inputs.shape[0], inputs.shape[1]
        return outputs, keras.KerasTensor((batch, self.num_heads, tokens, tokens), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "qkv_bias": self.qkv_bias,
            "attention_dropout_rate": self.attention_dropout_rate,
            "projection_dropout_rate": self.projection_dropout_rate,
        }
