"""Image folders with one sub-folder per class (the layout of `keras.utils.image_dataset_from_directory`)."""

import pathlib

import numpy as np

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.scan import check_images
from keras_vit.data.splits import ImageFiles
from keras_vit.errors import KerasViTError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
FOLDER_VALIDATION_FRACTION = 0.1
FOLDER_TEST_FRACTION = 0.1
_SPLIT_SEED = 0


def load_image_folder(data_dir, image_size, channels=3, validation_dir=None, skip_corrupt=False, test_dir=None,
                      verbose=0):
    """Reads `data_dir/<class name>/<image>` files and splits each class 80 / 10 / 10 into train / validation / test.

    The split is stratified and fixed (the same files land in the same split on every run). With a separate
    `validation_dir` (same class sub-folders), `data_dir` splits 90 / 10 into train / test and every image of
    `validation_dir` validates; with a separate `test_dir` (e.g. a dataset's official test images), `data_dir`
    splits 90 / 10 into train / validation and every image of `test_dir` tests; with both, all of `data_dir`
    trains. Every file's headers are checked once before anything else (one read of each file,
    no decoding), so an unreadable file, one that is not a JPEG, PNG, BMP or GIF, has a broken header, or declares
    more than `keras_vit.data.image_guards.FILE_LIMITS` allow (a decompression bomb), fails here, named by path,
    instead of in the middle of training (`skip_corrupt` skips and logs them instead). Nothing is decoded or kept
    in memory but the file list: the splits are `keras_vit.data.splits.ImageFiles`, which `make_batches` streams.

    Images are decoded (JPEG, PNG, BMP, GIF: first frame) to `channels` channels and brought to `image_size`
    by `keras_vit.data.views` (evaluation: shared with prediction and serving; training: a random crop). Mixed grayscale,
    grayscale+alpha, RGB and RGBA files are therefore reconciled: RGB is converted to gray (channels=1), gray is
    repeated (channels=3), alpha is dropped. Only a target other than 1 or 3 channels cannot be reconciled.

    Args:
        data_dir: the folder holding one sub-folder per class.
        image_size: (height, width) the images are resized to.
        channels: 1 (grayscale) or 3 (RGB).
        validation_dir: optional folder of validation images with the same class sub-folders (or some of them).
        skip_corrupt: skip unreadable or corrupt files (counted in a log line) instead of failing.
        test_dir: optional folder of test images with the same class sub-folders (or some of them).
        verbose: 0 silent; 1 a progress bar over each folder's header check (2: its final count only), e.g.
            "Scanning the images of 'flowers/': 3,670 files, headers only".

    Returns:
        ImageClassificationData whose class names are the sub-folder names, sorted.

    Raises:
        KerasViTError: the folder is missing, is not a folder, has fewer than two class sub-folders, a class folder
            holds no image, files are corrupt (listed), `validation_dir` or `test_dir` has a class `data_dir`
            lacks, or `channels` is not 1 or 3.

    Example:
        >>> data = load_image_folder("flowers/", image_size=(224, 224))
        >>> data.class_names
        ['daisy', 'rose', 'tulip']
        >>> data = load_image_folder("flowers/", image_size=(224, 224), verbose=1)
        Scanning the images of 'flowers/': 3,670 files, headers only
        3670/3670 ━━━━━━━━━━━━━━━━━━━━ 1s 250us/image
    """
    if channels not in (1, 3):
        raise KerasViTError(
            f"Images of '{data_dir}' cannot be reconciled to channels={channels}: folder images (grayscale, RGB, "
            f"with or without alpha) are decoded to 1 (grayscale) or 3 (RGB) channels.")
    files_by_class = _checked_files(data_dir, skip_corrupt, verbose)
    if len(files_by_class) < 2:
        raise KerasViTError(
            f"Data folder '{data_dir}' has a single class ('{next(iter(files_by_class))}'): a classifier needs at "
            f"least two class sub-folders.")
    class_names = list(files_by_class)
    splits = {"train": ([], []), "validation": ([], []), "test": ([], [])}
    rng = np.random.default_rng(_SPLIT_SEED)
    for label, files in enumerate(files_by_class.values()):
        files = [str(path) for path in rng.permutation(files)]
        test_count = 0 if test_dir is not None else _held_out_count(len(files), FOLDER_TEST_FRACTION)
        validation_count = 0 if validation_dir is not None else _held_out_count(
            len(files), FOLDER_VALIDATION_FRACTION)
        parts = {"test": files[:test_count], "validation": files[test_count:test_count + validation_count],
                 "train": files[test_count + validation_count:]}
        for split, paths in parts.items():
            splits[split][0].extend(paths)
            splits[split][1].extend([label] * len(paths))
    for split, folder in (("validation", validation_dir), ("test", test_dir)):
        if folder is not None:
            _add_folder(splits[split], folder, class_names, f"{split.capitalize()} folder", data_dir, skip_corrupt,
                        verbose)
    image_shape = (*image_size, channels)
    folders = {"validation": validation_dir, "test": test_dir}
    datasets = {split: ImageFiles(paths, labels, image_shape, f"{split} images of '{folders.get(split) or data_dir}'",
                                  checked=True)
                for split, (paths, labels) in splits.items()}
    if not splits["test"][0]:
        raise KerasViTError(
            f"Data folder '{data_dir}' has too few images to hold out a test split: give each class at least "
            f"3 images.")
    return ImageClassificationData(
        train=datasets["train"], validation=datasets["validation"] if splits["validation"][0] else None,
        test=datasets["test"], class_names=class_names, image_shape=image_shape,
        sizes={split: len(labels) for split, (_, labels) in splits.items()},
    )


def _add_folder(split, folder, class_names, what, data_dir, skip_corrupt, verbose):
    """Adds every checked image of `folder` (class sub-folders of `data_dir`'s classes) to `split`'s paths and
    labels."""
    files_by_class = _checked_files(folder, skip_corrupt, verbose)
    unknown = sorted(set(files_by_class) - set(class_names))
    if unknown:
        raise KerasViTError(f"{what} '{folder}' has class folder(s) {', '.join(unknown)} that '{data_dir}' lacks "
                            f"(its classes: {', '.join(class_names)}).")
    for class_name, files in files_by_class.items():
        split[0].extend(str(path) for path in files)
        split[1].extend([class_names.index(class_name)] * len(files))


def _checked_files(data_dir, skip_corrupt, verbose):
    """`find_class_files` without corrupt files: an error listing them, or (skip_corrupt) skipped and logged."""
    files_by_class = find_class_files(data_dir)
    all_files = [path for files in files_by_class.values() for path in files]
    good = {str(path) for path in check_images(all_files, skip_corrupt, what=f"the images of '{data_dir}'",
                                               decode=False, verbose=verbose)}
    checked = {name: [path for path in files if str(path) in good] for name, files in files_by_class.items()}
    empty = [name for name, files in checked.items() if not files]
    if empty:
        raise KerasViTError(
            f"Class folder(s) {', '.join(str(pathlib.Path(data_dir) / name) for name in empty)} hold no readable "
            f"image once corrupt files are skipped.")
    return checked


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
