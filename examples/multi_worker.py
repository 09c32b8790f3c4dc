"""Synchronous training over several worker processes or hosts (`keras-vit train --strategy multi-worker`).

On each host, with TF_CONFIG naming every worker and this host's index, and the same --output path (shared storage,
or the same local path on every host):

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}' \
        python examples/multi_worker.py --data-dir /data/images --output /runs/images        # index 1 on host2

To try it on one machine, --local-workers N starts N workers on localhost itself, each with its own TF_CONFIG:

    python examples/multi_worker.py --local-workers 2 --data-dir flowers/ --epochs 2 --batch-size 8

--batch-size is the global batch, split across the workers. Worker 0 writes the output folder, worker N the same
files in OUTPUT/worker_N/. Each worker reads its own part of every pass over the images.
"""

import argparse
import json
import os
import socket
import subprocess
import sys


def train_here(data_dir, output_dir, model=None, epochs=None, batch_size=None, **options):
    """This process's share of the training, as the worker TF_CONFIG names; returns `keras_vit.train`'s result."""
    import keras_vit  # imported here: --local-workers starts the workers without loading TensorFlow itself

    result = keras_vit.train(model, data_dir=data_dir, epochs=epochs, batch_size=batch_size, output_dir=output_dir,
                             strategy="multi-worker", **{"verbose": 2, **options})
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    print(f"worker {index}: test accuracy {result.test_accuracy:.4f}, final loss {result.history['loss'][-1]:.6f}")
    return result


def start_local_workers(count, arguments):
    """Runs this script `count` times on localhost (free ports), each a worker of one cluster; returns their codes."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    for sock in sockets:
        sock.close()
    processes = [subprocess.Popen([sys.executable, __file__, *arguments], env={
        **os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})})
        for i in range(count)]
    return [process.wait() for process in processes]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with one sub-folder of images per class")
    parser.add_argument("--output", required=True, help="output folder, the same path on every worker")
    parser.add_argument("--model", help="preset name (default: the recommended one, vitc_nano_patch4_local_32)")
    parser.add_argument("--epochs", type=int, help="default: the preset's recipe")
    parser.add_argument("--batch-size", type=int, help="global batch, split across the workers (default: the recipe's)")
    parser.add_argument("--local-workers", type=int, help="start this many workers on localhost (default: TF_CONFIG)")
    args = parser.parse_args()
    if args.local_workers:
        given = {"--data-dir": args.data_dir, "--output": args.output, "--model": args.model, "--epochs": args.epochs,
                 "--batch-size": args.batch_size}
        sys.exit(max(start_local_workers(args.local_workers, [
            f"{flag}={value}" for flag, value in given.items() if value is not None])))
    if "TF_CONFIG" not in os.environ:
        parser.error("set TF_CONFIG on each worker (see this script's docstring), or pass --local-workers N")
    train_here(args.data_dir, args.output, args.model, args.epochs, args.batch_size)
