"""From an unbatched (image, label) dataset to the batches `model.fit` consumes."""

import tensorflow as tf


def make_batches(dataset, num_classes, batch_size, training=False, seed=None, augment=None, repeat=False):
    """Caches, (when asked) repeats, (when training) shuffles and augments, batches, one-hot encodes, prefetches.

    Labels become one-hot float32 vectors before augmentation, so that label smoothing and MixUp/CutMix apply.

    Args:
        dataset: unbatched `tf.data.Dataset` of (image, int label).
        num_classes: length of the one-hot labels.
        batch_size: images per batch; the last batch may be smaller (not when repeated).
        training: shuffle every epoch and apply `augment`.
        seed: shuffle seed.
        augment: optional function (images, one-hot labels, training) -> (images, labels) applied to training
            batches, e.g. `make_augmentation("deit", seed=0)`.
        repeat: repeat the data without end, for `fit(..., steps_per_epoch=...)` (as `keras_vit.train` does, see
            `keras_vit.training.epochs.epoch_steps`). The one shuffle then runs over the endless stream: its buffer
            and iterator live from epoch to epoch, no epoch waits for them to refill, and every batch is full
            (batches run across the boundaries between passes).

    Returns:
        A batched, prefetched `tf.data.Dataset` of (images, one-hot labels).

    Example:
        >>> batches = make_batches(data.train, data.num_classes, batch_size=64, training=True, seed=0)
    """
    cached = dataset.cache()
    dataset = cached.repeat() if repeat else cached
    if training:  # the buffer is sized from one pass (`cached`): the repeated stream has no end to count
        dataset = dataset.shuffle(_shuffle_buffer(cached), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment is not None:
        # One batch at a time: the layers' random state then advances in order, so that a seeded pipeline repeats
        # exactly (parallel calls race on it). The operations within a batch still run in parallel.
        dataset = dataset.map(lambda images, labels: augment(images, labels, training=True))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _shuffle_buffer(dataset, limit=50_000):
    size = int(dataset.cardinality())
    return limit if size < 0 else max(1, min(size, limit))
