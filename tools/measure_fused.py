"""Fused bias + activation against the unfused sequence of relukit's own kernels, at 1e7 elements.

    python tools/measure_fused.py [--dtype float32] [--threads N] [--reps 15] [--out]

Candidates are interleaved call by call and each figure is a median; ratios are unfused / fused.
Forward: bias_act(x, b, act) vs act(x + b). Backward: bias_act_backward(g, x, b, act) vs
act_backward(g, x + b) followed by dx.sum(over every axis but the channel's). With --out both
write into preallocated arrays (no page faults: the kernels alone).
"""

import argparse
import contextlib
import statistics
import time

import numpy as np

import relukit

LAYOUTS = [((10_000, 1_000), -1), ((32, 64, 70, 70), 1)]     # channels last; NCHW
ACTS = ["relu", "leaky_relu", "gelu", "silu"]


def medians(candidates, reps):
    times = {name: [] for name in candidates}
    for _ in range(reps):
        for name, call in candidates.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--out", action="store_true", help="write into preallocated outputs")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    limit = relukit.threads(args.threads) if args.threads else contextlib.nullcontext()
    with limit:
        print(f"{args.dtype}, {relukit.get_num_threads()} threads, "
              f"{'out=' if args.out else 'allocating'}; ms (median of {args.reps}), unfused/fused")
        for shape, axis in LAYOUTS:
            x = rng.standard_normal(shape).astype(args.dtype)
            g = rng.standard_normal(shape).astype(args.dtype)
            b = rng.standard_normal(shape[axis]).astype(args.dtype)
            bshape = [1] * x.ndim
            bshape[axis] = -1
            bb = b.reshape(bshape)
            others = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
            o, t = (np.empty_like(x), np.empty_like(x)) if args.out else (None, None)
            for act in ACTS:
                f, fb = getattr(relukit, act), getattr(relukit, f"{act}_backward")
                r = medians({
                    "fused": lambda: relukit.bias_act(x, b, act, axis=axis, out=o),
                    "unfused": lambda: f(np.add(x, bb, out=t), out=o),
                    "fused_b": lambda: relukit.bias_act_backward(g, x, b, act, axis=axis, out=o),
                    "unfused_b": lambda: fb(g, np.add(x, bb, out=t), out=o).sum(axis=others),
                }, args.reps)
                print(f"{str(shape):18} axis={axis:2} {act:10} forward {r['fused']:7.2f} vs "
                      f"{r['unfused']:7.2f} ({r['unfused'] / r['fused']:.2f}x)  backward "
                      f"{r['fused_b']:7.2f} vs {r['unfused_b']:7.2f} "
                      f"({r['unfused_b'] / r['fused_b']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
