"""Known published checkpoints: where each is downloaded from, its preset, and how it normalises its input.

Every ViT checkpoint here was trained on inputs scaled to [-1, 1] (mean = std = 0.5 per channel), except DeiT's,
which, like every Swin and Swin V2 checkpoint, uses the ImageNet mean and std. The model built for a checkpoint normalises
with that checkpoint's constants.
"""

import dataclasses
import difflib

from keras_vit.errors import KerasViTError

INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_AUGREG_URL = "https://storage.googleapis.com/vit_models/augreg/"


@dataclasses.dataclass(frozen=True)
class PublishedCheckpoint:
    """One published checkpoint.

    Attributes:
        name: the name users pass, e.g. "vit_tiny_patch16_224.augreg_in21k_ft_in1k".
        preset: our preset of the same architecture.
        repo_id: Hugging Face Hub repository, or None for a plain URL.
        filename: the file within the repository, or the file name of `url`.
        url: a direct download URL (used where `repo_id` is None).
        mean: per-channel input mean on the [0, 1] scale.
        std: per-channel input standard deviation on the [0, 1] scale.
        num_classes: classes of its head.
        description: a few words on what it was trained on.
    """

    name: str
    preset: str
    repo_id: str
    filename: str
    url: str
    mean: tuple
    std: tuple
    num_classes: int
    description: str

    @property
    def download_url(self):
        """The URL the file can be downloaded from by hand."""
        return self.url or f"https://huggingface.co/{self.repo_id}/resolve/main/{self.filename}"


def _timm(tag, preset, description, mean=INCEPTION_MEAN, std=INCEPTION_STD):
    name = f"{preset}.{tag}"
    return PublishedCheckpoint(name, preset, f"timm/{name}", "model.safetensors", None, mean, std, 1000, description)


def _hub(repo_id, preset, description, mean, std):
    return PublishedCheckpoint(repo_id, preset, repo_id, "model.safetensors", None, mean, std, 1000, description)


def _augreg(filename, preset, description):
    return PublishedCheckpoint(filename.removesuffix(".npz"), preset, None, filename, _AUGREG_URL + filename,
                               INCEPTION_MEAN, INCEPTION_STD, 1000, description)


_CHECKPOINTS = [
    _timm("augreg_in21k_ft_in1k", "vit_tiny_patch16_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg_in21k_ft_in1k", "vit_tiny_patch16_384", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg_in21k_ft_in1k", "vit_small_patch16_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg_in21k_ft_in1k", "vit_small_patch32_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg_in21k_ft_in1k", "vit_base_patch16_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg2_in21k_ft_in1k", "vit_base_patch16_224", "timm, ImageNet-21k then ImageNet-1k (AugReg2)"),
    _timm("augreg_in21k_ft_in1k", "vit_base_patch32_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("augreg_in21k_ft_in1k", "vit_large_patch16_224", "timm, ImageNet-21k then ImageNet-1k (AugReg)"),
    _timm("fb_in1k", "deit_tiny_patch16_224", "timm, DeiT, ImageNet-1k", IMAGENET_MEAN, IMAGENET_STD),
    _timm("ms_in1k", "swin_tiny_patch4_window7_224", "timm, Microsoft, ImageNet-1k", IMAGENET_MEAN, IMAGENET_STD),
    _timm("ms_in1k", "swin_small_patch4_window7_224", "timm, Microsoft, ImageNet-1k", IMAGENET_MEAN, IMAGENET_STD),
    _timm("ms_in22k_ft_in1k", "swin_base_patch4_window7_224", "timm, Microsoft, ImageNet-22k then ImageNet-1k",
          IMAGENET_MEAN, IMAGENET_STD),
    *(_timm("ms_in1k", f"swinv2_{size}_window{window}_256", "timm, Microsoft (Swin V2), ImageNet-1k", IMAGENET_MEAN,
            IMAGENET_STD) for size in ("tiny", "small", "base") for window in (8, 16)),
    _hub("google/vit-base-patch16-224", "vit_base_patch16_224",
         "Hugging Face transformers, ImageNet-21k then ImageNet-1k", INCEPTION_MEAN, INCEPTION_STD),
    _hub("microsoft/swin-tiny-patch4-window7-224", "swin_tiny_patch4_window7_224",
         "Hugging Face transformers, ImageNet-1k", IMAGENET_MEAN, IMAGENET_STD),
    _augreg("Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz",
            "vit_tiny_patch16_224", "vit_jax .npz, ImageNet-21k then ImageNet-1k (AugReg)"),
]
# DeiT-tiny has the architecture of ViT-tiny.
_PRESET_OF = {"deit_tiny_patch16_224": "vit_tiny_patch16_224"}
PUBLISHED = {
    checkpoint.name: dataclasses.replace(checkpoint, preset=_PRESET_OF.get(checkpoint.preset, checkpoint.preset))
    for checkpoint in _CHECKPOINTS
}


def list_pretrained():
    """One row per known published checkpoint, for tables such as `keras-vit models --pretrained`.

    Returns:
        A list of dicts with keys name, preset, source (Hub repository or URL), classes, mean, std, description,
        sorted by name.

    Example:
        >>> [row["name"] for row in list_pretrained()][:2]
        ['Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224',
         'deit_tiny_patch16_224.fb_in1k']
    """
    return [{"name": item.name, "preset": item.preset, "source": item.repo_id or item.url,
             "classes": item.num_classes, "mean": item.mean, "std": item.std, "description": item.description}
            for item in sorted(PUBLISHED.values(), key=lambda item: item.name)]


def published_checkpoint(name):
    """The `PublishedCheckpoint` called `name`; raises `KerasViTError` naming the closest ones otherwise.

    Example:
        >>> published_checkpoint("google/vit-base-patch16-224").preset
        'vit_base_patch16_224'
    """
    if name not in PUBLISHED:
        closest = difflib.get_close_matches(name, list(PUBLISHED), n=3, cutoff=0.4)
        hint = f" Closest: {', '.join(closest)}." if closest else ""
        raise KerasViTError(f"Unknown pretrained checkpoint '{name}' (not a file either).{hint} "
                            "Run `keras-vit models --pretrained` for the list.")
    return PUBLISHED[name]
