"""Multi-head self-attention with one fused query/key/value projection, and what every attention layer here shares:
splitting heads, the fused path through `keras.ops.dot_product_attention`, merging heads and projecting."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.flat_dense import flat_dense

# Backends whose `keras.ops.dot_product_attention` is a fused kernel: JAX (cuDNN flash attention on GPUs, Splash on
# TPUs, XLA elsewhere) and torch (scaled_dot_product_attention). On TensorFlow it is the same matmuls and softmax,
# which keras-hub measured slower than writing them out, so the explicit path stays there.
FUSED_ATTENTION_BACKENDS = ("jax", "torch")


def split_heads(qkv, num_heads, parts=3, heads_first=True):
    """Fused (batch, tokens, parts * dim) projections, e.g. [q | k | v] -> `parts` tensors of (batch, heads,
    tokens, d): query, key and value, or key and value (`parts=2`) where the query is projected apart. With
    `heads_first=False` they are (batch, tokens, heads, d), the layout of `keras.ops.dot_product_attention`."""
    head_dim = qkv.shape[-1] // (parts * num_heads)
    qkv = ops.reshape(qkv, (-1, ops.shape(qkv)[1], parts, num_heads, head_dim))
    return ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4) if heads_first else (2, 0, 1, 3, 4)), num=parts, axis=0)


def takes_fused_path(layer, training=None, return_attention_scores=False):
    """Whether `layer` attends through `keras.ops.dot_product_attention`: on the backends that fuse it, unless the
    attention probabilities are asked for or dropped out (neither is possible inside the fused kernel)."""
    dropped_out = bool(training) and layer.attention_dropout_rate > 0
    return keras.backend.backend() in FUSED_ATTENTION_BACKENDS and not (return_attention_scores or dropped_out)


def fused_attend_and_project(layer, query, key, value, training=None, **attention):
    """`keras.ops.dot_product_attention` of (batch, tokens, heads, d) queries, keys and values (`attention`: its
    `bias`, `mask` and `scale`), then heads merged, `layer.projection` and `layer.projection_dropout`."""
    return _merge_and_project(layer, ops.dot_product_attention(query, key, value, **attention), training)


def attend_and_project(layer, probabilities, value, training=None, return_attention_scores=False):
    """Probabilities (with `layer.attention_dropout`) times (batch, heads, tokens, d) values, heads merged, then
    `layer.projection` and `layer.projection_dropout`: the part every attention layer here shares after its
    softmax on the explicit path. Returns the outputs, and the probabilities with `return_attention_scores`."""
    attended = ops.matmul(layer.attention_dropout(probabilities, training=training), value)
    outputs = _merge_and_project(layer, ops.transpose(attended, (0, 2, 1, 3)), training)
    return (outputs, probabilities) if return_attention_scores else outputs


def attention_with_scores(attention, inputs, training=None, return_attention_scores=False):
    """(outputs, probabilities or None) of an attention layer, which is asked for its probabilities only when they
    are wanted: the fused kernels never write them out."""
    attended = attention(inputs, training=training, return_attention_scores=return_attention_scores)
    return attended if return_attention_scores else (attended, None)


def _merge_and_project(layer, attended, training):
    """(batch, tokens, heads, d) -> (batch, tokens, heads * d) -> projection -> dropout."""
    # The queries' token count: spatial-reduction attention has fewer keys and values than queries.
    attended = ops.reshape(attended, (-1, ops.shape(attended)[1], attended.shape[2] * attended.shape[3]))
    return layer.projection_dropout(flat_dense(layer.projection, attended), training=training)


@keras.saving.register_keras_serializable(package="keras_vit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """softmax(Q K^T / sqrt(head_dim)) V over all tokens, in `num_heads` heads, then an output projection.

    Q, K and V come from one Dense layer of width 3 * dim (laid out as [q | k | v], each split into heads), the
    layout of the reference ViT checkpoints. The softmax runs in float32 whatever the compute dtype. On JAX and
    torch the attention goes through `keras.ops.dot_product_attention` (their fused kernels, `takes_fused_path`),
    except when the probabilities are returned or dropped out.

    Args:
        num_heads: number of attention heads; must divide the token width.
        qkv_bias: whether the query/key/value projection has a bias.
        attention_dropout_rate: dropout on the attention probabilities.
        projection_dropout_rate: dropout on the output projection.

    Example:
        >>> attention = MultiHeadSelfAttention(num_heads=3)
        >>> outputs, probabilities = attention(np.zeros((2, 197, 192)), return_attention_scores=True)
        >>> tuple(probabilities.shape)
        (2, 3, 197, 197)
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
        fused = takes_fused_path(self, training, return_attention_scores)
        query, key, value = split_heads(flat_dense(self.qkv, inputs), self.num_heads, heads_first=not fused)
        if fused:
            return fused_attend_and_project(self, query, key, value, training, scale=self.head_dim ** -0.5)
        logits = ops.matmul(query * (self.head_dim ** -0.5), ops.transpose(key, (0, 1, 3, 2)))
        probabilities = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), inputs.dtype)
        return attend_and_project(self, probabilities, value, training, return_attention_scores)

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
