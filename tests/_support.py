"""Shared helpers for the relukit tests: data with special values, NumPy references, bitwise checks.

Every reference is the obvious NumPy expression evaluated in the input's dtype; float16 references
are computed in float32 and rounded once with ``.astype(float16)`` (SPEC: float16 is computed in
float32 and rounded once).
"""

import numpy as np
import pytest

import relukit

FLOAT_DTYPES = (np.float16, np.float32, np.float64)
F16, F32, F64 = (np.dtype(d) for d in FLOAT_DTYPES)
DTYPES = pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
UINT_OF = {np.dtype(np.float16): np.uint16, np.dtype(np.float32): np.uint32,
           np.dtype(np.float64): np.uint64}

# Lengths that cross every vector width (8/16/32 lanes of float32 in zmm, unrolled bodies), the
# gather block (512) and NumPy's buffer size (8192).
SIZES = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 511, 512, 513,
         1000, 1023, 8191, 8192, 8193)

# Above every thread threshold (bytes of array operands per call) even for the cheapest call, a
# float16 forward at 4 bytes per element; odd so that chunks are uneven.
BIG = 300_001


def threaded_at(n):
    """Whether every call on n elements is above every thread threshold."""
    return n * 4 > max(relukit.config()["thread_thresholds"].values())


def special_values(dtype):
    """NaN (both signs), +-inf, +-0.0, subnormals, smallest normal, huge and tiny values."""
    dtype = np.dtype(dtype)
    fi = np.finfo(dtype)
    sub = fi.smallest_subnormal
    largest_sub = fi.smallest_normal - fi.smallest_subnormal
    vals = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, sub, -sub, largest_sub, -largest_sub,
            fi.smallest_normal, -fi.smallest_normal, fi.max, -fi.max, 1.0, -1.0, 0.5, -0.5,
            fi.eps, -fi.eps, float(fi.max) / 3, -float(fi.max) / 3]
    out = np.array([dtype.type(v) for v in vals], dtype=dtype)
    # a negative NaN with a payload and a positive one: only NaN-ness is specified
    u = UINT_OF[dtype]
    nbits = 8 * dtype.itemsize
    payload = np.array([(1 << (nbits - 1)) | int(np.array(np.nan, dtype).view(u)) | 1], dtype=u)
    return np.concatenate([out, payload.view(dtype)])


def nonnan_specials(dtype):
    s = special_values(dtype)
    return s[~np.isnan(s)]


def make_data(n, dtype, seed=0, special_fraction=0.15, nan=True):
    """Random values over many magnitudes with special values mixed in (never all zeros).

    Both signs are present whenever ``n >= 2``, and ``nan=False`` leaves NaN out."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng([seed, n, dtype.num])
    # magnitudes from far below 1 to far above; clipped to the dtype's finite range
    fi = np.finfo(dtype)
    lo, hi = np.log10(float(fi.smallest_normal)), np.log10(float(fi.max))
    mag = 10.0 ** rng.uniform(lo / 2, hi / 2, n)
    vals = np.where(rng.random(n) < 0.5, -mag, mag)
    # plenty of small ordinary values too
    ordinary = rng.random(n) < 0.5
    vals[ordinary] = rng.standard_normal(int(ordinary.sum()))
    x = vals.astype(dtype)
    specials = special_values(dtype) if nan else nonnan_specials(dtype)
    pick = rng.random(n) < special_fraction
    x[pick] = rng.choice(specials, int(pick.sum()))
    if n >= 1:
        x[0] = dtype.type(1.5)
    if n >= 2:
        x[n // 2] = dtype.type(-2.25)
    return x


def make_slope(shape, dtype, seed=0):
    """Per-element slopes: positive, negative, zero, >1 (finite)."""
    rng = np.random.default_rng([seed, 77])
    choices = np.array([0.01, 0.2, 0.0, -0.0, 1.0, 3.5, -0.3, 0.1], dtype=dtype)
    return rng.choice(choices, shape)


def positive_slopes(s):
    """Slopes leaky_relu_backward_from_output accepts: |s|, with 0.5 for the zeros."""
    return np.where(s == 0, s.dtype.type(0.5), np.abs(s))


# ---- bitwise comparison --------------------------------------------------------------------------
def assert_same_bits(got, expected, context=""):
    """Same dtype and shape; NaN exactly where ``expected`` is NaN; every other element bitwise
    equal (so +0.0 and -0.0 differ)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, f"{context}: dtype {got.dtype} != {expected.dtype}"
    assert got.shape == expected.shape, f"{context}: shape {got.shape} != {expected.shape}"
    gnan, enan = np.isnan(got), np.isnan(expected)
    if not np.array_equal(gnan, enan):
        where = np.flatnonzero((gnan != enan).ravel())[:10]
        raise AssertionError(
            f"{context}: NaN positions differ at flat indices {where.tolist()}: "
            f"got {got.ravel()[where].tolist()}, expected {expected.ravel()[where].tolist()}")
    u = UINT_OF[got.dtype]
    gb = np.where(gnan, 0, np.ascontiguousarray(got).view(u))
    eb = np.where(enan, 0, np.ascontiguousarray(expected).view(u))
    if not np.array_equal(gb, eb):
        where = np.flatnonzero((gb != eb).ravel())[:10]
        raise AssertionError(
            f"{context}: bits differ at flat indices {where.tolist()}: "
            f"got {got.ravel()[where].tolist()}, expected {expected.ravel()[where].tolist()}")


# ---- NumPy references, in the input's dtype ------------------------------------------------------
def _compute(dtype):
    """The dtype the reference arithmetic runs in: float16 goes through float32."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def _slope(s, dtype):
    with np.errstate(all="ignore"):
        return np.asarray(s).astype(dtype)


def ref_relu(x):
    x = np.asarray(x)
    with np.errstate(all="ignore"):
        r = np.maximum(x.astype(_compute(x.dtype)), 0)
        return np.asarray(r.astype(x.dtype))


def ref_relu_backward(g, x):
    g, x = np.asarray(g), np.asarray(x)
    dt = np.result_type(g, x)
    c = _compute(dt)
    g32, x32 = g.astype(c), x.astype(c)
    with np.errstate(all="ignore"):
        r = np.where(x32 > 0, g32, c.type(0))
        r = np.where(np.isnan(x32), x32, r)
        return np.asarray(r.astype(dt))


def ref_leaky_relu(x, s):
    x = np.asarray(x)
    c = _compute(x.dtype)
    s = _slope(s, x.dtype).astype(c)
    x32 = x.astype(c)
    with np.errstate(all="ignore"):
        return np.asarray(np.where(x32 > 0, x32, x32 * s).astype(x.dtype))


def ref_leaky_relu_backward(g, x, s):
    g, x = np.asarray(g), np.asarray(x)
    dt = np.result_type(g, x)
    c = _compute(dt)
    s = _slope(s, dt).astype(c)
    g32, x32 = g.astype(c), x.astype(c)
    with np.errstate(all="ignore"):
        r = np.where(x32 > 0, g32, g32 * s)
        r = np.where(np.isnan(x32), x32, r)
        return np.asarray(r.astype(dt))


# name -> (callable taking (*data, slope?), reference, number of data operands, has slope)
def functions():
    import relukit

    return {
        "relu": (relukit.relu, ref_relu, 1, False),
        "relu_backward": (relukit.relu_backward, ref_relu_backward, 2, False),
        "relu_backward_from_output": (relukit.relu_backward_from_output, ref_relu_backward, 2,
                                      False),
        "leaky_relu": (relukit.leaky_relu, ref_leaky_relu, 1, True),
        "leaky_relu_backward": (relukit.leaky_relu_backward, ref_leaky_relu_backward, 2, True),
        "leaky_relu_backward_from_output": (relukit.leaky_relu_backward_from_output,
                                            ref_leaky_relu_backward, 2, True),
    }


FUNCTION_NAMES = ("relu", "relu_backward", "relu_backward_from_output", "leaky_relu",
                  "leaky_relu_backward", "leaky_relu_backward_from_output")


def operands(name, n, dtype, seed=0, nan=True):
    """Data operands for function ``name``: (x,) or (g, x); a from-output function gets a y that
    is a real forward output (so its sign pattern is one a forward can produce)."""
    x = make_data(n, dtype, seed=seed, nan=nan)
    if name in ("relu", "leaky_relu"):
        return (x,)
    g = make_data(n, dtype, seed=seed + 1000, nan=nan)
    return (g, x)


def snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, arrays):
    for b, a in zip(before, arrays):
        a = np.asarray(a)
        assert a.dtype == b.dtype and a.shape == b.shape
        # reshape(-1): a 0-d array cannot be viewed as bytes
        assert np.array_equal(b.reshape(-1).view(np.uint8),
                              np.ascontiguousarray(a).reshape(-1).view(np.uint8)), (
            "an input array was modified")


def has_slope(name):
    return name.startswith("leaky")


def call(name, data, slope=None, **kwargs):
    """Call public function ``name`` on data operands (and the slope for leaky functions)."""
    f = functions()[name][0]
    if has_slope(name):
        return f(*data, slope, **kwargs)
    return f(*data, **kwargs)


def reference(name, data, slope=None):
    ref = functions()[name][1]
    if has_slope(name):
        return ref(*data, slope)
    return ref(*data)


# ---- checks shared by the relu and leaky_relu test modules ---------------------------------------
def check_reference(name, data, slope=None, context=""):
    """The function's result is bitwise the NumPy reference and no input changed."""
    before = snapshot(*data, *([slope] if isinstance(slope, np.ndarray) else []))
    got = call(name, data, slope)
    assert_same_bits(got, reference(name, data, slope), context or name)
    assert_unchanged(before, [*data, *([slope] if isinstance(slope, np.ndarray) else [])])
    return got


def check_nan_every_position(name, dtype, nan_in, slope_kind, max_len=139):
    """For every length 1..max_len and every position p, NaN at p in operand ``nan_in`` (one
    call of length n per position) gives exactly the reference (NaN where it is NaN)."""
    dtype = np.dtype(dtype)
    which = {"x": -1, "g": 0, "slope": "slope"}[nan_in]
    for n in range(1, max_len + 1):
        data = [np.tile(a, (n, 1)) for a in operands(name, n, dtype, seed=n, nan=False)]
        slope = None
        if has_slope(name):
            if slope_kind == "scalar":
                slope = 0.1
            else:
                slope = np.tile(make_slope(n, dtype, seed=n), (n, 1))
                slope = positive_slopes(slope) if name.endswith("from_output") else slope
        idx = np.arange(n)
        if which == "slope":
            slope[idx, idx] = np.nan
        else:
            data[which][idx, idx] = np.nan
        out = np.full((n, n), 7, dtype)
        f = functions()[name][0]
        for p in range(n):
            row = [d[p] for d in data]
            if slope is None:
                f(*row, out=out[p])
            elif np.ndim(slope) == 0:
                f(*row, slope, out=out[p])
            else:
                # the from-output wrapper refuses a NaN slope: use the raw ufunc there
                (f.ufunc if which == "slope" else f)(*row, slope[p], out=out[p])
        expected = reference(name, data, slope)
        assert_same_bits(out, expected, f"{name} {dtype} NaN in {nan_in}, length {n}")
        if nan_in == "x":
            assert np.isnan(out[idx, idx]).all()


def check_offsets(name, dtype, slope=None, n=300):
    """Results never depend on where an element sits: offset slices, misaligned outputs, g and x
    at different offsets, and single-element calls all agree with one full call."""
    dtype = np.dtype(dtype)
    data = operands(name, n + 16, dtype, seed=5)
    full_slope = slope
    if isinstance(slope, str):  # per-element slope array
        full_slope = make_slope(n + 16, dtype, seed=5)
        if name.endswith("from_output"):
            full_slope = positive_slopes(full_slope)

    def sl(a, k, m=None):
        if a is None or np.ndim(a) == 0:
            return a
        return a[k:] if m is None else a[k:k + m]

    full = call(name, data, full_slope)
    assert_same_bits(full, reference(name, data, full_slope), f"{name} full")
    buf = np.empty(n + 64, dtype)
    for k in range(17):
        m = n + 16 - k
        got = call(name, [sl(a, k) for a in data], sl(full_slope, k))
        assert_same_bits(got, full[k:], f"{name} offset {k}")
        for j in (1, 3, 5):
            out = buf[j:j + m]
            r = call(name, [sl(a, k) for a in data], sl(full_slope, k), out=out)
            assert r is out
            assert_same_bits(out, full[k:], f"{name} offset {k}, out offset {j}")
        if len(data) == 2:
            # g and x misaligned relative to each other
            m2 = n
            j = (k * 7) % 17
            g, x = data[0][j:j + m2], data[1][k:k + m2]
            s = sl(full_slope, k, m2)
            assert_same_bits(call(name, [g, x], s), reference(name, [g, x], s),
                             f"{name} g offset {j}, x offset {k}")
    # every element alone (scalar tail path) equals its value in the full (SIMD body) call
    singles = np.empty_like(full)
    for i in range(n + 16):
        singles[i:i + 1] = call(name, [a[i:i + 1] for a in data], sl(full_slope, i, 1))
    assert_same_bits(singles, full, f"{name} one element at a time")


# ---- generic checks for any elementwise function (used by test_family.py) ------------------------
def nan_every_position(fn, make_operands, nan_in, max_len=70, context=""):
    """For every length n in 1..max_len and every position p, call ``fn`` once on the length-n
    operands from ``make_operands(n)`` with NaN at p in operand ``nan_in`` (writing row p of an
    (n, n) output). Every element away from the NaN must be bitwise the clean call's (results do
    not depend on position or length); yields (n, operands, values at the NaN positions) for the
    caller to check what the NaN gives."""
    for n in range(1, max_len + 1):
        operands = [np.asarray(a) for a in make_operands(n)]
        clean = np.asarray(fn(*operands))
        rows = [np.tile(a, (n, 1)) for a in operands]
        idx = np.arange(n)
        rows[nan_in][idx, idx] = np.nan
        out = np.full((n, n), 7, clean.dtype)
        for p in range(n):
            fn(*[r[p] for r in rows], out=out[p])
        away = ~np.eye(n, dtype=bool)
        assert_same_bits(out[away], np.tile(clean, (n, 1))[away],
                         f"{context}: NaN elsewhere changed an element, length {n}")
        yield n, operands, out[idx, idx]


def offsets_independent(fn, operands, context="", n=300):
    """``fn`` on equal-length operands gives the same bits whatever the offset of the operands
    (0..16 elements), the alignment of ``out`` and of the operands relative to each other, and
    one element at a time (scalar tail) as in one call (SIMD body)."""
    operands = [np.asarray(a)[:n + 16] for a in operands]
    full = np.asarray(fn(*operands))
    buf = np.empty(n + 64, full.dtype)
    for k in range(17):
        m = n + 16 - k
        assert_same_bits(fn(*[a[k:] for a in operands]), full[k:], f"{context}: offset {k}")
        for j in (1, 3, 5):
            out = buf[j:j + m]
            r = fn(*[a[k:] for a in operands], out=out)
            assert r is out
            assert_same_bits(out, full[k:], f"{context}: offset {k}, out offset {j}")
        if len(operands) >= 2:
            # the first operand misaligned relative to the others
            j = (k * 7) % 17
            first = operands[0][j:j + n]
            rest = [a[k:k + n] for a in operands[1:]]
            expected = np.asarray(fn(first.copy(), *[a.copy() for a in rest]))
            assert_same_bits(fn(first, *rest), expected,
                             f"{context}: first operand at offset {j}, others at {k}")
    singles = np.empty_like(full)
    for i in range(len(full)):
        singles[i:i + 1] = fn(*[a[i:i + 1] for a in operands])
    assert_same_bits(singles, full, f"{context}: one element at a time")
