"""The Swin Transformer (Liu et al. 2021) and Swin V2 (Liu et al. 2022) as Keras functional models."""

import keras

from keras_vit.errors import KerasViTError
from keras_vit.layers import ImageNormalization, PatchEncoder, Patches, TokenPooling
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.patch_merging import PatchMerging
from keras_vit.layers.patches import check_patch_grid
from keras_vit.layers.swin_attention import CPB_HIDDEN_DIM
from keras_vit.layers.swin_block import SwinTransformerBlock
from keras_vit.layers.swin_windows import effective_window
from keras_vit.models.image_model import ImageModel
from keras_vit.models.vit import drop_path_rates, image_size_pair

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_swin(image_size=224, patch_size=4, channels=3, num_classes=1000, embed_dim=96, depths=(2, 2, 6, 2),
               num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0, version=1, qkv_bias=True, dropout_rate=0.0,
               attention_dropout_rate=0.0, drop_path_rate=0.0, layer_norm_epsilon=1e-5, pooling="gap",
               include_top=True, mean=IMAGENET_MEAN, std=IMAGENET_STD, classifier_activation=None, name="swin",
               pretrained_window_sizes=None):
    """Builds a Swin Transformer (V1 or V2) classifier that takes pixels in [0, 255] and returns logits.

    The image is cut into patches, embedded and normalised, then goes through stages of Swin blocks on a
    (height, width) token grid; every second block of a stage shifts its windows by half a window. Each stage
    after the first starts with a 2x2 patch merging that halves the grid and doubles the width (the layout of
    timm's current Swin models). Layers are named so that checkpoints map onto them: `normalize`, `patches`,
    `patch_encoder`, `patch_norm`, `patch_grid` (a reshape), `stage_{s}_merging` (s >= 1),
    `stage_{s}_block_{b}`, `norm`, `flatten_tokens` (a reshape), `pool`, `head`.

    Where a stage's grid is not a multiple of the window, the blocks pad it; where it is no larger than the
    window, the window becomes the whole grid and is not shifted. So any image size works whose patch grid can be
    halved `len(depths) - 1` times.

    Args:
        image_size: int for square images, or (height, width).
        patch_size: side of the square patches; must divide both image sides.
        channels: channels of the input images.
        num_classes: classes of the head.
        embed_dim: token width of the first stage; stage s has embed_dim * 2**s.
        depths: blocks per stage.
        num_heads: attention heads per stage; each must divide its stage's width.
        window_size: side of the attention windows, an int or (height, width).
        mlp_ratio: hidden width of the MLPs as a multiple of the token width.
        version: 1 (Swin) or 2 (Swin V2: post-norm, scaled cosine attention, continuous position bias, merging
            that projects before it normalises).
        qkv_bias: whether the query/key/value projections have biases.
        dropout_rate: dropout after the attention projections and in the MLPs.
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic depth of the last block; it rises linearly from 0 at the first block.
        layer_norm_epsilon: epsilon of every LayerNormalization.
        pooling: "gap" (average of the final tokens), or None with `include_top=False` to return the final,
            normalised (batch, height, width, width) feature map.
        include_top: with False, the model returns features instead of logits.
        mean: per-channel mean on the [0, 1] scale, used to normalise the input inside the model.
        std: per-channel standard deviation on the [0, 1] scale.
        classifier_activation: activation of the head; None returns logits (in float32 under mixed precision).
        name: model name.
        pretrained_window_sizes: Swin V2 only: the window each stage was pre-trained with, one int (or pair) per
            stage, 0 for a stage's own window (timm's `pretrained_window_sizes`, e.g. (12, 12, 12, 6) for weights
            pre-trained at window 12 and fine-tuned at 16); it scales the coordinates of the continuous position
            bias. None: every stage's own window.

    Returns:
        An `ImageModel` (a functional `keras.Model`) from (batch, height, width, channels) pixels to (batch,
            num_classes) logits.

    Raises:
        KerasViTError: an image size not divisible by the patch size, a grid the 2x2 merging cannot halve, heads
            that do not divide a stage's width, or another bad argument; the message names the numbers.

    Example:
        >>> model = build_swin(image_size=32, patch_size=2, num_classes=10, embed_dim=32, depths=(2, 2, 2),
        ...                    num_heads=(2, 4, 8), window_size=4)
        >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
        (2, 10)
    """
    height, width = image_size_pair(image_size)
    depths, num_heads = _as_int_tuple(depths, "depths"), _as_int_tuple(num_heads, "num_heads")
    grids = swin_stage_grids(height, width, patch_size, len(depths))
    _validate(embed_dim, depths, num_heads, window_size, version, pooling, include_top, num_classes)
    pretrained_windows = _per_stage(pretrained_window_sizes, len(depths))

    images = keras.Input((height, width, channels), name="images")
    x = ImageNormalization(mean, std, name="normalize")(images)
    x = Patches(patch_size, name="patches")(x)
    x = PatchEncoder(embed_dim, grids[0], use_class_token=False, use_position_embedding=False,
                     name="patch_encoder")(x)
    x = LayerNorm(epsilon=layer_norm_epsilon, name="patch_norm")(x)
    x = keras.layers.Reshape((*grids[0], embed_dim), name="patch_grid")(x)
    rates = iter(drop_path_rates(drop_path_rate, sum(depths)))
    for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
        if stage:
            x = PatchMerging(version=version, layer_norm_epsilon=layer_norm_epsilon, name=f"stage_{stage}_merging")(x)
        for index in range(depth):
            shift = 0 if index % 2 == 0 else _half(window_size)
            x = SwinTransformerBlock(heads, window_size, shift, mlp_ratio=mlp_ratio, version=version,
                                     qkv_bias=qkv_bias, dropout_rate=dropout_rate,
                                     attention_dropout_rate=attention_dropout_rate, drop_path_rate=next(rates),
                                     layer_norm_epsilon=layer_norm_epsilon,
                                     pretrained_window_size=pretrained_windows[stage],
                                     name=f"stage_{stage}_block_{index}")(x)
    x = LayerNorm(epsilon=layer_norm_epsilon, name="norm")(x)
    if pooling is not None:
        x = keras.layers.Reshape((-1, x.shape[-1]), name="flatten_tokens")(x)
        x = TokenPooling(pooling, name="pool")(x)
    if include_top:
        x = keras.layers.Dense(num_classes, activation=classifier_activation, dtype="float32", name="head")(x)
    return ImageModel(images, x, name=name)


def count_swin_parameters(image_size=224, patch_size=4, channels=3, num_classes=1000, embed_dim=96,
                          depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0, version=1,
                          qkv_bias=True, include_top=True, **unused_arguments):
    """Trainable parameters of `build_swin(...)` with these arguments, counted without building the model.

    The relative position index, the V2 coordinate table and the attention masks are constants, not weights.

    Example:
        >>> count_swin_parameters()  # swin_tiny_patch4_window7_224
        28288354
    """
    height, width = image_size_pair(image_size)
    depths, num_heads = _as_int_tuple(depths, "depths"), _as_int_tuple(num_heads, "num_heads")
    grids = swin_stage_grids(height, width, patch_size, len(depths))
    total = (patch_size * patch_size * channels + 1) * embed_dim + 2 * embed_dim  # projection, patch_norm
    for stage, (depth, heads, grid) in enumerate(zip(depths, num_heads, grids)):
        dim = embed_dim * 2 ** stage
        if stage:
            previous = dim // 2
            total += 4 * previous * dim + (2 * 4 * previous if version == 1 else 2 * dim)
        hidden = int(dim * mlp_ratio)
        for index in range(depth):
            shift = 0 if index % 2 == 0 else _half(window_size)
            (window_height, window_width), _ = effective_window(grid, window_size, shift)
            if version == 1:  # qkv with biases, relative position bias table
                table = (2 * window_height - 1) * (2 * window_width - 1) * heads
                attention = 3 * dim * dim + qkv_bias * 3 * dim + table
            else:  # qkv, query and value biases, logit scale, continuous position bias MLP
                attention = (3 * dim * dim + qkv_bias * 2 * dim + heads
                             + 3 * CPB_HIDDEN_DIM + CPB_HIDDEN_DIM * heads)
            attention += dim * dim + dim  # output projection
            total += 4 * dim + attention + dim * hidden + hidden + hidden * dim + dim
    final_dim = embed_dim * 2 ** (len(depths) - 1)
    total += 2 * final_dim
    if include_top:
        total += (final_dim + 1) * num_classes
    return total


def swin_stage_grids(height, width, patch_size, num_stages):
    """(rows, cols) of the token grid of each stage; raises `KerasViTError` where 2x2 merging cannot halve one.

    Example:
        >>> swin_stage_grids(224, 224, 4, 4)
        [(56, 56), (28, 28), (14, 14), (7, 7)]
    """
    check_patch_grid(height, width, patch_size)
    if num_stages < 1:
        raise KerasViTError(f"A Swin model needs at least one stage, got {num_stages}.")
    grids = [(height // patch_size, width // patch_size)]
    for stage in range(1, num_stages):
        rows, cols = grids[-1]
        if rows % 2 or cols % 2:
            factor = 2 ** (num_stages - 1)
            raise KerasViTError(
                f"The 2x2 patch-merging window cannot tile the {rows}x{cols} token grid of stage {stage - 1}: "
                f"with {num_stages} stages, the patch grid {grids[0][0]}x{grids[0][1]} (image {height}x{width} / "
                f"patch size {patch_size}) must be divisible by 2**{num_stages - 1} = {factor}.")
        grids.append((rows // 2, cols // 2))
    return grids


def _half(window_size):
    if isinstance(window_size, int):
        return window_size // 2
    return tuple(int(side) // 2 for side in window_size)


def _per_stage(pretrained_window_sizes, num_stages):
    """One pre-training window (or None) per stage from `build_swin`'s `pretrained_window_sizes`."""
    if pretrained_window_sizes is None:
        return [None] * num_stages
    if isinstance(pretrained_window_sizes, int) or len(pretrained_window_sizes) != num_stages:
        raise KerasViTError(f"pretrained_window_sizes must hold one window per stage ({num_stages}), e.g. "
                            f"(12, 12, 12, 6), got {pretrained_window_sizes}.")
    return [side or None for side in pretrained_window_sizes]


def _as_int_tuple(values, name):
    if isinstance(values, int):
        raise KerasViTError(f"{name} must hold one value per stage, e.g. (2, 2, 6, 2), got {values}.")
    return tuple(int(value) for value in values)


def _validate(embed_dim, depths, num_heads, window_size, version, pooling, include_top, num_classes):
    if len(depths) != len(num_heads):
        raise KerasViTError(
            f"depths {depths} and num_heads {num_heads} must have one entry per stage: {len(depths)} != "
            f"{len(num_heads)}.")
    if min(depths) < 1:
        raise KerasViTError(f"Every stage needs at least one block, got depths {depths}.")
    for stage, heads in enumerate(num_heads):
        width = embed_dim * 2 ** stage
        if heads < 1 or width % heads:
            raise KerasViTError(
                f"Width {width} of stage {stage} (embed_dim {embed_dim} * 2**{stage}) is not divisible by the "
                f"number of heads {heads}.")
    effective_window((1, 1), window_size, _half(window_size))  # window at least 1
    if version not in (1, 2):
        raise KerasViTError(f"Swin version must be 1 or 2, got {version}.")
    if pooling not in ("gap", None):
        raise KerasViTError(f"Swin pooling must be 'gap' or None, got {pooling!r}.")
    if include_top and pooling is None:
        raise KerasViTError("A Swin classifier (include_top=True) needs pooling='gap'.")
    if include_top and num_classes < 1:
        raise KerasViTError(f"num_classes must be at least 1, got {num_classes}.")
