"""Grad-CAM saliency for Swin and PVT: the last stage's feature map weighted by the gradient of a class logit."""

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError
from keras_vit.layers import PVTBlock, SwinTransformerBlock
from keras_vit.viz.maps import scale_to_image


def grad_cam(model, images, class_index=None):
    """Grad-CAM (Selvaraju et al. 2017) on the output map of a Swin or PVT model's last block.

    Each channel of the last stage's (rows, cols, channels) output is weighted by the mean over the map of the
    gradient of the class logit with respect to it; the weighted sum over channels goes through a ReLU, is scaled
    to [0, 1] (`scale_to_image`) and resized to the image. A PVT block's tokens are laid out on its grid; with PVT
    v1's class token, the map is the last block's input (its output's grid tokens do not reach the logits), the
    class token left out. Needs the TensorFlow backend.

    Args:
        model: a Swin or PVT classifier built by `build_swin` or `build_pvt`, returning logits.
        images: (batch, height, width, channels) pixels in [0, 255].
        class_index: the class to explain; None explains each image's predicted class.

    Returns:
        float32 array of shape (batch, height, width) in [0, 1].

    Example:
        >>> maps = grad_cam(model, images)
        >>> maps.shape
        (2, 224, 224)
    """
    blocks = [layer for layer in model.layers if isinstance(layer, (SwinTransformerBlock, PVTBlock))]
    if not blocks:
        raise KerasViTError(f"Model '{model.name}' has no SwinTransformerBlock or PVTBlock; Grad-CAM here needs a Swin "
                            "model or a PVT.")
    last = blocks[-1]
    # Where a class token classifies (PVT v1), the last block's grid tokens no longer reach the logits: its input,
    # which its attention reads, is the map to weigh.
    class_token = isinstance(last, PVTBlock) and last.output.shape[1] > last.grid_size[0] * last.grid_size[1]
    features_and_logits = keras.Model(model.input, [last.input if class_token else last.output, model.output])
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, logits = features_and_logits(images, training=False)
        if class_index is None:
            classes = tf.argmax(logits, axis=-1)
        else:
            classes = tf.fill([tf.shape(logits)[0]], tf.cast(class_index, tf.int64))
        target = tf.gather(logits, classes, batch_dims=1)
    gradients = tape.gradient(target, features)
    if isinstance(last, PVTBlock):  # (batch, [class token +] rows * cols, channels) -> the grid's map
        rows, cols = last.grid_size
        features, gradients = (tf.reshape(x[:, -rows * cols:], (-1, rows, cols, x.shape[-1]))
                               for x in (features, gradients))
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
    return scale_to_image(cam.numpy(), images.shape[1:3])
