"""Normalisation of [0, 255] pixels inside the model, so training and serving feed the same thing."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


@keras.saving.register_keras_serializable(package="keras_vit")
class ImageNormalization(keras.layers.Layer):
    """Maps pixels in [0, 255] to (pixels / 255 - mean) / std, channel by channel.

    Args:
        mean: per-channel means on the [0, 1] scale (one value for all channels, or one per channel).
        std: per-channel standard deviations on the [0, 1] scale (one value, or one per channel).

    Example:
        >>> normalize = ImageNormalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        >>> tuple(normalize(np.full((1, 2, 2, 3), 255.0)).shape)
        (1, 2, 2, 3)
    """

    def __init__(self, mean=(0.5,), std=(0.5,), **kwargs):
        super().__init__(**kwargs)
        self.mean = _as_floats(mean, "mean")
        self.std = _as_floats(std, "std")
        if any(value <= 0 for value in self.std):
            raise KerasViTError(f"Every std must be positive, got {self.std}.")
        count = max(len(self.mean), len(self.std))
        if {len(self.mean), len(self.std)} - {1, count}:
            raise KerasViTError(f"Normalisation mean {self.mean} and std {self.std} differ in length.")
        means = self.mean * count if len(self.mean) == 1 else self.mean
        stds = self.std * count if len(self.std) == 1 else self.std
        self._scale = [1.0 / (255.0 * s) for s in stds]
        self._offset = [m / s for m, s in zip(means, stds)]

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(self._scale) not in (1, channels):
            raise KerasViTError(
                f"Normalisation constants have {len(self._scale)} values for images with {channels} channels: "
                f"give one value or {channels}."
            )
        self.built = True

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        scale = ops.convert_to_tensor(self._scale, dtype=self.compute_dtype)
        offset = ops.convert_to_tensor(self._offset, dtype=self.compute_dtype)
        return images * scale - offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


def _as_floats(values, name):
    if isinstance(values, (int, float)):
        return (float(values),)
    values = tuple(float(v) for v in values)
    if not values:
        raise KerasViTError(f"Normalisation {name} must hold at least one value.")
    return values
