"""Image folders with one sub-folder per class (the layout of `keras.utils.image_dataset_from_directory`)."""

import pathlib

import numpy as np
import tensorflow as tf

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.decode import decode_image
from keras_vit.errors import KerasViTError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
FOLDER_VALIDATION_FRACTION = 0.1
FOLDER_TEST_FRACTION = 0.1
_SPLIT_SEED = 0


def load_image_folder(data_dir, image_size, channels=3):
    """Reads `data_dir/<class name>/<image>` files and splits each class 80 / 10 / 10 into train / validation / test.

    The split is stratified and fixed (the same files land in the same split on every run). Images are decoded
    (JPEG, PNG, BMP, GIF: first frame) to `channels` channels and resized to `image_size` with bilinear
    interpolation (`keras_vit.data.decode_image`, shared with prediction and serving).

    Args:
        data_dir: the folder holding one sub-folder per class.
        image_size: (height, width) the images are resized to.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        ImageClassificationData whose class names are the sub-folder names, sorted.

    Raises:
        KerasViTError: the folder is missing, is not a folder, has no class sub-folders, or a class folder holds
            no image.

    Example:
        >>> data = load_image_folder("flowers/", image_size=(224, 224))
        >>> data.class_names
        ['daisy', 'rose', 'tulip']
    """
    files_by_class = find_class_files(data_dir)
    splits = {"train": ([], []), "validation": ([], []), "test": ([], [])}
    rng = np.random.default_rng(_SPLIT_SEED)
    for label, files in enumerate(files_by_class.values()):
        files = [str(path) for path in rng.permutation(files)]
        test_count = _held_out_count(len(files), FOLDER_TEST_FRACTION)
        validation_count = _held_out_count(len(files), FOLDER_VALIDATION_FRACTION)
        parts = {"test": files[:test_count], "validation": files[test_count:test_count + validation_count],
                 "train": files[test_count + validation_count:]}
        for split, paths in parts.items():
            splits[split][0].extend(paths)
            splits[split][1].extend([label] * len(paths))
    height, width = image_size

    def decode(path, label):
        return decode_image(tf.io.read_file(path), (height, width), channels), label

    datasets = {
        split: tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), np.asarray(labels, "int32"))).map(
            decode, num_parallel_calls=tf.data.AUTOTUNE)
        for split, (paths, labels) in splits.items()
    }
    if not splits["test"][0]:
        raise KerasViTError(
            f"Data folder '{data_dir}' has too few images to hold out a test split: give each class at least "
            f"3 images.")
    return ImageClassificationData(
        train=datasets["train"], validation=datasets["validation"] if splits["validation"][0] else None,
        test=datasets["test"], class_names=list(files_by_class), image_shape=(height, width, channels),
        sizes={split: len(labels) for split, (_, labels) in splits.items()},
    )


def _held_out_count(class_size, fraction):
    """Images of a class held out for a split: the fraction rounded, but at least one once a class has three."""
    return max(int(round(class_size * fraction)), 1 if class_size >= 3 else 0)


def find_class_files(data_dir):
    """{class name: sorted image paths} of a folder with one sub-folder per class.

    Raises:
        KerasViTError: missing folder, no class sub-folders, or an empty class folder.

    Example:
        >>> find_class_files("flowers/")
        {'daisy': [PosixPath('flowers/daisy/1.jpg'), ...], 'rose': [...]}
    """
    root = pathlib.Path(data_dir)
    if not root.exists():
        raise KerasViTError(f"Data folder '{root}' does not exist.")
    if not root.is_dir():
        raise KerasViTError(f"Data folder '{root}' is not a folder.")
    class_dirs = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not class_dirs:
        raise KerasViTError(
            f"Data folder '{root}' is empty: expected one sub-folder of images per class, e.g. '{root}/cat/1.jpg'."
        )
    files_by_class = {}
    for class_dir in class_dirs:
        files = sorted(path for path in class_dir.rglob("*")
                       if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise KerasViTError(
                f"Class folder '{class_dir}' holds no image ({', '.join(IMAGE_EXTENSIONS)})."
            )
        files_by_class[class_dir.name] = files
    return files_by_class
