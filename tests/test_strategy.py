"""Distribution strategies: choosing one, MirroredStrategy on two logical CPUs, two multi-worker processes."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_vit.distribute import check_batch_size, make_strategy, worker_index
from keras_vit.errors import KerasViTError
from keras_vit.models import load_image_model, model_metadata

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")


def _image_folder(root):
    from PIL import Image

    rng = np.random.default_rng(0)
    for class_index, class_name in enumerate(["bright", "dark"]):
        (root / class_name).mkdir(parents=True)
        for index in range(20):  # 16 train, 2 validation, 2 test a class
            pixels = np.clip(rng.normal(190 - 150 * class_index, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / class_name / f"{index}.png")
    return root


def _run_worker(mode, data_dir, output_dir, env=None, timeout=300):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen([sys.executable, str(WORKER), mode, str(data_dir), str(output_dir)], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _report(process, timeout=300):
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_unknown_strategy_and_multi_worker_without_tf_config_are_clear_errors(monkeypatch):
    with pytest.raises(KerasViTError, match="Unknown strategy 'gpus'. Known: auto, one-device"):
        make_strategy("gpus")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(KerasViTError, match="strategy='multi-worker' needs the TF_CONFIG"):
        make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(KerasViTError, match="TF_CONFIG is not valid JSON"):
        make_strategy("auto")


def test_auto_and_one_device_on_a_cpu_machine(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert make_strategy("auto") is tf.distribute.get_strategy()
    one_device = make_strategy("one-device")
    assert isinstance(one_device, tf.distribute.OneDeviceStrategy)
    assert one_device.extended.worker_devices[0].endswith("CPU:0")
    assert worker_index(one_device) == 0
    given = tf.distribute.get_strategy()
    assert make_strategy(given) is given


def test_tpu_strategy_without_a_tpu_is_a_clear_error():
    with pytest.raises(KerasViTError, match="No TPU found on this host .*TPU Name"):
        make_strategy("tpu")


def test_a_batch_smaller_than_the_replicas_is_a_clear_error(tmp_path):
    class FourReplicas:
        num_replicas_in_sync = 4

    with pytest.raises(KerasViTError, match="batch_size=3 is smaller than the 4 replicas"):
        check_batch_size(3, FourReplicas())
    check_batch_size(4, FourReplicas())
    report = _report(_run_worker("batch-error", _image_folder(tmp_path / "data"), tmp_path / "run"))
    assert report["error"].startswith("batch_size=1 is smaller than the 2 replicas")


def test_mirrored_training_on_two_logical_cpus_equals_single_device_training(tmp_path):
    report = _report(_run_worker("mirrored", _image_folder(tmp_path / "data"), tmp_path / "runs"))
    assert report["replicas"] == 2
    assert report["max_change_from_init"] > 1e-3, "the weights must have moved for the comparison to mean much"
    assert report["max_difference"] <= 1e-5, report


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_fit_under_multi_worker_mirrored_strategy_with_two_processes(tmp_path):
    data_dir = _image_folder(tmp_path / "data")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = [
        _run_worker("multi-worker", data_dir, tmp_path / "run",
                    env={"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                  "task": {"type": "worker", "index": index}})})
        for index in range(2)]
    chief, other = (_report(process) for process in processes)
    assert len(chief["loss"]) == 2 and np.all(np.isfinite(chief["loss"]))
    np.testing.assert_allclose(chief["loss"], other["loss"], rtol=1e-6)  # one synchronous training, two views
    assert (tmp_path / "run" / "model.keras").is_file()
    assert (tmp_path / "run" / "worker_1" / "model.keras").is_file(), "worker 1 writes its own copy"
    for saved in ("model.keras", "best.keras"):  # the functional model, not the MultiWorkerModel that fit trained
        assert model_metadata(load_image_model(tmp_path / "run" / saved)).class_names == ["bright", "dark"]
