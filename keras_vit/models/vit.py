"""The Vision Transformer (Dosovitskiy et al. 2021) as a Keras functional model."""

import keras

from keras_vit.errors import KerasViTError
from keras_vit.layers import ConvStem, ImageNormalization, PatchEncoder, Patches, TokenPooling, TransformerBlock
from keras_vit.layers.conv_stem import conv_stem_strides
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.patches import check_patch_grid
from keras_vit.layers.token_pooling import POOLINGS
from keras_vit.models.image_model import ImageModel


def build_vit(image_size=224, patch_size=16, channels=3, num_classes=1000, embed_dim=768, depth=12, num_heads=12,
              mlp_dim=3072, pooling="token", dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0,
              layer_scale_init=None, qkv_bias=True, include_top=True, mean=(0.5,), std=(0.5,),
              classifier_activation=None, conv_stem=None, local_mlp=False, name="vit"):
    """Builds a ViT classifier that takes pixels in [0, 255] and returns logits.

    Layers are named so that checkpoints map onto them: `normalize`, (`stem`,) `patches`, `patch_encoder`,
    `embedding_dropout`, `block_0` ... `block_{depth-1}`, `norm`, `pool`, `head`.

    Args:
        image_size: int for square images, or (height, width).
        patch_size: side of the square patches; must divide both image sides.
        channels: channels of the input images.
        num_classes: classes of the head.
        embed_dim: token width.
        depth: number of transformer blocks.
        num_heads: attention heads; must divide `embed_dim`.
        mlp_dim: hidden width of each block's MLP.
        pooling: "token" (class token, then LayerNorm), "gap" (average of the tokens, then LayerNorm) or "seq"
            (LayerNorm, then the tokens weighted by a learned score: CCT's sequence pooling, `TokenPooling`).
        dropout_rate: dropout after the embeddings, the attention projection and in the MLPs.
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic depth of the last block; it rises linearly from 0 at the first block.
        layer_scale_init: LayerScale start value, or None for no LayerScale.
        qkv_bias: whether the query/key/value projections have biases.
        include_top: with False, the model returns the pooled, normalised features instead of logits.
        mean: per-channel mean on the [0, 1] scale (one value for every channel, or one per channel), used to
            normalise the input inside the model.
        std: per-channel standard deviation on the [0, 1] scale.
        classifier_activation: activation of the head; None returns logits (in float32 under mixed precision).
        conv_stem: None for ViT's patch projection, or the channels of a `ConvStem` of 3x3 convolutions that
            replaces it (ViT_C, Xiao et al. 2021), e.g. (32, 64, 64) for `patch_size` 4.
        local_mlp: a 3x3 depth-wise convolution over the token grid inside each block's MLP, after its first
            Dense layer (LocalViT, Li et al. 2021; `DepthwiseConvMLP`); the class token skips it.
        name: model name.

    Returns:
        An `ImageModel` (a functional `keras.Model`) from (batch, height, width, channels) pixels to (batch,
            num_classes) logits.

    Example:
        >>> model = build_vit(image_size=32, patch_size=4, num_classes=10, embed_dim=64, depth=4, num_heads=4,
        ...                   mlp_dim=128)
        >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
        (2, 10)
    """
    height, width = image_size_pair(image_size)
    _validate(height, width, patch_size, embed_dim, num_heads, depth, pooling, num_classes, include_top)
    grid = (height // patch_size, width // patch_size)

    images = keras.Input((height, width, channels), name="images")
    x = ImageNormalization(mean, std, name="normalize")(images)
    if conv_stem:
        x = ConvStem(conv_stem, patch_size, name="stem")(x)
    x = Patches(1 if conv_stem else patch_size, name="patches")(x)
    x = PatchEncoder(embed_dim, grid, use_class_token=pooling == "token", name="patch_encoder")(x)
    x = keras.layers.Dropout(dropout_rate, name="embedding_dropout")(x)
    for index, rate in enumerate(drop_path_rates(drop_path_rate, depth)):
        x = TransformerBlock(num_heads, mlp_dim, dropout_rate=dropout_rate,
                             attention_dropout_rate=attention_dropout_rate, drop_path_rate=rate,
                             layer_scale_init=layer_scale_init, qkv_bias=qkv_bias,
                             local_grid=grid if local_mlp else None, leading_tokens=int(pooling == "token"),
                             name=f"block_{index}")(x)
    norm = LayerNorm(epsilon=1e-6, name="norm")
    pool = TokenPooling(pooling, name="pool")
    x = norm(pool(x)) if pooling == "gap" else pool(norm(x))
    if include_top:
        x = keras.layers.Dense(num_classes, activation=classifier_activation, dtype="float32", name="head")(x)
    return ImageModel(images, x, name=name)


def count_vit_parameters(image_size=224, patch_size=16, channels=3, num_classes=1000, embed_dim=768, depth=12,
                         mlp_dim=3072, pooling="token", layer_scale_init=None, qkv_bias=True, include_top=True,
                         conv_stem=None, local_mlp=False, **unused_arguments):
    """Trainable parameters of `build_vit(...)` with these arguments, counted without building the model.

    Example:
        >>> count_vit_parameters(embed_dim=192, depth=12, mlp_dim=768)
        5717416
    """
    height, width = image_size_pair(image_size)
    tokens = (height // patch_size) * (width // patch_size) + (pooling == "token")
    dim = embed_dim
    if conv_stem:
        conv_stem_strides(conv_stem, patch_size)
        widths = (channels, *conv_stem)
        stem = sum(9 * before * after + 2 * after for before, after in zip(widths, widths[1:]))  # kernels, BN
        patch_length = conv_stem[-1]
    else:
        stem, patch_length = 0, patch_size * patch_size * channels
    embedding = stem + (patch_length + 1) * dim + tokens * dim + (pooling == "token") * dim
    block = (4 * dim  # two LayerNorms
             + dim * 3 * dim + qkv_bias * 3 * dim + dim * dim + dim  # attention
             + dim * mlp_dim + mlp_dim + mlp_dim * dim + dim  # MLP
             + local_mlp * 10 * mlp_dim  # its 3x3 depth-wise convolution and bias
             + (layer_scale_init is not None) * 2 * dim)
    head = (dim + 1) * num_classes if include_top else 0
    pool = (dim + 1) * (pooling == "seq")
    return embedding + depth * block + 2 * dim + pool + head


def drop_path_rates(drop_path_rate, depth):
    """Stochastic-depth rate of each of `depth` blocks: linear from 0 to `drop_path_rate`."""
    if depth == 1:
        return [0.0]
    return [drop_path_rate * index / (depth - 1) for index in range(depth)]


def image_size_pair(image_size):
    """(height, width) from an int or a pair."""
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def _validate(height, width, patch_size, embed_dim, num_heads, depth, pooling, num_classes, include_top):
    check_patch_grid(height, width, patch_size)
    if embed_dim % num_heads:
        raise KerasViTError(f"Width (embed_dim) {embed_dim} is not divisible by the number of heads {num_heads}.")
    if depth < 1:
        raise KerasViTError(f"depth must be at least 1, got {depth}.")
    if pooling not in POOLINGS:
        raise KerasViTError(f"pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'.")
    if include_top and num_classes < 1:
        raise KerasViTError(f"num_classes must be at least 1, got {num_classes}.")
