"""`pretrain`: masked-image pretraining (MAE) of a ViT preset on the images of a dataset, labels ignored."""

import dataclasses
import pathlib

import keras
import numpy as np

from keras_vit.atomic_files import atomic_write
from keras_vit.data import split_images
from keras_vit.models import preset_config
from keras_vit.models.vit import image_size_pair
from keras_vit.pretrain.autoencoder import build_mae
from keras_vit.pretrain.recipe import MAE_BETA_2, pretraining_recipe
from keras_vit.training.run import Run, as_recorded, run_options
from keras_vit.training.trainer import DEFAULT_MODEL, RunFiles
from keras_vit.viz.reconstruction import plot_reconstruction

ENCODER_FILE = "encoder.keras"


@dataclasses.dataclass
class PretrainResult(RunFiles):
    """What `pretrain` hands back: the autoencoder, its encoder, the history and the files it wrote."""

    autoencoder: keras.Model
    encoder: keras.Model
    history: dict
    output_dir: pathlib.Path

    @property
    def encoder_path(self):
        return self.output_dir / ENCODER_FILE

    @property
    def reconstruction_path(self):
        return self.output_dir / "reconstruction.png"


def pretrain(model=DEFAULT_MODEL, data=None, run=None, epochs=None, batch_size=None, learning_rate=None,
             weight_decay=None, warmup_epochs=None, augment=None, clip_norm=None, mask_ratio=0.75,
             norm_pix_loss=False, decoder_dim=None, decoder_depth=None, **options):
    """Pretrains the encoder of ViT preset `model` as a masked autoencoder (He et al. 2021) on a dataset's images.

    Each image loses `mask_ratio` of its patches at random (it keeps floor(num_patches * (1 - mask_ratio)), at
    least 1, a new draw every step); the encoder sees the kept patches only, and a light decoder predicts the pixels
    of every patch. The loss is the mean squared error over the removed patches (see `build_mae`). Labels are
    ignored. Data sources, strategies, precision, the output folder and resuming work as in `train`.

    The output folder holds run.json, encoder.keras (the encoder: `create_model(model, include_top=False)` with the
    pretrained weights; `finetune` loads it into a classifier), history.csv (loss, val_loss), TensorBoard logs,
    training_curves.png and reconstruction.png (test images: original, masked, reconstructed), each written
    atomically; the backup is deleted once they are in place.

    Args:
        model: a ViT preset name (Swin is not supported).
        data: the images, a `keras_vit.DataSpec` or a dataset name, as in `train`.
        run: a `keras_vit.RunConfig`, as in `train`; its default output folder is runs/<model>_mae_<dataset>.
        epochs, batch_size, learning_rate, weight_decay, warmup_epochs, augment, clip_norm: as in `train`; None
            takes `pretraining_recipe(model)`'s (MAE appendix A.1, scaled for small presets).
        mask_ratio: share of each image's patches removed.
        norm_pix_loss: compare predictions with per-patch normalised pixels (MAE's best setting for fine-tuning).
        decoder_dim: decoder width (default: `decoder_defaults`: 512 for Base and larger, else the encoder's width,
            at least 128).
        decoder_depth: decoder blocks (default: 8 for Base and larger, else half the encoder's depth, at least 2).
        **options: as in `train`: shortcuts of `DataSpec` and `RunConfig` fields (`dataset=`, `output_dir=`, ...),
            else builder arguments replacing the preset's.

    Returns:
        PretrainResult.

    Raises:
        KerasViTError: a Swin preset, bad arguments or data, an output folder of another run, or a NaN loss.

    Example:
        >>> result = keras_vit.pretrain("vit_nano_patch4_28", dataset="fashion_mnist", epochs=20)
        >>> finetuned = keras_vit.finetune(result.output_dir, dataset="fashion_mnist", epochs=10)
    """
    spec, config, model_overrides = run_options(data, run, options, epochs)
    preset = preset_config(model, **model_overrides)
    source_recipe = pretraining_recipe(model)
    recipe = source_recipe.fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, augment=augment, clip_norm=clip_norm)
    decoder = dict(mask_ratio=mask_ratio, norm_pix_loss=norm_pix_loss, decoder_dim=decoder_dim,
                   decoder_depth=decoder_depth)
    run = Run(f"{model}_mae", spec, config,
              dict(model=model, **as_recorded(recipe), **decoder, model_overrides=model_overrides),
              recipe["epochs"], recipe["batch_size"])
    data = run.load_data(image_size_pair(preset["image_size"]), preset.get("channels", 3))
    augmentation = run.augmentation(recipe["augment"])
    with run.building():
        autoencoder, encoder = build_mae(
            model, seed=config.seed, **decoder,
            **{"drop_path_rate": 0.0, **model_overrides, "image_size": data.image_shape[:2],
               "channels": data.image_shape[2]})
    warmup_share = None if warmup_epochs is not None else source_recipe.warmup_share
    trained = run.compile(autoencoder, run.optimizer(recipe, beta_2=MAE_BETA_2, warmup_share=warmup_share))
    run.report(autoencoder, {**as_recorded(recipe), **decoder})

    def images(split, training=False):
        return run.batches(split, training, augmentation).map(lambda pixels, labels: pixels)

    history = run.fit(trained, images(data.train, training=True),
                      None if data.validation is None else images(data.validation))
    result = PretrainResult(autoencoder, encoder, history, run.run_dir)
    with atomic_write(result.encoder_path) as temporary:
        encoder.save(temporary)
    result.plot_curves(f"{model} masked-image pretraining on {spec.source}")
    shown = data.test if data.sizes["test"] else data.train
    sample = np.stack([pixels for pixels, _ in split_images(shown).take(6).as_numpy_iterator()]).astype("float32")
    with atomic_write(result.reconstruction_path) as temporary:
        plot_reconstruction(autoencoder, sample, temporary,
                            title=f"mask ratio {mask_ratio}, {len(history.get('loss', []))} epochs")
    run.finish([result.encoder_path, result.curves_path, result.reconstruction_path])
    return result
