"""PVT v1's learnable position embeddings of one stage, and the class token its last stage prepends."""

import keras
from keras import ops

from keras_vit.layers.patch_encoder import resample_position_embeddings
from keras_vit.layers.pvt_attention import as_grid


@keras.saving.register_keras_serializable(package="keras_vit")
class StagePositionEmbedding(keras.layers.Layer):
    """(batch, rows * cols, dim) -> (batch, [1 +] rows * cols, dim): [class token,] tokens, plus positions.

    The position embeddings cover the class token too, as in the reference PVT (and ViT). A model built for
    another image size takes this layer's embeddings through `resampled_position_embedding`: bilinear, the class
    token's kept, as the reference PVT resizes them at run time.

    Args:
        grid_size: (rows, cols) of the stage's token grid, or one int for a square grid.
        use_class_token: prepend a learnable class token (PVT v1's last stage).
        embedding_initializer: initializer of the class token and the position embeddings.

    Example:
        >>> positions = StagePositionEmbedding((7, 7), use_class_token=True)
        >>> tuple(positions(np.zeros((2, 49, 512))).shape)
        (2, 50, 512)
    """

    def __init__(self, grid_size, use_class_token=False, embedding_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = as_grid(grid_size)
        self.use_class_token = bool(use_class_token)
        self.embedding_initializer = keras.initializers.get(
            embedding_initializer or keras.initializers.TruncatedNormal(stddev=0.02))

    @property
    def num_prefix_tokens(self):
        """1 with a class token, else 0."""
        return int(self.use_class_token)

    def build(self, input_shape):
        dim = input_shape[-1]
        if self.use_class_token:
            self.class_token = self.add_weight(shape=(1, 1, dim), name="class_token",
                                               initializer=self.embedding_initializer)
        tokens = self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]
        self.position_embedding = self.add_weight(shape=(1, tokens, dim), name="position_embedding",
                                                  initializer=self.embedding_initializer)
        self.built = True

    def call(self, tokens):
        if self.use_class_token:
            class_token = ops.cast(self.class_token, tokens.dtype)
            class_tokens = ops.broadcast_to(class_token, (ops.shape(tokens)[0], 1, tokens.shape[-1]))
            tokens = ops.concatenate([class_tokens, tokens], axis=1)
        return tokens + ops.cast(self.position_embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1], input_shape[-1])

    def resampled_position_embedding(self, target_grid, interpolation="bilinear"):
        """This layer's position embeddings resized to `target_grid`, the class token's kept apart.

        Example:
            >>> old, new = StagePositionEmbedding((7, 7)), StagePositionEmbedding((14, 14))
            >>> old.build((None, 49, 64))
            >>> new.build((None, 196, 64))
            >>> _ = new.position_embedding.assign(old.resampled_position_embedding(new.grid_size))
            >>> tuple(new.position_embedding.shape)
            (1, 196, 64)
        """
        return resample_position_embeddings(self.position_embedding, self.grid_size, as_grid(target_grid),
                                            self.num_prefix_tokens, interpolation)

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": list(self.grid_size),
            "use_class_token": self.use_class_token,
            "embedding_initializer": keras.initializers.serialize(self.embedding_initializer),
        }
