"""The fused attention path (`keras.ops.dot_product_attention`, taken on JAX and torch) against the explicit one.

The suite runs on TensorFlow, where the explicit path is the default: these tests force the fused path there
(`FUSED_ATTENTION_BACKENDS`) and compare; `test_jax_backend.py` checks that JAX takes it and matches TensorFlow.
"""

import keras
import numpy as np
import pytest

from helpers import randomize, tiny_pvt, tiny_swin, tiny_vit
from keras_vit.layers import MultiHeadSelfAttention, WindowAttention, attention
from keras_vit.layers.swin_windows import shifted_window_mask
from keras_vit.models.swin import IMAGENET_MEAN, IMAGENET_STD

RNG = np.random.default_rng(0)


def _outputs_both_ways(monkeypatch, call):
    """`call()` on the explicit path, then on the fused one (as JAX and torch take it)."""
    explicit = keras.ops.convert_to_numpy(call())
    calls = []
    fused_kernel = keras.ops.dot_product_attention
    monkeypatch.setattr(attention, "FUSED_ATTENTION_BACKENDS", (keras.backend.backend(),))
    monkeypatch.setattr(keras.ops, "dot_product_attention", lambda *args, **kwargs: calls.append(1) or fused_kernel(
        *args, **kwargs))
    fused = keras.ops.convert_to_numpy(call())
    assert calls, "the fused path was taken"
    return explicit, fused


def _randomized(layer, shape, seed):
    layer.build(shape)
    return randomize(layer, seed, scale=0.5)


def test_self_attention_is_the_same_on_both_paths(monkeypatch):
    tokens = RNG.normal(size=(2, 17, 24)).astype("float32")
    layer = _randomized(MultiHeadSelfAttention(num_heads=3), tokens.shape, seed=1)
    explicit, fused = _outputs_both_ways(monkeypatch, lambda: layer(tokens))
    np.testing.assert_allclose(fused, explicit, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("shifted", [False, True])
def test_window_attention_is_the_same_on_both_paths_with_bias_and_shift_mask(monkeypatch, version, shifted):
    grid, window, shift = (8, 4), 4, 2
    windows = (grid[0] // window) * (grid[1] // window)
    tokens = RNG.normal(size=(3 * windows, window * window, 16)).astype("float32")
    layer = _randomized(WindowAttention(num_heads=2, window_size=window, version=version), tokens.shape,
                       seed=version)
    mask = shifted_window_mask(grid, (window, window), (shift, shift)) if shifted else None
    explicit, fused = _outputs_both_ways(monkeypatch, lambda: layer(tokens, attention_mask=mask))
    np.testing.assert_allclose(fused, explicit, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("build", [
    lambda: tiny_vit(mlp_dim=16),
    lambda: tiny_swin(2, image_size=(16, 12), mean=IMAGENET_MEAN, std=IMAGENET_STD),
    lambda: tiny_pvt(2, image_size=(16, 12), embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), mlp_ratios=(2, 2),
                     sr_ratios=(2, 1), mean=IMAGENET_MEAN, std=IMAGENET_STD),
], ids=["vit", "swinv2 with padded, shifted windows", "pvt v2 with a spatial reduction"])
def test_models_give_the_same_logits_on_both_paths(monkeypatch, build):
    keras.utils.set_random_seed(1)
    model = build()
    images = RNG.uniform(0, 255, size=(2, *model.input_shape[1:])).astype("float32")
    explicit, fused = _outputs_both_ways(monkeypatch, lambda: model(images, training=False))
    np.testing.assert_allclose(fused, explicit, atol=1e-5, rtol=1e-5)


def test_probabilities_asked_for_or_dropped_out_keep_the_explicit_path(monkeypatch):
    monkeypatch.setattr(attention, "FUSED_ATTENTION_BACKENDS", (keras.backend.backend(),))
    plain, dropping = MultiHeadSelfAttention(2), MultiHeadSelfAttention(2, attention_dropout_rate=0.1)
    assert attention.takes_fused_path(plain) and attention.takes_fused_path(dropping, training=False)
    assert not attention.takes_fused_path(plain, return_attention_scores=True)
    assert not attention.takes_fused_path(dropping, training=True)
    monkeypatch.setattr(attention, "FUSED_ATTENTION_BACKENDS", ("jax", "torch"))
    assert attention.takes_fused_path(plain) == (keras.backend.backend() in ("jax", "torch"))
