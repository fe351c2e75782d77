"""Measure where 2 threads beat 1, per op class: the data behind _ops.WORK_CLASSES.

Forces the threshold to 0, then times each size with 1 and N threads interleaved (medians of
many samples). Run on an otherwise idle machine: a busy core stalls every fork/join.
    python tools/measure_threads.py [--work memory|compute] [--threads 2] [--repeats 31]
                                    [--sizes 65536,100000,...]
The thresholds are in bytes of array operands per call (inputs + output; an in-place call counts
its one array twice), so a row's "bytes" column is what the threshold compares.
"""

import argparse
import statistics
import time

import numpy as np

import relukit
from relukit._dispatch import kernels


def median_time(fn, repeats, calls):
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--work", choices=["memory", "compute"], default="memory")
    parser.add_argument("--min-exp", type=int, default=12, help="smallest size, as a power of 2")
    parser.add_argument("--sizes", help="comma-separated sizes instead of the powers of 2")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    saved = kernels.get_thresholds()
    for work in saved:
        kernels.set_threshold(work, 0)
    memory = {
        "relu f32 out=": lambda x, g, o: relukit.relu(x, out=o),
        "relu f32 in place": lambda x, g, o: relukit.relu(o, out=o),
        "relu_backward f32 out=": lambda x, g, o: relukit.relu_backward(g, x, out=o),
        "relu f64 out=": lambda x, g, o: relukit.relu(x, out=o),
    }
    compute = {
        "sigmoid f32 out=": lambda x, g, o: relukit.sigmoid(x, out=o),
        "elu f32 out=": lambda x, g, o: relukit.elu(x, out=o),
        "gelu f32 out=": lambda x, g, o: relukit.gelu(x, out=o),
        "tanh_backward f64 out=": lambda x, g, o: relukit.tanh_backward(g, x, out=o),
    }
    cases = {"memory": memory, "compute": compute}[args.work]
    sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else [1 << e for e in range(args.min_exp, 24)]
    print(f"{'case':<24} {'n':>9} {'bytes':>9} {'1 thread':>10} {args.threads} threads  speed-up")
    for name, fn in cases.items():
        dtype = np.float64 if "f64" in name else np.float32
        operands = 3 if "backward" in name else 2
        for n in sizes:
            x = rng.standard_normal(n).astype(dtype)
            g, o = rng.standard_normal(n).astype(dtype), x.copy()
            calls = max(1, (1 << 22) // n)
            times = {1: [], args.threads: []}
            for _ in range(args.repeats):
                for nt in times:
                    with relukit.threads(nt):
                        times[nt].append(median_time(lambda: fn(x, g, o), 1, calls))
            t1, tn = statistics.median(times[1]), statistics.median(times[args.threads])
            print(f"{name:<24} {n:>9} {n * operands * np.dtype(dtype).itemsize:>9} {t1 * 1e6:9.1f}us {tn * 1e6:9.1f}us  {t1 / tn:6.2f}", flush=True)
    for work, n in saved.items():
        kernels.set_threshold(work, n)


if __name__ == "__main__":
    main()
