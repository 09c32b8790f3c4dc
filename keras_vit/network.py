"""Whether this machine can reach the servers datasets and checkpoints are downloaded from, asked once, quickly."""

import functools
import socket

DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # Keras and TFDS downloads come from here


@functools.lru_cache(maxsize=None)
def is_online(host=DOWNLOAD_HOST, timeout=3.0):
    """True when a TCP connection to `host` opens within `timeout` seconds.

    Sources call this before downloading, so an offline machine gets a clear error at once instead of a
    download that hangs or fails deep inside Keras or TFDS.

    Example:
        >>> is_online()
        False
    """
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False
