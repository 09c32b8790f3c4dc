"""Finding a checkpoint file: a local path as it is, a published name in the local cache or downloaded."""

import pathlib
import urllib.parse

import keras

from keras_vit.errors import KerasViTError
from keras_vit.models.registry import preset_config
from keras_vit.network import is_online
from keras_vit.weights.published import PUBLISHED, published_checkpoint

HUB_HOST = ("huggingface.co", 443)
DEFAULT_CACHE = pathlib.Path("~/.keras/keras_vit/weights")


def checkpoint_file(weights, cache_dir=None):
    """The local file of `weights`: an existing path, or a published checkpoint's name (downloaded once).

    Hub checkpoints are fetched with `huggingface_hub.hf_hub_download` into the Hugging Face cache (or
    `cache_dir`); the .npz files of vit_jax from their URL into `cache_dir` (default ~/.keras/keras_vit/weights).

    Args:
        weights: a path to a .safetensors or .npz file, or a name from `list_pretrained()`.
        cache_dir: where downloads are kept; None for the defaults above.

    Returns:
        A `pathlib.Path` of the file.

    Raises:
        KerasViTError: an unknown name, or a checkpoint that is not cached and cannot be downloaded (offline, or
            `huggingface_hub` missing); the message says where it looked, the download URL and how to pass the
            file by hand.

    Example:
        >>> checkpoint_file("vit_tiny_patch16_224.augreg_in21k_ft_in1k")
        PosixPath('/home/me/.cache/huggingface/hub/models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k/...')
    """
    path = pathlib.Path(str(weights)).expanduser()
    if path.is_file():
        return path
    if str(weights) not in PUBLISHED and (path.suffix in (".safetensors", ".npz") or len(path.parts) > 1):
        raise KerasViTError(f"Checkpoint file {path} does not exist.")
    checkpoint = published_checkpoint(str(weights))
    if checkpoint.repo_id:
        return _from_hub(checkpoint, cache_dir)
    return _from_url(checkpoint, cache_dir)


def _from_hub(checkpoint, cache_dir):
    try:
        import huggingface_hub
    except ImportError:
        raise _unavailable(checkpoint, "huggingface_hub is not installed: pip install huggingface_hub",
                           "nowhere") from None
    where = cache_dir or huggingface_hub.constants.HF_HUB_CACHE
    try:  # a copy downloaded before, found without the network
        return pathlib.Path(huggingface_hub.hf_hub_download(checkpoint.repo_id, checkpoint.filename,
                                                            cache_dir=cache_dir, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure here just means "not cached"
        pass
    if not is_online(HUB_HOST):
        raise _unavailable(checkpoint, f"this machine cannot reach {HUB_HOST[0]}", f"the Hugging Face cache {where}")
    try:
        return pathlib.Path(huggingface_hub.hf_hub_download(checkpoint.repo_id, checkpoint.filename,
                                                            cache_dir=cache_dir))
    except Exception as error:  # noqa: BLE001 - network, authentication, missing file: all end the same way
        raise _unavailable(checkpoint, f"the download failed: {error}", f"the Hugging Face cache {where}") from None


def _from_url(checkpoint, cache_dir):
    folder = pathlib.Path(cache_dir or DEFAULT_CACHE).expanduser()
    path = folder / checkpoint.filename
    if path.is_file():
        return path
    host = urllib.parse.urlparse(checkpoint.url).hostname
    if not is_online((host, 443)):
        raise _unavailable(checkpoint, f"this machine cannot reach {host}", str(folder))
    try:
        return pathlib.Path(keras.utils.get_file(checkpoint.filename, checkpoint.url, cache_dir=str(folder),
                                                 cache_subdir=""))
    except Exception as error:  # noqa: BLE001
        raise _unavailable(checkpoint, f"the download failed: {error}", str(folder)) from None


def _unavailable(checkpoint, reason, where):
    preset = preset_config(checkpoint.preset)
    hint = ""
    if tuple(preset["mean"]) != checkpoint.mean or tuple(preset["std"]) != checkpoint.std:
        hint = (f" It normalises with mean {checkpoint.mean} and std {checkpoint.std}, not the preset's: in Python "
                f"pass create_pretrained(PATH, mean={checkpoint.mean}, std={checkpoint.std}).")
    return KerasViTError(
        f"Pretrained checkpoint '{checkpoint.name}' is not on this machine and cannot be downloaded ({reason}); "
        f"looked in {where}. Download {checkpoint.download_url} on a connected machine, copy it here and pass the "
        f"file: weights=PATH (preset {checkpoint.preset}).{hint}")
