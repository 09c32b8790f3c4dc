"""Where timm and Hugging Face transformers keep each Swin (V1 and V2) tensor, and the rules that map them onto
`build_swin`'s layers.

Names, as published (V1):
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

Swin V2 (post-norm: `norm1` / `layernorm_before` normalises the attention's output and `norm2` /
`layernorm_after` the MLP's, whatever their names say; the merging normalises its 2 * dim outputs):
- timm `swinv2_*`: as V1, with `...attn.qkv.weight` only, the separate `...attn.q_bias` and `...attn.v_bias` (the
  key has none: timm's zero `k_bias` is not stored, or is, and is checked to be zero), `...attn.logit_scale` of
  shape (heads, 1, 1), and the continuous-position-bias MLP `...attn.cpb_mlp.0` (Linear(2, 512)) and
  `...attn.cpb_mlp.2` (Linear(512, heads), no bias) instead of the bias table. The official Microsoft files
  (timm's "older" layout) put the merging at the end of stages 0-2, call the head `head` and store the buffers
  `...attn.relative_coords_table` (1, 2 wh - 1, 2 ww - 1, 2), `...attn.relative_position_index` and
  `...attn_mask`; timm's current files store no buffers, so they do not record the window size.
- transformers `Swinv2ForImageClassification`: the V1 names under `swinv2.`, with `attention.self.key` without
  bias, `attention.self.logit_scale`, `attention.self.continuous_position_bias_mlp.0` / `.2`, and possibly the
  buffers `attention.self.relative_coords_table` / `relative_position_index`.

Where the implementations differ, we follow timm and the reference code (Microsoft's), with one exception:
- transformers pads a grid to the window before it shifts, timm and the reference shift first; they differ only on
  a grid that is not a multiple of the window, which no published checkpoint has.
- The references add -100 to the logits of pairs across a shift seam (transformers adds it twice); we exclude those
  pairs, as for Swin V1. Under V1's scaled dot products and for V2 at moderate logit scales the two agree to float
  precision, but V2's cosine logits reach 100 + 16 at the clamped scale, where -100 leaves a masked pair of logit
  l a weight of exp(l - 100 - l_best) against the row's best visible pair: where that is not negligible (only at
  learned scales near the clamp) the imported model differs from the reference in that row.

The coordinates of the continuous position bias are scaled by the window of pre-training; a stored
`relative_coords_table` tells it (`describe_swin` reads it into `pretrained_window_sizes`, `swin_buffers` checks it).
"""

import dataclasses
import math
import re

import numpy as np

from keras_vit.errors import KerasViTError
from keras_vit.layers.swin_windows import as_pair, relative_coordinates_table, relative_position_index
from keras_vit.weights.layouts import TORCH, plain

# Stored continuous-position coordinates count as ours within this (they are log-spaced values in [-1, 1]).
_COORDINATES_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class SwinNames:
    """The checkpoint names of one Swin layout; `block` holds "{stage}" and "{index}", `merging` "{stage}".

    V1 layouts name `bias_table`; V2 layouts `query_value_biases`, `logit_scale`, `cpb` (the bias MLP's two linear
    layers) and `coordinates_buffer`.
    """

    version: int
    patch: str
    patch_norm: str
    block: str
    norm1: str
    qkv: tuple
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
    bias_table: str = None
    query_value_biases: tuple = ()
    logit_scale: str = None
    cpb: tuple = ()
    coordinates_buffer: str = None
    key_bias_buffer: str = None

    def block_key(self, stage, index, name):
        return TORCH.join(self.block.format(stage=stage, index=index), name)

    @property
    def marker(self):
        """The block tensor that tells blocks and heads apart: the bias table (V1) or the logit scale (V2)."""
        return self.bias_table if self.version == 1 else self.logit_scale


_TIMM = dict(patch="patch_embed.proj", patch_norm="patch_embed.norm", block="layers.{stage}.blocks.{index}",
             norm1="norm1", qkv=("attn.qkv",), attention_out="attn.proj", norm2="norm2", fc1="mlp.fc1", fc2="mlp.fc2",
             merging="layers.{stage}.downsample", norm="norm", index_buffer="attn.relative_position_index")
_TIMM_V1 = dict(_TIMM, version=1, bias_table="attn.relative_position_bias_table",
                buffers=r".*\.attn\.relative_position_index|.*\.attn_mask")
_TIMM_V2 = dict(_TIMM, version=2, query_value_biases=("attn.q_bias", "attn.v_bias"), logit_scale="attn.logit_scale",
                cpb=("attn.cpb_mlp.0", "attn.cpb_mlp.2"), coordinates_buffer="attn.relative_coords_table",
                key_bias_buffer="attn.k_bias",
                buffers=r".*\.attn\.(relative_position_index|relative_coords_table|k_bias)|.*\.attn_mask")


def _transformers(model, version):
    """The names of transformers' Swin (`model` "swin") or Swin V2 ("swinv2") image classifier."""
    attention = "attention.self"
    names = dict(
        patch=f"{model}.embeddings.patch_embeddings.projection", patch_norm=f"{model}.embeddings.norm",
        block=f"{model}.encoder.layers.{{stage}}.blocks.{{index}}", norm1="layernorm_before",
        qkv=tuple(f"{attention}.{name}" for name in ("query", "key", "value")),
        attention_out="attention.output.dense", norm2="layernorm_after", fc1="intermediate.dense",
        fc2="output.dense", merging=f"{model}.encoder.layers.{{stage}}.downsample", merging_offset=-1,
        norm=f"{model}.layernorm", head="classifier", index_buffer=f"{attention}.relative_position_index")
    if version == 1:
        return SwinNames(version=1, **names, bias_table=f"{attention}.relative_position_bias_table",
                         buffers=r".*\.attention\.self\.relative_position_index")
    return SwinNames(version=2, **names, query_value_biases=(f"{attention}.query.bias", f"{attention}.value.bias"),
                     logit_scale=f"{attention}.logit_scale",
                     cpb=(f"{attention}.continuous_position_bias_mlp.0", f"{attention}.continuous_position_bias_mlp.2"),
                     coordinates_buffer=f"{attention}.relative_coords_table",
                     buffers=r".*\.attention\.self\.(relative_position_index|relative_coords_table)")


SWIN_LAYOUTS = {
    "timm-swin": SwinNames(**_TIMM_V1, merging_offset=0, head="head.fc"),
    "timm-swin-old": SwinNames(**_TIMM_V1, merging_offset=-1, head="head"),
    "transformers-swin": _transformers("swin", 1),
    "timm-swinv2": SwinNames(**_TIMM_V2, merging_offset=0, head="head.fc"),
    "timm-swinv2-old": SwinNames(**_TIMM_V2, merging_offset=-1, head="head"),
    "transformers-swinv2": _transformers("swinv2", 2),
}


def swin_rules(names, model, report):
    """The rules that set every weight of a `build_swin` model of the checkpoint's version from tensors named by
    `names`."""
    blocks = _blocks(model)
    version = model.get_layer(blocks[(0, 0)]).version
    if version != names.version:
        raise KerasViTError(f"{report.layout} checkpoints are Swin V{names.version}; model '{model.name}' is Swin "
                            f"V{version}: build it with version={names.version}.")
    rules = TORCH.patch_projection("patch_encoder/projection", names.patch)
    rules += TORCH.layer_norm("patch_norm", names.patch_norm)
    for (stage, index), ours in sorted(blocks.items()):
        def theirs(name):
            return names.block_key(stage, index, name)

        rules += TORCH.layer_norm(f"{ours}/norm1", theirs(names.norm1))
        rules += _attention_rules(names, f"{ours}/attention", theirs, model.get_layer(ours).qkv_bias)
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


def _attention_rules(names, target, theirs, qkv_bias):
    """The rules of one window attention: fused query/key/value, then the relative position bias table (V1), or the
    query and value biases, the logit scale and the continuous-position-bias MLP (V2)."""
    qkv = [theirs(name) for name in names.qkv]
    if names.version == 1:
        return (TORCH.dense(f"{target}/qkv", *qkv, bias=qkv_bias)
                + [plain(f"{target}/relative_position_bias_table", theirs(names.bias_table))])
    rules = TORCH.dense(f"{target}/qkv", *qkv, bias=False)
    if qkv_bias:
        rules += [plain(f"{target}/{ours}", theirs(name)) for ours, name in zip(("q_bias", "v_bias"),
                                                                                names.query_value_biases)]
    rules.append(plain(f"{target}/logit_scale", theirs(names.logit_scale), _per_head))
    rules += TORCH.dense(f"{target}/cpb_fc1", theirs(names.cpb[0]))
    return rules + TORCH.dense(f"{target}/cpb_fc2", theirs(names.cpb[1]), bias=False)


def _per_head(logit_scale):
    """A stored (heads, 1, 1) logit scale -> our (heads,)."""
    if logit_scale.ndim not in (1, 3) or logit_scale.shape[1:] not in ((), (1, 1)):
        raise ValueError(f"a logit scale has shape (heads, 1, 1), this one {logit_scale.shape}")
    return logit_scale.reshape(-1)


def swin_buffers(names, model, tensors):
    """The checkpoint's buffers (no weights), after checking them against the model: relative position indices
    and (V2) continuous-position coordinates of each block's window, and a zero key bias."""
    buffers = {name for name in tensors if re.fullmatch(names.buffers, name)}
    for (stage, index), ours in _blocks(model).items():
        attention = model.get_layer(ours).attention
        window = attention.window_size
        key = names.block_key(stage, index, names.index_buffer)
        stored = tensors.get(key)
        if stored is not None and not np.array_equal(stored.reshape(-1), relative_position_index(window).reshape(-1)):
            raise KerasViTError(f"{key} of shape {stored.shape} does not match the relative positions of our "
                                f"{window[0]}x{window[1]} window in {ours}: the window sizes differ.")
        if names.version == 2:
            _check_coordinates(names, tensors, stage, index, attention, ours)
            key_bias = tensors.get(names.block_key(stage, index, names.key_bias_buffer or ""))
            if names.key_bias_buffer and key_bias is not None and np.any(key_bias):
                raise KerasViTError(f"{names.block_key(stage, index, names.key_bias_buffer)} is not zero: Swin V2's "
                                    f"key has no bias, and {ours} has none to load it into.")
    return buffers


def _check_coordinates(names, tensors, stage, index, attention, ours):
    key = names.block_key(stage, index, names.coordinates_buffer)
    stored = tensors.get(key)
    if stored is None:
        return
    window, pretrained = attention.window_size, attention.pretrained_window_size
    expected = relative_coordinates_table(window, pretrained)
    if stored.size != expected.size or stored.shape[-1] != 2:
        raise KerasViTError(f"{key} of shape {stored.shape} does not match the relative coordinates of our "
                            f"{window[0]}x{window[1]} window in {ours}: the window sizes differ.")
    if not np.allclose(stored.reshape(expected.shape), expected, atol=_COORDINATES_TOLERANCE):
        theirs = _pretrained_window(stored)
        scaled = f"scaled for a pre-training window of {_as_side(theirs)}" if theirs else "scaled otherwise"
        raise KerasViTError(
            f"{key} is {scaled}; {ours} scales its {window[0]}x{window[1]} window's coordinates by "
            f"{_as_side(pretrained or window)}: build the model with the checkpoint's pretrained_window_sizes"
            f"{f' ({_as_side(theirs)} for stage {stage})' if theirs else ''}.")


def _pretrained_window(coordinates):
    """(height, width) of the pre-training window that a stored (1, 2 wh - 1, 2 ww - 1, 2) coordinate table is
    scaled by, or None where it cannot tell (a window side of 1). The largest offset wh - 1 is stored as
    log2(8 (wh - 1) / (p - 1) + 1) / 3."""
    if coordinates.ndim != 4 or min(coordinates.shape[1:3]) < 3:
        return None
    rows, cols = coordinates.shape[1:3]
    largest = (coordinates[0, -1, cols // 2, 0], coordinates[0, rows // 2, -1, 1])
    sides = []
    for side, value in zip(((rows + 1) // 2, (cols + 1) // 2), largest):
        scaled = 2.0 ** (3.0 * float(value)) - 1.0
        if scaled <= 0:
            return None
        sides.append(int(round(8.0 * (side - 1) / scaled + 1.0)))
    return tuple(sides)


def describe_swin(names, tensors):
    """The `build_swin` arguments a checkpoint fixes: version, patch_size, channels, embed_dim, depths, num_heads,
    window_size (of stage 0; for V2 only where a buffer records it), mlp_ratio, qkv_bias, num_classes (None without
    a head) and, for V2 weights whose stored coordinates are scaled by another window, pretrained_window_sizes."""
    patch_size, channels, embed_dim = TORCH.patch_geometry(tensors[TORCH.kernel_key(names.patch)])
    depths, num_heads = [], []
    while names.block_key(len(depths), 0, names.marker) in tensors:
        stage = len(depths)
        depths.append(sum(1 for name in tensors if name.startswith(names.block.format(stage=stage, index="")) and
                          name.endswith(names.marker)))
        marker = tensors[names.block_key(stage, 0, names.marker)]
        num_heads.append(marker.shape[1] if names.version == 1 else marker.shape[0])
    if not depths:
        raise KerasViTError(f"No Swin blocks found (no {names.block_key(0, 0, names.marker)}).")
    fc1 = tensors[names.block_key(0, 0, TORCH.kernel_key(names.fc1))]
    head = tensors.get(TORCH.kernel_key(names.head))
    bias = (TORCH.bias_key(names.qkv[0]) if names.version == 1 else names.query_value_biases[0])
    described = {
        "architecture": "swin", "version": names.version, "patch_size": patch_size, "channels": channels,
        "embed_dim": embed_dim, "depths": tuple(depths), "num_heads": tuple(num_heads),
        "mlp_ratio": TORCH.units(fc1) / embed_dim, "qkv_bias": names.block_key(0, 0, bias) in tensors,
        "num_classes": None if head is None else TORCH.units(head),
    }
    window = _stored_window(names, tensors, 0)
    if window:
        described["window_size"] = _as_side(window)
    if names.version == 2:
        pretrained = [_stage_pretrained_window(names, tensors, stage) for stage in range(len(depths))]
        if any(pretrained):
            described["pretrained_window_sizes"] = tuple(pretrained)
    return described


def _stored_window(names, tensors, stage):
    """(height, width) of the window of a stage's first block, from its bias table (V1) or its buffers (V2);
    None where the checkpoint stores neither."""
    if names.version == 1:
        side = (math.isqrt(tensors[names.block_key(stage, 0, names.bias_table)].shape[0]) + 1) // 2
        return side, side
    coordinates = tensors.get(names.block_key(stage, 0, names.coordinates_buffer))
    if coordinates is not None and coordinates.ndim == 4:
        return (coordinates.shape[1] + 1) // 2, (coordinates.shape[2] + 1) // 2
    index = tensors.get(names.block_key(stage, 0, names.index_buffer))
    side = math.isqrt(index.shape[0]) if index is not None and index.ndim == 2 else 0
    return (side, side) if side and side * side == index.shape[0] else None


def _stage_pretrained_window(names, tensors, stage):
    """The pre-training window of a stage where its stored coordinates are scaled by another than its own, else 0."""
    coordinates = tensors.get(names.block_key(stage, 0, names.coordinates_buffer))
    pretrained = None if coordinates is None else _pretrained_window(coordinates)
    if pretrained is None or pretrained == _stored_window(names, tensors, stage):
        return 0
    return _as_side(pretrained)


def _as_side(window):
    """An int for a square window, else the (height, width) pair."""
    window = as_pair(window)
    return window[0] if window[0] == window[1] else window


def _blocks(model):
    """{(stage, index): layer name} of the model's Swin blocks."""
    found = (re.fullmatch(r"stage_(\d+)_block_(\d+)", layer.name) for layer in model.layers)
    return {(int(match[1]), int(match[2])): match[0] for match in found if match}

