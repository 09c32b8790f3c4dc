"""`ImageModel`, the functional model of every builder, which carries its class names and preset in its config;
`model_metadata` reads them, and the normalisation, from any model."""

import dataclasses

import keras

from keras_vit.errors import KerasViTError


@keras.saving.register_keras_serializable(package="keras_vit")
class ImageModel(keras.Model):
    """A functional `keras.Model` from [0, 255] pixels that carries its class names and the name of its preset.

    Both are part of `get_config()`, so a `.keras` file holds them and `keras.saving.load_model(path,
    safe_mode=True)` brings them back (after `import keras_vit`, which registers the class); the normalisation
    lives in the config of the model's `normalize` layer. The builders return an `ImageModel`, `create_model` sets
    its `preset`, and `train` and `finetune` its `class_names` from the data. `keras.models.clone_model` returns
    an `ImageModel` without them (Keras rebuilds a functional model from its graph only): set them again.

    Args:
        *args: the inputs and outputs of a functional `keras.Model`.
        class_names: one name per output class, or None when the classes have no names.
        preset: the name of the preset the model was built from (`list_models()`), or None.
        **kwargs: further arguments of a functional `keras.Model` (name, trainable).

    Example:
        >>> model = keras_vit.create_model("vit_nano_patch4_28", num_classes=3)
        >>> model.class_names = ["cat", "dog", "bird"]
        >>> model.save("pets.keras")
        >>> keras.saving.load_model("pets.keras", safe_mode=True).class_names
        ['cat', 'dog', 'bird']
    """

    def __init__(self, *args, class_names=None, preset=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_names = class_names
        self.preset = preset

    @property
    def class_names(self):
        """The name of each output class (a new list), or None."""
        return None if self._class_names is None else list(self._class_names)

    @class_names.setter
    def class_names(self, class_names):
        if class_names is not None:
            class_names = tuple(class_names)
            outputs = self.output_shape[-1]
            if len(class_names) != outputs:
                raise KerasViTError(
                    f"class_names gives {len(class_names)} class names for a model with {outputs} outputs.")
            if not all(isinstance(name, str) and name for name in class_names):
                raise KerasViTError(f"class_names must be non-empty strings, got {list(class_names)}.")
        self._class_names = class_names

    @property
    def preset(self):
        """The name of the preset the model was built from, or None."""
        return self._preset

    @preset.setter
    def preset(self, preset):
        if preset is not None and not isinstance(preset, str):
            raise KerasViTError(f"preset must be a preset name or None, got {preset!r}.")
        self._preset = preset

    def get_config(self):
        return {**super().get_config(), "class_names": self.class_names, "preset": self.preset}


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself besides its weights (`model_metadata`).

    Attributes:
        class_names: the name of each output class, or None (a model without names, or an encoder).
        preset: the preset the model was built from, or None.
        mean: per-channel mean of its input normalisation on the [0, 1] scale, or None (no `normalize` layer).
        std: per-channel standard deviation of its input normalisation, or None.
    """

    class_names: list = None
    preset: str = None
    mean: tuple = None
    std: tuple = None


def model_metadata(model):
    """The class names, preset and input normalisation that `model` carries.

    Args:
        model: any `keras.Model`; an `ImageModel` (what the builders return and keras_vit's `.keras` files hold)
            carries class names and a preset, the normalisation is that of a layer named `normalize`.

    Returns:
        A `ModelMetadata`; what the model does not carry is None.

    Example:
        >>> model_metadata(keras_vit.create_model("vit_nano_patch4_28", num_classes=10))
        ModelMetadata(class_names=None, preset='vit_nano_patch4_28', mean=(0.5,), std=(0.5,))
    """
    normalize = {layer.name: layer for layer in model.layers}.get("normalize")
    carried = isinstance(model, ImageModel)
    return ModelMetadata(class_names=model.class_names if carried else None,
                         preset=model.preset if carried else None,
                         mean=getattr(normalize, "mean", None), std=getattr(normalize, "std", None))
