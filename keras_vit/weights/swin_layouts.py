"""Where timm and Hugging Face transformers keep each Swin (V1) tensor, and the rules that map them onto
`build_swin`'s layers.

Names, as published:
- timm: `patch_embed.proj`, `patch_embed.norm`, `layers.{s}.blocks.{b}.norm1`, `...attn.qkv`,
  `...attn.relative_position_bias_table`, `...attn.proj`, `...norm2`, `...mlp.fc1` / `fc2`, `norm`, `head.fc`
  (older files: `head`). Patch merging is `layers.{s}.downsample.norm` / `.reduction` at the start of stages 1-3
  in current files, `layers.{s-1}.downsample` at the end of stages 0-2 in older ones. The buffers
  `...attn.relative_position_index` (checked against ours) and `...attn_mask` (depends on the image size) may
  be present and hold no weights.
- transformers: `swin.embeddings.patch_embeddings.projection`, `swin.embeddings.norm`,
  `swin.encoder.layers.{s}.blocks.{b}.layernorm_before`, `...attention.self.query` / `key` / `value`,
  `...attention.self.relative_position_bias_table`, `...attention.output.dense`, `...layernorm_after`,
  `...intermediate.dense`, `...output.dense`, `swin.encoder.layers.{s-1}.downsample`, `swin.layernorm`,
  `classifier`; buffer `...attention.self.relative_position_index`.
"""

import dataclasses
import math
import re

import numpy as np

from keras_vit.errors import KerasViTError
from keras_vit.layers.swin_windows import relative_position_index
from keras_vit.weights.layouts import TORCH, plain


@dataclasses.dataclass(frozen=True)
class SwinNames:
    """The checkpoint names of one Swin layout; `block` holds "{stage}" and "{index}", `merging` "{stage}"."""

    patch: str
    patch_norm: str
    block: str
    norm1: str
    qkv: tuple
    bias_table: str
    attention_out: str
    norm2: str
    fc1: str
    fc2: str
    merging: str
    merging_offset: int  # the stored stage of the merging that starts our stage s is s + merging_offset
    norm: str
    head: str
    buffers: str  # regular expression of the names that hold no weights
    index_buffer: str

    def block_key(self, stage, index, name):
        return TORCH.join(self.block.format(stage=stage, index=index), name)


_TIMM = dict(patch="patch_embed.proj", patch_norm="patch_embed.norm", block="layers.{stage}.blocks.{index}",
             norm1="norm1", qkv=("attn.qkv",), bias_table="attn.relative_position_bias_table",
             attention_out="attn.proj", norm2="norm2", fc1="mlp.fc1", fc2="mlp.fc2",
             merging="layers.{stage}.downsample", norm="norm",
             buffers=r".*\.attn\.relative_position_index|.*\.attn_mask", index_buffer="attn.relative_position_index")
SWIN_LAYOUTS = {
    "timm-swin": SwinNames(**_TIMM, merging_offset=0, head="head.fc"),
    "timm-swin-old": SwinNames(**_TIMM, merging_offset=-1, head="head"),
    "transformers-swin": SwinNames(
        patch="swin.embeddings.patch_embeddings.projection", patch_norm="swin.embeddings.norm",
        block="swin.encoder.layers.{stage}.blocks.{index}", norm1="layernorm_before",
        qkv=tuple(f"attention.self.{name}" for name in ("query", "key", "value")),
        bias_table="attention.self.relative_position_bias_table", attention_out="attention.output.dense",
        norm2="layernorm_after", fc1="intermediate.dense", fc2="output.dense",
        merging="swin.encoder.layers.{stage}.downsample", merging_offset=-1, norm="swin.layernorm",
        head="classifier", buffers=r".*\.attention\.self\.relative_position_index",
        index_buffer="attention.self.relative_position_index"),
}


def swin_rules(names, model, report):
    """The rules that set every weight of a `build_swin` (version 1) model from tensors named by `names`."""
    blocks = _blocks(model)
    if any(model.get_layer(name).version != 1 for name in blocks.values()):
        raise KerasViTError(f"Only Swin V1 models import {report.layout} checkpoints; this model is Swin V2.")
    rules = TORCH.patch_projection("patch_encoder/projection", names.patch)
    rules += TORCH.layer_norm("patch_norm", names.patch_norm)
    for (stage, index), ours in sorted(blocks.items()):
        def theirs(name):
            return names.block_key(stage, index, name)

        rules += TORCH.layer_norm(f"{ours}/norm1", theirs(names.norm1))
        rules += TORCH.dense(f"{ours}/attention/qkv", *(theirs(name) for name in names.qkv),
                             bias=model.get_layer(ours).qkv_bias)
        rules.append(plain(f"{ours}/attention/relative_position_bias_table", theirs(names.bias_table)))
        rules += TORCH.dense(f"{ours}/attention/projection", theirs(names.attention_out))
        rules += TORCH.layer_norm(f"{ours}/norm2", theirs(names.norm2))
        rules += TORCH.dense(f"{ours}/mlp/fc1", theirs(names.fc1))
        rules += TORCH.dense(f"{ours}/mlp/fc2", theirs(names.fc2))
    for stage in sorted({stage for stage, _ in blocks if stage}):
        merging = names.merging.format(stage=stage + names.merging_offset)
        rules += TORCH.layer_norm(f"stage_{stage}_merging/norm", f"{merging}.norm")
        rules += TORCH.dense(f"stage_{stage}_merging/reduction", f"{merging}.reduction", bias=False)
    rules += TORCH.layer_norm("norm", names.norm)
    return rules + TORCH.dense("head", names.head)


def swin_buffers(names, model, tensors):
    """The checkpoint's buffers (no weights), after checking its relative position indices against the model's."""
    buffers = {name for name in tensors if re.fullmatch(names.buffers, name)}
    for (stage, index), ours in _blocks(model).items():
        stored = tensors.get(names.block_key(stage, index, names.index_buffer))
        window = model.get_layer(ours).attention.window_size
        if stored is not None and not np.array_equal(stored.reshape(-1), relative_position_index(window).reshape(-1)):
            raise KerasViTError(
                f"{names.block_key(stage, index, names.index_buffer)} of shape {stored.shape} does not match the "
                f"relative positions of our {window[0]}x{window[1]} window in {ours}: the window sizes differ.")
    return buffers


def describe_swin(names, tensors):
    """The `build_swin` arguments a checkpoint fixes: patch_size, channels, embed_dim, depths, num_heads,
    window_size (of stage 0), mlp_ratio and num_classes (None without a head)."""
    patch_size, channels, embed_dim = TORCH.patch_geometry(tensors[TORCH.kernel_key(names.patch)])
    depths, num_heads = [], []
    while names.block_key(len(depths), 0, names.bias_table) in tensors:
        stage = len(depths)
        depths.append(sum(1 for name in tensors if name.startswith(names.block.format(stage=stage, index="")) and
                          name.endswith(names.bias_table)))
        num_heads.append(tensors[names.block_key(stage, 0, names.bias_table)].shape[1])
    if not depths:
        raise KerasViTError(f"No Swin blocks found (no {names.block_key(0, 0, names.bias_table)}).")
    window = (math.isqrt(tensors[names.block_key(0, 0, names.bias_table)].shape[0]) + 1) // 2
    fc1 = tensors[names.block_key(0, 0, TORCH.kernel_key(names.fc1))]
    head = tensors.get(TORCH.kernel_key(names.head))
    return {
        "architecture": "swin", "version": 1, "patch_size": patch_size, "channels": channels,
        "embed_dim": embed_dim, "depths": tuple(depths), "num_heads": tuple(num_heads), "window_size": window,
        "mlp_ratio": TORCH.units(fc1) / embed_dim, "num_classes": None if head is None else TORCH.units(head),
    }


def _blocks(model):
    """{(stage, index): layer name} of the model's Swin blocks."""
    found = (re.fullmatch(r"stage_(\d+)_block_(\d+)", layer.name) for layer in model.layers)
    return {(int(match[1]), int(match[2])): match[0] for match in found if match}
