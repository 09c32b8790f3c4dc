"""The decoder input of masked-image pretraining: kept tokens plus a mask token at every removed patch."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vit")
class MaskTokens(keras.layers.Layer):
    """Fills the removed patches with a learned mask token, restores the patch order, adds position embeddings.

    Inputs: the decoder tokens of the kept patches (batch, prefix + visible, dim), in `RandomMasking`'s order, and
    its restoring indices (batch, num_patches). Output: (batch, prefix + num_patches, dim) in patch order, plus the
    decoder's own learned position embeddings (the class token's included).

    Args:
        num_patches: patches of the full grid.
        num_prefix_tokens: leading tokens that are not patches (1 with a class token).
        embedding_initializer: initializer of the mask token and position embeddings.

    Example:
        >>> visible, mask, restore = RandomMasking(0.75)(np.zeros((2, 16, 8)))
        >>> MaskTokens(16)([visible, restore]).shape
        TensorShape([2, 16, 8])
    """

    def __init__(self, num_patches, num_prefix_tokens=0, embedding_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = int(num_patches)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.embedding_initializer = keras.initializers.get(
            embedding_initializer or keras.initializers.TruncatedNormal(stddev=0.02))

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.mask_token = self.add_weight(shape=(1, 1, dim), name="mask_token",
                                          initializer=self.embedding_initializer)
        self.position_embedding = self.add_weight(shape=(1, self.num_prefix_tokens + self.num_patches, dim),
                                                  name="position_embedding", initializer=self.embedding_initializer)
        self.built = True

    def call(self, inputs):
        tokens, restore = inputs
        batch, dim = ops.shape(tokens)[0], tokens.shape[-1]
        prefix, visible = tokens[:, :self.num_prefix_tokens], tokens[:, self.num_prefix_tokens:]
        removed = self.num_patches - visible.shape[1]
        fill = ops.broadcast_to(ops.cast(self.mask_token, tokens.dtype), (batch, removed, dim))
        shuffled = ops.concatenate([visible, fill], axis=1)
        indices = ops.broadcast_to(ops.expand_dims(restore, -1), (batch, self.num_patches, dim))
        patches = ops.take_along_axis(shuffled, indices, axis=1)
        return ops.concatenate([prefix, patches], axis=1) + ops.cast(self.position_embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.num_prefix_tokens + self.num_patches, input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "num_patches": self.num_patches, "num_prefix_tokens": self.num_prefix_tokens,
                "embedding_initializer": keras.initializers.serialize(self.embedding_initializer)}
