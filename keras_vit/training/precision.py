"""Choosing the numeric precision a model is built in: a Keras dtype policy, or "auto" for the device's own."""

import contextlib
import pathlib

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
AUTO = "auto"
# /proc/cpuinfo flags of the x86 units that multiply bfloat16 natively (AVX-512 BF16: Cooper Lake, Zen 4; AMX).
_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision):
    """Raises `KerasViTError` unless `precision` is "auto" or one of `PRECISIONS`."""
    if precision != AUTO and precision not in PRECISIONS:
        raise KerasViTError(f"Unknown precision '{precision}'. Known: {AUTO}, {', '.join(PRECISIONS)}.")


def resolve_precision(precision, jit_compile, strategy=None, small_model=False):
    """The (precision, jit_compile, reason) a run uses for `precision`, which may be "auto".

    "auto" on a CPU is float32 without XLA for the small presets (`small_model`: nano and micro): their matrices
    are too small for bfloat16 to pay reliably, and XLA's CPU code slows their convolutions (PVT's several times;
    benchmarks/README.md, "Small presets on a CPU").
    Otherwise it is mixed_bfloat16 where the devices compute bfloat16 natively (`native_bfloat16_device`),
    float32 elsewhere; on a CPU, bfloat16 runs without XLA: TensorFlow's XLA CPU code multiplies bfloat16 slower
    than oneDNN does without it (benchmarks/precision.py), while float32 keeps `jit_compile`. Any other precision
    is returned as it is, with `jit_compile`.

    Args:
        precision: "auto" or one of `PRECISIONS`.
        jit_compile: what the caller asked for.
        strategy: the `tf.distribute` strategy the model is built under (its devices are the ones that count).
        small_model: whether the model is a nano or micro preset (`keras_vit.training.recipes.is_small`).

    Returns:
        (precision, jit_compile, reason): reason says why "auto" chose what it chose (None for other precisions).

    Example:
        >>> resolve_precision("auto", True)  # on a CPU with AMX
        ('mixed_bfloat16', False, 'CPU with amx_bf16: mixed_bfloat16, without XLA (faster there in bfloat16)')
        >>> resolve_precision("auto", True, small_model=True)[:2]  # on any CPU
        ('float32', False)
    """
    check_precision(precision)
    if precision != AUTO:
        return precision, jit_compile, None
    if small_model and _on_cpu(strategy):
        return "float32", False, ("a nano/micro preset on a CPU: float32, without XLA (bfloat16 gains nothing "
                                  "reliable at these sizes; XLA slows their convolutions)")
    device = native_bfloat16_device(strategy)
    if device is None:
        return "float32", jit_compile, "no device here computes bfloat16 natively: float32"
    if device.startswith("CPU"):
        return "mixed_bfloat16", False, f"{device}: mixed_bfloat16, without XLA (faster there in bfloat16)"
    return "mixed_bfloat16", jit_compile, f"{device}: mixed_bfloat16"


def _on_cpu(strategy):
    """Whether the model is built on CPUs: neither a TPU strategy nor any GPU visible."""
    return not isinstance(strategy, tf.distribute.TPUStrategy) and not tf.config.list_physical_devices("GPU")


def native_bfloat16_device(strategy=None, cpuinfo="/proc/cpuinfo"):
    """What computes bfloat16 natively here, described ("TPU", "GPU ... compute capability 9.0", "CPU with
    amx_bf16"), or None: TPUs; GPUs of compute capability 8.0 or more (Ampere and later); CPUs whose flags in
    `cpuinfo` name AVX-512 BF16 or AMX.

    Example:
        >>> native_bfloat16_device()
        'CPU with avx512_bf16'
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "TPU"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
                        for gpu in gpus]
        if min(capabilities) >= (8, 0):
            return f"GPU of compute capability {'.'.join(map(str, min(capabilities)))}"
        return None
    path = pathlib.Path(cpuinfo)
    flags = set(path.read_text(errors="replace").split()) if path.is_file() else set()
    found = [flag for flag in _BFLOAT16_CPU_FLAGS if flag in flags]
    return f"CPU with {found[-1]}" if found else None


@contextlib.contextmanager
def precision_scope(precision):
    """Builds the layers created inside it with dtype policy `precision`; restores the global policy after.

    Under a mixed policy layers compute in float16 / bfloat16 and keep float32 weights; the builders keep the
    head (logits) in float32, and `model.compile` wraps the optimizer in a `LossScaleOptimizer` for float16.

    Example:
        >>> with precision_scope("mixed_bfloat16"):
        ...     model = create_model("vit_nano_patch4_32")
        >>> model.get_layer("block_0").compute_dtype
        'bfloat16'
    """
    if precision not in PRECISIONS:  # "auto" is resolved first (`resolve_precision`): a scope needs a policy
        raise KerasViTError(f"precision_scope takes one of {', '.join(PRECISIONS)}, got {precision!r}.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
