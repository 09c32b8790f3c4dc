"""`pretrain`: masked-image pretraining (MAE) of a ViT preset on the images of a dataset, labels ignored."""

import dataclasses
import pathlib

import keras
import numpy as np

from keras_vit.atomic_files import atomic_write
from keras_vit.data import DEFAULT_DATASET, make_augmentation, split_images
from keras_vit.models import preset_config
from keras_vit.models.vit import image_size_pair
from keras_vit.pretrain.autoencoder import build_mae
from keras_vit.pretrain.recipe import MAE_BETA_2, pretraining_recipe
from keras_vit.training.precision import check_precision, precision_scope
from keras_vit.training.run_folder import finish_run
from keras_vit.training.trainer import DEFAULT_MODEL, RunFiles, RunOptions, start_run
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


def pretrain(model=DEFAULT_MODEL, dataset=DEFAULT_DATASET, data_dir=None, epochs=None, batch_size=None,
             learning_rate=None, weight_decay=None, warmup_epochs=None, augment=None, clip_norm=None,
             mask_ratio=0.75, norm_pix_loss=False, decoder_dim=None, decoder_depth=None, output_dir=None, seed=0,
             precision="float32", strategy="auto", tpu=None, jit_compile=True, steps_per_execution=8, verbose=1,
             validation_dir=None, skip_corrupt=False, cache="auto", data_service=None, idx_dir=None,
             tfds_data_dir=None, overwrite=False, backup_interval=30.0, time_budget=None, test_dir=None,
             **model_overrides):
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
        dataset, data_dir, validation_dir, test_dir, skip_corrupt, cache, data_service, idx_dir, tfds_data_dir: the
            images, as in `train`.
        epochs, batch_size, learning_rate, weight_decay, warmup_epochs, augment, clip_norm: as in `train`; None
            takes `pretraining_recipe(model)`'s (MAE appendix A.1, scaled for small presets).
        mask_ratio: share of each image's patches removed.
        norm_pix_loss: compare predictions with per-patch normalised pixels (MAE's best setting for fine-tuning).
        decoder_dim: decoder width (default: `decoder_defaults`: 512 for Base and larger, else the encoder's width,
            at least 128).
        decoder_depth: decoder blocks (default: 8 for Base and larger, else half the encoder's depth, at least 2).
        output_dir: the output folder; default runs/<model>_mae_<dataset>.
        seed, precision, strategy, tpu, jit_compile, steps_per_execution, verbose, overwrite, backup_interval,
            time_budget: as in `train`.
        **model_overrides: builder arguments replacing the preset's.

    Returns:
        PretrainResult.

    Raises:
        KerasViTError: a Swin preset, bad arguments or data, an output folder of another run, or a NaN loss.

    Example:
        >>> result = keras_vit.pretrain("vit_nano_patch4_28", dataset="fashion_mnist", epochs=20)
        >>> finetuned = keras_vit.finetune(result.output_dir, dataset="fashion_mnist", epochs=10)
    """
    check_precision(precision)
    config = preset_config(model, **model_overrides)
    recipe = pretraining_recipe(model).fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, augment=augment, clip_norm=clip_norm)
    recipe["augment"] = recipe["augment"] if isinstance(recipe["augment"], str) else type(augment).__name__
    decoder = dict(mask_ratio=mask_ratio, norm_pix_loss=norm_pix_loss, decoder_dim=decoder_dim,
                   decoder_depth=decoder_depth)
    options = RunOptions.pick(locals())
    run = start_run(f"{model}_mae", options, dict(model=model, **recipe, **decoder, model_overrides=model_overrides),
                    recipe["epochs"], recipe["batch_size"], image_size_pair(config["image_size"]),
                    config.get("channels", 3))
    data = run.data
    augmentation = augment if callable(augment) else make_augmentation(recipe["augment"], seed=seed)
    with run.strategy.scope():
        with precision_scope(run.precision):
            autoencoder, encoder = build_mae(
                model, seed=seed, **decoder,
                **{"drop_path_rate": 0.0, **model_overrides, "image_size": data.image_shape[:2],
                   "channels": data.image_shape[2]})
        autoencoder.compile(optimizer=run.optimizer(recipe, beta_2=MAE_BETA_2), jit_compile=run.jit_compile,
                            steps_per_execution=run.steps_per_execution)

    run.report(autoencoder, {**recipe, **decoder})

    def images(split, training=False):
        return run.batches(split, training, augmentation).map(lambda pixels, labels: pixels)

    history = run.fit(autoencoder, images(data.train, training=True),
                      None if data.validation is None else images(data.validation))
    result = PretrainResult(autoencoder, encoder, history, run.run_dir)
    with atomic_write(result.encoder_path) as temporary:
        encoder.save(temporary)
    result.plot_curves(f"{model} masked-image pretraining on {options.source}")
    shown = data.test if data.sizes["test"] else data.train
    sample = np.stack([pixels for pixels, _ in split_images(shown).take(6).as_numpy_iterator()]).astype("float32")
    with atomic_write(result.reconstruction_path) as temporary:
        plot_reconstruction(autoencoder, sample, temporary,
                            title=f"mask ratio {mask_ratio}, {len(history.get('loss', []))} epochs")
    finish_run(run.run_dir, [result.encoder_path, result.curves_path, result.reconstruction_path])
    return result
