"""Operands where a function was found beyond its SPEC bound by a larger sample than the test
suite's (``tools/accuracy_table.py``), kept as reproducers: each is checked against the exact
reference of ``_reference.py``, in steps from the correctly rounded value. And the float64
gradients where such errors hide: g d just below a power of two (mpmath, and
``tools/probe_float64.py``'s long-double formulas on more points)."""

import os
import sys

import numpy as np
import pytest

from _reference import BY_NAME, cast_params, reference, steps_from_exact

# (op, kind, dtype, params, operands)
CASES = [
    # (2x + 3) / 6 and g * that: three roundings, 2 steps from the correctly rounded value
    ("hardswish", "backward", np.float64, (), (1.2140972183986793e-12, -0.4536866178800275)),
    # g (1 - e^y) past e^y's overflow (y > 0: outside logsigmoid's image, tools/exhaustive_f32.py):
    # inf before, finite for a small g; a subnormal g keeps its digits
    ("logsigmoid", "from_output", np.float32, (), (-0.07656064629554749, 88.72285461425781)),
    ("logsigmoid", "from_output", np.float32, (), (1e-45, 150.0)),
    ("logsigmoid", "from_output", np.float32, (), (-1e-40, 176.5)),
    ("logsigmoid", "from_output", np.float64, (), (5e-324, 1400.0)),
    ("logsigmoid", "from_output", np.float64, (), (-1e-300, 1000.5)),
    # silu's float64 backward, uncorrected lean form: e^-|x|'s error counts 1.5x next to the zero
    # and a g that puts g d at the top of a binade doubles every relative error (5.07 ULP; found
    # by a long-double probe with random g, 2026-11-24); and the careful form with a beta (4.24)
    ("silu", "backward", np.float64, (1.0,), (14.184622203929834, -1.0127076731421298)),
    ("silu", "backward", np.float64, (1.0,), (0.859435444528705, -1.0061869820071574)),
    ("silu", "backward", np.float64, (1.702,), (0.015301460398468582, -0.49147667537638107)),
    # gelu_tanh's first float32 lean forward (|x| <= 1e4): past x = -100 the low part of 2u broke
    # _exp_neg's clamp, a subnormal for -0.0 (6 steps; tools/exhaustive_f32.py, 2026-11-24)
    ("gelu_tanh", "forward", np.float32, (), (-979.7520751953125,)),
    ("gelu_tanh", "forward", np.float32, (), (-980.0184936523438,)),
]


@pytest.mark.parametrize("name,kind,dtype,params,operands", CASES,
                         ids=[f"{c[0]}-{c[1]}-{np.dtype(c[2]).name}" for c in CASES])
def test_reproducer_within_bound(name, kind, dtype, params, operands):
    op = BY_NAME[name]
    data = tuple(np.array([v], dtype) for v in operands)
    p = cast_params(params, dtype)
    got = op.call(kind, data, p)
    hi, _, _ = reference(op, kind, data, p, dtype)
    steps = steps_from_exact(got, hi, dtype)[0]
    assert steps <= op.ulp[kind], (
        f"{name} {kind}{operands} {np.dtype(dtype).name}: got {got[0]!r}, correctly rounded "
        f"{hi[0]!r}: {steps:.0f} steps (bound {op.ulp[kind]})")


TRANSCENDENTAL_BACKWARDS = [op.name for op in BY_NAME.values()
                            if op.backend == "mpmath" and "backward" in op.ulp]


@pytest.mark.parametrize("name", TRANSCENDENTAL_BACKWARDS)
def test_float64_backward_at_the_top_of_a_binade(name):
    """g d with g chosen so that it lands just below a power of two, where an ULP is the
    smallest relative step: every relative error counts twice there, and a random sample rarely
    lands there with a bad x (silu's lean form was 5 steps off at one such point). 600 x over
    [-8, 8], each parameter set, against the exact reference."""
    op = BY_NAME[name]
    rng = np.random.default_rng(7)
    for params in op.sets("backward", np.float64):
        x = rng.uniform(-8, 8, 600)
        p = cast_params(params, np.float64)
        with np.errstate(all="ignore"):
            d = op.call("backward", (np.ones_like(x), x), p)
            g = np.where(np.abs(d) > 1e-300, 0.9999 / d, 1.0) * 2.0 ** rng.integers(-8, 8, x.size)
            got = op.call("backward", (g, x), p)
        hi, _, care = reference(op, "backward", (g, x), p, np.float64)
        steps = np.where(care, steps_from_exact(got, hi, np.float64), 0)
        i = int(np.argmax(steps))
        assert steps[i] <= op.ulp["backward"], (name, params, x[i], g[i], got[i], hi[i], steps[i])


def test_float64_long_double_probe():
    """tools/probe_float64.py, 1e5 points per range for each op it has a long-double formula for,
    g aimed at the top of a binade: every error within the bound (4 ULP)."""
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("needs an 80-bit long double")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    import probe_float64

    rng = np.random.default_rng(17)
    for name in probe_float64.OPS:
        for kind, (err, at) in probe_float64.probe(name, 100_000, False, rng).items():
            assert err <= 4, (name, kind, err, at)
