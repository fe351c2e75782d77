"""Claims about the transcendental ops that the table-driven family tests do not make: the gelu
wrapper and its raw ufuncs, signed zeros, exact identities in the saturated ranges (f(x) == x,
-1/0/1 limits) without overflow, and gelu's ``approximate`` validation. Accuracy, kinks, limits at
+-inf, NaN, finite differences, from-output and parameter validation are in ``test_family.py``
(entries in ``_reference.py``)."""

import numpy as np
import pytest

import relukit
from _reference import ulp_steps
from _support import DTYPES, assert_same_bits, make_data



def _x(dtype, n=1001, seed=0):
    return make_data(n, dtype, seed=seed)


# ---- gelu: the wrapper and its raw ufuncs -------------------------------------------------------
@DTYPES
def test_gelu_wrapper_is_its_raw_ufuncs(dtype):
    x, g = _x(dtype, seed=1), _x(dtype, seed=2)
    assert_same_bits(relukit.gelu(x), relukit.gelu_erf(x))
    assert_same_bits(relukit.gelu(x, approximate="none"), relukit.gelu_erf(x))
    assert_same_bits(relukit.gelu(x, approximate="tanh"), relukit.gelu_tanh(x))
    assert_same_bits(relukit.gelu_backward(g, x), relukit.gelu_erf_backward(g, x))
    assert_same_bits(relukit.gelu_backward(g, x, approximate="tanh"),
                     relukit.gelu_tanh_backward(g, x))
    out = np.empty_like(x)
    assert relukit.gelu(x, approximate="tanh", out=out) is out
    assert_same_bits(out, relukit.gelu_tanh(x))


@pytest.mark.parametrize("approximate", ["bogus", "Tanh", "", None, 1, ("tanh",)])
def test_gelu_approximate_must_be_none_or_tanh(approximate):
    x = np.array([-1.0, 0.5])
    g = np.ones(2)
    for call in (lambda out: relukit.gelu(x, approximate=approximate, out=out),
                 lambda out: relukit.gelu_backward(g, x, approximate=approximate, out=out)):
        out = np.full(2, 9.0)
        with pytest.raises(ValueError, match="approximate"):
            call(out)
        assert (out == 9.0).all(), "a refused call wrote its output"


# ---- signed zeros ---------------------------------------------------------------------------------
# f(-0.0): odd functions keep the sign (tanh, tanhshrink: x - tanh x would give +0.0 in IEEE
# arithmetic, but the function is odd and the SPEC's tanh(-0.0) = -0.0 carries over); alpha *
# expm1(-0.0) is -0.0 for alpha > 0 (elu, selu, celu); x times a positive factor is -0.0 (silu,
# mish, gelu). The ops whose value at 0 is not 0 give it for both zeros.
NEGATIVE_ZERO = [
    ("tanh", lambda x: relukit.tanh(x)),
    ("tanhshrink", lambda x: relukit.tanhshrink(x)),
    ("elu", lambda x: relukit.elu(x)),
    ("elu alpha=0.3", lambda x: relukit.elu(x, 0.3)),
    ("selu", lambda x: relukit.selu(x)),
    ("celu", lambda x: relukit.celu(x)),
    ("celu alpha=3", lambda x: relukit.celu(x, 3.0)),
    ("silu", lambda x: relukit.silu(x)),
    ("silu beta=1.702", lambda x: relukit.silu(x, 1.702)),
    ("mish", lambda x: relukit.mish(x)),
    ("gelu", lambda x: relukit.gelu(x)),
    ("gelu tanh", lambda x: relukit.gelu(x, approximate="tanh")),
]


@pytest.mark.parametrize("name,f", NEGATIVE_ZERO, ids=[n for n, _ in NEGATIVE_ZERO])
@DTYPES
def test_signed_zero_in_signed_zero_out(name, f, dtype):
    z = np.array([0.0, -0.0], dtype)
    y = f(z)
    assert (y == 0).all(), f"{name}({z}) = {y}"
    assert np.signbit(y).tolist() == [False, True], f"{name}: signs of f(+0.0), f(-0.0): {y}"
    # one element at a time (scalar tail) and in a long array (SIMD body) alike
    long = np.tile(z, 40)
    assert np.signbit(f(long)).tolist() == [False, True] * 40


@DTYPES
def test_values_at_zero_for_both_zeros(dtype):
    z = np.array([0.0, -0.0], dtype)
    ln2 = dtype(np.log(2.0))
    for f, want in ((relukit.sigmoid, 0.5), (relukit.softplus, ln2), (relukit.logsigmoid, -ln2)):
        y = f(z)
        assert y[0] == y[1] == dtype(want) and not np.signbit(want * y).any(), (f, y)


@DTYPES
def test_odd_functions_underflow_to_a_signed_zero(dtype):
    """tanhshrink(x) ~ x**3/3 underflows for tiny x: the correctly rounded result is a zero of
    x's sign (the accuracy test does not see the sign of a zero)."""
    fi = np.finfo(dtype)
    x = np.array([fi.smallest_subnormal, -fi.smallest_subnormal, fi.smallest_normal,
                  -fi.smallest_normal], dtype)
    y = relukit.tanhshrink(x)
    assert (y == 0).all() and np.signbit(y).tolist() == [False, True, False, True], y
    t = relukit.tanh(x)
    assert_same_bits(t, x)          # tanh x = x - x**3/3 rounds to x


# ---- saturated ranges: exact identities, no overflow ---------------------------------------------
def _large(dtype):
    """Positive x from where every op below has saturated (f(x) rounds to x) up to the largest."""
    fi = np.finfo(dtype)
    vals = [1e3, 1e4, 65504.0, 1e10, 1e30, 3e38, 1e100, 1e300, float(fi.max)]
    return np.array([v for v in vals if v <= float(fi.max)], dtype)


@DTYPES
def test_identity_for_large_x(dtype):
    """silu, mish, gelu (both forms), softplus (also without its threshold), elu, celu are x
    itself for large x, bit for bit (the exact value rounds to x), with no intermediate overflow;
    logsigmoid is x for very negative x."""
    x = _large(dtype)
    for name, f in (("silu", relukit.silu), ("silu beta=1.702", lambda v: relukit.silu(v, 1.702)),
                    ("silu beta=0.5", lambda v: relukit.silu(v, 0.5)), ("mish", relukit.mish),
                    ("gelu", relukit.gelu),
                    ("gelu tanh", lambda v: relukit.gelu(v, approximate="tanh")),
                    ("softplus", relukit.softplus),
                    ("softplus no threshold", lambda v: relukit.softplus(v, threshold=np.inf)),
                    ("softplus beta=2", lambda v: relukit.softplus(v, 2.0, 10.0)),
                    ("elu", relukit.elu), ("celu", relukit.celu), ("tanhshrink", None)):
        if f is None:
            continue
        assert_same_bits(f(x), x, name)
    assert_same_bits(relukit.logsigmoid(-x), -x, "logsigmoid")
    # tanhshrink(x) = x - 1 rounds to x only once 1 is below half an ULP of x
    big = x[x >= 2.0 ** (np.finfo(dtype).nmant + 2)]
    assert_same_bits(relukit.tanhshrink(big), big, "tanhshrink")


@DTYPES
def test_saturation_values(dtype):
    x = _large(dtype)
    one, zero = np.ones_like(x), np.zeros_like(x)
    assert_same_bits(relukit.sigmoid(x), one)
    assert_same_bits(relukit.sigmoid(-x), zero)             # exactly +0.0
    assert_same_bits(relukit.tanh(x), one)
    assert_same_bits(relukit.tanh(-x), -one)
    inf = np.array([np.inf, -np.inf], dtype)
    assert_same_bits(relukit.sigmoid(inf), np.array([1.0, 0.0], dtype))
    assert_same_bits(relukit.tanh(inf), np.array([1.0, -1.0], dtype))
    assert_same_bits(relukit.elu(-x), -one)
    assert_same_bits(relukit.celu(-x, 2.0), -2 * one)
    for f in (relukit.silu, relukit.mish, relukit.gelu, relukit.gelu_tanh):
        y = f(-x)
        assert (y == 0).all(), (f, y)                      # sign of zero free (SPEC)
        y = f(inf)
        assert y[0] == np.inf and y[1] == 0, (f, y)


@DTYPES
def test_gradients_at_huge_x_are_zero_or_one(dtype):
    """The SPEC's example: tanh-gelu's gradient at |x| = 1e30 is 0 or 1, not NaN (x**3 overflows
    float32 there); the same for every op whose derivative tends to 0 or 1, up to the largest
    float and at +-inf, with g = 1 and g = -2.5."""
    x = _large(dtype)
    x = np.concatenate([x, [np.inf]]).astype(dtype)
    for g0 in (1.0, -2.5):
        g = np.full(x.shape, g0, dtype)
        for name, bwd, right, left in (
                ("gelu_tanh", relukit.gelu_tanh_backward, g0, 0.0),
                ("gelu_erf", relukit.gelu_erf_backward, g0, 0.0),
                ("silu", relukit.silu_backward, g0, 0.0),
                ("silu beta=1.702", lambda g, x: relukit.silu_backward(g, x, 1.702), g0, 0.0),
                ("mish", relukit.mish_backward, g0, 0.0),
                ("softplus", relukit.softplus_backward, g0, 0.0),
                ("softplus no threshold", lambda g, x: relukit.softplus_backward(
                    g, x, threshold=np.inf), g0, 0.0),
                ("logsigmoid", relukit.logsigmoid_backward, 0.0, g0),
                ("sigmoid", relukit.sigmoid_backward, 0.0, 0.0),
                ("tanh", relukit.tanh_backward, 0.0, 0.0),
                ("tanhshrink", relukit.tanhshrink_backward, g0, g0),
                ("elu", relukit.elu_backward, g0, 0.0),
                ("selu", relukit.selu_backward, g0 * 1.0507009873554804934193349852946, 0.0),
                ("celu", relukit.celu_backward, g0, 0.0)):
            # exactly 0, g, or (selu) g times the scale within the 4-ULP bound
            for xs, want, side in ((x, right, "+"), (-x, left, "-")):
                r = bwd(g, xs)
                assert (ulp_steps(r, np.full(x.shape, want, dtype)) <= 4).all() and (
                    (r == 0).all() or want != 0), (name, side, xs, r)


@DTYPES
def test_sigmoid_tail_is_not_flushed(dtype):
    """sigmoid(x) = e^x / (1 + e^x) for x -> -inf goes through the subnormals to 0 (no early
    flush to 0 and no 1/(1 + inf)): strictly decreasing in the negative tail until it is 0."""
    fi = np.finfo(dtype)
    lo = np.log(float(fi.smallest_subnormal)) - 1
    x = np.linspace(lo, -10, 4001).astype(dtype)
    y = relukit.sigmoid(x)
    pos = y > 0
    assert pos.any() and (~pos).any()
    assert (np.diff(y[pos].astype(np.float64)) >= 0).all()
    assert y[pos][0] <= fi.smallest_normal
