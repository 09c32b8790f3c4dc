"""Seconds the `keras-vit` commands that only parse or list take, against Python's own start and `import keras_vit`.

Each command runs `--repeats` times in a fresh subprocess (`python -m keras_vit_cli.main ...`, so that no console
script shim is timed); the median is printed with its ratio to a bare `python -c pass` measured in the same run,
and, for comparison, the time of `import keras_vit` (what every command paid when the parser read its defaults from
the library).

Example:

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --repeats 9
"""

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (baseline)": ["-c", "pass"],
    "keras-vit --help": ["-m", "keras_vit_cli.main", "--help"],
    "keras-vit train --help": ["-m", "keras_vit_cli.main", "train", "--help"],
    "keras-vit models": ["-m", "keras_vit_cli.main", "models"],
    "python -c 'import keras_vit'": ["-c", "import keras_vit"],
}


def median_seconds(arguments, repeats):
    """Median wall seconds of `python ARGUMENTS` over `repeats` fresh processes; fails on a non-zero exit."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *arguments], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command; the median is printed")
    args = parser.parse_args()
    seconds = {name: median_seconds(arguments, args.repeats) for name, arguments in COMMANDS.items()}
    baseline = seconds["python -c pass (baseline)"]
    print(f"{'command':32} {'seconds':>8} {'x python':>9}")
    for name, value in seconds.items():
        print(f"{name:32} {value:8.2f} {value / baseline:9.1f}")


if __name__ == "__main__":
    main()
