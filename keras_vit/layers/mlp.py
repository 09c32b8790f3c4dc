"""The two-layer feed-forward network of a transformer block."""

import keras


@keras.saving.register_keras_serializable(package="keras_vit")
class MLP(keras.layers.Layer):
    """Dense(hidden_dim, GELU) -> dropout -> Dense(back to the input width) -> dropout.

    GELU is the exact (erf) form, as in the reference ViT and Swin.

    Args:
        hidden_dim: width of the hidden layer.
        dropout_rate: dropout after each Dense layer.

    Example:
        >>> MLP(hidden_dim=768)(np.zeros((2, 197, 192))).shape
        TensorShape([2, 197, 192])
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
        hidden = keras.activations.gelu(self.fc1(inputs), approximate=False)
        hidden = self.dropout(hidden, training=training)
        return self.dropout(self.fc2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "dropout_rate": self.dropout_rate}
