"""Augmentation policies, applied to batches inside the tf.data pipeline (never inside the model)."""

import keras

from keras_vit.errors import KerasViTError

AUGMENTATIONS = ("none", "shift")


def make_augmentation(policy, seed=None):
    """A function (image batch, training) -> image batch for augmentation `policy`, or None for "none".

    Policies:
        none: no augmentation.
        shift: random translation by up to 1/8 of each side (1 pixel of an 8x8 digit), the uncovered border
            filled with zeros. It keeps digits and letters legible, unlike flips.

    Args:
        policy: one of `AUGMENTATIONS`.
        seed: seed of the random draws.

    Example:
        >>> shift = make_augmentation("shift", seed=0)
        >>> shift(np.zeros((4, 8, 8, 1), "float32"), training=True).shape
        TensorShape([4, 8, 8, 1])
    """
    if policy not in AUGMENTATIONS:
        raise KerasViTError(f"Unknown augmentation '{policy}'. Known: {', '.join(AUGMENTATIONS)}.")
    if policy == "none":
        return None
    return keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", fill_value=0.0, seed=seed)
