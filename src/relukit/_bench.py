"""``python -m relukit bench``: relukit against NumPy (and PyTorch when it is installed).

Candidates of one case are timed interleaved (one sample of each in turn) and the median of each is
reported, so a busy neighbour slows all of them alike; ratios are peer time / relukit time, so
above 1 means relukit is faster. Bandwidth counts the bytes a kernel must move (a forward reads x
and writes y: 2 bytes per input byte; a backward 3) and is compared with a copy of x on as many
threads as relukit uses (``_peers.copier``), timed in the same case at the same size.
"""

import contextlib
import datetime
import json
import platform
import random
import statistics
import time

import numpy as np

import relukit
from relukit import _peers

SIZES = (1, 1_000, 100_000, 1_000_000, 10_000_000)
DTYPES = ("float32", "float64")
CORE_OPS = ("relu", "leaky_relu")


PEERS = ("numpy", "torch", "numexpr")


def _import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def _random(n, dtype, rng):
    # Normal data: half the elements negative, no zeros (zero pages and all-zero data time wrong).
    return rng.standard_normal(n).astype(dtype)


def _layout_cases(x, g, modules):
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
    torch, numexpr = modules.get("torch"), modules.get("numexpr")
    if torch is not None:
        tx, tout, ti, tgi = (torch.from_numpy(a) for a in (x, out, inplace, g_inplace))
        cases[0][2]["torch"] = lambda: torch.clamp_min(tx, 0, out=tout)
        cases[1][2]["torch"] = lambda: torch.relu_(ti)
        cases[2][2]["torch"] = lambda: tgi.mul_(tx > 0)
    if numexpr is not None and x.dtype != np.float16:
        cases[0][2]["numexpr"] = lambda: numexpr.evaluate(
            "x * (x > 0)", local_dict={"x": x}, out=out)
        cases[1][2]["numexpr"] = lambda: numexpr.evaluate(
            "x * (x > 0)", local_dict={"x": inplace}, out=inplace)
        cases[2][2]["numexpr"] = lambda: numexpr.evaluate(
            "g * (x > 0)", local_dict={"g": g_inplace, "x": x}, out=g_inplace)
    if "numpy" not in modules:
        for case in cases:
            del case[2]["numpy"]
    return cases


def _cases(ops, n, dtype, modules, layouts):
    """(name, arrays moved per element, {candidate: callable}) for one size and dtype."""
    rng = np.random.default_rng(n)
    x, g = _random(n, dtype, rng), _random(n, dtype, rng)
    torch = modules.get("torch")
    peer_ops = {}
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(g)
        peer_ops["torch"] = ((tx,), (tg, tx), _peers.torch_peers(torch))
    if "numexpr" in modules and x.dtype != np.float16:     # it would compute float16 in float32
        peer_ops["numexpr"] = ((x,), (g, x), _peers.numexpr_peers(modules["numexpr"]))
    cases = []
    for op in ops:
        fwd, np_fwd, bwd, np_bwd = _peers.OPS[op]
        forward = {"relukit": lambda f=fwd: f(x)}
        backward = {"relukit": lambda f=bwd: f(g, x)}
        if np_fwd is not None and "numpy" in modules:   # None: NumPy alone cannot (gelu: SciPy)
            forward["numpy"] = lambda f=np_fwd: f(x)
            backward["numpy"] = lambda f=np_bwd: f(g, x)
        for peer, (fwd_args, bwd_args, table) in peer_ops.items():
            p_fwd, p_bwd = table.get(op) or (None, None)
            if p_fwd is not None:
                forward[peer] = lambda f=p_fwd, a=fwd_args: f(*a)
            if p_bwd is not None:
                backward[peer] = lambda f=p_bwd, a=bwd_args: f(*a)
        cases += [(op, 2, forward), (f"{op}_backward", 3, backward)]
    if layouts:
        cases += _layout_cases(x, g, modules)
    return cases, _peers.copier(x, relukit.get_num_threads())


def _time(candidates, repeats, min_sample=2e-3, settle=(3e-5, 1e-2)):
    """Median seconds per call of each candidate, sampled in turn (in a shuffled order).

    A candidate whose calls take settle[0] to settle[1] seconds (large enough for threads, short
    enough to be slowed by much) first runs untimed for as long as a sample. A sample right after
    another library's would otherwise find that library's idle workers still spinning on the
    second core and its own asleep (relu in place, 1e7 float32, 2 threads: relukit 1.29x and
    PyTorch 1.18x their time back to back), or, after a long single-threaded call, its second
    core gone cold (float16 elu_backward, 1e7: 1.4x after NumPy's 480 ms)."""
    loops = {}
    for name, fn in list(candidates.items()):
        try:
            fn()                              # warm up: page in outputs, load code
        except (NotImplementedError, RuntimeError, TypeError):
            if name in ("relukit", "copy"):
                raise
            del candidates[name]              # a peer without this dtype (PyTorch's float16 rrelu)
            continue
        calls, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            t = time.perf_counter() - t0
            if t >= min_sample or calls >= 1 << 20:
                break
            calls *= 2 if t == 0 else max(2, int(min_sample / t) + 1)
        loops[name] = calls, settle[0] <= t / calls <= settle[1]
    samples = {name: [] for name in candidates}
    order, shuffle = list(candidates), random.Random(0).shuffle
    for _ in range(repeats):
        # in an order drawn afresh each round, so that no candidate always follows the same one:
        # at 1e7 elements each finds the caches and the memory bus as the one before left them
        # (relu in place after the 40 MB copy: 1.1-1.3x its time after PyTorch's relu). A fixed
        # order rotated keeps every candidate's predecessor.
        shuffle(order)
        for name in order:
            fn, (calls, settles) = candidates[name], loops[name]
            if settles:
                for _ in range(calls):
                    fn()
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


def _set_threads(modules, threads):
    """Give every threaded peer the same count (NumPy is single-threaded)."""
    if threads is None:
        return contextlib.nullcontext()
    with relukit.threads(threads):  # the peers get what relukit runs: OpenMP's own cap (the
        threads = relukit.get_num_threads()         # cores, unless told otherwise) included
    if "torch" in modules:
        modules["torch"].set_num_threads(threads)
    if "numexpr" in modules:
        modules["numexpr"].set_num_threads(threads)
    return relukit.threads(threads)


def _describe(modules):
    """The run's one-line description, and relukit.config() with the Python version and each
    peer's version and threads (NumPy's expressions run on one)."""
    cfg = relukit.config()
    peers = {name: {"version": module.__version__,
                    "threads": module.get_num_threads() if name != "numpy" else 1}
             for name, module in modules.items()}
    cfg.update(python=platform.python_version(), peers=peers)
    text = (f"relukit {cfg['version']}  simd={cfg['simd_level']}  threads={cfg['threads']}  "
            f"cpu={cfg['cpu']}  numpy {np.__version__}")
    for name, peer in peers.items():
        if name != "numpy":
            text += f"  {name} {peer['version']} (threads={peer['threads']})"
    return text, cfg


def run(ops=CORE_OPS, sizes=SIZES, dtypes=DTYPES, repeats=7, peers=PEERS, threads=None):
    """Time every case; returns (description, relukit.config() as run, rows), also printed.

    `peers` are skipped when not importable; `threads` (None: each library's default) is given to
    relukit, PyTorch and numexpr alike."""
    modules = {"numpy": np} if "numpy" in peers else {}
    modules.update({p: m for p in peers if p != "numpy" and (m := _import(p)) is not None})
    missing = [p for p in peers if p not in modules]
    rows = []
    with _set_threads(modules, threads):
        description, cfg = _describe(modules)
        print(description + (f"  (not installed: {', '.join(missing)})" if missing else ""))
        print("ratio = peer time / relukit time (above 1: relukit faster), best = against the "
              f"fastest peer; medians of {repeats} interleaved samples; copy% = share of "
              "the copy bandwidth (np.copyto on as many threads as relukit) at the same size")
        names = list(modules)
        header = f"{'case':<26} {'dtype':<8} {'n':>10} {'relukit':>10}"
        for p in names:
            header += f" {p:>10} {'ratio':>6}"
        header += f" {'best':>6} {'GB/s':>7} {'copy%':>6}"
        print(header)
        print("-" * len(header))
        for dtype in dtypes:
            dtype = np.dtype(dtype)
            for n in sizes:
                cases, copy = _cases(ops, n, dtype.type, modules, layouts="relu" in ops)
                for name, arrays, candidates in cases:
                    times = _time({**candidates, "copy": copy}, repeats)
                    rows.append(row := _row(name, dtype, n, arrays, times))
                    line = f"{name:<26} {dtype.name:<8} {n:>10,} {_fmt_time(times['relukit']):>10}"
                    for p in names:
                        if p in times:
                            line += f" {_fmt_time(times[p]):>10} {times[p] / times['relukit']:6.2f}"
                        else:
                            line += f" {'-':>10} {'':>6}"
                    best = f"{row['best_ratio']:6.2f}" if row["best_ratio"] else f"{'-':>6}"
                    line += f" {best} {row['gbps']:7.1f} {100 * row['copy_share']:5.0f}%"
                    print(line, flush=True)
    return description, cfg, rows


def _row(name, dtype, n, arrays, times):
    nbytes = arrays * n * dtype.itemsize
    copy_gbps = 2 * n * dtype.itemsize / times["copy"] / 1e9
    gbps = nbytes / times["relukit"] / 1e9
    peers = {p: t for p, t in times.items() if p not in ("relukit", "copy")}
    return {"case": name, "dtype": dtype.name, "n": n, "bytes": nbytes,
            "seconds": times, "gbps": gbps, "copy_gbps": copy_gbps, "copy_share": gbps / copy_gbps,
            "best_ratio": min(peers.values()) / times["relukit"] if peers else None}


def summary(rows):
    """The bench's answer in a few lines: in how many cases relukit is ahead of the fastest peer,
    and each case where it is not, with that peer."""
    compared = [r for r in rows if r["best_ratio"] is not None]
    if not compared:
        return "no peer timed"
    behind = [r for r in compared if r["best_ratio"] < 1]
    lines = [f"ahead of the fastest peer in {len(compared) - len(behind)} of {len(compared)} cases"
             + ("; behind:" if behind else "")]
    for r in behind:
        fastest = min((p for p in r["seconds"] if p not in ("relukit", "copy")),
                      key=r["seconds"].get)
        lines.append(f"  {r['case']:<26} {r['dtype']:<8} {r['n']:>10,} {r['best_ratio']:6.2f} "
                     f"({fastest})")
    return "\n".join(lines)


def plot(rows, path, title=""):
    """Throughput (GB/s) against size per case and dtype, each candidate a line, with the copy
    bandwidth measured alongside drawn as the ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["case"], r["dtype"]) for r in rows},
                    key=lambda k: ([r["case"] for r in rows].index(k[0]), k[1]))
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, (case, dtype) in zip(axes.flat, panels):
        mine = sorted((r for r in rows if r["case"] == case and r["dtype"] == dtype),
                      key=lambda r: r["n"])
        sizes = [r["n"] for r in mine]
        ax.plot(sizes, [r["copy_gbps"] for r in mine], "k--", lw=1, label="copy (same threads)")
        for candidate in mine[0]["seconds"]:
            if candidate != "copy":
                ax.plot(sizes, [r["bytes"] / r["seconds"][candidate] / 1e9 for r in mine],
                        "o-", ms=3, lw=2 if candidate == "relukit" else 1, label=candidate)
        ax.set(xscale="log", yscale="log", title=f"{case} ({dtype})", xlabel="elements",
               ylabel="GB/s")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def main(ops=CORE_OPS, sizes=SIZES, dtypes=DTYPES, quick=False, peers=PEERS, threads=None,
         json_path=None, plot_path=None):
    start = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    description, cfg, rows = run(ops, sizes, dtypes, repeats=3 if quick else 7, peers=peers,
                            threads=threads)
    print("\n" + summary(rows))
    overhead = call_overhead()
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"description": description, "date": started, "threads_requested": threads,
                       "config": cfg, "rows": rows, "call_overhead_seconds": overhead}, f,
                      indent=1)
        print(f"\nwrote {json_path}")
    if plot_path:
        plot(rows, plot_path, description)
        print(f"wrote {plot_path}")
    print(f"\n(finished in {time.perf_counter() - start:.0f} s; `python -m relukit info` shows the build)")
