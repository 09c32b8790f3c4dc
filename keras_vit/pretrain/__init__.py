"""Masked-image pretraining (MAE, He et al. 2021): masking, the autoencoder, its loss, `pretrain` (fine-tuning its
encoder: `keras_vit.finetuning`).

Example:
    >>> result = keras_vit.pretrain("vit_nano_patch4_28", dataset="digits", epochs=10)
    >>> result.encoder_path
    PosixPath('runs/vit_nano_patch4_28_mae_digits/encoder.keras')
"""

from keras_vit.lazy import lazy_names

__getattr__, __dir__ = lazy_names(__name__, {  # imported on first use: `pretrain.masking` alone stays light
    "MaskedAutoencoder": "keras_vit.pretrain.autoencoder:MaskedAutoencoder",
    "build_mae": "keras_vit.pretrain.autoencoder:build_mae",
    "decoder_defaults": "keras_vit.pretrain.autoencoder:decoder_defaults",
    "masked_reconstruction_loss": "keras_vit.pretrain.loss:masked_reconstruction_loss",
    "MaskTokens": "keras_vit.pretrain.mask_tokens:MaskTokens",
    "RandomMasking": "keras_vit.pretrain.masking:RandomMasking",
    "visible_count": "keras_vit.pretrain.masking:visible_count",
    "ENCODER_FILE": "keras_vit.pretrain.pretrainer:ENCODER_FILE",
    "PretrainResult": "keras_vit.pretrain.pretrainer:PretrainResult",
    "pretrain": "keras_vit.pretrain.pretrainer:pretrain",
    "pretraining_recipe": "keras_vit.pretrain.recipe:pretraining_recipe",
})
