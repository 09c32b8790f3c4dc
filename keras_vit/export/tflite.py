"""Export of a classifier to TFLite (LiteRT): one `.tflite` file of builtin ops only."""

import tensorflow as tf

from keras_vit.atomic_files import atomic_write
from keras_vit.export.single_file import pixel_signature, prepare_output_file
from keras_vit.models.float32_copy import in_float32
from keras_vit.models.saving import load_classifier


def export_tflite(model_path_or_model, output_path):
    """Writes `model_path_or_model` as a `.tflite` file for the TFLite (LiteRT) interpreter.

    The file takes float32 pixels in [0, 255] of shape (batch, height, width, channels), with the model's height,
    width and channels and a dynamic batch (the interpreter's `resize_tensor_input` sets it; 1 by default), and
    returns float32 logits (batch, classes) like the Keras model: apply a softmax for probabilities.

    The conversion is Keras's own (`model.export(format="litert")`: SavedModel, then `tf.lite.TFLiteConverter`),
    restricted to TFLite builtin ops, so that the file runs on any LiteRT runtime without the Select TF ops (Flex)
    library; an op without a builtin fails here, at export, rather than on the device. The exact (erf) GELU of the
    MLPs converts to the builtin GELU op in its exact form, so outputs match Keras to float32 rounding.

    Args:
        model_path_or_model: a `.keras` classifier file (loaded with `load_classifier`, in safe mode) or a
            `keras.Model`.
            A model trained in mixed precision is exported in float32 (`keras_vit.models.float32_copy`).
        output_path: the `.tflite` file to write; its parent folders are created, an existing file is replaced.
            The file is written under a temporary name, then renamed (`keras_vit.atomic_files.atomic_write`): a
            failed or killed export leaves the previous file, never a partial one.

    Returns:
        The path of the written file, as a `pathlib.Path`.

    Raises:
        KerasViTError: the model file is missing or unsafe, or `output_path` is a folder or lacks `.tflite`.

    Example:
        >>> export_tflite("runs/digits/model.keras", "exports/digits.tflite")
        PosixPath('exports/digits.tflite')
    """
    model, _ = load_classifier(model_path_or_model)
    model = in_float32(model)  # many 16-bit ops have no kernel there
    path = prepare_output_file(output_path, ".tflite")
    with atomic_write(path) as temporary:
        model.export(str(temporary), format="litert", verbose=False, input_signature=pixel_signature(model),
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    return path
