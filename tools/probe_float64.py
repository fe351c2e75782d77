"""Probe relukit's float64 kernels against long-double (x87, 64-bit mantissa) references on
millions of points: far more than tools/accuracy_table.py's mpmath sample can afford, and with
each gradient g chosen so that g d lands just below a power of two, where an ULP is the smallest
relative step and every relative error counts twice. This is how session 17 found silu's float64
backward 5 steps off (x = -1.0127, g = 14.18: tests/test_accuracy_regressions.py).

    python tools/probe_float64.py                      # every op below, 3e6 points per range
    python tools/probe_float64.py silu mish --n 1000000 --random-g

The references are the plain formulas in long double: 11 more bits than float64, so they are
good to ~0.01 ULP except where the formula itself cancels. Points within 0.05 of a zero of a
derivative (silu's, mish's, gelu_tanh's; tanhshrink's forward near 0) are skipped: there the
reference is worthless and the mpmath sample of accuracy_table.py is the measure. Prints the
largest error in ULPs of the float64 result, and its operands, per op and kind.
"""

import argparse
import sys

import numpy as np

import relukit

L = np.longdouble
SQRT_2_OVER_PI = np.sqrt(L(2) / L("3.14159265358979323846264338327950288"))
GELU_A = L("0.044715")
SELU_L, SELU_A = L("1.0507009873554804934193349852946"), L("1.6732632423543772848170429916717")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gelu_tanh_parts(x):
    t = 2 * SQRT_2_OVER_PI * (x + GELU_A * x ** 3)
    return t, 2 * SQRT_2_OVER_PI * (1 + 3 * GELU_A * x ** 2)


# op: (forward, derivative, zeros of the derivative to skip), all of long-double x
OPS = {
    "sigmoid": (sigmoid, lambda x: sigmoid(x) * sigmoid(-x), ()),
    "tanh": (np.tanh, lambda x: 4 / (np.exp(x) + np.exp(-x)) ** 2, ()),
    "logsigmoid": (lambda x: -np.log1p(np.exp(-x)), lambda x: sigmoid(-x), ()),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1, np.exp(x)), ()),
    "selu": (lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(x)),
             lambda x: SELU_L * np.where(x > 0, 1, SELU_A * np.exp(x)), ()),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2, ()),
    "tanhshrink": (lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2, (0.0,)),
    "silu": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * sigmoid(-x)),
             (-1.2784645427610737,)),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))),
             lambda x: (lambda t: t + x * sigmoid(x) * (1 - t * t))(np.tanh(np.log1p(np.exp(x)))),
             (-1.1924312145154952,)),
    "gelu_tanh": (lambda x: x * sigmoid(gelu_tanh_parts(x)[0]),
                  lambda x: (lambda t, v: sigmoid(t) * (1 + x * v * sigmoid(-t)))(
                      *gelu_tanh_parts(x)), (-0.7524614220710163,)),
}
RANGES = ((-0.5, 0.5), (-3.0, 3.0), (-20.0, 20.0))


def ulp_errors(got, ref):
    r64 = ref.astype(np.float64)
    with np.errstate(all="ignore"):
        err = np.abs(((got.astype(L) - ref) / np.spacing(np.abs(r64)).astype(L)).astype(np.float64))
    err[~np.isfinite(r64) | (np.abs(r64) < 1e-300)] = 0
    return err


def probe(name, n, random_g, rng):
    forward, derivative, zeros = OPS[name]
    worst = {"forward": (0.0, None), "backward": (0.0, None)}
    for lo, hi in RANGES:
        x = rng.uniform(lo, hi, n)
        for z in zeros:
            x = x[np.abs(x - z) > 0.05]
        X = x.astype(L)
        with np.errstate(all="ignore"):
            d = derivative(X)
            if random_g:
                g = rng.standard_normal(x.size) * 2.0 ** rng.integers(-10, 10, x.size)
            else:
                g = np.where(np.abs(d) > 1e-300, 0.99999 / d.astype(np.float64), 1.0)
                g *= 2.0 ** rng.integers(-10, 10, x.size)
            cases = (("forward", getattr(relukit, name)(x), forward(X)),
                     ("backward", getattr(relukit, name + "_backward")(g, x), g.astype(L) * d))
        for kind, got, ref in cases:
            err = ulp_errors(got, ref)
            i = int(np.argmax(err))
            if err[i] > worst[kind][0]:
                worst[kind] = (float(err[i]), (float(x[i]), float(g[i])) if kind == "backward"
                               else float(x[i]))
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ops", nargs="*", help=f"only these (default: {', '.join(OPS)})")
    ap.add_argument("--n", type=int, default=3_000_000, help="points per range (3e6)")
    ap.add_argument("--random-g", action="store_true", help="random g, not aimed at a binade top")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if np.finfo(L).nmant < 63:
        sys.exit("needs an 80-bit long double (x86-64 Linux): this platform's is float64")
    rng = np.random.default_rng(args.seed)
    for name in args.ops or OPS:
        for kind, (err, at) in probe(name, args.n, args.random_g, rng).items():
            print(f"{name:11s} {kind:9s} {err:6.2f} ULP at {at}", flush=True)


if __name__ == "__main__":
    main()
