"""Import of Swin checkpoints in the timm (current and older) and transformers layouts, checked against a NumPy
forward pass of the original Swin Transformer written here from the paper's reference code."""

import numpy as np
import pytest

from keras_vit import KerasViTError, create_model
from keras_vit.weights import create_pretrained, load_pretrained_weights, write_safetensors
from test_weights_vit import bf16_exact, layer_norm, linear, mlp, normalize, patch_embed, softmax

DIM, DEPTHS, HEADS, WINDOW, PATCH, IMAGE, CLASSES = 8, (2, 2), (2, 4), 4, 2, 16, 5
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TorchTensors:
    """Random PyTorch-shaped tensors collected by name: `tensors` holds them, `exact()` as bfloat16 values."""

    def __init__(self, rng):
        self.rng, self.tensors = rng, {}

    def normal(self, *shape, scale=0.2):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def layer(self, name, out, inputs, bias=True):
        """An nn.Linear: weight (out, inputs), bias (out,)."""
        self.tensors[f"{name}.weight"] = self.normal(out, inputs)
        if bias:
            self.tensors[f"{name}.bias"] = self.normal(out)

    def norm(self, name, width):
        self.tensors[f"{name}.weight"], self.tensors[f"{name}.bias"] = 1.0 + self.normal(width), self.normal(width)

    def patch_embedding(self, name="patch_embed"):
        self.tensors[f"{name}.proj.weight"] = self.normal(DIM, 3, PATCH, PATCH)
        self.tensors[f"{name}.proj.bias"] = self.normal(DIM)
        self.norm(f"{name}.norm", DIM)

    def block_end(self, block, dim):
        """A block's output projection, second norm and MLP."""
        self.layer(f"{block}.attn.proj", dim, dim)
        self.norm(f"{block}.norm2", dim)
        self.layer(f"{block}.mlp.fc1", 4 * dim, dim)
        self.layer(f"{block}.mlp.fc2", dim, 4 * dim)

    def classifier(self):
        """The final norm and the head."""
        final = DIM * 2 ** (len(DEPTHS) - 1)
        self.norm("norm", final)
        self.layer("head.fc", CLASSES, final)

    def exact(self):
        return {name: bf16_exact(value) for name, value in self.tensors.items()}


def timm_swin_tensors(rng):
    """Random tensors named and shaped as timm's current SwinTransformer state dict (merging at stage starts)."""
    made = TorchTensors(rng)
    made.patch_embedding()
    for stage, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        dim = DIM * 2 ** stage
        if stage:
            made.norm(f"layers.{stage}.downsample.norm", 2 * dim)
            made.layer(f"layers.{stage}.downsample.reduction", dim, 2 * dim, bias=False)
        for index in range(depth):
            block = f"layers.{stage}.blocks.{index}"
            made.norm(f"{block}.norm1", dim)
            made.layer(f"{block}.attn.qkv", 3 * dim, dim)
            made.tensors[f"{block}.attn.relative_position_bias_table"] = made.normal((2 * WINDOW - 1) ** 2, heads,
                                                                                    scale=1.0)
            made.block_end(block, dim)
    made.classifier()
    return made.exact()


def relative_index(window):
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return relative[..., 0] * (2 * window - 1) + relative[..., 1]


def partition(x, window):
    b, h, w, c = x.shape
    x = x.reshape(b, h // window, window, w // window, window, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def reverse(windows, window, b, h, w):
    x = windows.reshape(b, h // window, w // window, window, window, -1).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def shift_mask(h, w, window, shift):
    """The original Swin attention mask: 0 within a region of the rolled map, -100 across regions."""
    regions = np.zeros((1, h, w, 1))
    count = 0
    for rows in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for cols in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            regions[:, rows, cols, :] = count
            count += 1
    windows = partition(regions, window)[..., 0]
    return np.where(windows[:, None, :] != windows[:, :, None], -100.0, 0.0)


def swin_block(x, t, prefix, heads, window, shift, eps=1e-5):
    b, h, w, c = x.shape
    y = layer_norm(x, t[f"{prefix}.norm1.weight"], t[f"{prefix}.norm1.bias"], eps)
    if shift:
        y = np.roll(y, (-shift, -shift), axis=(1, 2))
    windows = partition(y, window)
    n = window * window
    qkv = linear(windows, t, f"{prefix}.attn.qkv").reshape(-1, n, 3, heads, c // heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv
    logits = q @ k.transpose(0, 1, 3, 2) * (c // heads) ** -0.5
    table = t[f"{prefix}.attn.relative_position_bias_table"]
    logits = logits + table[relative_index(window).reshape(-1)].reshape(n, n, heads).transpose(2, 0, 1)
    if shift:
        mask = shift_mask(h, w, window, shift)
        logits = (logits.reshape(b, len(mask), heads, n, n) + mask[None, :, None]).reshape(-1, heads, n, n)
    attended = (softmax(logits) @ v).transpose(0, 2, 1, 3).reshape(-1, n, c)
    y = reverse(linear(attended, t, f"{prefix}.attn.proj"), window, b, h, w)
    if shift:
        y = np.roll(y, (shift, shift), axis=(1, 2))
    x = x + y
    return x + mlp(layer_norm(x, t[f"{prefix}.norm2.weight"], t[f"{prefix}.norm2.bias"], eps), t, f"{prefix}.mlp")


def patch_merging(x, t, prefix, eps=1e-5):
    x = np.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
    x = layer_norm(x, t[f"{prefix}.norm.weight"], t[f"{prefix}.norm.bias"], eps)
    return x @ t[f"{prefix}.reduction.weight"].T


def block_window(grid, index):
    """(window, shift) of block `index` on a grid side: a window no smaller than the grid becomes it, unshifted."""
    window, shift = WINDOW, (0 if index % 2 == 0 else WINDOW // 2)
    return (grid, 0) if grid <= window else (window, shift)


def reference_swin(t, images, eps=1e-5, block=swin_block, merging=patch_merging):
    """The Swin forward pass in NumPy, from timm-layout tensors: V1's blocks and merging, or others of the same
    signatures (`block(x, t, prefix, heads, window, shift, eps)`, `merging(x, t, prefix, eps)`)."""
    x = patch_embed(normalize(images, MEAN, STD), t["patch_embed.proj.weight"], t["patch_embed.proj.bias"])
    x = layer_norm(x, t["patch_embed.norm.weight"], t["patch_embed.norm.bias"], eps)
    for stage, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        if stage:
            x = merging(x, t, f"layers.{stage}.downsample", eps)
        for index in range(depth):
            window, shift = block_window(min(x.shape[1:3]), index)
            x = block(x, t, f"layers.{stage}.blocks.{index}", heads, window, shift, eps)
    pooled = layer_norm(x, t["norm.weight"], t["norm.bias"], eps).mean(axis=(1, 2))
    return linear(pooled, t, "head.fc")


def old_timm_swin_tensors(t):
    """timm's older layout: merging at the end of stages 0-2, `head`, and the index and mask buffers."""
    out = {}
    for name, value in t.items():
        if ".downsample." in name:
            stage = int(name.split(".")[1])
            name = name.replace(f"layers.{stage}.", f"layers.{stage - 1}.")
        out[name.replace("head.fc.", "head.")] = value
    for stage, depth in enumerate(DEPTHS):
        for index in range(depth):
            out[f"layers.{stage}.blocks.{index}.attn.relative_position_index"] = relative_index(WINDOW)
    out["layers.0.blocks.1.attn_mask"] = shift_mask(IMAGE // PATCH, IMAGE // PATCH, WINDOW, WINDOW // 2)
    return out


def transformers_swin_tensors(t):
    """The same weights as Hugging Face transformers' SwinForImageClassification names them."""
    renames = [("patch_embed.proj", "embeddings.patch_embeddings.projection"), ("patch_embed.norm", "embeddings.norm"),
               ("attn.proj", "attention.output.dense"), ("attn.relative", "attention.self.relative"),
               ("norm1", "layernorm_before"), ("norm2", "layernorm_after"), ("mlp.fc1", "intermediate.dense"),
               ("mlp.fc2", "output.dense")]
    out = {}
    for name, value in t.items():
        if name.startswith("head.fc."):
            out[name.replace("head.fc.", "classifier.")] = value
            continue
        if name.startswith("norm."):
            out[name.replace("norm.", "swin.layernorm.")] = value
            continue
        if ".downsample." in name:
            stage = int(name.split(".")[1])
            name = name.replace(f"layers.{stage}.", f"layers.{stage - 1}.")
        for old, new in renames:
            name = name.replace(old, new)
        name = "swin." + ("encoder." if name.startswith("layers.") else "") + name
        if ".attn.qkv." in name:
            for part, which in zip(np.split(value, 3), ("query", "key", "value")):
                out[name.replace("attn.qkv", f"attention.self.{which}")] = part
        else:
            out[name] = value
    out["swin.encoder.layers.0.blocks.0.attention.self.relative_position_index"] = relative_index(WINDOW)
    return out


def tiny_swin():
    return create_model("swin_nano_patch2_window4_32", image_size=IMAGE, embed_dim=DIM, depths=DEPTHS,
                        num_heads=HEADS, window_size=WINDOW, num_classes=CLASSES, mean=MEAN, std=STD)


@pytest.mark.parametrize("layout", ["timm-swin", "timm-swin-old", "transformers-swin"])
def test_swin_matches_numpy_forward(tmp_path, seeded, layout):
    tensors = timm_swin_tensors(seeded)
    stored = {"timm-swin": dict, "timm-swin-old": old_timm_swin_tensors,
              "transformers-swin": transformers_swin_tensors}[layout](tensors)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, stored, {name: "BF16" for name, value in stored.items() if value.ndim == 2
                                     and value.dtype == np.float32})
    model = tiny_swin()
    report = load_pretrained_weights(model, path)
    assert report.layout == layout and not report.new
    assert len(report.loaded) == len(model.weights)
    x = seeded.uniform(0, 255, (2, IMAGE, IMAGE, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swin(tensors, x), atol=1e-4)


def test_a_relative_position_index_of_another_window_is_refused(tmp_path, seeded):
    stored = old_timm_swin_tensors(timm_swin_tensors(seeded))
    stored["layers.1.blocks.0.attn.relative_position_index"] = relative_index(3)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, stored)
    with pytest.raises(KerasViTError, match=r"layers\.1\.blocks\.0\.attn\.relative_position_index of shape \(9, 9\)"):
        load_pretrained_weights(tiny_swin(), path)


def test_a_missing_merging_layer_is_named(tmp_path, seeded):
    stored = timm_swin_tensors(seeded)
    del stored["layers.1.downsample.reduction.weight"]
    path = tmp_path / "model.safetensors"
    write_safetensors(path, stored)
    with pytest.raises(KerasViTError, match=r"model weights not set \(1\): stage_1_merging/reduction/kernel"):
        load_pretrained_weights(tiny_swin(), path)


def test_create_pretrained_reads_the_swin_architecture_from_the_checkpoint(tmp_path, seeded):
    tensors = timm_swin_tensors(seeded)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors)
    tiny = dict(image_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS, window_size=WINDOW)
    model = create_pretrained(path, preset="swin_tiny_patch4_window7_224", **tiny)
    assert model.output_shape == (None, CLASSES)
    x = seeded.uniform(0, 255, (2, IMAGE, IMAGE, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swin(tensors, x), atol=1e-4)
    with pytest.raises(KerasViTError, match=r"num_heads \(2, 4\) \(checkpoint\) vs \(3, 6\) \(preset\)"):
        create_pretrained(path, preset="swin_tiny_patch4_window7_224", **{**tiny, "num_heads": (3, 6)})
