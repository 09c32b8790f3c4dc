"""Choosing the numeric precision a model is built in."""

import contextlib

import keras

from keras_vit.errors import KerasViTError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_precision(precision):
    """Raises `KerasViTError` unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise KerasViTError(f"Unknown precision '{precision}'. Known: {', '.join(PRECISIONS)}.")


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
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
