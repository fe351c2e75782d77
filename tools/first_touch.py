"""Reproduce the open allocating-output slowdown (issue 2's last row, issue 4's first-touch item).

Keeps a few 40 MB arrays alive as the bench does, then times each allocating relu call (a fresh
output) next to NumPy's allocating np.maximum and prints every sample. When 2 threads faulted the
output in together, the first calls of a process sometimes took ~40 ms on this VM (4 KiB page
faults) while 1 thread and NumPy stayed near 4 and 6 ms; since the calling thread alone faults it
in (run_fresh) with the other computing behind it: 3.6-6.5 ms, np.maximum 7.0-9.4 (session 9).
    python tools/first_touch.py [--threads 2] [--rounds 12]
"""

import argparse
import time

import numpy as np

import relukit


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("-n", type=int, default=10_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    live = [rng.standard_normal(args.n).astype(np.float32) for _ in range(6)]
    x, zero = live[0], np.float32(0)

    def ms(f):
        t0 = time.perf_counter()
        f()
        return (time.perf_counter() - t0) * 1e3

    relu, numpy = [], []
    for _ in range(args.rounds):
        with relukit.threads(args.threads):
            relu.append(ms(lambda: relukit.relu(x)))
        numpy.append(ms(lambda: np.maximum(x, zero)))
    print(f"relu, {args.threads} threads (ms): " + " ".join(f"{t:5.1f}" for t in relu))
    print("np.maximum (ms):        " + " ".join(f"{t:5.1f}" for t in numpy))


if __name__ == "__main__":
    main()
