"""Import of ViT checkpoints in the timm, transformers, vit_jax and big_vision layouts, checked against a NumPy
forward pass of the same tensors written here from the published architecture."""

import numpy as np
import pytest

from helpers import gelu, layer_norm, softmax
from keras_vit import KerasViTError, build_vit, create_model
from keras_vit.layers import resample_position_embeddings
from keras_vit.weights import create_pretrained, load_pretrained_weights, write_safetensors
from keras_vit.weights.pretrained import infer_preset

DIM, DEPTH, HEADS, MLP, PATCH, IMAGE, CLASSES = 16, 2, 2, 32, 4, 16, 5


def bf16_exact(array):
    """Values a bfloat16 holds exactly, so a file stored in BF16 reads back the very same numbers."""
    return (np.asarray(array, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)


def timm_vit_tensors(rng, pooling="token", image=IMAGE, classes=CLASSES):
    """Random tensors named and shaped as timm's VisionTransformer state dict."""
    def normal(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    grid = (image // PATCH) ** 2
    tensors = {"patch_embed.proj.weight": normal(DIM, 3, PATCH, PATCH), "patch_embed.proj.bias": normal(DIM),
               "pos_embed": normal(1, grid + (pooling == "token"), DIM)}
    if pooling == "token":
        tensors["cls_token"] = normal(1, 1, DIM)
    for i in range(DEPTH):
        for name, shape in (("norm1", DIM), ("attn.qkv", (3 * DIM, DIM)), ("attn.proj", (DIM, DIM)),
                            ("norm2", DIM), ("mlp.fc1", (MLP, DIM)), ("mlp.fc2", (DIM, MLP))):
            shape = np.atleast_1d(shape)
            tensors[f"blocks.{i}.{name}.weight"] = normal(*shape) + (1.0 if name.startswith("norm") else 0.0)
            tensors[f"blocks.{i}.{name}.bias"] = normal(shape[0])
    norm = "norm" if pooling == "token" else "fc_norm"
    tensors.update({f"{norm}.weight": 1.0 + normal(DIM), f"{norm}.bias": normal(DIM),
                    "head.weight": normal(classes, DIM), "head.bias": normal(classes)})
    return {name: bf16_exact(value) for name, value in tensors.items()}


def linear(x, t, name):
    return x @ t[f"{name}.weight"].T + t[f"{name}.bias"]


def patch_embed(images, weight, bias):
    """A stride-p convolution with a (out, in, p, p) kernel on (batch, height, width, channels) images."""
    b, h, w, c = images.shape
    p = weight.shape[-1]
    x = images.reshape(b, h // p, p, w // p, p, c)
    return np.einsum("bhiwjc,dcij->bhwd", x, weight) + bias


def self_attention(x, t, prefix, heads):
    b, n, d = x.shape
    qkv = linear(x, t, f"{prefix}.qkv").reshape(b, n, 3, heads, d // heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv
    attention = softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads))
    return linear((attention @ v).transpose(0, 2, 1, 3).reshape(b, n, d), t, f"{prefix}.proj")


def mlp(x, t, prefix):
    return linear(gelu(linear(x, t, f"{prefix}.fc1")), t, f"{prefix}.fc2")


def normalize(images, mean, std):
    return (images / 255.0 - np.asarray(mean)) / np.asarray(std)


def reference_vit(t, images, mean=0.5, std=0.5, eps=1e-6):
    """timm's ViT forward pass (pre-norm blocks, class token or average pooling) in NumPy."""
    x = patch_embed(normalize(images, mean, std), t["patch_embed.proj.weight"], t["patch_embed.proj.bias"])
    x = x.reshape(len(images), -1, DIM)
    if "cls_token" in t:
        x = np.concatenate([np.broadcast_to(t["cls_token"], (len(x), 1, DIM)), x], axis=1)
    x = x + t["pos_embed"]
    for i in range(DEPTH):
        x = x + self_attention(layer_norm(x, t[f"blocks.{i}.norm1.weight"], t[f"blocks.{i}.norm1.bias"], eps), t,
                               f"blocks.{i}.attn", HEADS)
        x = x + mlp(layer_norm(x, t[f"blocks.{i}.norm2.weight"], t[f"blocks.{i}.norm2.bias"], eps), t,
                    f"blocks.{i}.mlp")
    if "cls_token" in t:
        pooled = layer_norm(x, t["norm.weight"], t["norm.bias"], eps)[:, 0]
    else:
        pooled = layer_norm(x.mean(1), t["fc_norm.weight"], t["fc_norm.bias"], eps)
    return linear(pooled, t, "head")


def transformers_vit_tensors(t):
    """The same weights as Hugging Face transformers' ViTForImageClassification names them (q, k, v apart)."""
    out = {"vit.embeddings.patch_embeddings.projection.weight": t["patch_embed.proj.weight"],
           "vit.embeddings.patch_embeddings.projection.bias": t["patch_embed.proj.bias"],
           "vit.embeddings.cls_token": t["cls_token"], "vit.embeddings.position_embeddings": t["pos_embed"],
           "vit.layernorm.weight": t["norm.weight"], "vit.layernorm.bias": t["norm.bias"],
           "classifier.weight": t["head.weight"], "classifier.bias": t["head.bias"]}
    for i in range(DEPTH):
        theirs = f"vit.encoder.layer.{i}"
        renames = {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
                   "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
        for ours, name in renames.items():
            for kind in ("weight", "bias"):
                out[f"{theirs}.{name}.{kind}"] = t[f"blocks.{i}.{ours}.{kind}"]
        for kind in ("weight", "bias"):
            for part, name in zip(np.split(t[f"blocks.{i}.attn.qkv.{kind}"], 3), ("query", "key", "value")):
                out[f"{theirs}.attention.attention.{name}.{kind}"] = part
    return out


def flax_vit_tensors(t, big_vision):
    """The same weights as a vit_jax (or big_vision) .npz names and shapes them: HWIO convolution, (in, out)
    kernels, attention kernels split into heads."""
    prefix = "params/" if big_vision else ""
    mha, ln2, mlp_block = ("0", "1", "0") if big_vision else ("1", "2", "3")
    position = "pos_embedding" if big_vision else "Transformer/posembed_input/pos_embedding"
    out = {"embedding/kernel": t["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
           "embedding/bias": t["patch_embed.proj.bias"], "cls": t["cls_token"], position: t["pos_embed"],
           "Transformer/encoder_norm/scale": t["norm.weight"], "Transformer/encoder_norm/bias": t["norm.bias"],
           "head/kernel": t["head.weight"].T, "head/bias": t["head.bias"]}
    head_dim = DIM // HEADS
    for i in range(DEPTH):
        block = f"Transformer/encoderblock_{i}"
        for ours, name in (("norm1", "LayerNorm_0"), ("norm2", f"LayerNorm_{ln2}")):
            out[f"{block}/{name}/scale"] = t[f"blocks.{i}.{ours}.weight"]
            out[f"{block}/{name}/bias"] = t[f"blocks.{i}.{ours}.bias"]
        weights = np.split(t[f"blocks.{i}.attn.qkv.weight"], 3)
        biases = np.split(t[f"blocks.{i}.attn.qkv.bias"], 3)
        for name, weight, bias in zip(("query", "key", "value"), weights, biases):
            out[f"{block}/MultiHeadDotProductAttention_{mha}/{name}/kernel"] = weight.T.reshape(DIM, HEADS, head_dim)
            out[f"{block}/MultiHeadDotProductAttention_{mha}/{name}/bias"] = bias.reshape(HEADS, head_dim)
        out[f"{block}/MultiHeadDotProductAttention_{mha}/out/kernel"] = (
            t[f"blocks.{i}.attn.proj.weight"].T.reshape(HEADS, head_dim, DIM))
        out[f"{block}/MultiHeadDotProductAttention_{mha}/out/bias"] = t[f"blocks.{i}.attn.proj.bias"]
        for r in range(2):
            out[f"{block}/MlpBlock_{mlp_block}/Dense_{r}/kernel"] = t[f"blocks.{i}.mlp.fc{r + 1}.weight"].T
            out[f"{block}/MlpBlock_{mlp_block}/Dense_{r}/bias"] = t[f"blocks.{i}.mlp.fc{r + 1}.bias"]
    return {prefix + name: value for name, value in out.items()}


def tiny_vit(pooling="token", image=IMAGE, classes=CLASSES):
    return build_vit(image_size=image, patch_size=PATCH, num_classes=classes, embed_dim=DIM, depth=DEPTH,
                     num_heads=HEADS, mlp_dim=MLP, pooling=pooling)


def images(rng, count=2, image=IMAGE):
    return rng.uniform(0, 255, (count, image, image, 3)).astype(np.float32)


def save(path, tensors, half="F16"):
    """Writes a checkpoint with a mix of dtypes: matrices in BF16, one vector in `half`, the rest in F32."""
    dtypes = {name: "BF16" for name, value in tensors.items() if value.ndim >= 2}
    dtypes[sorted(name for name, value in tensors.items() if value.ndim == 1)[0]] = half
    write_safetensors(path, tensors, dtypes)
    return path


@pytest.mark.parametrize("pooling", ["token", "gap"])
def test_timm_vit_matches_numpy_forward(tmp_path, seeded, pooling):
    tensors = timm_vit_tensors(seeded, pooling)
    tensors["blocks.0.norm1.bias"] = tensors["blocks.0.norm1.bias"].astype(np.float16).astype(np.float32)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors, {name: "BF16" for name in tensors} | {"blocks.0.norm1.bias": "F16"})
    model = tiny_vit(pooling)
    report = load_pretrained_weights(model, path)
    assert report.layout == "timm-vit" and not report.notes and not report.new
    assert len(report.loaded) == len(model.weights)
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_vit(tensors, x), atol=1e-4)


def test_transformers_vit_matches_numpy_forward_with_its_epsilon(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    path = save(tmp_path / "model.safetensors", transformers_vit_tensors(tensors), half="F64")
    model = tiny_vit()
    assert load_pretrained_weights(model, path).layout == "transformers-vit"
    x = images(seeded)
    # transformers' ViT normalises with epsilon 1e-12, ours 1e-6: the logits agree far inside the tolerance.
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_vit(tensors, x, eps=1e-12), atol=1e-4)


@pytest.mark.parametrize("big_vision", [False, True], ids=["vit_jax", "big_vision"])
def test_npz_vit_matches_numpy_forward(tmp_path, seeded, big_vision):
    tensors = timm_vit_tensors(seeded)
    path = tmp_path / "ViT-tiny.npz"
    np.savez(path, **flax_vit_tensors(tensors, big_vision))
    model = tiny_vit()
    report = load_pretrained_weights(model, path)
    assert report.layout == ("big_vision-vit" if big_vision else "vit_jax-vit")
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_vit(tensors, x), atol=1e-4)


def test_import_to_a_larger_image_resamples_position_embeddings(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    path = save(tmp_path / "model.safetensors", tensors)
    model = tiny_vit(image=24)
    report = load_pretrained_weights(model, path)
    assert report.notes == ["position embeddings: resampled (bicubic) from a 4x4 grid to 6x6"]
    expected = resample_position_embeddings(tensors["pos_embed"], (4, 4), (6, 6), num_prefix_tokens=1)
    encoder = model.get_layer("patch_encoder")
    np.testing.assert_allclose(encoder.position_embedding.numpy(), np.asarray(expected), atol=1e-6)
    np.testing.assert_array_equal(encoder.position_embedding.numpy()[0, 0], tensors["pos_embed"][0, 0])
    assert model.predict(images(seeded, image=24), verbose=0).shape == (2, CLASSES)


def test_head_is_replaced_for_other_classes_and_kept_on_request(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    path = save(tmp_path / "model.safetensors", tensors)
    model = tiny_vit(classes=3)
    initial_head = model.get_layer("head").kernel.numpy()
    report = load_pretrained_weights(model, path)
    assert report.new == ["head/bias", "head/kernel"]
    assert report.notes == [f"head: new, 3 classes (the checkpoint's head has shape ({CLASSES}, {DIM}))"]
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), initial_head)
    np.testing.assert_array_equal(model.get_layer("norm").gamma.numpy(), tensors["norm.weight"])
    with pytest.raises(KerasViTError, match=r"misshapen \(2\): head\.weight .*head/kernel"):
        load_pretrained_weights(tiny_vit(classes=3), path, head="load")
    same_classes = tiny_vit()
    kept = same_classes.get_layer("head").kernel.numpy()
    assert load_pretrained_weights(same_classes, path, head="new").new == ["head/bias", "head/kernel"]
    np.testing.assert_array_equal(same_classes.get_layer("head").kernel.numpy(), kept)


def test_unmatched_and_misshapen_tensors_are_listed_and_nothing_is_set(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    tensors["blocks.0.extra.weight"] = np.zeros(3, np.float32)
    del tensors["norm.bias"]
    tensors["blocks.1.mlp.fc1.weight"] = tensors["blocks.1.mlp.fc1.weight"][:-1]
    path = save(tmp_path / "model.safetensors", tensors)
    model = tiny_vit()
    before = [weight.numpy() for weight in model.weights]
    with pytest.raises(KerasViTError) as error:
        load_pretrained_weights(model, path)
    message = str(error.value)
    assert str(path) in message
    assert ("misshapen (1): blocks.1.mlp.fc1.weight (31, 16) gives (16, 31), block_1/mlp/fc1/kernel is (16, 32)"
            in message)
    assert "checkpoint tensors not used (2): blocks.0.extra.weight; blocks.1.mlp.fc1.weight" in message
    assert "model weights not set (2): block_1/mlp/fc1/kernel; norm/beta" in message
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_a_swin_model_refuses_a_vit_checkpoint(tmp_path, seeded):
    path = save(tmp_path / "model.safetensors", timm_vit_tensors(seeded))
    swin = create_model("swin_nano_patch2_window4_32", image_size=16, depths=(2,), num_heads=(2,), embed_dim=8)
    with pytest.raises(KerasViTError, match="is a ViT .*has no layer block_0"):
        load_pretrained_weights(swin, path)


def test_create_pretrained_checks_the_preset_against_the_checkpoint(tmp_path, seeded):
    tensors = timm_vit_tensors(seeded)
    path = save(tmp_path / "model.safetensors", tensors)
    tiny = dict(embed_dim=DIM, depth=DEPTH, num_heads=HEADS, mlp_dim=MLP, patch_size=PATCH)
    model = create_pretrained(path, preset="vit_tiny_patch16_224", **tiny)
    assert model.input_shape == (None, IMAGE, IMAGE, 3) and model.output_shape == (None, CLASSES)
    x = images(seeded)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference_vit(tensors, x), atol=1e-4)
    assert create_pretrained(path, preset="vit_tiny_patch16_224", num_classes=7, **tiny).output_shape == (None, 7)
    with pytest.raises(KerasViTError, match="does not fit preset vit_small_patch16_224: patch_size 4 .*embed_dim 16"):
        create_pretrained(path, preset="vit_small_patch16_224")
    with pytest.raises(KerasViTError, match="No preset has the architecture of .*embed_dim=16"):
        create_pretrained(path)


def test_infer_preset_prefers_the_checkpoint_image_size():
    described = {"architecture": "vit", "patch_size": 16, "channels": 3, "embed_dim": 192, "depth": 12,
                 "mlp_dim": 768, "pooling": "token", "image_size": 384, "num_classes": 1000}
    assert infer_preset(described) == "vit_tiny_patch16_384"
    assert infer_preset({**described, "image_size": 512}) in ("vit_tiny_patch16_224", "vit_tiny_patch16_384")


def test_against_timm_itself_when_installed(tmp_path, seeded):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    theirs = timm.create_model("vit_tiny_patch16_224", img_size=IMAGE, patch_size=PATCH, embed_dim=DIM, depth=DEPTH,
                               num_heads=HEADS, mlp_ratio=MLP / DIM, num_classes=CLASSES).eval()
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {name: value.numpy() for name, value in theirs.state_dict().items()})
    model = tiny_vit()
    load_pretrained_weights(model, path)
    x = images(seeded)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(normalize(x, 0.5, 0.5).transpose(0, 3, 1, 2)).float()).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4)
