"""A convolutional stem: ViT's patchify step done by a few 3x3 convolutions (ViT_C)."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


@keras.saving.register_keras_serializable(package="keras_vit")
class ConvStem(keras.layers.Layer):
    """3x3 convolutions, each followed by batch normalization and ReLU, that shrink the image by `patch_size`.

    Xiao et al. 2021, "Early Convolutions Help Transformers See Better", replace ViT's stride-`patch_size`
    patch projection by a small stack of 3x3 convolutions: the model trains faster, is less sensitive to the
    learning rate and the optimizer, and is more accurate at equal compute. The last log2(`patch_size`)
    convolutions have stride 2 and any before them stride 1; the `PatchEncoder` projection that follows plays the
    paper's final 1x1 convolution. Each pixel of the output is the feature vector of one patch.

    Args:
        channels: output channels of each convolution, e.g. (32, 64, 64); at least log2(`patch_size`) of them.
        patch_size: the downsampling of the whole stem, a power of two.

    Example:
        >>> stem = ConvStem((32, 64, 64), patch_size=4)
        >>> tuple(stem(np.zeros((2, 28, 28, 1))).shape)  # a 7 x 7 grid of 64-channel patch features
        (2, 7, 7, 64)
    """

    def __init__(self, channels, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(int(value) for value in channels)
        self.patch_size = int(patch_size)
        self.strides = conv_stem_strides(self.channels, self.patch_size)
        self.convolutions = [
            keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, dtype=self.dtype_policy,
                                name=f"conv_{index}")
            for index, (width, stride) in enumerate(zip(self.channels, self.strides))]
        self.norms = [keras.layers.BatchNormalization(epsilon=1e-5, dtype=self.dtype_policy, name=f"norm_{index}")
                      for index in range(len(self.channels))]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for convolution, norm in zip(self.convolutions, self.norms):
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
            norm.build(shape)

    def call(self, images, training=None):
        x = images
        for convolution, norm in zip(self.convolutions, self.norms):
            x = ops.relu(norm(convolution(x), training=training))
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        grid = [None if side is None else -(-side // self.patch_size) for side in (height, width)]
        return (batch, *grid, self.channels[-1])

    def get_config(self):
        return {**super().get_config(), "channels": list(self.channels), "patch_size": self.patch_size}


def conv_stem_strides(channels, patch_size):
    """The stride of each convolution of a `ConvStem`: 1 for the first ones, 2 for the last log2(patch_size).

    Raises:
        KerasViTError: `patch_size` is not a power of two, or there are fewer convolutions than stride-2 steps.

    Example:
        >>> conv_stem_strides((32, 64, 64), 4)
        (1, 2, 2)
    """
    if patch_size < 1 or patch_size & (patch_size - 1):
        raise KerasViTError(f"A convolutional stem needs a patch size that is a power of two, got {patch_size}.")
    halvings = patch_size.bit_length() - 1
    if len(channels) < halvings or not all(width > 0 for width in channels):
        raise KerasViTError(
            f"conv_stem {tuple(channels)}: patch size {patch_size} needs at least {halvings} positive channel "
            f"counts (one stride-2 convolution per halving).")
    return (1,) * (len(channels) - halvings) + (2,) * halvings
