"""Fine-tuning: `finetune` (a classifier started from pretrained weights, trained with layer-wise learning-rate
decay), its default recipe (`finetuning_recipe`, `default_layer_decay`) and the loading of an encoder into a
classifier (`load_encoder_weights`). Built on `keras_vit.training` (the run) and `keras_vit.pretrain` (its encoder).

The default hyper-parameters come from the MAE paper (He et al. 2021, "Masked Autoencoders Are Scalable Vision
Learners"):

- Fine-tuning (appendix A.2, ViT-B): base learning rate 5e-4 x batch / 256, layer-wise decay 0.65 (0.75 for L and
  H), weight decay 0.05, 5 warmup epochs, 100 epochs (50 for L and H), drop path 0.1 (0.2 for L and H), label
  smoothing 0.1, RandAugment + MixUp + CutMix ("deit").
- Linear probing (appendix A.3): LARS, base learning rate 0.1 x batch / 256, no weight decay, 90 epochs; here
  AdamW at 1e-3 x batch / 256 without weight decay (LARS is not in Keras), the encoder frozen.

Swin and PVT presets take the ViT-B fine-tuning recipe above, with their own layer-wise decay
(`default_layer_decay`). SimMIM (Xie et al. 2022, microsoft/SimMIM) fine-tunes its Swin-B close to it: 1.25e-3 x
batch / 512, 100 epochs, weight decay 0.05, drop path 0.1, but 20 warmup epochs.

The small presets (nano, micro) keep their own recipe's augmentation ("shift": flips and crops hurt digits),
epochs and warmup, at half their learning rate (5e-4 x batch / 64), with the decays above.

Example:
    >>> encoder = keras_vit.pretrain("vit_nano_patch4_28", dataset="digits", epochs=10).output_dir
    >>> result = finetune(encoder, dataset="digits", epochs=10)
    >>> finetuning_recipe("vit_base_patch16_224").learning_rate(1024), default_layer_decay("vit_base_patch16_224")
    (0.002, 0.65)
"""

import dataclasses
import pathlib
import re

from keras_vit.errors import KerasViTError
from keras_vit.models import create_model, load_image_model, model_metadata, preset_config
from keras_vit.models.vit import image_size_pair
from keras_vit.pretrain.pretrainer import ENCODER_FILE
from keras_vit.training.layer_decay import check_layer_decay, layer_decay_scales_of, with_layer_decay
from keras_vit.training.recipes import is_small, recommended_recipe
from keras_vit.training.run import Run, as_recorded, run_options
from keras_vit.training.trainer import compile_classifier, fit_classifier
from keras_vit.weights import create_pretrained
from keras_vit.weights.published import PUBLISHED


def finetune(pretrained, model=None, data=None, run=None, epochs=None, batch_size=None, learning_rate=None,
             layer_decay=None, linear_probe=False, weight_decay=None, warmup_epochs=None, label_smoothing=None,
             augment=None, drop_path_rate=None, clip_norm=None, ema_momentum=None, **options):
    """Fine-tunes (or linearly probes) a pretrained ViT, Swin or PVT as a classifier of a dataset's classes.

    The classifier is the preset's, at the data's image size (position embeddings resampled when the token grid
    changes), with a new head for the dataset's classes; every other weight comes from `pretrained`. The learning
    rate decays layer by layer (BEiT, MAE): the head and final norm get the full rate, block k of L (numbered over
    all stages of a Swin or PVT) gets `layer_decay` ** (L - k), the first patch embedding `layer_decay` ** (L + 1),
    a layer between stages (Swin's patch merging, PVT's patch and position embeddings of stage s > 0) the rate of
    the first block of the stage it feeds, for the Adam update and the weight decay alike
    (`keras_vit.training.layer_decay.layer_decay_scales_of`). With `linear_probe`, only the head trains. Defaults:
    MAE's recipe (`finetuning_recipe`). The rest works as in `train` (same output folder,
    resume, result).

    Args:
        pretrained: a `pretrain` output folder or its encoder.keras (ViT presets only: masked-image pretraining is
            ViT-only), a .keras classifier or encoder of a preset (e.g. a `train` output's model.keras), or a
            published checkpoint (name from `keras_vit.weights.list_pretrained()`, or a .safetensors / .npz file).
        model: the preset; default: the one a .keras `pretrained` carries (`model_metadata`; for a file of an
            earlier version, the run.json beside it), or the published checkpoint's.
        layer_decay: layer-wise learning-rate decay in (0, 1]; 1 for none (default: `default_layer_decay(model)`:
            0.65, 0.75 for ViT-L/H, 0.9 for Swin, 1 for PVT and for the nano/micro presets).
        linear_probe: freeze everything but the head (AdamW without weight decay in place of MAE's LARS).
        data, run, epochs, batch_size, ..., ema_momentum: as in `train`; the training arguments left as None take
            the fine-tuning recipe's.
        **options: as in `train`: shortcuts of `DataSpec` and `RunConfig` fields, else builder arguments replacing
            the preset's (e.g. image_size for an image folder).

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
    spec, config, model_overrides = run_options(data, run, options, epochs)
    source, loaded, model = _resolve(pretrained, model)
    preset = preset_config(model, **model_overrides)
    if source is not None and source.name == ENCODER_FILE and preset["architecture"] != "vit":
        raise KerasViTError(f"pretrained='{pretrained}' is a masked-image pretraining's encoder, which is ViT-only, "
                            f"but model='{model}' is a {preset['architecture']} preset: pass a .keras classifier of "
                            f"the preset (e.g. a train output's model.keras) or a checkpoint file.")
    layer_decay = check_layer_decay(default_layer_decay(model) if layer_decay is None else layer_decay)
    source_recipe = finetuning_recipe(model, linear_probe)
    recipe = source_recipe.fill(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, augment=augment,
        drop_path_rate=drop_path_rate, clip_norm=clip_norm)
    run = Run(model, spec, config, dict(model=model, **as_recorded(recipe), ema_momentum=ema_momentum,
                                        pretrained=str(pretrained), layer_decay=layer_decay,
                                        linear_probe=linear_probe, model_overrides=model_overrides),
              recipe["epochs"], recipe["batch_size"])
    data = run.load_data(image_size_pair(preset["image_size"]), preset.get("channels", 3))
    augmentation = run.augmentation(recipe["augment"])
    with run.building():
        arguments = {**model_overrides, "image_size": data.image_shape[:2], "channels": data.image_shape[2],
                     "num_classes": data.num_classes, "drop_path_rate": recipe["drop_path_rate"]}
        if source is None:
            classifier = create_pretrained(pretrained, preset=model, head="new", **arguments)
        else:
            classifier = create_model(model, **arguments)
            load_encoder_weights(classifier, load_image_model(source) if loaded is None else loaded)
        for layer in classifier.layers:
            layer.trainable = layer.name == "head" or not linear_probe
    with run.scope():  # the learning rate decays layer by layer
        warmup_share = None if warmup_epochs is not None else source_recipe.warmup_share
        optimizer = with_layer_decay(run.optimizer(recipe, ema_momentum, warmup_share=warmup_share),
                                     layer_decay_scales_of(classifier, layer_decay))
    trained = compile_classifier(run, classifier, optimizer, recipe)
    return fit_classifier(run, model, classifier, trained, recipe, augmentation)


def _resolve(pretrained, model):
    """(the .keras file to load or None for a published checkpoint, its model if loaded to read the preset, the
    preset) of `pretrained`."""
    path = pathlib.Path(pretrained)
    if path.is_dir():
        if not (path / ENCODER_FILE).is_file():
            raise KerasViTError(
                f"pretrained='{path}' is a folder without {ENCODER_FILE}: pass a pretrain output folder.")
        path = path / ENCODER_FILE
    if path.suffix == ".keras":
        if not path.is_file():
            raise KerasViTError(f"pretrained='{path}': no such file.")
        loaded = None if model else load_image_model(path)
        model = model or model_metadata(loaded).preset
        if model is None:
            raise KerasViTError(f"'{path}' does not name its preset (nor does a run.json beside it): pass "
                                f"model=PRESET.")
        return path, loaded, model
    published = PUBLISHED.get(str(pretrained))
    if published is None and not path.is_file():
        raise KerasViTError(f"pretrained='{pretrained}' is neither a folder, a file, nor a published checkpoint name "
                            f"(see `keras-vit models --pretrained`).")
    model = model or (published.preset if published else None)
    if model is None:
        raise KerasViTError(f"Pass the preset of checkpoint '{pretrained}' as model=PRESET.")
    return None, None, model


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
                                   epochs=90 if not is_small(model) else recipe.epochs, clip_norm=None)
    if is_small(model):
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
    if is_small(model) or model.startswith("pvt"):
        return 1.0
    if re.match(r"^swin(v2)?_", model):
        return 0.9
    return 0.75 if _large(model) else 0.65


def _large(model):
    return bool(re.match(r"^vit_(large|huge)_", model))


def load_encoder_weights(model, source, new_layers=("head",)):
    """Sets every weight of `model` outside `new_layers` from the weight of the same path in `source`.

    Weights are matched by path (`patch_encoder/position_embedding`, `block_0/attention/qkv/kernel`,
    `stage_1_merging/reduction/kernel`, ...), which the builders' layer names fix, for ViT, Swin and PVT alike;
    position embeddings (ViT's `PatchEncoder`, PVT v1's `StagePositionEmbedding`) are resampled, as their layer's
    `resampled_position_embedding` does, when the token grids differ. Nothing is set unless every weight matches.

    Args:
        model: the classifier (e.g. `create_model(preset, num_classes=...)`).
        source: a model holding the encoder: a pretraining's encoder.keras, a classifier of the same preset (e.g. a
            `train` output's model.keras), ...
        new_layers: layers of `model` that keep their own weights (the new head).

    Returns:
        The paths of the weights set.

    Raises:
        KerasViTError: a weight of `model` has no counterpart in `source`, or another shape; all are named.

    Example:
        >>> classifier = keras_vit.create_model("vit_nano_patch4_28", num_classes=3, image_size=12)
        >>> load_encoder_weights(classifier, keras.saving.load_model("runs/mae/encoder.keras"))
    """
    sources = {weight.path: weight for weight in source.weights}
    positions = {layer.name: layer for layer in source.layers if hasattr(layer, "resampled_position_embedding")}
    values, problems = {}, []
    for layer in model.layers:
        if layer.name in new_layers:
            continue
        for weight in layer.weights:
            found = sources.get(weight.path)
            if found is None:
                problems.append(f"{weight.path} is missing")
            elif tuple(found.shape) == tuple(weight.shape):
                values[weight.path] = (weight, found)
            elif layer.name in positions and weight.path.endswith("position_embedding"):
                values[weight.path] = (weight, positions[layer.name].resampled_position_embedding(layer.grid_size))
            else:
                problems.append(f"{weight.path} has shape {tuple(found.shape)}, expected {tuple(weight.shape)}")
    if problems:
        raise KerasViTError(f"The encoder of '{source.name}' does not fit model '{model.name}': "
                            f"{'; '.join(problems)}.")
    for weight, value in values.values():
        weight.assign(value)
    return list(values)
