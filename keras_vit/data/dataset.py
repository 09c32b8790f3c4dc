"""The container every data source returns: unbatched train / validation / test splits and their classes."""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass
class ImageClassificationData:
    """Splits of one labelled image dataset, each an unbatched `tf.data.Dataset` of (image, label).

    Images are float32 (height, width, channels) pixels in [0, 255]; labels are int32 class indices into
    `class_names`. `validation` may be None when the source has too few images to hold any out.

    Example:
        >>> data = keras_vit.data.load_dataset("digits")
        >>> data.image_shape, data.num_classes, data.sizes["test"]
        ((8, 8, 1), 10, 360)
    """

    train: tf.data.Dataset
    validation: "tf.data.Dataset | None"
    test: tf.data.Dataset
    class_names: list
    image_shape: tuple
    sizes: dict

    @property
    def num_classes(self):
        return len(self.class_names)
