"""Import of PVT checkpoints in timm's `pvt_v2_*` layout and the official repository's v1 and v2 layouts, checked
against a NumPy forward pass written on the PyTorch tensors as the reference code runs them (NCHW convolutions,
(out, in) linear weights)."""

import re

import numpy as np
import pytest

import keras_vit
import pvt_numpy
from keras_vit import KerasViTError, build_pvt
from keras_vit.weights import create_pretrained, load_pretrained_weights, write_safetensors
from test_pvt_layers import bilinear_half_pixel
from test_weights_vit import bf16_exact

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TINY = dict(patch_size=4, embed_dims=(8, 16), depths=(1, 2), num_heads=(1, 2), mlp_ratios=(2, 2), sr_ratios=(2, 1),
            num_classes=5, mean=MEAN, std=STD)
IMAGE = (24, 20)  # v2: 6x5 then 3x3 tokens; v1: 6x5 then 3x2 (+ the class token)


def pvt_tensors(rng, version=2, linear=False, image=IMAGE):
    """Random tensors named and shaped as timm's PyramidVisionTransformerV2 (version 2) or the official PVT v1."""
    def normal(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def layer(name, out, *inputs, bias=True):
        tensors[f"{name}.weight"] = normal(out, *inputs)
        if bias:
            tensors[f"{name}.bias"] = normal(out)

    def norm(name, width):
        tensors[f"{name}.weight"], tensors[f"{name}.bias"] = 1.0 + normal(width), normal(width)

    tensors, previous, grid = {}, 3, image
    for stage, (dim, depth, ratio, sr) in enumerate(zip(TINY["embed_dims"], TINY["depths"], TINY["mlp_ratios"],
                                                        TINY["sr_ratios"])):
        stride = TINY["patch_size"] if stage == 0 else 2
        kernel = stride if version == 1 else 2 * stride - 1
        embedding = ("patch_embed" if stage == 0 else f"stages.{stage}.downsample") if version == 2 else \
            f"patch_embed{stage + 1}"
        layer(f"{embedding}.proj", dim, previous, kernel, kernel)
        norm(f"{embedding}.norm", dim)
        grid = tuple(side // stride if version == 1 else -(-side // stride) for side in grid)
        if version == 1:
            last = stage == len(TINY["depths"]) - 1
            tensors[f"pos_embed{stage + 1}"] = normal(1, grid[0] * grid[1] + last, dim)
        hidden = int(dim * ratio)
        for index in range(depth):
            block = f"stages.{stage}.blocks.{index}" if version == 2 else f"block{stage + 1}.{index}"
            norm(f"{block}.norm1", dim)
            layer(f"{block}.attn.q", dim, dim)
            layer(f"{block}.attn.kv", 2 * dim, dim)
            layer(f"{block}.attn.proj", dim, dim)
            if linear or sr > 1:
                reduction = 1 if linear else sr
                layer(f"{block}.attn.sr", dim, dim, reduction, reduction)
                norm(f"{block}.attn.norm", dim)
            norm(f"{block}.norm2", dim)
            layer(f"{block}.mlp.fc1", hidden, dim)
            if version == 2:
                layer(f"{block}.mlp.dwconv", hidden, 1, 3, 3)
            layer(f"{block}.mlp.fc2", dim, hidden)
        if version == 2:
            norm(f"stages.{stage}.norm", dim)
        previous = dim
    if version == 1:
        tensors["cls_token"] = normal(1, 1, previous)
        norm("norm", previous)
    layer("head", TINY["num_classes"], previous)
    return {name: bf16_exact(value) for name, value in tensors.items()}


def official_v2_tensors(t):
    """timm's names as the official pvt_v2.py has them (timm's _checkpoint_filter_fn, inverted)."""
    out = {}
    for name, value in t.items():
        name = name.replace("patch_embed.", "patch_embed1.").replace("mlp.dwconv.", "mlp.dwconv.dwconv.")
        name = re.sub(r"^stages\.(\d+)\.downsample\.", lambda m: f"patch_embed{int(m[1]) + 1}.", name)
        name = re.sub(r"^stages\.(\d+)\.blocks\.(\d+)\.", lambda m: f"block{int(m[1]) + 1}.{m[2]}.", name)
        out[re.sub(r"^stages\.(\d+)\.norm\.", lambda m: f"norm{int(m[1]) + 1}.", name)] = value
    return out


def conv_nchw(x, weight, bias, stride=1, padding=0, groups=1):
    """nn.Conv2d on (batch, channels, h, w) with an (out, in / groups, kh, kw) weight, by loops."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_channels, group_in, size = weight.shape[0], weight.shape[1], weight.shape[2]
    rows, cols = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    out = np.zeros((x.shape[0], out_channels, rows, cols))
    per_group = out_channels // groups
    for o in range(out_channels):
        inputs = x[:, (o // per_group) * group_in:(o // per_group + 1) * group_in]
        for i in range(rows):
            for j in range(cols):
                window = inputs[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
                out[:, o, i, j] = np.einsum("bchw,chw->b", window, weight[o])
    return out + bias[None, :, None, None]


def linear(x, t, name):
    return x @ t[f"{name}.weight"].T + t[f"{name}.bias"]


def norm(x, t, name, eps):
    return pvt_numpy.layer_norm(x, t[f"{name}.weight"], t[f"{name}.bias"], eps)


def to_map(tokens, grid):
    return tokens.transpose(0, 2, 1).reshape(tokens.shape[0], -1, *grid)


def from_map(x):
    return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)


def attention(x, t, prefix, heads, grid, sr, linear_sra):
    b, n, c = x.shape
    q = linear(x, t, f"{prefix}.q").reshape(b, n, heads, -1).transpose(0, 2, 1, 3)
    source = x
    if linear_sra or sr > 1:
        reduced = to_map(x, grid)
        if linear_sra:
            pooled = pvt_numpy.adaptive_average_pool(reduced.transpose(0, 2, 3, 1), 7).transpose(0, 3, 1, 2)
            reduced = conv_nchw(pooled, t[f"{prefix}.sr.weight"], t[f"{prefix}.sr.bias"])
        else:
            reduced = conv_nchw(reduced, t[f"{prefix}.sr.weight"], t[f"{prefix}.sr.bias"], stride=sr)
        source = norm(from_map(reduced), t, f"{prefix}.norm", 1e-5)
        if linear_sra:
            source = pvt_numpy.gelu(source)
    kv = linear(source, t, f"{prefix}.kv").reshape(b, -1, 2, heads, c // heads).transpose(2, 0, 3, 1, 4)
    scores = pvt_numpy.softmax(q @ kv[0].transpose(0, 1, 3, 2) * (c // heads) ** -0.5)
    return linear((scores @ kv[1]).transpose(0, 2, 1, 3).reshape(b, n, c), t, f"{prefix}.proj")


def reference_pvt(t, images, version=2, linear_sra=False, block="stages.{stage}.blocks.{index}", dwconv="mlp.dwconv"):
    """The PVT forward pass in NumPy from PyTorch tensors (timm v2 names, or the official v1 names)."""
    x = ((images / 255.0 - np.asarray(MEAN)) / np.asarray(STD)).transpose(0, 3, 1, 2)
    stages = len(TINY["depths"])
    for stage, (depth, heads, sr) in enumerate(zip(TINY["depths"], TINY["num_heads"], TINY["sr_ratios"])):
        stride = TINY["patch_size"] if stage == 0 else 2
        embedding = ("patch_embed" if stage == 0 else f"stages.{stage}.downsample") if version == 2 else \
            f"patch_embed{stage + 1}"
        x = conv_nchw(x, t[f"{embedding}.proj.weight"], t[f"{embedding}.proj.bias"], stride,
                      0 if version == 1 else (2 * stride - 1) // 2)
        grid = x.shape[2:]
        x = norm(from_map(x), t, f"{embedding}.norm", 1e-5)
        if version == 1:
            if stage == stages - 1:
                x = np.concatenate([np.repeat(t["cls_token"], len(x), axis=0), x], axis=1)
            x = x + t[f"pos_embed{stage + 1}"]
        for index in range(depth):
            prefix = block.format(stage=stage, index=index, number=stage + 1)
            x = x + attention(norm(x, t, f"{prefix}.norm1", 1e-6), t, f"{prefix}.attn", heads, grid, sr, linear_sra)
            hidden = linear(norm(x, t, f"{prefix}.norm2", 1e-6), t, f"{prefix}.mlp.fc1")
            if version == 2:
                if linear_sra:
                    hidden = np.maximum(hidden, 0.0)
                hidden = from_map(conv_nchw(to_map(hidden, grid), t[f"{prefix}.{dwconv}.weight"],
                                            t[f"{prefix}.{dwconv}.bias"], padding=1, groups=hidden.shape[-1]))
            x = x + linear(pvt_numpy.gelu(hidden), t, f"{prefix}.mlp.fc2")
        if version == 2:
            x = norm(x, t, f"stages.{stage}.norm", 1e-6)
            if stage < stages - 1:
                x = to_map(x, grid)
        elif stage < stages - 1:
            x = to_map(x, grid)
    pooled = norm(x, t, "norm", 1e-6)[:, 0] if version == 1 else x.mean(axis=1)
    return linear(pooled, t, "head")


def tiny_pvt(version=2, linear_sra=False, image_size=IMAGE):
    return build_pvt(image_size=image_size, version=version, linear=linear_sra,
                     pooling="token" if version == 1 else "gap", **TINY)


def save(path, tensors):
    write_safetensors(path, tensors, {name: "BF16" for name, value in tensors.items() if value.ndim == 2})
    return path


def images(rng, size=IMAGE):
    return rng.uniform(0, 255, (2, *size, 3)).astype(np.float32)


@pytest.mark.parametrize("layout,version,linear_sra", [("timm-pvt_v2", 2, False), ("timm-pvt_v2", 2, True),
                                                       ("official-pvt_v2", 2, False), ("official-pvt", 1, False)])
def test_pvt_matches_numpy_forward(tmp_path, seeded, layout, version, linear_sra):
    tensors = pvt_tensors(seeded, version, linear_sra)
    stored = official_v2_tensors(tensors) if layout == "official-pvt_v2" else tensors
    model = tiny_pvt(version, linear_sra)
    report = load_pretrained_weights(model, save(tmp_path / "model.safetensors", stored))
    assert report.layout == layout and not report.new and not report.notes
    assert len(report.loaded) == len(model.weights)
    x = images(seeded)
    expected = reference_pvt(tensors, x.astype(np.float64), version, linear_sra,
                             block="stages.{stage}.blocks.{index}" if version == 2 else "block{number}.{index}")
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-4)


def test_official_v1_position_embeddings_are_resampled_bilinearly_for_another_image_size(tmp_path, seeded):
    tensors = pvt_tensors(seeded, version=1, image=(24, 24))  # 6x6 and 3x3 grids, as official files are square
    model = tiny_pvt(version=1, image_size=(32, 24))  # 8x6 and 4x3 grids
    report = load_pretrained_weights(model, save(tmp_path / "model.safetensors", tensors))
    assert [note.split(":")[0] for note in report.notes] == ["stage_0_position", "stage_1_position"]
    first = np.asarray(model.get_layer("stage_0_position").position_embedding)
    expected = bilinear_half_pixel(tensors["pos_embed1"][0].reshape(6, 6, 8), 8, 6).reshape(1, 48, 8)
    np.testing.assert_allclose(first, expected, atol=1e-5)
    last = np.asarray(model.get_layer("stage_1_position").position_embedding)
    assert last.shape == (1, 13, 16)
    np.testing.assert_array_equal(last[0, 0], tensors["pos_embed2"][0, 0])  # the class token's, kept


def test_missing_and_misshapen_tensors_are_listed_and_nothing_is_set(tmp_path, seeded):
    tensors = pvt_tensors(seeded)
    del tensors["stages.1.blocks.1.mlp.dwconv.weight"]
    tensors["stages.0.blocks.0.attn.sr.weight"] = tensors["stages.0.blocks.0.attn.sr.weight"][:, :, :1, :1]
    tensors["extra.weight"] = np.zeros(3, np.float32)
    model = tiny_pvt()
    before = [np.asarray(weight).copy() for weight in model.weights]
    with pytest.raises(KerasViTError) as error:
        load_pretrained_weights(model, save(tmp_path / "model.safetensors", tensors))
    message = str(error.value)
    assert "stages.0.blocks.0.attn.sr.weight (8, 8, 1, 1) gives (1, 1, 8, 8)" in message
    assert "checkpoint tensors not used (2): extra.weight; stages.0.blocks.0.attn.sr.weight" in message
    assert "model weights not set (2): stage_0_block_0/attention/reduction/kernel; " \
           "stage_1_block_1/mlp/depthwise/kernel" in message
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), value)


def test_a_checkpoint_of_the_other_version_is_refused(tmp_path, seeded):
    path = save(tmp_path / "model.safetensors", pvt_tensors(seeded, version=1))
    with pytest.raises(KerasViTError, match="official-pvt checkpoints are PVT version 1; model 'pvt' is version 2"):
        load_pretrained_weights(tiny_pvt(2), path)


def test_create_pretrained_reads_the_pvt_architecture_from_the_checkpoint(tmp_path, seeded):
    tensors = pvt_tensors(seeded, linear=True)
    path = save(tmp_path / "model.safetensors", tensors)
    tiny = {key: value for key, value in TINY.items() if key not in ("num_classes", "mean", "std")}
    model = create_pretrained(path, preset="pvt_v2_b2_li", image_size=IMAGE, **tiny)
    assert model.output_shape == (None, TINY["num_classes"]) and model.get_layer("stage_1_block_0").linear
    x = images(seeded)
    expected = reference_pvt(tensors, x.astype(np.float64), linear_sra=True)
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-4)
    with pytest.raises(KerasViTError, match=r"depths \(1, 2\) \(checkpoint\) vs \(2, 2\) \(preset\)"):
        create_pretrained(path, preset="pvt_v2_b2_li", image_size=IMAGE, **{**tiny, "depths": (2, 2)})


def test_train_starts_from_a_pvt_checkpoint_file_with_a_new_head(tmp_path, seeded):
    tensors = pvt_tensors(seeded)
    tensors["patch_embed.proj.weight"] = tensors["patch_embed.proj.weight"][:, :1]  # one channel, as the digits
    path = save(tmp_path / "pvt.safetensors", tensors)
    tiny = {key: value for key, value in TINY.items() if key not in ("num_classes", "mean", "std")}
    result = keras_vit.train("pvt_v2_b0", weights=path, epochs=1, batch_size=512, learning_rate=1e-9, augment="none",
                             jit_compile=False, verbose=0, output_dir=tmp_path / "run", **tiny)
    assert result.model.output_shape == (None, 10) and result.model.input_shape == (None, 8, 8, 1)
    np.testing.assert_allclose(result.model.get_layer("stage_1_block_1").norm1.gamma.numpy(),
                               tensors["stages.1.blocks.1.norm1.weight"], atol=1e-6)
