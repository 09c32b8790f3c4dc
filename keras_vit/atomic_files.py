"""Files that are complete under their name or not there: written under a temporary name, then renamed.

A kill, a crash or a full disk during a write leaves the previous file (or none) under the final name, never a
truncated one. The temporary file lies in the same folder (a rename within one file system is atomic), is
flushed to disk before the rename, and the folder after it, so that a power loss cannot undo the rename either.
Its name starts with `INCOMPLETE` and ends with the final name (so it keeps the suffix, e.g. `.keras`, that some
writers require); a killed write leaves it behind, and `remove_incomplete` deletes such leftovers.
"""

import contextlib
import os
import pathlib
import secrets

from keras_vit.kill_points import kill_point

INCOMPLETE = ".incomplete-"


@contextlib.contextmanager
def atomic_write(path):
    """Yields a temporary path beside `path` to write to; renames it to `path` when the block ends without error.

    The file written to the temporary path is flushed to disk and replaces `path` (an older file included) in one
    rename; when the block raises, it is deleted and `path` is left as it was.

    Args:
        path: the file to write; its folder must exist.

    Example:
        >>> with atomic_write("runs/digits/model.keras") as temporary:
        ...     model.save(temporary)
    """
    path = pathlib.Path(path)
    temporary = path.with_name(f"{INCOMPLETE}{secrets.token_hex(4)}.{path.name}")
    try:
        yield temporary
        publish_file(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def publish_file(temporary, path):
    """Flushes the complete file `temporary` to disk and renames it to `path` (same folder), durably.

    Example:
        >>> publish_file("runs/.incomplete-1f2e.model.class_names.json", "runs/model.class_names.json")
    """
    path = pathlib.Path(path)
    with open(temporary, "rb") as file:
        os.fsync(file.fileno())
    kill_point(f"write:{path.name}")
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_text_atomically(path, text):
    """Writes `text` to the file `path` with `atomic_write`.

    Example:
        >>> write_text_atomically("runs/digits/run.json", json.dumps(arguments))
    """
    with atomic_write(path) as temporary:
        temporary.write_text(text)


def remove_incomplete(folder):
    """Deletes the temporary files that killed writes left in `folder`.

    Example:
        >>> remove_incomplete("runs/digits")
    """
    for leftover in pathlib.Path(folder).glob(f"{INCOMPLETE}*"):
        leftover.unlink()
