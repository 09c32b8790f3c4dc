"""The convolutional stem (ViT_C): strides, numerics against TensorFlow's own convolution, training statistics,
errors, and a ViT built on it that saves and loads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from helpers import random_pixels
from keras_vit import KerasViTError
from keras_vit.layers import ConvStem
from keras_vit.layers.conv_stem import conv_stem_strides
from keras_vit.models.saving import load_classifier
from keras_vit.training.layer_decay import LayerDecayAdamW, layer_decay_scales


@pytest.mark.parametrize("channels, patch_size, strides", [
    ((32, 64, 64), 4, (1, 2, 2)), ((8, 16), 4, (2, 2)), ((8,), 1, (1,)), ((8, 8, 8, 8), 16, (2, 2, 2, 2))])
def test_the_last_log2_patch_size_convolutions_have_stride_two(channels, patch_size, strides):
    assert conv_stem_strides(channels, patch_size) == strides
    stem = ConvStem(channels, patch_size)
    assert stem(np.zeros((1, 32, 48, 3), "float32")).shape == (1, 32 // patch_size, 48 // patch_size, channels[-1])


def reference_stem(stem, images):
    """The stem's inference output from tf.nn.conv2d and batch normalization written out."""
    x = tf.constant(images)
    for convolution, norm, stride in zip(stem.convolutions, stem.norms, stem.strides):
        x = tf.nn.conv2d(x, convolution.kernel.numpy(), strides=stride, padding="SAME")
        x = (x - norm.moving_mean.numpy()) / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
        x = tf.nn.relu(x * norm.gamma.numpy() + norm.beta.numpy())
    return x.numpy()


def test_inference_matches_convolution_and_batch_normalization_written_out():
    rng = np.random.default_rng(0)
    stem = ConvStem((4, 6, 5), patch_size=4)
    images = rng.normal(size=(2, 12, 16, 3)).astype("float32")
    stem(images)
    for norm in stem.norms:  # statistics and scales away from their initial values
        for weight in (norm.moving_mean, norm.gamma, norm.beta):
            weight.assign(rng.normal(size=weight.shape))
        norm.moving_variance.assign(rng.uniform(0.5, 2.0, size=norm.moving_variance.shape))
    np.testing.assert_allclose(stem(images, training=False), reference_stem(stem, images), rtol=1e-5, atol=1e-5)


def test_training_normalizes_with_batch_statistics_and_updates_the_moving_ones():
    stem = ConvStem((4,), patch_size=1)
    images = np.random.default_rng(1).normal(3.0, 2.0, size=(8, 6, 6, 2)).astype("float32")
    before = stem(images, training=False)
    stem(images, training=True)
    assert not np.allclose(stem.norms[0].moving_mean.numpy(), 0.0)
    assert not np.allclose(stem(images, training=False), before)


@pytest.mark.parametrize("channels, patch_size, message", [
    ((32, 64), 6, "power of two, got 6"),
    ((32,), 4, r"patch size 4 needs at least 2 positive channel counts"),
    ((32, 0), 4, "at least 2 positive"),
])
def test_bad_stems_are_refused_with_a_clear_error(channels, patch_size, message):
    with pytest.raises(KerasViTError, match=message):
        keras_vit.build_vit(image_size=24, patch_size=patch_size, channels=1, num_classes=3, embed_dim=8, depth=1,
                            num_heads=2, mlp_dim=8, conv_stem=channels)


def test_a_vit_with_a_conv_stem_feeds_one_token_per_patch_and_round_trips(tmp_path):
    model = keras_vit.create_model("vitc_nano_patch4_28")
    assert model.get_layer("stem").output.shape == (None, 7, 7, 64)
    assert model.get_layer("patch_encoder").output.shape == (None, 49, 64)
    images = random_pixels((3, 28, 28, 1), seed=2)
    model.save(tmp_path / "model.keras")
    loaded, _ = load_classifier(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    keras.backend.clear_session()


def test_layer_wise_decay_treats_the_stem_as_part_of_the_embedding():
    model = keras_vit.create_model("vitc_nano_patch4_28")
    optimizer = LayerDecayAdamW(layer_decay_scales(4, 0.5), learning_rate=1e-3)
    stem_scales = {optimizer.learning_rate_scale(weight) for weight in model.trainable_weights
                   if weight.path.startswith("stem/")}
    assert stem_scales == {0.5 ** 5}
    keras.backend.clear_session()
