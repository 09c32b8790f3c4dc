"""The exact (erf) GELU, computed in float32 with its derivative written out: the form TensorFlow's CPU kernels run
fastest without XLA, in float32 and in mixed bfloat16."""

import math

from keras import ops

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def exact_gelu(inputs):
    """The exact GELU x Φ(x) = 0.5 x (1 + erf(x / √2)) of `inputs`, computed in float32, returned in their dtype.

    It is the erf form PyTorch and JAX compute. Two things make it cheaper than `keras.activations.gelu(x,
    approximate=False)` where each elementwise op is a kernel of its own (TensorFlow without XLA):
    - TensorFlow's CPU kernels evaluate erf in bfloat16 several times slower than in float32, so a bfloat16 input
      is cast to float32 and back; XLA, JAX and torch fuse the casts away.
    - The gradient is written out, Φ(x) + x φ(x) (φ the normal density), from the Φ(x) of the forward pass:
      fewer full-size passes than autodiff through erf and the products around it.

    Accuracy: for x >= 0, float32 rounding of the result; for x < 0, float32 rounding of 1 + erf leaves an
    absolute error up to 1e-6 on values that shrink towards 0 (TensorFlow's own GELU, through erfc, keeps their
    relative precision).
    Memory: the forward pass keeps Φ(x) and the input (float32, the input's shape) for the backward pass.

    Example:
        >>> ops.convert_to_numpy(exact_gelu(np.array([-1.0, 0.0, 1.0], "float32"))).round(4)
        array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """
    return ops.cast(_gelu_float32(ops.cast(inputs, "float32")), inputs.dtype)


@ops.custom_gradient
def _gelu_float32(x):
    cdf = (1.0 + ops.erf(x * _SQRT_HALF)) * 0.5

    def gradient(*args, upstream=None):  # JAX and TensorFlow pass the upstream gradient alone, torch by keyword
        upstream = args[0] if upstream is None else upstream
        return upstream * (cdf + (x * _INV_SQRT_2PI) * ops.exp(x * (x * -0.5)))

    return x * cdf, gradient
