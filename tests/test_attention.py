"""Tests of MultiHeadSelfAttention and TransformerBlock against a NumPy implementation of the math."""

import keras
import numpy as np
import pytest

from helpers import gelu, layer_norm, numbers_in, random_normal, randomize, softmax, to_float64
from keras_vit import KerasViTError
from keras_vit.layers import MultiHeadSelfAttention, TransformerBlock


def attention_reference(x, qkv_kernel, qkv_bias, projection_kernel, projection_bias, num_heads):
    """Fused [q | k | v] projection, heads split contiguously, softmax(Q K^T / sqrt(d)) V, output projection."""
    dim = x.shape[-1]
    head_dim = dim // num_heads
    qkv = x @ qkv_kernel + (0.0 if qkv_bias is None else qkv_bias)
    q, k, v = qkv[..., :dim], qkv[..., dim:2 * dim], qkv[..., 2 * dim:]
    heads, probabilities = [], []
    for h in range(num_heads):
        part = slice(h * head_dim, (h + 1) * head_dim)
        p = softmax(q[..., part] @ np.swapaxes(k[..., part], -1, -2) / np.sqrt(head_dim))
        probabilities.append(p)
        heads.append(p @ v[..., part])
    outputs = np.concatenate(heads, axis=-1) @ projection_kernel + projection_bias
    return outputs, np.stack(probabilities, axis=1)


def layer_attention_reference(attention, x):
    return attention_reference(x, to_float64(attention.qkv.kernel), to_float64(attention.qkv.bias),
                               to_float64(attention.projection.kernel), to_float64(attention.projection.bias),
                               attention.num_heads)


def block_reference(block, x):
    """Pre-norm block: x + LS1(Attn(LN1(x))), then + LS2(MLP(LN2(.))), with exact GELU."""
    eps = block.layer_norm_epsilon
    normed = layer_norm(x, to_float64(block.norm1.gamma), to_float64(block.norm1.beta), eps)
    attended, probabilities = layer_attention_reference(block.attention, normed)
    if block.layer_scale_init is not None:
        attended = attended * to_float64(block.layer_scale1.scale)
    x = x + attended
    normed = layer_norm(x, to_float64(block.norm2.gamma), to_float64(block.norm2.beta), eps)
    hidden = gelu(normed @ to_float64(block.mlp.fc1.kernel) + to_float64(block.mlp.fc1.bias))
    transformed = hidden @ to_float64(block.mlp.fc2.kernel) + to_float64(block.mlp.fc2.bias)
    if block.layer_scale_init is not None:
        transformed = transformed * to_float64(block.layer_scale2.scale)
    return x + transformed, probabilities


def close(actual, expected):
    np.testing.assert_allclose(to_float64(actual), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_attention_matches_numpy(num_heads, qkv_bias):
    x = random_normal((2, 5, 8))
    attention = MultiHeadSelfAttention(num_heads, qkv_bias=qkv_bias)
    attention.build(x.shape)
    randomize(attention, seed=num_heads)
    assert (attention.qkv.bias is not None) == qkv_bias
    assert tuple(attention.qkv.kernel.shape) == (8, 24)
    outputs, probabilities = attention(x, return_attention_scores=True)
    expected_outputs, expected_probabilities = layer_attention_reference(attention, x.astype("float64"))
    assert tuple(probabilities.shape) == (2, num_heads, 5, 5)
    close(outputs, expected_outputs)
    close(probabilities, expected_probabilities)
    close(attention(x), expected_outputs)


def test_attention_probabilities_are_distributions():
    x = random_normal((3, 6, 8), seed=1)
    attention = MultiHeadSelfAttention(2)
    attention.build(x.shape)
    randomize(attention, seed=3, scale=1.0)
    _, probabilities = attention(x, return_attention_scores=True)
    probabilities = to_float64(probabilities)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-6)


def test_attention_rejects_width_not_divisible_by_heads():
    with pytest.raises(KerasViTError) as error:
        MultiHeadSelfAttention(3)(np.zeros((1, 4, 8), "float32"))
    assert {"8", "3"} <= numbers_in(error)


def test_attention_dropout_only_in_training():
    x = random_normal((2, 5, 8), seed=2)
    attention = MultiHeadSelfAttention(2, attention_dropout_rate=0.5, projection_dropout_rate=0.5)
    attention.build(x.shape)
    randomize(attention, seed=4)
    expected, _ = layer_attention_reference(attention, x.astype("float64"))
    close(attention(x, training=False), expected)
    assert not np.allclose(to_float64(attention(x, training=True)), expected, atol=1e-3)


def test_attention_with_unknown_batch_and_token_count():
    inputs = keras.Input((None, 8))
    attention = MultiHeadSelfAttention(2)
    model = keras.Model(inputs, attention(inputs))
    randomize(attention, seed=5)
    for tokens in (3, 7):
        x = random_normal((4, tokens, 8), seed=tokens)
        expected, _ = layer_attention_reference(attention, x.astype("float64"))
        close(model.predict(x, verbose=0), expected)


def test_attention_scores_in_functional_model():
    inputs = keras.Input((5, 8))
    outputs = MultiHeadSelfAttention(2)(inputs, return_attention_scores=True)
    assert isinstance(outputs, (tuple, list)) and len(outputs) == 2
    assert tuple(outputs[0].shape) == (None, 5, 8)
    assert tuple(outputs[1].shape) == (None, 2, 5, 5)


@pytest.mark.parametrize("layer_norm_epsilon", [1e-6, 0.1])
def test_block_attention_matches_numpy(layer_norm_epsilon):
    x = random_normal((2, 5, 8), seed=6)
    block = TransformerBlock(num_heads=2, mlp_dim=16, layer_norm_epsilon=layer_norm_epsilon)
    block.build(x.shape)
    randomize(block, seed=7)
    assert block.norm1.epsilon == layer_norm_epsilon
    normed = layer_norm(x.astype("float64"), to_float64(block.norm1.gamma), to_float64(block.norm1.beta),
                        layer_norm_epsilon)
    expected_attended, expected_probabilities = layer_attention_reference(block.attention, normed)
    attended, probabilities = block.attention(block.norm1(x), return_attention_scores=True)
    close(attended, expected_attended)
    close(probabilities, expected_probabilities)
    _, block_probabilities = block(x, return_attention_scores=True)
    close(block_probabilities, expected_probabilities)


@pytest.mark.parametrize("layer_scale_init", [None, 0.3])
@pytest.mark.parametrize("layer_norm_epsilon", [1e-6, 0.1])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_block_output_matches_numpy(layer_scale_init, layer_norm_epsilon, qkv_bias):
    x = random_normal((2, 5, 8), seed=8)
    block = TransformerBlock(num_heads=2, mlp_dim=16, layer_scale_init=layer_scale_init, qkv_bias=qkv_bias,
                             layer_norm_epsilon=layer_norm_epsilon)
    block.build(x.shape)
    if layer_scale_init is not None:
        np.testing.assert_array_equal(to_float64(block.layer_scale1.scale), np.full(8, layer_scale_init, "float32"))
    randomize(block, seed=9, scale=0.6)
    expected, expected_probabilities = block_reference(block, x.astype("float64"))
    outputs, probabilities = block(x, return_attention_scores=True)
    close(outputs, expected)
    close(probabilities, expected_probabilities)
    close(block(x), expected)


def test_block_with_initial_layer_scale_matches_numpy():
    x = random_normal((2, 5, 8), seed=10)
    block = TransformerBlock(num_heads=4, mlp_dim=12, layer_scale_init=0.05)
    block.build(x.shape)
    expected, _ = block_reference(block, x.astype("float64"))
    close(block(x), expected)


def test_block_weights():
    block = TransformerBlock(num_heads=2, mlp_dim=16, layer_scale_init=0.1, qkv_bias=False)
    block.build((None, 5, 8))
    dim, mlp = 8, 16
    expected = 4 * dim + dim * 3 * dim + dim * dim + dim + dim * mlp + mlp + mlp * dim + dim + 2 * dim
    assert block.count_params() == expected


def test_block_dropout_and_drop_path_only_in_training():
    x = random_normal((8, 5, 8), seed=11)
    block = TransformerBlock(num_heads=2, mlp_dim=16, dropout_rate=0.3, attention_dropout_rate=0.3,
                             drop_path_rate=0.5)
    block.build(x.shape)
    randomize(block, seed=12)
    expected, _ = block_reference(block, x.astype("float64"))
    close(block(x), expected)
    close(block(x, training=False), expected)
    assert not np.allclose(to_float64(block(x, training=True)), expected, atol=1e-3)


def test_block_in_functional_model_with_unknown_batch():
    inputs = keras.Input((5, 8))
    block = TransformerBlock(num_heads=2, mlp_dim=16)
    model = keras.Model(inputs, block(inputs))
    assert model.output_shape == (None, 5, 8)
    randomize(block, seed=13)
    x = random_normal((3, 5, 8), seed=14)
    close(model.predict(x, verbose=0), block_reference(block, x.astype("float64"))[0])


def test_block_attention_scores_in_functional_model():
    inputs = keras.Input((5, 8))
    outputs = TransformerBlock(num_heads=2, mlp_dim=16)(inputs, return_attention_scores=True)
    assert isinstance(outputs, (tuple, list)) and len(outputs) == 2
    assert tuple(outputs[0].shape) == (None, 5, 8)
    assert tuple(outputs[1].shape) == (None, 2, 5, 5)
