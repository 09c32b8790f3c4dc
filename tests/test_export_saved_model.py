"""SavedModel export for TF Serving: served in a process without keras_vit, it answers like the Keras model."""

import base64
import io
import json
import math
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import zlib

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from helpers import softmax
import keras_vit
from keras_vit_cli.main import main
from keras_vit.data.decode import decode_image
from keras_vit.errors import KerasViTError
from keras_vit.export import export_saved_model
from keras_vit.data.image_guards import (DEFAULT_MAX_BYTES, DEFAULT_MAX_FRAMES, DEFAULT_MAX_JPEG_SCANS,
                                        DEFAULT_MAX_PIXELS)
from keras_vit.export.saved_model import DEFAULT_MAX_BATCH, DEFAULT_PARALLEL_DECODES
from keras_vit.export.serving_layout import version_directory

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLASS_NAMES = ["ant", "bee", "cat", "dog", "eel"]
TOP_K = 3
TINY_MODELS = {
    "vit": ("vit_nano_patch4_32", {"embed_dim": 16, "depth": 1, "num_heads": 2, "mlp_dim": 16}),
    "swin": ("swin_nano_patch2_window4_32", {"embed_dim": 8, "depths": (2, 2), "num_heads": (1, 2)}),
    **{name: (preset, {"embed_dims": (8, 16, 16), "depths": (1, 1, 1), "num_heads": (1, 2, 2), "mlp_ratios": (2, 2, 2)})
       for name, preset in (("pvt", "pvt_nano_patch2_32"), ("pvt_v2", "pvt_v2_nano_patch2_32"))},
}
FILE_OPS = {"ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "WholeFileReader", "WholeFileReaderV2",
            "TFRecordDataset", "TextLineDataset", "FixedLengthRecordDataset", "LoadDataset", "SaveDataset",
            "PrintV2", "CreateSummaryFileWriter", "WriteSummary", "Save", "SaveSlices", "Restore", "RestoreSlice"}
CHECKPOINT_OPS = {"SaveV2", "RestoreV2", "MergeV2Checkpoints"}
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _tiny_model(architecture):
    preset, overrides = TINY_MODELS[architecture]
    return keras_vit.create_model(preset, num_classes=len(CLASS_NAMES), **overrides)


def _png_bomb(width=15000, height=15000):
    """A valid ~656 KB PNG of width x height black RGB pixels (~675 MB once decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row, compressor = bytes(1 + 3 * width), zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _gif_bombs():
    """GIFs whose logical screen passes the pixel cap but whose frames are what the decoder allocates."""
    def constant_gif(width, height):
        buffer = io.BytesIO()
        PIL.Image.new("P", (width, height), 0).save(buffer, "GIF")
        data = buffer.getvalue()
        start = 13 + 3 * 2 ** (data[10] % 8 + 1)  # after the global colour table: the one frame, then the trailer
        return data[:start], data[start:-1]

    head, frame = constant_gif(6000, 6000)
    one_huge_frame = head[:6] + struct.pack("<HH", 1, 1) + head[10:] + frame + b";"  # 27 KB; 36 M pixels
    head, frame = constant_gif(4096, 4096)
    return {"gif frame outside a 1x1 screen": one_huge_frame, "gif of 400 frames": head + frame * 400 + b";",
            "gif of 2 frames at the pixel cap": head + frame * 2 + b";"}


def _jpeg_of_many_scans(scans=300):
    """A progressive JPEG whose last scan is repeated: each repeat is one more pass of the decoder."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(
        buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    last_scan = data[data.rindex(b"\xff\xda"):-2]
    return data[:-2] + last_scan * (scans - data.count(b"\xff\xda")) + data[-2:]


def _rest_body(images):
    instances = [{"image_bytes": {"b64": base64.b64encode(image).decode()}} for image in images]
    return json.dumps({"signature_name": "serving_default", "instances": instances})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Exports a tiny ViT, Swin and PVT (v1, v2), serves them from `serving_client.py` in a fresh process, returns
    what it saw."""
    root = tmp_path_factory.mktemp("served")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    pngs = [tf.io.encode_png(rng.integers(0, 256, (24 + 3 * i, 40 - 2 * i, 3), dtype=np.uint8)).numpy()
            for i in range(8)]
    decoded = np.stack([decode_image(tf.constant(png), (32, 32), 3).numpy() for png in pngs])
    exports, expected = {}, {}
    for architecture in TINY_MODELS:
        model = _tiny_model(architecture)
        exports[architecture] = str(export_saved_model(model, root / "models", class_names=CLASS_NAMES, top_k=TOP_K))
        expected[f"{architecture}_pixels"] = softmax(model.predict(pixels, verbose=0).astype("float64"))
        expected[f"{architecture}_bytes"] = softmax(model.predict(decoded, verbose=0).astype("float64"))
    np.save(root / "pixels.npy", pixels)
    bombs = {"png of 15000x15000": _png_bomb(), **_gif_bombs(), "jpeg of 300 scans": _jpeg_of_many_scans()}
    for index, (name, data) in enumerate(bombs.items()):
        (root / f"bomb{index}").write_bytes(data)
    bad = {"empty": b"", "truncated": pngs[0][:20], "unknown format": b"not an image at all",
           "corrupt": pngs[0][:12] + b"IHDX" + pngs[0][16:], "corrupt pixel data": pngs[0][:41] + bytes(64),
           "truncated pixel data": pngs[0][:len(pngs[0]) // 2]}
    job = {"exports": exports, "guarded": "vit", "pixels": str(root / "pixels.npy"), "max_batch": DEFAULT_MAX_BATCH,
           "bombs": {name: str(root / f"bomb{index}") for index, name in enumerate(bombs)},
           "images_b64": [base64.b64encode(png).decode() for png in pngs], "rest_body": _rest_body(pngs[:2]),
           "bad_b64": {name: base64.b64encode(data).decode() for name, data in bad.items()}}
    (root / "job.json").write_text(json.dumps(job))
    client = subprocess.run([sys.executable, str(ROOT / "tests" / "serving_client.py"), str(root / "job.json")],
                            capture_output=True, text=True, timeout=300)
    assert client.returncode == 0, client.stderr[-3000:]
    report = json.loads((root / "job.out.json").read_text())
    arrays = dict(np.load(root / "job.npz"))
    return {"exports": exports, "expected": expected, "report": report, "arrays": arrays, "pngs": pngs, "root": root}


@pytest.mark.parametrize("architecture", TINY_MODELS)
def test_reloaded_without_keras_vit_it_answers_like_keras(served, architecture):
    assert served["report"]["keras_vit_imported"] is False
    arrays, expected = served["arrays"], served["expected"]
    for batch in (1, 8):
        np.testing.assert_allclose(arrays[f"{architecture}_pixels_{batch}"], expected[f"{architecture}_pixels"][:batch],
                                   atol=1e-5)
        np.testing.assert_allclose(arrays[f"{architecture}_bytes_{batch}_probabilities"],
                                   expected[f"{architecture}_bytes"][:batch], atol=1e-5)
    probabilities = expected[f"{architecture}_bytes"]
    best = np.argsort(-probabilities, axis=-1)[:, :TOP_K]
    assert arrays[f"{architecture}_bytes_8_top_k_classes"].astype(str).tolist() == np.array(CLASS_NAMES)[best].tolist()
    np.testing.assert_allclose(arrays[f"{architecture}_bytes_8_top_k_scores"],
                               np.take_along_axis(probabilities, best, axis=-1), atol=1e-5)


@pytest.mark.parametrize("architecture", TINY_MODELS)
def test_rest_predict_body_with_b64_images_gets_the_same_answer(served, architecture):
    readme = (ROOT / "README.md").read_text()
    assert '{"signature_name": "serving_default", "instances": [{"image_bytes": {"b64": ' in readme
    predictions = served["report"][f"{architecture}_rest"]["predictions"]
    assert len(predictions) == 2
    for row, prediction in enumerate(predictions):
        np.testing.assert_allclose(prediction["probabilities"], served["expected"][f"{architecture}_bytes"][row],
                                   atol=1e-5)
        assert prediction["top_k_classes"] == served["arrays"][f"{architecture}_bytes_8_top_k_classes"][row].astype(
            str).tolist()


BOMB_MESSAGES = {
    "png of 15000x15000": "too many pixels: the header declares 15000x15000",
    "gif frame outside a 1x1 screen": "corrupt: frame 1 of the GIF reaches outside its 1x1 logical screen",
    "gif of 400 frames": "too many frames: the GIF has 400 frames, the limit is 100",
    "gif of 2 frames at the pixel cap": "too many pixels: the 2 frames of the GIF hold 33554432 pixels together",
    "jpeg of 300 scans": "too many scans: the JPEG has 300 start-of-scan markers, the limit is 100",
}


@pytest.mark.parametrize("name", BOMB_MESSAGES)
def test_decompression_bombs_are_refused_before_decoding(served, name):
    message, peak_growth_mib = served["report"]["bombs"][name]
    assert BOMB_MESSAGES[name] in message
    print(f"peak RSS growth while refusing the {name}: {peak_growth_mib:.1f} MiB")
    assert peak_growth_mib < (50 if name.startswith("png") else 100)  # decoding the PNG: 675 MB, the GIFs: GBs


def test_requests_of_more_than_max_batch_images_are_refused_in_both_signatures(served):
    for signature, message in served["report"]["too_many_images"].items():
        assert f"too many images: the request holds {DEFAULT_MAX_BATCH + 1} images, the limit is " \
               f"{DEFAULT_MAX_BATCH}" in message, signature


def test_bad_bytes_get_errors_that_say_which_and_the_server_keeps_working(served):
    errors = served["report"]["errors"]
    for name in ("empty", "truncated", "unknown format", "corrupt"):
        assert f"[{name}: " in errors[name], errors[name]
    for name in ("corrupt pixel data", "truncated pixel data"):  # sound header, then the decoder refuses the data
        assert "Invalid PNG data" in errors[name], errors[name]
    np.testing.assert_allclose(served["arrays"]["recovered"], served["expected"]["vit_bytes"][:1], atol=1e-5)


def _saved_model_cli(*arguments):
    beside_python = pathlib.Path(sys.executable).with_name("saved_model_cli")
    on_path = shutil.which("saved_model_cli")
    command = ([str(beside_python)] if beside_python.exists() else [on_path] if on_path
               else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"])
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command + list(arguments), capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _signatures_shown(text):
    """{signature: {"inputs"|"outputs": {name: (dtype, shape)}}} from `saved_model_cli show --all`."""
    signatures = {}
    for block in re.split(r"^signature_def\['", text, flags=re.M)[1:]:
        name, body = block.split("'", 1)
        inputs, _, outputs = body.partition("contains the following output(s):")
        signatures[name] = {
            side: {key: (dtype, shape) for key, dtype, shape in re.findall(
                r"\w+\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", part)}
            for side, part in (("inputs", inputs), ("outputs", outputs))}
    return signatures


def test_saved_model_cli_shows_both_signatures_with_names_dtypes_and_batch_dimension(served):
    signatures = _signatures_shown(_saved_model_cli("show", "--all", "--dir", served["exports"]["vit"]))
    outputs = {"probabilities": ("DT_FLOAT", "(-1, 5)"), "top_k_classes": ("DT_STRING", "(-1, 3)"),
               "top_k_scores": ("DT_FLOAT", "(-1, 3)")}
    assert signatures["serving_default"] == {"inputs": {"image_bytes": ("DT_STRING", "(-1)")}, "outputs": outputs}
    assert signatures["serving_pixels"] == {"inputs": {"images": ("DT_FLOAT", "(-1, 32, 32, 3)")}, "outputs": outputs}


def test_saved_model_cli_run_on_image_bytes_gives_the_same_answer(served, tmp_path):
    np.save(tmp_path / "images.npy", np.array(served["pngs"][:2], dtype=object))
    _saved_model_cli("run", "--dir", served["exports"]["swin"], "--tag_set", "serve", "--signature_def",
                     "serving_default", "--inputs", f"image_bytes={tmp_path / 'images.npy'}",
                     "--outdir", str(tmp_path / "answer"))
    np.testing.assert_allclose(np.load(tmp_path / "answer" / "probabilities.npy"),
                               served["expected"]["swin_bytes"][:2], atol=1e-5)


def test_graph_and_every_library_function_are_free_of_file_and_python_ops(served):
    saved_model = saved_model_pb2.SavedModel.FromString(
        (pathlib.Path(served["exports"]["vit"]) / "saved_model.pb").read_bytes())
    graph = saved_model.meta_graphs[0].graph_def
    graphs = {function.signature.name: function.node_def for function in graph.library.function}
    graphs["graph"] = graph.node
    assert any(op.op == "DecodeImage" for nodes in graphs.values() for op in nodes)  # the walk sees nested functions
    for name, nodes in graphs.items():
        ops = {node.op for node in nodes}
        assert not ops & (FILE_OPS | PYTHON_OPS), (name, ops & (FILE_OPS | PYTHON_OPS))
        # TensorFlow's own checkpoint functions, called by the loader to read the variables, and by nothing else.
        checkpoint_function = re.fullmatch(r"__inference__traced_(save|restore)_\d+", name)
        assert checkpoint_function or not ops & CHECKPOINT_OPS, (name, ops & CHECKPOINT_OPS)


def test_class_names_are_an_asset_too(served):
    assets = pathlib.Path(served["exports"]["swin"]) / "assets" / "class_names.txt"
    assert assets.read_text().splitlines() == CLASS_NAMES


def test_versions_count_up_and_are_never_overwritten(tmp_path):
    assert version_directory(tmp_path, "pets") == tmp_path / "pets" / "1"
    for folder in ("1", "7", "notes", ".7-incomplete-x"):
        (tmp_path / "pets" / folder).mkdir(parents=True)
    assert version_directory(tmp_path, "pets") == tmp_path / "pets" / "8"
    assert version_directory(tmp_path, "pets", 3) == tmp_path / "pets" / "3"
    with pytest.raises(KerasViTError, match="Version 7 of model 'pets' already exists.*never overwrites.*get 8"):
        version_directory(tmp_path, "pets", 7)
    for version in (0, -1, "2", True):
        with pytest.raises(KerasViTError, match="must be a positive integer"):
            version_directory(tmp_path, "pets", version)
    with pytest.raises(KerasViTError, match="single folder name"):
        version_directory(tmp_path, "a/b")

    model = _tiny_model("vit")
    assert export_saved_model(model, tmp_path, name="pets") == tmp_path / "pets" / "8"
    marker = tmp_path / "pets" / "8" / "saved_model.pb"
    written = marker.stat().st_mtime_ns
    with pytest.raises(KerasViTError, match="already exists"):
        export_saved_model(model, tmp_path, name="pets", version=8)
    assert marker.stat().st_mtime_ns == written
    assert sorted(path.name for path in (tmp_path / "pets").iterdir()) == [".7-incomplete-x", "1", "7", "8", "notes"]


def test_a_keras_file_exports_from_the_command_line_with_its_class_names(tmp_path, capsys):
    model = _tiny_model("vit")
    model.class_names = CLASS_NAMES
    model.save(tmp_path / "model.keras")
    argv = ["export", str(tmp_path / "model.keras"), "--format", "saved_model", "--output", str(tmp_path / "serving"),
            "--name", "pets", "--version", "4", "--max-batch", "2"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"Saved {tmp_path / 'serving' / 'pets' / '4'}"
    served = tf.saved_model.load(str(tmp_path / "serving" / "pets" / "4"))
    image = tf.io.encode_png(np.full((32, 32, 3), 200, np.uint8))
    answer = served.signatures["serving_default"](image_bytes=tf.stack([image]))
    expected = softmax(model.predict(decode_image(image, (32, 32), 3)[None], verbose=0).astype("float64"))
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)
    assert answer["top_k_classes"].numpy()[0, 0].decode() == CLASS_NAMES[int(expected.argmax())]
    with pytest.raises(tf.errors.InvalidArgumentError, match="too many images: the request holds 3 images, the "
                                                             "limit is 2"):
        served.signatures["serving_default"](image_bytes=tf.stack([image] * 3))
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "model.keras"), "--format", "onnx", "--output", "x.onnx", "--version", "1"]) == 2
    assert "--name and --version apply to --format saved_model only" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "model.keras"), "--format", "tflite", "--output", "x.tflite",
                 "--max-pixels", "9", "--max-frames", "3"]) == 2
    assert "--max-pixels, --max-frames apply to --format saved_model only" in capsys.readouterr().err


def test_the_export_help_gives_the_serving_defaults_of_the_library(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    export_help = capsys.readouterr().out
    expected = [f"{DEFAULT_MAX_BYTES // 2**20} MiB", f"default {math.isqrt(DEFAULT_MAX_PIXELS)} x",
                f"default {DEFAULT_MAX_FRAMES})", f"default {DEFAULT_MAX_JPEG_SCANS})",
                f"default {DEFAULT_MAX_BATCH})", f"default {DEFAULT_PARALLEL_DECODES})"]
    assert math.isqrt(DEFAULT_MAX_PIXELS) ** 2 == DEFAULT_MAX_PIXELS
    for text in expected:
        assert text in " ".join(export_help.split()), text


def test_a_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((32, 32, 3))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, 0, 0, :])(inputs)).save(tmp_path / "lambda.keras")
    with pytest.raises(KerasViTError, match="Lambda layer"):
        export_saved_model(tmp_path / "lambda.keras", tmp_path / "serving")
    assert not (tmp_path / "serving").exists()


@pytest.mark.parametrize("arguments, message", [
    ({"class_names": ["a", "b"]}, "2 class names for a model with 5 outputs"),
    ({"top_k": 0}, "top_k=0 must be a positive integer"),
    ({"max_bytes": 2**31}, "max_bytes=2147483648 must be a positive integer of at most 2147483647"),
    ({"class_names": ["a", "b", "c\nd", "e", "f"]}, "without line breaks"),
])
def test_bad_arguments_are_named(tmp_path, arguments, message):
    with pytest.raises(KerasViTError, match=re.escape(message)):
        export_saved_model(_tiny_model("vit"), tmp_path, **arguments)
