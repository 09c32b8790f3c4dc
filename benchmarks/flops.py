"""The matrix multiplications of a ViT or Swin forward pass, and their floating-point operations, counted analytically.

A model's forward pass is listed as matmuls (name, batch, m, k, n): `batch` independent products of an (m, k) and
a (k, n) matrix, 2 * batch * m * k * n FLOPs (one multiply-accumulate is two FLOPs). Listed: the patch embedding,
the query/key/value projection, the attention scores (Q K^T), the attention-weighted values, the output
projection, the MLP, the Swin patch merging and the classification head. Not counted (a few FLOPs per element,
under 2% of a ViT-S/16 or Swin-T forward pass): normalisation of the pixels, LayerNorms, softmax, GELU, biases,
residual additions, pooling. A training step is counted as three forward passes: the backward pass of each matmul
is two matmuls of the same size, one for the gradient of each operand (`backward_matmuls`).

Example:
    >>> from keras_vit import preset_config
    >>> round(forward_flops(preset_config("vit_small_patch16_224")) / 1e9, 2)
    9.2
"""

TRAINING_FLOPS_PER_FORWARD = 3


def forward_flops(config, batch_size=1):
    """FLOPs of one forward pass of `batch_size` images through a model built from `config`.

    Args:
        config: builder arguments with their "architecture" ("vit" or "swin"), as `keras_vit.preset_config` gives.
        batch_size: images per pass.
    """
    return sum(2 * batch * m * k * n for _, batch, m, k, n in forward_matmuls(config, batch_size))


def forward_matmuls(config, batch_size=1):
    """The matmuls (name, batch, m, k, n) of one forward pass of `batch_size` images through `config`'s model."""
    listers = {"vit": vit_matmuls, "swin": swin_matmuls}
    arguments = {key: value for key, value in config.items() if key != "architecture"}
    return listers[config["architecture"]](batch_size=batch_size, **arguments)


def backward_matmuls(matmuls):
    """The two matmuls of the backward pass of each of `matmuls`: dA = dC B^T and dB = A^T dC."""
    backward = []
    for name, batch, m, k, n in matmuls:
        backward += [(f"{name} dA", batch, m, n, k), (f"{name} dB", batch, k, m, n)]
    return backward


def block_matmuls(batch_size, tokens, dim, num_heads, mlp_dim, window_tokens=None):
    """The matmuls of one transformer block over `tokens` tokens of width `dim` in each of `batch_size` images.

    Args:
        batch_size: images.
        tokens: tokens in an image.
        dim: token width.
        num_heads: attention heads.
        mlp_dim: hidden width of the MLP.
        window_tokens: tokens a query attends to: all `tokens` (None, ViT) or a window's (Swin).
    """
    window_tokens = tokens if window_tokens is None else window_tokens
    groups = batch_size * tokens // window_tokens * num_heads  # (image, window, head) triples
    head_dim = dim // num_heads
    rows = batch_size * tokens
    return [("qkv", 1, rows, dim, 3 * dim),
            ("scores", groups, window_tokens, head_dim, window_tokens),
            ("attend", groups, window_tokens, window_tokens, head_dim),
            ("projection", 1, rows, dim, dim),
            ("fc1", 1, rows, dim, mlp_dim),
            ("fc2", 1, rows, mlp_dim, dim)]


def vit_matmuls(image_size=224, patch_size=16, channels=3, num_classes=1000, embed_dim=768, depth=12,
                num_heads=12, mlp_dim=3072, pooling="token", include_top=True, batch_size=1, **unused_arguments):
    """The matmuls of `batch_size` images through `keras_vit.build_vit(...)` with these arguments."""
    height, width = _pair(image_size)
    patches = (height // patch_size) * (width // patch_size)
    matmuls = [("patch embedding", 1, batch_size * patches, patch_size * patch_size * channels, embed_dim)]
    tokens = patches + (pooling == "token")
    matmuls += depth * block_matmuls(batch_size, tokens, embed_dim, num_heads, mlp_dim)
    if include_top:
        matmuls.append(("head", 1, batch_size, embed_dim, num_classes))
    return matmuls


def swin_matmuls(image_size=224, patch_size=4, channels=3, num_classes=1000, embed_dim=96, depths=(2, 2, 6, 2),
                 num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0, include_top=True, batch_size=1,
                 **unused_arguments):
    """The matmuls of `batch_size` images through `keras_vit.build_swin(...)` with these arguments.

    Windows larger than a stage's grid shrink to the grid; grids that are not a multiple of the window are
    padded (the padding tokens are counted, as they are computed).
    """
    height, width = _pair(image_size)
    window_height, window_width = _pair(window_size)
    rows, cols = height // patch_size, width // patch_size
    matmuls = [("patch embedding", 1, batch_size * rows * cols, patch_size * patch_size * channels, embed_dim)]
    dim = embed_dim
    for stage, (depth, heads) in enumerate(zip(depths, num_heads)):
        if stage:
            rows, cols = rows // 2, cols // 2
            matmuls.append(("patch merging", 1, batch_size * rows * cols, 4 * dim, 2 * dim))
            dim *= 2
        window = (min(window_height, rows), min(window_width, cols))
        padded = (-(-rows // window[0]) * window[0]) * (-(-cols // window[1]) * window[1])
        matmuls += depth * block_matmuls(batch_size, padded, dim, heads, int(dim * mlp_ratio),
                                         window[0] * window[1])
    if include_top:
        matmuls.append(("head", 1, batch_size, dim, num_classes))
    return matmuls


def _pair(value):
    if isinstance(value, int):
        return value, value
    return tuple(int(v) for v in value)
