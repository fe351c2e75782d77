"""hypothesis properties over arrays of every float dtype, 0-3 dimensions, with NaN, inf and
subnormals (deterministic `ci` profile from conftest.py)."""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import relukit  # noqa: E402
from _support import (  # noqa: E402
    UINT_OF,
    assert_same_bits,
    ref_leaky_relu,
    ref_leaky_relu_backward,
    ref_relu_backward,
)

WIDTH = {np.float16: 16, np.float32: 32, np.float64: 64}
dtypes = st.sampled_from([np.float16, np.float32, np.float64])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)


def elements(dtype):
    """Any float of the dtype, with the special values made frequent."""
    fi = np.finfo(dtype)
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, float(fi.smallest_subnormal),
                -float(fi.smallest_subnormal), float(fi.smallest_normal), float(fi.max),
                -float(fi.max)]
    return st.one_of(
        st.floats(width=WIDTH[dtype], allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from(specials),
    )


@st.composite
def arrays(draw, n=1, same_shape=False):
    dtype = draw(dtypes)
    if same_shape or n == 1:
        shape = draw(shapes)
        operand_shapes = [shape] * n
    else:
        # operands of different shapes that broadcast together
        operand_shapes = draw(hnp.mutually_broadcastable_shapes(
            num_shapes=n, min_dims=0, max_dims=3, min_side=0, max_side=9)).input_shapes
    return [draw(hnp.arrays(dtype, s, elements=elements(dtype))) for s in operand_shapes]


def slopes(dtype):
    return st.one_of(
        st.sampled_from([0.01, 0.0, -0.0, 0.2, 1.0, 5.5, -0.5]),
        st.floats(-10, 10, width=WIDTH[dtype], allow_subnormal=True),
    )


def bits(a):
    a = np.asarray(a)
    return np.ascontiguousarray(a).view(UINT_OF[a.dtype])


@given(arrays(1))
def test_relu_is_np_maximum_bitwise(arrs):
    (x,) = arrs
    got = relukit.relu(x)
    assert got.dtype == x.dtype and got.shape == x.shape
    nan = np.isnan(x)
    assert np.array_equal(np.isnan(got), nan)
    # float16 is float32 maths rounded once (NumPy's float16 maximum keeps -0.0)
    compute = np.float32 if x.dtype == np.float16 else x.dtype
    expected = np.maximum(x.astype(compute), 0).astype(x.dtype)
    assert np.array_equal(bits(got)[~nan], bits(expected)[~nan])
    assert not np.signbit(got[~nan]).any()


@given(arrays(2))
def test_relu_backward_is_a_select(arrs):
    g, x = arrs
    got = relukit.relu_backward(g, x)
    gb, xb = np.broadcast_arrays(g, x)
    expected = np.where(xb > 0, gb, x.dtype.type(0))
    nan = np.isnan(xb)
    assert np.array_equal(bits(got)[~nan], bits(np.asarray(expected))[~nan])
    assert np.isnan(got[nan]).all()
    assert_same_bits(relukit.relu_backward_from_output(g, x), got)
    assert_same_bits(relukit.relu_backward_from_output(g, relukit.relu(x)), got)
    assert_same_bits(got, ref_relu_backward(gb, xb))


@given(st.data())
def test_leaky_relu_matches_numpy(data):
    (x,) = data.draw(arrays(1))
    s = data.draw(slopes(x.dtype.type))
    got = relukit.leaky_relu(x, s)
    assert got.dtype == x.dtype and got.shape == x.shape
    assert_same_bits(got, ref_leaky_relu(x, s))
    if x.dtype != np.float16:
        sd = x.dtype.type(s)
        with np.errstate(all="ignore"):
            assert_same_bits(got, np.asarray(np.where(x > 0, x, x * sd), dtype=x.dtype))


@given(st.data())
def test_leaky_relu_backward_matches_numpy(data):
    g, x = data.draw(arrays(2))
    s = data.draw(slopes(x.dtype.type))
    got = relukit.leaky_relu_backward(g, x, s)
    gb, xb = np.broadcast_arrays(g, x)
    assert_same_bits(got, ref_leaky_relu_backward(gb, xb, s))
    if s > 0:
        assert_same_bits(relukit.leaky_relu_backward_from_output(g, x, s), got)


@given(st.data())
def test_per_element_slope(data):
    x, s = data.draw(arrays(2))
    s = np.where(np.isnan(s), x.dtype.type(0.5), s)
    got = relukit.leaky_relu(x, s)
    xb, sb = np.broadcast_arrays(x, s)
    assert_same_bits(got, ref_leaky_relu(xb, sb))


@given(arrays(2, same_shape=True), st.sampled_from(["relu", "relu_backward", "leaky_relu",
                                                    "leaky_relu_backward"]))
def test_in_place_equals_out_of_place(arrs, name):
    g, x = arrs
    f = getattr(relukit, name)
    args = (x,) if name in ("relu", "leaky_relu") else (g, x)
    if name.startswith("leaky"):
        args = (*args, 0.3)
    expected = f(*args)
    target = args[0].copy()
    work = (target, *args[1:])
    r = f(*work, out=target)
    assert r is target
    assert_same_bits(target, expected)


@given(arrays(1), st.integers(1, 3), st.booleans())
def test_strided_views_equal_contiguous(arrs, step, reverse):
    (x,) = arrs
    if x.ndim == 0:
        return
    view = x[::-step] if reverse else x[::step]
    assert_same_bits(relukit.relu(view), relukit.relu(view.copy()))
    assert_same_bits(relukit.leaky_relu(view, 0.2), relukit.leaky_relu(view.copy(), 0.2))
