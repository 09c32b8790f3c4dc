"""Images/s of keras_vit's training input pipeline against timm's loader on the same files, its scaling from one
core to all, and training speed fed by it.

The folder: `--folder`, or 2,000 JPEGs of 500x375 written by `benchmarks/jpeg_folder.py` into a temporary folder.
It is loaded with `keras_vit.data.load_image_folder` and batched with `keras_vit.data.make_batches(...,
training=True, augment=make_augmentation(--augment), repeat=True, cache="none")`, the pipeline `keras_vit.train`
builds (streamed from disk, decoded and cropped per image, uint8 batches). Measured, in alternating rounds so that
both sides see the same machine load, figures the medians over the rounds:

- keras_vit: images/s of the pipeline with all cores, and with one (tf.data's private thread pool of 1 thread
  and one intra-op thread), and their ratio;
- timm (with `--timm-python`, the interpreter of a venv with timm and torch, see `benchmarks/timm_loader.py`):
  images/s of timm's DeiT loader on the same folder (RandAugment rand-m9-mstd0.5, random erasing 0.25, MixUp /
  CutMix), `--workers` processes;
- with `--train MODEL`: images/s of `model.fit` on one fixed batch repeated (no input work) and on the pipeline,
  and their ratio (the target is at least 90%).

Example:

    python benchmarks/pipeline.py --timm-python /work/timm-venv/bin/python --rounds 3 --train vit_tiny_patch16_224
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_vit  # noqa: E402
from jpeg_folder import write_jpeg_folder  # noqa: E402
from keras_vit.data import load_image_folder, make_augmentation, make_batches  # noqa: E402

TIMM_LOADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "timm_loader.py")


def images_per_second(dataset, batches):
    """Images/s of taking `batches` batches from `dataset`, after two warm-up batches."""
    iterator = iter(dataset)
    for _ in range(2):
        next(iterator)
    start = time.perf_counter()
    images = sum(int(tf.shape(next(iterator)[0])[0]) for _ in range(batches))
    return images / (time.perf_counter() - start)


def keras_vit_pipeline(data, arguments, threads=None):
    """The training batches of `data.train` as `keras_vit.train` reads them; `threads` limits tf.data's pool."""
    batches = make_batches(data.train, data.num_classes, arguments.batch_size, training=True, seed=0,
                           augment=make_augmentation(arguments.augment), repeat=True, cache="none")
    if threads is None:
        return batches
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    return batches.with_options(options)


def timm_images_per_second(arguments, folder):
    """Images/s printed by `benchmarks/timm_loader.py` run with `--timm-python`."""
    command = [arguments.timm_python, TIMM_LOADER, folder, "--batch-size", str(arguments.batch_size),
               "--workers", str(arguments.workers), "--batches", str(arguments.batches)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"([\d.]+) images/s", output).group(1))


def train_speeds(name, data, arguments):
    """(images/s of fit on a fixed batch, images/s of fit on the pipeline), medians over the rounds."""
    model = keras_vit.create_model(name, num_classes=data.num_classes)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=arguments.jit, steps_per_execution=arguments.steps_per_execution)
    pipeline = keras_vit_pipeline(data, arguments)
    sources = {"fixed": tf.data.Dataset.from_tensors(next(iter(pipeline))).repeat(), "pipeline": pipeline}
    steps = arguments.steps_per_execution * arguments.executions
    for source in sources.values():  # compiles, and leaves the pipeline warm
        model.fit(source, steps_per_epoch=arguments.steps_per_execution, epochs=1, verbose=0)
    seconds = {key: [] for key in sources}
    order = list(sources)
    for _ in range(arguments.rounds):
        for key in order:
            start = time.perf_counter()
            model.fit(sources[key], steps_per_epoch=steps, epochs=1, verbose=0)
            seconds[key].append(time.perf_counter() - start)
        order.reverse()
    return tuple(steps * arguments.batch_size / statistics.median(seconds[key]) for key in ("fixed", "pipeline"))


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="an image folder (default: 2,000 generated JPEGs of 500x375)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--augment", default="deit", help="a keras_vit augmentation policy")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--timm-python", help="python of a venv with timm and torch (benchmarks/timm_loader.py)")
    parser.add_argument("--workers", type=int, default=2, help="timm DataLoader worker processes")
    parser.add_argument("--train", metavar="MODEL", help="also time model.fit fed by the pipeline")
    parser.add_argument("--executions", type=int, default=2, help="calls into the compiled step, per round")
    parser.add_argument("--steps-per-execution", type=int, default=8, help="as keras_vit.train (default 8)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the train step with XLA (keras_vit.train's default)")
    return parser.parse_args(argv)


def run(arguments, folder):
    data = load_image_folder(folder, (arguments.image_size, arguments.image_size))
    print(f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}; {folder}: "
          f"{data.sizes['train']} training images; batch {arguments.batch_size}, augmentation '{arguments.augment}' "
          f"at {arguments.image_size}x{arguments.image_size}; images/s, medians of {arguments.rounds} rounds",
          flush=True)
    pipelines = {"keras_vit, all cores": keras_vit_pipeline(data, arguments),
                 "keras_vit, one core": keras_vit_pipeline(data, arguments, threads=1)}
    speeds = {key: [] for key in [*pipelines, *(["timm"] if arguments.timm_python else [])]}
    for _ in range(arguments.rounds):
        for key, pipeline in pipelines.items():
            speeds[key].append(images_per_second(pipeline, arguments.batches))
        if arguments.timm_python:
            speeds["timm"].append(timm_images_per_second(arguments, folder))
        print("  round:", ", ".join(f"{key} {values[-1]:.1f}" for key, values in speeds.items()), flush=True)
    medians = {key: statistics.median(values) for key, values in speeds.items()}
    for key, value in medians.items():
        print(f"{key:<24} {value:8.1f} images/s")
    print(f"scaling, all cores / one core: {medians['keras_vit, all cores'] / medians['keras_vit, one core']:.2f}x")
    if arguments.timm_python:
        print(f"keras_vit / timm: {medians['keras_vit, all cores'] / medians['timm']:.2f}x")
    if arguments.train:
        fixed, fed = train_speeds(arguments.train, data, arguments)
        print(f"train {arguments.train}: fixed batch {fixed:.1f}, fed by the pipeline {fed:.1f} images/s "
              f"({fed / fixed:.0%})")


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.folder:
        run(arguments, arguments.folder)
        return
    with tempfile.TemporaryDirectory() as folder:
        write_jpeg_folder(folder, 1000, 500, 375, classes=2)
        run(arguments, folder)


if __name__ == "__main__":
    sys.exit(main())
