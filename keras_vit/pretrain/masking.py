"""Random masking of patch tokens for masked-image pretraining (He et al. 2021, "Masked Autoencoders")."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


def visible_count(num_patches, mask_ratio):
    """Patches each image keeps: floor(num_patches * (1 - mask_ratio)), at least 1 (as in MAE's `len_keep`).

    Example:
        >>> visible_count(196, 0.75)
        49
    """
    check_mask_ratio(mask_ratio)
    return max(1, int(num_patches * (1 - mask_ratio)))


def check_mask_ratio(mask_ratio):
    """Raises `KerasViTError` unless 0 <= `mask_ratio` < 1."""
    if not 0 <= mask_ratio < 1:
        raise KerasViTError(f"mask_ratio must be in [0, 1), e.g. 0.75, got {mask_ratio}.")


@keras.saving.register_keras_serializable(package="keras_vit")
class RandomMasking(keras.layers.Layer):
    """Keeps `visible_count(num_patches, mask_ratio)` random patch tokens of each image, a new draw every call.

    Input (batch, prefix + num_patches, dim): the leading `num_prefix_tokens` (the class token) are always kept.
    Outputs:
    - the kept tokens (batch, prefix + visible, dim), prefix first, the patches in random order;
    - the mask (batch, num_patches), float32: 1 where a patch was removed, 0 where kept, in patch order;
    - the restoring indices (batch, num_patches), int32: the position of each patch in the order
      [kept patches, removed patches], with which `MaskTokens` puts the patches back in place.

    Args:
        mask_ratio: share of patches removed, in [0, 1).
        num_prefix_tokens: leading tokens that are not patches (1 with a class token).
        seed: seed of the masks.

    Example:
        >>> visible, mask, restore = RandomMasking(0.75)(np.zeros((2, 16, 8)))
        >>> visible.shape, mask.shape
        (TensorShape([2, 4, 8]), TensorShape([2, 16]))
    """

    def __init__(self, mask_ratio=0.75, num_prefix_tokens=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_mask_ratio(mask_ratio)
        self.mask_ratio = float(mask_ratio)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, tokens):
        prefix, patches = tokens[:, :self.num_prefix_tokens], tokens[:, self.num_prefix_tokens:]
        num_patches = patches.shape[1]
        kept = visible_count(num_patches, self.mask_ratio)
        noise = keras.random.uniform((ops.shape(tokens)[0], num_patches), seed=self.seed_generator)
        shuffle = ops.argsort(noise, axis=1)
        restore = ops.cast(ops.argsort(shuffle, axis=1), "int32")
        indices = ops.expand_dims(shuffle[:, :kept], -1)
        visible = ops.take_along_axis(patches, ops.broadcast_to(indices, (ops.shape(tokens)[0], kept,
                                                                           tokens.shape[-1])), axis=1)
        mask = ops.cast(restore >= kept, "float32")
        return ops.concatenate([prefix, visible], axis=1), mask, restore

    def compute_output_shape(self, input_shape):
        num_patches = input_shape[1] - self.num_prefix_tokens
        kept = self.num_prefix_tokens + visible_count(num_patches, self.mask_ratio)
        return (input_shape[0], kept, input_shape[2]), (input_shape[0], num_patches), (input_shape[0], num_patches)

    def compute_output_spec(self, tokens):
        shapes = self.compute_output_shape(tokens.shape)
        return (keras.KerasTensor(shapes[0], dtype=tokens.dtype), keras.KerasTensor(shapes[1], dtype="float32"),
                keras.KerasTensor(shapes[2], dtype="int32"))

    def get_config(self):
        return {**super().get_config(), "mask_ratio": self.mask_ratio, "num_prefix_tokens": self.num_prefix_tokens,
                "seed": self.seed}
