"""Import of Swin V2 checkpoints in the timm (current and official/older) and transformers layouts, checked against a
NumPy forward pass of Swin V2 written here from the paper (post-norm, scaled cosine attention, log-spaced
continuous position bias)."""

import numpy as np
import pytest

from keras_vit import KerasViTError, build_swin, create_model
from keras_vit.weights import create_pretrained, load_pretrained_weights, write_safetensors
from keras_vit.weights.pretrained import infer_preset
from test_weights_swin import (CLASSES, DEPTHS, DIM, HEADS, IMAGE, MEAN, PATCH, STD, WINDOW, TorchTensors,
                               block_window, old_timm_swin_tensors, partition, reference_swin, relative_index, reverse,
                               shift_mask, timm_swin_tensors, tiny_swin, transformers_swin_tensors)
from test_weights_pretrained import fake_hub
from test_weights_vit import layer_norm, linear, mlp, softmax

CPB_HIDDEN = 512


def timm_swinv2_tensors(rng):
    """Random tensors named and shaped as timm's current SwinTransformerV2 state dict (merging at stage starts,
    no buffers). Some logit scales of the unshifted blocks lie above log(100), where Swin V2 clamps them; those of
    the shifted blocks stay below log(20), where the reference's additive -100 mask excludes a pair as fully as
    ours does (at the clamp it may not: see `keras_vit.weights.swin_layouts`)."""
    made = TorchTensors(rng)
    made.patch_embedding()
    for stage, (depth, heads) in enumerate(zip(DEPTHS, HEADS)):
        dim = DIM * 2 ** stage
        if stage:
            made.layer(f"layers.{stage}.downsample.reduction", dim, 2 * dim, bias=False)
            made.norm(f"layers.{stage}.downsample.norm", dim)  # after the reduction: the merged width
        for index in range(depth):
            block = f"layers.{stage}.blocks.{index}"
            made.norm(f"{block}.norm1", dim)
            made.layer(f"{block}.attn.qkv", 3 * dim, dim, bias=False)
            made.tensors[f"{block}.attn.q_bias"], made.tensors[f"{block}.attn.v_bias"] = made.normal(2, dim)
            largest = 20.0 if index % 2 else 200.0
            made.tensors[f"{block}.attn.logit_scale"] = np.log(rng.uniform(2.0, largest, (heads, 1, 1)))
            made.layer(f"{block}.attn.cpb_mlp.0", CPB_HIDDEN, 2)
            made.tensors[f"{block}.attn.cpb_mlp.0.weight"] *= 5.0
            made.layer(f"{block}.attn.cpb_mlp.2", heads, CPB_HIDDEN, bias=False)
            made.tensors[f"{block}.attn.cpb_mlp.2.weight"] *= 0.5
            made.block_end(block, dim)
    made.classifier()
    return made.exact()


def coordinates_table(window, pretrained=None):
    """The paper's log-spaced relative coordinates, (2 w - 1, 2 w - 1, 2): offsets scaled to [-8, 8] by the
    (pre-training) window, then sign(t) log2(1 + |t|) / log2(8)."""
    offsets = np.arange(-(window - 1), window) / ((pretrained or window) - 1) * 8.0
    table = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1)
    return np.sign(table) * np.log2(np.abs(table) + 1.0) / 3.0


def cosine_window_attention(windows, t, prefix, heads, window, mask, pretrained):
    n, c = window * window, windows.shape[-1]
    bias = np.concatenate([t[f"{prefix}.q_bias"], np.zeros(c, np.float32), t[f"{prefix}.v_bias"]])
    qkv = (windows @ t[f"{prefix}.qkv.weight"].T + bias).reshape(-1, n, 3, heads, c // heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv
    q, k = (part / np.maximum(np.linalg.norm(part, axis=-1, keepdims=True), 1e-12) for part in (q, k))
    logits = q @ k.transpose(0, 1, 3, 2) * np.exp(np.minimum(t[f"{prefix}.logit_scale"], np.log(100.0)))
    hidden = np.maximum(coordinates_table(window, pretrained) @ t[f"{prefix}.cpb_mlp.0.weight"].T
                        + t[f"{prefix}.cpb_mlp.0.bias"], 0.0)
    table = (hidden @ t[f"{prefix}.cpb_mlp.2.weight"].T).reshape(-1, heads)
    position_bias = table[relative_index(window).reshape(-1)].reshape(n, n, heads).transpose(2, 0, 1)
    logits = logits + 16.0 / (1.0 + np.exp(-position_bias))
    if mask is not None:
        logits = (logits.reshape(-1, len(mask), heads, n, n) + mask[None, :, None]).reshape(-1, heads, n, n)
    attended = (softmax(logits) @ v).transpose(0, 2, 1, 3).reshape(-1, n, c)
    return linear(attended, t, f"{prefix}.proj")


def swinv2_block(x, t, prefix, heads, window, shift, pretrained, eps=1e-5):
    """Post-norm: x + LN(attention(x)), then x + LN(MLP(x))."""
    b, h, w, _ = x.shape
    y = np.roll(x, (-shift, -shift), axis=(1, 2)) if shift else x
    mask = shift_mask(h, w, window, shift) if shift else None
    y = reverse(cosine_window_attention(partition(y, window), t, f"{prefix}.attn", heads, window, mask, pretrained),
                window, b, h, w)
    if shift:
        y = np.roll(y, (shift, shift), axis=(1, 2))
    x = x + layer_norm(y, t[f"{prefix}.norm1.weight"], t[f"{prefix}.norm1.bias"], eps)
    y = mlp(x, t, f"{prefix}.mlp")
    return x + layer_norm(y, t[f"{prefix}.norm2.weight"], t[f"{prefix}.norm2.bias"], eps)


def patch_merging_v2(x, t, prefix, eps=1e-5):
    """2x2 neighbours concatenated, projected, then normalised."""
    x = np.concatenate([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
    return layer_norm(x @ t[f"{prefix}.reduction.weight"].T, t[f"{prefix}.norm.weight"], t[f"{prefix}.norm.bias"], eps)


def reference_swinv2(t, images, pretrained_windows=(None, None), eps=1e-5):
    """The Swin V2 forward pass in NumPy, from timm-layout tensors; `pretrained_windows` per stage."""
    def block(x, t, prefix, heads, window, shift, eps):
        pretrained = pretrained_windows[int(prefix.split(".")[1])]
        return swinv2_block(x, t, prefix, heads, window, shift, pretrained, eps)

    return reference_swin(t, images, eps, block=block, merging=patch_merging_v2)


def official_swinv2_tensors(t, pretrained_windows=(None, None)):
    """The official Microsoft files (timm's older layout): merging at the ends of stages, `head`, and the index,
    mask and coordinate buffers (scaled by each stage's pre-training window)."""
    out = old_timm_swin_tensors(t)
    grid = IMAGE // PATCH
    for stage, depth in enumerate(DEPTHS):
        for index in range(depth):
            window, _ = block_window(grid // 2 ** stage, index)
            out[f"layers.{stage}.blocks.{index}.attn.relative_coords_table"] = (
                coordinates_table(window, pretrained_windows[stage])[None].astype(np.float32))
    return out


def transformers_swinv2_tensors(t):
    """The same weights as transformers' Swinv2ForImageClassification names them (a key without bias)."""
    renames = [("attn.q_bias", "attention.self.query.bias"), ("attn.v_bias", "attention.self.value.bias"),
               ("attn.logit_scale", "attention.self.logit_scale"),
               ("attn.cpb_mlp.", "attention.self.continuous_position_bias_mlp.")]
    renamed = {}
    for name, value in t.items():
        for old, new in renames:
            name = name.replace(old, new)
        renamed[name] = value
    return {"swinv2." + name.removeprefix("swin.") if name.startswith("swin.") else name: value
            for name, value in transformers_swin_tensors(renamed).items()}


def tiny_swinv2(**overrides):
    return create_model("swinv2_nano_patch2_window4_32", image_size=IMAGE, embed_dim=DIM, depths=DEPTHS,
                        num_heads=HEADS, window_size=WINDOW, num_classes=CLASSES, mean=MEAN, std=STD, **overrides)


def save(path, tensors):
    write_safetensors(path, tensors, {name: "BF16" for name, value in tensors.items()
                                      if value.ndim == 2 and value.dtype == np.float32})
    return path


def images(rng):
    return rng.uniform(0, 255, (2, IMAGE, IMAGE, 3)).astype(np.float32)


@pytest.mark.parametrize("layout", ["timm-swinv2", "timm-swinv2-old", "transformers-swinv2"])
def test_swinv2_matches_numpy_forward(tmp_path, seeded, layout):
    tensors = timm_swinv2_tensors(seeded)
    stored = {"timm-swinv2": dict, "timm-swinv2-old": official_swinv2_tensors,
              "transformers-swinv2": transformers_swinv2_tensors}[layout](tensors)
    if layout == "transformers-swinv2":
        assert not any(".key.bias" in name for name in stored)
    model = tiny_swinv2()
    report = load_pretrained_weights(model, save(tmp_path / "model.safetensors", stored))
    assert report.layout == layout and not report.new and len(report.loaded) == len(model.weights)
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swinv2(tensors, x), atol=2e-4)


def test_coordinates_scaled_by_a_pretraining_window_are_described_checked_and_used(tmp_path, seeded):
    tensors = timm_swinv2_tensors(seeded)
    path = save(tmp_path / "model.safetensors", official_swinv2_tensors(tensors, pretrained_windows=(6, 3)))
    with pytest.raises(KerasViTError, match=r"layers\.0\.blocks\.0\.attn\.relative_coords_table is scaled for a "
                                            r"pre-training window of 6; stage_0_block_0 scales .* by 4: .*"
                                            r"pretrained_window_sizes \(6 for stage 0\)"):
        load_pretrained_weights(tiny_swinv2(), path)
    model = tiny_swinv2(pretrained_window_sizes=(6, 3))
    load_pretrained_weights(model, path)
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swinv2(tensors, x, (6, 3)), atol=2e-4)
    tiny = dict(image_size=IMAGE, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS, num_classes=CLASSES)
    with pytest.raises(KerasViTError, match=r"pretrained_window_sizes \(6, 3\) \(checkpoint\) vs None \(preset\)"):
        create_pretrained(path, preset="swinv2_nano_patch2_window4_32", **tiny)
    rebuilt = create_pretrained(path, preset="swinv2_nano_patch2_window4_32", pretrained_window_sizes=(6, 3),
                                mean=MEAN, std=STD, **tiny)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_a_missing_an_unused_and_a_misshapen_tensor_are_named_and_nothing_is_set(tmp_path, seeded):
    stored = timm_swinv2_tensors(seeded)
    del stored["layers.1.blocks.0.attn.cpb_mlp.2.weight"]
    stored["layers.0.blocks.0.attn.k_proj.weight"] = stored["layers.0.blocks.0.attn.proj.weight"]
    stored["layers.0.blocks.1.attn.logit_scale"] = np.zeros((HEADS[0], 2, 1), np.float32)
    model = tiny_swinv2()
    before = [weight.numpy().copy() for weight in model.weights]
    with pytest.raises(KerasViTError) as error:
        load_pretrained_weights(model, save(tmp_path / "model.safetensors", stored))
    message = str(error.value)
    assert "misshapen (1): layers.0.blocks.1.attn.logit_scale (2, 2, 1)" in message
    assert "checkpoint tensors not used (2): layers.0.blocks.0.attn.k_proj.weight" in message
    assert "layers.0.blocks.1.attn.logit_scale" in message.split("not used")[1]
    assert "model weights not set (2): stage_0_block_1/attention/logit_scale; " \
           "stage_1_block_0/attention/cpb_fc2/kernel" in message
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value, err_msg=weight.path)


def test_a_nonzero_key_bias_and_another_window_are_refused(tmp_path, seeded):
    stored = official_swinv2_tensors(timm_swinv2_tensors(seeded))
    with_key_bias = {**stored, "layers.1.blocks.1.attn.k_bias": np.full(2 * DIM, 0.5, np.float32)}
    with pytest.raises(KerasViTError, match=r"layers\.1\.blocks\.1\.attn\.k_bias is not zero"):
        load_pretrained_weights(tiny_swinv2(), save(tmp_path / "key.safetensors", with_key_bias))
    zero_key_bias = {**stored, "layers.1.blocks.1.attn.k_bias": np.zeros(2 * DIM, np.float32)}
    load_pretrained_weights(tiny_swinv2(), save(tmp_path / "zero.safetensors", zero_key_bias))
    stored["layers.1.blocks.0.attn.relative_coords_table"] = coordinates_table(3)[None].astype(np.float32)
    with pytest.raises(KerasViTError, match=r"layers\.1\.blocks\.0\.attn\.relative_coords_table of shape "
                                            r"\(1, 5, 5, 2\) does not match .* 4x4 window in stage_1_block_0"):
        load_pretrained_weights(tiny_swinv2(), save(tmp_path / "window.safetensors", stored))


def test_a_version_mismatch_is_refused_both_ways(tmp_path, seeded):
    v2 = save(tmp_path / "v2.safetensors", timm_swinv2_tensors(seeded))
    v1 = save(tmp_path / "v1.safetensors", timm_swin_tensors(seeded))
    with pytest.raises(KerasViTError, match=r"timm-swinv2 checkpoints are Swin V2; model "
                                            r"'swin_nano_patch2_window4_32' is Swin V1: build it with version=2"):
        load_pretrained_weights(tiny_swin(), v2)
    with pytest.raises(KerasViTError, match=r"timm-swin checkpoints are Swin V1; model 'swinv2_nano_patch2_window4_32' "
                                            r"is Swin V2: build it with version=1"):
        load_pretrained_weights(tiny_swinv2(), v1)


def test_create_pretrained_reads_the_swinv2_architecture_and_window(tmp_path, seeded):
    tensors = timm_swinv2_tensors(seeded)
    path = save(tmp_path / "model.safetensors", official_swinv2_tensors(tensors))
    tiny = dict(image_size=IMAGE, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS, mean=MEAN, std=STD)
    model = create_pretrained(path, preset="swinv2_nano_patch2_window4_32", **tiny)
    assert model.output_shape == (None, CLASSES) and model.get_layer("stage_0_block_0").version == 2
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swinv2(tensors, x), atol=2e-4)
    with pytest.raises(KerasViTError, match=r"window_size 4 \(checkpoint\) vs 2 \(preset\)"):
        create_pretrained(path, preset="swinv2_nano_patch2_window4_32", **{**tiny, "window_size": 2})
    with pytest.raises(KerasViTError, match=r"version 2 \(checkpoint\) vs 1 \(preset\)"):
        create_pretrained(path, preset="swin_nano_patch2_window4_32", **tiny)


def test_a_published_timm_swinv2_name_takes_its_preset_window(tmp_path, seeded, monkeypatch):
    tensors = timm_swinv2_tensors(seeded)  # timm's published files store no buffers: the window is the preset's
    fake_hub(monkeypatch, save(tmp_path / "model.safetensors", tensors))
    tiny = dict(image_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS)
    model = create_pretrained("swinv2_tiny_window8_256.ms_in1k", window_size=WINDOW, **tiny)
    assert model.get_layer("normalize").mean == MEAN and model.output_shape == (None, CLASSES)
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_swinv2(tensors, x), atol=2e-4)


def test_a_file_without_buffers_does_not_guess_the_window():
    described = {"architecture": "swin", "version": 2, "patch_size": 4, "channels": 3, "embed_dim": 96,
                 "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24), "mlp_ratio": 4.0, "qkv_bias": True,
                 "num_classes": 1000}
    with pytest.raises(KerasViTError, match=r"does not record its window size .* swinv2_tiny_window16_256, "
                                            r"swinv2_tiny_window8_256 fit it: pass preset=NAME"):
        infer_preset(described)
    assert infer_preset({**described, "window_size": 8}) == "swinv2_tiny_window8_256"


def test_pretrained_window_sizes_round_trip_and_are_checked():
    model = build_swin(image_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS,
                       window_size=WINDOW, version=2, num_classes=CLASSES, pretrained_window_sizes=(6, 0))
    block = model.get_layer("stage_0_block_0")
    assert block.get_config()["pretrained_window_size"] == [6, 6]
    assert model.get_layer("stage_1_block_0").attention.pretrained_window_size is None
    assert type(block).from_config(block.get_config()).pretrained_window_size == (6, 6)
    with pytest.raises(KerasViTError, match=r"pretrained_window_sizes must hold one window per stage \(2\)"):
        build_swin(image_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS, version=2,
                   pretrained_window_sizes=(6,))
    with pytest.raises(KerasViTError, match=r"pretrained_window_size=6 applies to Swin V2 only"):
        build_swin(image_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depths=DEPTHS, num_heads=HEADS, version=1,
                   pretrained_window_sizes=(6, 6))
