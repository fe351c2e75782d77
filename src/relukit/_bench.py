"""``python -m relukit bench``: relukit against NumPy (and PyTorch when it is installed).

Candidates of one case are timed interleaved (one sample of each in turn) and the median of each is
reported, so a busy neighbour slows all of them alike; ratios are peer time / relukit time, so
above 1 means relukit is faster. Bandwidth counts the bytes a kernel must move (a forward reads x
and writes y: 2 bytes per input byte; a backward 3) and is compared with ``np.copyto`` timed in the
same case at the same size.
"""

import statistics
import time

import numpy as np

import relukit
from relukit import _peers

SIZES = (1, 1_000, 100_000, 1_000_000, 10_000_000)
DTYPES = ("float32", "float64")
CORE_OPS = ("relu", "leaky_relu")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _random(n, dtype, rng):
    # Normal data: half the elements negative, no zeros (zero pages and all-zero data time wrong).
    return rng.standard_normal(n).astype(dtype)


def _layout_cases(x, g, torch):
    """relu and relu_backward writing into a given output and in place (the issue-2 targets)."""
    out, inplace, g_inplace = np.empty_like(x), x.copy(), g.copy()
    zero = x.dtype.type(0)
    cases = [
        # relu is idempotent and g only loses elements where the fixed x <= 0: repeated in-place
        # calls do the same work on the same kind of data
        ("relu out=", 2, {"relukit": lambda: relukit.relu(x, out=out),
                          "numpy": lambda: np.maximum(x, zero, out=out)}),
        ("relu in place", 2, {"relukit": lambda: relukit.relu(inplace, out=inplace),
                              "numpy": lambda: np.maximum(inplace, zero, out=inplace)}),
        ("relu_backward out=g", 3, {
            "relukit": lambda: relukit.relu_backward(g_inplace, x, out=g_inplace),
            "numpy": lambda: np.multiply(g_inplace, x > zero, out=g_inplace)}),
    ]
    if torch is not None:
        tx, tout, ti, tgi = (torch.from_numpy(a) for a in (x, out, inplace, g_inplace))
        cases[0][2]["torch"] = lambda: torch.clamp_min(tx, 0, out=tout)
        cases[1][2]["torch"] = lambda: torch.relu_(ti)
        cases[2][2]["torch"] = lambda: tgi.mul_(tx > 0)
    return cases


def _cases(ops, n, dtype, torch, layouts):
    """(name, arrays moved per element, {candidate: callable}) for one size and dtype."""
    rng = np.random.default_rng(n)
    x, g = _random(n, dtype, rng), _random(n, dtype, rng)
    torch_ops = _peers.torch_peers(torch) if torch is not None else {}
    cases = []
    for op in ops:
        fwd, np_fwd, bwd, np_bwd = _peers.OPS[op]
        forward = {"relukit": lambda f=fwd: f(x)}
        backward = {"relukit": lambda f=bwd: f(g, x)}
        if np_fwd is not None:          # None: NumPy alone cannot express it (gelu needs SciPy)
            forward["numpy"] = lambda f=np_fwd: f(x)
            backward["numpy"] = lambda f=np_bwd: f(g, x)
        if torch_ops.get(op):
            t_fwd, t_bwd = torch_ops[op]
            tx, tg = torch.from_numpy(x), torch.from_numpy(g)
            forward["torch"] = lambda f=t_fwd: f(tx)
            backward["torch"] = lambda f=t_bwd: f(tg, tx)
        cases += [(op, 2, forward), (f"{op}_backward", 3, backward)]
    if layouts:
        cases += _layout_cases(x, g, torch)
    copy_dst = np.empty_like(x)
    return cases, lambda: np.copyto(copy_dst, x)


def _time(candidates, repeats, min_sample=2e-3):
    """Median seconds per call of each candidate, sampled in turn."""
    loops = {}
    for name, fn in candidates.items():
        fn()                                  # warm up: page in outputs, load code
        calls, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            t = time.perf_counter() - t0
            if t >= min_sample or calls >= 1 << 20:
                break
            calls *= 2 if t == 0 else max(2, int(min_sample / t) + 1)
        loops[name] = calls
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            calls = loops[name]
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)
    return {name: statistics.median(s) for name, s in samples.items()}


def _fmt_time(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit:<2}"
    return f"{seconds * 1e9:7.2f} ns"


def run(ops=CORE_OPS, sizes=SIZES, dtypes=DTYPES, repeats=7):
    """Time every case; returns a list of dict rows (also printed as a table)."""
    torch = _torch()
    peers = ["numpy"] + (["torch"] if torch is not None else [])
    cfg = relukit.config()
    print(f"relukit {cfg['version']}  simd={cfg['simd_level']}  threads={cfg['threads']}  "
          f"numpy {np.__version__}" + (f"  torch {torch.__version__} "
          f"(threads={torch.get_num_threads()})" if torch is not None else "  (torch not installed)"))
    print("ratio = peer time / relukit time (above 1: relukit faster); medians of "
          f"{repeats} interleaved samples; copy% = share of np.copyto's bandwidth at the same size")
    header = f"{'case':<26} {'dtype':<8} {'n':>10} {'relukit':>10}"
    for p in peers:
        header += f" {p:>10} {'ratio':>6}"
    header += f" {'GB/s':>7} {'copy%':>6}"
    print(header)
    print("-" * len(header))
    rows = []
    for dtype in dtypes:
        dtype = np.dtype(dtype).type
        for n in sizes:
            cases, copy = _cases(ops, n, dtype, torch, layouts="relu" in ops)
            for name, arrays, candidates in cases:
                times = _time({**candidates, "copy": copy}, repeats)
                nbytes = arrays * n * np.dtype(dtype).itemsize
                row = {"case": name, "dtype": np.dtype(dtype).name, "n": n, **times,
                       "gbps": nbytes / times["relukit"] / 1e9,
                       "copy_share": (nbytes / times["relukit"]) / (2 * n * np.dtype(dtype).itemsize / times["copy"])}
                rows.append(row)
                line = f"{name:<26} {row['dtype']:<8} {n:>10,} {_fmt_time(times['relukit']):>10}"
                for p in peers:
                    if p in times:
                        line += f" {_fmt_time(times[p]):>10} {times[p] / times['relukit']:6.2f}"
                    else:
                        line += f" {'-':>10} {'':>6}"
                line += f" {row['gbps']:7.1f} {100 * row['copy_share']:5.0f}%"
                print(line, flush=True)
    return rows


def call_overhead(repeats=7):
    """Per-call cost at n=1 against a builtin ufunc, and of the keyword wrapper over its ufunc."""
    x = np.ones(1, np.float32) * np.float32(-0.5)
    times = _time({
        "relu": lambda: relukit.relu(x),
        "np.positive": lambda: np.positive(x),
        "leaky_relu": lambda: relukit.leaky_relu(x),
        "leaky_relu.ufunc": lambda: relukit.leaky_relu.ufunc(x, 0.01),
    }, repeats)
    print("\nper-call cost at n=1 (float32): " + ", ".join(
        f"{name} {t * 1e9:.0f} ns" for name, t in times.items()))
    return times


def main(ops=CORE_OPS, sizes=SIZES, dtypes=DTYPES, quick=False):
    start = time.perf_counter()
    run(ops, sizes, dtypes, repeats=3 if quick else 7)
    call_overhead()
    print(f"\n(finished in {time.perf_counter() - start:.0f} s; `python -m relukit info` shows the build)")
