"""TFLite and ONNX export: the runtimes give the Keras logits back, and bad output paths are refused."""

import numpy as np
import pytest

import keras_vit
from keras_vit.export import export_onnx, export_tflite
from keras_vit.training.precision import precision_scope

TINY_MODELS = {
    "vit": lambda: keras_vit.create_model("vit_nano_patch4_32", embed_dim=16, depth=2, num_heads=2, mlp_dim=32),
    "swin": lambda: keras_vit.create_model("swin_nano_patch2_window4_32", embed_dim=16, depths=(2, 2),
                                           num_heads=(2, 2)),
    # Spatial reduction by 4 and 2, the depth-wise MLP convolution (v2), position embeddings and a class token (v1).
    **{name: (lambda preset=preset: keras_vit.create_model(preset, embed_dims=(8, 16, 16), depths=(1, 1, 1),
                                                           num_heads=(1, 2, 2), mlp_ratios=(2, 2, 2)))
       for name, preset in (("pvt", "pvt_nano_patch2_32"), ("pvt_v2", "pvt_v2_nano_patch2_32"))},
}


@pytest.fixture(params=sorted(TINY_MODELS))
def saved_model(request, tmp_path, seeded):
    """(path of a tiny ViT, Swin or PVT saved as .keras, the model, a batch of 2 random images in [0, 255])."""
    model = TINY_MODELS[request.param]()
    path = tmp_path / f"{request.param}.keras"
    model.save(path)
    return path, model, seeded.uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def run_tflite(path, images):
    """Logits of the `.tflite` file at `path` from the LiteRT interpreter, at the batch size of `images`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_onnx(path, images):
    """Logits of the `.onnx` file at `path` from onnxruntime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


# Format: (export function, runtime, file suffix, the modules of the `export` extra it needs).
FORMATS = {
    "tflite": (export_tflite, run_tflite, ".tflite", ["ai_edge_litert"]),
    "onnx": (export_onnx, run_onnx, ".onnx", ["onnx", "tf2onnx", "onnxruntime"]),
}


@pytest.fixture(params=sorted(FORMATS))
def export_format(request):
    """(export function, runtime, suffix) of TFLite or ONNX; skipped if the `export` extra is missing."""
    export, run, suffix, modules = FORMATS[request.param]
    for module in modules:
        pytest.importorskip(module)
    return export, run, suffix


def test_runtime_logits_match_keras(saved_model, tmp_path, export_format):
    model_path, model, images = saved_model
    export, run, suffix = export_format
    output = export(model_path, tmp_path / "new" / "folder" / f"model{suffix}")
    assert output == tmp_path / "new" / "folder" / f"model{suffix}" and output.is_file()
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(run(output, images), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(run(output, images[:1]), expected[:1], rtol=0, atol=1e-4)


def test_a_model_trained_in_mixed_bfloat16_exports_in_float32(tmp_path, export_format, seeded):
    # TFLite and ONNX refuse the bfloat16 graph itself (no kernels); the export is the float32 copy of its weights.
    export, run, suffix = export_format
    with precision_scope("mixed_bfloat16"):
        model = TINY_MODELS["vit"]()
    with_the_same_weights = TINY_MODELS["vit"]()
    with_the_same_weights.set_weights(model.get_weights())
    images = seeded.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    output = export(model, tmp_path / f"model{suffix}")
    np.testing.assert_allclose(run(output, images), np.asarray(with_the_same_weights(images, training=False)),
                               rtol=0, atol=1e-4)


def test_onnx_keeps_the_exact_gelu_with_standard_ops(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("tf2onnx")
    path = export_onnx(TINY_MODELS["vit"](), tmp_path / "vit.onnx")
    op_types = {node.op_type for node in onnx.load(path).graph.node}
    assert "Erf" in op_types and "Erfc" not in op_types


def test_bad_output_paths_are_refused(tmp_path, export_format):
    export, _, suffix = export_format
    model = TINY_MODELS["vit"]()
    folder = tmp_path / f"taken{suffix}"
    folder.mkdir()
    with pytest.raises(keras_vit.KerasViTError, match="is a folder"):
        export(model, folder)
    with pytest.raises(keras_vit.KerasViTError, match=f"must end in '\\{suffix}'"):
        export(model, tmp_path / "model.bin")
    with pytest.raises(keras_vit.KerasViTError, match="does not exist"):
        export(tmp_path / "missing.keras", tmp_path / f"model{suffix}")
