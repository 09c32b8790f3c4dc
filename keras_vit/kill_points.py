"""Deterministic kills at named points of a run, for the tests of what a kill leaves behind (`KERAS_VIT_KILL_AT`).

A killed run must resume, or finish, from whatever it left on disk. The windows that matter (between an epoch's
end and its backup, during the write of a file, between the last epoch and the final files) are too short to hit
with a kill from outside at a chosen moment, so the library names them: with the environment variable
`KERAS_VIT_KILL_AT=POINT@N`, the process sends itself SIGKILL (as `kill -9` would: no clean-up, no `finally`) the
N-th time it reaches POINT (`POINT` alone: the first time). Unset, it does nothing. The points:

- `batch`: the end of a training batch (of an execution of `steps_per_execution` batches), i.e. within an epoch.
- `epoch_end`: an epoch's history row (and its best model) written, its backup not yet.
- `trained`: `fit` has returned (the run folder is "trained"), the test evaluation and the final files not started.
- `write:NAME`: a file named NAME written completely under its temporary name (`keras_vit.atomic_files`), not yet
  renamed to NAME; e.g. `write:model.keras`, `write:run.json`, `write:epoch_3.weights.h5` (the backup of epoch 3).
"""

import collections
import os
import signal

VARIABLE = "KERAS_VIT_KILL_AT"

_reached = collections.Counter()


def kill_point(name):
    """Counts point `name` and kills this process with SIGKILL when `KERAS_VIT_KILL_AT` asks for this visit.

    Args:
        name: the point reached (see the module's docstring).

    Example:
        >>> os.environ["KERAS_VIT_KILL_AT"] = "epoch_end@3"  # killed at the end of the third epoch run here
        >>> kill_point("epoch_end")
    """
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    point, _, visit = wanted.partition("@")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(visit or 1):
        os.kill(os.getpid(), signal.SIGKILL)
