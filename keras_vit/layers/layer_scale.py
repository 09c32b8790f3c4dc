"""Per-channel learnable scaling of a residual branch (CaiT, Touvron et al. 2021)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScale(keras.layers.Layer):
    """Multiplies the last axis by a learnable vector initialised to `init_value`.

    Args:
        init_value: starting value of every scale (small, e.g. 1e-5, so deep models start near identity).

    Example:
        >>> tuple(LayerScale(1e-5)(np.ones((2, 197, 192))).shape)
        (2, 197, 192)
    """

    def __init__(self, init_value, **kwargs):
        super().__init__(**kwargs)
        self.init_value = float(init_value)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale",
                                     initializer=keras.initializers.Constant(self.init_value))
        self.built = True

    def call(self, inputs):
        return inputs * ops.cast(self.scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}
