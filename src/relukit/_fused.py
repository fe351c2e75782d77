"""Fused bias + activation: ``act(x + bias)`` and its backward with the bias gradient, each in one
pass over memory (the kernel is _fused.pxi)."""

import functools
import inspect
import math

import numpy as np

from relukit import _api, _chunked, _dispatch
from relukit._masks import _as_dtype, _check_out, float_dtype

_kernels = _dispatch.kernels
# every op with a forward ufunc; gelu by its wrapper's name (its `approximate` picks the ufunc)
ACTS = sorted({name.removesuffix("_ufunc") for name in _api._ufuncs if "_backward" not in name}
              | {"gelu"})


def _resolve(act, params, dtype, kind, what):
    """(ufunc name, parameter values rounded to dtype) of act's `kind` ("", "_backward" or
    "_backward_from_output"), after the public wrapper's own checks of the parameters. Cached:
    the checks and signature look-ups cost far more than a small call's kernel."""
    try:
        key = (act, kind, dtype, tuple(sorted(params.items())))
        hash(key)
    except TypeError:                            # an unhashable parameter: checked below, uncached
        return _resolve_uncached(act, params, dtype, kind, what)
    return _resolve_cached(key, what)


@functools.lru_cache(maxsize=256)
def _resolve_cached(key, what):
    act, kind, dtype, params = key
    return _resolve_uncached(act, dict(params), dtype, kind, what)


def _resolve_uncached(act, params, dtype, kind, what):
    if act not in ACTS:
        raise ValueError(f"{what}: unknown act {act!r}; use one of {', '.join(ACTS)}")
    if act == "gelu":
        params = dict(params)
        approximate = params.pop("approximate", "none")
        _api._check_gelu(what, approximate)
        act = {"none": "gelu_erf", "tanh": "gelu_tanh"}[approximate]
    wrapper = getattr(_api, act + kind, None) or _api._ufuncs.get(act + kind)
    if wrapper is None:
        raise ValueError(f"{what}: {act} has no backward from its output; pass from_output=False "
                         f"and the input")
    ndata = 1 if kind == "" else 2
    names = [] if isinstance(wrapper, np.ufunc) else [
        p.name for p in inspect.signature(wrapper).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD][ndata:]
    unknown = set(params) - set(names)
    if unknown:
        raise TypeError(f"{what}: {act} has no parameter {', '.join(sorted(unknown))}"
                        f" (its parameters: {', '.join(names) or 'none'})")
    for name, value in params.items():
        if np.ndim(value) != 0:
            raise ValueError(f"{what}: parameter {name} must be a single number, got shape "
                             f"{np.shape(value)}")
    if not names:
        return act + kind, ()
    empty = (np.empty(0, dtype),) * ndata
    wrapper(*empty, **params)                    # the wrapper's own checks, on no data
    bound = inspect.signature(wrapper).bind(*empty, **params)
    bound.apply_defaults()
    values = tuple(_as_dtype(bound.arguments[name], dtype) for name in names)
    return f"{act}{kind}{'_ufunc' if names else ''}", values


def _layout(x, bias, axis, what):
    """(dtype, outer, channels, inner) of x viewed around its channel axis."""
    if x.ndim == 0:
        raise ValueError(f"{what}: x must have at least one dimension (the channel axis)")
    axis = np.lib.array_utils.normalize_axis_index(axis, x.ndim)
    channels = x.shape[axis]
    if bias.ndim != 1 or bias.size != channels:
        raise ValueError(f"{what}: bias must be 1-D with x.shape[{axis}] = {channels} elements, "
                         f"got shape {bias.shape}")
    outer, inner = math.prod(x.shape[:axis]), math.prod(x.shape[axis + 1:])
    return outer, channels, inner


def _prepare(x, bias, axis, what, *others):
    x, bias = np.asarray(x), np.asarray(bias)
    dtype = float_dtype(np.result_type(x, bias, *others), what)
    outer, channels, inner = _layout(x, bias, axis, what)
    compute = np.float32 if dtype == np.float16 else dtype
    if dtype == np.float16:
        with np.errstate(over="ignore"):  # a bias beyond float16's range is inf, as in x + bias
            bias = bias.astype(dtype)
    bias_c = np.ascontiguousarray(bias, dtype=compute)
    return x, dtype, bias_c, (outer, channels, inner)


def _check_lazy(x, bias, axis, out, what, *others):
    """The NumPy path's checks for dask and xarray operands, from their shapes and dtypes alone
    (nothing is computed); returns the dtype. A labelled (xarray) bias is added by dimension name,
    as in the unfused ``x + bias``."""
    if out is not None:
        raise TypeError(f"{what}: out= is for NumPy arrays; with dask or xarray operands the "
                        f"result is a new lazy or labelled object")
    dtypes = [a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype for a in (x, bias, *others)]
    dtype = float_dtype(np.result_type(*dtypes), what)
    if not _chunked.labelled(bias):
        _layout(x, np.asarray(bias) if not hasattr(bias, "ndim") else bias, axis, what)
    elif np.ndim(x) == 0:
        raise ValueError(f"{what}: x must have at least one dimension (the channel axis)")
    return dtype


def _output(out, x, dtype, inputs, what):
    """The array the kernel writes: out itself when it is C-contiguous and overlaps no input other
    than as exactly that input (elementwise in place is safe), else a new array."""
    if out is None:
        return np.empty(x.shape, dtype)
    _check_out(out, x.shape, dtype, f"{what}: out")
    if out.flags.c_contiguous and not any(a is not out and np.may_share_memory(a, out)
                                          for a in inputs):
        return out
    return np.empty(x.shape, dtype)


def _finish(result, out):
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


def bias_act(x, bias, act="relu", axis=-1, out=None, **params):
    """``act(x + bias)`` with the bias along ``axis``, in one pass over memory.

    Parameters
    ----------
    x : array_like
        At least 1-D; float16, float32 or float64 (ints and bools as ``np.sqrt`` casts them).
    bias : array_like
        1-D, ``x.shape[axis]`` values: one per channel.
    act : str, default "relu"
        Any relukit activation by its function name ("relu", "leaky_relu", "gelu", "silu",
        "elu", ...).
    axis : int, default -1
        The channel axis: -1 for ``x @ W + b`` (channels last), 1 for NCHW feature maps.
    out : ndarray, optional
        Shaped and typed like the result; ``out=x`` runs in place.
    **params
        The activation's parameters, single numbers (``negative_slope=0.1``,
        ``approximate="tanh"``, ...), with the defaults of its relukit function.

    Returns
    -------
    ndarray
        Bit for bit ``act(x + bias, **params)`` computed by NumPy and relukit in two steps
        (``x + bias`` rounded to the dtype first), without the intermediate array. Integer and
        bool x are cast to float first, so ``x + bias`` cannot wrap around as NumPy's integer
        sum would.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([[-1.0, 2.0], [0.5, -3.0]])
    >>> relukit.bias_act(x, np.array([0.5, -1.0]))
    array([[0., 1.],
           [1., 0.]])
    >>> relukit.bias_act(x, np.array([0.5, -1.0]), act="leaky_relu", negative_slope=0.1)
    array([[-0.05,  1.  ],
           [ 1.  , -0.4 ]])
    """
    if _chunked.handles(x, bias):
        if _chunked.has_dataset(x, bias) and out is None:
            return _chunked.each_variable(bias_act, x, bias, act, axis, **params)
        dtype = _check_lazy(x, bias, axis, out, "bias_act")
        name, values = _resolve(act, params, dtype, "", "bias_act")
        return _chunked.bias_act(x, bias, axis, dtype, _api._ufuncs[name], values)
    x, dtype, bias_c, layout = _prepare(x, bias, axis, "bias_act")
    name, values = _resolve(act, params, dtype, "", "bias_act")
    xc = np.ascontiguousarray(x, dtype=dtype)
    result = _output(out, x, dtype, (xc, bias_c), "bias_act")
    _kernels.bias_act(name, xc, None, bias_c, values, result, *layout, None, None)
    return _finish(result, out)


def bias_act_backward(g, x, bias, act="relu", axis=-1, from_output=False, out=None, **params):
    """Gradients of ``bias_act``: ``(dx, dbias)`` from ``g``, the gradient w.r.t. its output.

    ``dx = act_backward(g, x + bias)`` and ``dbias[c]`` is the sum of ``dx`` over everything but
    channel ``c``, both in one pass over memory.

    Parameters
    ----------
    g : array_like
        Shaped like x.
    x : array_like
        The forward's input (before the bias), or with ``from_output=True`` its output
        ``y = bias_act(x, bias, ...)``, for the activations with a backward from the output
        (relu, leaky_relu, elu, sigmoid, tanh, ...): then the forward may run in place.
    bias, act, axis, **params
        As given to ``bias_act``.
    from_output : bool, default False
    out : ndarray, optional
        For ``dx``; ``out=g`` runs in place.

    Returns
    -------
    dx : ndarray
        Bit for bit ``act_backward(g, x + bias, **params)`` (or
        ``act_backward_from_output(g, y, **params)``).
    dbias : ndarray
        Shaped like bias, in the dtype of dx: summed in float64 in an order fixed by the shape
        alone, so bitwise the same for every thread count and SIMD level.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x, b = np.array([[-1.0, 2.0], [0.5, -3.0]]), np.array([0.5, -1.0])
    >>> dx, db = relukit.bias_act_backward(np.ones_like(x), x, b)
    >>> dx
    array([[0., 1.],
           [1., 0.]])
    >>> db
    array([1., 1.])
    """
    kind = "_backward_from_output" if from_output else "_backward"
    if _chunked.handles(g, x, bias):
        if _chunked.has_dataset(g, x, bias) and out is None:
            return _chunked.each_variable(bias_act_backward, g, x, bias, act, axis, from_output,
                                          **params)
        dtype = _check_lazy(x, bias, axis, out, "bias_act_backward", g)
        if np.shape(g) != np.shape(x) and not _chunked.labelled(g, x):
            raise ValueError(f"bias_act_backward needs g and x of one shape, got {np.shape(g)} and "
                             f"{np.shape(x)}")
        name, values = _resolve(act, params, dtype, kind, "bias_act_backward")
        return _chunked.bias_act_backward(g, x, bias, axis, from_output, dtype, _api._ufuncs[name],
                                          values)
    g = np.asarray(g)
    x, dtype, bias_c, layout = _prepare(x, bias, axis, "bias_act_backward", g)
    if g.shape != x.shape:
        raise ValueError(f"bias_act_backward needs g and x of one shape, got {g.shape} and {x.shape}")
    name, values = _resolve(act, params, dtype, kind, "bias_act_backward")
    xc = np.ascontiguousarray(x, dtype=dtype)
    gc = np.ascontiguousarray(g, dtype=dtype)
    result = _output(out, x, dtype, (xc, gc, bias_c), "bias_act_backward")
    scratch = np.empty(_kernels.prelu_scratch_size(*layout), np.float64)
    dbias = np.zeros(layout[1], np.float64)
    _kernels.bias_act(name, xc, gc, None if from_output else bias_c, values, result, *layout,
                      scratch, dbias)
    with np.errstate(over="ignore"):      # a sum beyond float16's range is inf, as NumPy's sum
        return _finish(result, out), dbias.astype(dtype).reshape(np.shape(bias))


for _f in (bias_act, bias_act_backward):
    _f.__module__ = "relukit"
