"""Public entry points: load a published checkpoint into a model, or build the model that fits a checkpoint."""

import inspect

from keras_vit.errors import KerasViTError
from keras_vit.models.presets import PRESETS
from keras_vit.models.pvt import build_pvt
from keras_vit.models.registry import create_model, preset_config
from keras_vit.models.swin import build_swin
from keras_vit.models.vit import build_vit
from keras_vit.weights.assign import ImportReport, assign_by_rules
from keras_vit.weights.checkpoint_files import detect_layout, read_checkpoint
from keras_vit.weights.download import checkpoint_file
from keras_vit.weights.published import PUBLISHED
from keras_vit.weights.pvt_layouts import PVT_LAYOUTS, describe_pvt, pvt_rules
from keras_vit.weights.swin_layouts import SWIN_LAYOUTS, describe_swin, swin_buffers, swin_rules
from keras_vit.weights.vit_layouts import describe_vit, vit_rules

# Builder arguments a checkpoint fixes but a model may change without new weights.
_ADAPTABLE = ("architecture", "image_size", "num_classes")
_BUILDERS = {"vit": build_vit, "swin": build_swin, "pvt": build_pvt}


def load_pretrained_weights(model, weights, head="auto", cache_dir=None):
    """Sets every weight of a ViT, Swin or PVT model from a published checkpoint; nothing is set if anything misfits.

    Reads timm and Hugging Face transformers `.safetensors` files and vit_jax / big_vision `.npz` files with
    NumPy (no PyTorch or JAX). Position embeddings are resampled (bicubic) when the model's patch grid differs
    from the checkpoint's. Relative-position buffers are checked, not loaded.

    Args:
        model: a model from `create_model` / `build_vit` / `build_swin` (V1 or V2) / `build_pvt` of the
            checkpoint's architecture and version.
        weights: a .safetensors or .npz file, or a name from `list_pretrained()` (downloaded once, then cached).
        head: "auto" loads the classifier head when its shape fits and keeps the model's new head otherwise;
            "load" requires it to load; "new" keeps the model's own head (fine-tuning on other classes).
        cache_dir: where downloads are kept (see `checkpoint_file`).

    Returns:
        An `ImportReport`: the layout found, weights loaded, weights left new, and notes on adaptations.

    Raises:
        KerasViTError: an unreadable or unknown file, an unavailable download, or a checkpoint that does not fit
            the model; the message lists the unused tensors, unset weights and mismatched shapes by name.

    Example:
        >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
        >>> report = load_pretrained_weights(model, "vit_tiny_patch16_224.augreg_in21k_ft_in1k")
        >>> report.notes
        ['head: new, 10 classes (the checkpoint's head has shape (1000, 192))']
    """
    tensors = read_checkpoint(checkpoint_file(weights, cache_dir))
    report = _import(model, tensors, str(weights), head)
    published = PUBLISHED.get(str(weights))
    normalize = {layer.name: layer for layer in model.layers}.get("normalize")
    if published and normalize and (_per_channel(normalize.mean), _per_channel(normalize.std)) != (
            published.mean, published.std):
        report.notes.append(f"input normalisation: the model uses mean {normalize.mean} and std {normalize.std}, "
                            f"the checkpoint was trained with mean {published.mean} and std {published.std}")
    return report


def create_pretrained(weights, preset=None, num_classes=None, image_size=None, head="auto", cache_dir=None,
                      verbose=False, **overrides):
    """Builds the model of a published checkpoint and loads it.

    The preset is the registry's for a published name; for a file it is `preset`, or else the preset whose
    architecture the checkpoint's shapes match. A given preset is checked against the checkpoint first. The model
    normalises its input with the checkpoint's mean and std (from the registry; a preset's own for a file).

    Args:
        weights: a name from `list_pretrained()`, or a .safetensors / .npz file.
        preset: the preset to build; None to take it from the registry or infer it from the checkpoint.
        num_classes: classes of the head; None keeps the checkpoint's head, another count gets a new head.
        image_size: image size to build for; None for the checkpoint's (ViT position embeddings are resampled).
        head: see `load_pretrained_weights`.
        cache_dir: where downloads are kept.
        verbose: print what was loaded and adapted.
        **overrides: other builder arguments (drop_path_rate, dropout_rate, mean, std, ...).

    Returns:
        The loaded `keras.Model`, taking pixels in [0, 255] and returning logits.

    Example:
        >>> model = create_pretrained("vit_tiny_patch16_224.augreg_in21k_ft_in1k", num_classes=10, image_size=384)
        >>> model.output_shape
        (None, 10)
    """
    published = PUBLISHED.get(str(weights))
    tensors = read_checkpoint(checkpoint_file(weights, cache_dir))
    layout, names = detect_layout(tensors, str(weights))
    describe = describe_pvt if layout in PVT_LAYOUTS else describe_swin if layout in SWIN_LAYOUTS else describe_vit
    described = describe(names, tensors)
    preset = preset or (published.preset if published else infer_preset(described, str(weights)))
    check_preset(described, preset, str(weights), **overrides)
    arguments = {"image_size": image_size or described.get("image_size") or PRESETS[preset]["image_size"],
                 "num_classes": num_classes or described["num_classes"] or PRESETS[preset]["num_classes"]}
    if published:
        arguments.update(mean=published.mean, std=published.std)
    model = create_model(preset, **{**arguments, **overrides})
    report = _import(model, tensors, str(weights), head)
    if verbose:
        print(f"Loaded {len(report.loaded)} weights of {preset} from {weights} ({report.layout} layout).")
        for note in report.notes:
            print(f"  {note}")
    return model


def infer_preset(described, checkpoint="checkpoint"):
    """The preset whose architecture matches a described checkpoint, preferring one of the same image size.

    Example:
        >>> infer_preset({"architecture": "vit", "patch_size": 16, "embed_dim": 192, "depth": 12, "mlp_dim": 768,
        ...               "channels": 3, "pooling": "token", "image_size": 224})
        'vit_tiny_patch16_224'
    """
    matches = [name for name in sorted(PRESETS) if not _differences(described, name)]
    if not matches:
        shown = ", ".join(f"{key}={value}" for key, value in described.items() if key != "architecture")
        raise KerasViTError(f"No preset has the architecture of {checkpoint} ({described['architecture']}: {shown}): "
                            "pass preset=NAME and any builder overrides it needs.")
    windows = {PRESETS[name].get("window_size") for name in matches}
    if "window_size" not in described and len(windows) > 1:
        raise KerasViTError(f"{checkpoint} does not record its window size (it stores no relative position "
                            f"buffers), and {', '.join(matches)} fit it: pass preset=NAME.")
    return min(matches, key=lambda name: PRESETS[name]["image_size"] != described.get("image_size"))


def check_preset(described, preset, checkpoint="checkpoint", **overrides):
    """Raises `KerasViTError` naming every argument where preset `preset` (with overrides) and the checkpoint
    differ, other than image size and classes, which a model may change.

    Example:
        >>> check_preset(described, "vit_small_patch16_224")
        Traceback (most recent call last):
        KerasViTError: Checkpoint ... does not fit preset vit_small_patch16_224: embed_dim 192 (checkpoint) ...
    """
    differences = _differences(described, preset, **overrides)
    if differences:
        raise KerasViTError(f"Checkpoint {checkpoint} does not fit preset {preset}: {'; '.join(differences)}.")


def _differences(described, preset, **overrides):
    if PRESETS[preset]["architecture"] != described["architecture"]:
        return [f"architecture {described['architecture']} (checkpoint) vs {PRESETS[preset]['architecture']}"]
    config = preset_config(preset, **overrides)
    defaults = inspect.signature(_BUILDERS[described["architecture"]]).parameters
    differences = []
    for key, value in described.items():
        ours = config.get(key, defaults[key].default if key in defaults else None)
        if key not in _ADAPTABLE and _normalise(value) != _normalise(ours):
            differences.append(f"{key} {value} (checkpoint) vs {ours} (preset)")
    return differences


def _per_channel(values, channels=3):
    return tuple(values) * channels if len(values) == 1 else tuple(values)


def _normalise(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _import(model, tensors, checkpoint, head):
    layout, names = detect_layout(tensors, checkpoint)
    report = ImportReport(checkpoint, layout)
    family = "PVT" if layout in PVT_LAYOUTS else "Swin" if layout in SWIN_LAYOUTS else "ViT"
    expected_layer = {"ViT": "block_0", "Swin": "stage_0_block_0", "PVT": "stage_0_embedding"}[family]
    if expected_layer not in {layer.name for layer in model.layers}:
        raise KerasViTError(f"Checkpoint {checkpoint} is a {family} ({layout}) but model "
                            f"'{model.name}' has no layer {expected_layer}: build the matching architecture.")
    if family == "PVT":
        rules, buffers = pvt_rules(names, model, report), ()
    elif family == "Swin":
        rules, buffers = swin_rules(names, model, report), swin_buffers(names, model, tensors)
    else:
        rules, buffers = vit_rules(names, model, report), ()
    return assign_by_rules(model, tensors, rules, report, buffers, head)
