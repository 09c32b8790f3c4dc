"""Learning-rate schedules."""

import math

import keras
from keras import ops

from keras_vit.errors import KerasViTError


@keras.saving.register_keras_serializable(package="keras_vit")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak_learning_rate`, then cosine decay to `final_learning_rate`.

    Args:
        peak_learning_rate: rate reached at the end of the warmup.
        total_steps: steps of the whole schedule; past them the rate stays at `final_learning_rate`.
        warmup_steps: steps of the linear warmup.
        final_learning_rate: rate at `total_steps`.

    Example:
        >>> schedule = WarmupCosineDecay(1e-3, total_steps=1000, warmup_steps=100)
        >>> float(schedule(100))
        0.001
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, final_learning_rate=0.0):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise KerasViTError(
                f"Need 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}.")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_learning_rate = float(final_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak_learning_rate * step / max(self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decayed = self.final_learning_rate + (self.peak_learning_rate - self.final_learning_rate) * cosine
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
        }
