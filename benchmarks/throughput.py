"""Training and inference images/s of keras_vit models against keras-hub's ViT and Swin, in one process.

For each model, keras_vit's preset (`keras_vit.create_model(name)`) and a keras-hub classifier of the same
configuration (`ViTBackbone` + `ViTImageClassifier`, or `SwinTransformerBackbone` +
`SwinTransformerImageClassifier`: same widths, depths, heads, MLP, patch, window, pooling and classes; parameter
counts are printed) are compiled the same way (AdamW, categorical cross-entropy on logits, the same
`jit_compile`) and timed step by step in alternating order, so both see the same machine load. Training is
`model.train_on_batch` (the compiled train function `model.fit` runs), inference `model.predict_on_batch`.
Images/s and GFLOP/s are medians over the measured steps. "ratio" is keras_vit's speed over keras-hub's: the
median over rounds of keras-hub's step time over keras_vit's in the same round (robust to load that changes
between rounds).

GFLOP/s use the analytic counts of `flops.py` (training = 3 forward passes). The peak is the best rate of square
`keras.ops.matmul`s of side 1024 to 4096 (to 8192 on a GPU, ten products a timing there, so that launch overhead
does not count) in the compute dtype, on random data, measured first; the fastest of these is then timed
in every round with the models ("matmul": its median GFLOP/s), and "% peak" is the model's GFLOP/s against that
matmul's in the same round (median over rounds), so both are measured under the same load (a shared machine's load
changes from minute to minute). With --memory, each
model also runs alone in a fresh subprocess that reports its peak memory: on a GPU the device's peak allocation,
on a CPU the growth of the process's peak resident set (VmHWM) from after start-up to after two train steps.

The script runs on any Keras backend (`KERAS_BACKEND`): under TensorFlow, `--jit` is XLA for both implementations;
under JAX every step is XLA-compiled (`jax.jit`) whatever `--jit` says, and TensorFlow need not be installed.

keras_vit models normalise pixels inside the model (one multiply-add a pixel); keras-hub does that in its
preprocessor, outside the timed model. Both take the same float32 input.

Examples (CPU, keras-hub from benchmarks/requirements.txt):

    python benchmarks/throughput.py --steps 3
    python benchmarks/throughput.py --no-jit --models vit_tiny_patch16_224 --steps 3
    python benchmarks/throughput.py --precision mixed_bfloat16 --models vit_base_patch16_224 \
        swin_tiny_patch4_window7_224 --batch-size 128 --steps 20 --memory   # on a GPU
    KERAS_BACKEND=jax python benchmarks/throughput.py --precision mixed_bfloat16 --batch-size 128   # GPU, JAX
    python benchmarks/throughput.py --precision auto --steps 5   # what each package gives by default

`--precision auto` times each package in its default configuration: keras_vit as `keras-vit train --precision
auto` runs (`keras_vit.training.precision.resolve_precision`: float32 without XLA for the nano/micro presets on a
CPU, else mixed_bfloat16 without XLA on a CPU with AVX-512 BF16 or AMX, float32 with `--jit` elsewhere) against
keras-hub in float32 with XLA; "% peak" is then against the float32 matmul.
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_vit  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import TRAINING_FLOPS_PER_FORWARD, forward_flops  # noqa: E402

DEFAULT_MODELS = ("vit_tiny_patch16_224", "vit_small_patch16_224", "swin_tiny_patch4_window7_224")
IMPLEMENTATIONS = ("keras_vit", "keras_hub")


def build_keras_hub(config):
    """A keras-hub classifier with the architecture of a keras_vit preset config (logits, no preprocessor)."""
    import keras_hub

    image_shape = (*_pair(config["image_size"]), config.get("channels", 3))
    if config["architecture"] == "vit":
        backbone = keras_hub.models.ViTBackbone(
            image_shape=image_shape, patch_size=config["patch_size"], num_layers=config["depth"],
            num_heads=config["num_heads"], hidden_dim=config["embed_dim"], mlp_dim=config["mlp_dim"],
            layer_norm_epsilon=1e-6, use_mha_bias=config.get("qkv_bias", True),
            use_class_token=config["pooling"] == "token")
        return keras_hub.models.ViTImageClassifier(backbone, config["num_classes"], pooling=config["pooling"])
    if config.get("version", 1) != 1:
        raise ValueError("keras-hub has Swin V1 only.")
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=image_shape, embed_dim=config["embed_dim"], depths=config["depths"],
        num_heads=config["num_heads"], window_size=config["window_size"], patch_size=config["patch_size"],
        mlp_ratio=config.get("mlp_ratio", 4.0), qkv_bias=config.get("qkv_bias", True), drop_path=0.0)
    return keras_hub.models.SwinTransformerImageClassifier(backbone, config["num_classes"])


def settings(implementation, name, arguments):
    """(dtype policy or None for the global one, jit_compile) of preset `name` from `implementation` under
    `arguments`."""
    if arguments.precision != "auto":
        return None, arguments.jit
    if implementation == "keras_hub":
        return "float32", True
    from keras_vit.training.precision import resolve_precision
    from keras_vit.training.recipes import is_small

    policy, jit_compile, _ = resolve_precision("auto", arguments.jit, small_model=is_small(name))
    return policy, jit_compile


def describe_settings(implementation, name, arguments):
    """`settings` as the header prints them, e.g. "keras_vit float32 jit_compile=False"."""
    policy, jit_compile = settings(implementation, name, arguments)
    return f"{implementation} {policy or arguments.precision} jit_compile={jit_compile}"


def build(implementation, name, image_size, jit_compile, policy=None):
    """A compiled model of preset `name` from `implementation` ("keras_vit" or "keras_hub"), its layers built with
    dtype `policy` (default: the global one)."""
    overrides = {} if image_size is None else {"image_size": image_size}
    from keras_vit.training.precision import precision_scope

    with precision_scope(policy or keras.mixed_precision.global_policy().name):
        if implementation == "keras_vit":
            model = keras_vit.create_model(name, **overrides)
        else:
            model = build_keras_hub(keras_vit.preset_config(name, **overrides))
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[], jit_compile=jit_compile)  # metrics=[]: keras-hub's default would add an accuracy
    return model


def fake_batch(model, batch_size):
    """Random [0, 255] float32 images and one-hot labels that fit `model`, as tensors on the default device."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, *model.input_shape[1:])).astype("float32")
    labels = np.eye(model.output_shape[-1], dtype="float32")[rng.integers(0, model.output_shape[-1], batch_size)]
    return keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)


def matmul_step(size, dtype, products):
    """A function that runs `products` `size` x `size` matmuls in `dtype` and waits for them; and their FLOPs.

    The products are queued back to back (devices run them asynchronously) and the function returns when the
    last one is read back, so on a GPU the time is the products', not the launch overhead of one.
    """
    a = keras.random.uniform((size, size), dtype=dtype, seed=1)
    b = keras.random.uniform((size, size), dtype=dtype, seed=2)

    def step():
        for _ in range(products):
            product = keras.ops.matmul(a, b)
        return keras.ops.convert_to_numpy(product[:1, :1])

    return step, 2 * size ** 3 * products


def measure_peak_matmul(dtype, sizes, products, repeats=3):
    """(best GFLOP/s, its size) of square matmuls in `dtype`: one warm-up, then `repeats` timed runs a size."""
    rates = {}
    for size in sizes:
        step, flops = matmul_step(size, dtype, products)
        step()
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            rates[size] = max(rates.get(size, 0.0), flops / (time.perf_counter() - start) / 1e9)
    best = max(rates, key=rates.get)
    return rates[best], best


def time_interleaved(step_functions, warmup, steps):
    """Seconds of each of `steps` runs of each named step, timed one step at a time in alternating order.

    Round r runs the steps in order, round r + 1 in reverse, so that the steps of one round see about the same
    machine load; compare them round by round (`median_ratio`).
    """
    for step in step_functions.values():
        for _ in range(warmup):
            step()
    seconds = {key: [] for key in step_functions}
    order = list(step_functions)
    for _ in range(steps):
        for key in order:
            start = time.perf_counter()
            step_functions[key]()
            seconds[key].append(time.perf_counter() - start)
        order.reverse()
    return seconds


def median_ratio(numerators, denominators):
    """The median over rounds of numerator / denominator: robust to load that changes between rounds."""
    return statistics.median(n / d for n, d in zip(numerators, denominators))


def benchmark_model(name, arguments, matmul_size, matmul_products):
    """Table rows (dicts) of training and inference for both implementations of preset `name`.

    The `matmul_size` square matmul runs in the same rounds: "% peak" is against its rate under the same load.
    """
    models = {}
    for impl in arguments.implementations:
        policy, jit_compile = settings(impl, name, arguments)
        models[impl] = build(impl, name, arguments.image_size, jit_compile, policy)
    batches = {impl: fake_batch(model, arguments.batch_size) for impl, model in models.items()}
    overrides = {} if arguments.image_size is None else {"image_size": arguments.image_size}
    flops = forward_flops(keras_vit.preset_config(name, **overrides), arguments.batch_size)
    rows = []
    for mode, multiplier in (("train", TRAINING_FLOPS_PER_FORWARD), ("infer", 1)):
        if mode == "train":
            steps = {impl: train_step(models[impl], *batches[impl]) for impl in models}
        else:
            steps = {impl: predict_step(models[impl], batches[impl][0]) for impl in models}
        steps["matmul"], matmul_flops = matmul_step(
            matmul_size, keras.mixed_precision.global_policy().compute_dtype, matmul_products)
        seconds = time_interleaved(steps, arguments.warmup, arguments.steps)
        peak_gflops = matmul_flops / statistics.median(seconds["matmul"]) / 1e9
        for impl in models:
            gflops = multiplier * flops / statistics.median(seconds[impl]) / 1e9
            rows.append({"model": name, "mode": mode, "impl": impl, "params": models[impl].count_params(),
                         "images_per_s": arguments.batch_size / statistics.median(seconds[impl]),
                         "ratio": median_ratio(seconds.get("keras_hub", [math.nan] * arguments.steps), seconds[impl]),
                         "gflops": gflops, "peak_percent": 100 * median_ratio(seconds["matmul"], seconds[impl])
                         * multiplier * flops / matmul_flops, "matmul_gflops": peak_gflops})
    return rows


def train_step(model, images, labels):
    """A function that runs one compiled train step of `model` on one batch."""
    return lambda: model.train_on_batch(images, labels)


def predict_step(model, images):
    """A function that runs one compiled predict step of `model` on one batch."""
    return lambda: model.predict_on_batch(images)


def measure_memory(name, implementation, arguments):
    """Peak memory (MiB) of two train steps of one model, in a fresh subprocess."""
    command = [sys.executable, os.path.abspath(__file__), "--memory-child", implementation, "--models", name,
               "--batch-size", str(arguments.batch_size), "--precision", arguments.precision,
               "--jit" if arguments.jit else "--no-jit"]
    if arguments.image_size is not None:
        command += ["--image-size", str(arguments.image_size)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])["peak_mib"]


def memory_child(arguments):
    """Runs in the subprocess of `measure_memory`: prints {"peak_mib": ...} as the last line."""
    baseline_kib = peak_resident_kib()
    policy, jit_compile = settings(arguments.memory_child, arguments.models[0], arguments)
    model = build(arguments.memory_child, arguments.models[0], arguments.image_size, jit_compile, policy)
    images, labels = fake_batch(model, arguments.batch_size)
    for _ in range(2):
        model.train_on_batch(images, labels)
    peak_bytes = peak_accelerator_bytes()
    peak_mib = (peak_resident_kib() - baseline_kib) / 1024 if peak_bytes is None else peak_bytes / 2 ** 20
    print(json.dumps({"peak_mib": peak_mib}))


def accelerator():
    """The name of the GPU the Keras backend computes on ("NVIDIA H200", say), or None on a CPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else None
    if backend == "jax":
        import jax
        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch
        return torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return None


def peak_accelerator_bytes():
    """The peak bytes allocated on the first GPU so far, by the Keras backend's allocator; None on a CPU."""
    if accelerator() is None:
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    if backend == "jax":
        import jax
        return jax.devices()[0].memory_stats()["peak_bytes_in_use"]
    import torch
    return torch.cuda.max_memory_allocated()


def backend_version():
    """The Keras backend and its version, e.g. "tensorflow 2.21.0"."""
    backend = keras.backend.backend()
    module = __import__(backend if backend in ("tensorflow", "jax", "torch") else "numpy")
    return f"{backend} {module.__version__}"


def peak_resident_kib():
    """This process's peak resident set in KiB: VmHWM on Linux, else ru_maxrss.

    A subprocess's ru_maxrss starts at its parent's peak (it survives fork and exec), VmHWM at exec.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def print_header(memory):
    header = (f"{'model':<30} {'mode':<5} {'implementation':<14} {'params':>11} {'images/s':>9} {'ratio':>6} "
              f"{'GFLOP/s':>8} {'matmul':>7} {'% peak':>7}" + (f" {'peak MiB':>9}" if memory else ""))
    print(header)
    print("-" * len(header))


def print_rows(rows, memory):
    """Prints one model's rows."""
    for row in rows:
        ratio = row["ratio"]
        line = (f"{row['model']:<30} {row['mode']:<5} {row['impl']:<14} {row['params']:>11,} "
                f"{row['images_per_s']:>9.2f} {ratio:>6.2f} {row['gflops']:>8.1f} "
                f"{row['matmul_gflops']:>7.1f} {row['peak_percent']:>6.1f}%")
        if memory:
            line += f" {memory[row['impl']]:>9.0f}"
        print(line, flush=True)


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="measured steps of each kind, per implementation")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compilation included)")
    parser.add_argument("--image-size", type=int, default=None, help="override the presets' image size")
    parser.add_argument("--precision", default="float32", help="a Keras dtype policy, e.g. mixed_bfloat16, or auto: "
                        "each package's default (see the docstring)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the train and predict steps with XLA (both implementations alike)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory, one subprocess a model")
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--memory-child", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    keras.mixed_precision.set_global_policy("float32" if arguments.precision == "auto" else arguments.precision)
    if arguments.memory_child:
        memory_child(arguments)
        return
    compute_dtype = keras.mixed_precision.global_policy().compute_dtype
    gpu = accelerator()
    sizes, products = ((1024, 2048, 4096), 1) if gpu is None else ((1024, 2048, 4096, 8192), 10)
    peak, size = measure_peak_matmul(compute_dtype, sizes, products)
    chosen = "; ".join(f"{name} " + ", ".join(describe_settings(impl, name, arguments)
                                             for impl in arguments.implementations) for name in arguments.models)
    print(f"{gpu or f'CPU ({os.cpu_count()} cores)'}, Keras {keras.__version__} on {backend_version()}, "
          f"batch {arguments.batch_size}, {chosen}, median of "
          f"{arguments.steps} steps after {arguments.warmup} warm-up; peak {compute_dtype} matmul {peak:.1f} GFLOP/s "
          f"({size}x{size}); % peak is against that matmul timed in the same rounds")
    print_header(arguments.memory)
    for name in arguments.models:
        rows = benchmark_model(name, arguments, size, products)
        keras.backend.clear_session()
        memory = ({impl: measure_memory(name, impl, arguments) for impl in arguments.implementations}
                  if arguments.memory else None)
        print_rows(rows, memory)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


if __name__ == "__main__":
    main()
