"""The container every data source returns: train / validation / test splits and their classes."""

import dataclasses

from keras_vit.data.splits import Split


@dataclasses.dataclass
class ImageClassificationData:
    """Splits of one labelled image dataset, each a `keras_vit.data.splits.Split`: image files, shards or arrays,
    read and decoded only when `keras_vit.data.make_batches` (or `split_images`) streams them.

    Images become uint8 (height, width, channels) pixels of `image_shape`; labels are int32 class indices into
    `class_names`. `validation` may be None when the source has too few images to hold any out.

    Example:
        >>> data = keras_vit.data.load_dataset("digits")
        >>> data.image_shape, data.num_classes, data.sizes["test"]
        ((8, 8, 1), 10, 360)
    """

    train: Split
    validation: "Split | None"
    test: Split
    class_names: list
    image_shape: tuple
    sizes: dict

    @property
    def num_classes(self):
        return len(self.class_names)
