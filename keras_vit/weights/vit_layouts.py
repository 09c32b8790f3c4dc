"""Where timm, Hugging Face transformers, vit_jax and big_vision keep each ViT tensor, and the rules that map
them onto `build_vit`'s layers.

Names, as published:
- timm: `patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.{i}.norm1`, `blocks.{i}.attn.qkv`,
  `blocks.{i}.attn.proj`, `blocks.{i}.norm2`, `blocks.{i}.mlp.fc1` / `fc2`, `blocks.{i}.ls1.gamma` / `ls2.gamma`
  (LayerScale), `norm` (token pooling) or `fc_norm` (average pooling), `head`.
- transformers: `vit.embeddings.patch_embeddings.projection`, `vit.embeddings.cls_token`,
  `vit.embeddings.position_embeddings`, `vit.encoder.layer.{i}.layernorm_before`,
  `...attention.attention.query` / `key` / `value`, `...attention.output.dense`, `...layernorm_after`,
  `...intermediate.dense`, `...output.dense`, `vit.layernorm`, `classifier`.
- vit_jax (.npz): `embedding` (HWIO), `cls`, `Transformer/posembed_input/pos_embedding`,
  `Transformer/encoderblock_{i}/LayerNorm_0`, `.../MultiHeadDotProductAttention_1/query|key|value|out`,
  `.../LayerNorm_2`, `.../MlpBlock_3/Dense_0|Dense_1`, `Transformer/encoder_norm`, `head`.
- big_vision (.npz): the same under `params/`, with `pos_embedding`, `MultiHeadDotProductAttention_0`,
  `LayerNorm_1` and `MlpBlock_0`.

All use exact (erf) GELU like ours. Their LayerNorm epsilon is 1e-6 like ours, except transformers' ViT (1e-12):
that changes each normalised value by about 1e-6 relative, far below what matters, so it is not adjusted.
"""

import dataclasses
import math

import keras

from keras_vit.errors import KerasViTError
from keras_vit.layers.patch_encoder import resample_position_embeddings
from keras_vit.weights.layouts import FLAX, TORCH, plain


@dataclasses.dataclass(frozen=True)
class VitNames:
    """The checkpoint names of one ViT layout; `block` holds "{index}", block-relative names follow it."""

    layout: object
    patch: str
    class_token: str
    position: str
    block: str
    norm1: str
    qkv: tuple
    attention_out: str
    norm2: str
    fc1: str
    fc2: str
    norm: str
    head: str
    gap_norm: str = None  # the LayerNorm after average pooling, where the layout has one
    layer_scale: tuple = ()
    prefix: str = ""

    def key(self, *names):
        return self.prefix + self.layout.join(*names)

    def block_key(self, index, name):
        return self.key(self.block.format(index=index), name)


_MHA1 = "MultiHeadDotProductAttention_1"
_MHA0 = "MultiHeadDotProductAttention_0"
VIT_LAYOUTS = {
    "timm-vit": VitNames(
        TORCH, patch="patch_embed.proj", class_token="cls_token", position="pos_embed", block="blocks.{index}",
        norm1="norm1", qkv=("attn.qkv",), attention_out="attn.proj", norm2="norm2", fc1="mlp.fc1", fc2="mlp.fc2",
        norm="norm", head="head", gap_norm="fc_norm", layer_scale=("ls1.gamma", "ls2.gamma")),
    "transformers-vit": VitNames(
        TORCH, patch="vit.embeddings.patch_embeddings.projection", class_token="vit.embeddings.cls_token",
        position="vit.embeddings.position_embeddings", block="vit.encoder.layer.{index}", norm1="layernorm_before",
        qkv=tuple(f"attention.attention.{name}" for name in ("query", "key", "value")),
        attention_out="attention.output.dense", norm2="layernorm_after", fc1="intermediate.dense",
        fc2="output.dense", norm="vit.layernorm", head="classifier"),
    "vit_jax-vit": VitNames(
        FLAX, patch="embedding", class_token="cls", position="Transformer/posembed_input/pos_embedding",
        block="Transformer/encoderblock_{index}", norm1="LayerNorm_0",
        qkv=tuple(f"{_MHA1}/{name}" for name in ("query", "key", "value")), attention_out=f"{_MHA1}/out",
        norm2="LayerNorm_2", fc1="MlpBlock_3/Dense_0", fc2="MlpBlock_3/Dense_1", norm="Transformer/encoder_norm",
        head="head"),
    "big_vision-vit": VitNames(
        FLAX, patch="embedding", class_token="cls", position="pos_embedding", block="Transformer/encoderblock_{index}",
        norm1="LayerNorm_0", qkv=tuple(f"{_MHA0}/{name}" for name in ("query", "key", "value")),
        attention_out=f"{_MHA0}/out", norm2="LayerNorm_1", fc1="MlpBlock_0/Dense_0", fc2="MlpBlock_0/Dense_1",
        norm="Transformer/encoder_norm", head="head", prefix="params/"),
}


def vit_rules(names, model, report):
    """The rules that set every weight of a `build_vit` model from checkpoint tensors named by `names`."""
    layout = names.layout
    encoder = model.get_layer("patch_encoder")
    rules = layout.patch_projection("patch_encoder/projection", names.key(names.patch))
    if encoder.use_class_token:
        rules.append(plain("patch_encoder/class_token", names.key(names.class_token)))
    rules.append(plain("patch_encoder/position_embedding", names.key(names.position),
                       _position_converter(encoder, report)))
    depth = sum(1 for layer in model.layers if layer.name.startswith("block_"))
    for index in range(depth):
        ours, theirs = f"block_{index}", lambda name: names.block_key(index, name)
        rules += layout.layer_norm(f"{ours}/norm1", theirs(names.norm1))
        rules += layout.dense(f"{ours}/attention/qkv", *(theirs(name) for name in names.qkv),
                              bias=model.get_layer(ours).qkv_bias)
        rules += layout.dense(f"{ours}/attention/projection", theirs(names.attention_out), input_axes=2)
        rules += layout.layer_norm(f"{ours}/norm2", theirs(names.norm2))
        rules += layout.dense(f"{ours}/mlp/fc1", theirs(names.fc1))
        rules += layout.dense(f"{ours}/mlp/fc2", theirs(names.fc2))
        for number, name in enumerate(names.layer_scale, start=1):
            rules.append(plain(f"{ours}/layer_scale{number}/scale", theirs(name)))
    if encoder.use_class_token:
        rules += layout.layer_norm("norm", names.key(names.norm))
    elif names.gap_norm:
        rules += layout.layer_norm("norm", names.key(names.gap_norm))
    else:
        raise KerasViTError(f"The {report.layout} layout normalises before average pooling, our ViT after it: "
                            "import it into a model with pooling='token'.")
    return rules + layout.dense("head", names.key(names.head))


def describe_vit(names, tensors):
    """The `build_vit` arguments a checkpoint fixes: patch_size, channels, embed_dim, depth, mlp_dim, pooling,
    image_size (of its square position grid) and num_classes (None without a head)."""
    layout = names.layout
    patch_size, channels, embed_dim = layout.patch_geometry(tensors[layout.kernel_key(names.key(names.patch))])
    depth = 0
    while names.block_key(depth, layout.kernel_key(names.fc1)) in tensors:
        depth += 1
    has_class_token = names.key(names.class_token) in tensors
    head = tensors.get(layout.kernel_key(names.key(names.head)))
    position = tensors.get(names.key(names.position))
    grid = None if position is None else _square_side(position.shape[1] - has_class_token)
    return {
        "architecture": "vit", "patch_size": patch_size, "channels": channels, "embed_dim": embed_dim,
        "depth": depth,
        "mlp_dim": layout.units(tensors[names.block_key(0, layout.kernel_key(names.fc1))]) if depth else None,
        "pooling": "token" if has_class_token else "gap",
        "image_size": None if not grid else grid * patch_size,
        "num_classes": None if head is None else layout.units(head),
    }


def _position_converter(encoder, report):
    """Position embeddings of the checkpoint's square grid, resampled to the encoder's grid where they differ."""

    def convert(embeddings):
        embeddings = embeddings.reshape(1, -1, embeddings.shape[-1])
        prefix = encoder.num_prefix_tokens
        side = _square_side(embeddings.shape[1] - prefix)
        if not side:
            raise ValueError(f"{embeddings.shape[1]} position embeddings are not {prefix} + a square grid")
        if (side, side) != encoder.grid_size:
            report.notes.append(f"position embeddings: resampled (bicubic) from a {side}x{side} grid to "
                                f"{encoder.grid_size[0]}x{encoder.grid_size[1]}")
        return keras.ops.convert_to_numpy(
            resample_position_embeddings(embeddings, (side, side), encoder.grid_size, num_prefix_tokens=prefix))

    return convert


def _square_side(count):
    side = math.isqrt(max(count, 0))
    return side if side * side == count and side else None
