"""One split of a dataset before decoding: what one pass reads, in which order, and which part of it a worker reads.

Every source returns its splits as one of these, and `keras_vit.data.make_batches` turns any of them into batches:

- `ImageFiles`: encoded image files on disk (image folders). A pass reads a seeded permutation of the files.
- `ImageArrays`: uint8 pixels in memory (the embedded digits, IDX files): a seeded permutation of the rows.
- `RecordFiles`: encoded images in TFRecord files (`keras-vit prepare` shards, TFDS datasets): a seeded
  permutation of the files, read interleaved, through a bounded shuffle buffer.
- `DatasetSplit`: any `tf.data.Dataset` of (pixels, label), through a bounded shuffle buffer.

A pass yields (image, label, name): the image as encoded bytes (`encoded` True) or pixels, the int32 label, and a
name (the file path where there is one) that errors about the image quote. A split made of images whose headers
were checked against the file guards when it was made (`checked`: image folders at load, shards when prepared)
is not checked again as it streams; the others are, image by image, before the decoder sees them. Orders depend only on (seed, epoch), so
every worker computes the same permutation and reads its own slice of it: `workers=(count, index)` gives each
worker a disjoint part, and together they read every image once per pass. Memory: the file list or the arrays, and
at most one shuffle buffer (`RECORD_SHUFFLE_BYTES`); never the decoded dataset.
"""

import os

import numpy as np
import tensorflow as tf

from keras_vit.data.progress import PassProgress
from keras_vit.errors import KerasViTError

RECORD_SHUFFLE_BYTES = 256 * 2**20  # the shuffle buffer of streamed records holds about this many encoded bytes
RECORD_SHUFFLE_RECORDS = (1024, 8192)  # ... within these record counts (timm's TFDS reader shuffles 8192)
INTERLEAVED_FILES = 8
CACHE_CHUNK_RECORDS = 1024  # records read into memory at a time by `CachedRecords` (one progress update each)
ONE_WORKER = (1, 0)


class Split:
    """What the splits have in common: their size, output image shape, and whether their images are encoded (or
    already at the output shape, to be used as they are)."""

    encoded = True
    at_output_shape = False

    def __init__(self, size, image_shape, description, checked=False):
        self.checked = checked  # whether every image passed the file guards when the split was made
        self.size = int(size)
        self.image_shape = tuple(int(side) for side in image_shape)
        self.description = description

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"{type(self).__name__}({self.description}: {self.size} images of {self.image_shape})"

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        """The dataset of one pass over this split: (image, label, name) in the order of (seed, epoch).

        Args:
            seed: int, the run's seed.
            epoch: int64 scalar (a tensor inside `Dataset.flat_map`), the pass number.
            shuffle: permute (training), or keep the split's fixed order (evaluation).
            workers: (count, index): this worker reads its `index`-th slice of `count`.
        """
        raise NotImplementedError

    def encoded_bytes(self):
        """Bytes of the encoded images, for caching decisions; None where unknown or not encoded."""
        return None

    def pass_size(self, workers=ONE_WORKER):
        """Images one pass gives worker `workers[1]` of `workers[0]`; None where unknown."""
        count, index = workers
        return len(range(index, self.size, count))


def joined(first, second):
    """One split holding the images of two splits of the same kind and image shape (e.g. train + validation).

    Example:
        >>> both = joined(data.train, data.validation)
        >>> len(both) == data.sizes["train"] + data.sizes["validation"]
        True
    """
    if type(first) is not type(second) or first.image_shape != second.image_shape:
        raise KerasViTError(f"Cannot join {first!r} and {second!r}: splits of one kind and image shape join.")
    description = f"{first.description} + {second.description}"
    checked = first.checked and second.checked
    if isinstance(first, ImageArrays):
        return ImageArrays(np.concatenate([first.images, second.images]),
                           np.concatenate([first.labels, second.labels]), first.image_shape, description)
    if isinstance(first, ImageFiles):
        return ImageFiles(first.paths + second.paths, np.concatenate([first.labels, second.labels]),
                          first.image_shape, description, checked)
    if isinstance(first, RecordFiles) and first.parse is second.parse:
        known = first.encoded_bytes() is not None and second.encoded_bytes() is not None
        return RecordFiles(first.files + second.files, first.parse, len(first) + len(second), first.image_shape,
                           description, first.encoded_bytes() + second.encoded_bytes() if known else None, checked)
    raise KerasViTError(f"Cannot join {first!r} and {second!r}.")


def pass_seed(seed, epoch):
    """The stateless seed of pass `epoch` of a run seeded `seed`: an int64 tensor of shape [2]."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])


def _order(size, seed, epoch, shuffle, workers):
    """Indices 0..size-1, permuted by (seed, epoch) when shuffling, this worker's slice of them."""
    indices = tf.range(size, dtype=tf.int64)
    if shuffle:
        indices = tf.random.experimental.stateless_shuffle(indices, seed=pass_seed(seed, epoch))
    count, index = workers
    return tf.data.Dataset.from_tensor_slices(indices).shard(count, index)


class ImageFiles(Split):
    """Encoded image files on disk and their labels.

    Example:
        >>> split = ImageFiles(["cat/1.jpg", "dog/1.jpg"], [0, 1], (224, 224, 3), "pets/")
        >>> images, labels, names = next(iter(split.one_pass(seed=0, epoch=0)))
    """

    def __init__(self, paths, labels, image_shape, description="files", checked=False):
        super().__init__(len(paths), image_shape, description, checked)
        self.paths = [str(path) for path in paths]
        self.labels = np.asarray(labels, dtype="int32")

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        paths, labels = tf.constant(self.paths or [""], tf.string), tf.constant(self.labels, tf.int32)

        def read(index):
            return tf.io.read_file(paths[index]), labels[index], paths[index]

        return _order(self.size, seed, epoch, shuffle, workers).map(read, num_parallel_calls=tf.data.AUTOTUNE)

    def encoded_bytes(self):
        return sum(os.path.getsize(path) for path in self.paths)


class ImageArrays(Split):
    """Decoded pixels held in memory (uint8, [count, height, width, channels]) and their labels.

    `image_shape` may differ from the arrays' own: images are resized to it as they are read.

    Example:
        >>> split = ImageArrays(np.zeros((10, 28, 28, 1), "uint8"), np.arange(10) % 2, (28, 28, 1), "zeros")
    """

    encoded = False

    def __init__(self, images, labels, image_shape, description="arrays"):
        super().__init__(len(images), image_shape, description)
        self.images = np.asarray(images, dtype="uint8")
        self.labels = np.asarray(labels, dtype="int32")

    def order(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        """The row indices of one pass (the order of `one_pass`), for readers that gather whole batches of rows."""
        return _order(self.size, seed, epoch, shuffle, workers)

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        images, labels = tf.constant(self.images), tf.constant(self.labels)

        def read(index):
            return images[index], labels[index], tf.strings.format(f"{self.description} image {{}}", index)

        return _order(self.size, seed, epoch, shuffle, workers).map(read, num_parallel_calls=tf.data.AUTOTUNE)


class RecordFiles(Split):
    """Encoded images in TFRecord files, each file read from `skip` for `take` records (-1: to its end).

    Args:
        files: list of (path, skip, take).
        parse: function (serialized record) -> (encoded image, int32 label, name).
        size: records in all files.
        image_shape: output shape.
        description: what the split is, for messages.
        encoded_bytes: bytes of the images in all files, when known (sizes the shuffle buffer).
        checked: every image passed the file guards when the files were written (`keras-vit prepare`).

    Example:
        >>> split = RecordFiles([("shards/train-00000-of-00002.tfrecord", 0, -1), ...], parse_shard_record,
        ...                     size=2000, image_shape=(224, 224, 3), description="shards/ train")
    """

    def __init__(self, files, parse, size, image_shape, description="records", encoded_bytes=None, checked=False):
        super().__init__(size, image_shape, description, checked)
        self.files = [(str(path), int(skip), int(take)) for path, skip, take in files]
        self.parse = parse
        self._encoded_bytes = encoded_bytes

    def encoded_bytes(self):
        return self._encoded_bytes

    def pass_size(self, workers=ONE_WORKER):
        return None if _by_file(len(self.files), workers[0]) else super().pass_size(workers)

    def shuffle_records(self):
        """Records one shuffle run holds (`record_shuffle_size`)."""
        return record_shuffle_size(self.size, self._encoded_bytes)

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        paths, skips, takes = (tf.constant(list(column), dtype) for column, dtype in
                               zip(zip(*self.files), (tf.string, tf.int64, tf.int64)))
        count, index = workers
        by_file = _by_file(len(self.files), count)
        files = _order(len(self.files), seed, epoch, shuffle, workers if by_file else ONE_WORKER)

        def records(file_index):
            return tf.data.TFRecordDataset(paths[file_index]).skip(skips[file_index]).take(takes[file_index])

        stream = files.interleave(records, cycle_length=min(INTERLEAVED_FILES, len(self.files)),
                                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if count > 1 and not by_file:
            stream = stream.shard(count, index)
        if shuffle:
            stream = shuffled(stream, self.shuffle_records(), seed, epoch)
        return stream.map(self.parse, num_parallel_calls=tf.data.AUTOTUNE)


class CachedRecords(Split):
    """Another split's encoded records, read once into memory, then read by index in each pass's seeded order.

    An `ImageFiles` split cached this way gives the batches it gives streamed; a `RecordFiles` split becomes a
    full permutation each pass instead of a shuffle buffer. Memory: the encoded bytes (the chunks they are read in
    hold a second copy while they are joined). The records are read in chunks of `CACHE_CHUNK_RECORDS`, which
    `verbose` >= 1 counts on a progress bar (`keras_vit.data.progress.PassProgress`).

    Example:
        >>> cached = CachedRecords(load_dataset(data_dir="flowers/", image_size=(224, 224)).train, verbose=1)
        Caching 2,936 images in memory (encoded bytes): train images of 'flowers/'
        2936/2936 ━━━━━━━━━━━━━━━━━━━━ 2s 700us/image
    """

    def __init__(self, split, verbose=0):
        super().__init__(len(split), split.image_shape, f"{split.description}, in memory", split.checked)
        chunks = []
        with PassProgress(f"Caching {len(split):,} images in memory (encoded bytes): {split.description}", len(split),
                          verbose, every=1) as progress:
            for chunk in split.one_pass(0, 0, shuffle=False).batch(CACHE_CHUNK_RECORDS):
                chunks.append(chunk)
                progress.add(len(chunk[1]))
        self.images, self.labels, self.names = (tf.concat(column, axis=0) for column in zip(*chunks))

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        def read(index):
            return self.images[index], self.labels[index], self.names[index]

        return _order(self.size, seed, epoch, shuffle, workers).map(read, num_parallel_calls=tf.data.AUTOTUNE)


class DatasetSplit(Split):
    """Any unbatched `tf.data.Dataset` of (pixels, label), the pixels in [0, 255] already at the model's shape and
    used as they are (any dtype).

    Training passes go through a shuffle buffer of `shuffle_records` elements, at most the dataset's size (the
    dataset itself is not held).

    Example:
        >>> split = DatasetSplit(tf.data.Dataset.from_tensor_slices((images, labels)), size=len(labels))
    """

    encoded = False
    at_output_shape = True

    def __init__(self, dataset, size=None, description="dataset", shuffle_records=10_000):
        image_spec = dataset.element_spec[0]
        cardinality = int(dataset.cardinality())
        super().__init__(size if size is not None else max(cardinality, 0), image_spec.shape, description)
        self.dataset = dataset
        self.shuffle_records = max(1, min(self.size or shuffle_records, shuffle_records))

    def one_pass(self, seed, epoch, shuffle=True, workers=ONE_WORKER):
        stream = self.dataset.shard(*workers) if workers[0] > 1 else self.dataset
        if shuffle:
            stream = shuffled(stream, self.shuffle_records, seed, epoch)
        return stream.map(lambda image, label: (image, tf.cast(label, tf.int32), tf.constant(self.description)))


def _by_file(files, workers):
    """Whether several workers split record files by file (each its own files), not by record."""
    return workers > 1 and files >= workers


def record_shuffle_size(size, encoded_bytes):
    """Records a shuffle run of `size` records of `encoded_bytes` in all holds: about `RECORD_SHUFFLE_BYTES`,
    within `RECORD_SHUFFLE_RECORDS`, at most `size` (`RECORD_SHUFFLE_RECORDS`' top when the bytes are unknown)."""
    low, high = RECORD_SHUFFLE_RECORDS
    if encoded_bytes:
        fitting = RECORD_SHUFFLE_BYTES * size // max(1, encoded_bytes)
        return int(max(1, min(size, max(low, min(high, fitting)))))
    return int(max(1, min(size, high)))


def shuffled(stream, run_size, seed, epoch):
    """`stream` with each run of `run_size` consecutive elements in a stateless random order of (seed, epoch, run).

    Memory: one run, as a shuffle buffer of `run_size`. Not `Dataset.shuffle`: its order would change with TF's
    global seed, and a seed tensor fails in it under `tf.random.set_seed(0)` (TF compares the seed pair to (0, 0)
    in Python).

    Example:
        >>> list(shuffled(tf.data.Dataset.range(4), 2, seed=0, epoch=0).as_numpy_iterator())  # e.g. [1, 0, 2, 3]
    """
    def reorder(run_index, run):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(tf.nest.flatten(run)[0])[0]),
            seed=tf.random.experimental.stateless_fold_in(pass_seed(seed, epoch), run_index))
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda column: tf.gather(column, order), run))

    return stream.batch(run_size).enumerate().flat_map(reorder)
