"""Where a keras_vit model's step spends its time, op type by op type (TensorFlow's profiler, read directly).

Builds a preset, runs a few compiled train or predict steps under `tf.profiler`, and prints the time of each
TensorFlow op type summed over the traced steps (ms a step, and share), e.g. how long the GELU's erf, the casts of
mixed precision or the unfused bias adds take. The op times overlap on several cores, so their sum is more than
the step's wall time; read them as shares. Reads the profiler's XSpace protobuf itself (no TensorBoard plugin).

Examples:

    python benchmarks/op_profile.py vit_tiny_patch16_224 --precision mixed_bfloat16 --no-jit --mode infer
    python benchmarks/op_profile.py swin_tiny_patch4_window7_224 --mode train --top 15
"""

import argparse
import collections
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import keras_vit  # noqa: E402
from keras_vit.training.precision import precision_scope  # noqa: E402

# Events of the host plane that wrap whole steps or functions rather than one op.
WRAPPERS = ("Process", "Run", "__inference", "_EagerConst", "ReadVariableOp")


def op_times(xspace_path, steps):
    """{op type: milliseconds a step} of the host's op events in the profile at `xspace_path`."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(pathlib.Path(xspace_path).read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        if "/host:CPU" not in plane.name:
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "#" not in name:  # "scope/name:OpType", TensorFlow's op events
                    op_type = name.rsplit(":", 1)[1].strip()
                    if not op_type.startswith(WRAPPERS):
                        totals[op_type] += event.duration_ps / 1e9 / steps
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--mode", choices=("train", "infer"), default="infer")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps, after 2 untimed ones")
    parser.add_argument("--top", type=int, default=20, help="op types shown")
    arguments = parser.parse_args()

    with precision_scope(arguments.precision):
        model = keras_vit.create_model(arguments.model)
    model.compile(optimizer="adamw", loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=arguments.jit)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (arguments.batch_size, *model.input_shape[1:])).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, model.output_shape[-1], arguments.batch_size),
                                        model.output_shape[-1])
    step = ((lambda: model.train_on_batch(images, labels)) if arguments.mode == "train"
            else (lambda: model.predict_on_batch(images)))
    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(arguments.steps):
        step()
    seconds = (time.perf_counter() - started) / arguments.steps
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(arguments.steps):
            step()
        tf.profiler.experimental.stop()
        totals = op_times(next(pathlib.Path(logdir).rglob("*.xplane.pb")), arguments.steps)
    total = sum(totals.values())
    print(f"{arguments.model} {arguments.mode}, {arguments.precision}, XLA {arguments.jit}, batch "
          f"{arguments.batch_size}: {seconds * 1000:.0f} ms a step unprofiled; op time {total:.0f} ms a step")
    for op_type, milliseconds in totals.most_common(arguments.top):
        print(f"  {op_type:<32} {milliseconds:8.1f} ms  {100 * milliseconds / total:5.1f}%")


if __name__ == "__main__":
    main()
