"""Attention rollout against an independent numpy computation, Grad-CAM for Swin, and `explain` PNGs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.inference import load_image
from keras_vit.viz import attention_model, attention_rollout, grad_cam, rollout
from keras_vit_cli.main import main

IMAGE_SIZE = (8, 12)  # a 2x3 patch grid: a transposed reshape would show


def _tiny_vit(pooling):
    return keras_vit.build_vit(image_size=IMAGE_SIZE, patch_size=4, channels=3, num_classes=3, embed_dim=8, depth=3,
                               num_heads=2, mlp_dim=16, pooling=pooling)


def _tiny_swin():
    return keras_vit.build_swin(image_size=16, patch_size=2, num_classes=3, embed_dim=8, depths=(2, 2),
                                num_heads=(2, 2), window_size=2)


def _images(rng, count, size=IMAGE_SIZE):
    return rng.uniform(0, 255, (count, *size, 3)).astype("float32")


def _numpy_attention(block, tokens):
    """A block's attention probabilities in numpy, from its weights: LayerNorm, fused [q | k | v], softmax."""
    norm, qkv = block.norm1, block.attention.qkv
    mean = tokens.mean(-1, keepdims=True)
    normed = (tokens - mean) / np.sqrt(tokens.var(-1, keepdims=True) + norm.epsilon)
    normed = normed * np.asarray(norm.gamma) + np.asarray(norm.beta)
    projected = normed @ np.asarray(qkv.kernel) + np.asarray(qkv.bias)
    batch, count, width = tokens.shape
    heads = block.num_heads
    projected = projected.reshape(batch, count, 3, heads, width // heads)
    query, key = projected[:, :, 0].transpose(0, 2, 1, 3), projected[:, :, 1].transpose(0, 2, 1, 3)
    logits = np.einsum("bhqd,bhkd->bhqk", query, key) / np.sqrt(width // heads)
    logits = np.exp(logits - logits.max(-1, keepdims=True))
    return logits / logits.sum(-1, keepdims=True)


def _numpy_rollout(model, images, class_token):
    """Rollout recomputed sample by sample: blocks run one at a time, attention from the weights in numpy."""
    tokens = np.asarray(keras.Model(model.input, model.get_layer("embedding_dropout").output)(images))
    blocks = [layer for layer in model.layers if isinstance(layer, keras_vit.layers.TransformerBlock)]
    per_block = []
    for block in blocks:
        per_block.append(_numpy_attention(block, tokens.astype("float64")))
        tokens = np.asarray(block(tokens))
    maps = []
    for sample in range(len(images)):
        joint = np.eye(tokens.shape[1])
        for attention in per_block:
            heads_mean = attention[sample].sum(axis=0) / attention.shape[1]
            joint = (0.5 * heads_mean + 0.5 * np.eye(len(heads_mean))) @ joint  # rows of A + I sum to 2
        maps.append(joint[0, 1:] if class_token else joint.sum(axis=0) / len(joint))
    return np.stack(maps).reshape(len(images), IMAGE_SIZE[0] // 4, IMAGE_SIZE[1] // 4)


@pytest.mark.parametrize("pooling", ["token", "gap"])
def test_rollout_matches_an_independent_numpy_computation(pooling, seeded):
    model, images = _tiny_vit(pooling), _images(seeded, 2)
    expected = _numpy_rollout(model, images, class_token=pooling == "token")
    attentions = [np.asarray(a) for a in attention_model(model)(images)]
    assert len(attentions) == 3 and attentions[0].shape == (2, 2, 6 + (pooling == "token"), 6 + (pooling == "token"))
    np.testing.assert_allclose(rollout(attentions, pooling == "token").reshape(expected.shape), expected, atol=1e-5)

    maps = attention_rollout(model, images)
    low, high = expected.min(axis=(1, 2), keepdims=True), expected.max(axis=(1, 2), keepdims=True)
    upsampled = tf.image.resize(((expected - low) / (high - low))[..., None], IMAGE_SIZE).numpy()[..., 0]
    assert maps.shape == (2, *IMAGE_SIZE)
    np.testing.assert_allclose(maps, upsampled, atol=1e-5)


def _favour(model, class_index):
    bias = np.zeros(3, "float32")
    bias[class_index] = 100.0
    model.get_layer("head").bias.assign(bias)


def test_grad_cam_is_a_unit_map_that_follows_the_predicted_class(seeded):
    model, images = _tiny_swin(), _images(seeded, 2, (16, 16))
    maps = {}
    for class_index in (0, 1):
        _favour(model, class_index)  # a bias moves the prediction, not the gradients of any one logit
        maps[class_index] = grad_cam(model, images)
        np.testing.assert_allclose(maps[class_index], grad_cam(model, images, class_index=class_index), atol=1e-6)
    for heatmap in maps.values():
        assert heatmap.shape == (2, 16, 16) and np.isfinite(heatmap).all()
        assert heatmap.min() >= 0.0 and 0.0 < heatmap.max() <= 1.0
    assert np.abs(maps[0] - maps[1]).max() > 1e-2


def test_rollout_and_grad_cam_refuse_the_other_architecture(seeded):
    with pytest.raises(KerasViTError, match="attention rollout needs a ViT"):
        attention_rollout(_tiny_swin(), _images(seeded, 1, (16, 16)))
    with pytest.raises(KerasViTError, match="needs a Swin model"):
        grad_cam(_tiny_vit("token"), _images(seeded, 1))


def _saved(model, tmp_path):
    path = tmp_path / f"{model.name}.keras"
    model.class_names = ["cat", "dog", "bird"]
    model.save(path)
    return path


def _image_file(tmp_path, rng, size=(20, 24)):
    path = tmp_path / "image.png"
    path.write_bytes(tf.io.encode_png(rng.integers(0, 256, (*size, 3), dtype="uint8")).numpy())
    return path


def test_explain_writes_a_png_with_rollout_for_vit_and_grad_cam_for_swin(tmp_path, seeded):
    image = _image_file(tmp_path, seeded)
    vit = _saved(_tiny_vit("token"), tmp_path)
    heatmap = keras_vit.explain_image(vit, image, tmp_path / "vit.png")
    pixels = load_image(image, IMAGE_SIZE, 3)
    np.testing.assert_allclose(heatmap, attention_rollout(_load(vit), pixels[None])[0], atol=1e-6)
    assert (tmp_path / "vit.png").read_bytes().startswith(b"\x89PNG")

    swin = _saved(_tiny_swin(), tmp_path)
    heatmap = keras_vit.explain_image(swin, image, tmp_path / "swin.png")
    np.testing.assert_allclose(heatmap, grad_cam(_load(swin), load_image(image, (16, 16), 3)[None])[0], atol=1e-6)
    assert (tmp_path / "swin.png").read_bytes().startswith(b"\x89PNG")


def _load(path):
    return keras_vit.models.load_classifier(path)[0]


def test_explain_command(tmp_path, seeded, capsys):
    image, model = _image_file(tmp_path, seeded), _saved(_tiny_vit("gap"), tmp_path)
    output = tmp_path / "explained.png"
    assert main(["explain", str(model), str(image), "--output", str(output)]) == 0
    assert capsys.readouterr().out.strip() == f"Saved {output}"
    assert output.read_bytes().startswith(b"\x89PNG")


def test_explain_errors_name_what_is_wrong(tmp_path, seeded, capsys):
    image = _image_file(tmp_path, seeded)
    with pytest.raises(KerasViTError, match="is a folder .* needs the model's .keras file"):
        keras_vit.explain_image(tmp_path, image, tmp_path / "out.png")
    inputs = keras.Input((4, 4, 3))
    plain = tmp_path / "plain.keras"
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs))).save(plain)
    with pytest.raises(KerasViTError, match="neither TransformerBlock .* nor SwinTransformerBlock"):
        keras_vit.explain_image(plain, image, tmp_path / "out.png")
    vit = _saved(_tiny_vit("token"), tmp_path)
    assert main(["explain", str(vit), str(tmp_path / "absent.png"), "--output", "x.png"]) == 2
    assert "absent.png' does not exist" in capsys.readouterr().err
