"""Images/s of timm's DeiT training loader on a JPEG folder: the baseline of keras_vit's input pipeline.

The loader of timm's DeiT recipe, on the CPU: `torchvision.datasets.ImageFolder` with
`timm.data.create_transform(224, is_training=True, auto_augment="rand-m9-mstd0.5", re_prob=0.25)` (random
resized crop, flip, RandAugment, normalisation, random erasing), a shuffling `torch.utils.data.DataLoader`
(`drop_last=True`, persistent worker processes) and `timm.data.Mixup(mixup_alpha=0.8, cutmix_alpha=1.0,
label_smoothing=0.1)` on each batch in the main process. The first batches (worker start-up) are not timed;
the timed batches run across epochs when the folder holds fewer. With `--memory`, a thread samples the resident
memory of the main process and its workers every 0.1 s and the peaks are printed too: the sum of their RSS (which
counts the pages the forked workers share with the main process once per process) and of their PSS (shared pages
split between the processes that share them).

timm and torch are a benchmark-only dependency, in a virtual environment of their own (outside the repository):

    python -m venv /work/timm-venv
    /work/timm-venv/bin/pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
    /work/timm-venv/bin/pip install -r benchmarks/requirements-timm.txt

torch and torchvision must come from the same index: where download.pytorch.org is unreachable, install both
from PyPI (`pip install -r benchmarks/requirements-timm.txt` alone; the CUDA build, about 5 GB, runs on the
CPU). A CPU torch beside PyPI's torchvision fails at `import timm` ("operator torchvision::nms does not exist"):
`/work/timm-venv/bin/python -c "import timm"` checks the pair.

Example (the folder written by `benchmarks/jpeg_folder.py`):

    python benchmarks/jpeg_folder.py --output /tmp/jpegs --images 2000
    /work/timm-venv/bin/python benchmarks/timm_loader.py /tmp/jpegs --batch-size 64 --workers 2 --memory
"""

import argparse
import contextlib
import os
import threading
import time

import psutil
import timm
import torch
from timm.data import Mixup, create_transform
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder


def deit_training_loader(directory, batch_size, workers, image_size=224):
    """timm's DeiT training transform over an `ImageFolder`, in a shuffling `DataLoader` of `workers` processes.

    Args:
        directory: a folder with one sub-folder of images per class.
        batch_size: images per batch (the last, smaller batch of each epoch is dropped, as DeiT does).
        workers: worker processes that read, decode and augment the images.
        image_size: side of the square crops.

    Returns:
        The `DataLoader` of (images, class indices) and the number of classes.

    Example:
        >>> loader, num_classes = deit_training_loader("/tmp/jpegs", batch_size=64, workers=2)
    """
    transform = create_transform(image_size, is_training=True, auto_augment="rand-m9-mstd0.5", re_prob=0.25)
    dataset = ImageFolder(directory, transform=transform)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0)
    return loader, len(dataset.classes)


def mixed_batches(loader, mixup):
    """Endless (images, soft labels): `loader`'s batches, epoch after epoch, each through `mixup`."""
    while True:
        for images, labels in loader:
            yield mixup(images, labels)


class TreeMemoryPeak:
    """Peak summed RSS and PSS (bytes) of this process and its descendants, sampled by a thread every 0.1 s.

    Example:
        >>> with TreeMemoryPeak() as peak:
        ...     run_the_loader()
        >>> peak.rss, peak.pss
    """

    def __init__(self, interval=0.1):
        self.interval, self.rss, self.pss = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        main = psutil.Process()
        while not self._stop.wait(self.interval):
            rss = pss = 0
            for process in [main, *main.children(recursive=True)]:
                try:
                    memory = process.memory_full_info()
                except psutil.NoSuchProcess:  # a worker that just exited
                    continue
                rss, pss = rss + memory.rss, pss + memory.pss
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)


def images_per_second(batches, batch_size, warmup, timed):
    """Images/s of taking `timed` batches from the iterator `batches`, after `warmup` untimed ones."""
    for _ in range(warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(timed):
        next(batches)
    return timed * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="folder with one sub-folder of images per class")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (num_workers)")
    parser.add_argument("--warmup-batches", type=int, default=3, help="untimed batches first (worker start-up)")
    parser.add_argument("--batches", type=int, default=30, help="timed batches")
    parser.add_argument("--memory", action="store_true", help="also print the peak RSS and PSS of the process tree")
    arguments = parser.parse_args(argv)

    loader, num_classes = deit_training_loader(arguments.directory, arguments.batch_size, arguments.workers)
    mixup = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=num_classes)
    peak = TreeMemoryPeak() if arguments.memory else contextlib.nullcontext()
    with peak:
        speed = images_per_second(mixed_batches(loader, mixup), arguments.batch_size, arguments.warmup_batches,
                                  arguments.batches)
    memory = (f", peak RSS {peak.rss / 2**20:.0f} MiB (sum), PSS {peak.pss / 2**20:.0f} MiB"
              if arguments.memory else "")
    print(f"timm {timm.__version__} DeiT loader: {speed:.1f} images/s ({len(loader.dataset)} images, batch "
          f"{arguments.batch_size}, {arguments.workers} workers, {arguments.batches} batches after "
          f"{arguments.warmup_batches}, {os.cpu_count()} CPU cores, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads){memory}", flush=True)


if __name__ == "__main__":
    main()
