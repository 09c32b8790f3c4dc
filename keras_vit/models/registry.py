"""Building models by preset name: `create_model`, `list_models`, `preset_config`."""

import difflib
import fnmatch
import inspect

from keras_vit.errors import KerasViTError
from keras_vit.models.presets import PRESETS
from keras_vit.models.pvt import build_pvt, count_pvt_parameters
from keras_vit.models.swin import build_swin, count_swin_parameters
from keras_vit.models.vit import build_vit, count_vit_parameters

_BUILDERS = {"vit": build_vit, "swin": build_swin, "pvt": build_pvt}
_PARAMETER_COUNTERS = {"vit": count_vit_parameters, "swin": count_swin_parameters, "pvt": count_pvt_parameters}


def list_models(pattern="*"):
    """Sorted preset names matching a shell-style `pattern`.

    Example:
        >>> list_models("vit_tiny*")
        ['vit_tiny_patch16_224', 'vit_tiny_patch16_384']
    """
    return sorted(name for name in PRESETS if fnmatch.fnmatch(name, pattern))


def preset_config(name, /, **overrides):
    """The builder arguments of preset `name` with `overrides` applied (a new dict, with its "architecture").

    Overriding `channels` alone adapts per-channel normalisation constants of another length to their mean, so an
    RGB preset can be trained on grayscale images.

    Example:
        >>> preset_config("vit_small_patch16_224", num_classes=10)["num_classes"]
        10
    """
    if name not in PRESETS:
        closest = difflib.get_close_matches(name, list(PRESETS), n=3, cutoff=0.5)
        hint = f" Closest: {', '.join(closest)}." if closest else " Run `keras-vit models` for the list."
        raise KerasViTError(f"Unknown model '{name}'.{hint}")
    config = dict(PRESETS[name])
    allowed = set(inspect.signature(_BUILDERS[config["architecture"]]).parameters)
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise KerasViTError(
            f"Unknown argument(s) {', '.join(unknown)} for model '{name}'. Allowed: {', '.join(sorted(allowed))}."
        )
    channels = overrides.get("channels", config.get("channels", 3))
    for constant in ("mean", "std"):
        values = config.get(constant, ())
        if constant not in overrides and len(values) not in (1, channels):
            config[constant] = (sum(values) / len(values),)
    config.update(overrides)
    return config


def create_model(name, /, **overrides):
    """Builds the model of preset `name`, with any builder argument overridden.

    Args:
        name: a preset name from `list_models()`, e.g. "vit_small_patch16_224".
        **overrides: builder arguments that replace the preset's (image_size, num_classes, channels,
            drop_path_rate, ...).

    Returns:
        An uncompiled `ImageModel` taking pixels in [0, 255] and returning logits, whose `preset` is `name`.

    Raises:
        KerasViTError: unknown name (the message lists the closest ones) or unknown argument.

    Example:
        >>> model = create_model("vit_nano_patch4_32", num_classes=100)
        >>> model.output_shape, model.preset
        ((None, 100), 'vit_nano_patch4_32')
    """
    config = preset_config(name, **overrides)
    builder = _BUILDERS[config.pop("architecture")]
    config.setdefault("name", name)
    model = builder(**config)
    model.preset = name
    return model


def count_parameters(name, /, **overrides):
    """Trainable parameters of preset `name` (with overrides), counted without building it.

    Example:
        >>> count_parameters("vit_base_patch16_224")
        86567656
    """
    config = preset_config(name, **overrides)
    return _PARAMETER_COUNTERS[config.pop("architecture")](**config)
