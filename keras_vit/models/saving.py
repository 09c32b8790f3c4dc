"""Loading keras_vit models from `.keras` files, safely, with the class names and preset they carry.

A model saves its class names and preset in its own config (`ImageModel`): `model.save(path)` writes them, and no
file beside it. Files of earlier versions, saved as plain functional models, load with the class names of the
`<stem>.class_names.json` they wrote beside them and the preset of their run folder's run.json.
"""

import json
import pathlib

import keras

from keras_vit.errors import KerasViTError
from keras_vit.models.image_model import ImageModel, model_metadata


def load_image_model(path):
    """Loads a `.keras` file with `safe_mode=True`, as a model that carries its class names and preset if known.

    Args:
        path: a `.keras` file: an `ImageModel` saved by keras_vit (a `train` output's model.keras, a pretraining's
            encoder.keras, ...), a file of an earlier keras_vit (its class names and preset are then read from
            `<stem>.class_names.json` and `run.json` beside it), or any other Keras model.

    Returns:
        The `keras.Model`; read its class names and preset with `model_metadata`.

    Raises:
        KerasViTError: the file is missing or is not a `.keras` file, or it holds a Lambda layer (arbitrary Python
            code, which safe mode refuses to run).

    Example:
        >>> model_metadata(load_image_model("runs/digits/model.keras")).class_names
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    """
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
    return model if isinstance(model, ImageModel) else _with_side_files(model, path)


def load_classifier(path):
    """Loads a `.keras` classifier with `load_image_model` (safe mode) and its class names.

    Args:
        path: a `.keras` file (see `load_image_model`), or a `keras.Model` already in memory, returned as it is.

    Returns:
        (model, class_names): the names the model carries, else "0", "1", ...

    Raises:
        KerasViTError: as `load_image_model`.

    Example:
        >>> model, class_names = load_classifier("runs/digits/model.keras")
    """
    model = path if isinstance(path, keras.Model) else load_image_model(path)
    class_names = model_metadata(model).class_names
    return model, class_names or [str(index) for index in range(model.output_shape[-1])]


def _with_side_files(model, path):
    """`model`, loaded from `path`, as an `ImageModel` with the class names and preset an earlier keras_vit wrote
    beside it (`<stem>.class_names.json`, the run folder's run.json); as it is when neither file is there."""
    names_file = path.with_name(f"{path.stem}.class_names.json")
    run_file = path.parent / "run.json"  # keras_vit.training.run_folder.RUN_FILE
    if not (names_file.is_file() or run_file.is_file()):
        return model
    preset = json.loads(run_file.read_text()).get("model") if run_file.is_file() else None
    return ImageModel(model.inputs, model.outputs, name=model.name,
                      class_names=json.loads(names_file.read_text()) if names_file.is_file() else None,
                      preset=preset if isinstance(preset, str) else None)
