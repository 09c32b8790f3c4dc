"""Multi-head self-attention inside windows, with a relative position bias (Swin V1) or cosine attention and a
continuous position bias (Swin V2)."""

import math

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.attention import attend_and_project, fused_attend_and_project, split_heads, takes_fused_path
from keras_vit.layers.flat_dense import flat_dense
from keras_vit.layers.swin_windows import as_pair, relative_coordinates_table, relative_position_index

# Logit of a masked pair. Set in float32 after the logits are cast there, and finite (it fits float16 as well),
# so a fully masked row, e.g. a padding query, gives a uniform distribution instead of NaN.
MASK_VALUE = -1e4
# Swin V2 clamps the learnable logit scale at log(1 / 0.01), i.e. a temperature of at least 0.01.
MAX_LOGIT_SCALE = math.log(100.0)
# Hidden width of Swin V2's continuous-position-bias MLP in the reference models.
CPB_HIDDEN_DIM = 512


@keras.saving.register_keras_serializable(package="keras_vit")
class WindowAttention(keras.layers.Layer):
    """Self-attention among the wh * ww tokens of each window, plus a learned bias for every relative position.

    Input (batch * windows, wh * ww, dim) gives the same shape. Version 1 (Swin) computes
    softmax(Q K^T / sqrt(head_dim) + B) V with B looked up in a learnable (2 wh - 1)(2 ww - 1) x heads table.
    Version 2 (Swin V2) computes cos(Q, K) * exp(min(s, log 100)) + 16 sigmoid(B) with a learnable scale s per
    head, and B from a small MLP over log-spaced relative coordinates (so it transfers to other window sizes); its
    query/key/value projection has query and value biases only. Logits, bias, mask and softmax are in float32. On
    JAX and torch the attention goes through `keras.ops.dot_product_attention` with the position bias as its bias
    and the shift mask as its mask (`keras_vit.layers.attention.takes_fused_path`).

    Args:
        num_heads: attention heads; must divide the token width.
        window_size: window side, an int or (height, width).
        version: 1 (Swin) or 2 (Swin V2).
        qkv_bias: whether the query/key/value projection has biases (V2: query and value only).
        attention_dropout_rate: dropout on the attention probabilities.
        projection_dropout_rate: dropout on the output projection.
        cpb_hidden_dim: hidden width of the V2 continuous-position-bias MLP.
        pretrained_window_size: V2 only: the window of pre-training, whose size scales the coordinates; None for
            `window_size` itself.

    Example:
        >>> attention = WindowAttention(num_heads=3, window_size=7)
        >>> tuple(attention(np.zeros((8, 49, 96))).shape)
        (8, 49, 96)
    """

    def __init__(self, num_heads, window_size, version=1, qkv_bias=True, attention_dropout_rate=0.0,
                 projection_dropout_rate=0.0, cpb_hidden_dim=CPB_HIDDEN_DIM, pretrained_window_size=None, **kwargs):
        super().__init__(**kwargs)
        if version not in (1, 2):
            raise KerasViTError(f"Swin version must be 1 or 2, got {version}.")
        self.num_heads = int(num_heads)
        self.window_size = as_pair(window_size)
        if min(self.window_size) < 1:
            raise KerasViTError(f"window_size must be at least 1, got {window_size}.")
        self.version = int(version)
        self.qkv_bias = bool(qkv_bias)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.projection_dropout_rate = float(projection_dropout_rate)
        self.cpb_hidden_dim = int(cpb_hidden_dim)
        self.pretrained_window_size = None if pretrained_window_size is None else as_pair(pretrained_window_size)
        self.attention_dropout = keras.layers.Dropout(self.attention_dropout_rate, dtype=self.dtype_policy)
        self.projection_dropout = keras.layers.Dropout(self.projection_dropout_rate, dtype=self.dtype_policy)
        self._index = relative_position_index(self.window_size).reshape(-1)

    @property
    def window_tokens(self):
        return self.window_size[0] * self.window_size[1]

    def build(self, input_shape):
        dim, tokens = input_shape[-1], input_shape[-2]
        if dim % self.num_heads:
            raise KerasViTError(f"Width {dim} is not divisible by the number of heads {self.num_heads}.")
        if tokens is not None and tokens != self.window_tokens:
            raise KerasViTError(
                f"WindowAttention for {self.window_size[0]}x{self.window_size[1]} windows expects "
                f"{self.window_tokens} tokens per window, got {tokens}.")
        self.head_dim = dim // self.num_heads
        policy = self.dtype_policy
        table_size = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        if self.version == 1:
            self.qkv = keras.layers.Dense(3 * dim, use_bias=self.qkv_bias, dtype=policy, name="qkv")
            self.relative_position_bias_table = self.add_weight(
                shape=(table_size, self.num_heads), name="relative_position_bias_table",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        else:
            self.qkv = keras.layers.Dense(3 * dim, use_bias=False, dtype=policy, name="qkv")
            if self.qkv_bias:
                self.q_bias = self.add_weight(shape=(dim,), name="q_bias", initializer="zeros")
                self.v_bias = self.add_weight(shape=(dim,), name="v_bias", initializer="zeros")
            self.logit_scale = self.add_weight(shape=(self.num_heads,), name="logit_scale",
                                               initializer=keras.initializers.Constant(math.log(10.0)))
            # The bias MLP is tiny and feeds float32 logits: it stays in float32 under mixed precision.
            self.cpb_fc1 = keras.layers.Dense(self.cpb_hidden_dim, activation="relu", dtype="float32",
                                              name="cpb_fc1")
            self.cpb_fc1.build((None, 2))
            self.cpb_fc2 = keras.layers.Dense(self.num_heads, use_bias=False, dtype="float32", name="cpb_fc2")
            self.cpb_fc2.build((None, self.cpb_hidden_dim))
            self._coordinates = relative_coordinates_table(self.window_size, self.pretrained_window_size)
        self.qkv.build(input_shape)
        self.projection = keras.layers.Dense(dim, dtype=policy, name="projection")
        self.projection.build(input_shape)
        self.built = True

    def relative_position_bias(self):
        """The (heads, wh * ww, wh * ww) float32 bias added to the logits of every window."""
        if self.version == 1:
            table = ops.cast(self.relative_position_bias_table, "float32")
        else:
            table = 16.0 * ops.sigmoid(self.cpb_fc2(self.cpb_fc1(ops.convert_to_tensor(self._coordinates))))
        bias = ops.take(table, ops.convert_to_tensor(self._index), axis=0)
        bias = ops.reshape(bias, (self.window_tokens, self.window_tokens, self.num_heads))
        return ops.transpose(bias, (2, 0, 1))

    def call(self, inputs, attention_mask=None, training=None, return_attention_scores=False):
        """Attention within each window.

        Args:
            inputs: (batch * windows, wh * ww, dim) tokens, windows of one image consecutive.
            attention_mask: optional boolean (windows, wh * ww, wh * ww), True where a query may attend to a key.
            training: enables dropout.
            return_attention_scores: also return the (batch * windows, heads, wh * ww, wh * ww) probabilities.
        """
        tokens, dim = self.window_tokens, inputs.shape[-1]
        qkv = flat_dense(self.qkv, inputs)
        if self.version == 2 and self.qkv_bias:
            bias = ops.concatenate([self.q_bias, ops.zeros((dim,), self.q_bias.dtype), self.v_bias])
            qkv = qkv + ops.cast(bias, qkv.dtype)
        if takes_fused_path(self, training, return_attention_scores):
            return self._fused_call(qkv, attention_mask, training)
        query, key, value = split_heads(qkv, self.num_heads)
        if self.version == 1:
            logits = ops.matmul(query * (self.head_dim ** -0.5), ops.transpose(key, (0, 1, 3, 2)))
            logits = ops.cast(logits, "float32")
        else:
            query, key = _l2_normalize(query), _l2_normalize(key)
            scale = ops.exp(ops.minimum(ops.cast(self.logit_scale, "float32"), MAX_LOGIT_SCALE))
            logits = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))) * ops.reshape(scale, (-1, 1, 1))
        logits = logits + self.relative_position_bias()
        if attention_mask is not None:
            mask = ops.convert_to_tensor(attention_mask, dtype="bool")
            windows = mask.shape[0]
            logits = ops.reshape(logits, (-1, windows, self.num_heads, tokens, tokens))
            logits = ops.where(mask[None, :, None], logits, MASK_VALUE)
            logits = ops.reshape(logits, (-1, self.num_heads, tokens, tokens))
        if tokens == 1:  # a 1x1 window: softmax over one key is exp(0) = 1 (written out; Keras warns on it)
            probabilities = ops.cast(ops.exp(logits - ops.max(logits, axis=-1, keepdims=True)), inputs.dtype)
        else:
            probabilities = ops.cast(ops.softmax(logits, axis=-1), inputs.dtype)
        return attend_and_project(self, probabilities, value, training, return_attention_scores)

    def _fused_call(self, qkv, attention_mask, training):
        """`call` through `keras.ops.dot_product_attention`: the same logits, bias and mask as the explicit path."""
        query, key, value = split_heads(qkv, self.num_heads, heads_first=False)
        if self.version == 1:
            scale = self.head_dim ** -0.5
        else:  # cosine attention: the per-head logit scale goes into the normalised queries
            logit_scale = ops.exp(ops.minimum(ops.cast(self.logit_scale, "float32"), MAX_LOGIT_SCALE))
            query = _l2_normalize(query) * ops.reshape(logit_scale, (1, 1, -1, 1))
            key, scale = _l2_normalize(key), 1.0
        mask = None
        if attention_mask is not None:  # (windows, N, N) for the windows of one image -> every image's windows
            mask = ops.convert_to_tensor(attention_mask, dtype="bool")[:, None]
            mask = ops.tile(mask, (ops.shape(qkv)[0] // mask.shape[0], 1, 1, 1))
        return fused_attend_and_project(self, query, key, value, training, bias=self.relative_position_bias()[None],
                                        mask=mask, scale=scale)

    def compute_output_spec(self, inputs, attention_mask=None, training=None, return_attention_scores=False):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        shape = (inputs.shape[0], self.num_heads, self.window_tokens, self.window_tokens)
        return outputs, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": list(self.window_size),
            "version": self.version,
            "qkv_bias": self.qkv_bias,
            "attention_dropout_rate": self.attention_dropout_rate,
            "projection_dropout_rate": self.projection_dropout_rate,
            "cpb_hidden_dim": self.cpb_hidden_dim,
            "pretrained_window_size": (None if self.pretrained_window_size is None
                                       else list(self.pretrained_window_size)),
        }


def _l2_normalize(x):
    """x / max(||x||, 1e-12) along the last axis, in float32 (the epsilon of the reference F.normalize)."""
    x = ops.cast(x, "float32")
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-24))
