"""The polynomials behind tanhshrink (``lambert_tail_f32`` and ``tanh_square_poly`` in
src/relukit/_scalar.pxd).

Lambert's continued fraction gives a - tanh a = a z / (3 + z + q1), z = a^2, with the tail
q1 = z / (5 + z / (7 + ...)) = a z / (a - tanh a) - 3 - z. q1 = z Q(z) with Q smooth on [0, 16]
(|a| < 4): its nearest singularity is at z = -20.2, where a = tanh a off the real line, so a low
degree reaches float32 precision. The fit minimises the relative error of Q on Chebyshev nodes by
Lawson's iteration (iteratively reweighted least squares, which converges to minimax); the
coefficients are rounded to float32 one at a time from the constant term up, each time refitting
the higher ones (rounding them all at once loses two bits more).

    python tools/fit_lambert_tail.py                 # degrees 5..9 on z in [0, 16]
    python tools/fit_lambert_tail.py --degree 7      # one degree, with the Horner lines to paste
    python tools/fit_lambert_tail.py --tanh-square --zmax 1 --degree 8

``--tanh-square`` fits P(z) with tanh(a)^2 = z (1 + z P(z)) instead (the backward below |a| = 1;
its nearest singularity is tanh's pole, z = -pi^2/4). ``--float64`` runs the same fit in mpmath
(400 nodes) with the coefficients rounded to double, for float64's P:

    python tools/fit_lambert_tail.py --tanh-square --zmax 1 --degree 16 --float64

Requires mpmath and NumPy; takes a few seconds (--float64: a few minutes).
"""

import argparse

import mpmath as mp
import numpy as np


def q_exact(z):
    if z < 1e-6:
        return mp.mpf(1) / 5 - mp.mpf(z) / 175           # q1 = z/5 - z^2/175 + ...
    a = mp.sqrt(mp.mpf(z))
    return (a * z / (a - mp.tanh(a)) - 3 - z) / z


def p_exact(z):
    if z < 1e-6:
        return -mp.mpf(2) / 3 + mp.mpf(17) * z / 45       # tanh^2 / z = 1 - 2z/3 + 17z^2/45 - ...
    a = mp.sqrt(mp.mpf(z))
    return (mp.tanh(a) ** 2 / z - 1) / z


def lawson(matrix, rhs, iterations=300):
    weights = np.ones(len(rhs))
    for _ in range(iterations):
        root = np.sqrt(weights)
        coef, *_ = np.linalg.lstsq(matrix * root[:, None], root * rhs, rcond=None)
        error = np.abs(matrix @ coef - rhs)
        weights = weights * error
        weights /= weights.sum()
    return coef


def fit(degree, zmax, nodes, q):
    """float32 coefficients of Q, low degree first, and their max relative error on the nodes."""
    scaled = np.vander(nodes / zmax, degree + 1, increasing=True) / q[:, None]
    scale = zmax ** -np.arange(degree + 1)
    fixed = []
    for k in range(degree + 1):
        rhs = np.ones(len(nodes)) - (scaled[:, :k] @ (np.array(fixed) / scale[:k]) if k else 0)
        fixed.append(float(np.float32(lawson(scaled[:, k:], rhs)[0] * scale[k])))
    error = np.abs(scaled @ (np.array(fixed) / scale) - 1).max()
    return fixed, error


def fit_float64(degree, zmax, nodes, values, iterations=40):
    """fit() in mpmath: coefficients rounded to double one at a time, low degree first."""
    cols = [[(z / zmax) ** k / v for z, v in zip(nodes, values)] for k in range(degree + 1)]
    fixed = []
    for k in range(degree + 1):
        rhs = [1 - sum(fixed[j] * zmax ** j * cols[j][i] for j in range(k)) for i in range(len(nodes))]
        weights = [mp.mpf(1)] * len(nodes)
        for _ in range(iterations if k < degree else 1):
            root = [mp.sqrt(w) for w in weights]
            matrix = mp.matrix([[c[i] * root[i] for c in cols[k:]] for i in range(len(nodes))])
            coef = mp.qr_solve(matrix, mp.matrix([r * w for r, w in zip(rhs, root)]))[0]
            error = [abs(sum(coef[j] * cols[k + j][i] for j in range(len(coef))) - rhs[i])
                     for i in range(len(nodes))]
            total = sum(w * e for w, e in zip(weights, error))
            weights = [w * e / total for w, e in zip(weights, error)]
        fixed.append(float(coef[0] / zmax ** k))
    error = max(abs(sum(mp.mpf(c) * z ** j for j, c in enumerate(fixed)) / v - 1)
                for z, v in zip(nodes, values))
    return fixed, float(error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--degree", type=int)
    parser.add_argument("--zmax", type=float, default=16.0)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--tanh-square", action="store_true")
    parser.add_argument("--float64", action="store_true")
    args = parser.parse_args()
    mp.mp.dps = 50
    exact = p_exact if args.tanh_square else q_exact
    if args.float64:
        mp.mp.dps = 60
        zmax, n = mp.mpf(args.zmax), 400
        nodes = [zmax * (1 - mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n)) / 2 for k in range(n)]
        coef, error = fit_float64(args.degree, zmax, nodes, [exact(z) for z in nodes])
        print(f"degree {args.degree}: relative error 2^{np.log2(error):.1f}")
        c = [repr(v) for v in coef]
        print(f"    q = _fma({c[-1]}, z, {c[-2]})")
        for v in reversed(c[1:-2]):
            print(f"    q = _fma(q, z, {v})")
        print(f"    return _fma(q, z, {c[0]})")
        return
    n = args.nodes
    nodes = args.zmax * (1 - np.cos(np.pi * (np.arange(n) + 0.5) / n)) / 2
    q = np.array([float(exact(z)) for z in nodes])
    for degree in [args.degree] if args.degree else range(5, 10):
        coef, error = fit(degree, args.zmax, nodes, q)
        print(f"degree {degree}: relative error 2^{np.log2(error):.1f}")
        if args.degree:
            c = [str(np.float32(v)) for v in coef]          # shortest float32 repr
            print(f"    cdef float q = _fma(<float>{c[-1]}, z, <float>{c[-2]})")
            for v in reversed(c[1:-2]):
                print(f"    q = _fma(q, z, <float>{v})")
            print(f"    return _fma(q, z, <float>{c[0]})")


if __name__ == "__main__":
    main()
