"""The two-layer feed-forward network of a transformer block."""

import keras
from keras import ops

from keras_vit.layers.gelu import exact_gelu


@keras.saving.register_keras_serializable(package="keras_vit")
class MLP(keras.layers.Layer):
    """Dense(hidden_dim, GELU) -> dropout -> Dense(back to the input width) -> dropout.

    GELU is the exact (erf) form, as in the reference ViT and Swin, computed in float32 (`exact_gelu`). The Dense
    layers multiply the tokens as one (rows, width) matrix (see `flat_dense`).

    Args:
        hidden_dim: width of the hidden layer.
        dropout_rate: dropout after each Dense layer.

    Example:
        >>> tuple(MLP(hidden_dim=768)(np.zeros((2, 197, 192))).shape)
        (2, 197, 192)
    """

    def __init__(self, hidden_dim, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.dropout_rate = float(dropout_rate)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.fc1 = keras.layers.Dense(self.hidden_dim, dtype=self.dtype_policy, name="fc1")
        self.fc1.build(input_shape)
        self.fc2 = keras.layers.Dense(input_shape[-1], dtype=self.dtype_policy, name="fc2")
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def call(self, inputs, training=None):
        rows = ops.reshape(inputs, (-1, inputs.shape[-1]))
        hidden = self.dropout(exact_gelu(self.fc1(rows), training), training=training)
        outputs = self.dropout(self.fc2(hidden), training=training)
        return ops.reshape(outputs, ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "dropout_rate": self.dropout_rate}
