"""Smoke tests of examples/: each script's workflow with tiny settings (a 20-image folder, one epoch, no XLA)."""

import http.server
import json
import os
import pathlib
import runpy
import subprocess
import sys
import threading

import numpy as np
import PIL.Image
import pytest

from keras_vit.models.float32_copy import in_float32

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUICK = dict(epochs=1, batch_size=8, jit_compile=False, verbose=0)


def _example(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of 10 PNGs of 32x32 (8 train, 1 validation, 1 test a class), bright and dark noise."""
    from PIL import Image

    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for name, level in (("bright", 190), ("dark", 60)):
        (root / name).mkdir()
        for index in range(10):
            pixels = np.clip(rng.normal(level, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    return _example("train_folder")["main"](folder, output_dir=tmp_path_factory.mktemp("train") / "run", **QUICK)


def test_train_folder(trained):
    assert trained.model.input_shape == (None, 32, 32, 3) and trained.model.output_shape == (None, 2)
    assert trained.test_size == 2 and trained.model_path.is_file()


def test_finetune_checkpoint_from_a_local_safetensors_file(folder, tmp_path, seeded):
    from keras_vit.weights import write_safetensors
    from test_weights_vit import DEPTH, DIM, HEADS, MLP, PATCH, timm_vit_tensors

    tensors = timm_vit_tensors(seeded)  # timm's layout of a 2-block ViT, 16x16 images (a stand-in for a download)
    write_safetensors(tmp_path / "vit.safetensors", tensors)
    result = _example("finetune_checkpoint")["main"](
        tmp_path / "vit.safetensors", folder, model="vit_tiny_patch16_224", output_dir=tmp_path / "run",
        learning_rate=1e-9, image_size=16, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, mlp_dim=MLP,
        patch_size=PATCH, **QUICK)
    assert result.model.output_shape == (None, 2), "a new head for the folder's classes"
    np.testing.assert_allclose(result.model.get_layer("block_1").weights[0].numpy(),
                               tensors["blocks.1.norm1.weight"], atol=1e-6)


def test_mae_pretrain_then_finetune(folder, tmp_path):
    pretraining, finetuning = _example("mae_pretrain_finetune")["main"](
        "vit_nano_patch4_32", data_dir=folder, pretrain_epochs=1, output_dir=tmp_path, **QUICK)
    assert pretraining.encoder_path.is_file() and pretraining.reconstruction_path.is_file()
    assert finetuning.model.output_shape == (None, 2) and 0 <= finetuning.test_accuracy <= 1
    assert json.loads((finetuning.output_dir / "run.json").read_text())["pretrained"] == str(pretraining.output_dir)


def test_multi_worker_with_one_local_worker(folder, tmp_path):
    # One worker keeps this smoke test cheap (tests/test_strategy.py trains two processes as one cluster) and covers
    # the one-worker cluster, whose logs the trainer does not concatenate across workers.
    command = [sys.executable, str(EXAMPLES / "multi_worker.py"), "--local-workers", "1", "--data-dir", str(folder),
               "--output", str(tmp_path / "run"), "--model", "vit_nano_patch4_32", "--epochs", "1",
               "--batch-size", "8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("worker ")]
    assert [line.split(":")[0] for line in lines] == ["worker 0"], done.stdout
    assert (tmp_path / "run" / "model.keras").is_file()


def test_export_and_serve_answers_a_rest_request_here_and_through_a_server(trained, folder, tmp_path):
    example = _example("export_and_serve")
    images = [folder / "bright" / "0.png", folder / "dark" / "0.png"]
    answer = example["main"](trained.model_path, images, output=tmp_path / "serving", name="shapes")
    assert (tmp_path / "serving" / "shapes" / "1" / "saved_model.pb").is_file()
    assert len(answer["predictions"]) == 2
    for prediction in answer["predictions"]:
        assert sorted(prediction["top_k_classes"]) == ["bright", "dark"]
        assert abs(sum(prediction["probabilities"]) - 1) < 1e-5
    # The export computes in float32 whatever precision `auto` trained in (`in_float32`): compare with that.
    pixels = np.stack([np.asarray(PIL.Image.open(path), np.float32) for path in images])
    probabilities = in_float32(trained.model).predict(pixels, verbose=0)
    probabilities = np.exp(probabilities) / np.exp(probabilities).sum(axis=1, keepdims=True)
    np.testing.assert_allclose([p["probabilities"] for p in answer["predictions"]], probabilities, atol=1e-5)

    requests = []

    class FakeServing(http.server.BaseHTTPRequestHandler):  # stands in for TF Serving's REST API
        def do_POST(self):
            requests.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), FakeServing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        served = example["send"](tmp_path / "serving" / "shapes" / "1", images,
                                 server=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert served == answer
    assert requests == [("/v1/models/shapes:predict", json.loads(example["rest_body"](images)))]
