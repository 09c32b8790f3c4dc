"""The tf.data service: a dispatcher and two workers in this process, its processing modes, errors and CLI."""

import _thread
import collections
import signal
import socket
import threading

import numpy as np
import pytest
import tensorflow as tf

from keras_vit import KerasViTError
from keras_vit.data import ImageArrays, make_augmentation, make_batches
from keras_vit.data.service import distribute_through_service, server_address, start_dispatcher, start_worker
from keras_vit_cli.main import main


@pytest.fixture(scope="module")
def service():
    """(dispatcher, [worker, worker]) on free localhost ports."""
    dispatcher = start_dispatcher(0)
    workers = [start_worker(server_address(dispatcher)) for _ in range(2)]
    yield dispatcher, workers
    for server in (*workers, dispatcher):
        server.stop()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _values(dataset):
    return collections.Counter(int(value) for value in dataset.as_numpy_iterator())


def test_distributed_epoch_delivers_every_element_once(service):
    dispatcher, _ = service
    dataset = tf.data.Dataset.range(100).map(lambda x: x * 3).shuffle(20, seed=0).batch(7).unbatch()
    assert _values(distribute_through_service(dataset, dispatcher.target, "distributed_epoch")) == \
        collections.Counter(range(0, 300, 3))


def test_parallel_epochs_delivers_every_element_once_per_worker(service):
    dispatcher, workers = service
    delivered = _values(distribute_through_service(tf.data.Dataset.range(100), dispatcher.target))
    assert delivered == collections.Counter({value: len(workers) for value in range(100)})


def test_seeded_per_element_map_gives_the_local_multiset(service):
    dispatcher, _ = service

    def noisy(x):  # a draw of its own per element, as keras_vit's per-image augmentation seeds
        return x * 1000 + tf.random.stateless_uniform((), tf.stack([x, 7]), maxval=1000, dtype=tf.int64)

    dataset = tf.data.Dataset.range(100).map(noisy, num_parallel_calls=2)
    assert _values(distribute_through_service(dataset, dispatcher.target, "distributed_epoch")) == _values(dataset)


def test_the_training_pipeline_runs_whole_passes_on_the_workers(service):
    dispatcher, _ = service
    images = np.stack([np.full((4, 4, 1), i, np.uint8) for i in range(24)])
    split = ImageArrays(images, np.arange(24) % 3, (4, 4, 1), "numbered")
    batches = make_batches(split, 3, 6, training=True, seed=0, augment=make_augmentation("flip"), repeat=True)
    served = distribute_through_service(batches, dispatcher.target, "distributed_epoch").take(8)
    served = [x.tobytes() for x, _ in served.as_numpy_iterator()]
    local = {x.tobytes() for x, _ in batches.take(4 * 12).as_numpy_iterator()}  # the first 12 passes, 4 batches each
    assert len(set(served)) == 8 and set(served) <= local, "batches of whole passes, as computed here, no repeats"


@pytest.mark.parametrize("address", ["localhost:5050", "grpc://localhost", "grpc://localhost:http",
                                     "grpc://localhost:70000", "grpc:/localhost:5050", "http://localhost:5050", None])
def test_malformed_service_address_is_named(address):
    with pytest.raises(KerasViTError, match=r"service=.* is not a tf\.data service address 'grpc://HOST:PORT'"):
        distribute_through_service(tf.data.Dataset.range(3), address)


def test_unknown_processing_mode_is_named():
    with pytest.raises(KerasViTError, match="processing_mode='distributed_epochs'.*parallel_epochs, distributed_epoch"):
        distribute_through_service(tf.data.Dataset.range(3), "grpc://localhost:5050", "distributed_epochs")


def test_taken_ports_are_errors(service):
    dispatcher, workers = service
    dispatcher_port = int(server_address(dispatcher).rsplit(":", 1)[1])
    with pytest.raises(KerasViTError, match=f"dispatcher cannot listen on port {dispatcher_port}: .*in use"):
        start_dispatcher(dispatcher_port)
    worker_port = int(server_address(workers[0]).rsplit(":", 1)[1])
    with pytest.raises(KerasViTError, match=f"worker cannot listen on port {worker_port}"):
        start_worker(server_address(dispatcher), port=worker_port)


def test_worker_errors_name_the_dispatcher():
    with pytest.raises(KerasViTError, match=r"dispatcher='localhost' is not a dispatcher address 'HOST:PORT'"):
        start_worker("localhost")
    port = _free_port()
    with pytest.raises(KerasViTError, match=f"No tf.data service dispatcher answers at localhost:{port}"):
        start_worker(f"localhost:{port}", connect_timeout=2)


def test_fault_tolerant_dispatcher_needs_a_work_dir():
    with pytest.raises(KerasViTError, match="fault_tolerant=True needs a work_dir"):
        start_dispatcher(0, fault_tolerant=True)


def test_cli_help_lists_the_roles(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data-service", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "dispatcher" in out and "worker" in out


def test_cli_worker_refuses_a_malformed_dispatcher(capsys):
    assert main(["data-service", "worker", "--dispatcher", "localhost/5050"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["keras-vit: error: --dispatcher localhost/5050 is not a dispatcher address 'HOST:PORT', e.g. "
                     "'localhost:5050'."], "the library's dispatcher= written as the flag"


def test_cli_dispatcher_prints_its_address_and_stops_at_ctrl_c(capsys):
    port = _free_port()
    ctrl_c = threading.Timer(1.0, _thread.interrupt_main)  # SIGINT, as Ctrl-C sends it
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also where this runs in the background
    try:
        ctrl_c.start()
        assert main(["data-service", "dispatcher", "--port", str(port)]) == 130
    finally:
        ctrl_c.cancel()
        signal.signal(signal.SIGINT, previous)
    captured = capsys.readouterr()
    assert captured.out == f"tf.data service dispatcher listening on grpc://localhost:{port} (Ctrl-C stops it)\n"
    assert captured.err == "keras-vit: interrupted\n"
    start_dispatcher(port).stop()  # stopped: its port is free again
