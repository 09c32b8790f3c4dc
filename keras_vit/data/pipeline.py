"""From a split (files, shards, arrays) to the batches `model.fit` consumes, streamed and in parallel.

Training: every pass reads the split in a new seeded order (`keras_vit.data.splits`), reads and decodes images in
parallel (`num_parallel_calls=AUTOTUNE`, deterministic order), crops or resizes each to the model's size as uint8
with its own stateless seed, batches, one-hot encodes and mixes. Evaluation: the fixed order, the evaluation view
(`keras_vit.data.views`). Memory is bounded by the parallel calls and prefetch buffers (a few batches of encoded
and uint8 images), one shuffle buffer of records for streamed shards, and what `cache` allows
(`keras_vit.data.cache_policy`): it does not grow with the dataset.
"""

import contextlib
import math
import random
import re
import sys

import tensorflow as tf

from keras_vit.data.augment import Augmentation
from keras_vit.data.cache_policy import cache_file
from keras_vit.data.image_guards import FILE_LIMITS, image_problem
from keras_vit.data.scan import MAX_LISTED, find_corrupt_images
from keras_vit.data.splits import (ONE_WORKER, CachedRecords, DatasetSplit, ImageArrays, ImageFiles, pass_seed,
                                   record_shuffle_size, shuffled)
from keras_vit.data.views import eval_view, resized, train_crop
from keras_vit.errors import KerasViTError

_ENDLESS = 2**62
IMAGE_ERROR = "keras_vit cannot use image"  # starts the error of an image that fails its guards
NAMED_SCAN_LIMIT = 100_000  # files decoded again to name one that failed in the decoder


def make_batches(split, num_classes, batch_size, training=False, seed=None, augment=None, repeat=False,
                 cache="auto", workers=ONE_WORKER, start_epoch=0, skip_corrupt=False, verbose=0):
    """Streams, (when training) shuffles and augments, batches and one-hot encodes a split, and prefetches.

    Batches hold uint8 pixels (models normalise [0, 255] inside), or float32 after `augment.layers`. Labels are
    one-hot float32, soft after MixUp/CutMix.

    Args:
        split: a split of `keras_vit.data.load_dataset` (`keras_vit.data.splits`), or an unbatched
            `tf.data.Dataset` of (pixels at the model's size, int label).
        num_classes: length of the one-hot labels.
        batch_size: images per batch; the last batch may be smaller (not when repeated).
        training: a new seeded order every pass, and `augment`.
        seed: seed of the order and of the augmentation's draws (None: drawn at random).
        augment: an `Augmentation` (`make_augmentation("deit")`), or a function (images, one-hot labels,
            training) -> (images, labels) applied to each training batch.
        repeat: pass after pass without end, for `fit(..., steps_per_epoch=...)` (as `keras_vit.train` does); every
            batch is then full (batches run across the boundaries between passes).
        cache: "auto", "none", "memory" or a folder (`keras_vit.data.cache_policy`): training caches encoded bytes,
            evaluation decoded uint8 images.
        workers: (count, index) of this worker among those that split the data (multi-worker training); each
            reads a disjoint part and together they read every image once per pass.
        start_epoch: the first pass (a resumed run continues the sequence of orders and draws).
        skip_corrupt: skip images that fail their guards or the decoder (each logged with its name) instead of
            failing with an error that names the image (`IMAGE_ERROR`).
        verbose: 0 silent; 1 a progress bar while training images are read into memory (`CachedRecords`, when
            `cache` keeps them there), 2 its final count only. Cache files and the evaluation cache fill lazily,
            during the first pass (the first epoch's own bar), so they show none here.

    Returns:
        A batched, prefetched `tf.data.Dataset` of (images, one-hot labels).

    Example:
        >>> batches = make_batches(data.train, data.num_classes, batch_size=64, training=True, seed=0,
        ...                        augment=make_augmentation("deit"), repeat=True)
    """
    if isinstance(split, tf.data.Dataset):
        split = DatasetSplit(split)
    seed = random.SystemRandom().randrange(2**31) if seed is None else int(seed)
    batch_ops = [] if not training or augment is None else getattr(augment, "batch_ops", None)
    if isinstance(split, ImageArrays) and batch_ops is not None:
        batches = _array_batches(split, batch_size, training, seed, augment, batch_ops, repeat, workers, start_epoch)
    else:
        images = (_training_images(split, seed, augment, repeat, cache, workers, start_epoch, skip_corrupt, verbose)
                  if training else _evaluation_images(split, repeat, cache, workers, skip_corrupt))
        batches = images.batch(batch_size, drop_remainder=repeat, num_parallel_calls=tf.data.AUTOTUNE)
    batches = batches.map(lambda pixels, labels: (pixels, tf.one_hot(labels, num_classes)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment is not None:
        batches = _augmented_batches(batches, augment, seed, start_epoch)
    if workers[0] > 1:  # each worker reads its own part already
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        batches = batches.with_options(options)
    return batches.prefetch(tf.data.AUTOTUNE)


@contextlib.contextmanager
def named_image_errors(*splits):
    """Turns the error of an image that fails while batches of `splits` stream into a `KerasViTError` naming it.

    An image that fails its guards is named by the error itself (`IMAGE_ERROR`). One that passes them but fails in
    the decoder (broken image data) is not: the decoder does not say which file it read. Then the files of the
    `ImageFiles` among `splits` are decoded again to find it (at most `NAMED_SCAN_LIMIT` files; beyond that the
    error says how to find it).

    Example:
        >>> with named_image_errors(data.train):
        ...     model.fit(make_batches(data.train, data.num_classes, 64, training=True), epochs=1)
    """
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = re.search(rf"\[{IMAGE_ERROR}\] \[(.*?)\] \[(.*?)\]", error.message or "", re.DOTALL)
        if found is not None:
            raise KerasViTError(f"Image {found.group(1)} cannot be used ({found.group(2)}). Remove it, or skip "
                                f"such images with skip_corrupt=True.") from None
        paths = [path for split in splits if isinstance(split, ImageFiles) for path in split.paths]
        if not paths:
            raise
        if len(paths) > NAMED_SCAN_LIMIT:
            raise KerasViTError(
                f"An image failed to decode ({_first_line(error)}); among {len(paths):,} files, find it with "
                f"keras_vit.data.find_corrupt_images, or skip such images with skip_corrupt=True.") from None
        broken = find_corrupt_images(paths)
        if not broken:
            raise
        listed = "; ".join(f"{path} ({reason})" for path, reason in list(broken.items())[:MAX_LISTED])
        raise KerasViTError(f"{len(broken)} image(s) cannot be decoded: {listed}. Remove them, or skip such "
                            f"images with skip_corrupt=True.") from None


def _first_line(error):
    return (error.message or str(error)).strip().splitlines()[0]


def split_images(split):
    """The evaluation view of a split's images, unbatched, in its fixed order: (uint8 image, int32 label).

    Example:
        >>> image, label = next(iter(split_images(load_dataset("digits").test)))
        >>> image.shape, image.dtype
        (TensorShape([8, 8, 1]), tf.uint8)
    """
    return _evaluation_images(split, repeat=False, cache="none", workers=ONE_WORKER, skip_corrupt=False)


def _training_images(split, seed, augment, repeat, cache, workers, start_epoch, skip_corrupt, verbose):
    """(uint8 image, label) of every pass from `start_epoch`: read in order, then viewed in parallel."""
    augmentation = augment if isinstance(augment, Augmentation) else Augmentation()
    draw_seed = seed if augmentation.seed is None else augmentation.seed
    count, index = workers
    records_of_pass = _training_records(split, seed, cache, workers, verbose)

    def one_pass(epoch):
        records = records_of_pass(epoch)

        def with_seed(position, record):
            element = position * count + index  # the element's place in the pass's order, across workers
            return (*record, tf.random.experimental.stateless_fold_in(pass_seed(draw_seed, epoch), element))

        return records.enumerate().map(with_seed)

    def view(image, label, name, element_seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(element_seed, 1 + len(augmentation.image_ops)))
        image_size, channels = split.image_shape[:2], split.image_shape[-1]

        def pixels_of(image):
            if split.at_output_shape:
                pixels = image
            elif augmentation.crop:
                pixels = train_crop(image, seeds[0], image_size, channels, encoded=split.encoded)
            else:
                pixels = eval_view(image, image_size, channels, encoded=split.encoded)
            for operation, operation_seed in zip(augmentation.image_ops, seeds[1:]):
                pixels = operation(pixels, operation_seed)
            return pixels

        return (*_checked_view(pixels_of, image, name, split, skip_corrupt), label)

    passes = _passes(one_pass, seed, repeat, start_epoch, None if skip_corrupt else split.pass_size(workers))
    return _usable(passes.map(view, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), skip_corrupt)


def _passes(one_pass, seed, repeat, start_epoch, pass_size):
    """The function epoch -> dataset `one_pass` made the run's sequence of passes: endless from `start_epoch` when
    repeating, else one pass per iteration (one per Keras epoch) numbered by the next draw from `seed`.
    `pass_size` (elements a pass, None where unknown) tells `len` what flat_map cannot count."""
    if repeat:
        passes = tf.data.Dataset.range(start_epoch, _ENDLESS).flat_map(one_pass)
        return passes.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    passes = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).take(1).flat_map(one_pass)
    return passes if pass_size is None else passes.apply(tf.data.experimental.assert_cardinality(pass_size))


def _usable(images, skip_corrupt):
    """(pixels, label) of the usable images: all of them (an unusable one has failed already), or with
    `skip_corrupt` those left once the others are dropped."""
    if skip_corrupt:  # the decoder's errors are dropped (TensorFlow logs each), then the guards' refusals
        images = images.ignore_errors(log_warning=True).filter(lambda pixels, usable, label: usable)
    return images.map(lambda pixels, usable, label: (pixels, label))


def _array_batches(split, batch_size, training, seed, augment, batch_ops, repeat, workers, start_epoch):
    """(uint8 images, labels) batches of pixels held in memory, each batch gathered, resized and augmented at
    once (`Augmentation.batch_ops`, one stateless seed per batch): tf.data's per-element overhead would cost more
    than a small image's own work."""
    images, labels = tf.constant(split.images), tf.constant(split.labels)
    count, index = workers
    if not training:
        order = split.order(0, 0, shuffle=False, workers=workers)
        order = order.repeat() if repeat else order
    else:
        order = _passes(lambda epoch: split.order(seed, epoch, True, workers), seed, repeat, start_epoch,
                        split.pass_size(workers))
    draw_seed = seed if getattr(augment, "seed", None) is None else augment.seed
    base = pass_seed(draw_seed, start_epoch)

    def gathered(position, rows):
        pixels = tf.gather(images, rows)
        if tuple(pixels.shape[1:]) != split.image_shape:
            pixels = resized(pixels, split.image_shape[:2])
        batch_seed = tf.random.experimental.stateless_fold_in(base, position * count + index)
        for operation, operation_seed in zip(batch_ops, tf.unstack(
                tf.random.experimental.stateless_split(batch_seed, max(1, len(batch_ops))))):
            pixels = operation(pixels, operation_seed)
        return pixels, tf.gather(labels, rows)

    return order.batch(batch_size, drop_remainder=repeat).enumerate().map(
        gathered, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _training_records(split, seed, cache, workers, verbose):
    """The function epoch -> records of that pass, from disk or from where `cache` allows them to be kept."""
    filename = None if not split.encoded else cache_file(
        cache, split.encoded_bytes(), f"the {len(split):,} training images' encoded bytes",
        f"train_{workers[1]}_of_{workers[0]}")
    if filename is None:
        return lambda epoch: split.one_pass(seed, epoch, True, workers)
    if filename == "":
        cached = CachedRecords(split, verbose)
        return lambda epoch: cached.one_pass(seed, epoch, True, workers)
    # cache files fill in one pass, in the order of the run's first pass; each pass then reorders runs of them, as
    # record files are read (another order than streaming, and memory bounded by a run, not the split)
    in_files = split.one_pass(seed, 0, shuffle=True, workers=workers).cache(filename)
    runs = record_shuffle_size(len(split), split.encoded_bytes())
    return lambda epoch: shuffled(in_files, runs, seed, epoch)


def _evaluation_images(split, repeat, cache, workers, skip_corrupt):
    def view(image, label, name):
        if split.at_output_shape:
            return image, tf.constant(True), label
        image_size, channels = split.image_shape[:2], split.image_shape[2]
        pixels_of = lambda image: eval_view(image, image_size, channels, split.encoded)  # noqa: E731
        return (*_checked_view(pixels_of, image, name, split, skip_corrupt), label)

    images = _usable(split.one_pass(0, 0, shuffle=False, workers=workers).map(
        view, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True), skip_corrupt)
    filename = cache_file(cache, len(split) * math.prod(split.image_shape) // workers[0],
                          f"the {len(split):,} evaluation images (uint8)", f"eval_{split.size}_{workers[1]}")
    if filename is not None:
        images = images.cache(filename)
    return images.repeat() if repeat else images


def _checked_view(view, image, name, split, skip_corrupt):
    """(pixels, usable) of `view(image)`: encoded bytes of a split not checked yet pass the file guards
    (`keras_vit.data.image_guards`) first, else the error names the image (`IMAGE_ERROR`), or with `skip_corrupt`
    it is logged and usable is False. Bytes whose headers pass but whose image data is broken fail in the decoder
    (see `named_image_errors`)."""
    if not split.encoded or split.checked:
        return view(image), tf.constant(True)
    problem = image_problem(image, **FILE_LIMITS)
    usable = tf.equal(problem, "")
    if skip_corrupt:
        report = tf.cond(usable, tf.no_op, lambda: tf.print("keras_vit: skipped image", name, "-", problem,
                                                            output_stream=sys.stderr))
    else:
        report = tf.debugging.Assert(usable, [IMAGE_ERROR, name, problem])
    with tf.control_dependencies([report]):
        pixels = tf.cond(usable, lambda: view(image), lambda: tf.zeros(split.image_shape, tf.uint8))
    return pixels, usable


def _augmented_batches(batches, augment, seed, start_epoch):
    """The per-batch stages: an augmentation function, or `augment.layers` then one of `augment.mixers`."""
    if not isinstance(augment, Augmentation):  # in order: a function's own random state then advances in order
        return batches.map(lambda images, labels: augment(images, labels, training=True))
    for layer in augment.layers:
        batches = batches.map(lambda images, labels, layer=layer: _layer_output(
            layer({"images": tf.cast(images, tf.float32), "labels": labels}, training=True)))
    if not augment.mixers:
        return batches
    base = pass_seed(seed if augment.seed is None else augment.seed, _ENDLESS - start_epoch)  # apart from images'

    def mix(position, batch):
        batch_seed = tf.random.experimental.stateless_fold_in(base, position)
        choice_seed, mix_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2))
        choice = tf.random.stateless_uniform((), choice_seed, maxval=len(augment.mixers), dtype=tf.int32)
        return tf.switch_case(choice, [lambda mixer=mixer: mixer(*batch, mix_seed) for mixer in augment.mixers])

    return batches.enumerate().map(mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _layer_output(batch):
    return batch["images"], batch["labels"]
