"""Which data a pipeline keeps in memory (or in cache files): an explicit, bounded choice, never the float32
dataset.

`cache` is one of:
- "auto": training keeps a split's encoded bytes in memory only when they fit `auto_cache_budget()` (a fraction
  of the machine's memory); evaluation keeps its decoded uint8 images when they fit it. Anything larger streams
  from disk every epoch (the operating system's page cache still keeps recently read files in memory).
- "none": everything streams.
- "memory": cache regardless of size (the encoded bytes for training, the uint8 images for evaluation).
- a folder path: cache into files there (`tf.data.Dataset.cache(filename)`), for slow or remote file systems.
"""

import logging
import os
import pathlib

from keras_vit.errors import KerasViTError

CACHE_CHOICES = ("auto", "none", "memory")
AUTO_CACHE_FRACTION = 1 / 32
logger = logging.getLogger("keras_vit")


def auto_cache_budget():
    """Bytes "auto" may cache: `AUTO_CACHE_FRACTION` of the machine's physical memory.

    Example:
        >>> auto_cache_budget() // 2**20  # MiB, on a 24 GiB machine
        768
    """
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * AUTO_CACHE_FRACTION)


def check_cache(cache):
    """`cache` if it is a known choice or a folder path; a clear error naming `cache` otherwise.

    Example:
        >>> check_cache("auto")
        'auto'
    """
    if cache in CACHE_CHOICES:
        return cache
    if not isinstance(cache, (str, os.PathLike)) or not str(cache):
        raise KerasViTError(f"cache={cache!r} is not one of {', '.join(CACHE_CHOICES)} or a folder path.")
    folder = pathlib.Path(cache)
    if folder.exists() and not folder.is_dir():
        raise KerasViTError(f"cache={str(cache)!r} is a file, not a folder to write cache files into.")
    return cache


def cache_file(cache, nbytes, what, name):
    """Where `tf.data.Dataset.cache` should keep `what` ("" for memory), or None to stream it.

    Args:
        cache: the policy (see the module docstring).
        nbytes: bytes the cache would hold, or None when unknown (then "auto" streams).
        what: what would be cached, for the log line, e.g. "the 2,000 training files' encoded bytes".
        name: file name of the cache within a cache folder.

    Example:
        >>> cache_file("auto", 64 * 2**20, "the test images", "test")
        ''
    """
    cache = check_cache(cache)
    if cache == "none":
        return None
    if cache == "memory":
        return ""
    if cache != "auto":
        pathlib.Path(cache).mkdir(parents=True, exist_ok=True)
        return str(pathlib.Path(cache) / name)
    budget = auto_cache_budget()
    fits = nbytes is not None and nbytes <= budget
    size = "of unknown size" if nbytes is None else f"{nbytes / 2**20:,.0f} MiB"
    logger.info("cache auto: %s (%s) %s in memory (budget %.0f MiB, 1/%d of this machine's memory).", what, size,
                "cached" if fits else "not cached, streamed", budget / 2**20, round(1 / AUTO_CACHE_FRACTION))
    return "" if fits else None
