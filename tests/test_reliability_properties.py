"""hypothesis properties over every public function (``relukit.__all__`` but the thread and config
functions), with the deterministic ``ci`` profile of conftest.py.

Data: float16/32/64 arrays of 0-4 dimensions with NaN, +-inf, +-0.0 and subnormals frequent, laid
out as strided (step 2), offset and reversed views of a larger buffer. For each example:

- the result is within the SPEC bound of the exact reference of ``_reference.py`` (bitwise the
  NumPy expression for the exact ops; float16 within 1 step of the float32 path rounded once);
- NaN in x gives NaN; dtype and shape are kept; no input changes;
- a view gives the bits of its contiguous copy; out= a fresh array, in place (out= each operand)
  and out= a view overlapping an operand in the same buffer all give the bits of the plain call;
- nothing warns or trips ``np.errstate(all="raise")``.

A second test calls every function with arbitrary parameters, keywords and out= (wrong dtype,
shape, read-only): it returns or raises TypeError/ValueError, and writes nothing when it raises.

Where a known float64 accuracy bug is tracked as a strict xfail (tests/_known_failures.py) its
parameter set is left out here, so that this test keeps checking everything else.

The functions of other shapes (bit masks, fused bias + activation, reductions) have their own
tests below.
"""

import inspect
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import relukit  # noqa: E402
from _known_failures import KNOWN  # noqa: E402
from _reference import BY_NAME, OPS, cast_params, reference, steps_from_exact, ulp_steps  # noqa: E402
from _support import F16, F32, F64, assert_same_bits, assert_unchanged, snapshot  # noqa: E402
from test_prelu_rrelu import check_weight_grad  # noqa: E402
from test_properties import elements  # noqa: E402

# Functions that are not kernels: they take no arrays.
CONFIG = {"config", "get_num_threads", "set_num_threads", "show_config", "threads"}
PUBLIC = sorted(set(relukit.__all__) - CONFIG)
DTYPES = (F16, F32, F64)
# examples per function and test: ~70 functions, the file runs in well under a minute;
# RELUKIT_EXAMPLES=500 for a deeper search
EXAMPLES = int(os.environ.get("RELUKIT_EXAMPLES", "20"))
pytestmark = pytest.mark.thread_unsafe(reason="hypothesis is not thread-safe")


@contextmanager
def strict():
    """No floating-point flag and no warning of any kind may come out of the call."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


# ---- what to call and what to compare with ----------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """One way of calling a public function: call(*data, **ufunc_keywords); check(data, got,
    context) compares a result with the reference; forward(x) makes the y of a from-output."""

    label: str
    call: Callable
    check: Callable
    forward: Callable | None = None


def _known64(op, kind):
    """Parameter-set indices left out in float64: those tracked as strict xfails."""
    prefix = f"test_accuracy[float64-{op.name}-{kind}-"
    return {int(key[len(prefix):-1]) for key in KNOWN
            if key.startswith(prefix) and key[len(prefix):-1].isdigit()}


def check_op(op, kind, p):
    """The accuracy check of test_family.test_accuracy for one example."""
    def check(data, got, context):
        got = np.asarray(got)
        dtype = got.dtype
        bound = op.ulp[kind]
        x = np.broadcast_to(data[-1], got.shape)
        assert np.isnan(got[np.isnan(x)]).all(), f"{context}: NaN in x must give NaN"
        if bound == 0:
            assert_same_bits(got, op.numpy[kind](*np.broadcast_arrays(*data), *p), context)
            return
        if dtype == F16:
            with np.errstate(all="ignore"):
                expected = np.asarray(op.call_raw(kind, [a.astype(F32) for a in data],
                                                  [np.asarray(q, F32) for q in p])).astype(F16)
            steps = ulp_steps(got, expected)
            bound = 1
        else:
            if op.backend == "mpmath" and dtype == F64:
                pytest.importorskip("mpmath")
            hi, _, care = reference(op, kind, data, p, dtype)
            steps = np.where(care, steps_from_exact(got, hi, dtype), 0.0)
        bad = np.flatnonzero(np.asarray(steps).ravel() > bound)
        assert not bad.size, (
            f"{context}: {bad.size} results beyond {bound} steps, e.g. operands "
            f"{[np.asarray(a).ravel()[bad[:4]].tolist() for a in data]} -> "
            f"{got.ravel()[bad[:4]].tolist()}")
    return check


def _op_choices(op, kind, fn, dtype, **keywords):
    skip = _known64(op, kind) if dtype == F64 else set()
    out = []
    for k, params in enumerate(op.sets(kind)):
        if k in skip or params not in op.sets(kind, dtype):
            continue
        p = cast_params(params, dtype)
        label = f"{op.name}{params}{keywords or ''}"
        out.append(Choice(label, lambda *a, p=p, **kw: fn(*a, *p, **keywords, **kw),
                          check_op(op, kind, p),
                          lambda x, p=p: op.call("forward", (x,), p)))
    return out


def _prelu_choices(name, dtype, shape):
    ndim = len(shape)
    leaky = BY_NAME["leaky_relu"]
    kind = {"prelu": "forward", "prelu_backward": "backward"}.get(name, "from_output")
    fn = getattr(relukit, name)
    axes = [None] + ([1, -1] if ndim >= 2 else [0] if ndim == 1 else [])
    slopes_of = [0.25, 0.3, 0.5, 1.5, 0.01] if kind == "from_output" else [0.25, -0.3, 0.0, 1.5, 0.01]
    out = []
    for axis in axes:
        size = 1 if axis is None else shape[axis]
        weight = np.resize(np.array(slopes_of, dtype), size)
        slopes = (weight.reshape(()) if axis is None else
                  weight.reshape((size,) + (1,) * (ndim - axis % ndim - 1)))
        kw = {} if axis is None else {"axis": axis}
        out.append(Choice(f"{name} axis={axis}",
                          lambda *a, w=weight, kw=kw, **more: fn(*a, w, **kw, **more),
                          check_op(leaky, kind, (slopes,)),
                          lambda x, w=weight, kw=kw: relukit.prelu(x, w, **kw)))
    return out


def _rrelu_train_check(kind, lower, upper, seed):
    """Training slopes read off a forward of -1 (x * r is exact there), then the formulas."""
    def check(data, got, context):
        got = np.asarray(got)
        x = data[-1]
        c = F32 if x.dtype == F16 else x.dtype
        with np.errstate(all="ignore"):
            r = -np.asarray(relukit.rrelu(-np.ones(x.shape, c), lower, upper, training=True,
                                          seed=seed))
            xc = x.astype(c)
            g = data[0].astype(c) if kind != "forward" else xc
            want = np.where(np.isnan(xc), xc, np.where(xc > 0, g, g * r)).astype(x.dtype)
        assert_same_bits(got, want, context)
    return check


def _rrelu_choices(name, dtype):
    fn = getattr(relukit, name)
    kind = {"rrelu": "forward", "rrelu_backward": "backward"}.get(name, "from_output")
    leaky = BY_NAME["leaky_relu"]
    out = []
    for lower, upper in ((1 / 8, 1 / 3), (0.0, 0.0), (0.1, 0.9)):
        p = cast_params(((lower + upper) / 2,), dtype)
        out.append(Choice(f"{name} eval {lower, upper}",
                          lambda *a, lo=lower, up=upper, **kw: fn(*a, lo, up, **kw),
                          check_op(leaky, kind, p),
                          lambda x, lo=lower, up=upper: relukit.rrelu(x, lo, up)))
        seed = 1234
        forward = (lambda x, lo=lower, up=upper:
                   relukit.rrelu(x, lo, up, training=True, seed=seed))
        out.append(Choice(f"{name} training {lower, upper}",
                          lambda *a, lo=lower, up=upper, **kw:
                          fn(*a, lo, up, training=True, seed=seed, **kw),
                          _rrelu_train_check(kind, lower, upper, seed), forward))
    return out


def choices(name, dtype, shape):
    """Every Choice of calling public function `name` on operands of this dtype and shape."""
    for op in OPS:
        for kind, fn in op.functions.items():
            if fn is getattr(relukit, name, None) and fn.__name__ == name:
                return _op_choices(op, kind, fn, dtype)
    if name in ("gelu", "gelu_backward"):
        kind = "forward" if name == "gelu" else "backward"
        fn = getattr(relukit, name)
        return [c for op, approx in ((BY_NAME["gelu_erf"], "none"), (BY_NAME["gelu_tanh"], "tanh"))
                for c in _op_choices(op, kind, fn, dtype, approximate=approx)]
    if name.startswith("prelu") and name != "prelu_weight_grad":
        return _prelu_choices(name, dtype, shape)
    if name.startswith("rrelu"):
        return _rrelu_choices(name, dtype)
    return None


def n_data(name):
    """Array operands: x, or (g, x) / (g, y) / (g, mask) for a backward."""
    return 2 if "backward" in name or name == "prelu_weight_grad" else 1


# tested by their own properties below: results not shaped like the operands, or reductions
OWN_SHAPE = ("prelu_weight_grad", "relu_mask", "relu_backward_mask", "bias_act",
             "bias_act_backward", "dead_units")


def test_every_public_function_is_covered():
    """A new public function needs an Op in _reference.py or a case here."""
    missing = [n for n in PUBLIC if n not in OWN_SHAPE and not choices(n, F32, (3, 4))]
    assert not missing, f"public functions without a property test: {missing}"


# ---- data ------------------------------------------------------------------------------------
@st.composite
def shapes(draw, max_dims=4, budget=48):
    """0-4 dimensions, sides 0-5, at most `budget` elements (the float64 references of the
    transcendental ops run at 200 bits, element by element)."""
    ndim = draw(st.integers(0, max_dims))
    sides, size = [], 1
    for _ in range(ndim):
        side = draw(st.integers(0, max(1, min(5, budget // max(size, 1)))))
        sides.append(side)
        size *= max(side, 1)
    return tuple(sides)


def layouts(ndim):
    """Per axis: (start 0/1, step 1/2, reversed)."""
    return st.tuples(*[st.tuples(st.integers(0, 1), st.integers(1, 2), st.booleans())
                       for _ in range(ndim)])


def view(base, layout, shape):
    """The view of `base` with this layout and shape."""
    index = tuple(slice(s, s + n * step, step) for (s, step, _), n in zip(layout, shape))
    v = base[index + (Ellipsis,)]            # a 0-d view, not a scalar, for 0 dimensions
    return v[tuple(slice(None, None, -1) if rev else slice(None) for *_, rev in layout)
             + (Ellipsis,)]


def in_buffer(values, layout, fill):
    """values placed in a view of a larger buffer of `fill` values; returns (buffer, view)."""
    base = np.full(tuple(2 * n + 2 for n in values.shape), fill, values.dtype)
    v = view(base, layout, values.shape)
    v[...] = values
    return base, v


# ---- 1. results, layouts, in place, overlap ----------------------------------------------------
@pytest.mark.parametrize("name", [n for n in PUBLIC if n not in OWN_SHAPE])
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_properties(name, data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(shapes(), label="shape")
    choice = data.draw(st.sampled_from(choices(name, dtype, shape)), label="choice")
    values = [data.draw(hnp.arrays(dtype, shape, elements=elements(dtype.type)), label=f"operand {k}")
              for k in range(n_data(name))]
    if "from_output" in name:
        with np.errstate(all="ignore"):
            values[-1] = np.asarray(choice.forward(values[-1]), dtype).reshape(shape)
    ctx = f"{name} {choice.label} {dtype.name} {shape}"
    lays = [data.draw(layouts(len(shape)), label=f"layout {k}") for k in range(len(values))]
    placed = [in_buffer(v, lay, dtype.type(7.25)) for v, lay in zip(values, lays)]
    views = [v for _, v in placed]
    before = snapshot(*views)

    with strict():
        got = choice.call(*views)
    got = np.asarray(got)
    assert got.dtype == dtype and got.shape == shape, ctx
    assert_unchanged(before, views)
    choice.check(values, got, ctx)
    with strict():
        assert_same_bits(choice.call(*values), got, f"{ctx}: contiguous")
        out = np.full(shape, np.nan, dtype)
        assert choice.call(*views, out=out) is out
    assert_same_bits(out, got, f"{ctx}: out=")
    assert_unchanged(before, views)

    # in place: out= each operand in turn
    for k in range(len(views)):
        work = [in_buffer(v, lay, dtype.type(7.25))[1] for v, lay in zip(values, lays)]
        with strict():
            choice.call(*work, out=work[k])
        assert_same_bits(work[k], got, f"{ctx}: in place into operand {k}")

    # out= another view of an operand's buffer, overlapping it: as if the inputs were copies
    if shape:
        k = data.draw(st.integers(0, len(views) - 1), label="overlapped operand")
        out_layout = data.draw(layouts(len(shape)), label="out layout")
        work = [in_buffer(v, lay, dtype.type(7.25)) for v, lay in zip(values, lays)]
        base, _ = work[k]
        out = view(base, out_layout, shape)
        with strict():
            choice.call(*[v for _, v in work], out=out)
        assert_same_bits(out, got, f"{ctx}: out= overlapping operand {k} ({out_layout})")


@settings(max_examples=4 * EXAMPLES)
@given(data=st.data())
def test_prelu_weight_grad_properties(data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(shapes(), label="shape")
    ndim = len(shape)
    axis = data.draw(st.sampled_from([None] + ([1, -1] if ndim >= 2 else [0] if ndim else [])))
    size = 1 if axis is None else shape[axis]
    weight = np.full(size, 0.25, dtype)
    values = [data.draw(hnp.arrays(dtype, shape, elements=elements(dtype.type))) for _ in "gx"]
    lays = [data.draw(layouts(ndim)) for _ in "gx"]
    views = [in_buffer(v, lay, dtype.type(7.25))[1] for v, lay in zip(values, lays)]
    before = snapshot(*views)
    kw = {} if axis is None else {"axis": axis}
    with strict():
        got = relukit.prelu_weight_grad(*views, weight, **kw)
    assert_unchanged(before, views)
    assert_same_bits(got, relukit.prelu_weight_grad(*values, weight, **kw))
    if not values[1].size:
        assert_same_bits(got, np.zeros(size, dtype))          # an empty sum
        return
    with np.errstate(all="ignore"):
        check_weight_grad(*values, weight, axis=1 if axis is None else axis,
                          context=f"{dtype.name} {shape} axis={axis}", cancelling=True)


@st.composite
def operands_in_views(draw, n, min_dims=0):
    """(dtype, shape, contiguous operands, the same values as strided/reversed views)."""
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    shape = draw(shapes().filter(lambda s: len(s) >= min_dims), label="shape")
    values = [draw(hnp.arrays(dtype, shape, elements=elements(dtype.type))) for _ in range(n)]
    views = [in_buffer(v, draw(layouts(len(shape))), dtype.type(7.25))[1] for v in values]
    return dtype, shape, values, views


@settings(max_examples=2 * EXAMPLES)
@given(operands_in_views(2))
def test_relu_mask_properties(case):
    """relu_mask is np.packbits(x > 0); relu_backward_mask(g, mask) is relu_backward(g, x) with 0
    where x is NaN (documented), also in place into g."""
    dtype, shape, (g, x), (gv, xv) = case
    before = snapshot(gv, xv)
    with strict():
        mask = relukit.relu_mask(xv)
        out = np.full(mask.shape, 0xAA, np.uint8)
        assert relukit.relu_mask(xv, out=out) is out
        got = np.asarray(relukit.relu_backward_mask(gv, mask))
    assert_unchanged(before, [gv, xv])
    with np.errstate(invalid="ignore"):
        want_mask = np.packbits(x > 0, axis=None)
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(out, want_mask)
    with np.errstate(all="ignore"):
        want = np.where(np.isnan(x), dtype.type(0), relukit.relu_backward(g, x))
    assert_same_bits(got, want, f"{dtype.name} {shape}")
    with strict():
        relukit.relu_backward_mask(gv, mask, out=gv)
    assert_same_bits(gv, want, f"{dtype.name} {shape} in place")


FUSED_ACTS = (("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("sigmoid", {}),
              ("gelu", {"approximate": "tanh"}), ("elu", {"alpha": 0.5}))


@settings(max_examples=2 * EXAMPLES)
@given(operands_in_views(2, min_dims=1), st.sampled_from(FUSED_ACTS), st.booleans())
def test_bias_act_properties(case, act, last_axis):
    """bias_act is act(x + bias) in two NumPy/relukit steps, bit for bit, also in place and into
    an out= overlapping x; bias_act_backward's dx is act_backward(g, x + bias), and dbias is dx
    summed per channel (compared where the sum is finite)."""
    dtype, shape, (g, x), (gv, xv) = case
    name, params = act
    axis = -1 if last_axis or len(shape) < 2 else 1
    bias = np.resize(np.array([0.5, -1.0, 0.0, 2.0, -0.0], dtype), shape[axis])
    b = bias.reshape((-1,) + (1,) * (len(shape) - axis % len(shape) - 1))
    ctx = f"{name} {dtype.name} {shape} axis={axis}"
    with np.errstate(all="ignore"):
        z = (x + b).astype(dtype)
    fwd, bwd = getattr(relukit, name), getattr(relukit, name + "_backward")
    want = np.asarray(fwd(z, **params))
    want_dx = np.asarray(bwd(g, z, **params))
    before = snapshot(gv, xv)
    with strict():
        got = relukit.bias_act(xv, bias, act=name, axis=axis, **params)
        dx, dbias = relukit.bias_act_backward(gv, xv, bias, act=name, axis=axis, **params)
    assert_unchanged(before, [gv, xv])
    assert_same_bits(got, want, ctx)
    assert_same_bits(dx, want_dx, ctx + " dx")
    assert dbias.shape == bias.shape and dbias.dtype == dtype
    with np.errstate(all="ignore"):
        sums = np.moveaxis(want_dx.astype(np.float64), axis, -1).sum(
            axis=tuple(range(len(shape) - 1)))
    finite = np.isfinite(sums) & (np.abs(sums) < float(np.finfo(dtype).max) / 2)
    np.testing.assert_allclose(dbias[finite].astype(np.float64), sums[finite],
                               rtol=float(np.finfo(dtype).eps) * 2, atol=float(
                                   np.finfo(dtype).smallest_subnormal) * max(want_dx.size, 1))
    with strict():
        relukit.bias_act(xv, bias, act=name, axis=axis, out=xv, **params)
    assert_same_bits(xv, want, ctx + " in place")


@settings(max_examples=2 * EXAMPLES)
@given(operands_in_views(1, min_dims=1))
def test_dead_units_properties(case):
    dtype, shape, (x,), (xv,) = case
    if x.size == 0:
        return                          # no batch or no units: a ValueError (the bad-call test)
    with strict():
        dead = relukit.dead_units(xv, per_unit=True)
        fraction = relukit.dead_units(xv)
    with np.errstate(invalid="ignore"):
        want = ~np.any(x > 0, axis=0)
    np.testing.assert_array_equal(dead, want)
    if want.size:
        assert fraction == np.mean(want)


# ---- 2. anything else: a result or TypeError/ValueError, and nothing written on error ----------
ANYTHING = st.one_of(
    st.floats(), st.integers(-2**80, 2**80), st.booleans(), st.none(), st.text(max_size=3),
    st.just(1j), st.just([0.5, -1.0]), st.just(object()), st.just(np.float16(2.0)),
    st.sampled_from([0.0, -0.0, -1.0, 0.5, 1.0, 20.0, np.inf, -np.inf, np.nan, "none", "tanh"]),
    hnp.arrays(st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.complex64]),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
)


def _parameters(name, fn):
    """Names of fn's parameters after the array operands (none for a plain ufunc)."""
    if isinstance(fn, np.ufunc):
        return []
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD]
    return [p.name for p in params[n_data(name):]]


@pytest.mark.parametrize("name", PUBLIC)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_bad_calls_raise_type_or_value_error(name, data):
    fn = getattr(relukit, name)
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), label="shape")
    arrays = [data.draw(hnp.arrays(dtype, shape, elements=elements(dtype.type)))
              for _ in range(n_data(name))]
    kwargs = {p: data.draw(ANYTHING, label=p) for p in _parameters(name, fn)
              if data.draw(st.booleans())}
    out_kind = data.draw(st.sampled_from(
        ["none", "good", "shape", "read-only", "int", "other float", "list"]), label="out")
    out_shape = shape if out_kind != "shape" else shape + (2,)
    out_dtype = {"int": np.int32, "other float": F16 if dtype != F16 else F64}.get(out_kind, dtype)
    out = np.full(out_shape, 3.5, out_dtype) if out_kind != "list" else [3.5] * max(1, len(shape))
    if out_kind == "read-only":
        out.flags.writeable = False
    if out_kind != "none" and name != "prelu_weight_grad":
        kwargs["out"] = out
    if data.draw(st.booleans(), label="extra keyword"):
        key = data.draw(st.sampled_from(["where", "dtype", "casting", "order", "bogus"]))
        kwargs[key] = data.draw(st.one_of(ANYTHING, st.sampled_from(
            [np.float32, np.int64, "unsafe", "no", "K", "F"])))
    before = snapshot(*arrays)
    out_before = np.array(out, copy=True)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # NumPy's own casts may raise flags, and NumPy warns about where= without out=
            warnings.filterwarnings("ignore", "'where' used without 'out'", UserWarning)
            fn(*arrays, **kwargs)
    except (TypeError, ValueError):
        np.testing.assert_array_equal(np.asarray(out), out_before,
                                      err_msg="an error call wrote its output")
    assert_unchanged(before, arrays)


# ---- regressions found by the properties above --------------------------------------------------
def test_float16_underflow_is_silent_outside_the_ufuncs():
    """rrelu in training and prelu_weight_grad round float32/float64 results to float16 with
    NumPy's cast, which raised 'underflow' under np.errstate(all='raise') for a result below
    float16's subnormals (found by test_properties[rrelu_backward]); the ufuncs never do."""
    tiny = np.array([6e-8, -6e-8], F16)                  # the smallest float16 subnormal
    with strict():
        relukit.rrelu(tiny, training=True, seed=1)
        relukit.rrelu_backward(tiny, np.zeros(2, F16), training=True, seed=1)
        relukit.rrelu(tiny, training=True, seed=1, out=np.empty(2, F16))
        w = relukit.prelu_weight_grad(tiny[:1], np.array([-0.25], F16), np.ones(1, F16))
        relukit.leaky_relu(tiny, 0.1)
    assert w[0] == 0 and np.signbit(w[0])


@pytest.mark.parametrize("weight", [np.array([0.5 + 1j]), 1j, np.array(["0.5"]),
                                    np.array([0.5], dtype=object)], ids=repr)
def test_prelu_refuses_a_weight_that_is_not_real(weight):
    """A complex weight was cast to real with NumPy's ComplexWarning (an error under -W error,
    else a silent loss of the imaginary part); found by test_bad_calls_raise_type_or_value_error."""
    x = np.array([[-1.0, 2.0]])
    out = np.full_like(x, 9.0)
    for call in (lambda: relukit.prelu(x, weight, out=out),
                 lambda: relukit.prelu_backward(x, x, weight, out=out),
                 lambda: relukit.prelu_weight_grad(x, x, weight)):
        with pytest.raises(TypeError, match="real"):
            call()
    assert (out == 9.0).all()
