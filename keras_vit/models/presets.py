"""Named model presets: plain data, from a name to the builder arguments.

Names follow the reference checkpoints (timm, big_vision): `vit_{size}_patch{patch}_{image size}`,
`vitc_{size}_patch{patch}_{image size}` for a ViT whose patch projection is a convolutional stem (ViT_C),
`swin_{size}_patch{patch}_window{window}_{image size}` and `swinv2_{size}_window{window}_{image size}` (patch 4).
The ImageNet presets have 1000 classes and the normalisation constants of the published checkpoints (0.5 for
every channel for ViT, the ImageNet mean and std for Swin); the small-image presets (for 28x28 and 32x32 images,
and the 8x8 digits) have 10 classes.
"""

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
            presets[f"vitc_{size}_patch{patch}_{image}"] = {
                **presets[f"vit_{size}_patch{patch}_{image}"], "conv_stem": _CONV_STEMS[size]}
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
            "mean": (0.485, 0.456, 0.406) if imagenet else (0.5,),
            "std": (0.229, 0.224, 0.225) if imagenet else (0.5,),
            **_SWIN_SIZES[size],
        }
    return presets


PRESETS = {**_vit_presets(), **_swin_presets()}
