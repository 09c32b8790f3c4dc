"""Any TensorFlow Datasets image-classification dataset by name (`--dataset tfds:cifar10`).

Splits: the dataset's own `train`, `validation` and `test` splits when it has them. A dataset without a
validation split gives the last 10% of `train` to validation; one without a test split also gives the 10% before
that to test (train keeps the first 80%). Carving uses TFDS split slicing, so it is fixed across runs; it is not
stratified. The splits stream the dataset's own TFRecord files (`keras_vit.data.splits.RecordFiles`: encoded
images, decoded per image as the pipeline reads them, never the whole dataset in memory), and keep the dataset's
channel count (e.g. 1 for `tfds:mnist`, 3 for `tfds:cifar10`).

Nothing is downloaded unless the machine is online: an offline machine without the prepared dataset gets one
error naming the dataset, the data folder and how to provide it.
"""

import logging

import tensorflow as tf

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.splits import RecordFiles
from keras_vit.errors import KerasViTError
from keras_vit.network import is_online

TFDS_VALIDATION_FRACTION = 10  # percent of train carved out when a dataset has no validation split
TFDS_TEST_FRACTION = 10  # percent of train carved out when a dataset has no test split
logger = logging.getLogger("keras_vit")


def load_tfds(name, data_dir=None, image_size=None, channels=None, download=True):
    """Loads TFDS dataset `name` as train / validation / test splits streamed from its TFRecord files.

    Args:
        name: a TFDS name, optionally with config and version (e.g. "cifar10", "oxford_flowers102:2.1.1").
        data_dir: the TFDS data folder (default: TFDS's own, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        image_size: (height, width) images are resized to; None uses the dataset's fixed image size.
        channels: channels of a dataset whose images have no fixed channel count (1 or 3); otherwise ignored.
        download: download and prepare the dataset when it is absent and the machine is online.

    Returns:
        ImageClassificationData with the label feature's class names.

    Raises:
        KerasViTError: unknown dataset, not an (image, label) classification dataset, no train split, not stored
            as TFRecord files, or absent and cannot be downloaded.

    Example:
        >>> data = load_tfds("cifar10", image_size=(32, 32))
        >>> data.class_names[:3], data.sizes
        (['airplane', 'automobile', 'bird'], {'train': 45000, 'validation': 5000, 'test': 10000})
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        first_line = str(error).strip().splitlines()[0]
        raise KerasViTError(f"Unknown TFDS dataset 'tfds:{name}': {first_line}") from None
    if not builder.is_prepared():
        _prepare(builder, name, download)
    image_key, label_key = _image_and_label_keys(builder.info, name)
    class_names = list(builder.info.features[label_key].names)
    if len(class_names) < 2:
        raise KerasViTError(f"TFDS dataset '{name}' has {len(class_names)} class; a classifier needs at least 2.")
    split_specs = _split_specs(builder.info, name)
    image_feature = builder.info.features[image_key]
    feature_height, feature_width, feature_channels = image_feature.shape
    channels = feature_channels or channels or 3
    if channels not in (1, 3):
        raise KerasViTError(
            f"TFDS dataset '{name}' has {channels}-channel images, which cannot be reconciled with a model: images "
            f"are decoded to 1 (grayscale) or 3 (RGB) channels.")
    if image_size is None:
        if feature_height is None or feature_width is None:
            raise KerasViTError(f"TFDS dataset '{name}' has images of varying sizes: pass image_size=(height, width).")
        image_size = (feature_height, feature_width)
    image_size = tuple(int(size) for size in image_size)

    if "tfrecord" not in str(builder.info.file_format).lower():
        raise KerasViTError(f"TFDS dataset '{name}' is stored as {builder.info.file_format}; keras_vit streams "
                            f"TFDS datasets stored as TFRecord files.")
    features = builder.info.features

    def parse(serialized):
        example = features.deserialize_example(serialized, decoders={image_key: tfds.decode.SkipDecoding()})
        return example[image_key], tf.cast(example[label_key], tf.int32), tf.constant(f"tfds:{name}")

    def split(spec):
        info = builder.info.splits[spec]
        files = [(instruction.filename, instruction.skip, instruction.take)
                 for instruction in info.file_instructions]
        return RecordFiles(files, parse, info.num_examples, (*image_size, channels), f"tfds:{name} {spec}",
                           encoded_bytes=int(info.num_bytes) or None)

    datasets = {split_name: split(spec) for split_name, spec in split_specs.items()}
    return ImageClassificationData(
        train=datasets["train"], validation=datasets["validation"], test=datasets["test"],
        class_names=class_names, image_shape=(*image_size, channels),
        sizes={split: int(builder.info.splits[spec].num_examples) for split, spec in split_specs.items()})


def _prepare(builder, name, download):
    if download and is_online():
        builder.download_and_prepare()
        return
    reason = "downloading is off" if not download else "this machine is offline"
    raise KerasViTError(
        f"TFDS dataset '{name}' is not prepared in {builder.data_dir_root} and {reason}. Provide it: on a machine "
        f"that is online run `tfds build {name} --data_dir DIR` (or `tfds.builder('{name}', "
        f"data_dir='DIR').download_and_prepare()`), copy DIR here and pass tfds_data_dir=DIR.")


def _image_and_label_keys(info, name):
    import tensorflow_datasets as tfds

    keys = info.supervised_keys
    if keys and len(keys) == 2 and all(isinstance(key, str) for key in keys):
        image_key, label_key = keys
    else:
        image_key, label_key = "image", "label"
    features = info.features
    if (image_key not in features or not isinstance(features[image_key], tfds.features.Image)
            or label_key not in features or not isinstance(features[label_key], tfds.features.ClassLabel)):
        raise KerasViTError(
            f"TFDS dataset '{name}' is not an image-classification dataset: expected an Image feature and a "
            f"ClassLabel feature (supervised keys {keys}, features {', '.join(features)}).")
    return image_key, label_key


def _split_specs(info, name):
    available = set(info.splits)
    if "train" not in available:
        raise KerasViTError(
            f"TFDS dataset '{name}' has no 'train' split (it has: {', '.join(sorted(available)) or 'none'}).")
    specs = {"train": "train", "validation": "validation", "test": "test"}
    if "test" not in available:
        cut = 100 - TFDS_VALIDATION_FRACTION - TFDS_TEST_FRACTION
        specs["train"] = f"train[:{cut}%]"
        specs["test"] = f"train[{cut}%:{cut + TFDS_TEST_FRACTION}%]"
        logger.warning("TFDS dataset '%s' has no test split: using %s as test.", name, specs["test"])
    if "validation" not in available:
        cut = 100 - TFDS_VALIDATION_FRACTION
        specs["validation"] = f"train[{cut}%:]"
        if specs["train"] == "train":
            specs["train"] = f"train[:{cut}%]"
        logger.info("TFDS dataset '%s' has no validation split: using %s as validation.", name,
                    specs["validation"])
    return specs
