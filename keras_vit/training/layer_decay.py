"""Layer-wise learning-rate decay (BEiT, MAE fine-tuning): AdamW with a learning-rate scale per variable."""

import re

import keras
from keras import ops

from keras_vit.errors import KerasViTError
from keras_vit.training.optimizer import NO_WEIGHT_DECAY


_BLOCK = re.compile(r"^(stage_\d+_)?block_\d+$")  # ViT's block_{i}; Swin's and PVT's stage_{s}_block_{b}
_STAGE_NORM = re.compile(r"^stage_\d+_norm$")  # PVT v2's norm closing each stage


def check_layer_decay(decay):
    """`decay` as a float, checked to lie in (0, 1].

    Example:
        >>> check_layer_decay(0.65)
        0.65
    """
    if not 0 < decay <= 1:
        raise KerasViTError(f"layer_decay must be in (0, 1], e.g. 0.65, got {decay}.")
    return float(decay)


def layer_decay_scales(depth, decay):
    """Learning-rate scales of a ViT's variables under layer-wise decay, as (path pattern, scale) pairs.

    Block i of `depth` gets decay ** (depth - i); the embeddings (`normalize`, a convolutional `stem`, `patches`,
    `patch_encoder`: patch projection, class token, position embeddings) decay ** (depth + 1); everything else
    (final `norm`, `head`) the full rate. Patterns are regular expressions matched at the start of a variable's path.
    For any built model (Swin and PVT too), see `layer_decay_scales_of`.

    Example:
        >>> layer_decay_scales(2, 0.5)
        [('^(normalize|stem|patches|patch_encoder)/', 0.125), ('^block_0/', 0.25), ('^block_1/', 0.5)]
    """
    decay = check_layer_decay(decay)
    return ([("^(normalize|stem|patches|patch_encoder)/", decay ** (depth + 1))]
            + [(f"^block_{index}/", decay ** (depth - index)) for index in range(depth)])


def layer_decay_scales_of(model, decay):
    """Learning-rate scales of a built model's variables under layer-wise decay, one (path pattern, scale) per layer.

    The transformer blocks (`block_{i}`, or `stage_{s}_block_{b}` in Swin and PVT) are numbered k = 0 ... depth - 1
    in model order over all stages; block k gets decay ** (depth - k). The layers before the first block (patch
    embedding and its norm, stage 0's position embeddings) get decay ** (depth + 1); the layers after the last block
    (final norm, head) the full rate. A layer between two blocks joins the stage it feeds: Swin's patch merging
    `stage_{s}_merging` and PVT's per-stage patch embedding and position embeddings take the scale of the stage's
    first block (as timm's Swin `group_matcher` puts `layers.{s}.downsample` with the stage's block 0), except
    PVT v2's `stage_{s}_norm`, which closes stage s and takes the scale of its last block (timm's pvt_v2 groups a
    stage's norm with its blocks); the last stage's norm is the final norm. For a ViT this is `layer_decay_scales`.

    Args:
        model: a built classifier or encoder of a ViT, Swin or PVT preset (layer names as the builders give them).
        decay: the layer-wise decay, in (0, 1].

    Returns:
        [(pattern, scale)]: a pattern `^{layer name}/` for each layer with weights but those after the last block.

    Raises:
        KerasViTError: `decay` outside (0, 1], or a model without blocks named as above.

    Example:
        >>> model = keras_vit.create_model("swin_nano_patch2_window4_32", image_size=8, channels=1)
        >>> dict(layer_decay_scales_of(model, 0.5))["^stage_1_merging/"]  # as stage_1_block_0, block 2 of 6
        0.0625
    """
    decay = check_layer_decay(decay)
    names = [layer.name for layer in model.layers if layer.weights]
    depth = sum(1 for name in names if _BLOCK.match(name))
    if not depth:
        raise KerasViTError(f"model='{model.name}' has no transformer blocks (layers named block_{{i}} or "
                            f"stage_{{s}}_block_{{b}}) to number for layer-wise decay.")
    scales, seen = [], 0
    for name in names:
        is_block = bool(_BLOCK.match(name))
        seen += is_block
        if not seen:
            scale = decay ** (depth + 1)  # the embeddings, before the first block
        elif seen == depth and not is_block:
            continue  # final norm, head: the full rate
        elif is_block or _STAGE_NORM.match(name):
            scale = decay ** (depth - seen + 1)  # block seen - 1, or the norm closing its stage
        else:
            scale = decay ** (depth - seen)  # feeds the next stage: as its first block, block `seen`
        scales.append((f"^{re.escape(name)}/", scale))
    return scales


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerDecayAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate, for the Adam update and the decoupled weight decay alike, is scaled per variable.

    A variable's scale is that of the first pattern of `learning_rate_scales` found at the start of its path
    (`variable.path`, e.g. "block_3/attention/qkv/kernel"), else 1. The scales are fixed when the optimizer is
    built, so the step stays one graph (XLA, `tf.distribute`, `LossScaleOptimizer`).

    Args:
        learning_rate_scales: (pattern, scale) pairs, e.g. `layer_decay_scales(depth, 0.65)`.
        **kwargs: arguments of `keras.optimizers.AdamW`.

    Example:
        >>> optimizer = LayerDecayAdamW(layer_decay_scales(12, 0.65), learning_rate=1e-3, weight_decay=0.05)
        >>> optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    """

    def __init__(self, learning_rate_scales=(), **kwargs):
        super().__init__(**kwargs)
        self.learning_rate_scales = [(str(pattern), float(scale)) for pattern, scale in learning_rate_scales]

    def learning_rate_scale(self, variable):
        """The scale of `variable`'s learning rate."""
        for pattern, scale in self.learning_rate_scales:
            if re.match(pattern, variable.path):
                return scale
        return 1.0

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._scales = [self.learning_rate_scale(variable) for variable in variables]
        self._decayed = [bool(self.weight_decay) and self._use_weight_decay(variable) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        learning_rate = ops.multiply(ops.cast(learning_rate, variable.dtype), self._scales[index])
        if self._decayed[index]:
            self.assign_sub(variable, ops.multiply(variable, ops.cast(self.weight_decay, variable.dtype)
                                                   * learning_rate))
        super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        """Nothing: `update_step` applies the weight decay, with each variable's learning rate."""

    def get_config(self):
        return {**super().get_config(), "learning_rate_scales": [list(pair) for pair in self.learning_rate_scales]}


def with_layer_decay(optimizer, scales):
    """A `LayerDecayAdamW` with the configuration of the AdamW `optimizer` (schedule, weight decay, clipping, EMA)
    and no weight decay on `NO_WEIGHT_DECAY` names.

    Example:
        >>> optimizer = with_layer_decay(build_optimizer(1e-3, total_steps=1000), layer_decay_scales(12, 0.65))
    """
    decayed = LayerDecayAdamW.from_config({**optimizer.get_config(), "learning_rate_scales": scales})
    decayed.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return decayed
