"""prelu (per-channel slopes, and the weight gradient, a reduction) and rrelu (random slopes in
training, reproducible from the seed): the wrappers of their own shape that the op table does not
cover.

- prelu, prelu_backward and prelu_backward_from_output are leaky_relu's with the weight broadcast
  along ``axis``, bit for bit; from the output only with every slope > 0.
- prelu_weight_grad sums ``where(x > 0, 0, x * g)`` per channel in float64 in an order fixed by the
  shape: float32 (float16) results are within 1 ULP of the exact sum rounded once (math.fsum, then
  the dtype), float64 within the classical bound of a float64 sum of n terms,
  (n - 1) 2**-53 sum |terms| (terms being the float64 products the kernel forms); every thread
  count and SIMD level gives the same bits.
- rrelu out of training is leaky_relu with slope (lower + upper) / 2, bit for bit; in training
  the slope of element i (C order) is a function of (seed, i) in [lower, upper), the backward
  uses exactly the forward's slopes, and threads and SIMD levels do not change a bit.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import relukit
from _support import (
    DTYPES,
    F16,
    F32,
    F64,
    BIG,
    FLOAT_DTYPES,
    assert_same_bits,
    make_data,
    ref_leaky_relu,
    ref_leaky_relu_backward,
    threaded_at,
)

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
LEVELS = ("baseline", "avx2", "avx512")


def _broadcast_weight(weight, ndim, axis):
    weight = np.asarray(weight)
    if weight.size == 1:
        return weight.reshape(())
    axis %= ndim
    return weight.reshape((-1,) + (1,) * (ndim - axis - 1))


def _weight(c, dtype, seed=0):
    """Per-channel slopes: positive, zero, negative, > 1."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([0.25, 0.01, 0.0, -0.3, 1.5, 0.1], dtype), c)


# ---- prelu forward and backward -------------------------------------------------------------------
PRELU_SHAPES = [((4, 3, 5, 7), 1), ((6, 5), 1), ((2, 9, 4), -1), ((3, 4, 6), 2), ((5, 2, 3), 0),
                ((8,), 0)]


@pytest.mark.parametrize("shape,axis", PRELU_SHAPES, ids=lambda v: str(v))
@DTYPES
def test_prelu_is_leaky_relu_per_channel(shape, axis, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    x = make_data(n, dtype, seed=n).reshape(shape)
    g = make_data(n, dtype, seed=n + 1).reshape(shape)
    w = _weight(shape[axis], dtype, seed=n)
    wb = _broadcast_weight(w, len(shape), axis)
    assert_same_bits(relukit.prelu(x, w, axis=axis), ref_leaky_relu(x, wb), "prelu")
    assert_same_bits(relukit.prelu_backward(g, x, w, axis=axis), ref_leaky_relu_backward(g, x, wb),
                     "prelu_backward")
    # the same as leaky_relu with the broadcast slope, also through out=
    out = np.empty_like(x)
    assert relukit.prelu(x, w, axis=axis, out=out) is out
    assert_same_bits(out, relukit.leaky_relu(x, wb))
    # one slope (a size-1 weight) is leaky_relu with it
    w1 = np.array([0.2], dtype)
    assert_same_bits(relukit.prelu(x, w1, axis=axis), ref_leaky_relu(x, w1.reshape(())))
    assert_same_bits(relukit.prelu_backward(g, x, w1, axis=axis),
                     ref_leaky_relu_backward(g, x, w1.reshape(())))
    # from the output: the same gradient where every slope is positive
    wp = np.where(w > 0, w, dtype.type(0.5))
    y = relukit.prelu(x, wp, axis=axis)
    assert_same_bits(relukit.prelu_backward_from_output(g, y, wp, axis=axis),
                     relukit.prelu_backward(g, x, wp, axis=axis), "prelu_backward_from_output")
    if (w <= 0).any():
        with pytest.raises(ValueError, match="weight > 0"):
            relukit.prelu_backward_from_output(g, y, w, axis=axis)


def test_prelu_default_axis_is_one_and_weight_takes_x_dtype():
    x = make_data(2 * 3 * 4, F32, seed=3).reshape(2, 3, 4)
    w = np.array([0.1, 0.2, 0.3])                                    # float64 weight
    y = relukit.prelu(x, w)
    assert y.dtype == F32
    assert_same_bits(y, ref_leaky_relu(x, w.astype(F32).reshape(3, 1)))
    assert_same_bits(y, relukit.prelu(x, w, axis=1))
    assert_same_bits(y, relukit.prelu(x, w, axis=-2))


@pytest.mark.parametrize("int_dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int64])
def test_integer_and_bool_inputs_give_leaky_relus_dtype(int_dtype):
    """prelu and rrelu (eval and training) on integer or bool x: the dtype and values of
    leaky_relu with a Python float slope, float64 (NumPy's promotion of such an array and a
    Python float), whatever the weight's dtype."""
    x = np.array([0, 1, 1, 0], bool) if int_dtype == np.bool_ else np.array([3, 0, 1, 2], int_dtype)
    x = x if int_dtype in (np.bool_, np.uint8) else -x
    g = np.ones_like(x)
    want = relukit.leaky_relu(x, 0.25)
    assert want.dtype == F64
    for w in (0.25, np.array([0.25], F32), np.array([0.25], F16)):
        assert_same_bits(relukit.prelu(x, w, axis=0), want)
        assert_same_bits(relukit.prelu_backward(g, x, w, axis=0),
                         relukit.leaky_relu_backward(g, x, 0.25))
    assert relukit.rrelu(x).dtype == F64
    for backward in (False, True):
        r = (relukit.rrelu_backward(g, x, training=True, seed=3) if backward else
             relukit.rrelu(x, training=True, seed=3))
        assert r.dtype == F64


@pytest.mark.parametrize("fn", ["prelu", "prelu_backward", "prelu_backward_from_output",
                                "prelu_weight_grad"])
def test_prelu_rejects_bad_weight_and_axis(fn):
    x = np.zeros((2, 3, 4))
    g = np.ones_like(x)

    def call(w, axis=1):
        if fn == "prelu":
            return relukit.prelu(x, w, axis=axis)
        return getattr(relukit, fn)(g, x, w, axis=axis)

    for w, axis, match in ((np.ones(4), 1, "3 channels"), (np.ones(2), 1, "channels"),
                           (np.ones((3, 1)), 1, "1-D"), (np.ones((1, 3)), 1, "1-D"),
                           (np.ones(3), 3, "out of range"), (np.ones(3), -4, "out of range"),
                           (np.ones(0), 1, "channels")):
        with pytest.raises(ValueError, match=match):
            call(w, axis)


@pytest.mark.parametrize("axis", [3, -4, 10])
def test_prelu_rejects_a_bad_axis_with_a_single_slope(axis):
    """An axis out of range is a caller's error whatever the weight's size (a size-1 weight
    needs no axis, but a wrong one still says the caller's layout is not what they think)."""
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="axis"):
        relukit.prelu(x, np.array([0.25]), axis=axis)


def _outcome(call):
    try:
        return call()
    except (TypeError, ValueError) as error:
        return type(error), str(error)


@pytest.mark.parametrize("fn", ["prelu", "prelu_backward"])
def test_prelu_c_path_agrees_with_the_def(fn):
    """prelu and prelu_backward form the slopes in C for the common call (exact float ndarrays
    of one dtype, a weight of that dtype with at most one dimension, an int axis) and leave any
    other call to their def (``.python``): the same bits or the same error either way, over
    every rank, axis in and out of range, weight size, dtype and kind of argument."""
    f = getattr(relukit, fn)
    rng = np.random.default_rng(12)
    checked = 0
    for shape in ((), (5,), (1, 1), (2, 3), (2, 3, 4), (2, 1, 3, 2)):
        for dt in (np.float16, np.float32, np.float64):
            x = np.asarray(rng.normal(size=shape), dt)
            data = (x,) if fn == "prelu" else (np.asarray(rng.normal(size=shape), dt), x)
            ndim = x.ndim
            sizes = {1, 2, 7} | set(shape)
            weights = [np.asarray(rng.uniform(0.1, 0.5, size=k), dt) for k in sorted(sizes)]
            weights += [np.asarray(0.25, dt), np.full((1, 1), 0.25, dt),
                        np.full(3, 0.25, np.float64 if dt != np.float64 else np.float32),
                        [0.25], 0.25]
            for w in weights:
                for axis in (*range(-ndim - 1, ndim + 1), True, np.int64(1)):
                    for kwargs in ({}, {"out": np.full(shape, 9, dt)}):
                        got = _outcome(lambda: f(*data, w, axis=axis, **kwargs))
                        want = _outcome(lambda: f.python(*data, w, axis=axis, **kwargs))
                        if isinstance(want, tuple):
                            assert got == want, (shape, dt, w, axis)
                        else:
                            assert_same_bits(got, want, f"{shape} {dt} {np.shape(w)} {axis}")
                            checked += 1
    assert checked > 500
    # the data as lists, or of two dtypes: the def's promotion
    x = rng.normal(size=(2, 3))
    data = (x.tolist(),) if fn == "prelu" else (x.astype(np.float32), x)
    w = np.full(3, 0.25)
    assert_same_bits(f(*data, w), f.python(*data, w))


def test_prelu_writes_nothing_when_refused():
    x = np.array([[-1.0, 2.0], [-3.0, 4.0]])
    out = np.full_like(x, 9.0)
    with pytest.raises(ValueError):
        relukit.prelu(x, np.ones(3), out=out)
    assert (out == 9.0).all()


# ---- prelu_weight_grad ----------------------------------------------------------------------------
def _terms(g, x):
    """The per-element terms where(x > 0, 0, x * g), as the kernel forms them: float16 goes
    through float32; products of float16/float32 values are exact in float64, float64 products
    are rounded (NaN in x stays NaN)."""
    c = np.float32 if x.dtype == F16 else x.dtype
    xc, gc = x.astype(c).astype(np.float64), g.astype(c).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.isnan(xc), xc, np.where(xc > 0, 0.0, xc * gc))


def _per_channel(a, axis, size1):
    """(channels, n) rows of a: the channel axis first, everything else flattened."""
    if size1:
        return a.reshape(1, -1)
    return np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)


def check_weight_grad(g, x, w, axis=1, context="", cancelling=False):
    """The result against the exact sum per channel: within 1 ULP of it rounded to the dtype
    (float16, float32), or within (n - 1) 2**-53 sum |t| of the exact sum of the float64 terms
    (float64). NaN exactly in the channels with a NaN term (or inf - inf).

    cancelling=True: terms that cancel (sum |t| / |sum t| beyond 2**29 / n): there no float64
    accumulation can promise 1 float32 ULP, so every dtype gets the float64 bound, plus half an
    ULP of the dtype for the final rounding."""
    got = relukit.prelu_weight_grad(g, x, w, axis=axis)
    w = np.asarray(w)
    assert got.shape == w.shape and got.dtype == x.dtype, (got.shape, got.dtype)
    rows = _per_channel(_terms(g, x), axis, w.size == 1)
    got = got.reshape(-1)
    n = rows.shape[1]
    bad = []
    for c, row in enumerate(rows.tolist()):
        if any(math.isnan(t) for t in row) or (math.inf in row and -math.inf in row):
            if not math.isnan(got[c]):
                bad.append((c, "NaN", got[c]))
            continue
        if any(math.isinf(t) for t in row):
            want = math.inf if math.inf in row else -math.inf
            if got[c] != want:
                bad.append((c, want, got[c]))
            continue
        if x.dtype == F64 or cancelling:
            # |got - S| with S the exact sum of the terms: fsum of got and -terms, exact then
            # rounded once (so the comparison itself carries no error worth speaking of)
            err = abs(math.fsum([float(got[c])] + [-t for t in row]))
            bound = (n - 1) * 2.0 ** -53 * math.fsum(abs(t) for t in row)
            if x.dtype != F64:
                bound += float(np.spacing(np.abs(got[c])).astype(np.float64)) / 2
            if err > bound * (1 + 2.0 ** -50):
                bad.append((c, math.fsum(row), float(got[c]), f"error {err:.3g} > {bound:.3g}"))
        else:
            want = np.array(math.fsum(row)).astype(x.dtype)       # exact sum rounded once
            if abs(int(_ordered(got[c])) - int(_ordered(want))) > 1:
                bad.append((c, float(want), float(got[c])))
    assert not bad, f"{context}: {len(bad)} channels off, first {bad[:5]}"
    return got


def _ordered(v):
    """A float as an integer in value order (one step = one representable float)."""
    v = np.asarray(v)
    u = {2: np.int16, 4: np.int32, 8: np.int64}[v.dtype.itemsize]
    i = int(v.view(u))
    return i if i >= 0 else -(i & ((1 << (8 * v.dtype.itemsize - 1)) - 1))


# (shape, axis, weight size 1?) : layouts of the reduction
WG_LAYOUTS = {
    "long rows NCHW": ((3, 5, 12, 11), 1, False),         # inner 132 >= 64: LANES accumulators
    "long rows, several items": ((2, 3, 40000), 1, False),  # inner > ITEM (16384): chunks
    "short rows (N, C)": ((300, 7), 1, False),            # inner 1 < 64: slabs across rows
    "short rows (N, C, 5)": ((50, 6, 5), 1, False),
    "channels last": ((20, 9, 8), -1, False),
    "axis 0": ((7, 30, 3), 0, False),
    "scalar weight": ((4, 5, 33), 1, True),
    "scalar weight, 1-D": ((1001,), 0, True),
    "wide slab (4, 40000)": ((4, 40000), 1, False),       # width > ITEM: slab chunks
}


@pytest.mark.parametrize("layout", list(WG_LAYOUTS))
@DTYPES
def test_prelu_weight_grad_is_the_exact_sum(layout, dtype):
    dtype = np.dtype(dtype)
    shape, axis, size1 = WG_LAYOUTS[layout]
    n = int(np.prod(shape))
    rng = np.random.default_rng(n)
    # ordinary magnitudes, both signs, a third positive (dropped) and some exact zeros
    x = (rng.standard_normal(n) * 3).astype(dtype).reshape(shape)
    g = (rng.standard_normal(n)).astype(dtype).reshape(shape)
    x.reshape(-1)[::7] = 0.0
    c = shape[axis]
    w = np.array([0.25], dtype) if size1 else _weight(c, dtype)
    check_weight_grad(g, x, w, axis, f"{layout} {dtype}")


@DTYPES
def test_prelu_weight_grad_cancelling_and_wide_range_terms(dtype):
    """Terms of every magnitude that cancel: the float64 sum still meets its bound, float32
    stays within 1 ULP of the exactly rounded sum (float64 accumulation of float32 products)."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    rng = np.random.default_rng(5)
    n = 3 * 2000
    mags = 2.0 ** rng.uniform(np.log2(float(fi.smallest_normal)) / 3,
                              np.log2(float(fi.max)) / 3, n)
    x = -np.abs(mags).astype(dtype).reshape(3, 2000)
    g = (mags * np.where(rng.random(n) < 0.5, -1, 1)).astype(dtype).reshape(3, 2000)
    x[:, 1000:] = x[:, :1000]
    g[:, 1000:] = -g[:, :1000]            # every term has its negative: the exact sum is 0
    g[1, 5] *= 2                          # ... but in channel 1
    for axis, xx, gg in ((0, x, g), (1, x.T.copy(), g.T.copy())):
        check_weight_grad(gg, xx, np.ones(3, dtype) * 0.1, axis, f"cancelling {dtype}",
                          cancelling=True)


@DTYPES
def test_prelu_weight_grad_nan_poisons_only_its_channel(dtype):
    dtype = np.dtype(dtype)
    for shape in ((4, 5, 100), (40, 5), (4, 5, 3)):
        rng = np.random.default_rng(9)
        x = -np.abs(rng.standard_normal(shape)).astype(dtype)
        g = np.ones(shape, dtype)
        x[1, 2, ...] = np.nan if x.ndim == 2 else x[1, 2, ...]
        if x.ndim == 3:
            x[1, 2, 0] = np.nan
        w = np.full(5, 0.1, dtype)
        got = relukit.prelu_weight_grad(g, x, w)
        assert np.isnan(got[2]) and not np.isnan(np.delete(got, 2)).any(), (shape, got)
        # NaN or inf in g where x > 0 does not reach the weight (a select, not a product)
        x2 = np.abs(x)
        x2[np.isnan(x2)] = 1.0
        x2[0, 0, ...] = -1.0
        g2 = g.copy()
        g2[x2 > 0] = np.nan
        got = relukit.prelu_weight_grad(g2, x2, w)
        assert not np.isnan(got[1:]).any() and got[1:].tolist() == [0.0] * 4, got


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["float16", "float32"])
def test_prelu_weight_grad_overflow_is_silent_inf(dtype):
    """A channel sum beyond the dtype's range is +-inf without a warning, as every elementwise
    kernel overflows (leaky_relu(-3e38, 10) is -inf in float32, silently)."""
    dtype = np.dtype(dtype)
    big = float(np.finfo(dtype).max) / 2
    x = np.full((2, 3), -big, dtype)
    g = np.full((2, 3), 2.0, dtype)
    g[:, 1] = -2.0
    got = relukit.prelu_weight_grad(g, x, np.ones(3, dtype))      # warnings are errors here
    assert got.tolist() == [-np.inf, np.inf, -np.inf]


@DTYPES
def test_prelu_weight_grad_empty_and_shape_checks(dtype):
    dtype = np.dtype(dtype)
    for shape, w in (((0, 3, 4), np.ones(3, dtype)), ((2, 3, 0), np.ones(3, dtype)),
                     ((0,), np.ones(1, dtype))):
        x = np.zeros(shape, dtype)
        got = relukit.prelu_weight_grad(x, x, w)
        assert got.shape == w.shape and got.dtype == dtype and (got == 0).all()
    x = np.zeros((2, 3, 4), dtype)
    with pytest.raises(ValueError, match="one shape"):
        relukit.prelu_weight_grad(np.zeros((2, 3, 5), dtype), x, np.ones(3, dtype))
    with pytest.raises(ValueError, match="one shape"):
        relukit.prelu_weight_grad(np.zeros((3, 4), dtype), x, np.ones(3, dtype))  # broadcastable
    # result dtype: that of g and x together; shaped like weight (a size-1 weight of any shape)
    got = relukit.prelu_weight_grad(np.ones((2, 3), dtype), -np.ones((2, 3), dtype),
                                    np.array([[0.5]]) if False else np.array(0.5))
    assert got.shape == () and got == -6


WG_BIG = {   # above the thread threshold, in each reduction layout
    "long rows": ((6, 8, 8000), 1),
    "short rows": ((40000, 9), 1),
    "wide slab": ((4, 200000), 1),
    "channels last": ((3000, 100, 3), -1),
    "slabs capped by MAX_SCRATCH": ((12, 20000), 1),    # 4 rows per item: the cap, not ITEM
}


def _wg_big_operands(shape, dtype, seed):
    """Both signs, magnitudes spread over 2**-20..2**20 (channel sums stay finite in float16)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = (rng.standard_normal(n) * 2.0 ** rng.integers(-20, 8, n)).astype(dtype).reshape(shape)
    g = (rng.standard_normal(n) * 2.0 ** rng.integers(-8, 2, n)).astype(dtype).reshape(shape)
    return g, x


@pytest.mark.parametrize("layout", list(WG_BIG))
@DTYPES
def test_prelu_weight_grad_same_bits_for_1_2_3_threads(layout, dtype):
    dtype = np.dtype(dtype)
    shape, axis = WG_BIG[layout]
    assert threaded_at(int(np.prod(shape)))
    g, x = _wg_big_operands(shape, dtype, seed=len(layout))
    w = np.full(shape[axis], 0.1, dtype)
    results = {}
    for n in (1, 2, 3):
        with relukit.threads(n):
            results[n] = relukit.prelu_weight_grad(g, x, w, axis=axis)
    assert_same_bits(results[2], results[1], f"{layout} 2 threads")
    assert_same_bits(results[3], results[1], f"{layout} 3 threads")


# ---- rrelu ----------------------------------------------------------------------------------------
RRELU_PARAMS = ((1 / 8, 1 / 3), (0.0, 0.5), (0.2, 0.2), (0.01, 3.0))


@pytest.mark.parametrize("lower,upper", RRELU_PARAMS)
@DTYPES
def test_rrelu_eval_is_leaky_relu_with_the_mean_slope(lower, upper, dtype):
    x = make_data(1001, dtype, seed=1)
    g = make_data(1001, dtype, seed=2)
    s = (lower + upper) / 2
    assert_same_bits(relukit.rrelu(x, lower, upper), ref_leaky_relu(x, s))
    assert_same_bits(relukit.rrelu_backward(g, x, lower, upper), ref_leaky_relu_backward(g, x, s))
    y = relukit.rrelu(x, lower, upper)
    assert_same_bits(relukit.rrelu_backward_from_output(g, y, lower, upper),
                     relukit.rrelu_backward(g, x, lower, upper))
    assert_same_bits(relukit.rrelu(x, lower, upper, training=False, seed=5),
                     relukit.leaky_relu(x, s))


@DTYPES
def test_rrelu_eval_defaults(dtype):
    x = make_data(257, dtype, seed=4)
    assert_same_bits(relukit.rrelu(x), relukit.leaky_relu(x, (1 / 8 + 1 / 3) / 2))


def _slopes(shape, dtype, seed, lower=1 / 8, upper=1 / 3):
    """The training slopes of every element: the forward of -1 (x * r with x = -1 is exact)."""
    c = F32 if np.dtype(dtype) == F16 else np.dtype(dtype)
    return -relukit.rrelu(-np.ones(shape, c), lower, upper, training=True, seed=seed)


@pytest.mark.parametrize("lower,upper", RRELU_PARAMS)
@DTYPES
def test_rrelu_training_forward_and_backward_use_one_slope_per_element(lower, upper, dtype):
    """Forward x * r (x <= 0) and backward g * r with the same r, bit for bit, from the seed
    alone: the slopes read off a forward of -1 predict both for any x and g of that shape."""
    dtype = np.dtype(dtype)
    shape = (7, 143)
    n = 7 * 143
    x = make_data(n, dtype, seed=11).reshape(shape)
    g = make_data(n, dtype, seed=12).reshape(shape)
    r = _slopes(shape, dtype, 99, lower, upper)
    c = r.dtype
    with np.errstate(all="ignore"):
        want_y = np.where(x.astype(c) > 0, x.astype(c), x.astype(c) * r).astype(dtype)
        want_g = np.where(np.isnan(x), x.astype(c),
                          np.where(x.astype(c) > 0, g.astype(c), g.astype(c) * r)).astype(dtype)
    with np.errstate(over="ignore"):         # float16 x r may overflow (upper = 3): see below
        y = relukit.rrelu(x, lower, upper, training=True, seed=99)
    assert_same_bits(y, want_y, "forward")
    with np.errstate(over="ignore"):
        gx = relukit.rrelu_backward(g, x, lower, upper, training=True, seed=99)
    assert_same_bits(gx, want_g, "backward")
    # from y: every slope is >= lower >= 0, so y > 0 exactly where x > 0
    with np.errstate(over="ignore"):
        gy = relukit.rrelu_backward_from_output(g, y, lower, upper, training=True, seed=99)
    keep = ~np.isnan(x) & ~(np.isinf(x) & (r == 0))       # x = -inf with r = 0 gives y = NaN
    assert_same_bits(gy[keep], gx[keep], "from_output")
    # where x is a power of two, y / x recovers r exactly: the backward is g * (y / x)
    p2 = -np.ldexp(np.ones(shape, c), np.arange(n).reshape(shape) % 7 - 3)
    with np.errstate(over="ignore"):
        y2 = relukit.rrelu(p2.astype(dtype), lower, upper, training=True, seed=99)
    if dtype != F16:
        with np.errstate(over="ignore"):
            gp = (g * (y2 / p2)).astype(dtype)
        assert_same_bits(relukit.rrelu_backward(g, p2, lower, upper, training=True, seed=99),
                         gp)


@DTYPES
def test_rrelu_slopes_are_in_range_and_uniform(dtype):
    """~1e6 slopes in [lower, upper). Uniformity: the Kolmogorov-Smirnov distance to U(lower,
    upper) below 0.004 (its 1e-12 quantile for n = 2**20 is sqrt(ln(2e12) / 2**21) = 0.0037; a
    float16 x draws float32 slopes); mean and variance within 6 standard errors of (l + u)/2 and
    (u - l)**2 / 12."""
    for lower, upper, seed in ((1 / 8, 1 / 3, 3), (0.0, 1.0, 4), (0.3, 0.30001, 5)):
        n = 1 << 20
        r = _slopes((n,), dtype, seed, lower, upper).astype(np.float64)
        lo = float(np.asarray(lower, r.dtype if dtype == F64 else np.float32))
        hi = float(np.asarray(upper, r.dtype if dtype == F64 else np.float32))
        assert r.min() >= lo and r.max() < hi, (dtype, lower, upper, r.min(), r.max())
        w = hi - lo
        u = np.sort((r - lo) / w)
        ecdf_hi = np.arange(1, n + 1) / n
        ks = max(np.max(ecdf_hi - u), np.max(u - (ecdf_hi - 1 / n)))
        assert ks < 0.004, (dtype, lower, upper, ks)
        se = 1 / math.sqrt(12 * n)
        assert abs(u.mean() - 0.5) < 6 * se, u.mean()
        # var of a uniform sample mean-square: the variance's standard error is 1/sqrt(180 n)
        assert abs(u.var() - 1 / 12) < 6 / math.sqrt(180 * n), u.var()


def test_rrelu_seeds_differ_and_repeat():
    x = -np.ones(100_000)
    a = relukit.rrelu(x, training=True, seed=1)
    b = relukit.rrelu(x, training=True, seed=2)
    assert np.mean(a != b) > 0.999
    assert_same_bits(relukit.rrelu(x, training=True, seed=1), a)
    assert_same_bits(relukit.rrelu(x, training=True, seed=np.uint64(1)), a)
    # the slope depends on the element's C-order index, not on the memory layout
    m = -np.abs(make_data(64 * 50, F64, seed=8, nan=False)).reshape(64, 50)
    assert_same_bits(relukit.rrelu(m.T, training=True, seed=3),
                     relukit.rrelu(np.ascontiguousarray(m.T), training=True, seed=3))
    assert_same_bits(relukit.rrelu(m[:, ::-2], training=True, seed=3),
                     relukit.rrelu(m[:, ::-2].copy(), training=True, seed=3))


def test_rrelu_seed_is_mixed_as_seed_sequence_mixes_it():
    # the kernels' typed copy of SeedSequence's mixing (int seeds below 2**64) gives its bits:
    # the slopes for a seed are those SeedSequence(seed) keys, and a seed past 2**64 or a NumPy
    # integer (SeedSequence itself) draws what the same int does
    from relukit import _api

    rng = np.random.default_rng(5)
    seeds = [0, 1, 2, 7, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1]
    seeds += [int(s) for s in rng.integers(0, 2**63, 500)] + list(range(500))
    for seed in seeds:
        mixed = np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]
        assert _api._rrelu_key(seed) == int(mixed), seed
    x = -np.ones(1000)
    assert_same_bits(relukit.rrelu(x, training=True, seed=np.uint64(2**64 - 1)),
                     relukit.rrelu(x, training=True, seed=2**64 - 1))
    assert not np.array_equal(relukit.rrelu(x, training=True, seed=2**64),
                              relukit.rrelu(x, training=True, seed=2**64 - 1))
    with pytest.raises(ValueError):
        relukit.rrelu(x, training=True, seed=-1)


def _reference_slopes(key, first, n, dtype, lower, upper):
    """The generator as documented in _noise.pxi, in NumPy uint64 arithmetic: output p is
    SplitMix64's finaliser of key + (p + 1) * golden; float64 element i takes the top 53 bits of
    output i, float32 element i the top 24 bits of half i % 2 (low first) of output i // 2."""
    def mix64(z):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    index = np.arange(first, first + n, dtype=np.uint64)
    half = dtype == F32
    with np.errstate(over="ignore"):
        bits = mix64(np.uint64(key) + ((index >> np.uint64(half)) + np.uint64(1)) *
                     np.uint64(0x9E3779B97F4A7C15))
    if half:
        unit = ((bits >> (np.uint64(32) * (index & np.uint64(1)) + np.uint64(8))) &
                np.uint64(0xFFFFFF)).astype(F32) * np.float32(2**-24)
    else:
        unit = (bits >> np.uint64(11)).astype(F64) * 2**-53
    lo, hi = dtype.type(lower), dtype.type(upper)
    slope = lo + (hi - lo) * unit
    return np.where(slope < hi, slope, lo)


@DTYPES
def test_big_endian_arrays_give_the_native_results(dtype):
    """prelu and rrelu run kernels of their own, which read native byte order: a big-endian
    array is converted (the result is native, as a ufunc's), not read byte-swapped."""
    x = make_data(300, dtype, seed=31).reshape(3, 100)
    g = make_data(300, dtype, seed=32).reshape(3, 100)
    w = np.linspace(-0.5, 0.5, 3).astype(dtype)
    swapped = [a.astype(a.dtype.newbyteorder(">")) for a in (x, g, w)]
    calls = [
        lambda x, g, w: relukit.rrelu(x, training=True, seed=4),
        lambda x, g, w: relukit.rrelu_backward(g, x, training=True, seed=4),
        lambda x, g, w: relukit.prelu(x, w, axis=0),
        lambda x, g, w: relukit.prelu_backward(g, x, w, axis=0),
        lambda x, g, w: relukit.prelu_weight_grad(g, x, w, axis=0),
    ]
    for call in calls:
        with np.errstate(all="ignore"):
            got, want = call(*swapped), call(x, g, w)
        assert got.dtype == want.dtype and got.dtype.isnative
        assert_same_bits(got, want)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_rrelu_slopes_follow_the_documented_generator(dtype):
    """Bit for bit, from every start (a dask block may begin at an odd element, where a float32
    pair is split) and through the bit-mask backward; and neighbours uncorrelated (float32
    elements 2p and 2p + 1 share one 64-bit output): |correlation| within 6 standard errors."""
    from relukit import _api

    key = _api._rrelu_key(21)
    for first, n in ((0, 5000), (1, 4999), (7, 1), (2**40 + 3, 1030)):
        x = -np.ones(n, dtype)
        got = -_api._rrelu_train(None, x, 0.1, 0.7, 21, False, _first=first)
        assert_same_bits(got, _reference_slopes(key, first, n, dtype, 0.1, 0.7), (first, n))
    n = 1 << 20
    r = _reference_slopes(key, 0, n, dtype, 0.0, 1.0).astype(F64)
    assert_same_bits(-relukit.rrelu(-np.ones(n, dtype), 0.0, 1.0, training=True, seed=21),
                     r.astype(dtype))
    for lag in (1, 2):
        for start in (0, 1):
            a, b = r[start::2][:n // 2 - 1], r[start + lag::2][:n // 2 - 1]
            corr = np.corrcoef(a, b)[0, 1]
            assert abs(corr) < 6 / math.sqrt(a.size), (lag, start, corr)


@pytest.mark.thread_unsafe(reason="changes the process-global thread limit")
@DTYPES
def test_rrelu_same_bits_for_1_2_3_threads(dtype):
    dtype = np.dtype(dtype)
    assert threaded_at(BIG)
    x = make_data(BIG, dtype, seed=21)
    g = make_data(BIG, dtype, seed=22)
    results = {}
    for n in (1, 2, 3):
        with relukit.threads(n):
            results[n] = (relukit.rrelu(x, training=True, seed=7),
                          relukit.rrelu_backward(g, x, training=True, seed=7))
    for n in (2, 3):
        for k in range(2):
            assert_same_bits(results[n][k], results[1][k], f"{n} threads, {'fb'[k]}")
    # and against the slopes of a single-threaded small call: element i is the same wherever
    with relukit.threads(1):
        head = relukit.rrelu(x[:1000], training=True, seed=7)
    assert_same_bits(results[2][0][:1000], head)


def test_rrelu_training_needs_a_seed():
    x = np.array([-1.0, 2.0])
    for call in (lambda: relukit.rrelu(x, training=True),
                 lambda: relukit.rrelu_backward(np.ones(2), x, training=True),
                 lambda: relukit.rrelu_backward_from_output(np.ones(2), x, training=True)):
        with pytest.raises(ValueError, match="seed"):
            call()


@DTYPES
def test_rrelu_training_out(dtype):
    dtype = np.dtype(dtype)
    x = make_data(300, dtype, seed=31).reshape(3, 100)
    g = make_data(300, dtype, seed=32).reshape(3, 100)
    want = relukit.rrelu(x, training=True, seed=4)
    out = np.full_like(x, 9)
    assert relukit.rrelu(x, training=True, seed=4, out=out) is out
    assert_same_bits(out, want)
    out = np.full_like(x, 9)
    assert relukit.rrelu(x, training=True, seed=4, out=(out,)) is out
    assert_same_bits(out, want)
    work = x.copy()
    relukit.rrelu(work, training=True, seed=4, out=work)           # in place
    assert_same_bits(work, want)
    wantg = relukit.rrelu_backward(g, x, training=True, seed=4)
    gw = g.copy()
    assert relukit.rrelu_backward(gw, x, training=True, seed=4, out=gw) is gw
    assert_same_bits(gw, wantg)
    assert_same_bits(relukit.rrelu_backward_from_output(g, want, training=True, seed=4), wantg)


def test_rrelu_training_takes_no_other_ufunc_keywords():
    x = np.array([-1.0, 2.0])
    for kw in ({"where": np.array([True, False])}, {"dtype": np.float32}, {"casting": "unsafe"},
               {"order": "C"}):
        with pytest.raises(TypeError, match="keyword"):
            relukit.rrelu(x, training=True, seed=1, **kw)
        with pytest.raises(TypeError, match="keyword"):
            relukit.rrelu_backward(np.ones(2), x, training=True, seed=1, **kw)
    # out of training they are NumPy's
    out = np.zeros(2)
    assert_same_bits(relukit.rrelu(x, where=np.array([True, False]), out=out, dtype=np.float64),
                     np.array([relukit.rrelu(x)[0], 0.0]))


@pytest.mark.parametrize("training", [False, True])
def test_rrelu_rejects_bad_bounds_and_writes_nothing(training):
    x = np.array([-1.0, 2.0])
    g = np.ones(2)
    for lower, upper, match in ((0.5, 0.25, "lower <= upper"), (-0.1, 0.3, "lower >= 0"),
                                (np.nan, 0.3, "lower"), (0.1, np.nan, "upper"),
                                (0.1, np.inf, "finite upper"), (np.inf, np.inf, "finite upper")):
        for call in (lambda out: relukit.rrelu(x, lower, upper, training, 1, out=out),
                     lambda out: relukit.rrelu_backward(g, x, lower, upper, training, 1, out=out),
                     lambda out: relukit.rrelu_backward_from_output(g, x, lower, upper, training,
                                                                    1, out=out)):
            out = np.full(2, 9.0)
            with pytest.raises(ValueError, match=match):
                call(out)
            assert (out == 9.0).all()


def test_rrelu_training_float16_overflow_is_silent_inf():
    """float16 in training is computed in float32 and rounded: a product beyond 65504 is -inf
    without a warning, as out of training (leaky_relu's kernel) and as every elementwise kernel."""
    x = np.array([-60000.0, -1.0], np.float16)
    g = np.array([60000.0, 1.0], np.float16)
    assert relukit.rrelu(x, 2.0, 3.0)[0] == -np.inf                  # eval: silent
    y = relukit.rrelu(x, 2.0, 3.0, training=True, seed=1)           # warnings are errors here
    assert y[0] == -np.inf
    gx = relukit.rrelu_backward(g, x, 2.0, 3.0, training=True, seed=1)
    assert gx[0] == np.inf


def test_rrelu_training_float16_is_float32_rounded_from_every_start():
    """float16 is converted a block at a time (F16C where the level has it) and takes float32's
    slopes: float32's result rounded once, bit for bit, across blocks and from odd starts (a dask
    block may begin there)."""
    from relukit import _api

    for first, n in ((0, 1500), (1, 1499), (2**40 + 3, 1030)):
        x, g = make_data(n, F16, seed=first % 97), make_data(n, F16, seed=first % 89 + 1)
        for backward in (False, True):
            with np.errstate(over="ignore"):
                got = _api._rrelu_train(g if backward else None, x, 0.1, 3.0, 21, backward,
                                        _first=first)
                want = _api._rrelu_train(g.astype(F32) if backward else None, x.astype(F32), 0.1,
                                         3.0, 21, backward, _first=first).astype(F16)
            assert got.dtype == F16
            assert_same_bits(got, want, (first, n, backward))


@DTYPES
def test_rrelu_training_shapes(dtype):
    dtype = np.dtype(dtype)
    y = relukit.rrelu(np.zeros((0, 3), dtype), training=True, seed=1)
    assert y.shape == (0, 3) and y.dtype == dtype
    y = relukit.rrelu(dtype.type(-2.0), training=True, seed=1)
    assert np.ndim(y) == 0 and -2 / 3 - 1e-3 <= float(y) <= -0.25 + 1e-3
    y = relukit.rrelu(np.array([[-2.0, np.nan, np.inf, -np.inf, 0.0, -0.0]], dtype),
                      training=True, seed=1)
    assert y.dtype == dtype and np.isnan(y[0, 1]) and y[0, 2] == np.inf and y[0, 3] == -np.inf


# ---- every SIMD level ----------------------------------------------------------------------------
LEVEL_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np
import relukit
import test_prelu_rrelu as t
print(json.dumps({{"level": relukit.config()["simd_level"], "digests": t.level_digests()}}))
"""


def level_digests():
    """Digests of prelu_weight_grad in every layout and of rrelu in training (forward and
    backward), for each dtype: what every SIMD level must reproduce."""
    from _reference import digest

    out = {}
    for dt in FLOAT_DTYPES:
        dt = np.dtype(dt)
        # the big layouts (threads too) once, in float32; the small ones in every dtype
        for layout, (shape, axis) in WG_BIG.items() if dt == F32 else ():
            g, x = _wg_big_operands(shape, dt, seed=len(layout))
            w = np.full(shape[axis], 0.1, dt)
            out[f"{dt}-wg-{layout}"] = digest(relukit.prelu_weight_grad(g, x, w, axis=axis))
        for layout, (shape, axis, size1) in WG_LAYOUTS.items():
            n = int(np.prod(shape))
            g, x = make_data(n, dt, seed=1).reshape(shape), make_data(n, dt, seed=2).reshape(shape)
            w = np.array([0.5], dt) if size1 else np.full(shape[axis], 0.1, dt)
            with np.errstate(all="ignore"):
                out[f"{dt}-wg-{layout}"] = digest(relukit.prelu_weight_grad(g, x, w, axis=axis))
        for n in (1, 7, 1001, 4099) + ((BIG,) if dt == F32 else ()):
            x, g = make_data(n, dt, seed=n), make_data(n, dt, seed=n + 1)
            out[f"{dt}-rrelu-{n}"] = digest(relukit.rrelu(x, training=True, seed=n))
            out[f"{dt}-rrelu_backward-{n}"] = digest(
                relukit.rrelu_backward(g, x, 0.0, 0.7, training=True, seed=n))
    return out


@pytest.fixture(scope="module")
def this_process_level_digests():
    return level_digests()


@pytest.mark.parametrize("level", LEVELS)
def test_prelu_rrelu_same_bits_at_every_simd_level(level, this_process_level_digests):
    if level not in relukit.config()["simd_available"]:
        pytest.skip(f"{level} is not available on this CPU/build")
    env = {k: v for k, v in os.environ.items() if k not in ("RELUKIT_CPU_LEVEL", "OMP_NUM_THREADS")}
    env["RELUKIT_CPU_LEVEL"] = level
    script = textwrap.dedent(LEVEL_SCRIPT.format(tests=TESTS_DIR))
    r = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True,
                       text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["level"] == level
    assert report["digests"].keys() == this_process_level_digests.keys()
    wrong = sorted(k for k, v in report["digests"].items() if v != this_process_level_digests[k])
    assert not wrong, f"level {level} differs in {wrong}"
