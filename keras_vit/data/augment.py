"""Augmentation policies: what `keras_vit.data.make_batches` does to each training image and to each batch.

An `Augmentation` has three stages, all inside the tf.data pipeline (never inside the model):

1. per image, in parallel: optionally the random-resized crop of the original image (`crop`, instead of the
   evaluation view), then `image_ops`, each a function (uint8 image, seed) -> uint8 image with a stateless seed
   drawn from (run seed, epoch, image position), so a seed fixes every batch however many cores run the map;
2. per batch, in order: `layers`, Keras (or keras-cv) image augmentation layers called on {"images", "labels"}
   (float32 pixels in [0, 255]);
3. per batch: one of `mixers` (MixUp, CutMix), drawn with equal probability from the batch's stateless seed.

Images keep the model's shape and [0, 255] range; labels stay one-hot except after mixing, which makes them the
soft labels of the two images mixed.
"""

from keras_vit.data.image_ops import random_flip, random_flips, random_shift, random_shifts
from keras_vit.data.mixing import cutmix, mixup
from keras_vit.data.rand_augment import rand_augment
from keras_vit.data.random_erasing import random_erasing
from keras_vit.errors import KerasViTError

AUGMENTATIONS = ("none", "flip", "shift", "light", "deit")


class Augmentation:
    """The random operations of a training pipeline (see the module docstring for when each runs).

    Args:
        crop: train on a random-resized crop of each original image (8-100% of its area, aspect 3/4-4/3).
        image_ops: per-image functions (uint8 image, int seed of shape [2]) -> uint8 image.
        layers: Keras image augmentation layers applied to each batch.
        mixers: functions (images, one-hot labels, seed) -> (images, soft labels); one of them per batch.
        seed: seed of the draws; None takes `make_batches`' seed.

    Example:
        >>> augment = Augmentation(image_ops=[random_flip], layers=[keras.layers.RandomGrayscale(0.2)])
        >>> batches = make_batches(data.train, data.num_classes, 64, training=True, seed=0, augment=augment)
    """

    def __init__(self, crop=False, image_ops=(), layers=(), mixers=(), seed=None):
        self.crop = crop
        self.image_ops = list(image_ops)
        self.layers = list(layers)
        self.mixers = list(mixers)
        self.seed = seed

    @property
    def batch_ops(self):
        """The image operations as functions of a whole batch (images, one seed), when each has one; else None.

        Pixels held in memory go through these: a small image costs less than the per-image overhead of tf.data.
        """
        if self.crop or any(operation not in _ON_BATCHES for operation in self.image_ops):
            return None
        return [_ON_BATCHES[operation] for operation in self.image_ops]


def make_augmentation(policy, seed=None, extra_layers=()):
    """The `Augmentation` of policy `policy`, with `extra_layers` applied to each batch before mixing.

    Policies (pixels in [0, 255]):
        none: no augmentation.
        flip: random horizontal flip only, for centred objects that translations would push off a small image
            (Fashion-MNIST: measured in README, Performance).
        shift: random translation by whole pixels, up to 1/8 of each side, the uncovered border filled with zeros.
            It keeps digits and letters legible, unlike flips. The default for the digits.
        light: random translation by up to 1/8 of each side with the border mirrored, and random horizontal flip.
        deit: the DeiT / timm recipe: random-resized crop of the original image (8-100% of the area, aspect
            3/4-4/3), random horizontal flip, RandAugment (timm's rand-m9-mstd0.5), random erasing (probability
            0.25, 2-33% of the area, random pixels), then MixUp (alpha 0.8) or CutMix (alpha 1.0), one or the
            other with equal probability per batch. The labels become soft.

    Args:
        policy: one of `AUGMENTATIONS`.
        seed: seed of the random draws; None takes `make_batches`' seed. With a seed, the same pipeline gives the
            same batches.
        extra_layers: Keras or keras-cv image augmentation layers applied to each batch after the policy's
            per-image operations (before its MixUp/CutMix), e.g. `[keras.layers.RandomHue(0.1, value_range=(0, 255))]`.

    Returns:
        An `Augmentation`, for `make_batches(..., augment=...)`.

    Example:
        >>> augment = make_augmentation("deit", seed=0, extra_layers=[keras.layers.RandomGrayscale(0.2)])
        >>> batches = make_batches(data.train, data.num_classes, 64, training=True, seed=0, augment=augment)
    """
    if policy not in AUGMENTATIONS:
        raise KerasViTError(f"Unknown augmentation policy={policy!r}. Known: {', '.join(AUGMENTATIONS)}.")
    return Augmentation(**_POLICIES[policy], layers=extra_layers, seed=seed)


def _reflect_shift(image, seed):
    return random_shift(image, seed, fill="reflect")


def _reflect_shifts(images, seed):
    return random_shifts(images, seed, fill="reflect")


_ON_BATCHES = {random_flip: random_flips, random_shift: random_shifts, _reflect_shift: _reflect_shifts}


_POLICIES = {
    "none": {},
    "flip": {"image_ops": [random_flip]},
    "shift": {"image_ops": [random_shift]},
    "light": {"image_ops": [_reflect_shift, random_flip]},
    "deit": {"crop": True, "image_ops": [random_flip, rand_augment, random_erasing], "mixers": [mixup, cutmix]},
}
