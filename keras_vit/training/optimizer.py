"""AdamW with a warmup-cosine schedule and no weight decay on biases, norms, scales and embeddings."""

import keras

from keras_vit.errors import KerasViTError
from keras_vit.training.schedules import WarmupCosineDecay

# Variable names (regular expressions searched in `variable.name`) that get no weight decay: biases, LayerNorm
# scale/offset, LayerScale, and the class token and position embeddings.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "scale", "class_token", "position_embedding")


def build_optimizer(learning_rate, total_steps, warmup_steps=0, weight_decay=0.05, clip_norm=None,
                    ema_momentum=None, beta_2=0.999):
    """AdamW on a `WarmupCosineDecay` schedule, weight decay only on kernels.

    Args:
        learning_rate: peak learning rate.
        total_steps: optimizer steps of the whole training.
        warmup_steps: steps of linear warmup.
        weight_decay: decoupled weight decay on kernels.
        clip_norm: clip the gradients to this global norm (all variables together); None or 0 for no clipping.
        ema_momentum: keep an exponential moving average of the weights with this momentum, copied into the model
            when `fit` ends; None for no average.
        beta_2: decay of Adam's second-moment estimate (MAE pretraining uses 0.95).

    Example:
        >>> optimizer = build_optimizer(1e-3, total_steps=10_000, warmup_steps=500)
    """
    if clip_norm is not None and clip_norm < 0:
        raise KerasViTError(f"clip_norm={clip_norm} must be positive (or 0 for no clipping).")
    if ema_momentum is not None and not 0 <= ema_momentum < 1:
        raise KerasViTError(f"ema_momentum={ema_momentum} must be in [0, 1), e.g. 0.9999.")
    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupCosineDecay(learning_rate, total_steps, warmup_steps),
        beta_2=beta_2, weight_decay=weight_decay, global_clipnorm=clip_norm or None, use_ema=ema_momentum is not None,
        ema_momentum=0.99 if ema_momentum is None else ema_momentum)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
