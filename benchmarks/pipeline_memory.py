"""Peak memory of `keras-vit train` on image folders of different sizes: it must not grow with the dataset.

For each folder size, 500x375 JPEGs are written (`benchmarks/jpeg_folder.py`) and
`keras-vit train --model MODEL --epochs 1 --data-dir FOLDER` runs in a subprocess whose resident memory (RSS, with
its children) is sampled every 0.2 s. A run may be stopped after `--max-seconds` (the memory of a streamed
pipeline is reached within the first steps; the figure then says how far the run got). Printed per size: peak
RSS, seconds, whether the epoch completed, and the ratio of each peak to the smallest folder's.

Example:

    python benchmarks/pipeline_memory.py --images 2000 20000 --max-seconds 600
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jpeg_folder import write_jpeg_folder  # noqa: E402


def peak_rss(command, max_seconds, interval=0.2):
    """(peak RSS in bytes of `command` and its children, seconds, whether it finished) of running `command`."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in tree))
        except psutil.NoSuchProcess:
            pass
        if time.perf_counter() - start > max_seconds:
            process.terminate()
            process.wait()
            return peak, time.perf_counter() - start, False
        time.sleep(interval)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read()[-2000:]}")
    return peak, time.perf_counter() - start, True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 20000], help="folder sizes")
    parser.add_argument("--model", default="vit_tiny_patch16_224")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=900, help="stop a run after this long")
    parser.add_argument("--work-dir", help="where folders and runs are written (default: a temporary folder)")
    arguments = parser.parse_args(argv)
    work_dir = arguments.work_dir or tempfile.mkdtemp(prefix="pipeline_memory_")
    print(f"keras-vit train --model {arguments.model} --epochs 1 --batch-size {arguments.batch_size}, 500x375 "
          f"JPEGs, {os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB", flush=True)
    peaks = {}
    try:
        for count in arguments.images:
            folder = os.path.join(work_dir, f"jpegs_{count}")
            if not os.path.isdir(folder):
                write_jpeg_folder(folder, count // 2, 500, 375, classes=2)
            command = ["keras-vit", "train", "--model", arguments.model, "--epochs", "1", "--data-dir", folder,
                       "--batch-size", str(arguments.batch_size), "--output", os.path.join(work_dir, f"run_{count}"),
                       "--overwrite", "--verbose", "0"]
            peak, seconds, finished = peak_rss(command, arguments.max_seconds)
            peaks[count] = peak
            print(f"{count:>7} images: peak RSS {peak / 2**30:.2f} GiB after {seconds:.0f} s "
                  f"({'epoch done' if finished else 'stopped before the end of the epoch'}), "
                  f"{peak / peaks[arguments.images[0]]:.2f}x the {arguments.images[0]}-image run", flush=True)
    finally:
        if not arguments.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
