"""Training and inference images/s of keras_vit models under each precision and XLA setting, in one process.

For each model, one compiled copy per setting (float32 or mixed_bfloat16, with or without XLA) is timed step by
step in alternating order (as `throughput.py` times keras_vit against keras-hub), so that all settings see the same
machine load; "ratio" is the median over rounds of the float32 + XLA step time (what `keras_vit.train` ran by
default before `--precision auto`) over the setting's. On a CPU with AVX512_BF16 (this project's AMD EPYC, Zen 4),
TensorFlow's own kernels (oneDNN) multiplied 2048x2048 bfloat16 matrices at 419 GFLOP/s against 219 in float32,
while XLA's CPU kernels did not gain (180 against 209): this script measures what that is worth for a whole model.

    python benchmarks/precision.py --models vit_tiny_patch16_224 vit_small_patch16_224 --steps 3
"""

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import build, fake_batch, median_ratio, predict_step, time_interleaved, train_step  # noqa: E402

from keras_vit.training.precision import precision_scope  # noqa: E402

SETTINGS = (("float32", True), ("float32", False), ("mixed_bfloat16", True), ("mixed_bfloat16", False))


def benchmark_model(name, batch_size, warmup, steps):
    """Table rows (dicts) of training and inference of preset `name` under each of `SETTINGS`."""
    models = {}
    for precision, jit in SETTINGS:
        with precision_scope(precision):
            models[precision, jit] = build("keras_vit", name, None, jit)
    batches = {setting: fake_batch(model, batch_size) for setting, model in models.items()}
    rows = []
    for mode in ("train", "infer"):
        functions = {setting: train_step(model, *batches[setting]) if mode == "train"
                     else predict_step(model, batches[setting][0]) for setting, model in models.items()}
        seconds = time_interleaved(functions, warmup, steps)
        for (precision, jit), timings in seconds.items():
            rows.append({"model": name, "mode": mode, "precision": precision, "xla": jit,
                         "images_per_s": batch_size / statistics.median(timings),
                         "ratio": median_ratio(seconds[SETTINGS[0]], timings)})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vit_tiny_patch16_224", "vit_small_patch16_224"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="measured steps of each kind, per setting")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compilation included)")
    arguments = parser.parse_args(argv)
    print(f"Keras {keras.__version__} on {keras.backend.backend()}, {os.cpu_count()} cores, batch "
          f"{arguments.batch_size}, median of {arguments.steps} steps after {arguments.warmup} warm-up; ratio: "
          f"speed against float32 + XLA in the same rounds")
    print(f"{'model':<30} {'mode':<5} {'precision':<15} {'XLA':<5} {'img/s':>8} {'ratio':>6}")
    for name in arguments.models:
        for row in benchmark_model(name, arguments.batch_size, arguments.warmup, arguments.steps):
            print(f"{row['model']:<30} {row['mode']:<5} {row['precision']:<15} {str(row['xla']):<5} "
                  f"{row['images_per_s']:>8.2f} {row['ratio']:>6.2f}", flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
