"""From an unbatched (image, label) dataset to the batches `model.fit` consumes."""

import tensorflow as tf


def make_batches(dataset, num_classes, batch_size, training=False, seed=None, augment=None):
    """Caches, (when training) shuffles and augments, batches, one-hot encodes labels, and prefetches.

    Labels become one-hot float32 vectors so that label smoothing (and later MixUp/CutMix) apply.

    Args:
        dataset: unbatched `tf.data.Dataset` of (image, int label).
        num_classes: length of the one-hot labels.
        batch_size: images per batch; the last batch may be smaller.
        training: shuffle every epoch and apply `augment`.
        seed: shuffle seed.
        augment: optional function (image batch, training) -> image batch, e.g. a Keras preprocessing layer.

    Returns:
        A batched, prefetched `tf.data.Dataset` of (images, one-hot labels).

    Example:
        >>> batches = make_batches(data.train, data.num_classes, batch_size=64, training=True, seed=0)
    """
    dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(_shuffle_buffer(dataset), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augment is not None:
        dataset = dataset.map(lambda images, labels: (augment(images, training=True), labels),
                              num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda images, labels: (images, tf.one_hot(labels, num_classes)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _shuffle_buffer(dataset, limit=50_000):
    size = int(dataset.cardinality())
    return limit if size < 0 else max(1, min(size, limit))
