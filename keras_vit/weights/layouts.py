"""How PyTorch and Flax checkpoints store a dense layer, a LayerNorm and a patch-embedding convolution.

A `Rule` says how one weight of our model is made from checkpoint tensors: `target` is the weight's path in the
Keras model (e.g. "block_0/attention/qkv/kernel"), `sources` the checkpoint names it is made from, `convert` a
function of those arrays. A layout turns "our layer X is their layer Y" into the rules for all of X's weights.

Our layers: a Dense kernel is (inputs, outputs); LayerNormalization has gamma and beta; the patch projection is a
Dense over patches flattened in (row, column, channel) order (see `keras_vit.layers.patches`), so its kernel is a
convolution kernel in (height, width, in, out) order, flattened to (patch_size**2 * channels, dim).
"""

import collections

import numpy as np

Rule = collections.namedtuple("Rule", "target sources convert")


def _same(array):
    return array


class Layout:
    """Where a framework keeps a layer's tensors; `TORCH` and `FLAX` are the two instances.

    Args:
        separator: joins module names ("." or "/").
        kernel_name: last name part of a dense or convolution kernel ("weight" or "kernel").
        scale_name: last name part of a LayerNorm's scale ("weight" or "scale").
        merge_kernels: function (kernels, input_axes) -> our (inputs, outputs) kernel, the outputs of several
            stored kernels concatenated in order.
        patch_kernel: function from a stored patch-embedding convolution kernel to our projection kernel.
        geometry: function from a stored patch-embedding kernel to (patch_size, channels, dim).
        units_axis: axis of a stored dense kernel that holds its outputs.

    Example:
        >>> TORCH.dense("head", "head")[0].sources
        ('head.weight',)
    """

    def __init__(self, separator, kernel_name, scale_name, merge_kernels, patch_kernel, geometry, units_axis):
        self.separator = separator
        self.kernel_name = kernel_name
        self.scale_name = scale_name
        self._merge_kernels = merge_kernels
        self._patch_kernel = patch_kernel
        self._geometry = geometry
        self._units_axis = units_axis

    def join(self, *names):
        return self.separator.join(name for name in names if name)

    def kernel_key(self, source):
        return self.join(source, self.kernel_name)

    def bias_key(self, source):
        return self.join(source, "bias")

    def units(self, kernel):
        """Output width of a stored dense kernel."""
        return kernel.shape[self._units_axis]

    def patch_geometry(self, kernel):
        """(patch_size, channels, dim) of a stored patch-embedding kernel."""
        return self._geometry(kernel.shape)

    def dense(self, target, *sources, bias=True, input_axes=1):
        """Rules for our Dense layer `target` from one or more stored dense layers whose outputs are concatenated
        in order (three for a fused query/key/value projection). `input_axes` counts the leading input axes of a
        Flax `DenseGeneral` kernel: 1 for attention's query (dim, heads, head_dim), 2 for its output projection
        (heads, head_dim, dim); PyTorch kernels are always (outputs, inputs)."""
        def kernel(*kernels):
            return self._merge_kernels(kernels, input_axes)

        rules = [Rule(f"{target}/kernel", tuple(self.kernel_key(source) for source in sources), kernel)]
        if bias:
            rules.append(Rule(f"{target}/bias", tuple(self.bias_key(source) for source in sources), _concatenate))
        return rules

    def layer_norm(self, target, source):
        return [Rule(f"{target}/gamma", (self.join(source, self.scale_name),), _same),
                Rule(f"{target}/beta", (self.bias_key(source),), _same)]

    def patch_projection(self, target, source):
        return [Rule(f"{target}/kernel", (self.kernel_key(source),), self._patch_kernel),
                Rule(f"{target}/bias", (self.bias_key(source),), _same)]


def _concatenate(*biases):
    return np.concatenate([bias.reshape(-1) for bias in biases])


def _torch_conv_to_patch_kernel(weight):
    return _flatten_conv_kernel(np.transpose(weight, (2, 3, 1, 0)))


def _flatten_conv_kernel(kernel):
    if kernel.ndim != 4:
        raise ValueError(f"a convolution kernel has 4 axes, this one has shape {kernel.shape}")
    return kernel.reshape(-1, kernel.shape[-1])


def plain(target, source, convert=_same):
    """A rule copying one checkpoint tensor (through `convert`) to one weight."""
    return Rule(target, (source,), convert)


def _merge_torch_kernels(weights, input_axes):
    return np.concatenate([weight.T for weight in weights], axis=1)


def _merge_flax_kernels(kernels, input_axes):
    return np.concatenate([k.reshape(int(np.prod(k.shape[:input_axes])), -1) for k in kernels], axis=1)


# PyTorch: nn.Linear.weight (out, in), nn.Conv2d.weight (out, in, kh, kw), nn.LayerNorm weight and bias.
TORCH = Layout(".", "weight", "weight", _merge_torch_kernels, _torch_conv_to_patch_kernel,
               lambda shape: (shape[2], shape[1], shape[0]), units_axis=0)
# Flax: Dense/DenseGeneral kernel (inputs..., outputs...), Conv kernel (kh, kw, in, out), LayerNorm scale and bias.
FLAX = Layout("/", "kernel", "scale", _merge_flax_kernels, _flatten_conv_kernel,
              lambda shape: (shape[0], shape[2], shape[3]), units_axis=-1)
