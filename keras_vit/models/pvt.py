"""The Pyramid Vision Transformer (Wang et al. 2021) and PVT v2 (Wang et al. 2022) as Keras functional models."""

import keras

from keras_vit.errors import KerasViTError
from keras_vit.layers import ImageNormalization, TokenPooling
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.pvt_block import PVTBlock
from keras_vit.layers.pvt_embedding import PyramidPatchEmbedding, embedded_size
from keras_vit.layers.pvt_position import StagePositionEmbedding
from keras_vit.models.image_model import ImageModel
from keras_vit.models.swin import IMAGENET_MEAN, IMAGENET_STD
from keras_vit.models.vit import drop_path_rates, image_size_pair

# Epsilon of the LayerNorms of the blocks, stages and final norm in the reference models; the LayerNorms of the
# patch embeddings and of the spatial reduction keep PyTorch's default, 1e-5.
PVT_LAYER_NORM_EPSILON = 1e-6


def build_pvt(image_size=224, version=2, patch_size=4, channels=3, num_classes=1000, embed_dims=(64, 128, 320, 512),
              depths=(3, 4, 6, 3), num_heads=(1, 2, 5, 8), mlp_ratios=(8, 8, 4, 4), sr_ratios=(8, 4, 2, 1),
              linear=False, qkv_bias=True, dropout_rate=0.0, attention_dropout_rate=0.0, drop_path_rate=0.0,
              layer_norm_epsilon=PVT_LAYER_NORM_EPSILON, pooling="gap", include_top=True, mean=IMAGENET_MEAN,
              std=IMAGENET_STD, classifier_activation=None, name="pvt"):
    """Builds a Pyramid Vision Transformer (v1 or v2) classifier that takes pixels in [0, 255], returns logits.

    Each stage embeds the previous map (the image for stage 0) with a strided convolution and a LayerNorm, then
    runs PVT blocks on its tokens: attention to keys and values of the grid reduced `sr_ratios[s]` times.
    Version 1: non-overlapping patches (stride `patch_size`, then 2), learnable position embeddings per stage,
    a class token in the last stage and one final LayerNorm. Version 2: overlapping patches (kernel
    2 * stride - 1: 7 for stride 4, then 3 for stride 2), no position embeddings (the MLPs' depth-wise convolution
    gives positions), a LayerNorm at the end of every stage, and optionally linear SRA. Layers are named so that
    checkpoints map onto them: `normalize`, `stage_{s}_embedding`, `stage_{s}_tokens` (a reshape),
    `stage_{s}_position` and `stage_{s}_dropout` (v1), `stage_{s}_block_{b}`, `stage_{s}_norm` (v2) or `norm` (v1),
    `stage_{s}_grid` (a reshape), `pool`, `head`.

    Grid sizes follow the reference's convolutions: version 2 takes any image size (a side n gives
    ceil(n / stride)); version 1 drops the rows and columns a stride leaves over (a side n gives n // stride), as do
    the spatial reductions. A stage whose grid is smaller than its patches or its `sr_ratio` is an error.

    Args:
        image_size: int for square images, or (height, width).
        version: 1 (PVT) or 2 (PVT v2).
        patch_size: stride of the first patch embedding (the later ones have stride 2).
        channels: channels of the input images.
        num_classes: classes of the head.
        embed_dims: token width of each stage.
        depths: blocks per stage.
        num_heads: attention heads per stage; each must divide its stage's width.
        mlp_ratios: hidden width of each stage's MLPs as a multiple of its width.
        sr_ratios: spatial-reduction ratio of each stage; 1 for plain attention.
        linear: PVT v2-Li's linear SRA (keys and values pooled to 7x7) in every stage; version 2 only.
        qkv_bias: whether the query and key/value projections have biases.
        dropout_rate: dropout after the attention projections and in the MLPs (and after the position
            embeddings in version 1).
        attention_dropout_rate: dropout on the attention probabilities.
        drop_path_rate: stochastic depth of the last block; it rises linearly from 0 at the first block.
        layer_norm_epsilon: epsilon of the blocks' and stages' LayerNorms.
        pooling: "gap" (average of the final tokens), "token" (version 1: the class token of the last stage), or
            None with `include_top=False` to return the final, normalised (batch, rows, cols, width) map.
        include_top: with False, the model returns features instead of logits.
        mean: per-channel mean on the [0, 1] scale, used to normalise the input inside the model.
        std: per-channel standard deviation on the [0, 1] scale.
        classifier_activation: activation of the head; None returns logits (in float32 under mixed precision).
        name: model name.

    Returns:
        An `ImageModel` (a functional `keras.Model`) from (batch, height, width, channels) pixels to (batch,
            num_classes) logits.

    Raises:
        KerasViTError: a grid too small for a stage's patches or reduction, heads that do not divide a stage's
            width, per-stage arguments of different lengths, or another bad argument; the message names it.

    Example:
        >>> model = build_pvt(image_size=32, patch_size=2, num_classes=10, embed_dims=(16, 32, 64),
        ...                   depths=(1, 1, 1), num_heads=(1, 2, 4), mlp_ratios=(4, 4, 4), sr_ratios=(4, 2, 1))
        >>> tuple(model(np.zeros((2, 32, 32, 3))).shape)
        (2, 10)
    """
    height, width = image_size_pair(image_size)
    stages, grids = _plan(height, width, version, patch_size, (embed_dims, depths, num_heads, mlp_ratios, sr_ratios),
                          linear, pooling, include_top, num_classes)
    class_token = version == 1 and pooling == "token"

    images = keras.Input((height, width, channels), name="images")
    x = ImageNormalization(mean, std, name="normalize")(images)
    rates = iter(drop_path_rates(drop_path_rate, sum(stage["depth"] for stage in stages)))
    last = len(stages) - 1
    for index, (stage, grid) in enumerate(zip(stages, grids)):
        dim = stage["embed_dim"]
        kernel, stride = _embedding_geometry(version, patch_size, index)
        x = PyramidPatchEmbedding(dim, kernel, stride, name=f"stage_{index}_embedding")(x)
        x = keras.layers.Reshape((grid[0] * grid[1], dim), name=f"stage_{index}_tokens")(x)
        if version == 1:
            x = StagePositionEmbedding(grid, use_class_token=class_token and index == last,
                                       name=f"stage_{index}_position")(x)
            x = keras.layers.Dropout(dropout_rate, name=f"stage_{index}_dropout")(x)
        for block in range(stage["depth"]):
            x = PVTBlock(stage["num_heads"], grid, sr_ratio=stage["sr_ratio"], mlp_ratio=stage["mlp_ratio"],
                         version=version, linear=linear, qkv_bias=qkv_bias, dropout_rate=dropout_rate,
                         attention_dropout_rate=attention_dropout_rate, drop_path_rate=next(rates),
                         layer_norm_epsilon=layer_norm_epsilon, name=f"stage_{index}_block_{block}")(x)
        if version == 2 or index == last:
            norm_name = f"stage_{index}_norm" if version == 2 else "norm"
            x = LayerNorm(epsilon=layer_norm_epsilon, name=norm_name)(x)
        if index < last or pooling is None:
            x = keras.layers.Reshape((*grid, dim), name=f"stage_{index}_grid")(x)
    if pooling is not None:
        x = TokenPooling(pooling, name="pool")(x)
    if include_top:
        x = keras.layers.Dense(num_classes, activation=classifier_activation, dtype="float32", name="head")(x)
    return ImageModel(images, x, name=name)


def count_pvt_parameters(image_size=224, version=2, patch_size=4, channels=3, num_classes=1000,
                         embed_dims=(64, 128, 320, 512), depths=(3, 4, 6, 3), num_heads=(1, 2, 5, 8),
                         mlp_ratios=(8, 8, 4, 4), sr_ratios=(8, 4, 2, 1), linear=False, qkv_bias=True, pooling="gap",
                         include_top=True, **unused_arguments):
    """Trainable parameters of `build_pvt(...)` with these arguments, counted without building the model.

    Example:
        >>> count_pvt_parameters(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2))  # pvt_v2_b0
        3666760
    """
    stages, grids = _plan(*image_size_pair(image_size), version, patch_size,
                          (embed_dims, depths, num_heads, mlp_ratios, sr_ratios), linear, pooling, include_top,
                          num_classes)
    total, previous = 0, channels
    for index, (stage, (rows, cols)) in enumerate(zip(stages, grids)):
        dim, hidden = stage["embed_dim"], int(stage["embed_dim"] * stage["mlp_ratio"])
        kernel, _ = _embedding_geometry(version, patch_size, index)
        total += kernel * kernel * previous * dim + dim + 2 * dim  # convolution, LayerNorm
        if version == 1:
            class_token = pooling == "token" and index == len(stages) - 1
            total += (rows * cols + 2 * class_token) * dim  # positions (the class token's too), class token
        attention = 3 * dim * dim + qkv_bias * 3 * dim + dim * dim + dim  # query, key/value, output projection
        if linear or stage["sr_ratio"] > 1:
            reduction = 1 if linear else stage["sr_ratio"]
            attention += reduction * reduction * dim * dim + dim + 2 * dim  # convolution, LayerNorm
        mlp = dim * hidden + hidden + hidden * dim + dim + (version == 2) * 10 * hidden  # depth-wise 3x3 and bias
        total += stage["depth"] * (4 * dim + attention + mlp) + (version == 2) * 2 * dim  # stage norm
        previous = dim
    total += (version == 1) * 2 * previous  # final norm
    if include_top:
        total += (previous + 1) * num_classes
    return total


def pvt_stage_grids(height, width, patch_size, version, sr_ratios, linear=False):
    """(rows, cols) of the token grid of each stage; raises `KerasViTError` where a grid cannot be made or reduced.

    Example:
        >>> pvt_stage_grids(224, 224, 4, 2, (8, 4, 2, 1))
        [(56, 56), (28, 28), (14, 14), (7, 7)]
    """
    if patch_size < 1:
        raise KerasViTError(f"patch_size must be a positive integer, got {patch_size}.")
    grids, size = [], (height, width)
    for index, sr_ratio in enumerate(sr_ratios):
        kernel, stride = _embedding_geometry(version, patch_size, index)
        padding = kernel // 2 if stride < kernel else 0
        if min(size) + 2 * padding < kernel:
            raise KerasViTError(
                f"Image size {height}x{width} is too small for {len(sr_ratios)} PVT stages: the {size[0]}x{size[1]} "
                f"map before stage {index} is smaller than its {kernel}x{kernel} patches (patch_size {patch_size}"
                f", then 2). Use a larger image_size or fewer stages.")
        size = tuple(embedded_size(side, kernel, stride) for side in size)
        if not linear and min(size) < sr_ratio:
            raise KerasViTError(
                f"sr_ratios[{index}] = {sr_ratio} is larger than the {size[0]}x{size[1]} token grid of stage "
                f"{index} (image size {height}x{width}): the reduction would leave no keys. Use a larger "
                f"image_size or an sr_ratio of at most {min(size)}.")
        grids.append(size)
    return grids


def _plan(height, width, version, patch_size, per_stage, linear, pooling, include_top, num_classes):
    """The validated stage arguments (one dict per stage) and token grids of a PVT."""
    stages = _stage_arguments(*per_stage)
    _validate(version, linear, pooling, include_top, num_classes, stages)
    return stages, pvt_stage_grids(height, width, patch_size, version, [stage["sr_ratio"] for stage in stages],
                                   linear)


def _embedding_geometry(version, patch_size, index):
    """(kernel, stride) of stage `index`'s patch embedding."""
    stride = patch_size if index == 0 else 2
    return (stride if version == 1 else 2 * stride - 1), stride


def _stage_arguments(embed_dims, depths, num_heads, mlp_ratios, sr_ratios):
    """One dict per stage (embed_dim, depth, num_heads, mlp_ratio, sr_ratio) from the per-stage sequences."""
    columns = {"embed_dims": embed_dims, "depths": depths, "num_heads": num_heads, "mlp_ratios": mlp_ratios,
               "sr_ratios": sr_ratios}
    for argument, values in columns.items():
        if isinstance(values, (int, float)):
            raise KerasViTError(f"{argument} must hold one value per stage, e.g. (3, 4, 6, 3), got {values}.")
    lengths = {argument: len(values) for argument, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise KerasViTError(f"embed_dims, depths, num_heads, mlp_ratios and sr_ratios must have one entry per stage, "
                            f"got lengths {lengths}.")
    stages = [{"embed_dim": int(dim), "depth": int(depth), "num_heads": int(heads), "mlp_ratio": float(ratio),
               "sr_ratio": int(sr)} for dim, depth, heads, ratio, sr in zip(*columns.values())]
    if not stages:
        raise KerasViTError("A PVT model needs at least one stage: embed_dims, depths, ... are empty.")
    for index, stage in enumerate(stages):
        if stage["depth"] < 1:
            raise KerasViTError(f"Every stage needs at least one block, got depths {tuple(depths)}.")
        if stage["num_heads"] < 1 or stage["embed_dim"] % stage["num_heads"]:
            raise KerasViTError(
                f"Width {stage['embed_dim']} of stage {index} (embed_dims[{index}]) is not divisible by the number "
                f"of heads {stage['num_heads']} (num_heads[{index}]).")
        if stage["sr_ratio"] < 1:
            raise KerasViTError(f"sr_ratios must be at least 1, got sr_ratios[{index}] = {stage['sr_ratio']}.")
    return stages


def _validate(version, linear, pooling, include_top, num_classes, stages):
    if version not in (1, 2):
        raise KerasViTError(f"PVT version must be 1 or 2, got {version}.")
    if linear and version == 1:
        raise KerasViTError("linear SRA (linear=True) is PVT v2's: it needs version=2.")
    allowed = ("gap", "token", None) if version == 1 else ("gap", None)
    if pooling not in allowed:
        raise KerasViTError(f"PVT version {version} pooling must be one of {allowed}, got {pooling!r}.")
    if version == 1 and pooling == "token" and stages[-1]["sr_ratio"] != 1:
        raise KerasViTError(
            f"The class token of PVT v1's last stage (pooling='token') needs plain attention there: sr_ratios[-1] "
            f"must be 1, got {stages[-1]['sr_ratio']}.")
    if include_top and pooling is None:
        raise KerasViTError("A PVT classifier (include_top=True) needs pooling='gap' (or 'token' for version 1).")
    if include_top and num_classes < 1:
        raise KerasViTError(f"num_classes must be at least 1, got {num_classes}.")
