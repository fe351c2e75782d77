"""dask arrays and xarray objects in the wrappers that are not elementwise ufunc calls.

Every ufunc reaches dask and xarray through their ``__array_ufunc__``: lazy, chunked and labelled
with no code here. ``prelu_weight_grad`` is a reduction and rrelu's training slopes depend on each
element's position in the whole array, so they are written out here: one task per block, with a
float64 sum of the per-block partial sums for the reduction. An xarray Dataset is taken one data
variable at a time (``each_variable``), as xarray applies a ufunc to it. Neither library is
imported unless the caller passed one of its objects.
"""

import math

import numpy as np

from relukit import _api


def handles(*arrays):
    """Whether any argument is a dask or an xarray object (told without importing either)."""
    return any(type(a).__module__.partition(".")[0] in ("dask", "xarray") for a in arrays)


def _is_xarray(a):
    return type(a).__module__.partition(".")[0] == "xarray"


def labelled(*arrays):
    """Whether any argument is an xarray object: xarray aligns operands of different shapes."""
    return any(map(_is_xarray, arrays))


def has_dataset(*arrays):
    """Whether any argument is an xarray Dataset."""
    return any(type(a).__name__ == "Dataset" and _is_xarray(a) for a in arrays)


def each_variable(func, *args, **kwargs):
    """func(*args, **kwargs) for each data variable of the Datasets among args (the other arguments
    passed whole), as xarray applies a ufunc: the Datasets aligned by xarray's arithmetic join, the
    variables they all have, the first Dataset's attrs kept unless keep_attrs is False. A Dataset
    of the results; a tuple of Datasets for tuple results."""
    import xarray as xr

    options = xr.get_options()
    at = [i for i, a in enumerate(args) if has_dataset(a)]
    aligned = xr.align(*(args[i] for i in at), join=options["arithmetic_join"])
    results = {}
    for name in aligned[0].data_vars:
        if all(name in d.data_vars for d in aligned):
            call = list(args)
            for i, d in zip(at, aligned):
                call[i] = d[name]
            results[name] = func(*call, **kwargs)
    attrs = {} if options["keep_attrs"] is False else aligned[0].attrs

    def dataset(values):
        return xr.Dataset({name: v if isinstance(v, xr.DataArray) else xr.DataArray(v)
                           for name, v in values.items()}, attrs=attrs)

    first = next(iter(results.values()), None)
    if isinstance(first, tuple):
        return tuple(dataset({name: r[k] for name, r in results.items()}) for k in range(len(first)))
    return dataset(results)


def _apply(func, *args, **kwargs):
    """xarray.apply_ufunc with the alignment and attrs rules xarray gives a NumPy ufunc."""
    import xarray as xr

    options = xr.get_options()
    keep_attrs = options["keep_attrs"]
    return xr.apply_ufunc(func, *args, join=options["arithmetic_join"],
                          dataset_join=options["arithmetic_join"], dask="allowed",
                          keep_attrs=True if keep_attrs == "default" else keep_attrs, **kwargs)


# ---- prelu_weight_grad ---------------------------------------------------------------------------
def prelu_weight_grad(g, x, axis, dtype, weight_shape):
    """The validated call of relukit.prelu_weight_grad; axis None means one slope for everything."""
    if labelled(g, x):
        return _labelled_weight_grad(g, x, axis, dtype, weight_shape)
    import dask.array as da

    g, x = da.asarray(g), da.asarray(x)
    index = tuple(range(x.ndim))
    summed = tuple(i for i in index if i != axis)
    partials = da.blockwise(_block_sums, index, g, index, x, index, axis=axis, sum_dtype=dtype,
                            dtype=np.float64, adjust_chunks=dict.fromkeys(summed, 1))
    total = da.reduction(partials, _sum, _sum, axis=summed, dtype=np.float64)
    return total.map_blocks(_cast, dtype, dtype=dtype).reshape(weight_shape)


def _block_sums(g, x, axis, sum_dtype):
    """One block's float64 partial sums, shaped to keep the channel axis and nothing else."""
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = x.shape[axis]
    return _api._prelu_channel_sums(g, x, axis, sum_dtype).reshape(shape)


def _sum(partials, axis, keepdims):
    with np.errstate(all="ignore"):      # inf + -inf is NaN, silently, as in the kernel
        return partials.sum(axis=axis, keepdims=keepdims)


def _cast(total, dtype):
    with np.errstate(over="ignore"):     # a sum beyond float16's range is inf, as without dask
        return total.astype(dtype)


def _labelled_weight_grad(g, x, axis, dtype, weight_shape):
    """xarray: operands aligned as for a ufunc; per-channel slopes give a result along the channel
    dimension with its coordinate, numpy- or dask-backed as the inputs are."""
    import xarray as xr

    dims = list((x if _is_xarray(x) else g).dims)
    g, x = (a if _is_xarray(a) else xr.DataArray(a, dims=dims) for a in (g, x))
    per_channel = axis is not None and len(weight_shape) == 1

    def grad(g, x):
        w = _api.prelu_weight_grad(g, x, np.ones(weight_shape, dtype), 0 if axis is None else axis)
        return w if per_channel else w.reshape(())

    result = _apply(grad, g, x, input_core_dims=[dims, dims],
                    output_core_dims=[[dims[axis]] if per_channel else []])
    return result if per_channel else result.data.reshape(weight_shape)


# ---- rrelu in training ---------------------------------------------------------------------------
def rrelu_train(g, x, lower, upper, seed, backward, dtype, out):
    """The validated call of relukit.rrelu / rrelu_backward with training=True."""
    if out is not None:
        raise TypeError("rrelu in training mode takes no out= with dask arrays or xarray objects")
    if labelled(g, x):
        if g is None:
            return _apply(lambda x: _api.rrelu(x, lower, upper, True, seed), x)
        if _is_xarray(g) and _is_xarray(x):
            g = g.transpose(*x.dims)      # each element's slope follows its place in x's layout
        return _apply(lambda g, x: _api.rrelu_backward(g, x, lower, upper, True, seed), g, x)
    import dask.array as da

    # An element's slope is keyed by its C-order index in the whole array. A block that is whole
    # along every axis but the first is one run of those indices, starting at its first row.
    x = da.asarray(x).rechunk({axis: -1 for axis in range(1, np.ndim(x))})
    arrays = (x,) if g is None else (x, da.asarray(g).rechunk(x.chunks))
    return da.map_blocks(_rrelu_block, *arrays, dtype=dtype, row=math.prod(x.shape[1:]),
                         lower=lower, upper=upper, seed=seed, backward=backward)


def _rrelu_block(x, g=None, *, row, lower, upper, seed, backward, block_info=None):
    first = block_info[0]["array-location"][0][0] * row if x.ndim else 0
    result = _api._rrelu_train(g, x, lower, upper, seed, backward, _first=first)
    return np.asarray(result)      # a 0-d block gives a 0-d array, not a scalar


# ---- the fused and reducing helpers: their unfused expressions, which the libraries keep lazy ----
def _biased(x, bias, axis, dtype):
    """x + bias in dtype (integers cast first, so nothing wraps around), the bias along axis; a
    labelled bias by its dimension names, as xarray adds it."""
    x = x.astype(dtype)
    if labelled(bias):
        return x + bias.astype(dtype)
    shape = [1] * np.ndim(x)
    shape[np.lib.array_utils.normalize_axis_index(axis, np.ndim(x))] = -1
    bias = bias.astype(dtype) if hasattr(bias, "astype") else np.asarray(bias, dtype)
    return x + bias.reshape(shape)


def bias_act(x, bias, axis, dtype, ufunc, values):
    """bias_act's unfused expression, after its checks (_fused): ufunc(x + bias, *values)."""
    return ufunc(_biased(x, bias, axis, dtype), *values)


def bias_act_backward(g, x, bias, axis, from_output, dtype, ufunc, values):
    dx = ufunc(g, x if from_output else _biased(x, bias, axis, dtype), *values)
    axis = np.lib.array_utils.normalize_axis_index(axis, np.ndim(x))
    others = tuple(a for a in range(np.ndim(x)) if a != axis)
    return dx, dx.sum(axis=others) if others else dx


def dead_units(x, axis, per_unit):
    """The unfused expression, after dead_units' checks (_masks)."""
    dead = ~(x > 0).any(axis=axis)          # NaN > 0 is False: NaN counts as not positive
    return dead if per_unit else dead.mean()
