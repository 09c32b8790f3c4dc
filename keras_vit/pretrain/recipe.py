"""The default hyper-parameters of masked-image pretraining and of fine-tuning, from the MAE paper.

He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners":

- Pretraining (appendix A.1): AdamW with beta2 0.95 (`MAE_BETA_2`), base learning rate
  1.5e-4 x batch / 256, weight decay 0.05, 40 warmup epochs, 800 epochs (1600 for the best figures), mask ratio
  0.75, random-resized-crop augmentation only (here "light": reflect-padded random crop and flip).
- Fine-tuning (appendix A.2, ViT-B): base learning rate 5e-4 x batch / 256, layer-wise decay 0.65 (0.75 for L and
  H), weight decay 0.05, 5 warmup epochs, 100 epochs (50 for L and H), drop path 0.1 (0.2 for L and H), label
  smoothing 0.1, RandAugment + MixUp + CutMix ("deit").
- Linear probing (appendix A.3): LARS, base learning rate 0.1 x batch / 256, no weight decay, 90 epochs; here
  AdamW at 1e-3 x batch / 256 without weight decay (LARS is not in Keras), the encoder frozen.

Swin and PVT presets take the ViT-B fine-tuning recipe above, with their own layer-wise decay
(`default_layer_decay`). SimMIM (Xie et al. 2022, microsoft/SimMIM) fine-tunes its Swin-B close to it: 1.25e-3 x
batch / 512, 100 epochs, weight decay 0.05, drop path 0.1, but 20 warmup epochs.

The small presets (nano, micro) keep their own recipe's augmentation ("shift": flips and crops hurt digits) and,
for runs of minutes rather than days, their own epochs, warmup, and learning rate (pretraining: 1e-3 x batch / 64;
fine-tuning: half of it, 5e-4 x batch / 64) with the decays above.
"""

import dataclasses
import re

from keras_vit.training.recipes import recommended_recipe

MAE_BETA_2 = 0.95  # Adam's second-moment decay in MAE pretraining (appendix A.1)


def _small(model):
    return recommended_recipe(model).name in ("small", "small_conv")


def _large(model):
    return bool(re.match(r"^vit_(large|huge)_", model))


def pretraining_recipe(model):
    """The `Recipe` `pretrain` uses by default for preset `model`.

    Example:
        >>> pretraining_recipe("vit_base_patch16_224").learning_rate(4096)
        0.0024
    """
    recipe = recommended_recipe(model)
    if _small(model):
        return dataclasses.replace(recipe, name="mae-small", label_smoothing=0.0, drop_path_rate=0.0)
    return dataclasses.replace(recipe, name="mae", base_learning_rate=1.5e-4, base_batch_size=256, epochs=800,
                               warmup_epochs=40, weight_decay=0.05, augment="light", label_smoothing=0.0,
                               drop_path_rate=0.0, clip_norm=None)


def finetuning_recipe(model, linear_probe=False):
    """The `Recipe` `finetune` uses by default for preset `model` (or its linear probe).

    Example:
        >>> finetuning_recipe("vit_base_patch16_224").learning_rate(1024)
        0.002
    """
    recipe = recommended_recipe(model)
    if linear_probe:
        return dataclasses.replace(recipe, name="linear-probe", base_learning_rate=1e-3, base_batch_size=256,
                                   weight_decay=0.0, label_smoothing=0.0, drop_path_rate=0.0, augment="none",
                                   epochs=90 if not _small(model) else recipe.epochs, clip_norm=None)
    if _small(model):
        return dataclasses.replace(recipe, name="finetune-small", base_learning_rate=recipe.base_learning_rate / 2)
    return dataclasses.replace(recipe, name="finetune", base_learning_rate=5e-4, base_batch_size=256,
                               epochs=50 if _large(model) else 100, warmup_epochs=5, weight_decay=0.05,
                               label_smoothing=0.1, augment="deit", drop_path_rate=0.2 if _large(model) else 0.1,
                               clip_norm=None)


def default_layer_decay(model):
    """The layer-wise learning-rate decay `finetune` uses by default for preset `model`.

    - ViT: MAE's (appendix A.2), 0.75 for ViT-L and ViT-H, 0.65 for the others.
    - Swin and Swin V2: 0.9, SimMIM's for Swin-B (microsoft/SimMIM,
      configs/swin_base__100ep/simmim_finetune__swin_base__img224_window7__100ep.yaml: LAYER_DECAY 0.9), taken for
      every size; the blocks are numbered over all stages (`layer_decay_scales_of`).
    - PVT v1 and v2: 1 (no decay): no reference fine-tuning recipe with layer-wise decay was found for them (the
      PVT papers and their repository train from scratch on ImageNet); pass `layer_decay` to use one.
    - The small presets (nano, micro, any family): 1. They have 4 to 6 blocks: measured with
      `benchmarks/pretrain_finetune.py` on the digits (ViT nano, 20 pretraining + 10 fine-tuning epochs, one seed),
      decay 0.65 gave 83.6% test accuracy, 0.85 gave 90.3% and 1.0 (no decay) 92.5%, against 92.2% from scratch.

    Example:
        >>> default_layer_decay("vit_large_patch16_224")
        0.75
        >>> default_layer_decay("swin_tiny_patch4_window7_224"), default_layer_decay("pvt_v2_b2")
        (0.9, 1.0)
    """
    if _small(model) or model.startswith("pvt"):
        return 1.0
    if re.match(r"^swin(v2)?_", model):
        return 0.9
    return 0.75 if _large(model) else 0.65
