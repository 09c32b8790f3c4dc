"""`DataSpec`: where a run's images come from and how its input pipeline treats them, one object."""

import dataclasses
import pathlib

from keras_vit.data.cache_policy import check_cache
from keras_vit.data.sources import DEFAULT_DATASET, check_sources, load_dataset
from keras_vit.errors import KerasViTError


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """The data of a run (`train`, `finetune`, `pretrain`) or of an evaluation (`evaluate_model`).

    One source: a named dataset (`dataset`: "digits" embedded, "mnist" / "fashion_mnist" from IDX files, or
    "tfds:NAME"), or an image folder (`data_dir`: one sub-folder of images per class, or a folder of shards written
    by `keras-vit prepare`), which replaces `dataset`. Checked when made: a bad combination raises at once, naming
    the parameter.

    Attributes:
        dataset: "digits", "mnist", "fashion_mnist" or "tfds:NAME".
        data_dir: an image folder or a shard folder; nothing else (the IDX files of "mnist" go in `idx_dir`).
        validation_dir: separate folder of validation images, same class sub-folders as `data_dir`.
        test_dir: separate folder of test images (e.g. the dataset's official ones), same class sub-folders as
            `data_dir`, which then holds no test split.
        idx_dir: folder holding the four IDX files of "mnist" or "fashion_mnist" (default: searched,
            `keras_vit.data.idx`).
        tfds_data_dir: TFDS data folder of "tfds:NAME".
        skip_corrupt: skip unreadable or corrupt images of `data_dir` (logged) instead of failing.
        cache: what the input pipeline keeps in memory: "auto", "none", "memory" or a folder for cache files
            (`keras_vit.data.cache_policy`); images are otherwise streamed from disk every epoch.
        data_service: "grpc://HOST:PORT" of a tf.data service dispatcher that runs the training input pipeline on
            its workers (`keras_vit.data.service`); None runs it in this process.

    Example:
        >>> spec = DataSpec(data_dir="flowers/", test_dir="flowers_test/", cache="none")
        >>> spec.source, spec.name
        ('folder', 'flowers/')
        >>> data = DataSpec("fashion_mnist", idx_dir="/data/fm").load(image_size=(28, 28), channels=1)
    """

    dataset: str = DEFAULT_DATASET
    data_dir: str = None
    validation_dir: str = None
    test_dir: str = None
    idx_dir: str = None
    tfds_data_dir: str = None
    skip_corrupt: bool = False
    cache: str = "auto"
    data_service: str = None

    def __post_init__(self):
        if not isinstance(self.dataset, str):
            raise KerasViTError(f"dataset={self.dataset!r} must be a dataset name, e.g. 'digits' or 'tfds:cifar10'.")
        check_sources(self.dataset, self.data_dir, self.validation_dir, self.test_dir)
        check_cache(self.cache)

    @classmethod
    def of(cls, data=None, **fields):
        """The `DataSpec` of `data` (a `DataSpec`, a dataset name, or None for the default one) with `fields`
        replaced.

        Raises:
            KerasViTError: `data` is neither, or a name in `fields` is not a `DataSpec` field.

        Example:
            >>> DataSpec.of("mnist", idx_dir="/data/mnist") == DataSpec(dataset="mnist", idx_dir="/data/mnist")
            True
        """
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise KerasViTError(f"Unknown data argument(s) {', '.join(unknown)}. Known: {', '.join(known)}.")
        if data is None or isinstance(data, str):
            return cls(**{"dataset": data or DEFAULT_DATASET, **fields})
        if not isinstance(data, cls):
            raise KerasViTError(f"data={data!r} must be a DataSpec or a dataset name.")
        return dataclasses.replace(data, **fields)

    @property
    def source(self):
        """What the data is called in a default output folder: "folder" or the dataset's name."""
        return "folder" if self.data_dir else self.dataset

    @property
    def name(self):
        """What the data is called in reports and plot titles: the folder or the dataset's name."""
        return str(self.data_dir) if self.data_dir else self.dataset

    def load(self, image_size=None, channels=3, verbose=0):
        """The `ImageClassificationData` of this source (`load_dataset`); `image_size` and `channels` are those an
        image folder is decoded to, and the size IDX and TFDS images are resized to.

        Example:
            >>> DataSpec().load().sizes["test"]
            360
        """
        return load_dataset(self.dataset, data_dir=self.data_dir, image_size=image_size, channels=channels,
                            validation_dir=self.validation_dir, test_dir=self.test_dir,
                            skip_corrupt=self.skip_corrupt, idx_dir=self.idx_dir, tfds_data_dir=self.tfds_data_dir,
                            verbose=verbose)

    def recorded(self):
        """The entries of run.json that say which images a run trains on (folders as absolute paths).

        Example:
            >>> DataSpec().recorded()
            {'dataset': 'digits', 'data_dir': None, 'validation_dir': None, 'test_dir': None, 'skip_corrupt': False}
        """
        return dict(dataset=None if self.data_dir else self.dataset, data_dir=_absolute(self.data_dir),
                    validation_dir=_absolute(self.validation_dir), test_dir=_absolute(self.test_dir),
                    skip_corrupt=self.skip_corrupt)


def _absolute(path):
    return None if path is None else str(pathlib.Path(path).resolve())
