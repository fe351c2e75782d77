"""Errors are clear and raised before anything is written; inputs never change; no spurious
floating-point warnings from the kernels."""

import warnings

import numpy as np
import pytest

import relukit
from _support import (
    BIG,
    FUNCTION_NAMES,
    assert_same_bits,
    assert_unchanged,
    call,
    has_slope,
    make_data,
    operands,
    reference,
    snapshot,
)

# ---- unsupported input types ---------------------------------------------------------------------
BAD_INPUTS = {
    "complex": np.array([1 + 2j, -1j]),
    "complex64": np.array([1 + 2j, -1j], np.complex64),
    "object": np.array([1.0, -2.0], dtype=object),
    "string": np.array(["a", "b"]),
    "bytes": np.array([b"a", b"b"]),
    "str scalar": "1.0",
    "complex scalar": 1j,
    "datetime": np.array(["2020-01-01"], dtype="datetime64[D]"),
}


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=str)
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_unsupported_dtypes_raise_type_error(name, bad):
    value = BAD_INPUTS[bad]
    good = np.array([1.0, -2.0])
    nin = 1 if name in ("relu", "leaky_relu") else 2
    positions = range(nin)
    for pos in positions:
        data = [good.copy() for _ in range(nin)]
        data[pos] = value
        out = np.full(2, 9.0)
        with pytest.raises(TypeError):
            call(name, data, 0.1 if has_slope(name) else None, out=out)
        assert (out == 9.0).all(), "an error call wrote its output"


@pytest.mark.parametrize("name", [n for n in FUNCTION_NAMES if has_slope(n)])
def test_unsupported_slope_types(name):
    data = operands(name, 4, np.float64)
    for bad in (1j, np.array([1j] * 4), "0.1", np.array([0.1] * 4, dtype=object)):
        with pytest.raises(TypeError):
            call(name, data, bad)


def test_huge_python_int_behaves_like_numpy():
    """2**70 does not fit any integer dtype: NumPy's own float ufuncs give TypeError (object
    array); relukit must do the same and never crash or return something silently wrong."""
    with pytest.raises((TypeError, OverflowError)):
        np.sqrt(2**70)
    with pytest.raises((TypeError, OverflowError)):
        relukit.relu(2**70)
    for f in (relukit.relu, relukit.leaky_relu):
        with pytest.raises((TypeError, OverflowError)):
            f([2**70, 1])
        with pytest.raises((TypeError, OverflowError)):
            f(np.array(2**70))
    # two Python scalars (x and a float slope) are both weak: float64, as np.copysign(2**70, 0.01)
    # is; the value must then be right, not wrapped or truncated
    assert np.copysign(2**70, 0.01) == 2.0**70
    r = relukit.leaky_relu(2**70)
    assert type(r) is np.float64 and r == 2.0**70
    r = relukit.leaky_relu(-(2**70), 0.5)
    assert type(r) is np.float64 and r == -(2.0**69)
    r = relukit.relu_backward(2**70, 2**70)  # as np.copysign(2**70, 2**70)
    assert type(r) is np.float64 and r == 2.0**70
    r = relukit.relu_backward(2**70, -(2**70))
    assert type(r) is np.float64 and r == 0
    # next to a float array a Python int is a weak scalar converted to the array's dtype, as in
    # np.multiply(float32_array, 2**70): the result is exact, not an error
    x = np.array([-1.0, 2.0], np.float32)
    assert_same_bits(relukit.relu_backward(x, 2**70), x)
    assert_same_bits(relukit.leaky_relu(x, 2**70), np.where(x > 0, x, x * np.float32(2.0**70)))


# ---- out= errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_read_only_out(name, dtype):
    data = operands(name, 50, dtype, seed=1)
    out = make_data(50, dtype, seed=2)
    before = out.copy()
    out.flags.writeable = False
    with pytest.raises(ValueError):
        call(name, data, 0.1, out=out)
    assert_same_bits(out, before)


def test_read_only_input_in_place_refused(dtype):
    x = make_data(50, dtype)
    before = x.copy()
    x.flags.writeable = False
    with pytest.raises(ValueError):
        relukit.relu(x, out=x)
    with pytest.raises(ValueError):
        relukit.leaky_relu(x, out=x)
    assert_same_bits(x, before)
    # read-only inputs are fine when not written
    assert_same_bits(relukit.relu(x), reference("relu", [x]))


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_shape_mismatch(name, dtype):
    data = operands(name, 10, dtype)
    for shape in [(9,), (10, 2), (0,), (2, 9)]:
        out = np.full(shape, 3, dtype)
        with pytest.raises(ValueError):
            call(name, data, 0.1, out=out)
        assert (out == 3).all()
    if len(data) == 2:
        with pytest.raises(ValueError):
            call(name, [data[0], data[1][:7]], 0.1)
    if has_slope(name):
        with pytest.raises(ValueError):
            call(name, data, np.full(7, 0.1, dtype))
        # a (C, 1) slope that does not match the channel axis
        x3 = np.ones((2, 3, 5), dtype)
        with pytest.raises(ValueError):
            call(name, [x3] * len(data), np.full((4, 1), 0.1, dtype))


def test_wrong_number_of_arguments():
    with pytest.raises(TypeError):
        relukit.relu()
    with pytest.raises(TypeError):
        relukit.relu_backward(np.ones(2))
    with pytest.raises(TypeError):
        relukit.leaky_relu_backward(np.ones(2))
    with pytest.raises(TypeError):
        relukit.relu(np.ones(2), bogus_keyword=1)
    with pytest.raises(TypeError):
        relukit.leaky_relu(np.ones(2), 0.1, bogus_keyword=1)


def test_out_of_wrong_kind():
    x = np.ones(4)
    with pytest.raises(TypeError):
        relukit.relu(x, out=np.zeros(4, np.int64))
    with pytest.raises(TypeError):
        relukit.relu(x, out=[0.0] * 4)


# ---- from_output refuses a slope that is not positive -----------------------------------------------
@pytest.mark.parametrize("slope", [
    0.0, -0.0, np.float32(0), np.array([0.1, 0.0, 0.2]),
    -0.01, -1, -1e-300, np.float32(-0.5), np.float16(-0.25), np.array(-0.1), float("nan"),
    np.float64("nan"), -np.inf,
    np.array([0.1, 0.2, -0.3]), np.array([[0.1], [-0.2], [0.3]]), [0.1, -0.1, 0.2],
    np.array([0.1, np.nan, 0.3]),
], ids=repr)
def test_backward_from_output_refuses_slope_not_positive(slope, dtype):
    g = make_data(3, dtype, seed=1)
    y = np.array([-0.5, 0.0, 2.0], dtype)
    before = snapshot(g, y)
    with pytest.raises(ValueError, match="negative_slope") as info:
        relukit.leaky_relu_backward_from_output(g, y, slope, out=g)
    msg = str(info.value)
    assert "> 0" in msg and "leaky_relu_backward" in msg
    assert_unchanged(before, [g, y])
    with pytest.raises(ValueError, match="negative_slope"):
        relukit.leaky_relu_backward_from_output(g, y, negative_slope=slope)
    assert_unchanged(before, [g, y])


@pytest.mark.parametrize("slope", [0.5, 1e-30, 2, np.float32(0.25), np.full(3, 0.01),
                                   np.array([1e-3, 0.5, 3.0])], ids=repr)
def test_backward_from_output_accepts_positive_slope(slope, dtype):
    g = make_data(3, dtype, seed=1)
    y = np.array([-0.5, 0.0, 2.0], dtype)
    r = relukit.leaky_relu_backward_from_output(g, y, slope)
    # a float64 slope array promotes float16/float32 data to float64, as NumPy ufuncs do
    assert r.dtype == np.result_type(g, slope)
    assert_same_bits(r, reference("leaky_relu_backward_from_output",
                                  [g.astype(r.dtype), y.astype(r.dtype)], slope))
    assert r[2] == g[2]


def test_negative_slope_fine_for_forward_and_backward_from_input():
    x = np.array([-2.0, 3.0])
    assert_same_bits(relukit.leaky_relu(x, -0.5), np.array([1.0, 3.0]))
    assert_same_bits(relukit.leaky_relu_backward(np.ones(2), x, -0.5), np.array([-0.5, 1.0]))


@pytest.mark.thread_unsafe(reason="changes the process-global thread limit")
def test_set_num_threads_rejects_zero_and_negative():
    for n in (0, -1, -100):
        with pytest.raises(ValueError):
            relukit.set_num_threads(n)
    assert relukit.config()["thread_limit"] is None
    with pytest.raises(ValueError):
        with relukit.threads(0):
            pass
    assert relukit.config()["thread_limit"] is None
    with pytest.raises((TypeError, ValueError)):
        relukit.set_num_threads("two")


# ---- inputs unchanged ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_inputs_never_modified(name, dtype):
    for n in (1, 100, 8193):
        data = operands(name, n, dtype, seed=n)
        slope = np.abs(make_data(n, dtype, seed=n + 9)) if has_slope(name) else None
        if slope is not None:
            slope[np.isnan(slope) | (slope == 0)] = 0.5
        before = snapshot(*data, *([] if slope is None else [slope]))
        keep = [*data, *([] if slope is None else [slope])]
        call(name, data, slope)
        call(name, [a[::-1] for a in data], None if slope is None else slope[::-1])
        call(name, data, slope, out=np.empty(n, dtype))
        call(name, data, slope, dtype=np.float64)
        if has_slope(name):
            call(name, data, 0.1)
        assert_unchanged(before, keep)


# ---- no spurious floating-point warnings ----------------------------------------------------------
def _special_heavy(n, dtype, seed):
    x = make_data(n, dtype, seed=seed, special_fraction=0.6)
    x[::17] = np.nan
    return x


@pytest.mark.thread_unsafe(reason="changes the warnings filters (process-wide before Python 3.14)")
@pytest.mark.parametrize("n", [1, 5, 64, 1001, BIG])
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_no_runtime_warning_for_special_inputs(name, dtype, n):
    data = [_special_heavy(n, dtype, seed=k) for k in range(1 if name in ("relu", "leaky_relu")
                                                            else 2)]
    slopes = [0.1, 3.0] if has_slope(name) else [None]
    if has_slope(name) and not name.endswith("from_output"):
        slopes += [0.0, -2.0]
        slopes.append(np.where(np.arange(n) % 3 == 0, np.inf, 0.5).astype(dtype))
    for threads in (1, 2):
        with relukit.threads(threads):
            for slope in slopes:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    with np.errstate(all="raise"):
                        got = call(name, data, slope)
                        out = data[0].copy()
                        call(name, data, slope, out=out)
                        if n >= 8:
                            call(name, [a[::-3] for a in data],
                                 slope if np.ndim(slope) == 0 else slope[::-3])
                assert_same_bits(got, reference(name, data, slope))
                assert_same_bits(out, got)


def test_subnormals_not_flushed(dtype):
    """The library must not turn on flush-to-zero / denormals-are-zero for the process."""
    sub = np.finfo(dtype).smallest_subnormal
    x = np.full(1000, sub, dtype)
    assert (relukit.relu(x) == sub).all()
    assert (relukit.leaky_relu(-x, 1.0) == -sub).all()
    assert (relukit.relu_backward(x, x) == sub).all()
    # and NumPy itself still sees subnormals after the kernels ran
    assert np.float64(5e-324) / 2 == 0 and np.float64(1e-310) * 1 != 0


# ---- softplus from its output: the threshold the output dtype needs ------------------------------
@pytest.mark.parametrize("dtype, least", [(np.float16, 8.318), (np.float32, 17.329), (np.float64, 37.43)])
def test_softplus_from_output_needs_a_threshold_for_its_dtype(dtype, least):
    """Below threshold = (p + 1) ln 2 outputs just above the threshold come from both of its sides,
    with gradients that differ by 1 - sigmoid(threshold): refused, whatever form the operands
    take (arrays, lists, an array threshold, dtype=); from there on, the two sides round alike."""
    g = np.ones(3, dtype)
    y = np.array([0.5, 20.0, 45.0], dtype)
    below, at = least - 0.01, least
    for call in (lambda t: relukit.softplus_backward_from_output(g, y, threshold=t),
                 lambda t: relukit.softplus_backward_from_output(g, y, 1.0, np.full(3, t, dtype)),
                 lambda t: relukit.softplus_backward_from_output(g.tolist(), y.tolist(), 1.0, t,
                                                                 dtype=dtype)):
        with pytest.raises(ValueError, match=f"threshold >= {least}"):
            call(below)
        call(at)
    # lists are float64 arrays to NumPy: the float64 bound applies
    with pytest.raises(ValueError, match="threshold >= 37.43"):
        relukit.softplus_backward_from_output([1.0], [2.0], 1.0, 20.0)
    assert relukit.softplus_backward_from_output([1.0], [2.0], 1.0, np.inf).dtype == np.float64
