"""Memory: no leak on any path (10,000 calls leave reference counts unchanged and grow traced memory
by less than 64 KiB, also when every call raises), and no surprise allocation (an allocating call
allocates its output and nothing else; out= allocates nothing).

tracemalloc sees what Python and NumPy allocate (NumPy reports every array data allocation in its
own domain, ``np.lib.tracemalloc_domain``); the kernels themselves never allocate. The exhaustive
leak table (every ufunc) is ``slow``; a representative subset runs by default.
"""

import functools
import gc
import sys
import tracemalloc

import numpy as np
import pytest

import relukit
from _reference import BY_NAME, every_ufunc
from _support import FLOAT_DTYPES, make_data

CALLS = 10_000
GROWTH = 64 * 1024
# tracemalloc is process-wide: another thread's allocations would be counted
pytestmark = pytest.mark.thread_unsafe(reason="tracemalloc and reference counts are process-wide")


def _measure(call, error, watched):
    """(reference-count changes of `watched`, traced-memory growth in bytes) over CALLS calls."""
    def once():
        if error is None:
            call()
            return
        try:
            call()
        except error:
            return
        raise AssertionError(f"expected {error.__name__}")

    tracemalloc.start()
    try:
        for _ in range(200):            # NumPy's caches (dtype casts, loops) fill on first use
            once()
        gc.collect()
        refs = [sys.getrefcount(o) for o in watched]
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(CALLS):
            once()
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    after = [sys.getrefcount(o) for o in watched]      # counted exactly as `refs` was
    changed = [(k, r, a) for k, (r, a) in enumerate(zip(refs, after)) if r != a]
    return changed, growth


def _ufunc_paths(name, ufunc, args):
    """label -> (call, expected error, objects whose reference counts must not change)."""
    x = args[ufunc.nin - len(_params(name)) - 1]
    out = np.empty_like(x)
    read_only = np.empty_like(x)
    read_only.flags.writeable = False
    wrong_shape = np.empty(x.size + 1, x.dtype)
    complex_x = x.astype(np.complex128)
    paths = {
        "plain": (lambda: ufunc(*args), None, [*args]),
        "out": (lambda: ufunc(*args, out=out), None, [*args, out]),
        "wrong dtype": (lambda: ufunc(complex_x, *args[1:]), TypeError, [complex_x, *args]),
        "read-only out": (lambda: ufunc(*args, out=read_only), ValueError, [*args, read_only]),
        "shape mismatch": (lambda: ufunc(*args, out=wrong_shape), ValueError,
                           [*args, wrong_shape]),
    }
    bad = _bad_parameter(name, args)
    if bad is not None:
        paths["bad parameter"] = bad
    return paths


def _op_kind(name):
    for op in BY_NAME.values():
        for kind, fn in op.functions.items():
            if getattr(fn, "ufunc", fn).__name__ == name:
                return op, kind
    raise KeyError(name)


def _params(name):
    return _op_kind(name)[0].params


def _bad_parameter(name, args):
    """The wrapper's own refusal of a parameter (ValueError) where the op has one, else a string
    parameter to the raw ufunc (TypeError, NumPy's)."""
    op, kind = _op_kind(name)
    if not op.params:
        return None
    data = args[:len(args) - len(op.params)]
    for kinds, params, _ in op.invalid:
        if kind in kinds:
            fn = op.functions[kind]
            return (lambda: fn(*data, *params), ValueError, [*data])
    ufunc = op.functions[kind].ufunc
    return (lambda: ufunc(*data, *["?"] * len(op.params)), TypeError, [*data])


@functools.cache
def _operands(dtype):
    """name -> (ufunc, operands) of 64 elements; built once (the tests never write them)."""
    return {name: (ufunc, args) for name, ufunc, args in every_ufunc(64, dtype, seed=3)}


def _cases(names=None):
    cases = []
    for name, (ufunc, args) in _operands(np.dtype(np.float32)).items():
        if names is None or name in names:
            for label in _ufunc_paths(name, ufunc, args):
                cases.append(pytest.param(name, label, id=f"{name}-{label}"))
    return cases


# one of each shape of kernel: no parameter, one and two parameters, memory- and compute-bound,
# forward, backward and from output (test_no_leak_every_ufunc, -m slow, has them all)
FAST = ("relu", "leaky_relu_backward_ufunc", "softplus_backward_from_output_ufunc")
LEAKS = {}                                   # (name, path) -> growth, for docs/reliability.md


def _check_ufunc(name, label, dtype=np.float32):
    ufunc, args = _operands(np.dtype(dtype))[name]
    call, error, watched = _ufunc_paths(name, ufunc, args)[label]
    changed, growth = _measure(call, error, watched)
    LEAKS[(name, label, np.dtype(dtype).name)] = growth
    assert not changed, f"{name} {label}: reference counts changed (operand, before, after): {changed}"
    assert growth < GROWTH, f"{name} {label}: traced memory grew {growth} bytes in {CALLS} calls"


@pytest.mark.parametrize("name,label", _cases(FAST))
def test_no_leak(name, label):
    _check_ufunc(name, label)


@pytest.mark.parametrize("dtype", [np.float16, np.float64], ids=["float16", "float64"])
def test_no_leak_other_dtypes(dtype):
    for label in ("plain", "out", "read-only out"):
        _check_ufunc("gelu_tanh_backward", label, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("name,label", _cases())
def test_no_leak_every_ufunc(name, label):
    _check_ufunc(name, label)


def _wrapper_paths():
    """The Python-level kernels that are not ufuncs (rrelu in training, prelu's weight gradient)
    and the wrappers of their own shape, with their refusals."""
    x = make_data(64, np.float32, seed=1).reshape(4, 16)
    g = make_data(64, np.float32, seed=2).reshape(4, 16)
    w = np.full(16, 0.25, np.float32)
    out = np.empty_like(x)
    mask, frozen_mask = np.empty(8, np.uint8), np.empty(8, np.uint8)
    frozen_mask.flags.writeable = False
    return {
        "rrelu training": (lambda: relukit.rrelu(x, training=True, seed=5, out=out), None,
                           [x, out]),
        "rrelu_backward training": (
            lambda: relukit.rrelu_backward(g, x, training=True, seed=5), None, [g, x]),
        "rrelu training without seed": (lambda: relukit.rrelu(x, training=True), ValueError, [x]),
        "rrelu bad bounds": (lambda: relukit.rrelu(x, 0.5, 0.1), ValueError, [x]),
        "prelu": (lambda: relukit.prelu(x, w, axis=1, out=out), None, [x, w, out]),
        "prelu bad weight": (lambda: relukit.prelu(x, w[:3], axis=1), ValueError, [x, w]),
        "prelu_weight_grad": (lambda: relukit.prelu_weight_grad(g, x, w, axis=1), None, [g, x, w]),
        "prelu_weight_grad shape mismatch": (
            lambda: relukit.prelu_weight_grad(g[:2], x, w, axis=1), ValueError, [g, x, w]),
        "gelu tanh": (lambda: relukit.gelu(x, approximate="tanh"), None, [x]),
        "gelu bad approximate": (lambda: relukit.gelu(x, approximate="fast"), ValueError, [x]),
        "relu_mask": (lambda: relukit.relu_mask(x, out=mask), None, [x, mask]),
        "relu_mask read-only out": (lambda: relukit.relu_mask(x, out=frozen_mask), ValueError,
                                    [x, frozen_mask]),
        "relu_backward_mask": (lambda: relukit.relu_backward_mask(g, mask), None, [g, mask]),
        "relu_backward_mask short mask": (lambda: relukit.relu_backward_mask(g, mask[:3]),
                                          ValueError, [g, mask]),
        "bias_act": (lambda: relukit.bias_act(x, w, "leaky_relu", negative_slope=0.2, out=out),
                     None, [x, w, out]),
        "bias_act bad bias": (lambda: relukit.bias_act(x, w[:3]), ValueError, [x, w]),
        "bias_act unknown act": (lambda: relukit.bias_act(x, w, "nope"), ValueError, [x, w]),
        "bias_act_backward": (lambda: relukit.bias_act_backward(g, x, w, "gelu"), None,
                              [g, x, w]),
        "bias_act_backward shape mismatch": (lambda: relukit.bias_act_backward(g[:2], x, w),
                                             ValueError, [g, x, w]),
        "dead_units": (lambda: relukit.dead_units(x, axis=0), None, [x]),
        "dead_units empty batch": (lambda: relukit.dead_units(x[:0]), ValueError, [x]),
    }


@pytest.mark.parametrize("label", list(_wrapper_paths()))
def test_no_leak_wrappers(label):
    call, error, watched = _wrapper_paths()[label]
    changed, growth = _measure(call, error, watched)
    LEAKS[(label, "", "float32")] = growth
    assert not changed, f"{label}: reference counts changed: {changed}"
    assert growth < GROWTH, f"{label}: traced memory grew {growth} bytes in {CALLS} calls"


# ---- no surprise allocations -------------------------------------------------------------------
SLACK = 2048      # Python objects of the call itself (the result's array object, argument tuples)


def _allocations(call):
    """(peak traced bytes during the call, sizes of NumPy data blocks still alive after it)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - before
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)])
        blocks = sorted(t.size for t in snapshot.traces)
    finally:
        tracemalloc.stop()
    del result
    return peak, blocks


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_allocating_call_allocates_its_output_only(dtype):
    """Contiguous operands: the allocating call allocates exactly one block, the output, and at
    no moment more than that plus the call's small Python objects; out= allocates nothing."""
    n = 20_003                          # above the compute-bound threshold: threads take part
    for name, ufunc, args in every_ufunc(n, dtype, seed=9):
        out = np.empty(n, dtype)
        ufunc(*args)                    # first calls fill NumPy's caches
        ufunc(*args, out=out)
        nbytes = out.nbytes
        peak, blocks = _allocations(lambda: ufunc(*args))
        assert blocks == [nbytes], f"{name}: NumPy data blocks {blocks}, expected [{nbytes}]"
        assert nbytes <= peak <= nbytes + SLACK, f"{name}: peak {peak} for a {nbytes}-byte output"
        peak, blocks = _allocations(lambda: ufunc(*args, out=out))
        assert blocks == [] and peak <= SLACK, f"{name} out=: {blocks}, peak {peak} bytes"
        # in place too
        work = args[0].copy()
        peak, blocks = _allocations(lambda: ufunc(work, *args[1:], out=work))
        assert blocks == [] and peak <= SLACK, f"{name} in place: {blocks}, peak {peak} bytes"
