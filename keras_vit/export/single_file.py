"""What the single-file exports (TFLite, ONNX) share: where the file goes and what it takes."""

import pathlib

import keras

from keras_vit.errors import KerasViTError


def prepare_output_file(output_path, suffix):
    """Checks that `output_path` can take a file ending in `suffix`, creating its parent folders.

    An existing file is overwritten; an existing folder is refused.

    Args:
        output_path: the path of the file to write.
        suffix: the extension the file must have, such as ".tflite".

    Returns:
        `output_path` as a `pathlib.Path`.

    Raises:
        KerasViTError: `output_path` does not end in `suffix`, or it is a folder.

    Example:
        >>> prepare_output_file("exports/model.onnx", ".onnx")
        PosixPath('exports/model.onnx')
    """
    path = pathlib.Path(output_path)
    if path.is_dir():
        raise KerasViTError(f"Output '{path}' is a folder; give the path of a {suffix} file to write.")
    if path.suffix != suffix:
        raise KerasViTError(f"Output '{path}' must end in '{suffix}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def pixel_signature(model):
    """The input signature of an export: float32 pixels of the model's (height, width, channels), any batch.

    Example:
        >>> pixel_signature(keras_vit.create_model("vit_nano_patch4_32"))
        [InputSpec(dtype=float32, shape=(None, 32, 32, 3), ndim=4)]
    """
    return [keras.InputSpec(shape=(None,) + tuple(model.input_shape[1:]), dtype="float32", name=model.inputs[0].name)]
