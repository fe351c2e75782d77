"""Sweep every float32 operand over a range of binades through relukit's float32 kernels and
measure each result's error against the exact value (tests/_reference.py's definitions): a far
stronger check of the float32 accuracy contract than tools/accuracy_table.py's random sample.

    python tools/exhaustive_f32.py                             # every op, kind and parameter set
    python tools/exhaustive_f32.py sigmoid tanh --kinds backward --defaults-only
    python tools/exhaustive_f32.py --emin -20 --emax 6 --stride 3 relu   # a narrower, sparser sweep
    python tools/exhaustive_f32.py --defaults-only --piecewise-range -20 6 --json out.json
    python tools/exhaustive_f32.py --nondefault-only --stride 3 --piecewise-range -20 6

The last two are the whole sweep in ~47 + ~31 min on one core (2026-11-24; the transcendental
ops ~25-50 s per case at stride 1, the piecewise ones ~15-25 s over 2**-20..2**7). glibc's
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 in the environment saves
~30% (the 2**22-element temporaries are otherwise mapped afresh for every chunk).

Operands, per op, kind and parameter set (op.sets(kind, 'float32'), the default set first):
every float32 x (or y, for a backward from the output) of either sign with |x| in
[2**emin, 2**(emax + 1)) (every `stride`-th bit pattern there; -30, 8, 1 by default: 6.5e8
values), in chunks of 2**chunk, plus every `--sparse`-th (97th) bit pattern of the other finite
float32 (zeros, subnormals, huge values). A gradient is swept with g = 1 and again with a random
g per element (standard normal times 2**k, k uniform in [-10, 10]): the final product g * d can
turn the derivative's error into more steps. A y outside the op's image (sigmoid's y > 1, say) is
measured too but counted apart (`outside`).

Exact values: for speed, binary64 NumPy ports of _reference's float32 formulas (FLOAT backend,
the same operations; ~1e-8 float32 ULP); inside the windows where _reference computes in Decimal
(next to the zero of silu's, mish's and the gelus' derivatives), and for every element whose
binary64 error is within `--margin` of the bound (or over it), _reference.reference itself. Ports
are checked against _reference.reference on 2000 random elements of the first chunks of each case
(`refcheck`: the largest difference, in float32 ULPs). Each case's worst elements over (or within
0.1 of) the bound are then recomputed with mpmath at 100 digits. Bitwise ops (ulp 0) are compared
bit for bit with op.numpy[kind], as test_family.py does. Errors: max steps from the correctly
rounded value (_reference.steps_from_exact; over op.ulp[kind] is a violation) and max ULP error
(_reference.ulp_error), with the operands of the worst.

Run one process, single-threaded (OMP_NUM_THREADS=1): the timings printed assume it. On the
development VM (session 15): the transcendental ops with their defaults 32 min, the piecewise ops
(`--defaults-only --piecewise-range -20 6`) 15 min, the other parameter sets (`--nondefault-only
--stride 3 --piecewise-range -20 6`) 31 min; nothing past a bound (docs/accuracy.md). Outside an
op's image, logsigmoid's backward from the output at y > 88.72 gave +-inf where g (1 - e^y) is
finite (fixed since; docs/reliability.md).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
from scipy.special import erfc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import relukit  # noqa: E402
import _reference as R  # noqa: E402

F32 = np.dtype(np.float32)
TRANSCENDENTAL = ("softsign", "squareplus", "sigmoid", "tanh", "tanhshrink", "elu", "selu", "celu",
                  "softplus", "logsigmoid", "silu", "mish", "gelu_erf", "gelu_tanh")
LAM, ALPHA, A = float(R.SELU_SCALE), float(R.SELU_ALPHA), float(R.GELU_TANH_A)
SQRT2, K_TANH = math.sqrt(2.0), 2 * math.sqrt(2 / math.pi)


# ---- binary64 ports of _reference's float32 formulas (same operations, in the same order) --------
def _sig2(z):
    """(sigmoid(z), sigmoid(-z)) as _reference._sig: from e = e^-|z|."""
    e = np.exp(-np.abs(z))
    d = 1 + e
    return np.where(z >= 0, 1.0, e) / d, np.where(z <= 0, 1.0, e) / d


def _sig(z):
    return _sig2(z)[0]


def _sp(z):
    return np.where(z > 0, z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _sech2(x):
    t = np.exp(-2 * np.abs(x))
    return 4 * t / ((1 + t) * (1 + t))


def _tanhshrink(x):
    out = x - np.tanh(x)
    small = np.abs(x) < 1
    xs = x[small]
    x2, q = xs * xs, np.zeros_like(xs)
    for k in range(30, 0, -1):
        q = x2 / (2 * k + 1 + q)
    out[small] = xs * q / (1 + q)
    return out


def _squareplus(x, b, d):
    s = np.sqrt(x * x + b)
    if not d:
        return np.where(x >= 0, (x + s) / 2, b / (2 * (s - x)))
    return np.where(x >= 0, (1 + x / s) / 2, b / (2 * s * (s - x)))


def _silu_d(x, b):
    t = b * x
    s, sm = _sig2(t)
    return s + np.where((s == 0) | (sm == 0), 0.0, t * s * sm)


def _mish_d(x):
    sp = _sp(x)
    sech2 = _sech2(sp)
    return np.tanh(sp) + np.where(sech2 == 0, 0.0, x * _sig(x) * sech2)


def _gelu(x):
    return np.where(x < -1e4, 0.0, x * erfc(-x / SQRT2) / 2)


def _gelu_d(x):
    pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    return np.where(x < -1e4, 0.0, erfc(-x / SQRT2) / 2 + x * pdf)


def _gelu_tanh(x, d):
    u2 = K_TANH * (x + A * x * x * x)
    if not d:
        return x * _sig(u2)
    du2 = K_TANH * (1 + 3 * A * x * x)
    s, sm = _sig2(u2)
    return s + np.where((s == 0) | (sm == 0), 0.0, x * s * sm * du2)


def _pw(conds, vals, default):
    return np.select(conds, vals, default)


# name -> (f(x, *p), f'(x, *p), f'(y, *p) or None); every result float64
PORTS = {
    "softshrink": (lambda x, l: _pw([x > l, x < -l], [x - l, x + l], 0.0), None, None),
    "hardsigmoid": (lambda x: _pw([x <= -3, x >= 3], [0.0, 1.0], (x + 3) / 6),
                    lambda x: np.where((x > -3) & (x < 3), 1 / 6, 0.0),
                    lambda y: np.where((y > 0) & (y < 1), 1 / 6, 0.0)),
    "hardswish": (lambda x: _pw([x <= -3, x >= 3], [0.0, x], x * (x + 3) / 6),
                  lambda x: _pw([x <= -3, x >= 3], [0.0, 1.0], (2 * x + 3) / 6), None),
    "sparse_plus": (lambda x: _pw([x <= -1, x >= 1], [0.0, x], (x + 1) * (x + 1) / 4),
                    lambda x: _pw([x <= -1, x >= 1], [0.0, 1.0], (x + 1) / 2),
                    lambda y: _pw([y <= 0, y >= 1], [0.0, 1.0], np.sqrt(np.maximum(y, 0)))),
    "softsign": (lambda x: x / (1 + np.abs(x)),
                 lambda x: 1 / ((1 + np.abs(x)) * (1 + np.abs(x))),
                 lambda y: np.where(np.abs(y) == 1, 0.0, (1 - np.abs(y)) * (1 - np.abs(y)))),
    "squareplus": (lambda x, b: _squareplus(x, b, False), lambda x, b: _squareplus(x, b, True),
                   lambda y, b: np.where(y == 0, 0.0, 4 * y * y / (4 * y * y + b))),
    "sigmoid": (_sig, lambda x: np.multiply(*_sig2(x)),
                lambda y: np.where((y == 0) | (y == 1), 0.0, y * (1 - y))),
    "tanh": (np.tanh, _sech2, lambda y: np.where(np.abs(y) == 1, 0.0, (1 - y) * (1 + y))),
    "tanhshrink": (_tanhshrink, lambda x: np.tanh(x) ** 2, None),
    "elu": (lambda x, a: np.where(x > 0, x, a * np.expm1(x)),
            lambda x, a: np.where(x > 0, 1.0, a * np.exp(x)),
            lambda y, a: np.where(y > 0, 1.0, y + a)),
    "selu": (lambda x: np.where(x > 0, LAM * x, LAM * ALPHA * np.expm1(x)),
             lambda x: np.where(x > 0, LAM, LAM * ALPHA * np.exp(x)),
             lambda y: np.where(y > 0, LAM, y + LAM * ALPHA)),
    "celu": (lambda x, a: np.where(x > 0, x, a * np.expm1(x / a)),
             lambda x, a: np.where(x > 0, 1.0, np.exp(x / a)),
             lambda y, a: np.where(y > 0, 1.0, y / a + 1)),
    "softplus": (lambda x, b, t: np.where(x * b > t, x, _sp(b * x) / b),
                 lambda x, b, t: np.where(x * b > t, 1.0, _sig(b * x)),
                 lambda y, b, t: np.where(y * b > t, 1.0, -np.expm1(-b * y))),
    "logsigmoid": (lambda x: -_sp(-x), lambda x: _sig(-x), lambda y: -np.expm1(y)),
    "silu": (lambda x, b: x * _sig(b * x), _silu_d, None),
    "mish": (lambda x: x * np.tanh(_sp(x)), _mish_d, None),
    "gelu_erf": (_gelu, _gelu_d, None),
    "gelu_tanh": (lambda x: _gelu_tanh(x, False), lambda x: _gelu_tanh(x, True), None),
}

# where _reference computes a float32 derivative in Decimal (_near): |t - root| < 1e-3, t = beta x
ROOTS = {"silu": R.SILU_ROOT, "mish": R.MISH_ROOT, "gelu_erf": R.GELU_ROOT,
         "gelu_tanh": R.GELU_TANH_ROOT}

# the closure of each op's image, for a from-output y (outside it: counted apart)
IMAGE = {"sigmoid": lambda y: (y >= 0) & (y <= 1), "tanh": lambda y: np.abs(y) <= 1,
         "softsign": lambda y: np.abs(y) <= 1, "squareplus": lambda y, b: y >= 0,
         "elu": lambda y, a: y >= -a, "selu": lambda y: y >= -LAM * ALPHA,
         "celu": lambda y, a: y >= -a, "softplus": lambda y, b, t: y >= 0,
         "logsigmoid": lambda y: y <= 0, "hardsigmoid": lambda y: (y >= 0) & (y <= 1),
         "sparse_plus": lambda y: y >= 0}


# ---- operands ------------------------------------------------------------------------------------
def dense_ranges(emin, emax):
    lo, hi = (127 + emin) << 23, (127 + emax + 1) << 23
    return [(s | lo, s | hi) for s in (0, 1 << 31)]


def chunks(emin, emax, stride, sparse, chunk):
    """(label, uint32 bit patterns) in chunks: the dense range, then every `sparse`-th pattern of
    the other finite float32 (both signs)."""
    lo, hi = (127 + emin) << 23, (127 + emax + 1) << 23
    for a, b in dense_ranges(emin, emax):
        for s in range(a, b, stride * chunk):
            yield "dense", np.arange(s, min(b, s + stride * chunk), stride, dtype=np.uint32)
    if sparse:
        for sign in (0, 1 << 31):
            for a, b in ((0, lo), (hi, 0x7F800000)):
                for s in range(a, b, sparse * chunk):
                    yield "sparse", np.arange(s, min(b, s + sparse * chunk), sparse,
                                              dtype=np.uint32) | np.uint32(sign)


def random_g(n, seed, index):
    rng = np.random.default_rng([seed, index])
    return (rng.standard_normal(n, dtype=np.float32)
            * np.exp2(rng.integers(-10, 11, n)).astype(np.float32))


# ---- errors --------------------------------------------------------------------------------------
def _ordered(a):
    b = a.view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF), b)


def errors(got, hi):
    """(steps from the correctly rounded hi, ULP error) per element: R.steps_from_exact and
    R.ulp_error (r = 0) vectorised for float32 results and finite hi."""
    with np.errstate(all="ignore"):
        cr = hi.astype(np.float32)
        steps = np.abs(_ordered(got) - _ordered(cr)).astype(np.float64)
        bad = (np.isinf(got) | np.isinf(cr)) & (got != cr) | np.isnan(got) | np.isnan(cr)
        steps[bad] = np.inf
        a = np.abs(cr)
        ab = a.view(np.uint32)
        top = ab == 0x7F7FFFFF
        nxt = np.where(top, ab - 1, ab + 1).view(np.float32).astype(np.float64)
        sp = np.abs(nxt - a)
        err = np.abs(got.astype(np.float64) - hi) / sp
        err[bad] = np.where(got[bad] == cr[bad], 0.0, np.inf)
    return steps, err


# ---- one case ------------------------------------------------------------------------------------
def exact_reference(op, kind, data, params, got):
    """_reference.reference on a few elements: (steps, err, hi)."""
    hi, r, care = R.reference(op, kind, data, params, F32)
    with np.errstate(all="ignore"):
        err = np.where(care, R.ulp_error(got, hi, r, F32), 0.0)
        steps = np.where(care, R.steps_from_exact(got, hi, F32), 0.0)
    return steps.astype(np.float64), err, hi


def run_case(op, kind, params, gmode, args, log):
    p32 = R.cast_params(params, F32)
    p64 = [float(q) for q in p32]
    bound = op.ulp[kind]
    port = None if bound == 0 else PORTS[op.name][("forward", "backward", "from_output").index(kind)]
    image = IMAGE.get(op.name) if kind == "from_output" else None
    stats = {b: {"n": 0, "over": 0, "steps": 0.0, "err": 0.0, "worst": None, "worst_steps": None}
             for b in ("inside", "outside")}
    near, refcheck, checked, t0 = [], 0.0, {"dense": 0, "sparse": 0}, time.time()
    emin, emax = args.emin, args.emax
    if args.piecewise_range and op.name not in TRANSCENDENTAL:
        emin, emax = args.piecewise_range
    for index, (label, bits) in enumerate(chunks(emin, emax, args.stride, args.sparse,
                                                  1 << args.chunk)):
        x = bits.view(np.float32)
        n = x.size
        if kind == "forward":
            data = (x,)
        else:
            data = (np.ones(n, np.float32) if gmode == "1" else random_g(n, args.seed, index), x)
        with np.errstate(all="ignore"):
            got = op.call(kind, data, p32)
        if bound == 0:
            want = op.numpy[kind](*data, *p32)
            same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
            steps, err = errors(got, want.astype(np.float64))
            steps[same], err[same] = 0.0, 0.0
        else:
            x64 = x.astype(np.float64)
            with np.errstate(all="ignore"):
                hi = port(x64, *p64)
                if kind != "forward":
                    hi *= data[0].astype(np.float64)
            steps, err = errors(got, hi)
            redo = np.flatnonzero((steps > bound) | (err > bound - args.margin))
            if op.name in ROOTS and kind == "backward":
                t = x64 * (p64[0] if op.name == "silu" else 1.0)
                redo = np.union1d(redo, np.flatnonzero(np.abs(t - ROOTS[op.name]) < 1e-3))
            if index < 2 or label == "sparse" and checked["sparse"] == 0:
                sample = np.random.default_rng(index).choice(n, min(n, 2000), replace=False)
                sample = np.setdiff1d(sample, redo)
                h2 = R.reference(op, kind, [a[sample] for a in data], params, F32)[0]
                with np.errstate(all="ignore"):
                    sp = R.spacing(h2.astype(np.float32))
                    d = np.abs(hi[sample] - h2) / sp
                refcheck = max(refcheck, float(np.nanmax(d, initial=0.0)))
            if redo.size > args.max_redo:
                redo = redo[np.argsort(err[redo])[-args.max_redo:]]
            if redo.size:
                s2, e2, _ = exact_reference(op, kind, [a[redo] for a in data], params, got[redo])
                steps[redo], err[redo] = s2, e2
        checked[label] += n
        masks = {"inside": None}
        if image is not None:
            with np.errstate(invalid="ignore"):
                inside = image(x.astype(np.float64), *p64)
            masks = {"inside": inside, "outside": ~inside}
        for b, m in masks.items():
            st = stats[b]
            s, e = (steps, err) if m is None else (np.where(m, steps, 0.0), np.where(m, err, 0.0))
            st["n"] += n if m is None else int(m.sum())
            over = s > bound
            st["over"] += int(over.sum())
            for key, arr in (("err", e), ("steps", s)):
                i = int(np.argmax(arr))
                if arr[i] > st[key] or st["worst" if key == "err" else "worst_steps"] is None:
                    st[key] = float(arr[i])
                    st["worst" if key == "err" else "worst_steps"] = tuple(
                        float(a[i]) for a in data) + (float(got[i]),)
            # the elements over the bound or within 0.1 of it, for the mpmath check (a few)
            close = np.flatnonzero(over | (e > bound - 0.1)) if bound else np.flatnonzero(over)
            for i in close[np.argsort(-e[close])][:args.keep]:
                near.append((tuple(float(a[i]) for a in data), float(got[i]), float(s[i]),
                             float(e[i]), b))
        if args.progress and index % args.progress == 0:
            log(f"    chunk {index} {label} {time.time() - t0:.0f} s")
    near.sort(key=lambda t: -t[3])
    return {"op": op.name, "kind": kind, "params": [float(v) for v in params], "g": gmode,
            "bound": bound, "emin": emin, "emax": emax, "checked": checked, "stats": stats,
            "refcheck": refcheck, "near": near[:args.keep], "seconds": time.time() - t0}


# ---- mpmath check --------------------------------------------------------------------------------
def mp_check(op, kind, operands, params, got, digits=100):
    """(exact value, steps, ULP error) of got against the exact g f'(x) or f(x) at `digits`."""
    import mpmath

    mp = mpmath.MPContext()
    mp.dps = digits
    M = type("M", (), {k: staticmethod(v) for k, v in dict(
        num=mp.mpf, sqrt=mp.sqrt, exp=mp.exp, expm1=mp.expm1, log=mp.log, log1p=mp.log1p,
        tanh=mp.tanh, erf=mp.erf, erfc=mp.erfc, isinf=mp.isinf).items()})
    ps = [mp.mpf(float(q)) for q in R.cast_params(params, F32)]
    v = operands[-1]
    if kind == "forward":
        exact = op.f(mp.mpf(v), *ps, M)
    else:
        d = (op.df if kind == "backward" else op.dfy)(mp.mpf(v), *ps, M)
        exact = 0 if d is None or (type(d) is int and d == 0) else mp.mpf(operands[0]) * d
    exact = mp.mpf(exact)
    c = np.float32(float(exact))
    for w in (np.nextafter(c, np.float32(np.inf)), np.nextafter(c, np.float32(-np.inf))):
        if abs(mp.mpf(float(w)) - exact) < abs(mp.mpf(float(c)) - exact):
            c = w
    g = np.float32(got)
    steps = abs(int(_ordered(np.array([g]))[0]) - int(_ordered(np.array([c]))[0]))
    err = float(abs(mp.mpf(float(g)) - exact) / mp.mpf(float(R.spacing(np.array([c]))[0])))
    return exact, c, steps, err


# ---- driver --------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ops", nargs="*", help="only these ops (default: all)")
    ap.add_argument("--kinds", default="forward,backward,from_output")
    ap.add_argument("--emin", type=int, default=-30, help="dense sweep from |x| = 2**emin (-30)")
    ap.add_argument("--emax", type=int, default=8, help="... up to the binade of 2**emax (8)")
    ap.add_argument("--piecewise-range", type=int, nargs=2, metavar=("EMIN", "EMAX"),
                    help="a narrower dense range for the non-transcendental ops")
    ap.add_argument("--stride", type=int, default=1, help="dense: every stride-th pattern (1)")
    ap.add_argument("--sparse", type=int, default=97,
                    help="outside the dense range: every n-th pattern (97; 0: none)")
    ap.add_argument("--chunk", type=int, default=22, help="log2 of the chunk size (22)")
    ap.add_argument("--g", default="1,random", help="gradient modes: 1, random or both")
    ap.add_argument("--defaults-only", action="store_true", help="only each op's first set")
    ap.add_argument("--nondefault-only", action="store_true", help="only the other sets")
    ap.add_argument("--margin", type=float, default=0.15,
                    help="recompute with _reference.reference where err > bound - margin")
    ap.add_argument("--max-redo", type=int, default=20000, help="... at most this many per chunk")
    ap.add_argument("--keep", type=int, default=8, help="worst elements kept per case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--progress", type=int, default=0, help="log every n-th chunk (0: never)")
    ap.add_argument("--json", help="append each case's result to this file (JSON lines)")
    args = ap.parse_args()
    ops = [op for op in R.OPS if not args.ops or op.name in args.ops]
    kinds = args.kinds.split(",")
    start = time.time()

    def log(msg):
        print(f"[{time.time() - start:7.0f} s] {msg}", flush=True)

    cases = []
    for op in ops:
        for kind in (k for k in op.kinds if k in kinds):
            sets = op.sets(kind, F32)
            sets = sets[:1] if args.defaults_only else sets[1:] if args.nondefault_only else sets
            cases += [(op, kind, params, gmode) for params in sets
                      for gmode in (["-"] if kind == "forward" else args.g.split(","))]

    def planned(op):
        emin, emax = args.emin, args.emax
        if args.piecewise_range and op.name not in TRANSCENDENTAL:
            emin, emax = args.piecewise_range
        dense = 2 * ((emax - emin + 1) << 23)
        return dense // args.stride + (((0x7F800000 << 1) - dense) // args.sparse if args.sparse else 0)

    total, done, first = sum(planned(c[0]) for c in cases), 0, None
    log(f"{len(cases)} cases, {total:.3g} evaluations planned")
    log(f"relukit {relukit.config()['version']} simd {relukit.config()['simd_level']}, "
        f"threads {relukit.config()['threads']}")
    for op, kind, params, gmode in cases:
        if first not in (None, "", op.name):       # after the first op: the whole run's time
            log(f"estimated total {total / done * (time.time() - start) / 60:.0f} min "
                f"({done:.3g} of {total:.3g} evaluations in {time.time() - start:.0f} s)")
            first = ""
        first = op.name if first is None else first
        res = run_case(op, kind, params, gmode, args, log)
        done += planned(op)
        near = []
        for item in res["near"]:
            if res["bound"]:        # (operands, got, steps, err, bucket, exact, CR, steps, err)
                ex, c, s, e = mp_check(op, kind, item[0], params, item[1])
                item = item + (float(ex), float(c), s, e)
            near.append(list(item))
        res["near"] = near
        st = res["stats"]["inside"]
        extra = ""
        if res["stats"]["outside"]["n"]:
            o = res["stats"]["outside"]
            extra = f" | outside image: {o['n']} pts, steps {o['steps']:.0f}, " \
                    f"err {o['err']:.2f}, over {o['over']}"
        log(f"{op.name} {kind} {tuple(res['params'])} g={gmode}: "
            f"{st['n']} pts, max steps {st['steps']:.0f}, max err {st['err']:.3f} "
            f"at {st['worst']}, over bound {st['over']}, refcheck "
            f"{res['refcheck']:.1e} ULP, {res['seconds']:.0f} s{extra}")
        for item in res["near"]:
            log(f"      near/over: {item}")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(res) + "\n")
    log("done")


if __name__ == "__main__":
    main()
