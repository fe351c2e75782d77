"""Polynomials for the float64 derivatives of silu, mish, gelu and gelu-tanh next to their zero
(and, with --float32, for float32-lane kernels: gelu's).

Each of these derivatives crosses zero at a negative t0, where the direct formula is a sum of O(1)
terms that cancels: its relative error grows like 1/|d'(t0) (t - t0)|. Inside a window
lo < h < hi around the root, h = t - t0, _scalar.pxd evaluates instead

    d(t0 + h) = h q(s) g(t),   s = h - hc,   q(s) = c0_hi + (c0_lo + s P(s))

- h is formed to within half an ULP from t0 kept as three doubles: ((t - t0_hi) - t0_lo) - t0_lo2
  (t - t0_hi is exact by Sterbenz next to the root; silu adds the rounding error of beta x);
- q is a minimax fit *relative* to d / (h g) on the window (Remez exchange in mpmath, on a dense
  sample), expanded around the window's centre hc (a multiple of 1/64, so s is nearly exact);
  c0 is kept as two doubles, the other coefficients are rounded to double;
- g is 1, except for gelu: e^(-x^2/2), which the kernel has anyway as m 2^k. Without it d / h
  varies tenfold across gelu's window and the polynomial loses bits to its own evaluation.

t is beta x for silu (its derivative is a function of beta x only) and x for the others. The
windows and degrees are chosen so that, outside the window, the kernel's direct formula stays
within ~2.5 ULP (measured against mpmath), and inside it the fit error is below 2^-55 relative.

    python tools/root_expansions.py                      # every op, as used in _scalar.pxd
    python tools/root_expansions.py gelu --window=-1,0.76 --degree 19 --divisor gauss
    python tools/root_expansions.py gelu --window=-1,0.76 --degree 10 --float32

prints, per op, the root, the fit error (log2, with the coefficients exact and as printed) and a
Cython function returning P(s), ready to paste into src/relukit/_scalar.pxd (section "Root
windows"), with the lines that form h and s and combine them (the kernels write those out with
the constants inline; change them together). Requires mpmath; a full run takes about 15 s.
"""

import argparse
import sys

import numpy as np

from mpmath import mp, mpf, exp, tanh, log1p, ncdf, npdf, sqrt, pi, sech, findroot, diff

mp.dps = 60


# ---- the derivatives, exactly (mpmath) -----------------------------------------------------------
def _sig(t):
    return 1 / (1 + exp(-t))


def silu_d(t):
    # d/dx [x sigmoid(beta x)] = s (1 + t (1 - s)), s = sigmoid(t), t = beta x
    return _sig(t) * (1 + t * _sig(-t))


def mish_d(x):
    sp = log1p(exp(x))
    return tanh(sp) + x * _sig(x) * sech(sp) ** 2


def gelu_d(x):
    return ncdf(x) + x * npdf(x)


GT_A = mpf("0.044715")       # PyTorch's constant, exactly as a decimal
GT_K2 = 2 * sqrt(2 / pi)     # 0.5 x (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + A x^3)


def gelu_tanh_d(x):
    u2 = GT_K2 * (x + GT_A * x ** 3)
    du2 = GT_K2 * (1 + 3 * GT_A * x ** 2)
    return _sig(u2) + x * _sig(u2) * _sig(-u2) * du2


def _gauss(x):
    return exp(-x * x / 2)


DIVISORS = {"none": None, "gauss": _gauss, "exp": exp}

# name: (derivative, guess for its zero, window (lo, hi) in h, degree of d in h, divisor g)
OPS = {
    "silu": (silu_d, -1.28, (-0.25, 0.25), 13, None),
    "mish": (mish_d, -1.19, (-0.15, 1.1925), 21, None),      # hi: the window ends at x = 0
    "gelu": (gelu_d, -0.75, (-1.0, 0.76), 19, _gauss),
    "gelu_tanh": (gelu_tanh_d, -0.75, (-0.25, 0.25), 14, None),
}


# ---- fitting --------------------------------------------------------------------------------------
def split3(v):
    """v as hi + lo + lo2, three doubles, each the rounding of what is left."""
    hi = float(v)
    lo = float(v - hi)
    return hi, lo, float(v - hi - lo)


def horner(coeffs, s):
    acc = mpf(0)
    for c in reversed(coeffs):
        acc = acc * s + c
    return acc


def remez(F, a, b, degree, grid, Fg, iters=12):
    """Minimax polynomial p of the given degree relative to F on [a, b]: minimises
    max |p(s) - F(s)| / |F(s)|. F is sampled once on `grid` (Fg), where the error is evaluated and
    its extrema are looked for. Returns (coefficients c_0..c_degree, max relative error)."""
    n = degree + 1
    pts = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / n) for i in range(n + 1)]
    pw = [[s ** j for j in range(n)] for s in grid]
    where = {s: i for i, s in enumerate(grid)}
    best = None
    for _ in range(iters):
        A = mp.matrix(n + 1, n + 1)
        rhs = mp.matrix(n + 1, 1)
        for i, s in enumerate(pts):
            Fs = Fg[where[s]] if s in where else F(s)
            for j in range(n):
                A[i, j] = s ** j
            A[i, n] = (-1) ** i * abs(Fs)
            rhs[i] = Fs
        sol = mp.lu_solve(A, rhs)
        cs = [sol[j] for j in range(n)]
        err = [(mp.fsum(c * r for c, r in zip(cs, row)) - Fs) / abs(Fs) for row, Fs in zip(pw, Fg)]
        emax = max(abs(e) for e in err)
        if best is None or emax < best[1]:
            best = (cs, emax)
        # exchange: the extremum of each run of one sign, n + 1 of them alternating, dropping the
        # smaller one at either end while there are too many
        runs = []
        for i, e in enumerate(err):
            sgn = e >= 0
            if runs and runs[-1][0] == sgn:
                if abs(e) > abs(err[runs[-1][1]]):
                    runs[-1][1] = i
            else:
                runs.append([sgn, i])
        while len(runs) > n + 1:
            runs.pop(0 if abs(err[runs[0][1]]) < abs(err[runs[-1][1]]) else -1)
        new = [grid[r[1]] for r in runs]
        if len(runs) < n + 1 or new == pts:
            break
        pts = new
    return best


def fit(name, window, degree, divisor=None, float32=False):
    f, guess, _, _, div = OPS[name]
    div = div if divisor is None else DIVISORS[divisor]
    t0 = findroot(f, mpf(guess), tol=mpf(10) ** -55)
    g = (lambda t: 1) if div is None else div
    fq = lambda t: f(t) / g(t)                           # d / g, same zero
    d1, d2, d3 = (diff(fq, t0, k) for k in (1, 2, 3))

    def q(h):
        # d / (h g); next to 0 from the Taylor series, where the quotient would lose digits to the
        # residual of the root
        if abs(h) < mpf(10) ** -15:
            return d1 + h * d2 / 2 + h * h * d3 / 6
        return fq(t0 + h) / h

    lo, hi = window
    hc = round((lo + hi) / 2 * 64) / 64
    a, b = mpf(lo) - hc, mpf(hi) - hc
    N = 2500
    grid = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * (i + mpf(0.5)) / N) for i in range(N)]
    Fg = [q(s + hc) for s in grid]
    exact, _ = remez(lambda s: q(s + hc), a, b, degree - 1, grid, Fg)
    # c0 as hi + lo (~106 bits), the others rounded to double. (Refitting the others after each
    # rounding, as for _vecmath, gains nothing measurable here: the roundings cost ~|c1 s / c0|
    # 2^-53 relative, the size of the rounding of s P(s) that the evaluation makes anyway.)
    rnd = (lambda v: float(np.float32(float(v)))) if float32 else float
    c0_hi = rnd(exact[0])
    c0_lo = rnd(exact[0] - c0_hi)
    stored = [mpf(c0_hi) + mpf(c0_lo)] + [mpf(rnd(c)) for c in exact[1:]]
    # check on a denser, uniform grid than the fit saw
    M = 20000
    check = [a + (b - a) * i / (M - 1) for i in range(M)]
    qs = [q(s + hc) for s in check]
    efit = max(abs(horner(exact, s) - v) / abs(v) for s, v in zip(check, qs))
    emax = max(abs(horner(stored, s) - v) / abs(v) for s, v in zip(check, qs))
    return dict(name=name, t0=t0, d1=d1, window=window, degree=degree, hc=hc, c0=(c0_hi, c0_lo),
                coeffs=[float(c) for c in stored[1:]], efit=efit, emax=emax,
                divisor=[k for k, v in DIVISORS.items() if v is div][0], float32=float32)


# ---- output ---------------------------------------------------------------------------------------
def _minus(v):
    """'- v' as a Cython expression tail, written without a double sign."""
    return f"- {v!r}" if v >= 0 else f"+ {-v!r}"


def emit(r):
    name, (lo, hi), hc = r["name"], r["window"], r["hc"]
    t_hi, t_lo, t_lo2 = split3(r["t0"])
    ty, cast, suffix = ("double", "", "")
    if r["float32"]:
        # t0 as two floats (x + t0_hi is exact by Sterbenz next to the root)
        t_hi = float(np.float32(float(r["t0"])))
        t_lo, t_lo2 = float(np.float32(float(r["t0"] - mpf(t_hi)))), 0.0
        ty, cast, suffix = ("float", "<float>", "_f32f")
    var = "beta x" if name == "silu" else "x"
    g = {"none": "", "gauss": " e^(-x^2/2)", "exp": " e^x"}[r["divisor"]]
    out = [
        f"# ---- {name}: zero of the derivative at t0 = {mp.nstr(r['t0'], 22)} (t = {var}), "
        f"(d/g)'(t0) = {mp.nstr(r['d1'], 17)}",
        f"# window {lo} < h < {hi}, degree {r['degree']} in h; relative fit error "
        f"2^{float(mp.log(r['efit'], 2)):.1f}, 2^{float(mp.log(r['emax'], 2)):.1f} with the "
        f"coefficients as printed",
        f"#     h = ((t {_minus(t_hi)}) {_minus(t_lo)})" + (f" {_minus(t_lo2)}" if t_lo2 else ""),
    ]
    sv = "h"
    if hc:
        out.append(f"#     s = h {_minus(hc)}")
        sv = "s"
    out.append(f"#     d = h * ({r['c0'][0]!r} + ({r['c0'][1]!r} + {sv} * {name}_root_poly{suffix}({sv})))"
               f"{' *' + g if g else ''}")
    out.append(f"cdef inline {ty} {name}_root_poly{suffix}({ty} s) noexcept nogil:")
    out.append(f'    """P(s) of the {name} window: generated by tools/root_expansions.py."""')
    cs = r["coeffs"]
    out.append(f"    cdef {ty} p = {cast}{cs[-1]!r}")
    for c in reversed(cs[:-1]):
        out.append(f"    p = _fma(p, s, {cast}{c!r})")
    out.append("    return p")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ops", nargs="*", default=list(OPS), help="any of " + ", ".join(OPS))
    ap.add_argument("--window", help="lo,hi: the window in h (default: the one in use)")
    ap.add_argument("--degree", type=int, help="degree of d in h (default: the one in use)")
    ap.add_argument("--divisor", choices=DIVISORS, help="fit d / (h g) (default: the one in use)")
    ap.add_argument("--float32", action="store_true",
                    help="float32 coefficients, c0 and t0 as two floats (the float32-lane kernels)")
    args = ap.parse_args(argv)
    for name in args.ops:
        _, _, window, deg, _ = OPS[name]
        if args.window:
            window = tuple(float(v) for v in args.window.split(","))
        print(emit(fit(name, window, args.degree or deg, args.divisor, args.float32)))
        print()


if __name__ == "__main__":
    sys.exit(main())
