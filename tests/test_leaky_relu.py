"""leaky_relu, leaky_relu_backward, leaky_relu_backward_from_output and their raw ufuncs."""

import numpy as np
import pytest

import relukit
from _support import (
    SIZES,
    assert_same_bits,
    assert_unchanged,
    check_nan_every_position,
    check_offsets,
    check_reference,
    make_data,
    make_slope,
    operands,
    positive_slopes,
    ref_leaky_relu,
    ref_leaky_relu_backward,
    snapshot,
)

LEAKY_NAMES = ("leaky_relu", "leaky_relu_backward", "leaky_relu_backward_from_output")
SLOPES = (0.01, 0.0, -0.0, 0.2, 1.0, 3.5, 1e-30, np.inf)
NEGATIVE_SLOPES = (-0.5, -1.0, -1e-3)


# ---- reference comparisons -----------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_reference_bitwise_default_slope(name, dtype, n):
    data = operands(name, n, dtype, seed=n)
    got = check_reference(name, data, 0.01)
    assert got.dtype == dtype and got.shape == (n,)
    # the default slope is 0.01, the same call as passing it
    f = getattr(relukit, name)
    assert_same_bits(f(*data), got)
    assert_same_bits(f(*data, negative_slope=0.01), got)


# from_output refuses a slope that is not positive (test_errors.py)
@pytest.mark.parametrize("name,slope", [
    (name, slope) for name in LEAKY_NAMES for slope in SLOPES + NEGATIVE_SLOPES
    if slope > 0 or not name.endswith("from_output")])
def test_reference_bitwise_slopes(name, dtype, slope):
    for n in (5, 64, 1003):
        check_reference(name, operands(name, n, dtype, seed=n + 1), slope, f"{name} s={slope}")


@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_reference_bitwise_per_element_slope(name, dtype):
    for n in (1, 33, 1003):
        s = make_slope(n, dtype, seed=n)
        if name.endswith("from_output"):
            s = positive_slopes(s)
        check_reference(name, operands(name, n, dtype, seed=n + 2), s)


@pytest.mark.parametrize("name", ("leaky_relu", "leaky_relu_backward"))
def test_nan_slope(name, dtype):
    """NaN slope: x > 0 is unaffected, x <= 0 gives NaN (the NumPy expression)."""
    data = operands(name, 300, dtype, seed=3)
    check_reference(name, data, np.nan)
    s = make_slope(300, dtype, seed=3)
    s[::7] = np.nan
    check_reference(name, data, s)


def test_leaky_relu_values(dtype):
    t = dtype.type
    x = np.array([-2.0, -0.0, 0.0, 3.0, -np.inf, np.inf, np.nan], dtype)
    got = relukit.leaky_relu(x, 0.5)
    assert_same_bits(got, np.array([-1.0, -0.0, 0.0, 3.0, -np.inf, np.inf, np.nan], dtype))
    # slope 0: -0.0 * 0 keeps the sign (x * s in IEEE arithmetic), -inf * 0 is NaN
    got = relukit.leaky_relu(x, 0.0)
    assert_same_bits(got, np.array([-0.0, -0.0, 0.0, 3.0, np.nan, np.inf, np.nan], dtype))
    # the slope is cast to x's dtype before the product
    s = 0.1
    assert_same_bits(relukit.leaky_relu(np.array([-3.0], dtype), s),
                     np.array([np.float32(-3.0) * np.float32(t(s))], np.float32).astype(dtype)
                     if dtype == np.float16 else np.array([t(-3.0) * t(s)], dtype))


def test_leaky_relu_backward_values(dtype):
    """g if x > 0, g*s if x <= 0 (the slope at 0, either sign), NaN if x is NaN."""
    g = np.array([2.0, 2.0, 2.0, 2.0, np.nan, np.inf, 2.0, -0.0], dtype)
    x = np.array([1.0, 0.0, -0.0, -3.0, -1.0, -1.0, np.nan, 5.0], dtype)
    got = relukit.leaky_relu_backward(g, x, 0.25)
    assert_same_bits(got, np.array([2.0, 0.5, 0.5, 0.5, np.nan, np.inf, np.nan, -0.0], dtype))
    got = relukit.leaky_relu_backward_from_output(g, x, 0.25)
    assert_same_bits(got, np.array([2.0, 0.5, 0.5, 0.5, np.nan, np.inf, np.nan, -0.0], dtype))
    # slope 0: a product, not a select (g = inf gives NaN, as the NumPy expression g * s)
    got = relukit.leaky_relu_backward(g, x, 0.0)
    assert_same_bits(got, np.array([2.0, 0.0, 0.0, 0.0, np.nan, np.nan, np.nan, -0.0], dtype))


@pytest.mark.parametrize("slope", (0.01, 0.2, 1.0, 3.5, "array"))
@pytest.mark.parametrize("n", (9, 1001))
def test_backward_from_output_equals_backward_from_input(dtype, slope, n):
    x = make_data(n, dtype, seed=n)
    g = make_data(n, dtype, seed=n + 1)
    s = positive_slopes(make_slope(n, dtype, seed=n)) if slope == "array" else slope
    y = relukit.leaky_relu(x, s)
    from_y = relukit.leaky_relu_backward_from_output(g, y, s)
    assert_same_bits(from_y, relukit.leaky_relu_backward(g, x, s))


@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_float16_exhaustive(name):
    x = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    data = (x,) if name == "leaky_relu" else (x[::-1].copy(), x)
    for s in (0.01, 0.3, 2.0):
        check_reference(name, data, s)


# ---- NaN at every position ------------------------------------------------------------------------
@pytest.mark.parametrize("name,nan_in,slope_kind", [
    ("leaky_relu", "x", "scalar"),
    ("leaky_relu", "x", "array"),
    ("leaky_relu", "slope", "array"),
    ("leaky_relu_backward", "x", "scalar"),
    ("leaky_relu_backward", "x", "array"),
    ("leaky_relu_backward", "g", "scalar"),
    ("leaky_relu_backward_from_output", "x", "scalar"),
    ("leaky_relu_backward_from_output", "x", "array"),
    ("leaky_relu_backward_from_output", "slope", "array"),
])
def test_nan_at_every_position(name, nan_in, slope_kind, dtype):
    check_nan_every_position(name, dtype, nan_in, slope_kind)


# ---- position and alignment ----------------------------------------------------------------------
@pytest.mark.parametrize("slope", [0.1, "array"])
@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_results_independent_of_offset(name, dtype, slope):
    check_offsets(name, dtype, slope)


# ---- wrappers and raw ufuncs ---------------------------------------------------------------------
@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_wrapper_exposes_raw_ufunc(name, dtype):
    wrapper = getattr(relukit, name)
    raw = getattr(relukit, name + "_ufunc")
    assert wrapper.ufunc is raw
    assert isinstance(raw, np.ufunc)
    assert wrapper.__module__ == "relukit"
    assert raw.nin == (2 if name == "leaky_relu" else 3) and raw.nout == 1
    data = operands(name, 100, dtype, seed=4)
    assert_same_bits(raw(*data, 0.3), wrapper(*data, 0.3))
    assert_same_bits(raw(*data, 0.3), wrapper(*data, negative_slope=0.3))


# ---- out= and friends ----------------------------------------------------------------------------
def test_leaky_relu_in_place(dtype):
    x = make_data(1001, dtype, seed=1)
    expected = ref_leaky_relu(x, 0.2)
    r = relukit.leaky_relu(x, 0.2, out=x)
    assert r is x
    assert_same_bits(x, expected)


@pytest.mark.parametrize("name", ("leaky_relu_backward", "leaky_relu_backward_from_output"))
def test_backward_in_place(name, dtype):
    g = make_data(1001, dtype, seed=1)
    x = make_data(1001, dtype, seed=2)
    expected = ref_leaky_relu_backward(g, x, 0.2)
    before = snapshot(x)
    r = getattr(relukit, name)(g, x, 0.2, out=g)
    assert r is g
    assert_same_bits(g, expected)
    assert_unchanged(before, [x])


def test_overlapping_out_equals_copy(dtype):
    a = make_data(400, dtype, seed=5)
    expected = ref_leaky_relu(a[:-1].copy(), 0.1)
    relukit.leaky_relu(a[:-1], 0.1, out=a[1:])
    assert_same_bits(a[1:], expected)
    b = make_data(400, dtype, seed=6)
    s = make_slope(399, dtype)
    expected = ref_leaky_relu(b[1:].copy(), s)
    relukit.leaky_relu(b[1:], s, out=b[:-1])
    assert_same_bits(b[:-1], expected)
    g = make_data(400, dtype, seed=7)
    x = make_data(399, dtype, seed=8)
    expected = ref_leaky_relu_backward(g[:-1].copy(), x, 0.1)
    relukit.leaky_relu_backward(g[:-1], x, 0.1, out=g[1:])
    assert_same_bits(g[1:], expected)


def test_where_dtype_casting(dtype):
    x = make_data(500, dtype, seed=9)
    mask = np.random.default_rng(1).random(500) < 0.3
    out = np.full(500, -77, dtype)
    relukit.leaky_relu(x, 0.3, out=out, where=mask)
    assert_same_bits(out[mask], ref_leaky_relu(x, 0.3)[mask])
    assert (out[~mask] == -77).all()
    g = make_data(500, dtype, seed=10)
    out = np.full(500, -77, dtype)
    relukit.leaky_relu_backward(g, x, 0.3, out=out, where=mask)
    assert_same_bits(out[mask], ref_leaky_relu_backward(g, x, 0.3)[mask])
    assert (out[~mask] == -77).all()
    # dtype=float64: inputs cast up, computed in float64
    r = relukit.leaky_relu(x, 0.3, dtype=np.float64)
    assert r.dtype == np.float64
    assert_same_bits(r, ref_leaky_relu(x.astype(np.float64), 0.3))
    with pytest.raises(TypeError):
        relukit.leaky_relu(np.arange(5), 0.1, casting="no")
    assert_same_bits(relukit.leaky_relu(x, 0.3, casting="no"), ref_leaky_relu(x, 0.3))


def test_per_channel_slope_broadcasts(dtype):
    """A (C, 1) slope against x of shape (N, C, W): PReLU."""
    N, C, W = 4, 6, 67
    x = make_data(N * C * W, dtype, seed=11).reshape(N, C, W)
    g = make_data(N * C * W, dtype, seed=12).reshape(N, C, W)
    s = np.linspace(0.01, 0.5, C).astype(dtype).reshape(C, 1)
    sb = np.broadcast_to(s, x.shape)
    assert_same_bits(relukit.leaky_relu(x, s), ref_leaky_relu(x, sb))
    assert_same_bits(relukit.leaky_relu_backward(g, x, s), ref_leaky_relu_backward(g, x, sb))
    assert_same_bits(relukit.leaky_relu_backward_from_output(g, x, s),
                     ref_leaky_relu_backward(g, x, sb))
    # per-channel along the last axis, and channels-last layouts
    s_last = np.linspace(0.05, 2, W).astype(dtype)
    assert_same_bits(relukit.leaky_relu(x, s_last),
                     ref_leaky_relu(x, np.broadcast_to(s_last, x.shape)))
    xt = x.transpose(0, 2, 1)  # (N, W, C), non-contiguous
    assert_same_bits(relukit.leaky_relu(xt, s.reshape(C)),
                     ref_leaky_relu(xt, np.broadcast_to(s.reshape(C), xt.shape)))
    # in place with a per-channel slope
    expected = ref_leaky_relu(x, sb)
    relukit.leaky_relu(x, s, out=x)
    assert_same_bits(x, expected)


def test_slope_broadcasts_to_bigger_output(dtype):
    x = make_data(5, dtype, seed=13)
    s = np.array([[0.1], [0.5], [2.0]], dtype)
    r = relukit.leaky_relu(x, s)
    assert r.shape == (3, 5)
    assert_same_bits(r, ref_leaky_relu(np.broadcast_to(x, (3, 5)), np.broadcast_to(s, (3, 5))))


@pytest.mark.parametrize("step", [-1, 2, 3, -3])
def test_strided(dtype, step):
    x = make_data(1200, dtype, seed=14)[::step]
    g = make_data(1200, dtype, seed=15)[::-step]
    s = make_slope(1200, dtype)[::step]
    assert_same_bits(relukit.leaky_relu(x, 0.1), ref_leaky_relu(x.copy(), 0.1))
    assert_same_bits(relukit.leaky_relu(x, s), ref_leaky_relu(x.copy(), s.copy()))
    assert_same_bits(relukit.leaky_relu_backward(g, x, 0.1),
                     ref_leaky_relu_backward(g.copy(), x.copy(), 0.1))
    assert_same_bits(relukit.leaky_relu_backward(g, x, s),
                     ref_leaky_relu_backward(g.copy(), x.copy(), s.copy()))
    # contiguous data with a strided slope array (neither step 0 nor contiguous)
    xc = x.copy()
    assert_same_bits(relukit.leaky_relu(xc, s), ref_leaky_relu(xc, s.copy()))


@pytest.mark.parametrize("order", ["C", "F"])
def test_two_dimensional(dtype, order):
    x = np.asarray(make_data(31 * 45, dtype, seed=16).reshape(31, 45), order=order)
    r = relukit.leaky_relu(x, 0.2)
    assert_same_bits(r, ref_leaky_relu(x, 0.2))
    assert r.flags[order + "_CONTIGUOUS"]


def test_scalars_zero_dim_empty_lists():
    r = relukit.leaky_relu(-2.0)
    assert type(r) is np.float64 and r == -0.02
    r = relukit.leaky_relu(np.float32(-2.0), 0.5)
    assert type(r) is np.float32 and r == -1.0
    r = relukit.leaky_relu(np.float16(-2.0))
    assert type(r) is np.float16
    r = relukit.leaky_relu_backward(1.0, 0.0, 0.25)
    assert type(r) is np.float64 and r == 0.25
    assert relukit.leaky_relu(np.empty(0, np.float32)).shape == (0,)
    assert relukit.leaky_relu(np.empty((2, 0), np.float16)).dtype == np.float16
    assert_same_bits(relukit.leaky_relu([-1, 2], 0.5), np.array([-0.5, 2.0]))
    assert_same_bits(relukit.leaky_relu([-1.0, 2.0], [0.5, 0.25]), np.array([-0.5, 2.0]))
    # integer x with a Python-float slope promotes as NumPy's own binary float ufuncs do
    # (np.copysign(int8_array, 0.5) is float64); a float16 slope keeps int8 x at float16
    for itype in (np.int8, np.uint8, np.int16, np.int64, np.bool_):
        xi = np.array([252, 4, 0], np.uint8).astype(itype)
        for s in (0.5, np.float16(0.5), np.float32(0.5)):
            r = relukit.leaky_relu(xi, s)
            assert r.dtype == np.copysign(xi, s).dtype
            assert_same_bits(r, ref_leaky_relu(xi.astype(r.dtype), s))
    assert_same_bits(relukit.leaky_relu(np.array([-4, 4], np.int8), np.float16(0.5)),
                     np.array([-2.0, 4.0], np.float16))


def test_python_float_slope_keeps_dtype(dtype):
    x = make_data(10, dtype)
    assert relukit.leaky_relu(x, 0.1).dtype == dtype
    assert relukit.leaky_relu_backward(x, x, 0.1).dtype == dtype
    assert relukit.leaky_relu_backward_from_output(x, x, 0.1).dtype == dtype


@pytest.mark.parametrize("name", LEAKY_NAMES)
def test_wrapper_accepts_every_out_form_a_ufunc_accepts(name):
    """out=arr, out=(arr,) and out=None, as for any NumPy ufunc (relukit.relu takes them all)."""
    dtype = np.dtype(np.float32)
    data = operands(name, 100, dtype, seed=21)
    expected = check_reference(name, data, 0.3)
    f = getattr(relukit, name)
    for form in ("array", "tuple", "none"):
        out = np.full(100, 5, dtype)
        arg = {"array": out, "tuple": (out,), "none": None}[form]
        r = f(*data, 0.3, out=arg)
        if form == "none":
            assert_same_bits(r, expected, f"{name} out=None")
        else:
            assert r is out, f"{name} out={form}"
            assert_same_bits(out, expected, f"{name} out={form}")
    # the same for the raw ufunc, the reference behaviour
    out = np.full(100, 5, dtype)
    assert f.ufunc(*data, 0.3, out=(out,)) is out
    assert_same_bits(out, expected)
