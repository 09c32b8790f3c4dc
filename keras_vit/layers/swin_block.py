"""The Swin Transformer block: (shifted) window attention and an MLP, each around a residual connection."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.mlp import MLP
from keras_vit.layers.swin_attention import WindowAttention
from keras_vit.layers.swin_windows import (as_pair, effective_window, pad_to_windows, shifted_window_mask,
                                           window_partition, window_reverse)


@keras.saving.register_keras_serializable(package="keras_vit")
class SwinTransformerBlock(keras.layers.Layer):
    """One Swin block on a (batch, height, width, dim) feature map; the output has the same shape.

    Version 1 is pre-norm: x + DropPath(WindowMSA(LN(x))), then x + DropPath(MLP(LN(x))). Version 2 normalises
    each branch after it instead: x + DropPath(LN(WindowMSA(x))), then x + DropPath(LN(MLP(x))).

    The window attention rolls the map by -`shift_size` (shifted windows; the builder shifts every second block by
    half a window), pads it at the bottom and right to a multiple of the window, attends within each window, and
    undoes the three steps. A mask keeps tokens from attending across the seams of the roll and to the padding.
    Along an axis where the map is no larger than the window, the window becomes the whole axis and is not shifted.

    Args:
        num_heads: attention heads; must divide the width.
        window_size: window side, an int or (height, width).
        shift_size: cyclic shift, an int or (height, width); 0 for regular windows.
        mlp_ratio: hidden width of the MLP as a multiple of the width.
        version: 1 (Swin) or 2 (Swin V2: post-norm, cosine attention, continuous position bias).
        qkv_bias: whether the query/key/value projection has biases.
        dropout_rate: dropout after the attention projection and in the MLP.
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic-depth rate of both residual branches.
        layer_norm_epsilon: epsilon of both LayerNormalization layers.
        pretrained_window_size: Swin V2 only: the window of pre-training, an int or (height, width), whose size
            scales the coordinates of the continuous position bias (timm's and the reference's
            `pretrained_window_size`, for weights fine-tuned at a larger window); None or 0 for the block's own
            window.

    Example:
        >>> block = SwinTransformerBlock(num_heads=3, window_size=7, shift_size=3)
        >>> tuple(block(np.zeros((2, 56, 56, 96))).shape)
        (2, 56, 56, 96)
    """

    def __init__(self, num_heads, window_size=7, shift_size=0, mlp_ratio=4.0, version=1, qkv_bias=True,
                 dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0, layer_norm_epsilon=1e-5,
                 pretrained_window_size=None, **kwargs):
        super().__init__(**kwargs)
        if version not in (1, 2):
            raise KerasViTError(f"Swin version must be 1 or 2, got {version}.")
        self.num_heads = int(num_heads)
        self.window_size = as_pair(window_size)
        self.shift_size = as_pair(shift_size, "shift_size")
        effective_window(self.window_size, window_size, shift_size)  # validates window and shift
        self.mlp_ratio = float(mlp_ratio)
        self.version = int(version)
        self.qkv_bias = bool(qkv_bias)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.drop_path_rate = float(drop_path_rate)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.pretrained_window_size = pretrained_window_pair(pretrained_window_size, self.version)
        policy = self.dtype_policy
        self.norm1 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm1")
        self.norm2 = LayerNorm(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm2")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy, name="drop_path")

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise KerasViTError(
                f"SwinTransformerBlock expects a (batch, height, width, dim) map of known size, got {input_shape}.")
        height, width, dim = input_shape[1:]
        if dim % self.num_heads:
            raise KerasViTError(f"Width {dim} is not divisible by the number of heads {self.num_heads}.")
        self.resolution = (height, width)
        self.effective_window_size, self.effective_shift_size = effective_window(
            self.resolution, self.window_size, self.shift_size)
        self._attention_mask = shifted_window_mask(self.resolution, self.effective_window_size,
                                                   self.effective_shift_size)
        policy = self.dtype_policy
        self.attention = WindowAttention(self.num_heads, self.effective_window_size, version=self.version,
                                         qkv_bias=self.qkv_bias, attention_dropout_rate=self.attention_dropout_rate,
                                         projection_dropout_rate=self.dropout_rate,
                                         pretrained_window_size=self.pretrained_window_size, dtype=policy,
                                         name="attention")
        self.attention.build((None, self.attention.window_tokens, dim))
        self.mlp = MLP(int(dim * self.mlp_ratio), dropout_rate=self.dropout_rate, dtype=policy, name="mlp")
        self.mlp.build(input_shape)
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.built = True

    @property
    def attention_mask(self):
        """The boolean (windows, tokens, tokens) mask of this block's windows, or None (see `shifted_window_mask`)."""
        return self._attention_mask

    def window_attention(self, x, training=None):
        """The attention branch without norm or residual: roll, pad, attend in windows, unpad, roll back."""
        height, width = self.resolution
        shift = self.effective_shift_size
        if any(shift):
            x = roll_2d(x, (-shift[0], -shift[1]))
        padded = pad_to_windows(x, self.effective_window_size)
        windows = window_partition(padded, self.effective_window_size)
        attended = self.attention(windows, attention_mask=self._attention_mask, training=training)
        x = window_reverse(attended, self.effective_window_size, padded.shape[1], padded.shape[2])
        if tuple(padded.shape[1:3]) != (height, width):  # a slice's gradient is a full-size scatter: only if padded
            x = x[:, :height, :width, :]
        if any(shift):
            x = roll_2d(x, shift)
        return x

    def call(self, inputs, training=None):
        if self.version == 1:
            attended = self.window_attention(self.norm1(inputs), training=training)
            x = inputs + self.drop_path(attended, training=training)
            return x + self.drop_path(self.mlp(self.norm2(x), training=training), training=training)
        attended = self.norm1(self.window_attention(inputs, training=training))
        x = inputs + self.drop_path(attended, training=training)
        return x + self.drop_path(self.norm2(self.mlp(x, training=training)), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": list(self.window_size),
            "shift_size": list(self.shift_size),
            "mlp_ratio": self.mlp_ratio,
            "version": self.version,
            "qkv_bias": self.qkv_bias,
            "dropout_rate": self.dropout_rate,
            "attention_dropout_rate": self.attention_dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "pretrained_window_size": (None if self.pretrained_window_size is None
                                       else list(self.pretrained_window_size)),
        }


def pretrained_window_pair(pretrained_window_size, version):
    """(height, width) of a Swin V2 pre-training window, or None for "the block's own window" (None or 0).

    Raises:
        KerasViTError: a pre-training window for Swin V1, which has no continuous position bias, or one below 0.
    """
    if pretrained_window_size is None:
        return None
    pair = as_pair(pretrained_window_size, "pretrained_window_size")
    if min(pair) < 0 or (0 in pair and max(pair)):
        raise KerasViTError(f"pretrained_window_size must be at least 1 on both sides (or 0 for none), got "
                            f"{pretrained_window_size}.")
    if not max(pair):
        return None
    if version != 2:
        raise KerasViTError(f"pretrained_window_size={pretrained_window_size} applies to Swin V2 only (version=2).")
    return pair


def roll_2d(x, shift):
    """`ops.roll(x, shift, axis=(1, 2))` as a split and a concatenation per axis.

    The same values, but it lowers to ops every runtime has: TFLite has no builtin Roll (a Flex op that its
    interpreter cannot run without the Select TF ops library), whereas splits and concatenations are builtins. A
    split's gradient is a concatenation; two slices' would be two zero-filled full-size tensors added together.

    Example:
        >>> feature_map = np.arange(2 * 7 * 5 * 3, dtype="float32").reshape(2, 7, 5, 3)
        >>> shifted = roll_2d(feature_map, (-3, -3))
        >>> np.array_equal(ops.convert_to_numpy(shifted), np.roll(feature_map, (-3, -3), axis=(1, 2)))
        True
    """
    for axis, amount in zip((1, 2), shift):
        size = x.shape[axis]
        amount %= size
        if amount:
            head, tail = ops.split(x, [size - amount], axis=axis)
            x = ops.concatenate([tail, head], axis=axis)
    return x
