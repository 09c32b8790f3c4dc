"""Training from TFRecord shards written by `keras-vit prepare` (`keras_vit.data.shards`): `--data-dir SHARDS/`."""

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.shards import parse_shard_record, read_shard_info
from keras_vit.data.splits import RecordFiles
from keras_vit.errors import KerasViTError


def load_shard_folder(shards_dir, image_size, channels=3):
    """The splits of a shard folder, streamed from its TFRecord files (encoded images, decoded as they are read).

    Each pass reads the shard files in a new seeded order, interleaved, through a bounded shuffle buffer
    (`keras_vit.data.splits.RecordFiles`); memory does not grow with the dataset.

    Args:
        shards_dir: the output folder of `keras-vit prepare` (holding dataset.json).
        image_size: (height, width) images are brought to.
        channels: 1 or 3.

    Returns:
        ImageClassificationData.

    Raises:
        KerasViTError: dataset.json is missing, malformed or incomplete, a shard is missing, or a split holds no
            images.

    Example:
        >>> data = load_shard_folder("shards/", (224, 224))
        >>> data.train
        RecordFiles(train shards of 'shards/': 1600 images of (224, 224, 3))
    """
    info = read_shard_info(shards_dir)
    splits = {}
    for name in ("train", "validation", "test"):
        entry = info["splits"].get(name)
        splits[name] = None if not entry or not entry["images"] else RecordFiles(
            [(path, 0, -1) for path in entry["files"]], parse_shard_record, entry["images"], (*image_size, channels),
            f"{name} shards of '{shards_dir}'", encoded_bytes=entry["image_bytes"], checked=True)
    empty = [name for name in ("train", "test") if splits[name] is None]
    if empty:
        raise KerasViTError(f"The shard folder '{shards_dir}' holds no {' and no '.join(empty)} images.")
    return ImageClassificationData(
        train=splits["train"], validation=splits["validation"], test=splits["test"],
        class_names=list(info["class_names"]), image_shape=(*image_size, channels),
        sizes={name: 0 if split is None else len(split) for name, split in splits.items()})
