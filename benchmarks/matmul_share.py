"""How much of a keras_vit and a keras-hub step its matrix multiplications alone take, on this machine.

For each model, one round times a keras_vit step, the keras-hub step of the same configuration (both built and
compiled as in `throughput.py`) and the step's matmuls alone (the list of `flops.py`; for training the forward
matmuls and the two backward matmuls of each), each matmul shape run as its own compiled `tf.linalg.matmul`, as
many times as the model has it. Rounds alternate their order; times are medians, shares the median over rounds
of the matmuls' time over the step's in the same round. If the matmuls alone take nearly
a whole step of both implementations, neither can be much faster than the other without faster matmuls.

Example:

    python benchmarks/matmul_share.py --models vit_tiny_patch16_224 --rounds 3
"""

import argparse
import collections
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import throughput  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL, imports TensorFlow and Keras)
from flops import backward_matmuls, forward_matmuls  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_vit  # noqa: E402


def matmul_suite(matmuls, jit_compile):
    """A function that runs every matmul of `matmuls` (name, batch, m, k, n) once, one compiled call a matmul."""
    counts = collections.Counter((batch, m, k, n) for _, batch, m, k, n in matmuls)
    calls = []
    for (batch, m, k, n), count in counts.items():
        a = tf.random.uniform((batch, m, k))
        b = tf.random.uniform((batch, k, n))
        matmul = tf.function(lambda a, b: tf.linalg.matmul(a, b), jit_compile=jit_compile)  # one trace a shape
        calls.append((matmul, a, b, count))

    def run():
        for matmul, a, b, count in calls:
            for _ in range(count):
                matmul(a, b)
    return run


def benchmark_model(name, arguments):
    """Rows (model, mode, median seconds a step of keras_vit, keras_hub, matmuls alone, then the median over rounds
    of the matmuls' time over keras_vit's and over keras-hub's)."""
    models = {impl: throughput.build(impl, name, None, arguments.jit) for impl in throughput.IMPLEMENTATIONS}
    batches = {impl: throughput.fake_batch(model, arguments.batch_size) for impl, model in models.items()}
    forward = forward_matmuls(keras_vit.preset_config(name), arguments.batch_size)
    rows = []
    for mode in ("train", "infer"):
        if mode == "train":
            steps = {impl: throughput.train_step(models[impl], *batches[impl]) for impl in models}
            steps["matmuls"] = matmul_suite(forward + backward_matmuls(forward), arguments.jit)
        else:
            steps = {impl: throughput.predict_step(models[impl], batches[impl][0]) for impl in models}
            steps["matmuls"] = matmul_suite(forward, arguments.jit)
        seconds = throughput.time_interleaved(steps, arguments.warmup, arguments.rounds)
        medians = [statistics.median(seconds[key]) for key in ("keras_vit", "keras_hub", "matmuls")]
        shares = [throughput.median_ratio(seconds["matmuls"], seconds[key]) for key in ("keras_vit", "keras_hub")]
        rows.append((name, mode, *medians, *shares))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(throughput.DEFAULT_MODELS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True)
    arguments = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, batch {arguments.batch_size}, float32, "
          f"jit_compile={arguments.jit}, median of {arguments.rounds} rounds; seconds a step")
    print(f"{'model':<30} {'mode':<5} {'keras_vit':>9} {'keras_hub':>9} {'matmuls':>8} {'share vit':>9} "
          f"{'share hub':>9}")
    for name in arguments.models:
        for model, mode, ours, hub, matmuls, share_ours, share_hub in benchmark_model(name, arguments):
            print(f"{model:<30} {mode:<5} {ours:>9.3f} {hub:>9.3f} {matmuls:>8.3f} {share_ours:>9.0%} "
                  f"{share_hub:>9.0%}", flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
