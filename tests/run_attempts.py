"""Attempts of a run in forked children, each one a subprocess that SIGKILL can cut at any moment.

Importing TensorFlow costs several seconds a process; this driver imports keras_vit once, then forks one child an
attempt. A child has run no TensorFlow op before the fork (the driver never runs one), so each starts clean, as a
new `keras-vit` process would. The driver reads one JSON request a line on stdin and answers one JSON line on
stdout:

- request: {"call": "train" or "pretrain", "kwargs": {...}, "log": file for the child's stdout and stderr,
  "kill_at": `KERAS_VIT_KILL_AT` of the child or null, "kill_after": seconds or null}. With "kill_after", the
  driver SIGKILLs the child that many seconds after the child's first new row of `history.csv` (so that every
  attempt trains at least one epoch), unless it ended before.
- answer: {"signal": the signal that ended the child or null, "exit_code": its exit code or null, "epochs": the
  epochs (from 1) it started, from its "Epoch k/N" lines (Keras prints them with verbose=2, for 2 epochs or
  more)}.
"""

import csv
import json
import os
import re
import signal
import sys
import time
import traceback

import keras_vit
from keras_vit.kill_points import VARIABLE

ATTEMPT_TIMEOUT = 300  # seconds after which a stuck child is killed and reported as such


def main():
    for line in sys.stdin:
        print(json.dumps(attempt(json.loads(line))), flush=True)


def attempt(request):
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        _run_child(request)
    history = os.path.join(request["kwargs"]["output_dir"], "history.csv")
    rows = _rows(history)
    deadline = time.monotonic() + ATTEMPT_TIMEOUT
    kill_at = None
    while time.monotonic() < deadline:
        ended, status = os.waitpid(child, os.WNOHANG)
        if ended:
            break
        if request.get("kill_after") is not None and kill_at is None and _rows(history) > rows:
            kill_at = time.monotonic() + request["kill_after"]
        if kill_at is not None and time.monotonic() >= kill_at:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.01)
    else:
        os.kill(child, signal.SIGKILL)
        _, status = os.waitpid(child, 0)
    with open(request["log"]) as file:
        epochs = [int(epoch) for epoch in re.findall(r"^Epoch (\d+)/", file.read(), re.MULTILINE)]
    return {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, "epochs": epochs}


def _run_child(request):
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if request.get("kill_at"):
        os.environ[VARIABLE] = request["kill_at"]
    code = 1
    try:
        getattr(keras_vit, request["call"])(**request["kwargs"])
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _rows(path):
    try:
        with open(path, newline="") as file:
            return sum(1 for _ in csv.DictReader(file))
    except FileNotFoundError:
        return 0


if __name__ == "__main__":
    main()
