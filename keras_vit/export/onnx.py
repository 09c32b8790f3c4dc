"""Export of a classifier to ONNX: one `.onnx` file of standard ops (opset 17) for onnxruntime and others."""

import contextlib
import logging
import warnings

from keras_vit.atomic_files import atomic_write
from keras_vit.errors import KerasViTError
from keras_vit.export.single_file import pixel_signature, prepare_output_file
from keras_vit.models.float32_copy import in_float32
from keras_vit.models.saving import load_classifier

OPSET = 17


def export_onnx(model_path_or_model, output_path):
    """Writes `model_path_or_model` as an `.onnx` file (opset `OPSET`).

    The file takes float32 pixels in [0, 255] of shape (batch, height, width, channels), with the model's height,
    width and channels and a dynamic batch, and returns float32 logits (batch, classes) like the Keras model:
    apply a softmax for probabilities.

    The conversion is Keras's own (`model.export(format="onnx")`, which runs tf2onnx on the traced model and keeps
    it working with NumPy 2), followed by one repair. TensorFlow computes the exact GELU as 0.5 x erfc(-x / sqrt(2))
    and tf2onnx copies `Erfc` through, although ONNX has no such op and the file would not load; each `Erfc(x)`
    becomes `1 - Erf(x)` (`Erf` is standard since opset 9), which keeps the exact GELU, and tf2onnx's error lines
    about `Erfc` are kept out of the log. Opset 17 is pinned so the file does not change with tf2onnx's default;
    onnxruntime runs it since version 1.12.

    Args:
        model_path_or_model: a `.keras` classifier file (loaded with `load_classifier`, in safe mode) or a
            `keras.Model`.
            A model trained in mixed precision is exported in float32 (`keras_vit.models.float32_copy`).
        output_path: the `.onnx` file to write; its parent folders are created, an existing file is replaced.
            The file is written (and repaired) under a temporary name, then renamed
            (`keras_vit.atomic_files.atomic_write`): a failed or killed export leaves the previous file, never a
            partial one.

    Returns:
        The path of the written file, as a `pathlib.Path`.

    Raises:
        KerasViTError: the model file is missing or unsafe, `output_path` is a folder or lacks `.onnx`, or the
            `export` extra (onnx, tf2onnx) is not installed.

    Example:
        >>> export_onnx("runs/digits/model.keras", "exports/digits.onnx")
        PosixPath('exports/digits.onnx')
    """
    try:
        import onnx
        import tf2onnx  # noqa: F401 (model.export's converter)
    except ImportError as error:
        raise KerasViTError(f'ONNX export needs the export extra: pip install "keras-vit[export]" ({error}).') from None
    model, _ = load_classifier(model_path_or_model)
    model = in_float32(model)  # many 16-bit ops have no kernel there
    path = prepare_output_file(output_path, ".onnx")
    with atomic_write(path) as temporary:
        with _known_noise_silenced():
            model.export(str(temporary), format="onnx", verbose=False, input_signature=pixel_signature(model),
                         opset_version=OPSET)
        exported = onnx.load(temporary)
        replace_erfc(exported.graph)
        onnx.checker.check_model(exported, full_check=True)
        onnx.save(exported, temporary)
    return path


def replace_erfc(graph):
    """Rewrites, in place, each `Erfc(x)` node of the ONNX `graph` as `Sub(1, Erf(x))`.

    Example:
        >>> replace_erfc(onnx.load("model.onnx").graph)
    """
    from onnx import TensorProto, helper

    for node in [node for node in graph.node if node.op_type == "Erfc"]:
        one = helper.make_tensor(f"{node.name}/one", TensorProto.FLOAT, [], [1.0])
        graph.initializer.append(one)
        erf = helper.make_node("Erf", list(node.input), [f"{node.name}/erf"], name=f"{node.name}/Erf")
        sub = helper.make_node("Sub", [one.name, erf.output[0]], list(node.output), name=f"{node.name}/Sub")
        position = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(position, sub)
        graph.node.insert(position, erf)


@contextlib.contextmanager
def _known_noise_silenced():
    """Silences, while in the block, two harmless messages of the conversion.

    They are tf2onnx's log lines calling `Erfc` unsupported (`replace_erfc` replaces it), and the FutureWarning that
    NumPy raises when Keras checks for `np.object` before patching tf2onnx for NumPy 2.
    """
    logger = logging.getLogger("tf2onnx.tfonnx")

    def keep(record):
        return "Erfc" not in record.getMessage()

    logger.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            yield
    finally:
        logger.removeFilter(keep)
