"""Finding unreadable or corrupt images before training, so a bad file fails the run before its first step."""

import logging
import re

import tensorflow as tf

from keras_vit.data.image_guards import FILE_LIMITS, file_image_problem, image_problem
from keras_vit.data.progress import PassProgress
from keras_vit.errors import KerasViTError

logger = logging.getLogger("keras_vit")
MAX_LISTED = 20  # bad files named in an error; the rest are counted


def find_corrupt_images(paths, decode=True, verbose=0, what="images"):
    """Checks and (with `decode`) decodes every file once, in parallel, with the same TensorFlow decoder training
    uses, and returns the bad ones.

    Each file's headers are checked first (`keras_vit.data.image_guards.image_problem` with `FILE_LIMITS`): a file
    that declares more than the limits allow (a decompression bomb) is reported without being decoded. Without
    `decode` only the headers are checked: one read of each file and no pixel work, fast enough for any folder
    (training checks folders this way, and the stream names a file whose image data turns out broken).

    Args:
        paths: image file paths.
        decode: decode the files that pass their header checks too.
        verbose: 0 silent; 1 (or 2) a line naming the scan and a progress bar over the files
            (`keras_vit.data.progress.PassProgress`).
        what: what the files are, in that line.

    Returns:
        {path: reason} of the files that cannot be read, fail a check or cannot be decoded, in the order of
        `paths`.

    Example:
        >>> find_corrupt_images(["ok.png", "broken.jpg"])
        {'broken.jpg': 'Unknown image file format...'}
        >>> find_corrupt_images(paths, decode=False, verbose=1, what="the images of 'flowers/'")
        Scanning the images of 'flowers/': 3,670 files, headers only
        3670/3670 ━━━━━━━━━━━━━━━━━━━━ 1s 250us/image
        {}
    """
    paths = [str(path) for path in paths]
    if not paths:
        return {}

    def decodes(path):
        image_bytes = tf.io.read_file(path)
        passes = tf.equal(image_problem(image_bytes, **FILE_LIMITS), "")
        if not decode:
            return path, tf.where(passes, 1, -1)
        decoded = tf.cond(passes, lambda: tf.shape(tf.io.decode_image(image_bytes, expand_animations=False))[0],
                          lambda: tf.constant(-1))
        return path, decoded

    checked = tf.data.Dataset.from_tensor_slices(paths).map(decodes, num_parallel_calls=tf.data.AUTOTUNE)
    good = set()
    with PassProgress(f"Scanning {what}: {len(paths):,} files, {'decoded' if decode else 'headers only'}",
                      len(paths), verbose) as progress:
        for path, height in checked.ignore_errors().as_numpy_iterator():
            progress.add()
            if height >= 0:
                good.add(path.decode())
        progress.add(len(paths) - progress.count)  # the unreadable files ignore_errors dropped were scanned too
    return {path: _reason(path, decode) for path in paths if path not in good}


def check_images(paths, skip_corrupt=False, what="images", decode=True, verbose=0):
    """The readable images of `paths`: a bad file is an error naming it, or with `skip_corrupt` a logged skip.

    `decode`, `verbose`: as in `find_corrupt_images` (False checks headers only; 1 shows the scan's progress).

    Raises:
        KerasViTError: some files are unreadable or corrupt (all listed, up to 20) and `skip_corrupt` is False.

    Example:
        >>> good = check_images(paths, skip_corrupt=True)  # logs "Skipped 2 corrupt ..."
    """
    bad = find_corrupt_images(paths, decode=decode, verbose=verbose, what=what)
    if not bad:
        return list(paths)
    if not skip_corrupt:
        listed = "; ".join(f"{path} ({reason})" for path, reason in list(bad.items())[:MAX_LISTED])
        more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise KerasViTError(
            f"{len(bad)} unreadable or corrupt file(s) among {what}: {listed}{more}. Remove them, or skip them "
            f"with skip_corrupt=True.")
    logger.warning("Skipped %d corrupt or unreadable file(s) among %s: %s", len(bad), what,
                   ", ".join(list(bad)[:MAX_LISTED]) + (" ..." if len(bad) > MAX_LISTED else ""))
    return [path for path in paths if str(path) not in bad]


def _reason(path, decode):
    try:
        image_bytes = tf.io.read_file(path)
        problem = file_image_problem(image_bytes).numpy().decode()
        if problem:
            return problem
        if decode:
            tf.io.decode_image(image_bytes, expand_animations=False)
    except (tf.errors.OpError, ValueError) as error:
        message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(error, "message", str(error)))
        message = re.sub(r"\s*\[Op:\w+\].*$", "", message.strip().splitlines()[0] if message.strip() else "")
        return message or type(error).__name__
    return "not decodable"
