"""The parametrised ops (relukit.leaky_relu, celu, gelu, ...) are C callables (_forward.c, made by
_api._wraps). They bind their arguments as their signature says, check the parameters whenever
they could be bad, pass NumPy's keywords on to the ufunc untouched, and hold no references they
should not."""

import contextlib
import copy
import inspect
import sys

import numpy as np
import pytest

import relukit
from relukit import _forward

WRAPPERS = sorted(name for name in relukit.__all__
                  if isinstance(getattr(relukit, name), _forward.Wrapper)
                  and not hasattr(getattr(relukit, name), "python"))
# prelu's wrappers, whose weight and axis become the slopes (test_prelu_rrelu.py compares them
# with their defs)
CHANNEL_WRAPPERS = ("prelu", "prelu_backward")
# the ops without a default for some parameter, and a valid value for it
REQUIRED = {"threshold": 0.5, "value": -1.0}


def test_the_parametrised_ops_are_wrappers():
    for name in ("leaky_relu", "hardtanh_backward_from_output", "threshold", "softshrink",
                 "squareplus_backward", "elu", "celu_backward_from_output", "softplus",
                 "silu_backward", "gelu", "gelu_backward"):
        assert name in WRAPPERS
    assert len(WRAPPERS) == 30
    for name in CHANNEL_WRAPPERS:
        f = getattr(relukit, name)
        assert isinstance(f, _forward.Wrapper) and f.python.__name__ == name


def reference(f, args, kwargs):
    """What a Python def with f's signature that calls its ufunc would give (or raise)."""
    bound = inspect.signature(f).bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    passed = values.pop("kwargs")
    operands = list(values.values())
    if f.__name__.startswith("gelu"):
        kind = "_tanh" if operands.pop() == "tanh" else "_erf"
        return getattr(relukit, "gelu" + kind + f.__name__[4:])(*operands, **passed)
    return f.ufunc(*operands, **passed)


def outcome(call):
    try:
        return call()
    except (TypeError, ValueError) as error:
        return type(error)


def calls(f):
    """Argument lists: positional, by keyword, in another order, with NumPy's keywords."""
    params = [p for p in inspect.signature(f).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD]
    data = [p.name for p in params if p.name in ("g", "x", "y")]
    rng = np.random.default_rng(len(f.__name__))
    arrays = {name: rng.normal(size=6) for name in data}
    # a value of the parameter's own default, but another object (the check runs)
    values = {p.name: REQUIRED[p.name] if p.default is p.empty else
              p.default if isinstance(p.default, str) else float(repr(p.default)) + 0.0
              for p in params if p.name not in data}
    given = [arrays[name] for name in data]
    out, out32 = np.full(6, 7.0), np.full(6, 7.0, np.float32)
    where = rng.random(6) > 0.3
    names = list(values)
    yield given + list(values.values()), {}
    yield given, {name: values[name] for name in reversed(names)}
    yield given, {name: values[name] for name in names if name in REQUIRED}
    yield [], {**arrays, **values}
    yield given + list(values.values()), {"out": out}
    yield given, {**values, "out": out, "where": where}
    yield given, {"where": where, "out": out32, "dtype": np.float32,
                  **{name: values[name] for name in names if name in REQUIRED}}
    # wrong calls: each must raise as the def would
    yield given[:-1], {}
    yield given + list(values.values()) + [1.0], {}
    if names:
        yield given + [values[names[0]]], {names[0]: values[names[0]]}
    yield given + list(values.values()), {"bogus": 1}
    yield given + list(values.values()), {"out": out, "bogus": 1}


@pytest.mark.parametrize("name", WRAPPERS)
def test_arguments_bind_as_the_signature_says(name):
    f = getattr(relukit, name)
    for args, kwargs in calls(f):
        expected = outcome(lambda: reference(
            f, args, {k: v.copy() if k == "out" else v for k, v in kwargs.items()}))
        got = outcome(lambda: f(*args, **kwargs))
        if isinstance(expected, type):
            assert got is expected, (name, args, kwargs)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {kwargs}")
            if "out" in kwargs:
                assert got is kwargs["out"]


def test_out_and_a_keyword_parameter():
    x = np.linspace(-3, 3, 7)
    out = np.empty_like(x)
    got = relukit.elu(x, out=out, alpha=0.5)
    assert got is out
    np.testing.assert_array_equal(out, relukit.elu_ufunc(x, 0.5))


def test_a_parameter_that_passed_is_checked_again_when_it_changes():
    x = np.linspace(-2, 2, 5)
    alpha = np.array(1.5)
    relukit.celu(x, alpha)
    alpha[...] = 0.0                    # the same object, now bad
    with pytest.raises(ValueError, match="alpha"):
        relukit.celu(x, alpha)
    relukit.celu(x, 2.0)
    with pytest.raises(ValueError, match="alpha"):
        relukit.celu(x, 0.0)
    relukit.celu(x, 2.0)
    with pytest.raises(ValueError, match="alpha"):
        relukit.celu(x, alpha=0)

    class Alpha(float):
        pass

    with pytest.raises(ValueError, match="alpha"):
        relukit.celu(x, Alpha(0.0))
    with pytest.raises(ValueError, match="min_val <= max_val"):
        relukit.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="min_val <= max_val"):
        relukit.hardtanh(x, max_val=-2.0)


def test_gelu_approximate():
    x = np.linspace(-3, 3, 7)
    tanh = relukit.gelu_tanh(x)
    for approximate in ("tanh", np.str_("tanh"), "".join(["ta", "nh"])):
        np.testing.assert_array_equal(relukit.gelu(x, approximate=approximate), tanh)
        np.testing.assert_array_equal(relukit.gelu(x, approximate), tanh)
    np.testing.assert_array_equal(relukit.gelu(x, "none"), relukit.gelu_erf(x))
    for bad in ("Tanh", "", None, 1, ["tanh"], {"tanh": 1}):
        with pytest.raises(ValueError, match="approximate"):
            relukit.gelu(x, approximate=bad)
        with pytest.raises(ValueError, match="approximate"):
            relukit.gelu_backward(x, x, bad)


def test_too_many_keywords():
    with pytest.raises(TypeError):
        relukit.elu(np.ones(2), **{f"k{i}": 1 for i in range(20)})


def test_no_reference_is_leaked_or_lost():
    x, g, out = np.linspace(-2, 2, 5), np.ones(5), np.empty(5)
    alpha, bad = 2.5, 0.0
    x2, out2, x3, w = np.ones((2, 3)), np.empty((2, 3)), np.ones((2, 3, 4)), np.full(3, 0.5)
    cases = [
        lambda: relukit.celu(x, alpha),
        lambda: relukit.celu(x, alpha=alpha, out=out),
        lambda: relukit.celu_backward(g, x, where=x > 0, alpha=alpha, out=out),
        lambda: relukit.gelu(x, approximate="tanh", out=out),
        lambda: outcome(lambda: relukit.celu(x, bad)),
        lambda: outcome(lambda: relukit.celu(x, alpha, alpha=alpha)),
        lambda: outcome(lambda: relukit.celu(x, alpha, bogus=alpha)),
        lambda: outcome(lambda: relukit.gelu(x, approximate=alpha)),
        lambda: relukit.prelu(x2, w, out=out2),                   # the slopes made in C
        lambda: relukit.prelu(x3, w, axis=1),                     # and reshaped
        lambda: relukit.prelu_backward(x2, x2, w, axis=-1),
        lambda: relukit.prelu(x2, [0.5, 0.5, 0.5]),                # the def
        lambda: outcome(lambda: relukit.prelu(x2, w, axis=5)),
    ]
    for call in cases:
        # the keyword names' tuples are constants of the calls' code
        tracked = (x, g, out, alpha, bad, x2, out2, x3, w, *keyword_names(call.__code__))
        call()
        before = [sys.getrefcount(a) for a in tracked]
        for _ in range(200):
            call()
        assert [sys.getrefcount(a) for a in tracked] == before


def keyword_names(code):
    for const in code.co_consts:
        if isinstance(const, tuple):
            yield const
        elif inspect.iscode(const):
            yield from keyword_names(const)


def test_a_wrapper_is_a_well_behaved_object():
    f = relukit.softplus
    assert copy.copy(f) is f and copy.deepcopy(f) is f
    assert "softplus" in repr(f)
    assert f.__name__ == f.__qualname__ == "softplus" and f.__module__ == "relukit"
    assert str(inspect.signature(f)) == "(x, beta=1.0, threshold=20.0, **kwargs)"
    assert f.ufunc is relukit.softplus_ufunc
    with pytest.raises(TypeError):
        _forward.wrapper("f", relukit.elu_ufunc, ("x", 1), (), 1, None, False)
    with pytest.raises(ValueError):
        _forward.wrapper("f", relukit.elu_ufunc, ("x",) * 9, (), 1, None, False)
    with pytest.raises(ValueError):       # python= takes exactly weight and axis after the data
        _forward.wrapper("f", relukit.elu_ufunc, ("x", "w"), (), 1, None, False, print)


# (call with the parameter p, the rule each element of p must keep); NaN keeps none of them
_ARRAY_CHECKS = [
    (lambda x, p: relukit.hardtanh(x, min_val=p, max_val=1.0), lambda p: p <= 1.0),
    (lambda x, p: relukit.hardtanh(x, min_val=-1.0, max_val=p), lambda p: -1.0 <= p),
    (lambda x, p: relukit.hardtanh(x, min_val=p, max_val=p[::-1]), lambda p: p <= p[::-1]),
    (lambda x, p: relukit.softshrink(x, lambd=p), lambda p: p >= 0),
    (lambda x, p: relukit.squareplus(x, b=p), lambda p: (p > 0) & (p < np.inf)),
    (lambda x, p: relukit.hardshrink(x, lambd=p), lambda p: p == p),
    (lambda x, p: relukit.threshold(x, p, -3.0), lambda p: p == p),
    (lambda x, p: relukit.threshold_backward_from_output(x, x, p, -3.0),
     lambda p: (p == p) & (-3.0 <= p)),
    (lambda x, p: relukit.rrelu(x, lower=p, upper=2.5), lambda p: (p >= 0) & (p <= 2.5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, list])
def test_array_parameters_are_refused_exactly_when_an_element_breaks_the_rule(dtype):
    """An array parameter against a number is checked through its largest or smallest element
    (one reduction, no temporary), "not NaN" through its largest: the call is refused exactly when
    some element breaks the rule, NaN and inf included, either way round, for two arrays, 0-d and
    empty ones, and lists."""
    rng = np.random.default_rng(5)
    pool = np.array([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0])
    if dtype in (np.float32, np.float64, list):
        pool = np.concatenate([pool, [np.nan, np.inf, -np.inf]])
    for size in (0, 1, 2, 5, 40):
        for _ in range(25):
            p = rng.choice(pool, size)
            p = p.tolist() if dtype is list else p.astype(dtype)
            x = np.linspace(-4, 4, size)
            for call, rule in _ARRAY_CHECKS:
                keeps = bool(np.all(rule(np.asarray(p, dtype=float))))
                try:
                    call(x, p)
                    refused = False
                except ValueError:
                    refused = True
                assert refused == (not keeps), (p, rule)
    for value, refused in ((0.5, False), (2.0, True), (np.nan, True)):     # 0-d arrays
        if np.isnan(value) and dtype is np.int64:
            continue
        p = np.array(value, dtype if dtype is not list else float)
        with pytest.raises(ValueError) if refused else contextlib.nullcontext():
            relukit.hardtanh(np.ones(3), min_val=p, max_val=np.array(1.0))
