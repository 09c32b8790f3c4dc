"""Reading checkpoint files (.safetensors, .npz) and telling which published layout their tensor names follow."""

import dataclasses
import pathlib
import zipfile

import numpy as np

from keras_vit.errors import KerasViTError
from keras_vit.weights.pvt_layouts import PVT_LAYOUTS
from keras_vit.weights.safetensors import read_safetensors
from keras_vit.weights.swin_layouts import SWIN_LAYOUTS
from keras_vit.weights.vit_layouts import VIT_LAYOUTS

# (layout, the tensor name or names that only that layout has), in the order they are tried.
_SIGNATURES = [
    ("timm-pvt_v2", "stages.0.blocks.0.attn.kv.weight"),
    ("official-pvt_v2", "block1.0.mlp.dwconv.dwconv.weight"),
    ("official-pvt", "pos_embed1"),
    ("timm-swinv2-old", ("layers.0.downsample.reduction.weight", "layers.0.blocks.0.attn.logit_scale")),
    ("timm-swinv2", "layers.0.blocks.0.attn.logit_scale"),
    ("timm-swin-old", "layers.0.downsample.reduction.weight"),
    ("timm-swin", "layers.0.blocks.0.norm1.weight"),
    ("timm-vit", "blocks.0.norm1.weight"),
    ("transformers-swinv2", "swinv2.embeddings.patch_embeddings.projection.weight"),
    ("transformers-swin", "swin.embeddings.patch_embeddings.projection.weight"),
    ("transformers-vit", "vit.embeddings.patch_embeddings.projection.weight"),
    ("big_vision-vit", "params/embedding/kernel"),
    ("vit_jax-vit", "opt/target/embedding/kernel"),
    ("vit_jax-vit", "embedding/kernel"),
]


def read_checkpoint(path):
    """Reads a `.safetensors` or `.npz` checkpoint into a dict of NumPy arrays (floats as float32).

    Example:
        >>> tensors = read_checkpoint("ViT-B_16.npz")
        >>> tensors["embedding/kernel"].shape
        (16, 16, 3, 768)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise KerasViTError(f"Checkpoint file {path} does not exist.")
    with path.open("rb") as file:
        magic = file.read(4)
    if magic == b"PK\x03\x04":
        return _read_npz(path)
    if path.suffix == ".npz":
        raise KerasViTError(f"{path} is not an .npz archive (no zip header).")
    return read_safetensors(path)


def detect_layout(tensors, source="checkpoint"):
    """The layout of a checkpoint's tensor names: (layout name, its `VitNames`, `SwinNames` or `PvtNames`).

    Example:
        >>> detect_layout({"blocks.0.norm1.weight": ..., ...})[0]
        'timm-vit'
    """
    for layout, required in _SIGNATURES:
        required = (required,) if isinstance(required, str) else required
        if all(name in tensors for name in required):
            break
    else:
        shown = ", ".join(sorted(tensors)[:5])
        raise KerasViTError(
            f"{source} is not a ViT, Swin or PVT checkpoint of timm, Hugging Face transformers, vit_jax, big_vision "
            "or the PVT repository: "
            f"none of its {len(tensors)} tensor names ({shown}, ...) is known.")
    if layout in PVT_LAYOUTS:
        return layout, PVT_LAYOUTS[layout]
    if layout in VIT_LAYOUTS:
        names = VIT_LAYOUTS[layout]
        if layout == "vit_jax-vit" and required[0].startswith("opt/target/"):
            names = dataclasses.replace(names, prefix="opt/target/")
        return layout, names
    names = SWIN_LAYOUTS[layout]
    if layout.startswith("timm") and "head.weight" in tensors:  # timm files before ClassifierHead
        names = dataclasses.replace(names, head="head")
    return layout, names


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            tensors = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise KerasViTError(f"Cannot read the .npz checkpoint {path}: {error}.") from None
    for name, array in tensors.items():
        if not np.issubdtype(array.dtype, np.number):
            raise KerasViTError(f"Tensor '{name}' of {path} has dtype {array.dtype}, not a number.")
        if np.issubdtype(array.dtype, np.floating):
            tensors[name] = array.astype(np.float32)
    return tensors
