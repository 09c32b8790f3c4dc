"""`tfds:NAME` datasets: tiny TFDS builders prepared in tmp_path, and the offline error (no download ever tried)."""

import io

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from keras_vit.data import load_dataset, split_images, tfds_source
from keras_vit.errors import KerasViTError


def _png(value, mode="RGB"):
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 5, 3), value, np.uint8)).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


class _TinyBuilder(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    SPLITS = {"train": 40, "test": 10}
    CHANNELS = 3

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self, supervised_keys=("image", "label"),
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(6, 5, self.CHANNELS)),
                "label": tfds.features.ClassLabel(names=["circle", "square", "star"])}))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split, count) for split, count in self.SPLITS.items()}

    def _generate_examples(self, split, count):
        for index in range(count):
            label = index % 3
            yield f"{split}{index}", {"image": _png(label * 100, "RGB" if self.CHANNELS == 3 else "L"),
                                       "label": label}


class KerasVitTinyShapes(_TinyBuilder):
    """train + test, no validation split."""


class KerasVitTinyTrainOnly(_TinyBuilder):
    """Only a train split, grayscale."""
    SPLITS = {"train": 50}
    CHANNELS = 1


class KerasVitTinyNoTrain(_TinyBuilder):
    SPLITS = {"test": 10, "extra": 5}


@pytest.fixture
def no_download(monkeypatch):
    """Fails the test on any download attempt."""
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        lambda *args, **kwargs: pytest.fail("a download was attempted"))


def _prepared(builder_class, data_dir):
    builder_class(data_dir=str(data_dir)).download_and_prepare()  # local generator: nothing is downloaded
    return data_dir


def test_tfds_dataset_loads_with_class_names_and_carved_validation(tmp_path, monkeypatch):
    data_dir = _prepared(KerasVitTinyShapes, tmp_path)
    monkeypatch.setattr(tfds_source, "is_online", lambda: pytest.fail("a prepared dataset needs no network"))
    data = load_dataset("tfds:keras_vit_tiny_shapes", tfds_data_dir=data_dir, image_size=(8, 8))
    assert data.class_names == ["circle", "square", "star"]
    assert data.sizes == {"train": 36, "validation": 4, "test": 10}
    assert data.image_shape == (8, 8, 3)
    images, labels = zip(*split_images(data.test).as_numpy_iterator())
    images, labels = np.stack(images), np.array(labels)
    assert images.shape == (10, 8, 8, 3) and images.dtype == np.uint8 and labels.dtype == np.int32
    np.testing.assert_allclose(images[:, 0, 0, 0], labels * 100.0)  # the label's pixel value survives decoding
    assert len(list(split_images(data.validation))) == 4 and len(list(split_images(data.train))) == 36


def test_tfds_without_test_split_carves_test_too_and_keeps_grayscale(tmp_path, caplog):
    data_dir = _prepared(KerasVitTinyTrainOnly, tmp_path)
    with caplog.at_level("WARNING", logger="keras_vit"):
        data = load_dataset("tfds:keras_vit_tiny_train_only", tfds_data_dir=data_dir, image_size=None)
    assert "no test split" in caplog.text
    assert data.sizes == {"train": 40, "validation": 5, "test": 5}
    assert data.image_shape == (6, 5, 1), "channels and size come from the dataset"
    image, _ = next(iter(split_images(data.train)))
    assert image.shape == (6, 5, 1)


def test_tfds_without_train_split_is_a_clear_error(tmp_path):
    data_dir = _prepared(KerasVitTinyNoTrain, tmp_path)
    with pytest.raises(KerasViTError, match="has no 'train' split.*extra, test"):
        load_dataset("tfds:keras_vit_tiny_no_train", tfds_data_dir=data_dir, image_size=(8, 8))


def test_offline_and_not_prepared_is_one_error_without_download(tmp_path, monkeypatch, no_download):
    monkeypatch.setattr(tfds_source, "is_online", lambda: False)
    with pytest.raises(KerasViTError) as error:
        load_dataset("tfds:cifar10", tfds_data_dir=tmp_path / "empty", image_size=(32, 32))
    message = str(error.value)
    assert "'cifar10' is not prepared" in message and str(tmp_path / "empty") in message
    assert "this machine is offline" in message and "tfds build cifar10" in message
    assert "tfds_data_dir=DIR" in message


def test_download_false_never_downloads(tmp_path, monkeypatch, no_download):
    monkeypatch.setattr(tfds_source, "is_online", lambda: True)
    with pytest.raises(KerasViTError, match="downloading is off"):
        tfds_source.load_tfds("keras_vit_tiny_shapes", data_dir=tmp_path, download=False)


def test_unknown_tfds_name_is_a_clear_error(tmp_path):
    with pytest.raises(KerasViTError, match="Unknown TFDS dataset 'tfds:no_such_dataset_xyz'"):
        load_dataset("tfds:no_such_dataset_xyz", tfds_data_dir=tmp_path)


def test_unknown_dataset_lists_every_kind():
    with pytest.raises(KerasViTError, match="Unknown dataset 'cifar'. Known: digits, fashion_mnist, mnist, tfds:NAME"):
        load_dataset("cifar")
    with pytest.raises(KerasViTError, match="Unknown dataset 'tfds:'"):
        load_dataset("tfds:")
