"""Loading a dataset by name or from a folder."""

from keras_vit.data.embedded import load_digits
from keras_vit.data.folder import load_image_folder
from keras_vit.errors import KerasViTError

EMBEDDED_DATASETS = {"digits": load_digits}
DEFAULT_DATASET = "digits"


def load_dataset(name=DEFAULT_DATASET, data_dir=None, image_size=None, channels=3):
    """Loads a labelled image dataset: an embedded one by name, or a folder of class sub-folders.

    Args:
        name: an embedded dataset ("digits"); ignored when `data_dir` is given.
        data_dir: a folder with one sub-folder of images per class.
        image_size: (height, width) folder images are resized to; required with `data_dir`.
        channels: channels folder images are decoded to (1 or 3).

    Returns:
        ImageClassificationData.

    Example:
        >>> load_dataset("digits").class_names
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    """
    if data_dir is not None:
        if image_size is None:
            raise KerasViTError("Loading an image folder needs image_size=(height, width).")
        return load_image_folder(data_dir, image_size, channels)
    if name not in EMBEDDED_DATASETS:
        raise KerasViTError(
            f"Unknown dataset '{name}'. Known: {', '.join(sorted(EMBEDDED_DATASETS))}; "
            f"or train on a folder of images with --data-dir."
        )
    return EMBEDDED_DATASETS[name]()
