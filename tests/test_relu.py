"""relu, relu_backward, relu_backward_from_output: values, special values, layouts and out=."""

import ctypes
import mmap
import sys

import numpy as np
import pytest

import relukit
from _support import (
    FLOAT_DTYPES,
    SIZES,
    UINT_OF,
    assert_same_bits,
    assert_unchanged,
    check_nan_every_position,
    check_offsets,
    check_reference,
    make_data,
    operands,
    ref_relu,
    ref_relu_backward,
    snapshot,
    special_values,
)

RELU_NAMES = ("relu", "relu_backward", "relu_backward_from_output")


def bits(a):
    a = np.asarray(a)
    return np.ascontiguousarray(a).view(UINT_OF[a.dtype])


# ---- reference comparisons -----------------------------------------------------------------------
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", RELU_NAMES)
def test_reference_bitwise(name, dtype, n):
    data = operands(name, n, dtype, seed=n)
    got = check_reference(name, data)
    assert got.dtype == dtype and got.shape == (n,)


@pytest.mark.parametrize("n", [1, 17, 1000])
def test_relu_equals_np_maximum_on_all_specials(dtype, n):
    # NumPy's own float16 maximum keeps -0.0 (np.maximum(float16(-0.0), 0) is -0.0, unlike its
    # float32/float64 loops); relukit's float16 is float32 maths rounded once, so +0.0.
    x = np.resize(special_values(dtype), n)
    got = relukit.relu(x)
    nonnan = ~np.isnan(x)
    compute = np.float32 if dtype == np.float16 else dtype
    expected = np.maximum(x[nonnan].astype(compute), 0).astype(dtype)
    assert np.array_equal(bits(got[nonnan]), bits(expected))
    assert np.isnan(got[~nonnan]).all()


def test_relu_special_values(dtype):
    t = dtype.type
    sub = np.finfo(dtype).smallest_subnormal
    x = np.array([-0.0, 0.0, -np.inf, np.inf, np.nan, sub, -sub, -1, 1], dtype)
    got = relukit.relu(x)
    expected = np.array([0.0, 0.0, 0.0, np.inf, np.nan, sub, 0.0, 0, 1], dtype)
    assert_same_bits(got, expected)
    # relu(-0.0) is +0.0, not -0.0
    assert int(bits(relukit.relu(np.array([-0.0], dtype)))[0]) == 0
    assert np.signbit(relukit.relu(t(-0.0))) == False  # noqa: E712


def test_relu_backward_is_a_select(dtype):
    """x <= 0 gives exactly +0.0 whatever g holds (NaN, inf, -0.0); x > 0 passes g through
    bitwise; NaN in x gives NaN; the derivative at 0 (either sign) is 0."""
    sub = np.finfo(dtype).smallest_subnormal
    g = np.array([np.nan, np.inf, -np.inf, -0.0, 5, np.nan, -0.0, 3, 2, np.nan, 4], dtype)
    x = np.array([-1, 0.0, -0.0, -np.inf, -sub, 2, 3, sub, np.nan, np.nan, np.inf], dtype)
    expected = np.array([0, 0, 0, 0, 0, np.nan, -0.0, 3, np.nan, np.nan, 4], dtype)
    for f in (relukit.relu_backward, relukit.relu_backward_from_output):
        assert_same_bits(f(g, x), expected, f.__name__)
        zero_bits = bits(f(g, x))[:5]
        assert (zero_bits == 0).all(), "a dead unit must give +0.0"


@pytest.mark.parametrize("n", [7, 64, 1001])
def test_backward_from_output_equals_backward_from_input(dtype, n):
    x = make_data(n, dtype, seed=3)
    g = make_data(n, dtype, seed=4)
    y = relukit.relu(x)
    assert_same_bits(relukit.relu_backward_from_output(g, y), relukit.relu_backward(g, x))


def test_forward_in_place_then_backward_from_output(dtype):
    x = make_data(500, dtype, seed=8)
    g = make_data(500, dtype, seed=9)
    expected_grad = ref_relu_backward(g, x)
    expected_y = ref_relu(x)
    y = relukit.relu(x, out=x)
    assert y is x
    assert_same_bits(x, expected_y)
    assert_same_bits(relukit.relu_backward_from_output(g, y), expected_grad)


# ---- NaN at every position, lengths 1..139 -------------------------------------------------------
@pytest.mark.parametrize("name,nan_in", [
    ("relu", "x"),
    ("relu_backward", "x"),
    ("relu_backward", "g"),
    ("relu_backward_from_output", "x"),
    ("relu_backward_from_output", "g"),
])
def test_nan_at_every_position(name, nan_in, dtype):
    check_nan_every_position(name, dtype, nan_in, None)


# ---- position and alignment ----------------------------------------------------------------------
@pytest.mark.parametrize("name", RELU_NAMES)
def test_results_independent_of_offset(name, dtype):
    check_offsets(name, dtype)


# ---- out= ----------------------------------------------------------------------------------------
def test_relu_in_place(dtype):
    x = make_data(1001, dtype, seed=1)
    expected = ref_relu(x)
    r = relukit.relu(x, out=x)
    assert r is x
    assert_same_bits(x, expected)


@pytest.mark.parametrize("f", [relukit.relu_backward, relukit.relu_backward_from_output],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("into", ["g", "x"])
def test_backward_in_place(f, into, dtype):
    g = make_data(1001, dtype, seed=1)
    x = make_data(1001, dtype, seed=2)
    expected = ref_relu_backward(g, x)
    target, other = (g, x) if into == "g" else (x, g)
    before = snapshot(other)
    r = f(g, x, out=target)
    assert r is target
    assert_same_bits(target, expected)
    assert_unchanged(before, [other])


@pytest.mark.parametrize("shift", [1, -1, 3, -5])
def test_overlapping_out_equals_copy(dtype, shift):
    a = make_data(400, dtype, seed=11)
    src, dst = (slice(0, 400 - shift), slice(shift, 400)) if shift > 0 else \
        (slice(-shift, 400), slice(0, 400 + shift))
    expected = ref_relu(a[src].copy())
    relukit.relu(a[src], out=a[dst])
    assert_same_bits(a[dst], expected)

    g = make_data(400, dtype, seed=12)
    x = make_data(400 - abs(shift), dtype, seed=13)
    expected = ref_relu_backward(g[src].copy(), x)
    relukit.relu_backward(g[src], x, out=g[dst])
    assert_same_bits(g[dst], expected)


def test_overlapping_strided_out_equals_copy(dtype):
    a = make_data(301, dtype, seed=14)
    expected = ref_relu(a[::2].copy())
    relukit.relu(a[::2], out=a[:151])
    assert_same_bits(a[:151], expected)
    b = make_data(300, dtype, seed=15)
    expected = ref_relu(b[::-1].copy())
    relukit.relu(b[::-1], out=b)
    assert_same_bits(b, expected)


def test_where_mask_keeps_untouched_elements(dtype):
    rng = np.random.default_rng(0)
    x = make_data(777, dtype, seed=16)
    g = make_data(777, dtype, seed=17)
    mask = rng.random(777) < 0.5
    sentinel = dtype.type(-123.5)
    for name, args, ref in [("relu", (x,), ref_relu(x)),
                            ("relu_backward", (g, x), ref_relu_backward(g, x)),
                            ("relu_backward_from_output", (g, x), ref_relu_backward(g, x))]:
        out = np.full(777, sentinel, dtype)
        getattr(relukit, name)(*args, out=out, where=mask)
        assert_same_bits(out[mask], ref[mask], name)
        assert (out[~mask] == sentinel).all(), f"{name} wrote where=False elements"
    # in place with where=: unmasked elements keep their input value
    y = x.copy()
    relukit.relu(y, out=y, where=mask)
    assert_same_bits(y[mask], ref_relu(x)[mask])
    assert_same_bits(y[~mask], x[~mask])


def test_where_broadcast_scalar_false_writes_nothing(dtype):
    x = make_data(50, dtype)
    out = np.full(50, 9, dtype)
    relukit.relu(x, out=out, where=False)
    assert (out == 9).all()


def test_dtype_argument():
    x32 = make_data(1000, np.float32, seed=2)
    r = relukit.relu(x32, dtype=np.float64)
    assert r.dtype == np.float64
    assert_same_bits(r, ref_relu(x32.astype(np.float64)))
    with np.errstate(over="ignore"):  # NumPy's own float32 -> float16 cast of huge values
        r = relukit.relu(x32, dtype=np.float16)
        expected = ref_relu(x32.astype(np.float16))
    assert r.dtype == np.float16
    assert_same_bits(r, expected)
    x64 = make_data(1000, np.float64, seed=3)
    with np.errstate(over="ignore"):
        expected = ref_relu(x64.astype(np.float32))
        r = relukit.relu(x64, dtype=np.float32)
    assert r.dtype == np.float32
    assert_same_bits(r, expected)
    g32 = make_data(1000, np.float32, seed=4)
    r = relukit.relu_backward(g32, x32, dtype=np.float64)
    assert r.dtype == np.float64
    assert_same_bits(r, ref_relu_backward(g32.astype(np.float64), x32.astype(np.float64)))


def test_out_of_wider_dtype():
    x = make_data(1000, np.float32, seed=5)
    out = np.empty(1000, np.float64)
    relukit.relu(x, out=out)
    assert_same_bits(out, ref_relu(x).astype(np.float64))


def test_casting_argument():
    xi = np.arange(-5, 5, dtype=np.int64)
    with pytest.raises(TypeError):
        relukit.relu(xi, casting="no")
    with pytest.raises(TypeError):
        relukit.relu_backward(xi, xi, casting="no")
    x32 = make_data(100, np.float32)
    assert_same_bits(relukit.relu(x32, casting="no"), ref_relu(x32))
    out16 = np.zeros(100, np.float16)
    with pytest.raises(TypeError):
        relukit.relu(x32, out=out16, casting="safe")
    assert (out16 == 0).all()
    with np.errstate(over="ignore"):
        relukit.relu(x32, out=out16, casting="same_kind")
        assert_same_bits(out16, ref_relu(x32).astype(np.float16))
    assert_same_bits(relukit.relu(xi, casting="unsafe", dtype=np.float32),
                     np.maximum(xi, 0).astype(np.float32))


@pytest.mark.parametrize("step", [-1, 2, 3, -2, -3])
def test_strided(dtype, step):
    x = make_data(3 * 400, dtype, seed=abs(step))
    g = make_data(3 * 400, dtype, seed=abs(step) + 50)
    xs, gs = x[::step], g[::-step]
    assert_same_bits(relukit.relu(xs), ref_relu(xs.copy()))
    assert_same_bits(relukit.relu_backward(gs, xs), ref_relu_backward(gs.copy(), xs.copy()))
    assert_same_bits(relukit.relu_backward_from_output(gs, xs),
                     ref_relu_backward(gs.copy(), xs.copy()))
    # strided output
    buf = np.full(3 * len(xs), 5, dtype)
    out = buf[::3] if step > 0 else buf[::-3]
    relukit.relu(xs, out=out)
    assert_same_bits(out, ref_relu(xs.copy()))
    untouched = np.ones(len(buf), bool)
    untouched[np.arange(len(buf))[::3] if step > 0 else np.arange(len(buf))[::-3]] = False
    assert (buf[untouched] == 5).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through libc: Linux")
def test_strided_reads_stop_at_the_last_element(dtype):
    """Every other element is gathered as whole vectors and shuffled, and float16 is converted a
    block at a time: neither may read past the last element. The views here end at the last
    element of a page followed by a page that faults on any access, at every length a block's
    vector loop and its tail can take."""
    page = mmap.PAGESIZE
    m = mmap.mmap(-1, 2 * page)
    libc = ctypes.CDLL(None, use_errno=True)
    start = ctypes.addressof(ctypes.c_char.from_buffer(m))
    assert libc.mprotect(ctypes.c_void_p(start + page), ctypes.c_size_t(page), 0) == 0
    try:
        buf = np.frombuffer(m, dtype, count=page // dtype.itemsize)
        buf[:] = make_data(buf.size, dtype, seed=18)
        for n in range(1, buf.size // 2 + 1):
            x = buf[buf.size - (2 * n - 1):][::2]           # its last element is the page's last
            assert_same_bits(relukit.relu(x), ref_relu(x.copy()), n)
            assert_same_bits(relukit.relu_backward(x, x), ref_relu_backward(x.copy(), x.copy()), n)
        for n in range(1, 100):
            x = buf[buf.size - n:]
            assert_same_bits(relukit.relu(x), ref_relu(x.copy()), n)
            assert_same_bits(relukit.relu_backward(x, x), ref_relu_backward(x.copy(), x.copy()), n)
    finally:   # the mapping goes with its last view
        libc.mprotect(ctypes.c_void_p(start + page), ctypes.c_size_t(page), 3)  # read | write


@pytest.mark.parametrize("order", ["C", "F"])
def test_two_dimensional_layouts(dtype, order):
    x = np.asarray(make_data(37 * 53, dtype, seed=21).reshape(37, 53), order=order)
    g = np.asarray(make_data(37 * 53, dtype, seed=22).reshape(37, 53), order=order)
    r = relukit.relu(x)
    assert_same_bits(r, ref_relu(x))
    assert r.flags[order + "_CONTIGUOUS"]
    assert_same_bits(relukit.relu_backward(g, x), ref_relu_backward(g, x))
    # mixed orders, non-contiguous slices, transposes
    xt = np.ascontiguousarray(x).T
    assert_same_bits(relukit.relu_backward(g, xt.T), ref_relu_backward(g, x))
    assert_same_bits(relukit.relu(x[::2, 1::3]), ref_relu(x[::2, 1::3]))
    assert_same_bits(relukit.relu(x[:, 5]), ref_relu(x[:, 5]))
    out = np.empty((37, 53), dtype, order="F" if order == "C" else "C")
    relukit.relu(x, out=out)
    assert_same_bits(out, ref_relu(x))
    assert relukit.relu(x, order="F").flags.f_contiguous
    assert relukit.relu(x, order="C").flags.c_contiguous


def test_zero_dim_and_scalars():
    r = relukit.relu(np.float32(-1.5))
    assert type(r) is np.float32 and r == 0
    r = relukit.relu(np.array(2.5, np.float16))
    assert type(r) is np.float16 and r == 2.5
    r = relukit.relu(-0.0)
    assert type(r) is np.float64 and r == 0 and not np.signbit(r)
    r = relukit.relu(3)
    assert type(r) is np.float64 and r == 3.0
    r = relukit.relu(float("nan"))
    assert type(r) is np.float64 and np.isnan(r)
    r = relukit.relu_backward(2.0, -1.0)
    assert type(r) is np.float64 and r == 0
    r = relukit.relu_backward(np.float32(2.0), np.float32(1.0))
    assert type(r) is np.float32 and r == 2
    # a 0-d out array
    out = np.array(7.0, np.float32)
    relukit.relu(np.array(-4.0, np.float32), out=out)
    assert out.shape == () and out == 0
    # Python float scalars against a float32 array keep float32 (NEP 50 weak scalars)
    assert relukit.relu_backward(np.ones(3, np.float32), 1.0).dtype == np.float32
    assert relukit.relu_backward(1.0, np.ones(3, np.float16)).dtype == np.float16


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5), (2, 0, 4)])
def test_empty(dtype, shape):
    x = np.empty(shape, dtype)
    for r in (relukit.relu(x), relukit.relu_backward(x, x), relukit.relu_backward_from_output(x, x)):
        assert r.shape == shape and r.dtype == dtype
    out = np.empty(shape, dtype)
    assert relukit.relu(x, out=out) is out


def test_broadcasting(dtype):
    g = make_data(3, dtype, seed=31).reshape(3, 1)
    x = make_data(4, dtype, seed=32).reshape(1, 4)
    r = relukit.relu_backward(g, x)
    assert r.shape == (3, 4)
    gb, xb = np.broadcast_to(g, (3, 4)), np.broadcast_to(x, (3, 4))
    assert_same_bits(r, ref_relu_backward(gb, xb))
    assert_same_bits(relukit.relu_backward_from_output(g, x), ref_relu_backward(gb, xb))
    # a scalar gradient and a long x (step-0 operand in the inner loop)
    x = make_data(1000, dtype, seed=33)
    assert_same_bits(relukit.relu_backward(dtype.type(2.5), x),
                     ref_relu_backward(np.full(1000, 2.5, dtype), x))
    g = make_data(1000, dtype, seed=34)
    assert_same_bits(relukit.relu_backward(g, dtype.type(-1.0)), np.zeros(1000, dtype))
    assert_same_bits(relukit.relu_backward(g, dtype.type(np.nan)), np.full(1000, np.nan, dtype))
    # forward into a broadcast output shape
    x = make_data(5, dtype, seed=35)
    out = np.empty((4, 5), dtype)
    relukit.relu(x, out=out)
    assert_same_bits(out, np.broadcast_to(ref_relu(x), (4, 5)).copy())


def test_lists():
    r = relukit.relu([-1, 2.5, -0.0, float("inf")])
    assert r.dtype == np.float64
    assert_same_bits(r, np.array([0, 2.5, 0, np.inf]))
    r = relukit.relu_backward([1.0, 2.0, 3.0], [-1.0, 0.0, 5.0])
    assert_same_bits(r, np.array([0.0, 0.0, 3.0]))
    r = relukit.relu([[1, -2], [-3, 4]])
    assert r.shape == (2, 2) and r.dtype == np.float64
    assert_same_bits(r, np.array([[1.0, 0.0], [0.0, 4.0]]))


@pytest.mark.parametrize("itype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                   np.uint32, np.int64, np.uint64])
def test_integer_and_bool_inputs_cast_like_sqrt(itype):
    info = np.iinfo(itype) if itype is not np.bool_ else None
    if info is None:
        x = np.array([True, False, True])
    else:
        x = np.array([info.min, info.max, 0, 1, info.max // 3, max(info.min, -7)], itype)
    expected_dtype = np.sqrt(x[:0]).dtype
    r = relukit.relu(x)
    assert r.dtype == expected_dtype
    with np.errstate(over="ignore"):
        assert_same_bits(r, np.maximum(x.astype(expected_dtype), 0))
    g = np.ones_like(x)
    r = relukit.relu_backward(g, x)
    assert r.dtype == expected_dtype
    with np.errstate(over="ignore"):
        assert_same_bits(r, ref_relu_backward(g.astype(expected_dtype), x.astype(expected_dtype)))


def test_int8_gives_float16_and_int64_gives_float64():
    assert relukit.relu(np.array([-3, 4], np.int8)).dtype == np.float16
    assert relukit.relu(np.array([-3, 4], np.int64)).dtype == np.float64
    assert relukit.relu(np.array([True])).dtype == np.float16
    big = np.array([2**62, -(2**62)], np.int64)
    assert_same_bits(relukit.relu(big), np.array([2.0**62, 0.0]))


def test_subclass_preserved_and_subok():
    class Tagged(np.ndarray):
        pass

    x = make_data(20, np.float64).view(Tagged)
    r = relukit.relu(x)
    assert type(r) is Tagged
    assert_same_bits(np.asarray(r), ref_relu(np.asarray(x)))
    assert type(relukit.relu(x, subok=False)) is np.ndarray


@pytest.mark.parametrize("f", [relukit.relu, relukit.relu_backward, relukit.relu_backward_from_output],
                         ids=lambda f: f.__name__)
def test_float16_rounds_once(f):
    """Every float16 value through the float16 loop: the exhaustive set of 65536 bit patterns."""
    x = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    if f is relukit.relu:
        assert_same_bits(f(x), ref_relu(x))
    else:
        g = x[::-1].copy()
        assert_same_bits(f(g, x), ref_relu_backward(g, x))


@pytest.mark.parametrize("dt", FLOAT_DTYPES)
def test_docstring_examples(dt):
    assert relukit.relu.__doc__ and "max(x, 0)" in relukit.relu.__doc__
    r = relukit.relu(np.array([-2.0, -0.0, 0.5, np.nan], dt))
    assert_same_bits(r, np.array([0.0, 0.0, 0.5, np.nan], dt))


@pytest.mark.parametrize("f", [relukit.relu, relukit.relu_backward, relukit.relu_backward_from_output],
                         ids=lambda f: f.__name__)
def test_out_tuple_and_positional(f, dtype):
    data = operands(f.__name__, 100, dtype, seed=3)
    expected = ref_relu(*data) if f is relukit.relu else ref_relu_backward(*data)
    for form in ("tuple", "positional"):
        out = np.full(100, 5, dtype)
        r = f(*data, out=(out,)) if form == "tuple" else f(*data, out)
        assert r is out
        assert_same_bits(out, expected, form)
