"""Images/s of keras_vit's input pipeline against what training consumes, and training speed fed by it.

An image folder of random JPEGs (two classes, written to a temporary folder at `source size`, a little larger
than the model's input) is loaded with `keras_vit.data.load_image_folder` and batched with
`keras_vit.data.make_batches(..., training=True, augment=make_augmentation(...), repeat=True)`, the pipeline
`keras_vit.train` builds. Measured:

- pipeline, first epoch: images/s of reading, decoding and resizing the JPEGs, then augmenting (the cache fills);
- pipeline, cached: images/s of later epochs (decoded images from the cache, shuffled, augmented, batched);
- train on cached tensors: images/s of `model.fit` on one fixed batch repeated (no input work at all);
- train on the pipeline: images/s of `model.fit` on the augmented pipeline (its cache filled beforehand);

and the last two's ratio (the target is at least 90%). Both fits use the same compiled model (AdamW, categorical
cross-entropy on logits, `jit_compile` and `steps_per_execution` as given) and are timed in alternating rounds
so that both see the same machine load; figures are medians over the rounds.

Example:

    python benchmarks/pipeline.py --models vit_nano_patch2_32 vit_tiny_patch16_224 --rounds 3
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_vit  # noqa: E402
from keras_vit.data import load_image_folder, make_augmentation, make_batches  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jpeg_folder import write_jpeg_folder  # noqa: E402


def images_per_second(dataset, batches):
    """Images/s of taking `batches` batches from `dataset` (an iterator is made first, outside the timing)."""
    iterator = iter(dataset)
    start = time.perf_counter()
    images = sum(int(tf.shape(next(iterator)[0])[0]) for _ in range(batches))
    return images / (time.perf_counter() - start)


def benchmark(name, arguments, directory):
    """A dict of the four figures for preset `name`."""
    config = keras_vit.preset_config(name)
    size = config["image_size"]
    data = load_image_folder(directory, (size, size), channels=config.get("channels", 3))
    batches_per_epoch = data.sizes["train"] // arguments.batch_size
    augment = make_augmentation(arguments.augment, seed=0)
    pipeline = make_batches(data.train, data.num_classes, arguments.batch_size, training=True, seed=0,
                            augment=augment, repeat=True)  # endless, as keras_vit.train reads it
    first_epoch = images_per_second(pipeline, batches_per_epoch)
    cached = images_per_second(pipeline, batches_per_epoch)

    model = keras_vit.create_model(name, num_classes=data.num_classes)
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=arguments.jit, steps_per_execution=arguments.steps_per_execution)
    fixed_batch = next(iter(pipeline))
    sources = {"cached tensors": tf.data.Dataset.from_tensors(fixed_batch).repeat(), "pipeline": pipeline}
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
    train = {key: steps * arguments.batch_size / statistics.median(values) for key, values in seconds.items()}
    return {"model": name, "first_epoch": first_epoch, "cached": cached, "train_cached": train["cached tensors"],
            "train_pipeline": train["pipeline"]}


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vit_nano_patch2_32", "vit_tiny_patch16_224"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images-per-class", type=int, default=None,
                        help="JPEGs per class (default: 20 batches' worth for 32x32 models, 5 for larger)")
    parser.add_argument("--augment", default="deit", help="a keras_vit augmentation policy")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds of the two fits")
    parser.add_argument("--executions", type=int, default=2, help="calls into the compiled step, per round")
    parser.add_argument("--steps-per-execution", type=int, default=8, help="as keras_vit.train (default 8)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the train step with XLA (keras_vit.train's default)")
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    print(f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}, batch "
          f"{arguments.batch_size}, augmentation '{arguments.augment}', jit_compile={arguments.jit}, "
          f"steps_per_execution={arguments.steps_per_execution}; images/s")
    print(f"{'model':<24} {'pipeline 1st epoch':>18} {'pipeline cached':>15} {'train cached':>12} "
          f"{'train pipeline':>14} {'ratio':>6}")
    for name in arguments.models:
        size = keras_vit.preset_config(name)["image_size"]
        per_class = arguments.images_per_class or (20 if size <= 32 else 5) * arguments.batch_size
        with tempfile.TemporaryDirectory() as directory:
            write_jpeg_folder(directory, per_class, size + size // 8)
            row = benchmark(name, arguments, directory)
        print(f"{name:<24} {row['first_epoch']:>18.1f} {row['cached']:>15.1f} {row['train_cached']:>12.1f} "
              f"{row['train_pipeline']:>14.1f} {row['train_pipeline'] / row['train_cached']:>5.0%}", flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
