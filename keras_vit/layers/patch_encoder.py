"""Linear projection of patches, an optional class token, and learnable position embeddings."""

import keras
from keras import ops

from keras_vit.errors import KerasViTError


def resample_position_embeddings(embeddings, source_grid, target_grid, num_prefix_tokens=0,
                                 interpolation="bicubic"):
    """Resizes position embeddings laid out on a `source_grid` of patches to a `target_grid`.

    The first `num_prefix_tokens` embeddings (the class token's) are kept as they are; the rest are reshaped
    into a (rows, cols) grid, resized as an image with half-pixel centres, and flattened again. This is how a
    model trained at one image size is used at another.

    Args:
        embeddings: array or tensor of shape (1, num_prefix_tokens + rows * cols, dim).
        source_grid: (rows, cols) of the patch grid the embeddings were trained for.
        target_grid: (rows, cols) of the new patch grid.
        num_prefix_tokens: how many leading embeddings do not belong to the grid (1 with a class token).
        interpolation: "bilinear" or "bicubic" (no antialiasing).

    Returns:
        Tensor of shape (1, num_prefix_tokens + new_rows * new_cols, dim).

    Example:
        >>> old = np.random.rand(1, 1 + 14 * 14, 192).astype("float32")
        >>> tuple(resample_position_embeddings(old, (14, 14), (24, 24), num_prefix_tokens=1).shape)
        (1, 577, 192)
    """
    source_grid, target_grid = tuple(source_grid), tuple(target_grid)
    embeddings = ops.convert_to_tensor(embeddings)
    expected = num_prefix_tokens + source_grid[0] * source_grid[1]
    if len(embeddings.shape) != 3 or embeddings.shape[0] != 1 or embeddings.shape[1] != expected:
        raise KerasViTError(
            f"Position embeddings of shape {tuple(embeddings.shape)} do not fit a {source_grid[0]}x{source_grid[1]} "
            f"grid with {num_prefix_tokens} prefix token(s): expected (1, {expected}, dim)."
        )
    if source_grid == target_grid:
        return embeddings
    dim = embeddings.shape[-1]
    prefix = embeddings[:, :num_prefix_tokens]
    grid = ops.reshape(embeddings[:, num_prefix_tokens:], (1, source_grid[0], source_grid[1], dim))
    grid = ops.image.resize(grid, target_grid, interpolation=interpolation, antialias=False,
                            data_format="channels_last")
    grid = ops.reshape(ops.cast(grid, embeddings.dtype), (1, target_grid[0] * target_grid[1], dim))
    return ops.concatenate([prefix, grid], axis=1)


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchEncoder(keras.layers.Layer):
    """Projects flattened patches to `projection_dim`, prepends a class token, adds position embeddings.

    Input (batch, rows * cols, patch_dim) becomes (batch, [1 +] rows * cols, projection_dim). The position
    embeddings cover the class token too (as in the reference ViT). Swin uses this layer without class token and
    without position embeddings.

    Args:
        projection_dim: width of each token.
        grid_size: (rows, cols) of the patch grid, or one int for a square grid.
        use_class_token: prepend a learnable class token.
        use_position_embedding: add learnable position embeddings.
        embedding_initializer: initializer of the class token and position embeddings.
        kernel_initializer: initializer of the projection kernel.

    Example:
        >>> encoder = PatchEncoder(projection_dim=192, grid_size=(14, 14))
        >>> tuple(encoder(np.zeros((2, 196, 768))).shape)
        (2, 197, 192)
    """

    def __init__(self, projection_dim, grid_size, use_class_token=True, use_position_embedding=True,
                 embedding_initializer=None, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.projection_dim = int(projection_dim)
        self.grid_size = _as_grid(grid_size)
        self.use_class_token = bool(use_class_token)
        self.use_position_embedding = bool(use_position_embedding)
        self.embedding_initializer = keras.initializers.get(
            embedding_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection = keras.layers.Dense(self.projection_dim, kernel_initializer=self.kernel_initializer,
                                             dtype=self.dtype_policy, name="projection")

    @property
    def num_prefix_tokens(self):
        """1 with a class token, else 0."""
        return int(self.use_class_token)

    @property
    def num_patches(self):
        return self.grid_size[0] * self.grid_size[1]

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] != self.num_patches:
            raise KerasViTError(
                f"PatchEncoder was built for a {self.grid_size[0]}x{self.grid_size[1]} grid "
                f"({self.num_patches} patches) but got {input_shape[1]} patches."
            )
        self.projection.build(input_shape)
        if self.use_class_token:
            self.class_token = self.add_weight(shape=(1, 1, self.projection_dim), name="class_token",
                                               initializer=self.embedding_initializer)
        if self.use_position_embedding:
            self.position_embedding = self.add_weight(
                shape=(1, self.num_prefix_tokens + self.num_patches, self.projection_dim),
                name="position_embedding", initializer=self.embedding_initializer)
        self.built = True

    def call(self, patches):
        tokens = self.projection(patches)
        if self.use_class_token:
            class_token = ops.cast(self.class_token, tokens.dtype)
            class_tokens = ops.broadcast_to(class_token, (ops.shape(tokens)[0], 1, self.projection_dim))
            tokens = ops.concatenate([class_tokens, tokens], axis=1)
        if self.use_position_embedding:
            tokens = tokens + ops.cast(self.position_embedding, tokens.dtype)
        return tokens

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_prefix_tokens + self.num_patches, self.projection_dim)

    def resampled_position_embedding(self, target_grid, interpolation="bicubic"):
        """This layer's position embeddings resized to `target_grid`, the class token's kept apart.

        Example:
            >>> old_encoder = PatchEncoder(projection_dim=192, grid_size=(14, 14))  # 224x224 images, 16x16 patches
            >>> old_encoder.build((None, 196, 768))
            >>> new_encoder = PatchEncoder(projection_dim=192, grid_size=(24, 24))  # 384x384 images
            >>> new_encoder.build((None, 576, 768))
            >>> _ = new_encoder.position_embedding.assign(old_encoder.resampled_position_embedding((24, 24)))
            >>> tuple(new_encoder.position_embedding.shape)
            (1, 577, 192)
        """
        if not self.use_position_embedding:
            raise KerasViTError(f"Layer '{self.name}' has no position embeddings to resample.")
        return resample_position_embeddings(self.position_embedding, self.grid_size, _as_grid(target_grid),
                                            self.num_prefix_tokens, interpolation)

    def get_config(self):
        return {
            **super().get_config(),
            "projection_dim": self.projection_dim,
            "grid_size": list(self.grid_size),
            "use_class_token": self.use_class_token,
            "use_position_embedding": self.use_position_embedding,
            "embedding_initializer": keras.initializers.serialize(self.embedding_initializer),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


def _as_grid(grid_size):
    if isinstance(grid_size, int):
        return (grid_size, grid_size)
    rows, cols = grid_size
    return (int(rows), int(cols))
