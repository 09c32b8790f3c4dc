"""Images/s of each per-image augmentation on 224x224x3 uint8 images in a tf.data map, and of Keras' RandAugment.

Every measurement maps a stream of one random image (and one stateless seed per image) with
`num_parallel_calls=tf.data.AUTOTUNE, deterministic=True`, batches it by `--batch-size` as training does and
counts images per second over `--images` images, after one warm-up batch. Measured:

- each of the 15 RandAugment operations of `keras_vit.data.rand_augment.RAND_AUGMENT_OPS` at level 9 (the
  signed ones in their positive direction), the level coming in as a dataset element like the image, so that
  tf.data's graph optimisations cannot precompute what depends on it (as they would for a constant level);
- `rand_augment` (timm's rand-m9-mstd0.5) and `random_erasing` (probability 0.25), with per-image seeds
  (inside `rand_augment` each operation runs as a branch of a functional Case, where Color's matrix products are
  Eigen's instead of oneDNN's and every operation costs a little more than alone, about 0.1 ms);
- for comparison, `keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5)` applied per batch
  (mapped after batching) and per image (mapped before batching); `--skip-keras` leaves them out (they take
  most of the run).

Each line gives the best images/s of `--repeats` passes and the process's CPU time per image (ms, the least of
the passes): on a machine shared with other work the CPU time moves less than the images/s, which follow the
cores left free. On an otherwise idle machine images/s is about (cores * 1000) / (CPU ms per image).

Example:

    python benchmarks/augment_ops.py --images 512
    python benchmarks/augment_ops.py --images 1024 --repeats 3 --skip-keras
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_vit.data.rand_augment import RAND_AUGMENT_OPS, apply_op, rand_augment  # noqa: E402
from keras_vit.data.random_erasing import random_erasing  # noqa: E402

IMAGE_SHAPE = (224, 224, 3)
LEVEL = 9.0


def _images_and_seeds(count):
    image = np.random.default_rng(0).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)
    seeds = tf.random.experimental.stateless_split([0, 1], num=count)
    # The image comes in as a dataset element, never as a graph constant that tf.data could fold the ops into.
    return tf.data.Dataset.zip(tf.data.Dataset.from_tensors(image).repeat(count),
                               tf.data.Dataset.from_tensor_slices(seeds))


def _per_image(function, count, batch_size):
    return (_images_and_seeds(count)
            .map(function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size))


def _per_op(name, count, batch_size):
    levels = tf.data.Dataset.from_tensors(tf.constant(LEVEL, tf.float64)).repeat(count)
    return (tf.data.Dataset.zip(_images_and_seeds(count), levels)
            .map(lambda image_and_seed, level: apply_op(name, image_and_seed[0], level),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size))


def _per_batch(function, count, batch_size):
    return (_images_and_seeds(count)
            .map(lambda image, seed: image)
            .batch(batch_size)
            .map(function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))


def images_per_second(dataset, count, batch_size):
    """(images/s, CPU ms per image) of iterating `dataset` (batches of `count` images), after its first batch."""
    batches = iter(dataset.prefetch(tf.data.AUTOTUNE))
    next(batches)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in batches:
        pass
    images = count - batch_size
    return images / (time.perf_counter() - start), (time.process_time() - cpu_start) / images * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="images per measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="passes per measurement (best kept)")
    parser.add_argument("--skip-keras", action="store_true", help="leave out keras.layers.RandAugment")
    args = parser.parse_args()
    count, batch_size = args.images, args.batch_size
    if count <= batch_size:
        parser.error("--images must exceed --batch-size (the first batch is the warm-up)")

    measurements = {f"op {name}": _per_op(name, count, batch_size) for name in RAND_AUGMENT_OPS}
    measurements["rand_augment (rand-m9-mstd0.5)"] = _per_image(rand_augment, count, batch_size)
    measurements["random_erasing (p=0.25)"] = _per_image(random_erasing, count, batch_size)
    if not args.skip_keras:
        keras_rand_augment = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5, seed=0)
        measurements[f"keras RandAugment per batch of {batch_size}"] = _per_batch(
            lambda images: keras_rand_augment(tf.cast(images, tf.float32)), count, batch_size)
        measurements["keras RandAugment per image"] = _per_image(
            lambda image, seed: keras_rand_augment(tf.cast(image, tf.float32)), count, batch_size)

    print(f"{count} images of {IMAGE_SHAPE}, tf.data map with AUTOTUNE, {os.cpu_count()} cores, "
          f"best of {args.repeats}")
    for name, dataset in measurements.items():
        passes = [images_per_second(dataset, count, batch_size) for _ in range(args.repeats)]
        rate, cpu = max(rate for rate, _ in passes), min(cpu for _, cpu in passes)
        print(f"{name:45s} {rate:9.1f} images/s {cpu:7.2f} ms CPU/image", flush=True)


if __name__ == "__main__":
    main()
