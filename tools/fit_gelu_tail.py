"""The polynomials behind gelu's Phi(-a) (``gelu_tail_f32`` and ``gelu_mills`` in src/relukit/_scalar.pxd).

Both compute Phi(-a) = e t Q(t) for a = |x|, with e = e^(-a^2/2), t = c / (c + a) and Q a
polynomial in s = t - mid. Q(t) = Phi(-a) e^(a^2/2) / t is smooth on t in (0, 1] (it tends to
c / sqrt(2 pi) as a -> inf), so one polynomial covers every a of the range: no erfc pieces,
selects or tail division. The fit is Chebyshev interpolation in mpmath (within a small factor of
minimax), and its relative error is measured with the coefficients rounded to double.

    python tools/fit_gelu_tail.py                                           # float32 backward, in double
    python tools/fit_gelu_tail.py --float32 --mid 0.5857142806053162        # float32 forward, in float32
    python tools/fit_gelu_tail.py --c 6 --degree 20 --amax 16 --mid 0.66    # float64 lean forms

prints mid, the measured error and the Cython Horner lines to paste. The float64 form evaluates
the last Horner step and the product with t with their roundings kept; the expansion point matters
to how the rounded coefficients fit (0.62 gave 2^-52.1, 0.66 2^-54.2). Requires mpmath; takes a
few seconds. With --float32 the coefficients are rounded to float32 one at a time, from the
highest degree down, each time refitting the lower ones (least squares in relative error on
Chebyshev nodes): rounding them all at once loses two to three bits more.
"""

import argparse

import mpmath as mp


def q_exact(t, c):
    a = c * (1 / t - 1)
    return mp.erfc(a / mp.sqrt(2)) / 2 * mp.exp(a * a / 2) / t


def fit(c, degree, amax, mid=None):
    lo, hi = 1 / (1 + amax / c), mp.mpf(1)
    mid = mp.mpf(mid) if mid else (lo + hi) / 2
    n = degree + 1
    nodes = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (k + 0.5) / n) for k in range(n)]
    vandermonde = mp.matrix([[(t - mid) ** j for j in range(n)] for t in nodes])
    exact = mp.lu_solve(vandermonde, mp.matrix([q_exact(t, c) for t in nodes]))
    coefs = [float(exact[j]) for j in range(n)]
    mid = float(mid)
    worst = mp.mpf(0)
    for k in range(2001):
        t = lo + (hi - lo) * k / 2000
        p = mp.mpf(0)
        for cj in reversed(coefs):
            p = p * (t - mid) + cj
        worst = max(worst, abs(p / q_exact(t, c) - 1))
    return mid, coefs, worst


def fit_float32(c, degree, amax, mid):
    """As fit(), the coefficients rounded to float32 and the rest refitted after each rounding."""
    import numpy as np

    lo, hi = 1 / (1 + amax / c), mp.mpf(1)
    mid = mp.mpf(float(np.float32(mid)))
    n = degree + 1
    nodes = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (k + 0.5) / (3 * n)) for k in range(3 * n)]
    exact = [q_exact(t, c) for t in nodes]
    fixed = {}
    for j in reversed(range(n)):
        free = [i for i in range(n) if i not in fixed]
        lhs = mp.matrix([[(t - mid) ** i / y for i in free] for t, y in zip(nodes, exact)])
        rhs = mp.matrix([(y - sum(v * (t - mid) ** i for i, v in fixed.items())) / y
                         for t, y in zip(nodes, exact)])
        fixed[j] = mp.mpf(float(np.float32(float(mp.qr_solve(lhs, rhs)[0][free.index(j)]))))
    coefs = [float(fixed[i]) for i in range(n)]
    worst = max(abs(mp.polyval(coefs[::-1], t - mid) / q_exact(t, c) - 1)
                for t in (lo + (hi - lo) * k / 2000 for k in range(2001)))
    return float(mid), coefs, worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, default=3.0)
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--amax", type=float, default=14.5)
    parser.add_argument("--mid", type=float, help="the expansion point (default: mid-interval)")
    parser.add_argument("--float32", action="store_true", help="float32 coefficients (needs --mid)")
    args = parser.parse_args()
    mp.mp.dps = 40
    if args.float32:
        mid, coefs, worst = fit_float32(mp.mpf(args.c), args.degree, mp.mpf(args.amax), args.mid)
    else:
        mid, coefs, worst = fit(mp.mpf(args.c), args.degree, mp.mpf(args.amax), args.mid)
    print(f"# c = {args.c}, degree {args.degree}, a in [0, {args.amax}]: relative error "
          f"2^{float(mp.log(worst, 2)):.1f} with the coefficients as printed")
    ty, cast = ("float", "<float>") if args.float32 else ("double", "")
    print(f"    cdef {ty} t = {args.c!r} / ({args.c!r} + a)")
    print(f"    cdef {ty} s = t - {cast}{mid!r}")
    print(f"    cdef {ty} q = {cast}{coefs[-1]!r}")
    for c in reversed(coefs[:-1]):
        print(f"    q = _fma(q, s, {cast}{c!r})")

if __name__ == "__main__":
    main()
