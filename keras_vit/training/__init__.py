"""Training: optimizer, learning-rate schedule, layer-wise decay, and the `train` entry point (`finetune`: in
`keras_vit.training.finetune`, which builds on `keras_vit.pretrain`)."""

from keras_vit.training.layer_decay import LayerDecayAdamW, layer_decay_scales
from keras_vit.training.multi_worker_model import MultiWorkerModel
from keras_vit.training.optimizer import NO_WEIGHT_DECAY, build_optimizer
from keras_vit.training.precision import PRECISIONS, precision_scope
from keras_vit.training.recipes import Recipe, recommended_recipe
from keras_vit.training.schedules import WarmupCosineDecay
from keras_vit.training.strategy import STRATEGIES, make_strategy
from keras_vit.training.trainer import DEFAULT_MODEL, TrainResult, train
