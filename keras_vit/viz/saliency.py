"""Grad-CAM saliency for Swin: the last stage's feature map weighted by the gradient of a class logit."""

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError
from keras_vit.layers import SwinTransformerBlock
from keras_vit.viz.maps import scale_to_image


def grad_cam(model, images, class_index=None):
    """Grad-CAM (Selvaraju et al. 2017) on the output map of a Swin model's last block.

    Each channel of the last stage's (rows, cols, channels) output is weighted by the mean over the map of the
    gradient of the class logit with respect to it; the weighted sum over channels goes through a ReLU, is scaled
    to [0, 1] (`scale_to_image`) and resized to the image. Needs the TensorFlow backend.

    Args:
        model: a Swin classifier built by `build_swin`, returning logits.
        images: (batch, height, width, channels) pixels in [0, 255].
        class_index: the class to explain; None explains each image's predicted class.

    Returns:
        float32 array of shape (batch, height, width) in [0, 1].

    Example:
        >>> maps = grad_cam(model, images)
        >>> maps.shape
        (2, 224, 224)
    """
    blocks = [layer for layer in model.layers if isinstance(layer, SwinTransformerBlock)]
    if not blocks:
        raise KerasViTError(f"Model '{model.name}' has no SwinTransformerBlock; Grad-CAM here needs a Swin model.")
    features_and_logits = keras.Model(model.input, [blocks[-1].output, model.output])
    images = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        features, logits = features_and_logits(images, training=False)
        if class_index is None:
            classes = tf.argmax(logits, axis=-1)
        else:
            classes = tf.fill([tf.shape(logits)[0]], tf.cast(class_index, tf.int64))
        target = tf.gather(logits, classes, batch_dims=1)
    gradients = tape.gradient(target, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
    return scale_to_image(cam.numpy(), images.shape[1:3])
