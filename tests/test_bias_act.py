"""bias_act and bias_act_backward: bit for bit the unfused NumPy + relukit sequence for every op and
layout, the bias gradient against an exact sum, determinism over threads and SIMD levels, errors."""

import importlib
import math

import numpy as np
import pytest

import relukit
import relukit._dispatch as dispatch
from relukit._fused import ACTS
from _support import BIG, DTYPES, make_data

# op -> non-default parameters (tried besides the defaults)
PARAMS = {
    "leaky_relu": {"negative_slope": 0.2},
    "hardtanh": {"min_val": -2.0, "max_val": 0.5},
    "threshold": {"threshold": 0.5, "value": -1.0},
    "hardshrink": {"lambd": 0.3},
    "softshrink": {"lambd": 0.3},
    "squareplus": {"b": 2.0},
    "elu": {"alpha": 0.5},
    "celu": {"alpha": 2.0},
    "softplus": {"beta": 2.0, "threshold": 5.0},
    "silu": {"beta": 1.702},
    "gelu": {"approximate": "tanh"},
}
REQUIRED = {"threshold": {"threshold": 0.1, "value": 0.0}}
# (shape, axis): channels last, NCHW with long rows (inner >= 64), short rows, 1-D, one row
LAYOUTS = [((50, 13), -1), ((3, 4, 70), 1), ((5, 6, 3), 1), ((97,), 0), ((1, 2, 300), 0),
           ((4, 3, 2, 5), 2)]


def functions(act):
    f = getattr(relukit, act)
    b = getattr(relukit, f"{act}_backward")
    return f, b


def broadcast(bias, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return bias.reshape(shape)


def same(a, b):
    """Equal values and NaN in the same places; zeros of the same sign."""
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    keep = ~np.isnan(a)
    np.testing.assert_array_equal(a[keep].view(f"u{a.itemsize}"), b[keep].view(f"u{b.itemsize}"))


def check_dbias(db, dx, axis):
    """db against the exactly rounded sums of dx per channel (math.fsum): summed in double (error
    <= n 2**-53 sum|dx|), then rounded once to dx's dtype (half an ULP)."""
    rows = np.moveaxis(dx.astype(np.float64), axis, 0).reshape(dx.shape[axis], -1)
    got = db.astype(np.float64)
    for c, row in enumerate(rows):
        if not np.isfinite(row).all():
            signs = set(np.sign(row[np.isinf(row)]))
            if np.isnan(row).any() or len(signs) == 2:
                assert np.isnan(got[c]), (c, got[c])
            else:       # that inf, or NaN if finite float64 parts overflowed the other way first
                assert got[c] == signs.pop() * np.inf or (
                    np.isnan(got[c]) and dx.dtype == np.float64), (c, got[c])
            continue
        try:
            exact = math.fsum(row)
        except OverflowError:      # float64 values whose true sum overflows: inf, or NaN when the
            assert not np.isfinite(got[c])     # partial sums overflowed both ways
            continue
        with np.errstate(over="ignore"):
            rounded = np.array(exact).astype(dx.dtype)
        if np.isinf(rounded):
            assert abs(got[c]) >= float(np.finfo(dx.dtype).max), (c, got[c], exact)
            continue
        below = np.nextafter(abs(rounded), rounded.dtype.type(0))      # spacing(max) overflows
        half_ulp = float(abs(rounded) - below) if dx.dtype != np.float64 else 0.0
        bound = row.size * 2.0**-53 * np.abs(row).sum() + half_ulp
        assert abs(got[c] - exact) <= bound, (c, got[c], exact, bound)


CASES = [(act, REQUIRED.get(act, {})) for act in ACTS] + sorted(PARAMS.items())


@DTYPES
@pytest.mark.parametrize("act, params", CASES, ids=[f"{a}-{'-'.join(p)}" for a, p in CASES])
@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_equals_the_unfused_sequence(act, params, dtype, layout):
    shape, axis = LAYOUTS[layout]
    f, fb = functions(act)
    n = math.prod(shape)
    x = make_data(n, dtype, seed=layout).reshape(shape)
    g = make_data(n, dtype, seed=layout + 10).reshape(shape)
    bias = make_data(shape[axis], dtype, seed=layout + 20, nan=False)
    bias[~np.isfinite(bias)] = 0.25
    with np.errstate(over="ignore", invalid="ignore"):    # inf + -inf, huge + huge
        z = x + broadcast(bias, x.ndim, axis)
    same(relukit.bias_act(x, bias, act, axis=axis, **params), f(z, **params))
    dx, db = relukit.bias_act_backward(g, x, bias, act, axis=axis, **params)
    same(dx, fb(g, z, **params))
    assert db.shape == bias.shape and db.dtype == dtype
    check_dbias(db, dx, axis % x.ndim)


@DTYPES
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "tanh", "elu", "softplus", "relu6"])
def test_backward_from_output(act, dtype):
    x = make_data(60 * 7, dtype, seed=3, nan=False).reshape(60, 7)
    g = make_data(60 * 7, dtype, seed=4).reshape(60, 7)
    bias = np.linspace(-1, 1, 7).astype(dtype)
    # softplus from its output needs a threshold past which its two sides round alike (40 is
    # enough in every dtype; the default 20 is refused for float64)
    params = {"threshold": 40.0} if act == "softplus" else {}
    y = relukit.bias_act(x, bias, act, **params)
    dx, db = relukit.bias_act_backward(g, y, bias, act, from_output=True, **params)
    same(dx, getattr(relukit, f"{act}_backward_from_output")(g, y, **params))
    check_dbias(db, dx, 1)
    if act == "softplus" and dtype == np.float64:
        with pytest.raises(ValueError, match="threshold >= 37.43"):
            relukit.bias_act_backward(g, y, bias, act, from_output=True)


@DTYPES
def test_in_place(dtype):
    x = make_data(40 * 9, dtype, seed=5).reshape(40, 9)
    g = make_data(40 * 9, dtype, seed=6).reshape(40, 9)
    bias = np.arange(9, dtype=dtype) - 4
    want_y = relukit.bias_act(x, bias, "silu")
    want_dx, want_db = relukit.bias_act_backward(g, x, bias, "silu")
    xi, gi = x.copy(), g.copy()
    dx, db = relukit.bias_act_backward(gi, xi, bias, "silu", out=gi)
    assert dx is gi
    same(dx, want_dx)
    same(db, want_db)
    assert relukit.bias_act(xi, bias, "silu", out=xi) is xi
    same(xi, want_y)
    # out overlapping an input other than as that input goes through a copy
    buf = np.concatenate([x.ravel(), x.ravel()[:9]])
    out = buf[9:].reshape(40, 9)
    relukit.bias_act(buf[:360].reshape(40, 9), bias, "silu", out=out)
    same(out, want_y)


def test_inputs_are_not_modified():
    x = make_data(300, np.float32, seed=7).reshape(30, 10)
    g = make_data(300, np.float32, seed=8).reshape(30, 10)
    bias = np.ones(10, np.float32)
    copies = [a.copy() for a in (x, g, bias)]
    relukit.bias_act(x, bias, "gelu")
    relukit.bias_act_backward(g, x, bias, "gelu")
    for a, c in zip((x, g, bias), copies):
        np.testing.assert_array_equal(a, c)


def test_layouts_and_dtypes():
    # a non-contiguous x, integer inputs, mixed dtypes (the result type of x + bias)
    x = make_data(20 * 8, np.float64, seed=9).reshape(8, 20).T
    bias = np.linspace(-1, 1, 8)
    same(relukit.bias_act(x, bias, "elu"), relukit.elu(x + bias))
    xi = np.arange(-6, 6).reshape(3, 4)
    same(relukit.bias_act(xi, np.array([1, 0, -1, 2]), "relu"), relukit.relu(xi + np.array([1, 0, -1, 2])))
    x32 = make_data(12, np.float32, seed=1).reshape(3, 4)
    y = relukit.bias_act(x32, np.ones(4), "relu")
    assert y.dtype == np.float64
    same(y, relukit.relu(x32 + np.ones(4)))
    dx, db = relukit.bias_act_backward(np.ones((0, 4), np.float32), np.ones((0, 4), np.float32),
                                       np.ones(4, np.float32))
    assert dx.shape == (0, 4) and db.tolist() == [0.0] * 4 and db.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((BIG // 101, 101), -1), ((7, 13, 3301), 1), ((3, 3, 33337), 1)])
def test_bias_gradient_is_deterministic(dtype, shape, axis):
    """The same bits for every thread count and SIMD level (the kernels called directly)."""
    n = math.prod(shape)
    x = make_data(n, dtype, seed=11, nan=False).reshape(shape)
    g = make_data(n, dtype, seed=12, nan=False).reshape(shape)
    x[~np.isfinite(x)], g[~np.isfinite(g)] = 1.0, -1.0
    bias = np.linspace(-0.5, 0.5, shape[axis]).astype(dtype)
    axis %= x.ndim
    layout = (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]))
    results = []
    for level in dispatch.available_levels():
        module = importlib.import_module(f"relukit._kernels_{level}")
        for threads in (1, 2, 3):
            with relukit.threads(threads):
                dx = np.empty_like(x)
                db = np.zeros(shape[axis])
                scratch = np.empty(module.prelu_scratch_size(*layout))
                module.bias_act("leaky_relu_backward_ufunc", x, g, bias, (0.1,), dx, *layout,
                                scratch, db)
                results.append((dx.copy(), db.copy()))
    for dx, db in results[1:]:
        np.testing.assert_array_equal(dx.view(f"u{dx.itemsize}"), results[0][0].view(f"u{dx.itemsize}"))
        np.testing.assert_array_equal(db.view(np.uint64), results[0][1].view(np.uint64))
    dx, db = relukit.bias_act_backward(g, x, bias, "leaky_relu", axis=axis, negative_slope=0.1)
    np.testing.assert_array_equal(dx, results[0][0])
    check_dbias(db, dx, axis)


def test_errors():
    x, b = np.ones((3, 4)), np.ones(4)
    with pytest.raises(ValueError, match="unknown act"):
        relukit.bias_act(x, b, "sin")
    with pytest.raises(TypeError, match="no parameter"):
        relukit.bias_act(x, b, "relu", alpha=1.0)
    with pytest.raises(TypeError, match="no parameter"):
        relukit.bias_act(x, b, "leaky_relu", slope=1.0)
    with pytest.raises(ValueError, match="beta"):
        relukit.bias_act(x, b, "silu", beta=0.0)
    with pytest.raises(ValueError, match="approximate"):
        relukit.bias_act(x, b, "gelu", approximate="fast")
    with pytest.raises(ValueError, match="single number"):
        relukit.bias_act(x, b, "leaky_relu", negative_slope=np.ones(4))
    with pytest.raises(TypeError):
        relukit.bias_act(x, b, "threshold")                # threshold and value are required
    with pytest.raises(ValueError, match="bias must be 1-D"):
        relukit.bias_act(x, np.ones(3))
    with pytest.raises(ValueError, match="bias must be 1-D"):
        relukit.bias_act(x, np.ones((1, 4)))
    with pytest.raises(ValueError, match="bias must be 1-D"):
        relukit.bias_act(x, b, axis=0)
    with pytest.raises(np.exceptions.AxisError):
        relukit.bias_act(x, b, axis=2)
    with pytest.raises(ValueError, match="at least one dimension"):
        relukit.bias_act(np.float64(1.0), np.ones(1))
    with pytest.raises(TypeError):
        relukit.bias_act(x.astype(complex), b)
    with pytest.raises(ValueError, match="one shape"):
        relukit.bias_act_backward(np.ones((3, 5)), x, b)
    with pytest.raises(ValueError, match="from its output"):
        relukit.bias_act_backward(x, x, b, "gelu", from_output=True)
    with pytest.raises(ValueError, match="alpha >= 0"):
        relukit.bias_act_backward(x, x, b, "elu", from_output=True, alpha=-1.0)
    with pytest.raises(TypeError, match="dtype"):
        relukit.bias_act(x, b, out=np.empty((3, 4), np.float32))
    ro = np.empty((3, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        relukit.bias_act(x, b, out=ro)
    with pytest.raises(ValueError, match="shape"):
        relukit.bias_act_backward(x, x, b, out=np.empty((4, 3)))
