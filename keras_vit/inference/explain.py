"""`explain_image`: a heatmap of what a classifier looked at, over the image, as a PNG."""

import pathlib

import numpy as np
import tensorflow as tf

from keras_vit.errors import KerasViTError
from keras_vit.inference.predict import load_image
from keras_vit.layers import PVTBlock, SwinTransformerBlock, TransformerBlock
from keras_vit.models.saving import load_classifier
from keras_vit.viz.attention_rollout import attention_rollout
from keras_vit.viz.overlay import plot_overlay
from keras_vit.viz.saliency import grad_cam

# Which map explains which architecture, found by the type of its blocks.
_EXPLAINERS = ((TransformerBlock, attention_rollout, "attention rollout"), (SwinTransformerBlock, grad_cam, "Grad-CAM"),
               (PVTBlock, grad_cam, "Grad-CAM"))


def explain_image(model_path, image_path, output_path):
    """Writes a PNG of the image with a heatmap of what the model looked at, titled with its top class.

    A ViT gets attention rollout over all its blocks (`attention_rollout`); a Swin model or a PVT gets Grad-CAM on
    its last stage for the predicted class (`grad_cam`).

    Args:
        model_path: a `.keras` classifier (a SavedModel holds no Keras layers to explain).
        image_path: a JPEG, PNG, BMP or GIF file, decoded and resized as in training.
        output_path: where to write the PNG.

    Returns:
        The heatmap: float32 array of shape (height, width) of the model's input, values in [0, 1].

    Raises:
        KerasViTError: a missing or wrong model or image file, or a model that is not a ViT, Swin or PVT.

    Example:
        >>> heatmap = explain_image("runs/digits/model.keras", "seven.png", "seven_attention.png")
        >>> heatmap.shape
        (8, 8)
    """
    if pathlib.Path(model_path).is_dir():
        raise KerasViTError(f"'{model_path}' is a folder (a SavedModel?); explain needs the model's .keras file.")
    model, class_names = load_classifier(model_path)
    explainer, method = _explainer(model)
    height, width, channels = model.input_shape[1:]
    image = load_image(image_path, (height, width), channels)
    probabilities = tf.nn.softmax(model(image[None], training=False), axis=-1).numpy()[0]
    top = int(np.argmax(probabilities))
    heatmap = explainer(model, image[None])[0]
    title = f"{class_names[top]} ({100 * probabilities[top]:.1f}%): {method}"
    plot_overlay(image, heatmap, output_path, title)
    return heatmap


def _explainer(model):
    for block_type, explainer, method in _EXPLAINERS:
        if any(isinstance(layer, block_type) for layer in model.layers):
            return explainer, method
    raise KerasViTError(
        f"Model '{model.name}' has neither TransformerBlock (ViT) nor SwinTransformerBlock (Swin) nor PVTBlock (PVT) "
        "layers; explain supports those three.")
