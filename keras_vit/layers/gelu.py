"""The exact (erf) GELU, computed in float32 with its derivative written out: the form TensorFlow's CPU kernels run
fastest without XLA, in float32 and in mixed bfloat16."""

import math

import keras
from keras import ops

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def exact_gelu(inputs):
    """The exact GELU x Φ(x) of `inputs` (Φ the standard normal CDF), computed in float32, returned in their dtype.

    The values are `keras.activations.gelu(x, approximate=False)`'s. Two things make it cheaper where each
    elementwise op is a kernel of its own (TensorFlow without XLA):
    - TensorFlow's CPU kernels evaluate erf in bfloat16 several times slower than in float32, so a bfloat16 input
      is cast to float32 and back; XLA, JAX and torch fuse the casts away.
    - The gradient is written out, Φ(x) + x φ(x) (φ the normal density): fewer full-size passes than autodiff
      through erfc and the products around it.

    Memory: the backward pass needs the float32 input, as autodiff does.

    Example:
        >>> ops.convert_to_numpy(exact_gelu(np.array([-1.0, 0.0, 1.0], "float32"))).round(4)
        array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """
    return ops.cast(_gelu_float32(ops.cast(inputs, "float32")), inputs.dtype)


@ops.custom_gradient
def _gelu_float32(x):
    def gradient(*args, upstream=None):  # JAX and TensorFlow pass the upstream gradient alone, torch by keyword
        upstream = args[0] if upstream is None else upstream
        cdf = 0.5 + 0.5 * ops.erf(x * _SQRT_HALF)
        return upstream * (cdf + (x * _INV_SQRT_2PI) * ops.exp(x * (x * -0.5)))

    # The forward values through the backend's GELU: its erfc keeps the far negative tail exact, 0.5 + 0.5 erf
    # would round it to 0 (an error below 1e-6, which the gradient's Φ can afford).
    return keras.activations.gelu(x, approximate=False), gradient
