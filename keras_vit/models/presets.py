"""Named model presets: plain data, from a name to the builder arguments.

Names follow the reference checkpoints (timm, big_vision): `vit_{size}_patch{patch}_{image size}`. The ImageNet
presets have 1000 classes and the normalisation constants of the published ViT checkpoints (0.5 for every
channel); the small-image presets (for 28x28 and 32x32 images) have 10 classes.
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
    return presets


PRESETS = _vit_presets()
