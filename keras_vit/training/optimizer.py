"""AdamW with a warmup-cosine schedule and no weight decay on biases, norms, scales and embeddings."""

import keras

from keras_vit.training.schedules import WarmupCosineDecay

# Variable names (regular expressions searched in `variable.name`) that get no weight decay: biases, LayerNorm
# scale/offset, LayerScale, and the class token and position embeddings.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "scale", "class_token", "position_embedding")


def build_optimizer(learning_rate, total_steps, warmup_steps=0, weight_decay=0.05, clipnorm=None):
    """AdamW (beta2 0.999) on a `WarmupCosineDecay` schedule, weight decay only on kernels.

    Args:
        learning_rate: peak learning rate.
        total_steps: optimizer steps of the whole training.
        warmup_steps: steps of linear warmup.
        weight_decay: decoupled weight decay on kernels.
        clipnorm: optional gradient clipping by norm (per variable).

    Example:
        >>> optimizer = build_optimizer(1e-3, total_steps=10_000, warmup_steps=500)
    """
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupCosineDecay(learning_rate, total_steps, warmup_steps),
        weight_decay=weight_decay, clipnorm=clipnorm)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
