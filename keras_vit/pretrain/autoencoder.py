"""The masked autoencoder: a ViT encoder that sees the kept patches only, and a light decoder for all patches."""

import keras
import tensorflow as tf

from keras_vit.distribute import MultiWorkerModel
from keras_vit.errors import KerasViTError
from keras_vit.layers import TransformerBlock
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.models import create_model, preset_config
from keras_vit.pretrain.loss import masked_reconstruction_loss
from keras_vit.pretrain.mask_tokens import MaskTokens
from keras_vit.pretrain.masking import RandomMasking


class MaskedAutoencoder(MultiWorkerModel):
    """A functional model of images -> {"predictions", "target", "mask"} whose loss is `masked_reconstruction_loss`.

    `fit` takes images alone (labels, if any, are ignored). Built by `build_mae`; a `MultiWorkerModel`, so it also
    trains under a multi-worker strategy.

    Args:
        inputs: the image input.
        outputs: dict with "predictions" and "target" (batch, num_patches, patch_dim) and "mask" (batch, num_patches).
        norm_pix_loss: see `masked_reconstruction_loss`.

    Example:
        >>> autoencoder, encoder = build_mae("vit_nano_patch4_28", image_size=8)
        >>> autoencoder.compile(optimizer="adam")
        >>> autoencoder.fit(images, epochs=1)
    """

    def __init__(self, inputs, outputs, norm_pix_loss=False, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.norm_pix_loss = bool(norm_pix_loss)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = masked_reconstruction_loss(y_pred["target"], y_pred["predictions"], y_pred["mask"],
                                          self.norm_pix_loss)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync  # gradients are summed over the replicas
        return loss / replicas if replicas > 1 else loss


def decoder_defaults(embed_dim, depth):
    """(width, depth) of the default decoder: MAE's 512 x 8 for encoders of width 768 and more; for smaller ones,
    the encoder's width (at least 128) and half its depth (at least 2).

    Example:
        >>> decoder_defaults(192, 12)
        (192, 6)
    """
    if embed_dim >= 768:
        return 512, 8
    return max(128, embed_dim), max(2, depth // 2)


def build_mae(model, mask_ratio=0.75, decoder_dim=None, decoder_depth=None, decoder_num_heads=None,
              norm_pix_loss=False, seed=None, **overrides):
    """Builds the masked autoencoder of ViT preset `model` and the encoder it trains.

    The encoder is `create_model(model, include_top=False, **overrides)`; the autoencoder calls its own layers
    (`normalize`, `patches`, `patch_encoder`, `embedding_dropout`, `block_i`, `norm`), so training the autoencoder
    trains the encoder, whose weights then load into a classifier of the same preset. The patches are projected
    and given their position embeddings (and the class token, if the preset has one); `RandomMasking` keeps
    floor(num_patches * (1 - mask_ratio)) of them per image (at least 1), which alone pass the blocks. The decoder
    (`decoder_embed`, `mask_tokens`, `decoder_block_i`, `decoder_norm`, `decoder_prediction`) projects them to its
    own width, adds a mask token at every removed patch and its own position embeddings, and predicts the pixels
    of every patch, as the model normalises them.

    Args:
        model: a ViT preset name (Swin is not supported).
        mask_ratio: share of patches removed from each image.
        decoder_dim: decoder width (default: `decoder_defaults`).
        decoder_depth: decoder blocks (default: `decoder_defaults`).
        decoder_num_heads: decoder attention heads (default: one per 32 channels).
        norm_pix_loss: the loss compares with per-patch normalised pixels.
        seed: seed of the masks.
        **overrides: builder arguments of the encoder (image_size, channels, drop_path_rate, ...).

    Returns:
        (autoencoder, encoder): a `MaskedAutoencoder` and the `keras.Model` of the encoder (pooled features).

    Example:
        >>> autoencoder, encoder = build_mae("vit_nano_patch4_28", mask_ratio=0.75)
        >>> autoencoder(np.zeros((2, 28, 28, 1)))["predictions"].shape  # 49 patches of 4 x 4 x 1 pixels
        TensorShape([2, 49, 16])
    """
    config = preset_config(model, **overrides)
    if config["architecture"] != "vit":
        raise KerasViTError(f"Masked-image pretraining supports ViT presets only; '{model}' is a "
                            f"{config['architecture']}. Choose a vit_* preset.")
    if config.get("conv_stem"):
        raise KerasViTError(f"Masked-image pretraining needs ViT's patch projection; '{model}' has a convolutional "
                            f"stem, whose 3x3 convolutions would show the encoder pixels of masked patches. Choose "
                            f"a vit_* preset.")
    encoder = create_model(model, **{**overrides, "include_top": False})
    layer = {item.name: item for item in encoder.layers}
    default_dim, default_depth = decoder_defaults(config["embed_dim"], config["depth"])
    decoder_dim, decoder_depth = decoder_dim or default_dim, decoder_depth or default_depth
    patch_encoder = layer["patch_encoder"]
    prefix = patch_encoder.num_prefix_tokens

    images = keras.Input(encoder.input_shape[1:], name="images")
    patches = layer["patches"](layer["normalize"](images))
    tokens, mask, restore = RandomMasking(mask_ratio, prefix, seed=seed, name="masking")(patch_encoder(patches))
    tokens = layer["embedding_dropout"](tokens)
    for index in range(config["depth"]):
        tokens = layer[f"block_{index}"](tokens)
    tokens = layer["norm"](tokens)
    tokens = keras.layers.Dense(decoder_dim, name="decoder_embed")(tokens)
    tokens = MaskTokens(patch_encoder.num_patches, prefix, name="mask_tokens")([tokens, restore])
    for index in range(decoder_depth):
        tokens = TransformerBlock(decoder_num_heads or max(1, decoder_dim // 32), 4 * decoder_dim,
                                  name=f"decoder_block_{index}")(tokens)
    tokens = LayerNorm(epsilon=1e-6, name="decoder_norm")(tokens)
    predictions = keras.layers.Dense(patches.shape[-1], dtype="float32", name="decoder_prediction")(
        tokens[:, prefix:])
    autoencoder = MaskedAutoencoder(images, {"predictions": predictions, "target": patches, "mask": mask},
                                    norm_pix_loss=norm_pix_loss, name=f"{model}_mae")
    return autoencoder, encoder
