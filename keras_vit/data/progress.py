"""Progress of the long passes over a dataset before training: the folder scan, a cache fill, shard writing.

Each pass prints a line naming it, then a `keras.utils.Progbar` on stdout (as Keras' own bars), at the caller's
`verbose` >= 1; at verbose 0 it prints nothing.
"""

import keras

PROGRESS_EVERY = 64  # items between two updates of the bar (an update costs about a microsecond)


class PassProgress:
    """A context manager over one pass: its title line on entry, a bar counting `add`ed items, the final count on a
    clean exit. The bar is updated every `every` items (and Keras redraws it at most every 0.05 s), so a pass over
    many small files is not slowed by it.

    Args:
        title: what the pass does and over how many items, e.g. "Scanning 12 images in 'flowers/'".
        target: items the pass goes over, or None when unknown (the bar then counts up).
        verbose: 0 silent, 1 a bar redrawn in place, 2 the title and the final count only (as Keras' verbose=2).
        unit_name: what an item is, in the bar's time per item.
        every: items between two updates of the bar.

    Example:
        >>> with PassProgress(f"Scanning {len(paths)} images in 'flowers/'", len(paths), verbose=1) as progress:
        ...     for path in paths:
        ...         progress.add()
        Scanning 3 images in 'flowers/'
        3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 1ms/image
    """

    def __init__(self, title, target=None, verbose=1, unit_name="image", every=PROGRESS_EVERY):
        self.title = title
        self.target = target
        self.verbose = verbose
        self.unit_name = unit_name
        self.every = every
        self.count = 0
        self._shown = 0
        self._bar = None

    def __enter__(self):
        if self.verbose:
            print(self.title, flush=True)
            self._bar = keras.utils.Progbar(self.target, verbose=min(int(self.verbose), 2), unit_name=self.unit_name)
        return self

    def add(self, count=1):
        """Counts `count` more items done; the bar shows them once `every` have gathered since it last moved."""
        self.count += count
        if self._bar is not None and self.count - self._shown >= self.every:
            self._shown = self.count
            self._bar.update(self.count, finalize=False)

    def __exit__(self, error_type, error, traceback):
        if self._bar is not None and error_type is None:
            self._bar.update(self.count, finalize=True)
        return False
