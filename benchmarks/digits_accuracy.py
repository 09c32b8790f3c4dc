"""Test accuracy and wall-clock time of the quick start's `keras-vit train` on the embedded digits, over seeds.

Each run is the command a user types (a fresh process, start-up and XLA compilation included), so the time is
what the quick start costs. Run on an otherwise idle machine:

    python benchmarks/digits_accuracy.py --seeds 0 1 2
"""

import argparse
import re
import subprocess
import tempfile
import time


def run(seed, extra_arguments):
    with tempfile.TemporaryDirectory() as output:
        start = time.perf_counter()
        completed = subprocess.run(["keras-vit", "train", "--seed", str(seed), "--verbose", "0", "--output", output,
                                    *extra_arguments], capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", completed.stdout).group(1))
    return accuracy, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more `keras-vit train` arguments, after --")
    arguments = parser.parse_args()
    extra = [a for a in arguments.extra if a != "--"]
    print(f"{'seed':>4} {'test accuracy':>14} {'wall seconds':>13}")
    results = []
    for seed in arguments.seeds:
        accuracy, seconds = run(seed, extra)
        results.append((accuracy, seconds))
        print(f"{seed:>4} {accuracy:>13.2f}% {seconds:>13.1f}", flush=True)
    accuracies, times = zip(*results)
    print(f"mean {sum(accuracies) / len(accuracies):>13.2f}% {sum(times) / len(times):>13.1f}"
          f"   (min accuracy {min(accuracies):.2f}%, max time {max(times):.1f} s)")


if __name__ == "__main__":
    main()
