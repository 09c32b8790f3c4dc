"""The exact (erf) GELU, computed in float32 with its derivative written out: the form TensorFlow's CPU kernels run
fastest without XLA, in float32 and in mixed bfloat16."""

import math

import keras
from keras import ops

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def exact_gelu(inputs, training=None):
    """The exact GELU x Φ(x) = 0.5 x (1 + erf(x / √2)) of `inputs`, computed in float32, returned in their dtype.

    In inference (`training` not True) it is `keras.activations.gelu(x, approximate=False)`, which TFLite
    converts to its builtin GELU op. In training it is the erf form PyTorch and JAX compute, with the gradient
    written out, Φ(x) + x φ(x) (φ the normal density), from the Φ(x) of the forward pass: fewer full-size passes
    than autodiff through erf(c) and the products around it where each elementwise op is a kernel of its own
    (TensorFlow without XLA). In both, a bfloat16 input is cast to float32 and back: TensorFlow's CPU kernels
    evaluate erf in bfloat16 several times slower (XLA, JAX and torch fuse the casts away).

    Accuracy of the training form: for x >= 0, float32 rounding of the result; for x < 0, float32 rounding of
    1 + erf leaves an absolute error up to 1e-6 on values that shrink towards 0, which the inference form
    (TensorFlow's through erfc) keeps to their relative precision.
    Memory in training: the forward pass keeps Φ(x) and the input (float32, the input's shape) for the gradient.

    Args:
        inputs: a tensor of any shape and float dtype.
        training: True inside a training step (the form with the written-out gradient).

    Example:
        >>> ops.convert_to_numpy(exact_gelu(np.array([-1.0, 0.0, 1.0], "float32"))).round(4)
        array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """
    x = ops.cast(inputs, "float32")
    gelu = _gelu_for_training(x) if training else keras.activations.gelu(x, approximate=False)
    return ops.cast(gelu, inputs.dtype)


@ops.custom_gradient
def _gelu_for_training(x):
    cdf = (1.0 + ops.erf(x * _SQRT_HALF)) * 0.5

    def gradient(*args, upstream=None):  # JAX and TensorFlow pass the upstream gradient alone, torch by keyword
        upstream = args[0] if upstream is None else upstream
        return upstream * (cdf + (x * _INV_SQRT_2PI) * ops.exp(x * (x * -0.5)))

    return x * cdf, gradient
