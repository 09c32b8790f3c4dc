"""Dense layers applied to token tensors as matrices: the form TensorFlow's CPU kernels run fastest, without XLA,
in float32 and in mixed bfloat16."""

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

