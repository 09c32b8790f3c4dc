"""Training: optimizer, learning-rate schedule, layer-wise decay, and the `train` entry point (`finetune`: in
`keras_vit.finetuning`, which builds on this package and `keras_vit.pretrain`)."""

from keras_vit.lazy import lazy_names

__getattr__, __dir__ = lazy_names(__name__, {  # imported on first use: `training.schedules` alone stays light
    "LayerDecayAdamW": "keras_vit.training.layer_decay:LayerDecayAdamW",
    "layer_decay_scales": "keras_vit.training.layer_decay:layer_decay_scales",
    "layer_decay_scales_of": "keras_vit.training.layer_decay:layer_decay_scales_of",
    "MultiWorkerModel": "keras_vit.distribute:MultiWorkerModel",
    "NO_WEIGHT_DECAY": "keras_vit.training.optimizer:NO_WEIGHT_DECAY",
    "build_optimizer": "keras_vit.training.optimizer:build_optimizer",
    "PRECISIONS": "keras_vit.training.precision:PRECISIONS",
    "precision_scope": "keras_vit.training.precision:precision_scope",
    "Recipe": "keras_vit.training.recipes:Recipe",
    "Run": "keras_vit.training.run:Run",
    "RunConfig": "keras_vit.training.run:RunConfig",
    "recommended_recipe": "keras_vit.training.recipes:recommended_recipe",
    "WarmupCosineDecay": "keras_vit.training.schedules:WarmupCosineDecay",
    "STRATEGIES": "keras_vit.distribute:STRATEGIES",
    "make_strategy": "keras_vit.distribute:make_strategy",
    "DEFAULT_MODEL": "keras_vit.training.trainer:DEFAULT_MODEL",
    "TrainResult": "keras_vit.training.trainer:TrainResult",
    "train": "keras_vit.training.trainer:train",
})
