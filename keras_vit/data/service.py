"""The tf.data service: the input pipeline runs in worker processes (on this or other machines), the trainer reads.

One dispatcher (`start_dispatcher`, or `keras-vit data-service dispatcher --port N`) hands out work; workers
(`start_worker`, or `keras-vit data-service worker --dispatcher HOST:PORT`) register with it and run the
pipeline; the trainer's `distribute_through_service(dataset, "grpc://HOST:PORT")` sends the pipeline's graph to
them and reads their elements. The pipeline must be a graph: a `Dataset.from_generator` or `tf.py_function` runs
only in workers of the trainer's own process (elsewhere its Python function does not exist). Iterating blocks, and
retries, while the dispatcher cannot be reached.
"""

import re
import socket
import threading

import tensorflow as tf

from keras_vit.errors import KerasViTError

PROCESSING_MODES = ("parallel_epochs", "distributed_epoch")
_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>\d{1,5})")


def distribute_through_service(dataset, service, processing_mode="parallel_epochs", job_name=None):
    """`dataset` read from the tf.data service at `service`: the workers run it, this process receives elements.

    Processing modes (measured with TensorFlow 2.21, two workers):

    - "parallel_epochs": every worker runs the whole dataset; an epoch delivers each element once per worker
      (duplicates), in the order the workers' elements arrive. A seeded pipeline (keras_vit's `make_batches`
      with a seed) then gives every worker the same order and draws: the trainer receives the same batches once
      per worker. Any dataset works.
    - "distributed_epoch": the dispatcher splits the dataset's source and hands the splits to the workers as they
      ask; each worker runs the rest of the chain on its splits, and an epoch delivers every element exactly once
      in no fixed order. A split is one element of `Dataset.range` or `from_tensor_slices`, one file of
      `list_files`, `TFRecordDataset(files)` or `TextLineDataset(files)`, and for `flat_map` and `interleave` one
      element of their input: the whole inner dataset it makes goes to one worker (an `interleave` takes a
      cycle's worth at once, so a few splits may all go to one worker). Every chain of those with `map`,
      `filter`, `shuffle`, `batch`, `cache`, `prefetch`, `zip` is accepted and delivers each element once, but
      all after the split runs per worker on its share: `batch` makes batches of one worker's elements, `shuffle`
      mixes within one worker's share, and what counts elements counts per worker and silently changes the
      result: `take(n)` / `skip(n)` keep / drop n per worker, `enumerate` restarts at 0 on every worker, `shard`
      shards every worker's share. `Dataset.random` is not split (every worker draws the whole stream). So a
      source `range(passes).flat_map(one_pass)`, as in `make_batches`, gives each worker whole passes.

    Args:
        dataset: the `tf.data.Dataset` the workers run.
        service: the dispatcher's address, "grpc://HOST:PORT".
        processing_mode: one of `PROCESSING_MODES`, above.
        job_name: a name shared by trainers that read one job together (each element goes to one of them);
            None: a job of this dataset's own.

    Returns:
        A `tf.data.Dataset` of the same elements (in the mode's number and order).

    Raises:
        KerasViTError: `service` is not "grpc://HOST:PORT", or `processing_mode` is unknown.

    Example (keras_vit's training batches: endless, so that every worker has passes to run):
        >>> batches = make_batches(data.train, data.num_classes, 64, training=True, seed=0, repeat=True)
        >>> batches = distribute_through_service(batches, "grpc://dispatcher:5050", "distributed_epoch")
    """
    if not (isinstance(service, str) and service.startswith("grpc://") and _is_host_port(service[len("grpc://"):])):
        raise KerasViTError(f"service={service!r} is not a tf.data service address 'grpc://HOST:PORT', e.g. "
                            f"'grpc://localhost:5050' (`keras-vit data-service dispatcher` prints it).")
    if processing_mode not in PROCESSING_MODES:
        raise KerasViTError(f"Unknown processing_mode={processing_mode!r}. Known: {', '.join(PROCESSING_MODES)}.")
    return dataset.apply(tf.data.experimental.service.distribute(processing_mode, service, job_name=job_name))


def start_dispatcher(port, work_dir=None, fault_tolerant=False):
    """Starts a tf.data service dispatcher listening on `port` of every interface; returns the started server.

    Args:
        port: the TCP port; 0 picks a free one (the address is `server.target`).
        work_dir: a folder where the dispatcher keeps its journal, for `fault_tolerant`.
        fault_tolerant: journal the dispatcher's state to `work_dir`, so that a restarted dispatcher resumes
            its jobs.

    Returns:
        The running `tf.data.experimental.service.DispatchServer`; `server.target` is its "grpc://HOST:PORT",
        `server.join()` blocks while it runs.

    Raises:
        KerasViTError: `port` is taken or out of range, or `fault_tolerant` lacks a `work_dir`.

    Example:
        >>> dispatcher = start_dispatcher(5050)
        >>> dispatcher.target
        'grpc://localhost:5050'
    """
    if fault_tolerant and work_dir is None:
        raise KerasViTError("fault_tolerant=True needs a work_dir, the folder of the dispatcher's journal.")
    _check_port_free(port, "dispatcher")
    config = tf.data.experimental.service.DispatcherConfig(port=port, work_dir=work_dir,
                                                           fault_tolerant_mode=fault_tolerant)
    return _started(tf.data.experimental.service.DispatchServer, config, port, "dispatcher")


def start_worker(dispatcher, port=0, worker_address=None, connect_timeout=10.0):
    """Starts a tf.data service worker registered with `dispatcher`; returns the started server.

    The dispatcher must be running: TensorFlow would wait for it without end, deaf to Ctrl-C, so a dispatcher
    that does not accept a connection within `connect_timeout` seconds is an error instead.

    Args:
        dispatcher: the dispatcher's "HOST:PORT" (or "grpc://HOST:PORT").
        port: the TCP port the worker listens on; 0 picks a free one.
        worker_address: "HOST:PORT" under which the trainer reaches this worker, "%port%" standing for the
            port (e.g. "worker3.example:%port%"); None: "localhost:%port%", for a trainer on this machine.
        connect_timeout: seconds to wait for the dispatcher to accept a connection.

    Returns:
        The running `tf.data.experimental.service.WorkerServer`; `server.join()` blocks while it runs.

    Raises:
        KerasViTError: `dispatcher` is not "HOST:PORT" or does not answer, or `port` is taken or out of range.

    Example:
        >>> worker = start_worker("localhost:5050", worker_address="worker3.example:%port%")
    """
    address = dispatcher.removeprefix("grpc://") if isinstance(dispatcher, str) else None
    if not _is_host_port(address):
        raise KerasViTError(f"dispatcher={dispatcher!r} is not a dispatcher address 'HOST:PORT', e.g. "
                            f"'localhost:5050'.")
    _check_dispatcher_answers(address, connect_timeout)
    _check_port_free(port, "worker")
    config = tf.data.experimental.service.WorkerConfig(dispatcher_address=address, worker_address=worker_address,
                                                       port=port)
    return _started(tf.data.experimental.service.WorkerServer, config, port, "worker")


def server_address(server):
    """The "HOST:PORT" a started dispatcher or worker listens on.

    Example:
        >>> server_address(start_worker("localhost:5050"))
        'localhost:40731'
    """
    if isinstance(server, tf.data.experimental.service.DispatchServer):
        return server.target[len("grpc://"):]
    return server._address  # WorkerServer has no public address; this is the one it registered


def serve_until_interrupted(server):
    """Blocks while the dispatcher or worker `server` runs; Ctrl-C stops it (the KeyboardInterrupt goes on).

    `server.join()` itself does not return to Python, so Ctrl-C would not reach it: it waits in a thread here.

    Example:
        >>> serve_until_interrupted(start_dispatcher(5050))
    """
    joiner = threading.Thread(target=server.join, daemon=True)
    joiner.start()
    try:
        while joiner.is_alive():
            joiner.join(timeout=0.5)
    except KeyboardInterrupt:
        server.stop()
        raise


def _is_host_port(address):
    match = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
    return match is not None and 0 < int(match["port"]) < 2**16


def _check_port_free(port, role):
    """gRPC binds with SO_REUSEPORT: a second server on a taken port would start and share it, so bind first."""
    if not 0 <= port < 2**16:
        raise KerasViTError(f"The {role} port {port} is not a TCP port (0 to 65535).")
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC: a port in TIME_WAIT is free
        try:
            probe.bind(("", port))
        except OSError as error:
            raise KerasViTError(f"The tf.data service {role} cannot listen on port {port}: {error.strerror} "
                                f"(is another server using it?).") from None


def _check_dispatcher_answers(address, timeout):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise KerasViTError(f"No tf.data service dispatcher answers at {address} ({error.strerror or error}): "
                            f"start it first (`keras-vit data-service dispatcher --port {port}` on {host}).") from None


def _started(server_class, config, port, role):
    try:
        return server_class(config)
    except RuntimeError as error:  # "Could not start gRPC server"
        raise KerasViTError(f"The tf.data service {role} could not start on port {port}: {error}.") from None
