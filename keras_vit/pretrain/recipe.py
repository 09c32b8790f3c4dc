"""The default hyper-parameters of masked-image pretraining, from the MAE paper (fine-tuning's:
`keras_vit.finetuning`).

He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners", appendix A.1: AdamW with beta2 0.95
(`MAE_BETA_2`), base learning rate 1.5e-4 x batch / 256, weight decay 0.05, 40 warmup epochs, 800 epochs (1600 for
the best figures), mask ratio 0.75, random-resized-crop augmentation only (here "light": reflect-padded random crop
and flip).

The small presets (nano, micro) keep their own recipe's augmentation ("shift": flips and crops hurt digits) and,
for runs of minutes rather than days, their own epochs, warmup, and learning rate (1e-3 x batch / 64).
"""

import dataclasses

from keras_vit.training.recipes import is_small, recommended_recipe

MAE_BETA_2 = 0.95  # Adam's second-moment decay in MAE pretraining (appendix A.1)


def pretraining_recipe(model):
    """The `Recipe` `pretrain` uses by default for preset `model`.

    Example:
        >>> pretraining_recipe("vit_base_patch16_224").learning_rate(4096)
        0.0024
    """
    recipe = recommended_recipe(model)
    if is_small(model):
        return dataclasses.replace(recipe, name="mae-small", label_smoothing=0.0, drop_path_rate=0.0)
    return dataclasses.replace(recipe, name="mae", base_learning_rate=1.5e-4, base_batch_size=256, epochs=800,
                               warmup_epochs=40, weight_decay=0.05, augment="light", label_smoothing=0.0,
                               drop_path_rate=0.0, clip_norm=None)
