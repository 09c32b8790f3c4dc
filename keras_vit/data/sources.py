"""Loading a dataset by name or from a folder: the one entry point training and evaluation call."""

from keras_vit.data.embedded import load_digits
from keras_vit.data.folder import load_image_folder
from keras_vit.data.idx import IDX_DATASETS, load_idx_dataset
from keras_vit.data.shard_source import load_shard_folder
from keras_vit.data.shards import is_shard_folder
from keras_vit.errors import KerasViTError

EMBEDDED_DATASETS = {"digits": load_digits}
DEFAULT_DATASET = "digits"
TFDS_PREFIX = "tfds:"


def known_datasets():
    """The dataset names `load_dataset` accepts, with `tfds:NAME` standing for any TFDS dataset.

    Example:
        >>> known_datasets()
        ['digits', 'fashion_mnist', 'mnist', 'tfds:NAME']
    """
    return sorted([*EMBEDDED_DATASETS, *IDX_DATASETS]) + [f"{TFDS_PREFIX}NAME"]


def load_dataset(name=DEFAULT_DATASET, data_dir=None, image_size=None, channels=3, validation_dir=None,
                 skip_corrupt=False, idx_dir=None, tfds_data_dir=None, download=True, test_dir=None, verbose=0):
    """Loads a labelled image dataset: by name, or a folder of class sub-folders.

    Names: "digits" (embedded, offline, native 8x8), "mnist" and "fashion_mnist" (IDX files, see
    `keras_vit.data.idx`), "tfds:NAME" (any TensorFlow Datasets image-classification dataset). Named datasets keep
    their own channel count; `image_size` resizes IDX and TFDS images (the embedded digits stay 8x8).

    Args:
        name: dataset name; replaced by `data_dir` when that is given (not "mnist" or "fashion_mnist", whose IDX
            files are in `idx_dir`).
        data_dir: a folder with one sub-folder of images per class, or a folder of shards written by
            `keras-vit prepare` (`keras_vit.data.shards`; recognised by its dataset.json).
        image_size: (height, width) images are resized to; required with `data_dir`.
        channels: channels folder images are decoded to (1 or 3).
        validation_dir: a separate folder of validation images (with `data_dir`).
        test_dir: a separate folder of test images (with `data_dir`), e.g. a dataset's official test images.
        skip_corrupt: skip unreadable or corrupt folder images (logged) instead of failing.
        idx_dir: a folder holding the four IDX files of "mnist" / "fashion_mnist".
        tfds_data_dir: the TFDS data folder of "tfds:NAME".
        download: allow downloading MNIST, Fashion-MNIST or TFDS data when absent and online.
        verbose: 0 silent; 1 a progress bar over the header check of an image folder's files
            (`load_image_folder`).

    Returns:
        ImageClassificationData.

    Example:
        >>> load_dataset("digits").class_names
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
        >>> load_dataset("tfds:cifar10", image_size=(32, 32), tfds_data_dir="/data/tfds").sizes["test"]
        10000
    """
    check_sources(name, data_dir, validation_dir, test_dir)
    if data_dir is not None:
        if image_size is None:
            raise KerasViTError("Loading an image folder needs image_size=(height, width).")
        if is_shard_folder(data_dir):
            if validation_dir is not None or test_dir is not None:
                raise KerasViTError(f"validation_dir= and test_dir= go with an image folder; the shard folder "
                                    f"'{data_dir}' holds its own validation and test splits (prepare it with "
                                    f"validation_dir=).")
            return load_shard_folder(data_dir, image_size, channels)
        return load_image_folder(data_dir, image_size, channels, validation_dir=validation_dir,
                                 skip_corrupt=skip_corrupt, test_dir=test_dir, verbose=verbose)
    if name in EMBEDDED_DATASETS:
        return EMBEDDED_DATASETS[name]()
    if name in IDX_DATASETS:
        return load_idx_dataset(name, idx_dir=idx_dir, image_size=image_size, download=download)
    if name.startswith(TFDS_PREFIX) and name[len(TFDS_PREFIX):]:
        from keras_vit.data.tfds_source import load_tfds

        return load_tfds(name[len(TFDS_PREFIX):], data_dir=tfds_data_dir, image_size=image_size,
                         channels=channels, download=download)
    raise KerasViTError(
        f"Unknown dataset '{name}'. Known: {', '.join(known_datasets())}; "
        f"or train on a folder of images with data_dir=FOLDER."
    )


def check_sources(name, data_dir, validation_dir=None, test_dir=None):
    """Raises `KerasViTError` unless the sources name one dataset: `data_dir` is an image (or shard) folder only,
    and the separate validation and test folders go with it.

    Example:
        >>> check_sources("mnist", data_dir="idx/")
        Traceback (most recent call last):
        KerasViTError: data_dir='idx/' is a folder of images or shards, which replaces dataset='mnist'; the IDX...
    """
    if data_dir is not None and name in IDX_DATASETS:
        raise KerasViTError(f"data_dir='{data_dir}' is a folder of images or shards, which replaces dataset='{name}'; "
                            f"the IDX files of '{name}' go in idx_dir=FOLDER.")
    if data_dir is None:
        for argument, folder in (("validation_dir", validation_dir), ("test_dir", test_dir)):
            if folder is not None:
                raise KerasViTError(f"{argument}= goes with data_dir= (an image folder), not with dataset='{name}'.")
