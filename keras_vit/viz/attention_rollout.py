"""Attention rollout (Abnar & Zuidema 2020): which patches a ViT's output draws on, through all its blocks."""

import keras
import numpy as np

from keras_vit.errors import KerasViTError
from keras_vit.layers import PatchEncoder, TransformerBlock
from keras_vit.viz.maps import scale_to_image


def attention_model(model):
    """A functional model from `model`'s images to the attention probabilities of each of its TransformerBlocks.

    The embedding layers are `model`'s own; each block is a copy of `model`'s (same class, config and weights) called
    with `return_attention_scores=True`. A copy, because a Keras 3 functional model takes a layer's number of
    outputs from its first call (keras-team/keras#23238), so the loaded blocks cannot be called again for two.

    Args:
        model: a ViT built by `build_vit` (or loaded from a `.keras` file).

    Returns:
        A `keras.Model` returning a list with one (batch, heads, tokens, tokens) tensor per block.

    Example:
        >>> attentions = attention_model(model)(images)
        >>> len(attentions), attentions[0].shape
        (4, TensorShape([1, 4, 17, 17]))
    """
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
    if not blocks:
        raise KerasViTError(f"Model '{model.name}' has no TransformerBlock; attention rollout needs a ViT.")
    x, attentions = blocks[0].input, []
    for block in blocks:
        copy = type(block).from_config(block.get_config())
        x, probabilities = copy(x, return_attention_scores=True)
        copy.set_weights(block.get_weights())
        attentions.append(probabilities)
    return keras.Model(model.input, attentions, name=f"{model.name}_attentions")


def rollout(attentions, class_token):
    """Rolls attention out through the blocks: per block, heads averaged, identity added, rows renormalised, and
    the blocks multiplied (last block on the left).

    Args:
        attentions: per block, a (batch, heads, tokens, tokens) array of attention probabilities, first block first.
        class_token: True if token 0 is a class token; the result is then its row over the patch tokens, otherwise
            the mean of all rows.

    Returns:
        float array of shape (batch, patches): how much each patch contributes to the output.

    Example:
        >>> rollout([np.full((1, 2, 5, 5), 0.2)], class_token=True).shape
        (1, 4)
    """
    result = None
    for attention in attentions:
        attention = np.mean(attention, axis=1, dtype="float64")
        attention = attention + np.eye(attention.shape[-1])
        attention = attention / attention.sum(axis=-1, keepdims=True)
        result = attention if result is None else attention @ result
    if class_token:
        return result[:, 0, 1:]
    return result.mean(axis=1)


def attention_rollout(model, images):
    """Attention rollout maps of a ViT: on the patch grid, scaled to [0, 1] and resized to the images' size
    (`scale_to_image`).

    Args:
        model: a ViT built by `build_vit` (class token or average pooling).
        images: (batch, height, width, channels) pixels in [0, 255].

    Returns:
        float32 array of shape (batch, height, width) in [0, 1].

    Example:
        >>> maps = attention_rollout(model, images)
        >>> maps.shape
        (2, 224, 224)
    """
    encoder = next((layer for layer in model.layers if isinstance(layer, PatchEncoder)), None)
    if encoder is None:
        raise KerasViTError(f"Model '{model.name}' has no PatchEncoder; attention rollout needs a ViT.")
    attentions = [np.asarray(a) for a in attention_model(model)(images, training=False)]
    grid = rollout(attentions, encoder.use_class_token).reshape(-1, *encoder.grid_size)
    return scale_to_image(grid, np.shape(images)[1:3])
