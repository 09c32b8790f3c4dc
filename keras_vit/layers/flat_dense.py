"""Dense layers applied to token tensors as matrices, and the exact GELU: the forms TensorFlow's CPU kernels run
fastest, without XLA, in float32 and in mixed bfloat16."""

import keras
from keras import ops


def flat_dense(dense, inputs):
    """`dense(inputs)` for (batch, ..., width) `inputs`, computed on their (rows, width) matrix.

    The result is the same. On TensorFlow, Keras multiplies a 3-D input as a matrix but adds the bias after
    reshaping back to 3-D, which keeps TensorFlow's graph optimiser from fusing the bias into oneDNN's matmul
    kernel on CPUs; on the matrix it fuses them (benchmarks/README.md, "Fused bias"). Reshapes cost nothing.

    Example:
        >>> tuple(flat_dense(keras.layers.Dense(8), np.zeros((2, 5, 4))).shape)
        (2, 5, 8)
    """
    outputs = dense(ops.reshape(inputs, (-1, inputs.shape[-1])))
    return ops.reshape(outputs, (*ops.shape(inputs)[:-1], outputs.shape[-1]))


def exact_gelu(inputs):
    """The exact (erf) GELU of `inputs`, computed in float32 and returned in their dtype.

    TensorFlow's CPU kernels evaluate erf in bfloat16 several times slower than in float32 (benchmarks/README.md);
    the two casts cost less, and XLA fuses them away.

    Example:
        >>> ops.convert_to_numpy(exact_gelu(np.array([-1.0, 0.0, 1.0], "float32"))).round(4)
        array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """
    gelu = keras.activations.gelu(ops.cast(inputs, "float32"), approximate=False)
    return ops.cast(gelu, inputs.dtype)
