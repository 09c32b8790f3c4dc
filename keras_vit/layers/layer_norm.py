"""Layer normalization over the last axis with its gradient written out: Keras's LayerNormalization, fewer kernels."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` over the last axis, computed in float32, with its gradient written out.

    The same weights (`gamma`, `beta`), configuration and outputs as the Keras layer it extends, so checkpoints
    and weight layouts are unchanged. It is cheaper where each elementwise op is a kernel of its own (TensorFlow
    without XLA): Keras's form multiplies `gamma` by every row's inverse deviation, a full-size product, and
    autodiff differentiates each step of it; here the backward pass is one formula,
    dx = (g γ - mean(g γ) - x̂ mean(g γ x̂)) / σ, from the normalised x̂ and the 1 / σ the forward pass keeps.
    Other axes, `rms_scaling`, and a layer without `gamma` or `beta` take the Keras layer's own path.

    Memory: the forward pass keeps x̂ (float32, the input's shape) and one float32 per row for the backward pass.

    Args:
        **kwargs: those of `keras.layers.LayerNormalization` (`epsilon`, `axis`, `dtype`, ...).

    Example:
        >>> norm = LayerNorm(epsilon=1e-6)
        >>> outputs = norm(np.array([[1.0, 2.0, 3.0]], "float32"))
        >>> ops.convert_to_numpy(outputs).round(4)
        array([[-1.2247,  0.    ,  1.2247]], dtype=float32)
    """

    def call(self, inputs):
        rank = len(inputs.shape)
        last_axis_only = [axis % rank for axis in self.axis] == [rank - 1]  # build() made `axis` a list
        if not last_axis_only or self.rms_scaling or self.gamma is None or self.beta is None:
            return super().call(inputs)
        normalize = _layer_norm_float32(self.epsilon)
        # Cast, i.e. read as tensors: TensorFlow's eager custom gradient refuses variables among its arguments.
        gamma, beta = ops.cast(self.gamma, "float32"), ops.cast(self.beta, "float32")
        return ops.cast(normalize(ops.cast(inputs, "float32"), gamma, beta), self.compute_dtype)


def _layer_norm_float32(epsilon):
    """(x, gamma, beta) -> (x - mean) / sqrt(variance + `epsilon`) * gamma + beta over the last axis, whose
    gradient is computed from the normalised x and the inverse deviations the forward pass keeps."""

    @ops.custom_gradient
    def normalize(x, gamma, beta):
        centred = x - ops.mean(x, axis=-1, keepdims=True)
        inverse_deviation = ops.rsqrt(ops.mean(ops.square(centred), axis=-1, keepdims=True) + epsilon)
        normalized = centred * inverse_deviation

        def gradient(*args, upstream=None):  # JAX and TensorFlow pass the upstream gradient alone, torch by keyword
            upstream = args[0] if upstream is None else upstream
            scaled = upstream * gamma
            d_inputs = inverse_deviation * (scaled - ops.mean(scaled, axis=-1, keepdims=True)
                                            - normalized * ops.mean(scaled * normalized, axis=-1, keepdims=True))
            rows = (-1, x.shape[-1])
            d_gamma = ops.sum(ops.reshape(upstream * normalized, rows), axis=0)
            d_beta = ops.sum(ops.reshape(upstream, rows), axis=0)
            return d_inputs, d_gamma, d_beta

        return normalized * gamma + beta, gradient

    return normalize
