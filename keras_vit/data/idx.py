"""MNIST and Fashion-MNIST from their standard IDX files (or the Keras cache), parsed with numpy.

Where the files are looked for, in order:
1. the folder the caller names (`idx_dir`, `--idx-dir`);
2. `/usr/share/datasets/<name>` where Debian packages install them (`apt-get install dataset-fashion-mnist`
   installs the four `.gz` files in `/usr/share/datasets/fashion-mnist`);
3. the Keras datasets cache (`$KERAS_HOME`, default `~/.keras`): `datasets/fashion-mnist/*.gz`, written by
   `keras.datasets.fashion_mnist`, and `datasets/mnist.npz`, written by `keras.datasets.mnist`.
When none holds them and the machine is online, `keras.datasets` downloads them into its cache.

Splits: the official 10,000 test images are the test split; a stratified 10% of the 60,000 training images
(fixed seed, 6,000 images) is the validation split; the remaining 54,000 train.
"""

import gzip
import os
import pathlib

import numpy as np
from sklearn.model_selection import train_test_split

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.splits import ImageArrays
from keras_vit.errors import KerasViTError
from keras_vit.network import is_online

IDX_DATASETS = {
    "mnist": {"folder": "mnist", "classes": [str(digit) for digit in range(10)]},
    "fashion_mnist": {"folder": "fashion-mnist", "classes": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]},
}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_VALIDATION_FRACTION = 0.1
DEBIAN_DATASETS_DIR = pathlib.Path("/usr/share/datasets")
_SPLIT_SEED = 0
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, ndim):
    """Reads one IDX file (gzip-compressed or not) into a numpy array, checking its header against its size.

    Args:
        path: the file, e.g. `train-images-idx3-ubyte.gz`.
        ndim: dimensions expected: 3 for images, 1 for labels.

    Returns:
        numpy array of the file's shape and type.

    Raises:
        KerasViTError: naming `path` when it is unreadable, truncated, or not an IDX file of `ndim` dimensions.

    Example:
        >>> read_idx("t10k-labels-idx1-ubyte.gz", ndim=1).shape
        (10000,)
    """
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as file:
            raw = file.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as error:
        raise KerasViTError(f"Cannot read IDX file '{path}': {error}.") from None
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES or raw[3] != ndim:
        raise KerasViTError(
            f"'{path}' is not an IDX file of {ndim} dimension(s): its magic number is {raw[:4].hex() or 'missing'} "
            f"(expected 0000{_hex(0x08)}{_hex(ndim)} for unsigned bytes).")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise KerasViTError(f"IDX file '{path}' is truncated: its header needs {header_size} bytes, it has "
                            f"{len(raw)}.")
    shape = tuple(int(size) for size in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header_size + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise KerasViTError(
            f"IDX file '{path}' is {'truncated' if len(raw) < expected else 'corrupt'}: its header announces shape "
            f"{shape} ({expected} bytes in all), the file holds {len(raw)} bytes.")
    return np.frombuffer(raw, dtype, offset=header_size).reshape(shape)


def idx_search_dirs(name, idx_dir=None):
    """The folders searched, in order, for dataset `name`'s IDX files (see the module docstring).

    Example:
        >>> idx_search_dirs("fashion_mnist")[0]
        PosixPath('/usr/share/datasets/fashion-mnist')
    """
    folder = IDX_DATASETS[name]["folder"]
    dirs = [pathlib.Path(idx_dir)] if idx_dir is not None else []
    return dirs + [DEBIAN_DATASETS_DIR / folder, keras_cache_dir() / folder]


def keras_cache_dir():
    """`$KERAS_HOME/datasets` (default `~/.keras/datasets`), where `keras.datasets` caches its downloads."""
    return pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")).expanduser() / "datasets"


def find_idx_files(folder):
    """{role: path} of the four IDX files in `folder` (`.gz` or uncompressed), or None unless all four are there.

    Example:
        >>> find_idx_files("/usr/share/datasets/fashion-mnist")["test_labels"]
        PosixPath('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')
    """
    folder = pathlib.Path(folder)
    found = {}
    for role, stem in IDX_FILES.items():
        candidates = [folder / f"{stem}.gz", folder / stem]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        found[role] = existing[0]
    return found


def load_idx_arrays(name, idx_dir=None, download=True):
    """((train images, train labels), (test images, test labels)) of `name` as uint8 numpy arrays.

    Args:
        name: "mnist" or "fashion_mnist".
        idx_dir: a folder holding the four IDX files; searched first. A named folder without them is an error.
        download: download with `keras.datasets` when no folder holds the files and the machine is online.

    Raises:
        KerasViTError: unknown name, unreadable or corrupt files (named), images and labels that disagree,
            labels outside 0..9, or files found nowhere (the message lists where it looked).

    Example:
        >>> (train_x, train_y), (test_x, test_y) = load_idx_arrays("fashion_mnist")
        >>> train_x.shape, test_x.shape
        ((60000, 28, 28), (10000, 28, 28))
    """
    if name not in IDX_DATASETS:
        raise KerasViTError(f"Unknown IDX dataset '{name}'. Known: {', '.join(IDX_DATASETS)}.")
    if idx_dir is not None and find_idx_files(idx_dir) is None:
        raise KerasViTError(
            f"idx_dir='{idx_dir}' does not hold the four {name} IDX files: expected "
            f"{', '.join(stem + '[.gz]' for stem in IDX_FILES.values())}.")
    for folder in idx_search_dirs(name, idx_dir):
        files = find_idx_files(folder)
        if files is not None:
            arrays = {role: read_idx(path, ndim=3 if role.endswith("images") else 1)
                      for role, path in files.items()}
            return _checked(name, arrays, files)
    npz = keras_cache_dir() / "mnist.npz"
    if name == "mnist" and npz.is_file():
        return _checked(name, _read_npz(npz), {role: npz for role in IDX_FILES})
    if download and is_online():
        import keras

        (train_x, train_y), (test_x, test_y) = getattr(keras.datasets, name).load_data()
        arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
        return _checked(name, arrays, {role: f"keras.datasets.{name}" for role in IDX_FILES})
    looked = [str(folder) for folder in idx_search_dirs(name, idx_dir)]
    if name == "mnist":
        looked.append(str(npz))
    reason = "downloading is off" if not download else "this machine is offline"
    raise KerasViTError(
        f"Dataset '{name}' not found, and {reason}. Looked in: {', '.join(looked)}. Provide it by copying the four "
        f"IDX files ({', '.join(stem + '.gz' for stem in IDX_FILES.values())}) into a folder and passing "
        f"idx_dir=FOLDER"
        + (", or `apt-get install dataset-fashion-mnist`" if name == "fashion_mnist" else "")
        + f", or run `keras.datasets.{name}.load_data()` once on a machine that is online and copy "
          f"{keras_cache_dir()} here.")


def _read_npz(path):
    try:
        with np.load(path) as npz:
            arrays = {"train_images": npz["x_train"], "train_labels": npz["y_train"],
                      "test_images": npz["x_test"], "test_labels": npz["y_test"]}
    except (OSError, KeyError, ValueError) as error:
        raise KerasViTError(f"Cannot read '{path}' (a keras.datasets .npz with x_train, y_train, x_test, "
                            f"y_test): {error}.") from None
    return arrays


def _checked(name, arrays, files):
    num_classes = len(IDX_DATASETS[name]["classes"])
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or len(images) != len(labels):
            raise KerasViTError(
                f"{name} {split} images ({files[split + '_images']}, shape {images.shape}) and labels "
                f"({files[split + '_labels']}, shape {labels.shape}) do not match: expected (N, height, width) "
                f"images and N labels.")
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            bad = labels[(labels < 0) | (labels >= num_classes)]
            raise KerasViTError(
                f"Labels outside the class range 0..{num_classes - 1} in '{files[split + '_labels']}': "
                f"{len(bad)} label(s), e.g. {int(bad[0])}.")
    return ((arrays["train_images"], arrays["train_labels"].astype("int32")),
            (arrays["test_images"], arrays["test_labels"].astype("int32")))


def load_idx_dataset(name, idx_dir=None, image_size=None, download=True):
    """MNIST or Fashion-MNIST as train / validation / test splits of (height, width, 1) uint8 pixels, held in memory.

    Args:
        name: "mnist" or "fashion_mnist".
        idx_dir: a folder holding the four IDX files (searched before the default places).
        image_size: (height, width) to resize to as images are read (`keras_vit.data.views`); None keeps 28x28.
        download: allow a download with `keras.datasets` when the files are found nowhere.

    Returns:
        ImageClassificationData: 54,000 train, 6,000 validation (stratified, fixed) and the official 10,000 test
        images.

    Example:
        >>> data = load_idx_dataset("fashion_mnist")
        >>> data.sizes, data.class_names[0]
        ({'train': 54000, 'validation': 6000, 'test': 10000}, 'T-shirt/top')
    """
    (train_x, train_y), (test_x, test_y) = load_idx_arrays(name, idx_dir, download)
    train_x, validation_x, train_y, validation_y = train_test_split(
        train_x, train_y, test_size=IDX_VALIDATION_FRACTION, stratify=train_y, random_state=_SPLIT_SEED)
    height, width = image_size if image_size is not None else train_x.shape[1:3]
    image_shape = (int(height), int(width), 1)
    splits = {"train": (train_x, train_y), "validation": (validation_x, validation_y), "test": (test_x, test_y)}
    datasets = {split: ImageArrays(images[..., np.newaxis], labels, image_shape, f"{name} {split}")
                for split, (images, labels) in splits.items()}
    return ImageClassificationData(
        train=datasets["train"], validation=datasets["validation"], test=datasets["test"],
        class_names=list(IDX_DATASETS[name]["classes"]), image_shape=image_shape,
        sizes={split: len(arrays[1]) for split, arrays in splits.items()})


def _hex(value):
    return f"{value:02x}"
