"""MNIST and Fashion-MNIST from IDX files (written here with numpy + gzip), the Keras npz cache, and Debian's copy."""

import gzip
import pathlib

import numpy as np
import pytest

from keras_vit.data import idx, load_dataset, split_images
from keras_vit.errors import KerasViTError

DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(array, ndim):
    header = bytes([0, 0, 0x08, ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _write_idx(folder, train=200, test=50, compress=True, labels_fn=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", train), ("test", test)):
        labels = np.arange(count) % 10 if labels_fn is None else labels_fn(count)
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28)).astype(np.uint8)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    for role, stem in idx.IDX_FILES.items():
        data = _idx_bytes(arrays[role], 3 if role.endswith("images") else 1)
        path = folder / (stem + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
    return arrays


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Debian copy, an empty Keras cache, and no network: only what a test writes is found."""
    monkeypatch.setattr(idx, "DEBIAN_DATASETS_DIR", tmp_path / "debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(idx, "is_online", lambda: False)
    return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_idx_folder_loads_with_stratified_validation_and_official_test(nowhere, compress):
    arrays = _write_idx(nowhere / "fm", compress=compress)
    data = load_dataset("fashion_mnist", idx_dir=nowhere / "fm")
    assert data.sizes == {"train": 180, "validation": 20, "test": 50}
    assert data.image_shape == (28, 28, 1) and data.class_names[0] == "T-shirt/top"
    assert data.class_names[-1] == "Ankle boot" and data.num_classes == 10
    images, labels = zip(*split_images(data.test).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(images)[..., 0], arrays["test_images"])
    np.testing.assert_array_equal(labels, arrays["test_labels"])
    validation_labels = np.array([label for _, label in split_images(data.validation).as_numpy_iterator()])
    assert np.bincount(validation_labels, minlength=10).tolist() == [2] * 10, "validation must be stratified"


def test_idx_dir_names_the_idx_folder_and_image_size_resizes(nowhere):
    _write_idx(nowhere / "m")
    with pytest.raises(KerasViTError, match="the IDX files of 'mnist' go in idx_dir="):
        load_dataset("mnist", data_dir=nowhere / "m", image_size=(32, 32))  # data_dir: an image folder only
    data = load_dataset("mnist", idx_dir=nowhere / "m", image_size=(32, 32))
    image, label = next(iter(split_images(data.train)))
    assert data.image_shape == (32, 32, 1) and image.shape == (32, 32, 1) and image.dtype.name == "uint8"
    assert data.class_names == [str(digit) for digit in range(10)]


def test_debian_and_keras_cache_locations_are_searched(nowhere):
    _write_idx(nowhere / "debian" / "fashion-mnist", train=100, test=30)
    assert load_dataset("fashion_mnist").sizes["test"] == 30
    _write_idx(nowhere / "keras_home" / "datasets" / "fashion-mnist", train=100, test=20)
    assert load_dataset("fashion_mnist").sizes["test"] == 30, "Debian's copy comes before the Keras cache"
    (nowhere / "debian" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    assert load_dataset("fashion_mnist").sizes["test"] == 20


def test_keras_mnist_npz_cache_is_read(nowhere):
    rng = np.random.default_rng(1)
    cache = nowhere / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", x_train=rng.integers(0, 256, (100, 28, 28)).astype(np.uint8),
             y_train=np.arange(100) % 10, x_test=np.zeros((7, 28, 28), np.uint8), y_test=np.arange(7) % 10)
    assert load_dataset("mnist").sizes == {"train": 90, "validation": 10, "test": 7}


def test_absent_and_offline_is_one_error_listing_where_it_looked(nowhere, monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: pytest.fail("no download offline"))
    with pytest.raises(KerasViTError, match="not found, and this machine is offline") as error:
        load_dataset("fashion_mnist")
    message = str(error.value)
    assert str(nowhere / "debian" / "fashion-mnist") in message and "keras_home" in message
    assert "idx_dir=FOLDER" in message and "dataset-fashion-mnist" in message


def test_absent_and_online_downloads_with_keras(nowhere, monkeypatch):
    import keras

    monkeypatch.setattr(idx, "is_online", lambda: True)
    fake = ((np.zeros((100, 28, 28), np.uint8), np.arange(100) % 10), (np.ones((5, 28, 28), np.uint8), np.arange(5)))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: fake)
    assert load_dataset("mnist").sizes == {"train": 90, "validation": 10, "test": 5}


def test_named_folder_without_the_files_is_an_error(nowhere):
    (nowhere / "empty").mkdir()
    with pytest.raises(KerasViTError, match="does not hold the four mnist IDX files"):
        load_dataset("mnist", idx_dir=nowhere / "empty")


def test_truncated_file_is_named(nowhere):
    _write_idx(nowhere / "fm")
    path = nowhere / "fm" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(KerasViTError, match="is truncated") as error:
        load_dataset("fashion_mnist", idx_dir=nowhere / "fm")
    assert str(path) in str(error.value)


def test_broken_gzip_and_bad_magic_are_named(nowhere):
    _write_idx(nowhere / "fm")
    labels = nowhere / "fm" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    with pytest.raises(KerasViTError, match="Cannot read IDX file") as error:
        load_dataset("fashion_mnist", idx_dir=nowhere / "fm")
    assert str(labels) in str(error.value)
    labels.write_bytes(gzip.compress(_idx_bytes(np.zeros((5, 2)), 2)))
    with pytest.raises(KerasViTError, match="not an IDX file of 1 dimension"):
        load_dataset("fashion_mnist", idx_dir=nowhere / "fm")


def test_image_and_label_counts_must_agree(nowhere):
    _write_idx(nowhere / "fm")
    labels = nowhere / "fm" / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(_idx_bytes(np.arange(199) % 10, 1)))
    with pytest.raises(KerasViTError, match="do not match"):
        load_dataset("fashion_mnist", idx_dir=nowhere / "fm")


def test_labels_outside_the_class_range_are_an_error(nowhere):
    _write_idx(nowhere / "fm", labels_fn=lambda count: np.arange(count) % 12)
    with pytest.raises(KerasViTError, match=r"Labels outside the class range 0\.\.9.*train-labels"):
        load_dataset("fashion_mnist", idx_dir=nowhere / "fm")


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist to run")
def test_real_fashion_mnist_from_the_debian_package(monkeypatch):
    monkeypatch.setattr(idx, "is_online", lambda: pytest.fail("the Debian copy needs no network"))
    (train_x, train_y), (test_x, test_y) = idx.load_idx_arrays("fashion_mnist")
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert train_x.dtype == np.uint8 and len(train_y) == 60000 and len(test_y) == 10000
    assert np.bincount(train_y).tolist() == [6000] * 10 and np.bincount(test_y).tolist() == [1000] * 10
    data = load_dataset("fashion_mnist")
    assert data.sizes == {"train": 54000, "validation": 6000, "test": 10000}
    image, label = next(iter(split_images(data.test)))
    assert image.shape == (28, 28, 1) and 0 <= int(label) < 10 and image.dtype.name == "uint8"
