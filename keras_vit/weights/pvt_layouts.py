"""Where timm and the official PVT repository keep each PVT tensor, and the rules that map them onto `build_pvt`'s
layers.

Names, as published (s counts stages from 0, n = s + 1 from 1):
- timm `pvt_v2_*`: `patch_embed.proj` / `.norm` (stage 0), `stages.{s}.downsample.proj` / `.norm` (s >= 1),
  `stages.{s}.blocks.{b}.norm1`, `...attn.q`, `...attn.kv`, `...attn.sr` and `...attn.norm` (reduction or linear
  SRA), `...attn.proj`, `...norm2`, `...mlp.fc1`, `...mlp.dwconv`, `...mlp.fc2`, `stages.{s}.norm`, `head`.
- the official PVT v2 files (whai362/PVT, pvt_v2.py): `patch_embed{n}`, `block{n}.{b}` with `mlp.dwconv.dwconv`,
  `norm{n}`, `head`.
- the official PVT v1 files (pvt.py): `patch_embed{n}`, `pos_embed{n}`, `block{n}.{b}` (MLP without dwconv),
  `cls_token`, `norm`, `head`.
"""

import dataclasses
import math

import keras
import numpy as np

from keras_vit.errors import KerasViTError
from keras_vit.layers.patch_encoder import resample_position_embeddings
from keras_vit.weights.layouts import TORCH, Rule, plain
from keras_vit.weights.swin_layouts import _blocks  # {(stage, index): name} of the stage_{s}_block_{b} layers


@dataclasses.dataclass(frozen=True)
class PvtNames:
    """The checkpoint names of one PVT layout. Templates hold "{stage}" (from 0), "{number}" (from 1), "{index}"."""

    version: int
    first_embedding: str
    embedding: str
    block: str
    dwconv: str = None
    stage_norm: str = None
    position: str = None
    class_token: str = None
    norm: str = None
    head: str = "head"

    def stage_key(self, template, stage, **more):
        return template.format(stage=stage, number=stage + 1, **more)

    def embedding_key(self, stage):
        return self.stage_key(self.embedding if stage else self.first_embedding, stage)

    def block_key(self, stage, index, name):
        return TORCH.join(self.stage_key(self.block, stage, index=index), name)


PVT_LAYOUTS = {
    "timm-pvt_v2": PvtNames(2, first_embedding="patch_embed", embedding="stages.{stage}.downsample",
                            block="stages.{stage}.blocks.{index}", dwconv="mlp.dwconv",
                            stage_norm="stages.{stage}.norm"),
    "official-pvt_v2": PvtNames(2, first_embedding="patch_embed1", embedding="patch_embed{number}",
                                block="block{number}.{index}", dwconv="mlp.dwconv.dwconv", stage_norm="norm{number}"),
    "official-pvt": PvtNames(1, first_embedding="patch_embed1", embedding="patch_embed{number}",
                             block="block{number}.{index}", position="pos_embed{number}", class_token="cls_token",
                             norm="norm"),
}


def pvt_rules(names, model, report):
    """The rules that set every weight of a `build_pvt` model from tensors named by `names`."""
    blocks = _blocks(model)
    stages = sorted({stage for stage, _ in blocks})
    version = model.get_layer(blocks[(0, 0)]).version
    if version != names.version:
        raise KerasViTError(f"{report.layout} checkpoints are PVT version {names.version}; model '{model.name}' is "
                            f"version {version}: build it with version={names.version}.")
    rules = []
    for stage in stages:
        embedding = names.embedding_key(stage)
        rules += _conv(f"stage_{stage}_embedding/projection", f"{embedding}.proj")
        rules += TORCH.layer_norm(f"stage_{stage}_embedding/norm", f"{embedding}.norm")
        if version == 1:
            positions = model.get_layer(f"stage_{stage}_position")
            rules.append(plain(f"stage_{stage}_position/position_embedding",
                               names.stage_key(names.position, stage), _position_converter(positions, report)))
            if positions.use_class_token:
                rules.append(plain(f"stage_{stage}_position/class_token", names.class_token))
        else:
            rules += TORCH.layer_norm(f"stage_{stage}_norm", names.stage_key(names.stage_norm, stage))
    for (stage, index), ours in sorted(blocks.items()):
        def theirs(name):
            return names.block_key(stage, index, name)

        block = model.get_layer(ours)
        rules += TORCH.layer_norm(f"{ours}/norm1", theirs("norm1"))
        rules += TORCH.dense(f"{ours}/attention/query", theirs("attn.q"), bias=block.qkv_bias)
        rules += TORCH.dense(f"{ours}/attention/key_value", theirs("attn.kv"), bias=block.qkv_bias)
        rules += TORCH.dense(f"{ours}/attention/projection", theirs("attn.proj"))
        if block.attention.reduces:
            rules += _conv(f"{ours}/attention/reduction", theirs("attn.sr"))
            rules += TORCH.layer_norm(f"{ours}/attention/norm", theirs("attn.norm"))
        rules += TORCH.layer_norm(f"{ours}/norm2", theirs("norm2"))
        rules += TORCH.dense(f"{ours}/mlp/fc1", theirs("mlp.fc1"))
        rules += TORCH.dense(f"{ours}/mlp/fc2", theirs("mlp.fc2"))
        if version == 2:
            rules.append(plain(f"{ours}/mlp/depthwise/kernel", theirs(f"{names.dwconv}.weight"), _depthwise_kernel))
            rules.append(plain(f"{ours}/mlp/depthwise/bias", theirs(f"{names.dwconv}.bias")))
    if version == 1:
        rules += TORCH.layer_norm("norm", names.norm)
    return rules + TORCH.dense("head", names.head)


def describe_pvt(names, tensors):
    """The `build_pvt` arguments a checkpoint fixes: version, patch_size, channels, embed_dims, depths, mlp_ratios,
    sr_ratios, linear, pooling, image_size (v1: of its square position grid) and num_classes (None without a
    head). The head counts are not stored in a checkpoint: they come from the preset."""
    stages, depths, embed_dims, mlp_ratios, sr_ratios = 0, [], [], [], []
    linear = False
    while TORCH.kernel_key(f"{names.embedding_key(stages)}.proj") in tensors:
        depth = 0
        while TORCH.kernel_key(names.block_key(stages, depth, "mlp.fc1")) in tensors:
            depth += 1
        fc1 = tensors[TORCH.kernel_key(names.block_key(stages, 0, "mlp.fc1"))]
        reduction = tensors.get(TORCH.kernel_key(names.block_key(stages, 0, "attn.sr")))
        embed_dims.append(fc1.shape[1])
        depths.append(depth)
        mlp_ratios.append(fc1.shape[0] / fc1.shape[1])
        linear = linear or (reduction is not None and reduction.shape[-1] == 1)
        sr_ratios.append(1 if reduction is None else reduction.shape[-1])
        stages += 1
    if not stages or not all(depths):
        raise KerasViTError(f"No PVT blocks found (no {TORCH.kernel_key(names.block_key(0, 0, 'mlp.fc1'))}).")
    first = tensors[TORCH.kernel_key(f"{names.embedding_key(0)}.proj")]
    patch_size = first.shape[-1] if names.version == 1 else (first.shape[-1] + 1) // 2
    head = tensors.get(TORCH.kernel_key(names.head))
    described = {
        "architecture": "pvt", "version": names.version, "patch_size": patch_size, "channels": first.shape[1],
        "embed_dims": tuple(embed_dims), "depths": tuple(depths), "mlp_ratios": tuple(mlp_ratios),
        "linear": linear, "pooling": "token" if names.version == 1 else "gap",
        "num_classes": None if head is None else TORCH.units(head),
    }
    if not linear:  # with linear SRA the stored reductions are 1x1 whatever the preset's (unused) sr_ratios
        described["sr_ratios"] = tuple(sr_ratios)
    side = math.isqrt(tensors[names.stage_key(names.position, 0)].shape[1]) if names.version == 1 else 0
    if side and side * side == tensors[names.stage_key(names.position, 0)].shape[1]:
        described["image_size"] = side * patch_size  # of the square grid the official v1 files are trained on
    return described


def _conv(target, source):
    """Rules for our Conv2D `target` from a PyTorch nn.Conv2d: (out, in, kh, kw) -> (kh, kw, in, out)."""
    return [Rule(f"{target}/kernel", (TORCH.kernel_key(source),), _conv_kernel),
            plain(f"{target}/bias", TORCH.bias_key(source))]


def _conv_kernel(weight):
    if weight.ndim != 4:
        raise ValueError(f"a convolution kernel has 4 axes, this one has shape {weight.shape}")
    return np.transpose(weight, (2, 3, 1, 0))


def _depthwise_kernel(weight):
    """A depth-wise nn.Conv2d kernel (channels, 1, kh, kw) -> Keras' DepthwiseConv2D (kh, kw, channels, 1)."""
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(f"a depth-wise kernel has shape (channels, 1, kh, kw), this one {weight.shape}")
    return np.transpose(weight, (2, 3, 0, 1))


def _position_converter(positions, report):
    """A stage's position embeddings of the checkpoint's square grid, resampled (bilinear, as the reference PVT
    does at run time) to the layer's grid where they differ."""

    def convert(embeddings):
        prefix, (rows, cols) = positions.num_prefix_tokens, positions.grid_size
        count = embeddings.shape[1] - prefix if embeddings.ndim == 3 else 0
        side = math.isqrt(max(count, 0))
        if count == rows * cols:
            return embeddings
        if side * side != count or not side:
            raise ValueError(f"{embeddings.shape} position embeddings are neither {prefix} + the layer's {rows}x{cols}"
                             f" grid nor {prefix} + a square grid")
        report.notes.append(f"{positions.name}: position embeddings resampled (bilinear) from a {side}x{side} grid "
                            f"to {rows}x{cols}")
        return keras.ops.convert_to_numpy(resample_position_embeddings(
            embeddings, (side, side), (rows, cols), num_prefix_tokens=prefix, interpolation="bilinear"))

    return convert
