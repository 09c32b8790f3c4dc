"""Named model presets: plain data, from a name to the builder arguments.

Names follow the reference checkpoints (timm, big_vision): `vit_{size}_patch{patch}_{image size}`,
`vitc_{size}_patch{patch}_{image size}` for a ViT whose patch projection is a convolutional stem (ViT_C),
`vitc_{size}_patch{patch}_local_{image size}` for one that also convolves the tokens in each MLP (LocalViT),
`swin_{size}_patch{patch}_window{window}_{image size}` and `swinv2_{size}_window{window}_{image size}` (patch 4),
`pvt_v2_b{0-5}` / `pvt_v2_b2_li` (timm) and `pvt_{tiny,small,medium,large}` (the official PVT repository) at 224,
`pvt[_v2]_{size}_patch{patch}_{image size}` for small images.
The ImageNet presets have 1000 classes and the normalisation constants of the published checkpoints (0.5 for
every channel for ViT, the ImageNet mean and std for Swin and PVT); the small-image presets (for 28x28 and 32x32
images, and the 8x8 digits) have 10 classes.
"""

from keras_vit.models.swin import IMAGENET_MEAN, IMAGENET_STD

_VIT_SIZES = {
    # ImageNet sizes of the ViT paper and DeiT.
    "tiny": {"embed_dim": 192, "depth": 12, "num_heads": 3, "mlp_dim": 768},
    "small": {"embed_dim": 384, "depth": 12, "num_heads": 6, "mlp_dim": 1536},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_dim": 3072},
    "large": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "mlp_dim": 4096},
    "huge": {"embed_dim": 1280, "depth": 32, "num_heads": 16, "mlp_dim": 5120},
    # Sizes for small images (MNIST, CIFAR, the embedded digits), trainable on a CPU.
    "nano": {"embed_dim": 64, "depth": 4, "num_heads": 4, "mlp_dim": 128},
    "micro": {"embed_dim": 128, "depth": 6, "num_heads": 4, "mlp_dim": 256},
}

# (size, patch size, image size) of every ImageNet preset.
_IMAGENET_VARIANTS = [
    ("tiny", 16, 224), ("tiny", 16, 384),
    ("small", 16, 224), ("small", 32, 224), ("small", 8, 224), ("small", 16, 384), ("small", 32, 384),
    ("base", 16, 224), ("base", 32, 224), ("base", 8, 224), ("base", 16, 384), ("base", 32, 384),
    ("large", 16, 224), ("large", 32, 224), ("large", 14, 224), ("large", 16, 384), ("large", 32, 384),
    ("huge", 14, 224),
]

# Convolutional stems (ViT_C, Xiao et al. 2021) of the small sizes: 3x3 convolutions, the last two of stride 2
# (patch 4), measured on Fashion-MNIST (README, Performance) to train faster than the patch projection.
_CONV_STEMS = {"nano": (32, 64, 64), "micro": (32, 64, 128)}

# Sizes whose ViT_C also comes with LocalViT's locality (Li et al. 2021, "LocalViT: Bringing Locality to Vision
# Transformers"): a 3x3 depth-wise convolution over the token grid in each block's MLP (`local_mlp`), which ended
# 20-minute Fashion-MNIST runs 0.1-0.3 points higher than the plain ViT_C for 3-5% more time a step
# (benchmarks/README.md).
_LOCAL_SIZES = ("nano",)

# (size, patch size, image size, pooling) of every small-image preset.
_SMALL_IMAGE_VARIANTS = [
    ("nano", 2, 32, "gap"), ("nano", 4, 32, "gap"), ("nano", 4, 28, "gap"),
    ("micro", 2, 32, "gap"), ("micro", 4, 32, "gap"), ("micro", 4, 28, "gap"),
]


def _vit_presets():
    presets = {}
    for size, patch, image in _IMAGENET_VARIANTS:
        presets[f"vit_{size}_patch{patch}_{image}"] = {
            "architecture": "vit", "image_size": image, "patch_size": patch, "num_classes": 1000,
            "pooling": "token", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), **_VIT_SIZES[size],
        }
    for size, patch, image, pooling in _SMALL_IMAGE_VARIANTS:
        presets[f"vit_{size}_patch{patch}_{image}"] = {
            "architecture": "vit", "image_size": image, "patch_size": patch, "num_classes": 10,
            "channels": 1 if image == 28 else 3, "pooling": pooling, "mean": (0.5,), "std": (0.5,),
            **_VIT_SIZES[size],
        }
        if size in _CONV_STEMS and patch == 4:
            vitc = {**presets[f"vit_{size}_patch{patch}_{image}"], "conv_stem": _CONV_STEMS[size]}
            presets[f"vitc_{size}_patch{patch}_{image}"] = vitc
            if size in _LOCAL_SIZES:
                presets[f"vitc_{size}_patch{patch}_local_{image}"] = {**vitc, "local_mlp": True}
    return presets


_SWIN_SIZES = {
    # ImageNet sizes of the Swin and Swin V2 papers.
    "tiny": {"embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24)},
    "small": {"embed_dim": 96, "depths": (2, 2, 18, 2), "num_heads": (3, 6, 12, 24)},
    "base": {"embed_dim": 128, "depths": (2, 2, 18, 2), "num_heads": (4, 8, 16, 32)},
    "large": {"embed_dim": 192, "depths": (2, 2, 18, 2), "num_heads": (6, 12, 24, 48)},
    # Three stages for small images: a 32x32 image in 2x2 patches gives 16x16, 8x8 and 4x4 grids, the 8x8
    # digits 4x4, 2x2 and 1x1 (windows larger than a grid become the grid).
    "nano": {"embed_dim": 32, "depths": (2, 2, 2), "num_heads": (2, 4, 8)},
    "micro": {"embed_dim": 64, "depths": (2, 2, 6), "num_heads": (2, 4, 8)},
}

# (name, size, version, patch size, window size, image size, classes) of every Swin preset.
_SWIN_VARIANTS = [
    ("swin_tiny_patch4_window7_224", "tiny", 1, 4, 7, 224, 1000),
    ("swin_small_patch4_window7_224", "small", 1, 4, 7, 224, 1000),
    ("swin_base_patch4_window7_224", "base", 1, 4, 7, 224, 1000),
    ("swin_large_patch4_window7_224", "large", 1, 4, 7, 224, 1000),
    ("swin_base_patch4_window12_384", "base", 1, 4, 12, 384, 1000),
    ("swin_large_patch4_window12_384", "large", 1, 4, 12, 384, 1000),
    ("swinv2_tiny_window8_256", "tiny", 2, 4, 8, 256, 1000),
    ("swinv2_small_window8_256", "small", 2, 4, 8, 256, 1000),
    ("swinv2_base_window8_256", "base", 2, 4, 8, 256, 1000),
    ("swinv2_tiny_window16_256", "tiny", 2, 4, 16, 256, 1000),
    ("swinv2_small_window16_256", "small", 2, 4, 16, 256, 1000),
    ("swinv2_base_window16_256", "base", 2, 4, 16, 256, 1000),
    ("swin_nano_patch2_window4_32", "nano", 1, 2, 4, 32, 10),
    ("swin_micro_patch2_window4_32", "micro", 1, 2, 4, 32, 10),
    ("swinv2_nano_patch2_window4_32", "nano", 2, 2, 4, 32, 10),
]


def _swin_presets():
    presets = {}
    for name, size, version, patch, window, image, classes in _SWIN_VARIANTS:
        imagenet = classes == 1000
        presets[name] = {
            "architecture": "swin", "version": version, "image_size": image, "patch_size": patch,
            "window_size": window, "num_classes": classes, "pooling": "gap",
            "mean": IMAGENET_MEAN if imagenet else (0.5,), "std": IMAGENET_STD if imagenet else (0.5,),
            **_SWIN_SIZES[size],
        }
    return presets


_PVT_SIZES = {
    # PVT v2 (timm's pvt_v2_b*; every one has 1, 2, 5, 8 heads and spatial-reduction ratios 8, 4, 2, 1).
    "b0": {"embed_dims": (32, 64, 160, 256), "depths": (2, 2, 2, 2), "mlp_ratios": (8, 8, 4, 4)},
    "b1": {"embed_dims": (64, 128, 320, 512), "depths": (2, 2, 2, 2), "mlp_ratios": (8, 8, 4, 4)},
    "b2": {"embed_dims": (64, 128, 320, 512), "depths": (3, 4, 6, 3), "mlp_ratios": (8, 8, 4, 4)},
    "b3": {"embed_dims": (64, 128, 320, 512), "depths": (3, 4, 18, 3), "mlp_ratios": (8, 8, 4, 4)},
    "b4": {"embed_dims": (64, 128, 320, 512), "depths": (3, 8, 27, 3), "mlp_ratios": (8, 8, 4, 4)},
    "b5": {"embed_dims": (64, 128, 320, 512), "depths": (3, 6, 40, 3), "mlp_ratios": (4, 4, 4, 4)},
    # PVT v1 (the official pvt_tiny ... pvt_large; the same heads and ratios).
    "tiny": {"embed_dims": (64, 128, 320, 512), "depths": (2, 2, 2, 2), "mlp_ratios": (8, 8, 4, 4)},
    "small": {"embed_dims": (64, 128, 320, 512), "depths": (3, 4, 6, 3), "mlp_ratios": (8, 8, 4, 4)},
    "medium": {"embed_dims": (64, 128, 320, 512), "depths": (3, 4, 18, 3), "mlp_ratios": (8, 8, 4, 4)},
    "large": {"embed_dims": (64, 128, 320, 512), "depths": (3, 8, 27, 3), "mlp_ratios": (8, 8, 4, 4)},
    # Three stages for small images: a 32x32 image in stride-2 patches gives 16x16, 8x8 and 4x4 grids, whose keys
    # are reduced to 4x4, 4x4 and 4x4; the 8x8 digits give 4x4, 2x2 and 1x1 grids (1x1 keys).
    "nano": {"embed_dims": (32, 64, 128), "depths": (2, 2, 2), "mlp_ratios": (4, 4, 4), "num_heads": (1, 2, 4),
             "sr_ratios": (4, 2, 1)},
}

# (name, size, version, linear, patch size, image size, classes) of every PVT preset.
_PVT_VARIANTS = [
    *((f"pvt_v2_{size}", size, 2, False, 4, 224, 1000) for size in ("b0", "b1", "b2", "b3", "b4", "b5")),
    ("pvt_v2_b2_li", "b2", 2, True, 4, 224, 1000),
    *((f"pvt_{size}", size, 1, False, 4, 224, 1000) for size in ("tiny", "small", "medium", "large")),
    *((f"pvt{suffix}_nano_patch2_{image}", "nano", version, False, 2, image, 10)
      for suffix, version in (("", 1), ("_v2", 2)) for image in (28, 32)),
]


def _pvt_presets():
    presets = {}
    for name, size, version, linear, patch, image, classes in _PVT_VARIANTS:
        imagenet = classes == 1000
        presets[name] = {
            "architecture": "pvt", "version": version, "image_size": image, "patch_size": patch,
            "num_classes": classes, "pooling": "token" if version == 1 else "gap", "linear": linear,
            "num_heads": (1, 2, 5, 8), "sr_ratios": (8, 4, 2, 1),
            "mean": IMAGENET_MEAN if imagenet else (0.5,), "std": IMAGENET_STD if imagenet else (0.5,),
            **({} if imagenet else {"channels": 1 if image == 28 else 3}), **_PVT_SIZES[size],
        }
    return presets


PRESETS = {**_vit_presets(), **_swin_presets(), **_pvt_presets()}
