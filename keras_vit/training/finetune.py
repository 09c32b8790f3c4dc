"""`finetune`: a classifier (ViT, Swin, PVT) started from pretrained weights, trained with layer-wise learning-rate
decay."""

import json
import pathlib

import keras

from keras_vit.data import DEFAULT_DATASET
from keras_vit.errors import KerasViTError
from keras_vit.models import create_model, preset_config
from keras_vit.pretrain.encoder_weights import load_encoder_weights
from keras_vit.pretrain.pretrainer import ENCODER_FILE
from keras_vit.pretrain.recipe import default_layer_decay, finetuning_recipe
from keras_vit.training.layer_decay import check_layer_decay, layer_decay_scales_of, with_layer_decay
from keras_vit.training.precision import check_precision
from keras_vit.training.run_folder import RUN_FILE
from keras_vit.training.trainer import RunOptions, fit_classifier
from keras_vit.weights import create_pretrained
from keras_vit.weights.published import PUBLISHED


def finetune(pretrained, model=None, dataset=DEFAULT_DATASET, data_dir=None, epochs=None, batch_size=None,
             learning_rate=None, layer_decay=None, linear_probe=False, weight_decay=None, warmup_epochs=None,
             label_smoothing=None, augment=None, drop_path_rate=None, clip_norm=None, ema_momentum=None,
             output_dir=None, seed=0, precision="float32", strategy="auto", tpu=None, jit_compile=True,
             steps_per_execution=8, verbose=1, validation_dir=None, skip_corrupt=False, cache="auto",
             data_service=None, idx_dir=None, tfds_data_dir=None, overwrite=False, backup_interval=30.0,
             time_budget=None, test_dir=None, **model_overrides):
    """Fine-tunes (or linearly probes) a pretrained ViT, Swin or PVT as a classifier of a dataset's classes.

    The classifier is the preset's, at the data's image size (position embeddings resampled when the token grid
    changes), with a new head for the dataset's classes; every other weight comes from `pretrained`. The learning
    rate decays layer by layer (BEiT, MAE): the head and final norm get the full rate, block k of L (numbered over
    all stages of a Swin or PVT) gets `layer_decay` ** (L - k), the first patch embedding `layer_decay` ** (L + 1),
    a layer between stages (Swin's patch merging, PVT's patch and position embeddings of stage s > 0) the rate of
    the first block of the stage it feeds, for the Adam update and the weight decay alike
    (`keras_vit.training.layer_decay.layer_decay_scales_of`). With `linear_probe`, only the head trains. Defaults:
    MAE's recipe (`keras_vit.pretrain.finetuning_recipe`). The rest works as in `train` (same output folder,
    resume, result).

    Args:
        pretrained: a `pretrain` output folder or its encoder.keras (ViT presets only: masked-image pretraining is
            ViT-only), a .keras classifier or encoder of a preset (e.g. a `train` output's model.keras), or a
            published checkpoint (name from `keras_vit.weights.list_pretrained()`, or a .safetensors / .npz file).
        model: the preset; default: from the run.json beside `pretrained`, or the published checkpoint's.
        layer_decay: layer-wise learning-rate decay in (0, 1]; 1 for none (default: `default_layer_decay(model)`:
            0.65, 0.75 for ViT-L/H, 0.9 for Swin, 1 for PVT and for the nano/micro presets).
        linear_probe: freeze everything but the head (AdamW without weight decay in place of MAE's LARS).
        dataset, data_dir, ..., backup_interval, time_budget: as in `train`; the training arguments left as None take the
            fine-tuning recipe's.
        **model_overrides: builder arguments replacing the preset's (e.g. image_size for an image folder).

    Returns:
        `TrainResult`.

    Raises:
        KerasViTError: `pretrained` not found or not fitting the preset (a pretraining's encoder for a Swin or PVT
            preset), bad arguments or data.

    Example:
        >>> result = keras_vit.finetune("runs/vit_nano_patch4_28_mae_digits", dataset="digits", epochs=10)
        >>> print(f"{result.test_accuracy:.3f}")
        >>> swin = keras_vit.finetune("runs/swin_digits/model.keras", dataset="digits", epochs=10, layer_decay=0.9)
    """
    check_precision(precision)
    source, model = _resolve(pretrained, model)
    config = preset_config(model, **model_overrides)
    if source is not None and source.name == ENCODER_FILE and config["architecture"] != "vit":
        raise KerasViTError(f"pretrained='{pretrained}' is a masked-image pretraining's encoder, which is ViT-only, "
                            f"but model='{model}' is a {config['architecture']} preset: pass a .keras classifier of "
                            f"the preset (e.g. a train output's model.keras) or a checkpoint file.")
    layer_decay = check_layer_decay(default_layer_decay(model) if layer_decay is None else layer_decay)
    recipe = finetuning_recipe(model, linear_probe).fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, augment=augment,
        drop_path_rate=drop_path_rate, clip_norm=clip_norm)
    options = RunOptions.pick(locals())

    def network(image_size, channels, num_classes):
        arguments = {**model_overrides, "image_size": image_size, "channels": channels, "num_classes": num_classes,
                     "drop_path_rate": recipe["drop_path_rate"]}
        if source is None:
            classifier = create_pretrained(pretrained, preset=model, head="new", **arguments)
        else:
            classifier = create_model(model, **arguments)
            load_encoder_weights(classifier, keras.saving.load_model(source, safe_mode=True))
        for layer in classifier.layers:
            layer.trainable = layer.name == "head" or not linear_probe
        return classifier

    return fit_classifier(model, config, recipe, network, options, ema_momentum=ema_momentum, augment=augment,
                          arguments=dict(pretrained=str(pretrained), layer_decay=layer_decay, linear_probe=linear_probe,
                                         model_overrides=model_overrides),
                          wrap_optimizer=lambda optimizer, classifier: with_layer_decay(
                              optimizer, layer_decay_scales_of(classifier, layer_decay)))


def _resolve(pretrained, model):
    """(the .keras file to load or None for a published checkpoint, the preset) of `pretrained`."""
    path = pathlib.Path(pretrained)
    if path.is_dir():
        if not (path / ENCODER_FILE).is_file():
            raise KerasViTError(f"pretrained='{path}' is a folder without {ENCODER_FILE}: pass a pretrain output folder.")
        path = path / ENCODER_FILE
    if path.suffix == ".keras":
        if not path.is_file():
            raise KerasViTError(f"pretrained='{path}': no such file.")
        run_file = path.parent / RUN_FILE
        model = model or (json.loads(run_file.read_text()).get("model") if run_file.is_file() else None)
        if model is None:
            raise KerasViTError(f"No run.json beside '{path}' names its preset: pass model=PRESET.")
        return path, model
    published = PUBLISHED.get(str(pretrained))
    if published is None and not path.is_file():
        raise KerasViTError(f"pretrained='{pretrained}' is neither a folder, a file, nor a published checkpoint name "
                            f"(see `keras-vit models --pretrained`).")
    model = model or (published.preset if published else None)
    if model is None:
        raise KerasViTError(f"Pass the preset of checkpoint '{pretrained}' as model=PRESET.")
    return None, model
