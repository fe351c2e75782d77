"""The activation functions: the ufuncs of the chosen kernel module, and keyword wrappers with
PyTorch's defaults for the ops that take parameters.

Parameters are trailing ufunc inputs, so they broadcast against x (a per-channel array of slopes
is PReLU). A wrapper passes every NumPy keyword (out, where, dtype, casting, order, subok) on
untouched, checks the parameters where the maths needs it, and exposes its raw ufunc as ``.ufunc``.
Most wrappers are C callables (``_wraps``, _forward.c), prelu and its backward too, with their
defs behind for the less common calls; prelu's backward from the output, rrelu and softplus's
backward from the output, which do more than forward, are defs.
"""

from operator import eq, ge, gt, le, lt, ne
import inspect
import math
import re
import textwrap
import types
import typing

import cython  # compile-time only: this module is built by Cython (see meson.build)
import numpy as np

from relukit import _chunked, _dispatch, _forward

_kernels = _dispatch.kernels
_ufuncs = _kernels.ufuncs
_u = types.SimpleNamespace(**_ufuncs)     # every ufunc by its __name__, for the wrappers' bodies
# the ufuncs the defs call, as module globals (a look-up in _u costs ~20 ns a call)
_LEAKY_RELU, _LEAKY_RELU_BACKWARD, _LEAKY_RELU_BACKWARD_FROM_OUTPUT = (
    _u.leaky_relu_ufunc, _u.leaky_relu_backward_ufunc, _u.leaky_relu_backward_from_output_ufunc)
_SOFTPLUS_BACKWARD_FROM_OUTPUT = _u.softplus_backward_from_output_ufunc
# Per-call cost at n = 1: a C wrapper costs 1.03-1.13x its ufunc (the compiled defs it replaced
# 1.12-1.21x, and 1.49x with out=; plain Python ones 1.2-1.4x: docs/performance.md). The defs that
# remain pass **kwargs on only when there are some (an empty **kwargs costs ~40 ns).


@cython.cfunc
def _holds(compare, a, b):
    """compare(a, b) for every element of two parameters (numbers or array_likes). An array
    against one number is checked through its largest or smallest element, and "not NaN" (a
    value equal to itself) through its largest, which is NaN if any is: one reduction, no
    temporary (hardtanh's min_val as a 1e5-element float32 array: the check cost 41 us, twice
    the kernel, against a float64 bound)."""
    if type(a) is float and type(b) is float:   # the common call: no array round trip
        return compare(a, b)
    if compare is eq and a is b:
        a = b = np.asarray(a)
        if a.dtype.kind == "f" and a.size:
            return not np.isnan(np.max(a))
    a, b = np.asarray(a), np.asarray(b)
    if (compare in _EXTREMES and (a.ndim == 0) != (b.ndim == 0) and a.size and b.size
            and a.dtype.kind in "fiu" and b.dtype.kind in "fiu"):
        of_a, of_b = _EXTREMES[compare]
        return bool(compare(of_a(a) if a.ndim else a, of_b(b) if b.ndim else b))
    return bool(np.all(compare(a, b)))


# compare(a, b) holds for every element where it holds for (the first, the second) of these
_EXTREMES = {le: (np.max, np.min), lt: (np.max, np.min), ge: (np.min, np.max), gt: (np.min, np.max)}


@cython.cfunc
def _require(op, compare, a, b, needs):
    # C functions in the compiled module: a parameter check costs a few ns, not two Python calls
    if not _holds(compare, a, b):
        raise ValueError(f"{op} needs {needs}")


# Blocks the wrappers' docstrings share: a line holding only ``{name}`` becomes the block, indented
# as that line (other braces in those docstrings are doubled, as for str.format).
_DOC_BLOCKS = {
    "g_x": """g : array_like
    The gradient with respect to the forward's output.
x : array_like
    The forward's input.""",
    "g_y": """g : array_like
    The gradient with respect to the forward's output.
y : array_like
    The forward's output.""",
    "ufunc_keywords_out_g": """**kwargs
    NumPy ufunc keywords (``out``, ``where``, ``dtype``, ...): ``out=g`` runs in place.""",
    "ufunc_keywords_out_x": """**kwargs
    NumPy ufunc keywords (``out``, ``where``, ``dtype``, ...): ``out=x`` runs in place.""",
    "returns": """Returns
-------
ndarray or scalar
    In the float dtype of the data.""",
}


def _fill_doc(function):
    doc = re.sub(r"^( *)\{(\w+)\}$", lambda m: textwrap.indent(_DOC_BLOCKS[m[2]], m[1]),
                 function.__doc__, flags=re.M)
    function.__doc__ = doc.replace("{{", "{").replace("}}", "}")
    return function


def _expose(wrapper):
    """The wrapper reports module relukit and carries its raw ufunc, `<name>_ufunc`, as `.ufunc`."""
    wrapper.ufunc = _ufuncs[f"{wrapper.__name__}_ufunc"]
    wrapper.__module__ = "relukit"
    return wrapper


# ---- ops without parameters: the ufuncs themselves -----------------------------------------------
relu = _u.relu
relu_backward = _u.relu_backward
relu_backward_from_output = _u.relu_backward_from_output
relu6 = _u.relu6
relu6_backward = _u.relu6_backward
relu6_backward_from_output = _u.relu6_backward_from_output
hardsigmoid = _u.hardsigmoid
hardsigmoid_backward = _u.hardsigmoid_backward
hardsigmoid_backward_from_output = _u.hardsigmoid_backward_from_output
hardswish = _u.hardswish
hardswish_backward = _u.hardswish_backward
softsign = _u.softsign
softsign_backward = _u.softsign_backward
softsign_backward_from_output = _u.softsign_backward_from_output
sparse_plus = _u.sparse_plus
sparse_plus_backward = _u.sparse_plus_backward
sparse_plus_backward_from_output = _u.sparse_plus_backward_from_output
sigmoid = _u.sigmoid
sigmoid_backward = _u.sigmoid_backward
sigmoid_backward_from_output = _u.sigmoid_backward_from_output
tanh = _u.tanh
tanh_backward = _u.tanh_backward
tanh_backward_from_output = _u.tanh_backward_from_output
tanhshrink = _u.tanhshrink
tanhshrink_backward = _u.tanhshrink_backward
selu = _u.selu
selu_backward = _u.selu_backward
selu_backward_from_output = _u.selu_backward_from_output
logsigmoid = _u.logsigmoid
logsigmoid_backward = _u.logsigmoid_backward
logsigmoid_backward_from_output = _u.logsigmoid_backward_from_output
mish = _u.mish
mish_backward = _u.mish_backward

class _UfuncDoc(typing.NamedTuple):
    """The docstrings of one op without parameters. The examples' outputs are literals, computed
    once by running them (the doctests check them); the backward examples use g = 1."""

    formula: str
    derivative: str         # and its convention at kinks
    notes: str
    example: tuple          # (x, forward output)
    backward_example: tuple  # (x, backward output): the from-output example gives the same
    from_output: str = ""   # the derivative as a function of y, when the op has that backward


# a select, not a product: the piecewise ops' backward
_SELECT = "where it is 0 the result is 0 whatever ``g`` holds (also inf or NaN)"

_UFUNC_DOCS = {
    "relu": _UfuncDoc(
        "Rectified linear unit, ``max(x, 0)``.",
        f"1 for x > 0, else 0 (0 at 0); {_SELECT}",
        "Bit for bit ``np.maximum(x, 0)`` for every non-NaN x: ``-0.0`` gives ``+0.0``, ``-inf``\n"
        "gives 0.",
        ("[-2.0, -0.0, 0.5, np.nan]", "array([0. , 0. , 0.5, nan])"),
        ("[-1.0, 0.0, 2.0, np.nan]", "array([ 0.,  0.,  1., nan])"),
        "1 for y > 0, else 0: the same rule as for x"),
    "relu6": _UfuncDoc(
        "ReLU capped at 6, ``min(max(x, 0), 6)``.",
        f"1 on (0, 6), else 0 (0 at 0 and at 6); {_SELECT}",
        "Bit for bit ``np.minimum(np.maximum(x, 0), 6)`` for every non-NaN x.",
        ("[-1.0, 3.0, 7.0]", "array([0., 3., 6.])"),
        ("[0.0, 3.0, 6.0, 7.0]", "array([0., 1., 0., 0.])"),
        "1 on 0 < y < 6, else 0: the same rule as for x"),
    "hardsigmoid": _UfuncDoc(
        "Hard sigmoid, ``relu6(x + 3) / 6``.",
        f"1/6 on (-3, 3), else 0 (0 at -3 and 3); {_SELECT}",
        "Within 1 ULP of the correctly rounded value: computed as ``(x + 3) / 6``, which does not\n"
        "cancel near -3 as ``x / 6 + 0.5`` does.",
        ("[-4.0, 0.0, 1.5]", "array([0.  , 0.5 , 0.75])"),
        ("[-3.0, 0.0, 3.0]", "array([0.        , 0.16666667, 0.        ])"),
        "1/6 on 0 < y < 1, else 0. The one loss: in float64 the float just below 3 has y rounded\n"
        "to 1, so it gets 0 here and 1/6 from x"),
    "hardswish": _UfuncDoc(
        "Hard swish, ``x * relu6(x + 3) / 6``.",
        f"0 for x <= -3, (2x + 3) / 6 on (-3, 3), 1 for x >= 3; {_SELECT}",
        "No intermediate overflow: ``hardswish(3e38)`` is ``3e38`` in float32; ``hardswish(-inf)``\n"
        "is 0. No backward from the output (y does not tell the two sides of its minimum apart).",
        ("[-4.0, -1.5, 4.0]", "array([ 0.   , -0.375,  4.   ])"),
        ("[-3.0, 0.0, 3.0]", "array([0. , 0.5, 1. ])")),
    "softsign": _UfuncDoc(
        "Softsign, ``x / (1 + |x|)``.",
        "1 / (1 + |x|)**2",
        "``softsign(+-inf)`` is +-1.",
        ("[-1.0, 0.0, 3.0, np.inf]", "array([-0.5 ,  0.  ,  0.75,  1.  ])"),
        ("[-1.0, 0.0, 3.0]", "array([0.25  , 1.    , 0.0625])"),
        "(1 - |y|)**2, which is 0 where y has rounded to +-1"),
    "sparse_plus": _UfuncDoc(
        "Sparse plus: 0 on (-inf, -1], ``(x + 1)**2 / 4`` on (-1, 1), x on [1, inf).",
        f"0, (x + 1) / 2, 1 on the same pieces; {_SELECT}",
        "A smooth ReLU that is exactly 0 and exactly x outside (-1, 1).",
        ("[-2.0, 0.0, 2.0]", "array([0.  , 0.25, 2.  ])"),
        ("[-1.0, 0.0, 1.0]", "array([0. , 0.5, 1. ])"),
        "0 for y <= 0, sqrt(y) on (0, 1), 1 for y >= 1"),
    "sigmoid": _UfuncDoc(
        "Logistic sigmoid, ``1 / (1 + exp(-x))``.",
        "sigmoid(x) sigmoid(-x), computed so (not as y (1 - y), which cancels as y -> 1)",
        "Within 4 ULP for every finite input; ``sigmoid(-inf)`` is exactly 0 and ``sigmoid(inf)``\n"
        "exactly 1.",
        ("[-np.inf, 0.0, np.inf]", "array([0. , 0.5, 1. ])"),
        ("[-2.0, 0.0, 2.0]", "array([0.10499359, 0.25      , 0.10499359])"),
        "y (1 - y), which cancels as y -> 1 (it is 0 where y has rounded to 1)"),
    "tanh": _UfuncDoc(
        "Hyperbolic tangent.",
        "sech(x)**2, computed as 4t / (1 + t)**2 with t = exp(-2|x|) (not 1 - y**2, which cancels)",
        "Within 4 ULP for every finite input; ``tanh(-0.0)`` is ``-0.0``.",
        ("[-np.inf, 0.0, 0.5]", "array([-1.        ,  0.        ,  0.46211716])"),
        ("[-2.0, 0.0, 0.5]", "array([0.07065082, 1.        , 0.78644773])"),
        "(1 - y)(1 + y), which cancels as |y| -> 1 (it is 0 where y has rounded to +-1)"),
    "tanhshrink": _UfuncDoc(
        "Tanh shrinkage, ``x - tanh(x)``.",
        "tanh(x)**2",
        "Within 4 ULP: near 0, where ``x - tanh(x)`` would cancel, it is computed from Lambert's\n"
        "continued fraction. No backward from the output.",
        ("[-1.0, 1e-5, 3.0]", "array([-2.38405844e-01,  3.33333333e-16,  2.00494525e+00])"),
        ("[-1.0, 0.0, 2.0]", "array([0.58002566, 0.        , 0.92934918])")),
    "selu": _UfuncDoc(
        "Scaled ELU, ``scale * (x if x > 0 else alpha * expm1(x))`` with SELU's fixed constants\n"
        "(scale = 1.0507..., alpha = 1.6732...).",
        "scale for x > 0, else scale * alpha * exp(x) (scale * alpha at 0)",
        "Within 4 ULP for every finite input.",
        ("[-1.0, 0.0, 1.0]", "array([-1.11133074,  0.        ,  1.05070099])"),
        ("[-1.0, 0.0, 1.0]", "array([0.6467686 , 1.75809934, 1.05070099])"),
        "scale for y > 0, else y + scale * alpha (the constant carried in two parts, so the sum is\n"
        "exact as y -> -scale * alpha)"),
    "logsigmoid": _UfuncDoc(
        "Log of the sigmoid, ``-softplus(-x)``, computed stably.",
        "sigmoid(-x)",
        "Within 4 ULP for every finite input; ``logsigmoid(-1000.0)`` is ``-1000.0``, not ``-inf``.",
        ("[-1000.0, 0.0, 30.0]", "array([-1.00000000e+03, -6.93147181e-01, -9.35762297e-14])"),
        ("[-1000.0, 0.0, 30.0]", "array([1.00000000e+00, 5.00000000e-01, 9.35762297e-14])"),
        "-expm1(y)"),
    "mish": _UfuncDoc(
        "Mish, ``x * tanh(softplus(x))``.",
        "tanh(sp) + x sigmoid(x) sech(sp)**2 with sp = softplus(x)",
        "``mish(-inf)`` is 0. No backward from the output (y does not tell the two sides of its\n"
        "minimum apart).",
        ("[-1.0, 0.0, 1.0]", "array([-0.30340146,  0.        ,  0.86509839])"),
        ("[-1.0, 0.0, 1.0]", "array([0.05921676, 0.6       , 1.04903622])")),
}

_UFUNC_KEYWORDS = "/, out=None, *, where=True, casting='same_kind', order='K', dtype=None"
_UFUNC_PARAMETERS = """out, where, casting, order, dtype
    NumPy ufunc keywords"""
_UFUNC_DTYPES = """float16, float32 and float64 keep their dtype (float16 is computed in float32 and rounded
once); integers and bools are cast as ``np.sqrt`` casts them."""


def _document_ufuncs():
    for name, doc in _UFUNC_DOCS.items():
        (x, y), (backward_x, backward_out) = doc.example, doc.backward_example
        _ufuncs[name].__doc__ = f"""{name}(x, {_UFUNC_KEYWORDS})

{doc.formula} A NumPy ufunc, elementwise.

Parameters
----------
x : array_like
{_UFUNC_PARAMETERS}: ``out=x`` runs in place.

Returns
-------
ndarray or scalar
    In x's float dtype.

Notes
-----
{doc.notes} NaN propagates.

{_UFUNC_DTYPES}

Examples
--------
>>> import numpy as np, relukit
>>> relukit.{name}(np.array({x}))
{y}
"""
        _ufuncs[f"{name}_backward"].__doc__ = f"""{name}_backward(g, x, {_UFUNC_KEYWORDS})

Gradient of ``{name}`` with respect to its input: ``g * {name}'(x)``. A NumPy ufunc.

Parameters
----------
g : array_like
    The gradient with respect to ``{name}(x)``.
x : array_like
    The forward's input.
{_UFUNC_PARAMETERS}: ``out=g`` runs in place.

Returns
-------
ndarray or scalar
    In the float dtype of g and x.

Notes
-----
The derivative is {doc.derivative}. NaN in ``x`` gives NaN.

Examples
--------
>>> import numpy as np, relukit
>>> x = np.array({backward_x})
>>> relukit.{name}_backward(np.ones_like(x), x)
{backward_out}
"""
        if doc.from_output:
            _ufuncs[f"{name}_backward_from_output"].__doc__ = f"""{name}_backward_from_output(g, y, {_UFUNC_KEYWORDS})

Gradient of ``{name}`` from its output ``y = {name}(x)``. A NumPy ufunc.

It gives what ``{name}_backward(g, x)`` gives, up to the rounding of y (see Notes), and lets the
forward run in place (``{name}(x, out=x)``) and still train.

Parameters
----------
g : array_like
    The gradient with respect to ``y``.
y : array_like
    The forward's output.
{_UFUNC_PARAMETERS}: ``out=g`` runs in place.

Returns
-------
ndarray or scalar
    In the float dtype of g and y.

Notes
-----
The derivative as a function of y: {doc.from_output}. NaN in ``y`` gives NaN.

Examples
--------
The gradient from the output equals the one from the input:

>>> import numpy as np, relukit
>>> x = np.array({backward_x})
>>> relukit.{name}_backward_from_output(np.ones_like(x), relukit.{name}(x))
{backward_out}
"""


_document_ufuncs()


# ---- ops with parameters: wrappers with keyword defaults ------------------------------------------
def _wraps(check=None, choices=None, slopes_for=None):
    """Makes the decorated def, a signature and a docstring, the op's C callable (_forward.c): it
    binds the arguments as the def would, calls check(op, *parameters) unless each parameter is
    its default or the one that passed last, and calls the ufunc ``<op>_ufunc`` (with `choices`,
    the one its last parameter names, not passed on) with NumPy's keywords untouched.

    With `slopes_for` (a leaky_relu ufunc), the def is prelu's: its last two parameters, weight
    and axis, become that ufunc's slopes, in C for the common call (at n = 1, 1.1x the ufunc's
    time; the def 2.0x), and the def, kept as ``.python``, takes every other call."""
    def wrap(spec):
        signature = inspect.signature(spec)
        params = [p for p in signature.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        names = tuple(p.name for p in params)
        defaults = tuple(p.default for p in params if p.default is not p.empty)
        ndata = sum(name in ("g", "x", "y") for name in names)
        ufunc = slopes_for if slopes_for is not None else (
            None if choices else _ufuncs[f"{spec.__name__}_ufunc"])
        wrapper = _forward.wrapper(spec.__name__, choices or ufunc, names, defaults, ndata, check,
                                   bool(choices), None if slopes_for is None else spec)
        wrapper.__name__ = wrapper.__qualname__ = spec.__name__
        wrapper.__doc__, wrapper.__signature__ = spec.__doc__, signature
        wrapper.__module__ = "relukit"
        if slopes_for is not None:
            wrapper.python = spec
        elif ufunc is not None:
            wrapper.ufunc = ufunc
        return wrapper
    return wrap


# The parameter checks: check(op, *parameters) raises ValueError naming what the maths forbids.
@cython.ccall
def _check_positive_slope(op, negative_slope):
    _require(op, gt, negative_slope, 0.0,
             "negative_slope > 0: with a negative slope the sign of y no longer tells x > 0 from "
             "x <= 0, and with 0 the forward's -inf * 0 is NaN; use leaky_relu_backward(g, x)")


@cython.ccall
def _check_hardtanh(op, min_val, max_val):
    _require(op, le, min_val, max_val, "min_val <= max_val")


@cython.ccall
def _check_threshold(op, threshold, value):
    # a NaN bound would select by a comparison that is always false, which the kernels and the
    # obvious NumPy expression resolve differently (x <= t ? v : x against x > t ? x : v)
    _require(op, eq, threshold, threshold, "a threshold that is not NaN")


@cython.ccall
def _check_threshold_from_output(op, threshold, value):
    _require(op, le, value, threshold, "value <= threshold: a larger value makes replaced "
             "elements look like kept ones; use threshold_backward(g, x, ...)")


@cython.ccall
def _check_hardshrink(op, lambd):
    _require(op, eq, lambd, lambd, "a lambd that is not NaN")     # as threshold's


@cython.ccall
def _check_lambd(op, lambd):
    _require(op, ge, lambd, 0.0, "lambd >= 0")


@cython.ccall
def _check_b(op, b):
    _require(op, gt, b, 0.0, "b > 0")
    # an infinite b makes b / (2 (sqrt(x^2 + b) - x)), the form for x < 0, inf / inf
    _require(op, lt, b, math.inf, "a finite b")


@cython.ccall
def _check_elu_from_output(op, alpha):
    _require(op, ge, alpha, 0.0, "alpha >= 0: with a negative alpha y > 0 no longer tells x > 0; "
             "use elu_backward(g, x, alpha)")


@cython.ccall
def _check_celu(op, alpha):
    _require(op, ne, alpha, 0.0, "alpha != 0 (it divides x by alpha)")


@cython.ccall
def _check_celu_from_output(op, alpha):
    _require(op, gt, alpha, 0.0, "alpha > 0")


@cython.ccall
def _check_softplus(op, beta, threshold):
    _require(op, ne, beta, 0.0, "beta != 0 (it divides by beta)")


@cython.ccall
def _check_silu(op, beta):
    _require(op, gt, beta, 0.0, "beta > 0")


_GELU_FORWARDS = {"none": _u.gelu_erf, "tanh": _u.gelu_tanh}
_GELU_BACKWARDS = {"none": _u.gelu_erf_backward, "tanh": _u.gelu_tanh_backward}


def _check_gelu(op, approximate):
    """Raises for an approximate that is not "none" or "tanh" (the wrapper looks it up first)."""
    try:
        _GELU_FORWARDS[approximate]
    except (KeyError, TypeError):
        raise ValueError(f"{op} approximate must be 'none' or 'tanh', got {approximate!r}"
                         ) from None


@_wraps()
def leaky_relu(x, negative_slope=0.01, **kwargs):
    """Leaky ReLU: ``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    x : array_like
    negative_slope : float or array_like, default 0.01
        Broadcasts against ``x``: per-channel slopes give PReLU.
    **kwargs
        NumPy ufunc keywords: ``out`` (``out=x`` runs in place), ``where``, ``dtype``,
        ``casting``, ``order``.

    Bit for bit ``np.where(x > 0, x, x * negative_slope)`` in x's dtype; NaN propagates. The
    derivative at 0 is ``negative_slope``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.leaky_relu(np.array([-2.0, 3.0]), negative_slope=0.1)
    array([-0.2,  3. ])
    """


@_wraps()
def leaky_relu_backward(g, x, negative_slope=0.01, **kwargs):
    """Gradient of leaky_relu: ``g`` where ``x > 0``, else ``negative_slope * g``.

    Parameters
    ----------
    {g_x}
    negative_slope : float or array_like, default 0.01
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    At 0 the derivative is ``negative_slope``; NaN in x gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-2.0, 0.0, 3.0])
    >>> relukit.leaky_relu_backward(np.ones_like(x), x, negative_slope=0.1)
    array([0.1, 0.1, 1. ])
    """


@_wraps(check=_check_positive_slope)
def leaky_relu_backward_from_output(g, y, negative_slope=0.01, **kwargs):
    """Gradient of leaky_relu from its output ``y``.

    Parameters
    ----------
    {g_y}
    negative_slope : float or array_like, default 0.01
        Must be > 0 (else ValueError).
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    With a positive slope ``y > 0`` exactly where ``x > 0``, so this equals
    ``leaky_relu_backward(g, x, negative_slope)`` bit for bit.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-2.0, 0.0, 3.0])
    >>> y = relukit.leaky_relu(x, negative_slope=0.1)
    >>> relukit.leaky_relu_backward_from_output(np.ones_like(x), y, negative_slope=0.1)
    array([0.1, 0.1, 1. ])
    """


@_wraps(check=_check_hardtanh)
def hardtanh(x, min_val=-1.0, max_val=1.0, **kwargs):
    """Hard tanh: ``x`` clipped to ``[min_val, max_val]``.

    Parameters
    ----------
    x : array_like
    min_val, max_val : float or array_like, default -1.0 and 1.0
        Need ``min_val <= max_val`` (else ValueError).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        Bit for bit ``np.clip(x, min_val, max_val)`` (so ``-0.0`` stays ``-0.0``); NaN propagates.

    Notes
    -----
    The derivative is 1 on ``(min_val, max_val)`` and 0 elsewhere, also at the bounds.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.hardtanh(np.array([-2.0, 0.5, 2.0]))
    array([-1. ,  0.5,  1. ])
    """


@_wraps(check=_check_hardtanh)
def hardtanh_backward(g, x, min_val=-1.0, max_val=1.0, **kwargs):
    """Gradient of hardtanh: ``g`` where ``min_val < x < max_val``, else 0.

    Parameters
    ----------
    {g_x}
    min_val, max_val : float or array_like, default -1.0 and 1.0
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    0 at the bounds, and 0 whatever ``g`` holds outside them (a select, not a product); NaN in x
    gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 1.0, 2.0])
    >>> relukit.hardtanh_backward(np.ones_like(x), x)
    array([0., 1., 0., 0.])
    """


@_wraps(check=_check_hardtanh)
def hardtanh_backward_from_output(g, y, min_val=-1.0, max_val=1.0, **kwargs):
    """Gradient of hardtanh from its output: ``g`` where ``min_val < y < max_val``, else 0.

    Parameters
    ----------
    {g_y}
    min_val, max_val : float or array_like, default -1.0 and 1.0
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    ``y`` is strictly inside the bounds exactly where ``x`` is, so this equals
    ``hardtanh_backward(g, x, min_val, max_val)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 1.0, 2.0])
    >>> relukit.hardtanh_backward_from_output(np.ones_like(x), relukit.hardtanh(x))
    array([0., 1., 0., 0.])
    """


@_wraps(check=_check_threshold)
def threshold(x, threshold, value, **kwargs):
    """``x`` where ``x > threshold``, else ``value`` (PyTorch's ``F.threshold``).

    Parameters
    ----------
    x : array_like
    threshold, value : float or array_like
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates.

    Notes
    -----
    The derivative is 1 above the threshold and 0 at and below it.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.threshold(np.array([0.5, 1.0, 2.0]), 1.0, -5.0)
    array([-5., -5.,  2.])
    """


@_wraps(check=_check_threshold)
def threshold_backward(g, x, threshold, value, **kwargs):
    """Gradient of threshold: ``g`` where ``x > threshold``, else 0.

    Parameters
    ----------
    {g_x}
    threshold, value : float or array_like
        As given to the forward (``value`` is not used).
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    0 at the threshold itself; NaN in x gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([0.5, 1.0, 2.0])
    >>> relukit.threshold_backward(np.ones_like(x), x, 1.0, -5.0)
    array([0., 0., 1.])
    """


@_wraps(check=_check_threshold_from_output)
def threshold_backward_from_output(g, y, threshold, value, **kwargs):
    """Gradient of threshold from its output: ``g`` where ``y > threshold``, else 0.

    Parameters
    ----------
    {g_y}
    threshold, value : float or array_like
        Need ``value <= threshold`` (else ValueError).
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    With ``value <= threshold``, ``y > threshold`` exactly where ``x > threshold``, so this equals
    ``threshold_backward(g, x, threshold, value)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([0.5, 1.0, 2.0])
    >>> y = relukit.threshold(x, 1.0, -5.0)
    >>> relukit.threshold_backward_from_output(np.ones_like(x), y, 1.0, -5.0)
    array([0., 0., 1.])
    """


@_wraps(check=_check_hardshrink)
def hardshrink(x, lambd=0.5, **kwargs):
    """Hard shrinkage: ``x`` where ``|x| > lambd``, else 0.

    Parameters
    ----------
    x : array_like
    lambd : float or array_like, default 0.5
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates.

    Notes
    -----
    The derivative is 1 where ``|x| > lambd``, else 0 (0 at ``+-lambd``).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.hardshrink(np.array([-1.0, 0.3, 0.7]))
    array([-1. ,  0. ,  0.7])
    """


@_wraps(check=_check_hardshrink)
def hardshrink_backward(g, x, lambd=0.5, **kwargs):
    """Gradient of hardshrink: ``g`` where ``|x| > lambd``, else 0.

    Parameters
    ----------
    {g_x}
    lambd : float or array_like, default 0.5
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    0 at ``+-lambd``; NaN in x gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.5, 0.7])
    >>> relukit.hardshrink_backward(np.ones_like(x), x)
    array([1., 0., 1.])
    """


@_wraps(check=_check_lambd)
def hardshrink_backward_from_output(g, y, lambd=0.5, **kwargs):
    """Gradient of hardshrink from its output: ``g`` where ``|y| > lambd``, else 0.

    Parameters
    ----------
    {g_y}
    lambd : float or array_like, default 0.5
        Must be >= 0 (else ValueError).
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    With ``lambd >= 0``, ``|y| > lambd`` exactly where ``|x| > lambd``, so this equals
    ``hardshrink_backward(g, x, lambd)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.5, 0.7])
    >>> relukit.hardshrink_backward_from_output(np.ones_like(x), relukit.hardshrink(x))
    array([1., 0., 1.])
    """


@_wraps(check=_check_lambd)
def softshrink(x, lambd=0.5, **kwargs):
    """Soft shrinkage: ``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0.

    Parameters
    ----------
    x : array_like
    lambd : float or array_like, default 0.5
        Must be >= 0, as in PyTorch (else ValueError).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates.

    Notes
    -----
    The derivative is 1 where ``|x| > lambd``, else 0 (0 at ``+-lambd``).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.softshrink(np.array([-1.0, 0.3, 0.75]))
    array([-0.5 ,  0.  ,  0.25])
    """


@_wraps(check=_check_lambd)
def softshrink_backward(g, x, lambd=0.5, **kwargs):
    """Gradient of softshrink: ``g`` where ``|x| > lambd``, else 0.

    Parameters
    ----------
    {g_x}
    lambd : float or array_like, default 0.5
        Must be >= 0.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    0 at ``+-lambd``; NaN in x gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.5, 0.75])
    >>> relukit.softshrink_backward(np.ones_like(x), x)
    array([1., 0., 1.])
    """


@_wraps(check=_check_lambd)
def softshrink_backward_from_output(g, y, lambd=0.5, **kwargs):
    """Gradient of softshrink from its output: ``g`` where ``y != 0``, else 0.

    Parameters
    ----------
    {g_y}
    lambd : float or array_like, default 0.5
        Must be >= 0.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    ``y`` is 0 exactly where ``|x| <= lambd`` (``x - lambd`` of two distinct floats is never 0), so
    this equals ``softshrink_backward(g, x, lambd)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.5, 0.75])
    >>> relukit.softshrink_backward_from_output(np.ones_like(x), relukit.softshrink(x))
    array([1., 0., 1.])
    """


@_wraps(check=_check_b)
def squareplus(x, b=4.0, **kwargs):
    """Squareplus, ``(x + sqrt(x**2 + b)) / 2``: a smooth ReLU built from a square root.

    Parameters
    ----------
    x : array_like
    b : float or array_like, default 4.0
        Must be > 0 (else ValueError).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates.

    Notes
    -----
    Computed without cancellation for x < 0 (as ``b / (2 (sqrt(x**2 + b) - x))``) and without
    overflow for huge |x|; ``squareplus(-inf)`` is 0. The derivative is
    ``(1 + x / sqrt(x**2 + b)) / 2``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.squareplus(np.array([-3.0, 0.0, 3.0]), b=16.0)
    array([1., 2., 4.])
    """


@_wraps(check=_check_b)
def squareplus_backward(g, x, b=4.0, **kwargs):
    """Gradient of squareplus: ``g * (1 + x / sqrt(x**2 + b)) / 2``.

    Parameters
    ----------
    {g_x}
    b : float or array_like, default 4.0
        Must be > 0.
    {ufunc_keywords_out_g}

    {returns}

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-3.0, 0.0, 3.0])
    >>> relukit.squareplus_backward(np.ones_like(x), x, b=16.0)
    array([0.2, 0.5, 0.8])
    """


@_wraps(check=_check_b)
def squareplus_backward_from_output(g, y, b=4.0, **kwargs):
    """Gradient of squareplus from its output: ``g * 4y**2 / (4y**2 + b)``.

    Parameters
    ----------
    {g_y}
    b : float or array_like, default 4.0
        Must be > 0.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    squareplus is increasing, so y determines x; the formula is the derivative rewritten in y.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-3.0, 0.0, 3.0])
    >>> y = relukit.squareplus(x, b=16.0)
    >>> relukit.squareplus_backward_from_output(np.ones_like(x), y, b=16.0)
    array([0.2, 0.5, 0.8])
    """


@_wraps()
def elu(x, alpha=1.0, **kwargs):
    """Exponential linear unit: ``x`` where ``x > 0``, else ``alpha * expm1(x)``.

    Parameters
    ----------
    x : array_like
    alpha : float or array_like, default 1.0
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        Within 4 ULP for every finite input; NaN propagates.

    Notes
    -----
    The derivative is 1 for x > 0 and ``alpha * exp(x)`` otherwise (``alpha`` at 0).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.elu(np.array([-1.0, 0.0, 2.0]), alpha=1.0)
    array([-0.63212056,  0.        ,  2.        ])
    """


@_wraps()
def elu_backward(g, x, alpha=1.0, **kwargs):
    """Gradient of elu: ``g`` where ``x > 0``, else ``g * alpha * exp(x)``.

    Parameters
    ----------
    {g_x}
    alpha : float or array_like, default 1.0
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    At 0 the derivative is ``alpha``; NaN in x gives NaN.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> relukit.elu_backward(np.ones_like(x), x, alpha=0.5)
    array([0.18393972, 0.5       , 1.        ])
    """


@_wraps(check=_check_elu_from_output)
def elu_backward_from_output(g, y, alpha=1.0, **kwargs):
    """Gradient of elu from its output: ``g`` where ``y > 0``, else ``g * (y + alpha)``.

    Parameters
    ----------
    {g_y}
    alpha : float or array_like, default 1.0
        Must be >= 0 (else ValueError): then ``y > 0`` exactly where ``x > 0``.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    ``alpha * exp(x) = y + alpha`` where ``x <= 0``. Where y has rounded to ``-alpha`` (x below
    about -37 in float64, -17 in float32) this gives 0, not the tiny ``alpha * exp(x)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> y = relukit.elu(x, alpha=0.5)
    >>> relukit.elu_backward_from_output(np.ones_like(x), y, alpha=0.5)
    array([0.18393972, 0.5       , 1.        ])
    """


@_wraps(check=_check_celu)
def celu(x, alpha=1.0, **kwargs):
    """Continuously differentiable ELU: ``max(0, x) + min(0, alpha * expm1(x / alpha))``.

    Parameters
    ----------
    x : array_like
    alpha : float or array_like, default 1.0
        Must not be 0 (else ValueError).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates.

    Notes
    -----
    The derivative is 1 for x > 0, else ``exp(x / alpha)`` (1 at 0).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.celu(np.array([-1.0, 2.0]), alpha=2.0)
    array([-0.78693868,  2.        ])
    """


@_wraps(check=_check_celu)
def celu_backward(g, x, alpha=1.0, **kwargs):
    """Gradient of celu: ``g`` where ``x > 0``, else ``g * exp(x / alpha)``.

    Parameters
    ----------
    {g_x}
    alpha : float or array_like, default 1.0
        Must not be 0.
    {ufunc_keywords_out_g}

    {returns}

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> relukit.celu_backward(np.ones_like(x), x, alpha=2.0)
    array([0.60653066, 1.        , 1.        ])
    """


@_wraps(check=_check_celu_from_output)
def celu_backward_from_output(g, y, alpha=1.0, **kwargs):
    """Gradient of celu from its output: ``g`` where ``y > 0``, else ``g * (y + alpha) / alpha``.

    Parameters
    ----------
    {g_y}
    alpha : float or array_like, default 1.0
        Must be > 0 (else ValueError): then ``y > 0`` exactly where ``x > 0``.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    ``exp(x / alpha) = (y + alpha) / alpha`` where ``x <= 0``; ``y + alpha`` is exact as
    ``y -> -alpha``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> y = relukit.celu(x, alpha=2.0)
    >>> relukit.celu_backward_from_output(np.ones_like(x), y, alpha=2.0)
    array([0.60653066, 1.        , 1.        ])
    """


@_wraps(check=_check_softplus)
def softplus(x, beta=1.0, threshold=20.0, **kwargs):
    """Softplus, ``log1p(exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``.

    Parameters
    ----------
    x : array_like
    beta : float or array_like, default 1.0
        Must not be 0 (else ValueError).
    threshold : float or array_like, default 20.0
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        Within 4 ULP; NaN propagates.

    Notes
    -----
    Computed stably: no overflow for large x, no underflow to 0 for very negative x. The
    derivative is ``sigmoid(beta * x)``, and 1 above the threshold.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.softplus(np.array([-50.0, 0.0, 50.0]))
    array([1.92874985e-22, 6.93147181e-01, 5.00000000e+01])
    """


@_wraps(check=_check_softplus)
def softplus_backward(g, x, beta=1.0, threshold=20.0, **kwargs):
    """Gradient of softplus: ``g * sigmoid(beta * x)``, and ``g`` where ``beta * x > threshold``.

    Parameters
    ----------
    {g_x}
    beta : float or array_like, default 1.0
        Must not be 0.
    threshold : float or array_like, default 20.0
    {ufunc_keywords_out_g}

    {returns}

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-50.0, 0.0, 50.0])
    >>> relukit.softplus_backward(np.ones_like(x), x)
    array([1.92874985e-22, 5.00000000e-01, 1.00000000e+00])
    """


@_expose
def softplus_backward_from_output(g, y, beta=1.0, threshold=20.0, **kwargs):
    """Gradient of softplus from its output: ``-g * expm1(-beta * y)``, and ``g`` where ``beta * y > threshold``.

    Parameters
    ----------
    {g_y}
    beta : float or array_like, default 1.0
        Must not be 0.
    threshold : float or array_like, default 20.0
        Needs ``threshold >= 8.318`` for float16 outputs, ``17.329`` for float32 and ``37.43`` for
        float64 (else ValueError); ``inf`` (no linear part) always works.
    {ufunc_keywords_out_g}

    {returns}

    Notes
    -----
    ``exp(beta * y) = 1 + exp(beta * x)``, so ``sigmoid(beta * x) = -expm1(-beta * y)``. Past the
    threshold the forward is x itself, so outputs just above ``threshold / beta`` come both from
    inputs below it (``y = softplus(x)`` exceeds x by ``log1p(exp(-threshold)) / beta``) and
    from inputs above it (``y = x``), whose gradients differ by ``1 - sigmoid(threshold)``. That
    difference rounds away only from ``threshold = (p + 1) ln 2`` on, p the dtype's precision
    (11, 24, 53 bits): below, y does not give the gradient, and the call is refused. The default
    threshold of 20 is enough for float16 and float32, not for float64.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-50.0, 0.0, 50.0])
    >>> y = relukit.softplus(x, threshold=40.0)
    >>> relukit.softplus_backward_from_output(np.ones_like(x), y, threshold=40.0)
    array([1.92874985e-22, 5.00000000e-01, 1.00000000e+00])
    """
    _check_softplus("softplus_backward_from_output", beta, threshold)
    # enough for every dtype, or (the default 20) for float32 and float16 arrays: no dtype look-up
    if not (type(threshold) is float and (threshold >= 37.43 or (
            threshold >= 17.329 and type(beta) is float and type(y) is _NDARRAY
            and type(g) is _NDARRAY and (y.dtype is _FLOAT32 or y.dtype is _FLOAT16)
            and g.dtype is y.dtype and "dtype" not in kwargs))):
        _check_softplus_from_output(g, y, beta, threshold, kwargs.get("dtype"))
    if kwargs:
        return _SOFTPLUS_BACKWARD_FROM_OUTPUT(g, y, beta, threshold, **kwargs)
    return _SOFTPLUS_BACKWARD_FROM_OUTPUT(g, y, beta, threshold)


_NDARRAY, _FLOAT32, _FLOAT16 = np.ndarray, np.dtype(np.float32), np.dtype(np.float16)
# From these thresholds on 1 - sigmoid(threshold) < 2**-(p + 1), so the gradients on the two sides
# of the threshold round alike (float16 is computed in float32, then rounded to 11 bits)
_SOFTPLUS_FROM_OUTPUT_THRESHOLDS = {"e": 8.318, "f": 17.329, "d": 37.43}


def _check_softplus_from_output(g, y, beta, threshold, dtype):
    if dtype is None:
        # the loop NumPy will pick: the operands' dtypes (not their data: a dask array stays
        # lazy), Python numbers as weak scalars
        dtype = np.result_type(*(a.dtype if hasattr(a, "dtype") else
                                 a if isinstance(a, (int, float)) else np.asarray(a).dtype
                                 for a in (g, y, beta, threshold)))
    dtype = np.dtype(dtype)
    least = _SOFTPLUS_FROM_OUTPUT_THRESHOLDS.get(dtype.char, 37.43)
    if not _holds(ge, threshold, least):
        raise ValueError(
            f"softplus_backward_from_output needs threshold >= {least} for {dtype.name} outputs: "
            f"below it, outputs just above the threshold come from inputs on both sides of it, "
            f"whose gradients differ by 1 - sigmoid(threshold); use softplus_backward(g, x), or "
            f"threshold=inf")


@_wraps(check=_check_silu)
def silu(x, beta=1.0, **kwargs):
    """SiLU / swish, ``x * sigmoid(beta * x)``; ``beta=1.702`` is the quick GELU.

    Parameters
    ----------
    x : array_like
    beta : float or array_like, default 1.0
        Must be > 0 (else ValueError).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        NaN propagates; ``silu(-inf)`` is 0.

    Notes
    -----
    The derivative is ``s * (1 + beta * x * (1 - s))`` with ``s = sigmoid(beta * x)``. No backward
    from the output (y does not tell the two sides of its minimum apart).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.silu(np.array([-1.0, 0.0, 1.0]))
    array([-0.26894142,  0.        ,  0.73105858])
    """


@_wraps(check=_check_silu)
def silu_backward(g, x, beta=1.0, **kwargs):
    """Gradient of silu: ``g * s * (1 + beta * x * (1 - s))``, ``s = sigmoid(beta * x)``.

    Parameters
    ----------
    {g_x}
    beta : float or array_like, default 1.0
        Must be > 0.
    {ufunc_keywords_out_g}

    {returns}

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 1.0])
    >>> relukit.silu_backward(np.ones_like(x), x)
    array([0.07232949, 0.5       , 0.92767051])
    """


@_wraps(check=_check_gelu, choices=_GELU_FORWARDS)
def gelu(x, approximate="none", **kwargs):
    """Gaussian error linear unit, ``x * Phi(x)``, or PyTorch's tanh approximation.

    Parameters
    ----------
    x : array_like
    approximate : {{"none", "tanh"}}, default "none"
        "none": ``x * Phi(x)`` with Phi the standard normal CDF (the raw ufunc ``relukit.gelu_erf``);
        "tanh": ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))`` (``relukit.gelu_tanh``).
    {ufunc_keywords_out_x}

    Returns
    -------
    ndarray or scalar
        Within 4 ULP for every finite input, also far in the negative tail (through erfc, with the
        rounding of its argument put back); ``gelu(-inf)`` is 0; NaN propagates.

    Notes
    -----
    No backward from the output (y does not tell the two sides of its minimum apart).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.gelu(np.array([-1.0, 0.0, 1.0]))
    array([-0.15865525,  0.        ,  0.84134475])
    >>> relukit.gelu(np.array([-1.0, 0.0, 1.0]), approximate="tanh")
    array([-0.15880801,  0.        ,  0.84119199])
    """


@_wraps(check=_check_gelu, choices=_GELU_BACKWARDS)
def gelu_backward(g, x, approximate="none", **kwargs):
    """Gradient of gelu: ``g * (Phi(x) + x phi(x))``, or the tanh form's exact derivative.

    Parameters
    ----------
    {g_x}
    approximate : {{"none", "tanh"}}, default "none"
        As given to the forward.
    {ufunc_keywords_out_g}

    {returns}

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 1.0])
    >>> relukit.gelu_backward(np.ones_like(x), x)
    array([-0.08331547,  0.5       ,  1.08331547])
    >>> relukit.gelu_backward(np.ones_like(x), x, approximate="tanh")
    array([-0.08296408,  0.5       ,  1.08296408])
    """


# ---- prelu: leaky_relu with one learned slope per channel ------------------------------------------
@cython.cfunc
def _channel_slopes(x, weight, axis, dtype):
    """weight as slopes that broadcast along `axis` of x; a weight of size 1 is one slope."""
    if type(weight) is not np.ndarray or (weight.dtype is not dtype and weight.dtype != dtype):
        weight = np.asarray(weight)
        # checked before the cast, which would drop a complex weight's imaginary part with a warning
        if weight.dtype.kind not in "biuf":
            raise TypeError(f"prelu weight must be real numbers, got {weight.dtype}")
        weight = weight.astype(dtype, copy=False)
    if weight.ndim > 1:
        raise ValueError(f"prelu weight must be 1-D (one slope per channel), got shape {weight.shape}")
    shape = x.shape if type(x) is np.ndarray else np.shape(x)
    ndim, size = len(shape), weight.size
    # x with fewer than 2 dimensions has no channel axis (as in PyTorch): only one slope fits
    if (ndim >= 2 or size != 1) and not -ndim <= axis < ndim:
        raise ValueError(f"prelu axis {axis} is out of range for x with {ndim} dimensions")
    # (reshaped only where broadcasting needs it: a reshape costs ~0.15 us a call)
    if size == 1:
        return weight if ndim else weight.reshape(())
    axis %= ndim
    if size != shape[axis]:
        raise ValueError(f"prelu weight has {size} slopes but x has {shape[axis]} channels "
                         f"along axis {axis}")
    return weight.reshape((size,) + (1,) * (ndim - axis - 1)) if axis < ndim - 1 else weight


def _float_dtype(op, *arrays):
    """The result dtype of prelu and rrelu: leaky_relu's with a Python float slope (float64 for
    integer and bool arrays, NumPy's promotion of an integer array and a Python float)."""
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray and arrays[0].dtype.kind == "f":
        return arrays[0].dtype                  # the common call, without result_type's cost
    # (result_type would read a list as a dtype specification; a dask array keeps its dtype)
    dtype = np.result_type(*[a if hasattr(a, "dtype") else np.asarray(a) for a in arrays])
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype.kind != "f":
        raise TypeError(f"{op} needs real numbers, got {dtype}")
    return dtype


@_wraps(slopes_for=_LEAKY_RELU)
def prelu(x, weight, axis=1, **kwargs):
    """Parametric ReLU: ``x`` where ``x > 0``, else ``weight[c] * x`` for the channel ``c`` of x.

    Parameters
    ----------
    x : array_like
    weight : array_like
        One slope (size 1) or one per channel: ``x.shape[axis]`` slopes. Cast to x's float dtype.
    axis : int, default 1
        The channel axis (1 as in PyTorch's NCHW layout; -1 for channels last).
    **kwargs
        NumPy ufunc keywords (``out``, ``where``, ...), as for ``leaky_relu``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([[-1.0, -1.0], [2.0, -2.0]])
    >>> relukit.prelu(x, np.array([0.1, 0.5]), axis=1)
    array([[-0.1, -0.5],
           [ 2. , -1. ]])
    """
    if type(x) is not np.ndarray and _chunked.has_dataset(x):    # (NumPy told cheaply: n=1)
        return _chunked.each_variable(prelu, x, weight, axis=axis, **kwargs)
    dtype = _float_dtype("prelu", x)
    if kwargs:
        return _LEAKY_RELU(x, _channel_slopes(x, weight, axis, dtype), **kwargs)
    return _LEAKY_RELU(x, _channel_slopes(x, weight, axis, dtype))


@_wraps(slopes_for=_LEAKY_RELU_BACKWARD)
def prelu_backward(g, x, weight, axis=1, **kwargs):
    """Gradient of prelu with respect to its input: ``g`` where ``x > 0``, else ``weight[c] * g``.

    Parameters
    ----------
    {g_x}
    weight : array_like
        The forward's slopes: one, or ``x.shape[axis]``.
    axis : int, default 1
        The channel axis.
    **kwargs
        NumPy ufunc keywords (``out=g`` runs in place).

    {returns}

    Notes
    -----
    At 0 the derivative is the channel's slope. The weight's gradient is ``prelu_weight_grad``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([[-1.0, 0.0], [2.0, -2.0]])
    >>> relukit.prelu_backward(np.ones_like(x), x, np.array([0.1, 0.5]), axis=1)
    array([[0.1, 0.5],
           [1. , 0.5]])
    """
    if (type(g) is not np.ndarray or type(x) is not np.ndarray) and _chunked.has_dataset(g, x):
        return _chunked.each_variable(prelu_backward, g, x, weight, axis=axis, **kwargs)
    dtype = _float_dtype("prelu_backward", g, x)
    if kwargs:
        return _LEAKY_RELU_BACKWARD(g, x, _channel_slopes(x, weight, axis, dtype), **kwargs)
    return _LEAKY_RELU_BACKWARD(g, x, _channel_slopes(x, weight, axis, dtype))


def prelu_backward_from_output(g, y, weight, axis=1, **kwargs):
    """Gradient of prelu from its output: ``g`` where ``y > 0``, else ``weight[c] * g``.

    Parameters
    ----------
    {g_y}
    weight : array_like
        The forward's slopes, every one > 0 (else ValueError).
    axis : int, default 1
        The channel axis.
    **kwargs
        NumPy ufunc keywords (``out=g`` runs in place).

    {returns}

    Notes
    -----
    ``leaky_relu_backward_from_output`` with the weight broadcast along ``axis``: with positive
    slopes ``y > 0`` exactly where ``x > 0``, so this equals ``prelu_backward(g, x, weight, axis)``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x, w = np.array([[-1.0, 0.0], [2.0, -2.0]]), np.array([0.1, 0.5])
    >>> relukit.prelu_backward_from_output(np.ones_like(x), relukit.prelu(x, w), w, axis=1)
    array([[0.1, 0.5],
           [1. , 0.5]])
    """
    if (type(g) is not np.ndarray or type(y) is not np.ndarray) and _chunked.has_dataset(g, y):
        return _chunked.each_variable(prelu_backward_from_output, g, y, weight, axis=axis, **kwargs)
    dtype = _float_dtype("prelu_backward_from_output", g, y)
    slopes = _channel_slopes(y, weight, axis, dtype)
    if not np.all(slopes > 0):
        raise ValueError("prelu_backward_from_output needs every weight > 0: with a slope of 0 or "
                         "less the sign of y no longer tells x > 0 from x <= 0; use "
                         "prelu_backward(g, x, weight)")
    return _LEAKY_RELU_BACKWARD_FROM_OUTPUT(g, y, slopes, **kwargs)


def prelu_weight_grad(g, x, weight, axis=1):
    """Gradient of prelu with respect to its weight: ``sum(where(x > 0, 0, x * g))`` per channel.

    Parameters
    ----------
    {g_x}
    weight : array_like
        The forward's slopes: one, or ``x.shape[axis]`` (their values are not used).
    axis : int, default 1
        The channel axis.

    Returns
    -------
    ndarray
        Shaped like ``weight``, in the dtype of ``g`` and ``x``.

    Notes
    -----
    Summed over every axis but ``axis`` (over everything for a weight of size 1), in float64, in an
    order fixed by the shape alone: the result is bitwise the same for every thread count and SIMD
    level. Works on dask arrays too.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([[-1.0, 3.0], [-2.0, -4.0]])
    >>> relukit.prelu_weight_grad(np.ones_like(x), x, np.array([0.25, 0.25]))
    array([-3., -4.])
    """
    chunked = _chunked.handles(g, x)
    if chunked and _chunked.has_dataset(g, x):
        return _chunked.each_variable(prelu_weight_grad, g, x, weight, axis=axis)
    if not chunked:
        x, g = np.asarray(x), np.asarray(g)
    if np.shape(g) != np.shape(x) and not _chunked.labelled(g, x):  # xarray aligns them
        raise ValueError(f"prelu_weight_grad needs g and x of one shape, got {np.shape(g)} and "
                         f"{np.shape(x)}")
    dtype = _float_dtype("prelu_weight_grad", g, x)
    slopes = _channel_slopes(x, weight, axis, dtype)
    axis = None if slopes.size == 1 else axis % np.ndim(x)
    if chunked:
        return _chunked.prelu_weight_grad(g, x, axis, dtype, np.shape(weight))
    out = _prelu_channel_sums(g, x, axis, dtype)
    # a sum beyond float16's range is inf and one below it 0 or subnormal, as in NumPy's sum: no
    # floating-point flag, like every kernel
    with np.errstate(over="ignore", under="ignore"):
        return out.astype(dtype).reshape(np.shape(weight))


def _prelu_channel_sums(g, x, axis, dtype):
    """prelu's weight gradient in float64: one sum per channel along `axis` (None: one sum)."""
    if axis is None:
        outer, channels, inner = 1, 1, x.size
    else:
        outer = math.prod(x.shape[:axis])                  # (np.prod costs 2 us a call)
        channels, inner = x.shape[axis], math.prod(x.shape[axis + 1:])
    out = np.zeros(channels, np.float64)
    if x.size:
        compute = np.float32 if dtype == np.float16 else dtype   # float16 sums through float32
        g = np.ascontiguousarray(g, dtype=compute).reshape(-1)
        x = np.ascontiguousarray(x, dtype=compute).reshape(-1)
        scratch = np.empty(_kernels.prelu_scratch_size(outer, channels, inner), np.float64)
        _kernels.prelu_weight_grad(g, x, outer, channels, inner, scratch, out)
    return out


# ---- rrelu: leaky_relu with a random slope per element in training --------------------------------
@cython.ccall
def _check_rrelu(lower, upper):
    if type(lower) is float and type(upper) is float and 0.0 <= lower <= upper < 1.8e308:
        return                                  # the common call, at a tenth of the cost
    _require("rrelu", ge, lower, 0.0, "lower >= 0")
    _require("rrelu", le, lower, upper, "lower <= upper")
    _require("rrelu", lt, upper, math.inf, "a finite upper")


@cython.ccall
def _mean_slope(lower, upper):
    """rrelu's slope out of training, (lower + upper) / 2, without the sum overflowing: where it
    would, the halves' sum (the same value: halving is exact there)."""
    if type(lower) is float and type(upper) is float and upper < 8.98846567431158e307:   # 2^1023
        return (lower + upper) / 2
    with np.errstate(over="ignore"):
        mean = np.divide(np.add(lower, upper), 2)
    return np.where(np.isinf(mean), np.divide(lower, 2) + np.divide(upper, 2), mean)[()]


_LOWER, _UPPER = 1 / 8, 1 / 3             # rrelu's defaults (PyTorch's)
_MEAN = (_LOWER + _UPPER) / 2


@cython.cfunc
def _eval_slope(lower, upper):
    """rrelu's slope out of training, checked; the defaults' without a check (at n = 1 the def
    went 1.19x -> 1.12x its ufunc)."""
    if lower is _LOWER and upper is _UPPER:
        return _MEAN
    _check_rrelu(lower, upper)
    return _mean_slope(lower, upper)


def _rrelu_key(seed):
    if seed is None:
        raise ValueError("rrelu in training mode needs a seed: the forward and the backward must "
                         "draw the same slopes (pass the same int to both)")
    if type(seed) is int and 0 <= seed < 1 << 64:
        return _kernels.seed_key(seed)          # SeedSequence's bits, without its 4 us
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


def _writable_as(out, xc, gc, shape):
    """Whether the kernel can write into `out` itself: an ndarray of xc's dtype and the shape, C
    contiguous and writeable, and apart from the flat inputs xc and gc or exactly one of them
    (each element is read before it is written)."""
    return (type(out) is np.ndarray and out.dtype == xc.dtype and out.shape == shape
            and out.flags.c_contiguous and out.flags.writeable
            and all(not np.may_share_memory(out, a) or
                    out.__array_interface__["data"][0] == a.__array_interface__["data"][0]
                    for a in (xc, gc)))


def _rrelu_train(g, x, lower, upper, seed, backward, out=None, *, _first=0, **kwargs):
    """`_first`: the index in the whole array of x's first element, when x is one block of it."""
    if kwargs:
        raise TypeError(f"rrelu in training mode takes out= but no other ufunc keywords, "
                        f"got {sorted(kwargs)}")
    key = _rrelu_key(seed)
    if (type(x) is np.ndarray and x.dtype.char in "fd" and x.dtype.isnative and
            (g is None or type(g) is np.ndarray and g.dtype == x.dtype and g.shape == x.shape)):
        dtype = x.dtype                         # the common call, without the checks below (1 us)
    else:
        chunked = _chunked.handles(g, x)
        if chunked and _chunked.has_dataset(g, x):
            # each variable would be keyed by (seed, element index) alike: one noise for all
            raise TypeError("rrelu in training mode takes one array at a time, not an xarray "
                            "Dataset: its variables would all draw the same slopes from the seed; "
                            "call it per variable, each with its own seed")
        if not chunked:
            x = np.asarray(x)
        dtype = _float_dtype("rrelu", x) if g is None else _float_dtype("rrelu_backward", g, x)
        if g is not None and np.shape(g) != np.shape(x) and not _chunked.labelled(g, x):
            raise ValueError(f"rrelu_backward needs g and x of one shape, got {np.shape(g)} and "
                             f"{np.shape(x)}")
        if chunked:
            return _chunked.rrelu_train(g, x, lower, upper, seed, backward, dtype, out)
    dtype = dtype.newbyteorder("=")                      # as a ufunc's result, and the kernels'
    xc = np.ascontiguousarray(x, dtype=dtype).reshape(-1)
    gc = xc if g is None else np.ascontiguousarray(g, dtype=dtype).reshape(-1)
    out = out[0] if isinstance(out, tuple) else out
    if _writable_as(out, xc, gc, x.shape):
        _kernels.rrelu_train(gc, xc, out.reshape(-1), key, lower, upper, backward, _first)
        return out
    result = np.empty(x.shape, dtype)
    _kernels.rrelu_train(gc, xc, result.reshape(-1), key, lower, upper, backward, _first)
    if out is None:
        return result[()]                               # a 0-d input gives a scalar, as a ufunc
    # an out of a smaller float type: beyond its range inf and tiny results 0 without a flag, as
    # in the ufuncs' float16 loops
    with np.errstate(over="ignore", under="ignore"):
        np.copyto(out, result, casting="same_kind")
    return out


def rrelu(x, lower=_LOWER, upper=_UPPER, training=False, seed=None, **kwargs):
    """Randomized leaky ReLU: ``x`` where ``x > 0``, else ``r * x``.

    In training ``r`` is drawn uniformly from ``[lower, upper)`` for every element, from a
    counter-based generator keyed by ``(seed, element index in C order)``: the same seed gives the
    same slopes for any thread count, SIMD level or chunking, and ``rrelu_backward`` recomputes
    them from the seed instead of storing them. Out of training ``r = (lower + upper) / 2``
    (``leaky_relu`` with that slope). Needs ``0 <= lower <= upper``.

    Parameters
    ----------
    x : array_like
    lower, upper : float, default 1/8 and 1/3
    training : bool, default False
    seed : int, needed when training
        Any non-negative int (mixed by ``np.random.SeedSequence``); use a new one per step.
    **kwargs
        NumPy ufunc keywords; in training only ``out``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.rrelu(np.array([-1.0, 2.0]), lower=0.1, upper=0.3)
    array([-0.2,  2. ])
    >>> y = relukit.rrelu(np.array([-1.0, 2.0]), training=True, seed=7)
    >>> bool(-0.3 < y[0] <= -0.1), float(y[1])
    (True, 2.0)
    """
    if training:
        _check_rrelu(lower, upper)
        return _rrelu_train(None, x, lower, upper, seed, False, **kwargs)
    if kwargs:
        return _LEAKY_RELU(x, _eval_slope(lower, upper), **kwargs)
    return _LEAKY_RELU(x, _eval_slope(lower, upper))


def rrelu_backward(g, x, lower=_LOWER, upper=_UPPER, training=False, seed=None, **kwargs):
    """Gradient of rrelu: ``g`` where ``x > 0``, else ``r * g`` with the forward's slopes ``r``.

    Parameters
    ----------
    {g_x}
    lower, upper, training, seed
        Those the forward used: in training the slopes are drawn again from the seed.
    **kwargs
        NumPy ufunc keywords; in training only ``out``.

    {returns}

    Notes
    -----
    At 0 the derivative is the element's slope, as leaky_relu's.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> relukit.rrelu_backward(np.ones_like(x), x, lower=0.1, upper=0.3)
    array([0.2, 0.2, 1. ])

    In training the backward draws the forward's slopes again from the seed:

    >>> relukit.rrelu(x, training=True, seed=7)
    array([-0.29315165,  0.        ,  2.        ])
    >>> relukit.rrelu_backward(np.ones_like(x), x, training=True, seed=7)
    array([0.29315165, 0.17060399, 1.        ])
    """
    if training:
        _check_rrelu(lower, upper)
        return _rrelu_train(g, x, lower, upper, seed, True, **kwargs)
    if kwargs:
        return _LEAKY_RELU_BACKWARD(g, x, _eval_slope(lower, upper), **kwargs)
    return _LEAKY_RELU_BACKWARD(g, x, _eval_slope(lower, upper))


def rrelu_backward_from_output(g, y, lower=_LOWER, upper=_UPPER, training=False, seed=None,
                               **kwargs):
    """Gradient of rrelu from its output.

    Parameters
    ----------
    {g_y}
    lower, upper, training, seed
        Those the forward used.
    **kwargs
        NumPy ufunc keywords; in training only ``out``.

    {returns}

    Notes
    -----
    Every slope is ``>= lower >= 0``, so ``y > 0`` exactly where ``x > 0`` and this equals
    ``rrelu_backward(g, x, ...)`` bit for bit.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> y = relukit.rrelu(x, training=True, seed=7)
    >>> relukit.rrelu_backward_from_output(np.ones_like(x), y, training=True, seed=7)
    array([0.29315165, 0.17060399, 1.        ])
    >>> relukit.rrelu_backward(np.ones_like(x), x, training=True, seed=7)
    array([0.29315165, 0.17060399, 1.        ])
    """
    return rrelu_backward(g, y, lower, upper, training, seed, **kwargs)


for _f in (prelu, prelu_backward, prelu_backward_from_output,
           prelu_weight_grad, rrelu, rrelu_backward, rrelu_backward_from_output):
    _f.__module__ = "relukit"

for _f in list(globals().values()):
    # Cython functions as built (see meson.build), Python functions when run uncompiled
    if callable(_f) and not isinstance(_f, (type, np.ufunc)) and _f.__module__ == "relukit":
        _fill_doc(_f)


__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and (isinstance(value, np.ufunc) or callable(value))
                 and getattr(value, "__module__", None) == "relukit")
