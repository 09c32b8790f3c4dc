"""Augmentation policies, applied to batches inside the tf.data pipeline (never inside the model).

An augmentation maps a batch of (images, one-hot labels) to an augmented batch. Images keep their shape, dtype and
[0, 255] range; labels stay one-hot except after MixUp/CutMix, which turn them into the soft labels of the two
images they mix. Every step is a Keras image-preprocessing layer called on {"images": ..., "labels": ...}, the
input Keras 3 and keras-cv augmentation layers both accept, so any of them can be appended with `extra_layers`.
"""

import itertools

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError

AUGMENTATIONS = ("none", "flip", "shift", "light", "deit")


class Augmentation:
    """Keras augmentation layers applied in turn to a batch of (images, one-hot labels).

    Args:
        layers: image augmentation layers that take and return {"images": ..., "labels": ...}.
        mixers: label-mixing layers (MixUp, CutMix); one of them, drawn with equal probability, is applied to each
            batch after `layers`.
        seed: seed of the draw among `mixers`.

    Example:
        >>> augment = Augmentation([keras.layers.RandomFlip("horizontal", seed=0)])
        >>> images, labels = augment(np.zeros((4, 8, 8, 3), "float32"), np.eye(4, dtype="float32"))
    """

    def __init__(self, layers=(), mixers=(), seed=None):
        self.layers = list(layers)
        self.mixers = list(mixers)
        self._mixer_draws = (tf.random.Generator.from_non_deterministic_state() if seed is None
                             else tf.random.Generator.from_seed(seed))

    def __call__(self, images, labels, training=True):
        if not training:
            return images, labels
        batch = {"images": images, "labels": labels}
        for layer in self.layers:
            batch = layer(batch, training=True)
        if self.mixers:
            choice = self._mixer_draws.uniform((), maxval=len(self.mixers), dtype=tf.int32)
            batch = tf.switch_case(choice, [lambda mixer=mixer: mixer(batch, training=True)
                                            for mixer in self.mixers])
        return batch["images"], batch["labels"]


def make_augmentation(policy, seed=None, extra_layers=()):
    """The `Augmentation` of policy `policy`, followed by `extra_layers`.

    Policies (pixels in [0, 255]):
        none: no augmentation.
        flip: random horizontal flip only, for centred objects that translations would push off a small image
            (Fashion-MNIST: measured in README, Performance).
        shift: random translation by up to 1/8 of each side (1 pixel of an 8x8 digit), the uncovered border
            filled with zeros. It keeps digits and letters legible, unlike flips. The default for the digits.
        light: random crop after reflect padding by 1/8 of each side (a reflect-filled random translation), and
            random horizontal flip.
        deit: the DeiT recipe from Keras core layers: a random-resized-crop-like random zoom (each side zoomed in
            by up to 60%, so 16% to 100% of the area and a changing aspect ratio), random horizontal flip,
            RandAugment (2 ops, strength 0.1), random erasing (a patch of 2% to 33% of the area, probability
            0.25), then MixUp (alpha 0.8) or CutMix (alpha 1.0), one or the other with equal probability per
            batch. The labels become soft.

    Args:
        policy: one of `AUGMENTATIONS`.
        seed: seed of the random draws; with a seed, the same pipeline gives the same batches.
        extra_layers: Keras or keras-cv image augmentation layers applied after the policy's (before its
            MixUp/CutMix), e.g. `[keras.layers.RandomHue(0.1, value_range=(0, 255))]`.

    Returns:
        An `Augmentation`, for `make_batches(..., augment=...)`.

    Example:
        >>> augment = make_augmentation("deit", seed=0, extra_layers=[keras.layers.RandomGrayscale(0.2)])
        >>> batches = make_batches(data.train, data.num_classes, 64, training=True, seed=0, augment=augment)
    """
    if policy not in AUGMENTATIONS:
        raise KerasViTError(f"Unknown augmentation '{policy}'. Known: {', '.join(AUGMENTATIONS)}.")
    seeds = itertools.repeat(None) if seed is None else itertools.count(seed)  # one seed per random layer
    layers, mixers = _POLICIES[policy](seeds)
    return Augmentation(layers + list(extra_layers), mixers, seed=next(seeds))


def _none(seeds):
    return [], []


def _flip(seeds):
    return [keras.layers.RandomFlip("horizontal", seed=next(seeds))], []


def _shift(seeds):
    return [keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", fill_value=0.0, seed=next(seeds))], []


def _light(seeds):
    return [keras.layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=next(seeds)),
            keras.layers.RandomFlip("horizontal", seed=next(seeds))], []


def _deit(seeds):
    layers = [keras.layers.RandomZoom((-0.6, 0.0), (-0.6, 0.0), fill_mode="reflect", seed=next(seeds)),
              keras.layers.RandomFlip("horizontal", seed=next(seeds)),
              keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.1, seed=next(seeds)),
              keras.layers.RandomErasing(factor=(0.25, 0.25), scale=(0.02, 0.33), value_range=(0, 255),
                                         seed=next(seeds))]
    mixers = [keras.layers.MixUp(alpha=0.8, seed=next(seeds)), keras.layers.CutMix(factor=1.0, seed=next(seeds))]
    return layers, mixers


_POLICIES = {"none": _none, "flip": _flip, "shift": _shift, "light": _light, "deit": _deit}
