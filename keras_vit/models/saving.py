"""Saving and loading trained classifiers as `.keras` files, with their class names beside them."""

import json
import pathlib

import keras

from keras_vit.errors import KerasViTError


def class_names_path(model_path):
    """Where the class names of `model_path` live: `<folder>/<stem>.class_names.json`.

    Example:
        >>> class_names_path("runs/digits/model.keras")
        PosixPath('runs/digits/model.class_names.json')
    """
    model_path = pathlib.Path(model_path)
    return model_path.with_name(f"{model_path.stem}.class_names.json")


def save_classifier(model, path, class_names):
    """Saves `model` to the `.keras` file `path` and its class names to `class_names_path(path)`.

    Example:
        >>> save_classifier(model, "runs/digits/model.keras", ["0", "1", "2"])
    """
    path = pathlib.Path(path)
    if len(class_names) != model.output_shape[-1]:
        raise KerasViTError(f"{len(class_names)} class names for a model with {model.output_shape[-1]} outputs.")
    model.save(path)
    class_names_path(path).write_text(json.dumps(list(class_names), indent=1))


def load_classifier(path):
    """Loads a `.keras` classifier with `safe_mode=True` and its class names.

    Args:
        path: a `.keras` file written by `save_classifier` (or any Keras classifier; its classes are then named
            "0", "1", ...), or a `keras.Model` already in memory, returned as it is with classes "0", "1", ...

    Returns:
        (model, class_names).

    Raises:
        KerasViTError: the file is missing or is not a `.keras` file, or it holds a Lambda layer (arbitrary Python
            code, which safe mode refuses to run).

    Example:
        >>> model, class_names = load_classifier("runs/digits/model.keras")
    """
    if isinstance(path, keras.Model):
        return path, [str(index) for index in range(path.output_shape[-1])]
    path = pathlib.Path(path)
    if not path.is_file():
        raise KerasViTError(f"Model file '{path}' does not exist.")
    if path.suffix != ".keras":
        raise KerasViTError(f"Model file '{path}' is not a .keras file.")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        if "lambda" in str(error).lower() or "safe_mode" in str(error):
            raise KerasViTError(
                f"Model file '{path}' holds a Lambda layer, i.e. arbitrary Python code; keras_vit loads models with "
                f"safe_mode=True and refuses it. Rebuild the model without Lambda layers.") from None
        raise
    names_file = class_names_path(path)
    if names_file.is_file():
        class_names = json.loads(names_file.read_text())
    else:
        class_names = [str(index) for index in range(model.output_shape[-1])]
    return model, class_names
