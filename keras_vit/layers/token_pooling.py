"""Reducing a token sequence to one vector: the class token, or the mean of all tokens."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError

POOLINGS = ("token", "gap")


@keras.saving.register_keras_serializable(package="keras_vit")
class TokenPooling(keras.layers.Layer):
    """(batch, tokens, dim) -> (batch, dim): the first (class) token, or the global average of the tokens.

    Args:
        pooling: "token" takes token 0 (the class token); "gap" averages every token.

    Example:
        >>> tuple(TokenPooling("gap")(np.ones((2, 196, 192))).shape)
        (2, 192)
    """

    def __init__(self, pooling="token", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise KerasViTError(f"pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'.")
        self.pooling = pooling

    def call(self, tokens):
        if self.pooling == "token":
            return tokens[:, 0]
        return ops.mean(tokens, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}
