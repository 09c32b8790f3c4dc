"""A brute-force NumPy PVT, written from the reference's definitions (loops, no Keras), for the PVT tests.

Weights are plain dicts of arrays in Keras' layouts: a dense kernel is (inputs, outputs), a convolution kernel
(kh, kw, in, out), a depth-wise kernel (kh, kw, channels, 1).
"""

import math

import numpy as np

from helpers import gelu, layer_norm, softmax  # noqa: F401 (also the reference functions of test_pvt_weights)


def conv2d(x, kernel, bias, stride, padding):
    """(batch, h, w, in) -> (batch, h', w', out): zero padding on every side, no dilation, by loops."""
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    size = kernel.shape[0]
    rows, cols = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
    out = np.zeros((x.shape[0], rows, cols, kernel.shape[-1]))
    for i in range(rows):
        for j in range(cols):
            window = x[:, i * stride:i * stride + size, j * stride:j * stride + size, :]
            out[:, i, j] = np.einsum("bhwc,hwco->bo", window, kernel)
    return out + bias


def depthwise_conv3x3(x, kernel, bias):
    """(batch, h, w, c) 3x3 depth-wise convolution with one zero of padding, by loops."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros_like(x)
    for di in range(3):
        for dj in range(3):
            out += padded[:, di:di + x.shape[1], dj:dj + x.shape[2]] * kernel[di, dj, :, 0]
    return out + bias


def adaptive_average_pool(x, size):
    """PyTorch's AdaptiveAvgPool2d(size) on a (batch, h, w, c) map: bin i spans [floor(i h / s), ceil((i+1) h / s))."""
    height, width = x.shape[1:3]
    out = np.zeros((x.shape[0], size, size, x.shape[-1]))
    for i in range(size):
        for j in range(size):
            top, bottom = math.floor(i * height / size), math.ceil((i + 1) * height / size)
            left, right = math.floor(j * width / size), math.ceil((j + 1) * width / size)
            out[:, i, j] = x[:, top:bottom, left:right].mean(axis=(1, 2))
    return out


def sra(x, grid, weights, num_heads, sr_ratio=1, linear=False, epsilon=1e-5):
    """Spatial-reduction attention: queries from every token, keys and values from the reduced grid."""
    batch, tokens, dim = x.shape
    query = x @ weights["query"]["kernel"] + weights["query"]["bias"]
    source = x
    if linear or sr_ratio > 1:
        grid_map = x.reshape(batch, grid[0], grid[1], dim)
        if linear:
            reduced = conv2d(adaptive_average_pool(grid_map, 7), weights["reduction"]["kernel"],
                             weights["reduction"]["bias"], stride=1, padding=0)
        else:  # stride = kernel, no padding: the rows and columns left over are never covered
            reduced = conv2d(grid_map, weights["reduction"]["kernel"], weights["reduction"]["bias"],
                             stride=sr_ratio, padding=0)
        source = layer_norm(reduced.reshape(batch, -1, dim), weights["norm"]["gamma"], weights["norm"]["beta"],
                            epsilon)
        if linear:
            source = gelu(source)
    key_value = source @ weights["key_value"]["kernel"] + weights["key_value"]["bias"]
    key, value = key_value[..., :dim], key_value[..., dim:]
    head_dim = dim // num_heads
    heads = []
    for head in range(num_heads):
        part = slice(head * head_dim, (head + 1) * head_dim)
        scores = softmax(query[..., part] @ np.swapaxes(key[..., part], 1, 2) * head_dim ** -0.5)
        heads.append(scores @ value[..., part])
    return np.concatenate(heads, -1) @ weights["projection"]["kernel"] + weights["projection"]["bias"]


def mlp(x, grid, weights, depthwise=True, extra_relu=False):
    """fc1 -> [ReLU] -> [3x3 depth-wise conv on the grid] -> GELU -> fc2."""
    hidden = x @ weights["fc1"]["kernel"] + weights["fc1"]["bias"]
    if extra_relu:
        hidden = np.maximum(hidden, 0.0)
    if depthwise:
        batch, tokens, width = hidden.shape
        grid_map = hidden.reshape(batch, grid[0], grid[1], width)
        hidden = depthwise_conv3x3(grid_map, weights["depthwise"]["kernel"], weights["depthwise"]["bias"])
        hidden = hidden.reshape(batch, tokens, width)
    return gelu(hidden) @ weights["fc2"]["kernel"] + weights["fc2"]["bias"]


def block(x, grid, weights, num_heads, sr_ratio, version=2, linear=False, epsilon=1e-6):
    """Pre-norm residuals around SRA and the MLP."""
    attended = sra(layer_norm(x, weights["norm1"]["gamma"], weights["norm1"]["beta"], epsilon), grid,
                   weights["attention"], num_heads, sr_ratio, linear)
    x = x + attended
    normed = layer_norm(x, weights["norm2"]["gamma"], weights["norm2"]["beta"], epsilon)
    return x + mlp(normed, grid, weights["mlp"], depthwise=version == 2, extra_relu=linear)


def layer_weights(layer):
    """A Keras layer's weights as nested dicts keyed by the names in their paths below the layer."""
    nested = {}
    for weight in layer.weights:
        parts = weight.path.split("/")[1:]  # below the layer itself
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = np.asarray(weight.numpy(), "float64")
    return nested


def forward(model, images, version, patch_size, num_heads, sr_ratios, mean, std, linear=False, pooling="gap"):
    """Logits of a `build_pvt` model, recomputed from its weights by the reference's definitions."""
    x = (np.asarray(images, "float64") / 255.0 - np.asarray(mean)) / np.asarray(std)
    last = len(num_heads) - 1
    for stage, (heads, sr_ratio) in enumerate(zip(num_heads, sr_ratios)):
        stride = patch_size if stage == 0 else 2
        kernel = stride if version == 1 else 2 * stride - 1
        embedding = layer_weights(model.get_layer(f"stage_{stage}_embedding"))
        x = conv2d(x, embedding["projection"]["kernel"], embedding["projection"]["bias"], stride,
                   0 if version == 1 else kernel // 2)
        x = layer_norm(x, embedding["norm"]["gamma"], embedding["norm"]["beta"], 1e-5)
        grid = x.shape[1:3]
        x = x.reshape(x.shape[0], -1, x.shape[-1])
        if version == 1:
            position = layer_weights(model.get_layer(f"stage_{stage}_position"))
            if "class_token" in position:
                x = np.concatenate([np.repeat(position["class_token"], x.shape[0], axis=0), x], axis=1)
            x = x + position["position_embedding"]
        index = 0
        while f"stage_{stage}_block_{index}" in {layer.name for layer in model.layers}:
            x = block(x, grid, layer_weights(model.get_layer(f"stage_{stage}_block_{index}")), heads, sr_ratio,
                      version, linear)
            index += 1
        if version == 2 or stage == last:
            norm = layer_weights(model.get_layer(f"stage_{stage}_norm" if version == 2 else "norm"))
            x = layer_norm(x, norm["gamma"], norm["beta"], 1e-6)
        if stage < last:
            x = x.reshape(x.shape[0], *grid, x.shape[-1])
    pooled = x[:, 0] if pooling == "token" else x.mean(axis=1)
    head = layer_weights(model.get_layer("head"))
    return pooled @ head["kernel"] + head["bias"]
