"""Stochastic depth: dropping a whole residual branch per sample."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


@keras.saving.register_keras_serializable(package="keras_vit")
class DropPath(keras.layers.Layer):
    """Zeroes the input for a random `rate` of the samples in a batch while training, scaling the rest by 1/(1-rate).

    Put on a residual branch, it skips the whole branch for those samples (stochastic depth, Huang et al. 2016).
    At inference it is the identity.

    Args:
        rate: probability of dropping a sample's branch, in [0, 1).
        seed: optional seed of the random draws.

    Example:
        >>> drop = DropPath(0.1)
        >>> tuple(drop(np.ones((4, 197, 192)), training=True).shape)
        (4, 197, 192)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise KerasViTError(f"DropPath rate must be in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        mask_shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(mask_shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.floor(keep + noise)
        return inputs * (mask / keep)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
