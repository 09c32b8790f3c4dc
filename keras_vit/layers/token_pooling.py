"""Reducing a token sequence to one vector: the class token, the mean of all tokens, or their learned weighting."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError

POOLINGS = ("token", "gap", "seq")


@keras.saving.register_keras_serializable(package="keras_vit")
class TokenPooling(keras.layers.Layer):
    """(batch, tokens, dim) -> (batch, dim): the first (class) token, the average of the tokens, or a learned
    weighting of them.

    "seq" is the sequence pooling of the Compact Convolutional Transformer (Hassani et al. 2021, "Escaping the Big
    Data Paradigm with Compact Transformers"): a dense layer scores each token, the scores' softmax over the tokens
    weights them, and their weighted sum is the image's vector. It learns which tokens matter, where "gap" weighs
    them all alike, at the cost of `dim + 1` parameters and no class token.

    Args:
        pooling: "token" takes token 0 (the class token); "gap" averages every token; "seq" weighs the tokens by
            the softmax of a learned score.

    Example:
        >>> tuple(TokenPooling("gap")(np.ones((2, 196, 192))).shape)
        (2, 192)
        >>> pool = TokenPooling("seq")
        >>> tuple(pool(np.ones((2, 49, 64))).shape), pool.count_params()
        ((2, 64), 65)
    """

    def __init__(self, pooling="token", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise KerasViTError(f"pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'.")
        self.pooling = pooling
        self.score = keras.layers.Dense(1, dtype=self.dtype_policy, name="score") if pooling == "seq" else None

    def build(self, input_shape):
        if self.score is not None:
            self.score.build(tuple(input_shape))

    def call(self, tokens):
        if self.pooling == "token":
            return tokens[:, 0]
        if self.pooling == "gap":
            return ops.mean(tokens, axis=1)
        weights = ops.softmax(ops.cast(self.score(tokens), "float32"), axis=1)  # (batch, tokens, 1)
        return ops.sum(ops.cast(weights, tokens.dtype) * tokens, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}
