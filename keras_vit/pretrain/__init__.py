"""Masked-image pretraining (MAE, He et al. 2021): masking, the autoencoder, its loss, `pretrain`.

Example:
    >>> result = keras_vit.pretrain("vit_nano_patch4_28", dataset="digits", epochs=10)
    >>> result.encoder_path
    PosixPath('runs/vit_nano_patch4_28_mae_digits/encoder.keras')
"""

from keras_vit.pretrain.autoencoder import MaskedAutoencoder, build_mae, decoder_defaults
from keras_vit.pretrain.encoder_weights import load_encoder_weights
from keras_vit.pretrain.loss import masked_reconstruction_loss
from keras_vit.pretrain.mask_tokens import MaskTokens
from keras_vit.pretrain.masking import RandomMasking, visible_count
from keras_vit.pretrain.pretrainer import ENCODER_FILE, PretrainResult, pretrain
from keras_vit.pretrain.recipe import default_layer_decay, finetuning_recipe, pretraining_recipe
