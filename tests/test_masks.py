"""relu_mask, relu_backward_mask and dead_units: bits against np.packbits, gradients against
relu_backward, the same bits for every thread count and SIMD level, errors."""

import importlib

import numpy as np
import pytest

import relukit
import relukit._dispatch as dispatch
from relukit import _masks
from _support import BIG, DTYPES, FLOAT_DTYPES, SIZES, make_data, special_values


def bits(mask, n):
    return np.unpackbits(mask, count=n).astype(bool)


@DTYPES
@pytest.mark.parametrize("n", SIZES)
def test_mask_is_packbits_of_x_positive(dtype, n):
    x = make_data(n, dtype, seed=n)
    m = relukit.relu_mask(x)
    assert m.dtype == np.uint8 and m.shape == ((n + 7) // 8,)
    np.testing.assert_array_equal(m, np.packbits(x > 0))
    np.testing.assert_array_equal(bits(m, n), x > 0)


@DTYPES
def test_mask_of_special_values(dtype):
    x = special_values(dtype)
    np.testing.assert_array_equal(bits(relukit.relu_mask(x), x.size), x > 0)   # NaN: 0 bit


@DTYPES
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 7), (0, 4), ()])
def test_mask_is_over_c_order_whatever_the_layout(dtype, shape):
    x = make_data(int(np.prod(shape)), dtype, seed=3).reshape(shape)
    expected = np.packbits(x > 0, axis=None)
    np.testing.assert_array_equal(relukit.relu_mask(x), expected)
    f = np.asfortranarray(x)
    np.testing.assert_array_equal(relukit.relu_mask(f), expected)
    if x.ndim == 2:
        np.testing.assert_array_equal(relukit.relu_mask(x.T), np.packbits(x.T > 0, axis=None))


@DTYPES
@pytest.mark.parametrize("n", SIZES)
def test_backward_mask_equals_relu_backward(dtype, n):
    x = make_data(n, dtype, seed=n, nan=False)
    g = make_data(n, dtype, seed=n + 1)               # NaN and inf in g too
    got = relukit.relu_backward_mask(g, relukit.relu_mask(x))
    expected = relukit.relu_backward(g, x)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), expected.view(f"u{x.itemsize}"))


@DTYPES
def test_backward_mask_of_nan_x_is_zero_unlike_relu_backward(dtype):
    # one bit cannot carry NaN: documented difference from relu_backward
    x = np.array([np.nan, -np.nan, 1.0, -1.0], dtype)
    g = np.array([2.0, 3.0, 4.0, np.nan], dtype)
    got = relukit.relu_backward_mask(g, relukit.relu_mask(x))
    np.testing.assert_array_equal(got, np.array([0.0, 0.0, 4.0, 0.0], dtype))
    assert np.isnan(relukit.relu_backward(g, x)[:2]).all()


@DTYPES
def test_dead_units_block_nan_and_inf_gradients(dtype):
    x = np.array([-1.0, 0.0, -0.0, -np.inf, 2.0], dtype)
    g = np.array([np.nan, np.inf, -np.inf, np.nan, np.inf], dtype)
    got = relukit.relu_backward_mask(g, relukit.relu_mask(x))
    np.testing.assert_array_equal(got, np.array([0, 0, 0, 0, np.inf], dtype))
    assert not np.signbit(got[:4]).any()


@DTYPES
def test_backward_mask_shapes_out_and_in_place(dtype):
    x = make_data(60, dtype, seed=5, nan=False).reshape(3, 4, 5)
    g = make_data(60, dtype, seed=6).reshape(3, 4, 5)
    m = relukit.relu_mask(x)
    expected = relukit.relu_backward(g, x)
    out = np.empty_like(g)
    assert relukit.relu_backward_mask(g, m, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = g.copy()
    assert relukit.relu_backward_mask(inplace, m, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, expected)
    fout = np.empty(g.shape, dtype, order="F")        # non-contiguous out: written through a copy
    relukit.relu_backward_mask(g, m, out=fout)
    np.testing.assert_array_equal(fout, expected)
    # a g that is not C-contiguous: the mask is over its C order
    gt, xt = g.transpose(2, 0, 1), x.transpose(2, 0, 1)
    np.testing.assert_array_equal(relukit.relu_backward_mask(gt, relukit.relu_mask(xt)),
                                  relukit.relu_backward(gt, xt))
    # the mask may be any shape of the right size, and g is left alone
    g_before = g.copy()
    relukit.relu_backward_mask(g, m.reshape(1, -1))
    np.testing.assert_array_equal(g, g_before)


def test_scalar_and_integer_inputs():
    assert relukit.relu_mask(3).tolist() == [128]
    assert relukit.relu_mask(np.array([1, -1, 0], np.int8)).tolist() == [128]
    got = relukit.relu_backward_mask(np.float32(2.0), np.array([128], np.uint8))
    assert got == 2.0 and isinstance(got, np.float32)
    assert relukit.relu_backward_mask(np.array([1, 2], np.int16), np.array([64], np.uint8)).dtype \
        == np.float32


def test_mask_out():
    x = make_data(20, np.float32, seed=1)
    out = np.empty(3, np.uint8)
    assert relukit.relu_mask(x, out=out) is out
    np.testing.assert_array_equal(out, np.packbits(x > 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", ["forward", "backward"])
def test_same_bits_for_every_thread_count_and_level(dtype, kernel):
    x = make_data(BIG, dtype, seed=11)
    g = make_data(BIG, dtype, seed=12)
    results = []
    for level in dispatch.available_levels():
        module = importlib.import_module(f"relukit._kernels_{level}")
        for n in (1, 2, 3):
            with relukit.threads(n):
                mask = np.empty((BIG + 7) // 8, np.uint8)
                module.mask_forward(x, mask, _masks.OUTSIDE, -np.inf, 0.0)
                if kernel == "forward":
                    results.append(mask)
                    continue
                out = np.empty_like(g)
                module.mask_backward(g, mask, out, _masks.DEAD_SLOPE, 0.25)
                results.append(out.view(f"u{out.itemsize}"))
    assert len(results) >= 3
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    if kernel == "forward":
        np.testing.assert_array_equal(results[0], np.packbits(x > 0))


def test_large_fresh_output_same_bits_for_every_thread_count():
    """A backward into an output of 4 MiB and more that NumPy has just allocated runs behind the
    calling thread's faulting-in (run_fresh): the bits are those of 1 thread."""
    n = 3_000_001
    x = make_data(n, np.float32, seed=15)
    g = make_data(n, np.float32, seed=16)
    mask = relukit.relu_mask(x)
    with relukit.threads(1):
        expected = relukit.relu_backward_mask(g, mask)
    for n_threads in (2, 3):
        with relukit.threads(n_threads):
            got = relukit.relu_backward_mask(g, mask)
        np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(expected, np.where(x > 0, g, 0))


def test_float16_threaded_matches_serial():
    x = make_data(BIG, np.float16, seed=13)
    g = make_data(BIG, np.float16, seed=14, nan=False)
    with relukit.threads(1):
        m1 = relukit.relu_mask(x)
        d1 = relukit.relu_backward_mask(g, m1)
    m2, d2 = relukit.relu_mask(x), relukit.relu_backward_mask(g, m1)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(d1.view(np.uint16), d2.view(np.uint16))
    np.testing.assert_array_equal(m1, np.packbits(x > 0))


@pytest.mark.parametrize("bad, error", [
    (np.array([1 + 2j]), TypeError),
    (np.array(["a"]), TypeError),
    (np.array([1.0], np.longdouble), TypeError),
])
def test_mask_rejects_non_real_input(bad, error):
    if bad.dtype == np.longdouble and np.dtype(np.longdouble) == np.float64:
        pytest.skip("long double is double here")
    with pytest.raises(error):
        relukit.relu_mask(bad)


def test_mask_errors():
    x = np.ones(17, np.float32)
    with pytest.raises(ValueError, match="shape"):
        relukit.relu_mask(x, out=np.empty(2, np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        relukit.relu_mask(x, out=np.empty(3, np.int8))
    ro = np.empty(3, np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        relukit.relu_mask(x, out=ro)
    with pytest.raises(ValueError, match="C-contiguous"):
        relukit.relu_mask(x, out=np.empty(6, np.uint8)[::2])
    with pytest.raises(TypeError, match="NumPy array"):
        relukit.relu_mask(x, out=[0, 0, 0])


def test_backward_mask_errors():
    g = np.ones(17, np.float32)
    m = relukit.relu_mask(g)
    with pytest.raises(ValueError, match="ceil"):
        relukit.relu_backward_mask(g, m[:2])
    with pytest.raises(ValueError, match="ceil"):
        relukit.relu_backward_mask(g[:8], m)
    with pytest.raises(TypeError, match="uint8"):
        relukit.relu_backward_mask(g, m.astype(np.int64))
    with pytest.raises(TypeError, match="dtype"):
        relukit.relu_backward_mask(g, m, out=np.empty(17, np.float64))
    with pytest.raises(ValueError, match="shape"):
        relukit.relu_backward_mask(g, m, out=np.empty(18, np.float32))
    ro = np.empty(17, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        relukit.relu_backward_mask(g, m, out=ro)
    with pytest.raises(TypeError):
        relukit.relu_backward_mask(np.array([1j]), np.zeros(1, np.uint8))


def test_backward_mask_with_overlapping_out():
    buf = np.arange(1.0, 18.0)
    g = buf[:16]
    out = buf[1:17]
    m = relukit.relu_mask(np.where(np.arange(16) % 3 == 0, 1.0, -1.0))
    expected = np.where(np.arange(16) % 3 == 0, g, 0.0)
    relukit.relu_backward_mask(g, m, out=out)
    np.testing.assert_array_equal(buf[1:17], expected)


# ---- the masks of the other ops (used by relukit.nn) ---------------------------------------------
RULES = [
    # (kind, lo, hi, numpy predicate)
    (_masks.OUTSIDE, -np.inf, 0.0, lambda x: x > 0),
    (_masks.INSIDE, 0.0, 6.0, lambda x: (x > 0) & (x < 6)),
    (_masks.INSIDE, -1.0, 1.0, lambda x: (x > -1) & (x < 1)),
    (_masks.OUTSIDE, -0.5, 0.5, lambda x: (x < -0.5) | (x > 0.5)),
    (_masks.OUTSIDE, -np.inf, 0.1, lambda x: x > np.asarray(0.1, x.dtype)),
]


@DTYPES
@pytest.mark.parametrize("rule", range(len(RULES)))
def test_mask_rules(dtype, rule):
    kind, lo, hi, predicate = RULES[rule]
    x = np.concatenate([make_data(1000, dtype, seed=rule), special_values(dtype),
                        np.array([lo, hi, 6, 0.5, -0.5, 0.1], dtype)])
    np.testing.assert_array_equal(bits(_masks.pack(x, kind, lo, hi), x.size), predicate(x))


@DTYPES
def test_slope_and_noise_rules_match_leaky_relu_and_rrelu(dtype):
    x = make_data(3000, dtype, seed=21, nan=False)
    g = make_data(3000, dtype, seed=22)
    m = relukit.relu_mask(x)
    got = _masks.unpack(g, m, _masks.DEAD_SLOPE, slope=0.2)
    want = relukit.leaky_relu_backward(g, x, 0.2)
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))
    key = relukit._api._rrelu_key(5)
    got = _masks.unpack(g, m, _masks.DEAD_NOISE, key=key, lower=0.1, upper=0.3)
    want = relukit.rrelu_backward(g, x, 0.1, 0.3, training=True, seed=5)
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))


# ---- dead_units -----------------------------------------------------------------------------------
def test_dead_units_fraction_and_per_unit():
    x = np.array([[-1.0, 2.0, np.nan, 0.0], [-3.0, np.nan, np.nan, -0.0], [0.5, -1.0, np.nan, 0.0]])
    assert relukit.dead_units(x) == 0.5
    np.testing.assert_array_equal(relukit.dead_units(x, per_unit=True), [False, False, True, True])
    np.testing.assert_array_equal(relukit.dead_units(x, axis=1, per_unit=True), [False, True, False])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + (np.int32, np.bool_))
def test_dead_units_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 3, 5, 5)) - 2.2).astype(dtype)
    for axis in (0, (0, 2, 3), -1):
        want = ~np.any(x > 0, axis=axis)
        np.testing.assert_array_equal(relukit.dead_units(x, axis=axis, per_unit=True), want)
        assert relukit.dead_units(x, axis=axis) == want.mean()


def test_dead_units_errors():
    with pytest.raises(ValueError, match="non-empty batch"):
        relukit.dead_units(np.empty((0, 3)))
    with pytest.raises(ValueError, match="no units"):
        relukit.dead_units(np.ones((3, 0)))
    with pytest.raises(np.exceptions.AxisError):
        relukit.dead_units(np.ones((3, 2)), axis=2)
    with pytest.raises(TypeError):
        relukit.dead_units(np.array([1j]))
