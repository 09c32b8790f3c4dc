"""TensorFlow's start-up lines held back from the terminal while `keras_vit` first imports it.

TensorFlow's C++ side logs INFO lines as it loads ("oneDNN custom operations are on", "Could not find cuda
drivers", and absl's "All log messages before absl::InitializeLog() ..."), before `TF_CPP_MIN_LOG_LEVEL` applies to
them. Unless the user chose a level, `keras_vit` asks for level 2 (no INFO or WARNING lines) and makes that hold for
the import too: everything written to the process's stderr during it is caught, the INFO / WARNING lines of the C++
logger are kept in `STARTUP_LINES` (`keras-vit --verbose 2` prints them), and every other line is written back.
"""

import contextlib
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
STARTUP_LINES = []  # the held-back lines, in order
_HELD_BACK = re.compile(r"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
                        r"STDERR|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\] )")


@contextlib.contextmanager
def quiet_tensorflow_start():
    """Within this context, holds back the C++ logger's INFO and WARNING lines written to stderr (file descriptor
    2), unless the user set `TF_CPP_MIN_LOG_LEVEL` or TensorFlow is already imported; sets the level to 2 otherwise.

    Memory: what the import writes to stderr, in a temporary file.

    Example:
        >>> with quiet_tensorflow_start():
        ...     import tensorflow
    """
    if LEVEL_VARIABLE in os.environ or "tensorflow" in sys.modules:
        yield
        return
    os.environ[LEVEL_VARIABLE] = "2"
    sys.stderr.flush()
    terminal = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            os.close(terminal)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines(keepends=True):
                if _HELD_BACK.match(line):
                    STARTUP_LINES.append(line)
                else:
                    sys.stderr.write(line)
            sys.stderr.flush()
