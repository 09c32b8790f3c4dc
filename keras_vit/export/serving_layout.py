"""TF Serving's model layout `BASE/NAME/VERSION/`: picking the version folder and publishing into it atomically."""

import os
import pathlib
import shutil
import tempfile

from keras_vit.errors import KerasViTError


def version_directory(base_dir, name, version=None):
    """The folder `base_dir/name/version` a new export goes to; it must not exist yet.

    Args:
        base_dir: TF Serving's model base path parent (a model's versions live in `base_dir/name`).
        name: the model name, a single folder name.
        version: a positive integer; by default one more than the largest numeric version folder (1 if none).

    Returns:
        pathlib.Path of the version folder (not created).

    Raises:
        KerasViTError: bad name or version, or that version exists already (exports never overwrite one).

    Example:
        >>> version_directory("serving", "vit_tiny")  # serving/vit_tiny/1 and 2 exist
        PosixPath('serving/vit_tiny/3')
    """
    name = str(name)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise KerasViTError(f"Model name '{name}' must be a single folder name.")
    model_dir = pathlib.Path(base_dir) / name
    existing = {int(path.name) for path in model_dir.iterdir() if path.name.isdigit()} if model_dir.is_dir() else set()
    if version is None:
        version = max(existing, default=0) + 1
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise KerasViTError(f"Version {version!r} must be a positive integer.")
    if version in existing:
        raise KerasViTError(
            f"Version {version} of model '{name}' already exists in '{model_dir}'; an export never overwrites a "
            f"version. Choose another version, or leave it out to get {max(existing) + 1}.")
    return model_dir / str(version)


def publish(write, target):
    """Calls `write(folder)` on a hidden temporary folder beside `target`, then renames it to `target`.

    TF Serving watches the model folder and loads a numeric folder as soon as it appears; the rename makes the
    version appear complete or not at all.

    Example:
        >>> publish(lambda folder: archive.write_out(folder), pathlib.Path("serving/vit_tiny/3"))
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-incomplete-", dir=target.parent))
    try:
        write(temporary)
        if target.exists():
            raise KerasViTError(f"'{target}' appeared during the export; it was left untouched.")
        os.rename(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
