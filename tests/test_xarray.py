"""xarray: every activation function keeps DataArrays labelled, by the rules xarray applies to a
NumPy ufunc (dims, coords, name, attrs of the first operand, alignment), and lazy when dask-backed."""

import numpy as np
import pytest

import relukit

import _support
from _wrapper_args import WEIGHT, call, cases, data_arity

xr = pytest.importorskip("xarray")

DIMS, SHAPE = ("batch", "channel", "time"), (3, 5, 17)


def _labelled(dtype, n, seed=7):
    coords = {"channel": list("abcde"), "time": np.arange(SHAPE[2]) * 0.5}
    return [xr.DataArray(_support.make_data(np.prod(SHAPE), dtype, seed=seed + i).reshape(SHAPE),
                         dims=DIMS, coords=coords, name=f"v{i}", attrs={"units": f"u{i}"})
            for i in range(n)]


def _expected(name, arrays, kwargs):
    """NumPy's result on the raw data, labelled as xarray labels a NumPy ufunc of these operands."""
    values = call(name, [a.values for a in arrays], kwargs)
    return _like(*arrays).copy(data=values)


def _like(*arrays):
    """What xarray makes of a NumPy ufunc of these operands (its values are not used)."""
    with np.errstate(all="ignore"):
        return np.negative(*arrays) if len(arrays) == 1 else np.add(*arrays)


@pytest.mark.parametrize("name, kwargs", cases())
@_support.DTYPES
def test_labelled(name, kwargs, dtype):
    arrays = _labelled(dtype, data_arity(name))
    result = call(name, arrays, kwargs)
    if name == "prelu_weight_grad":
        assert result.dims == ("channel",) and list(result["channel"].values) == list("abcde")
        values = call(name, [a.values for a in arrays], kwargs)
        _support.assert_same_bits(result.values, values)
        return
    expected = _expected(name, arrays, kwargs)
    xr.testing.assert_identical(result, expected)
    _support.assert_same_bits(result.values, expected.values, name)


@pytest.mark.parametrize("name, kwargs", cases())
def test_dask_backed_stays_lazy(name, kwargs):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    arrays = _labelled(np.float32, data_arity(name))
    chunked = [a.chunk({"batch": 2, "time": 6}) for a in arrays]

    def refuse(*args, **kw):
        raise AssertionError("a lazy call computed its dask input")

    with dask.config.set(scheduler=refuse):
        result = call(name, chunked, kwargs)
    assert isinstance(result.data, da.Array), type(result.data)
    if name == "prelu_weight_grad":
        assert result.dims == ("channel",)
        expected = call(name, arrays, kwargs)
        _support.assert_same_bits(result.compute().values, expected.values)   # 1 time block
        return
    if not kwargs:
        assert result.chunks == chunked[0].chunks
    xr.testing.assert_identical(result.compute(), _expected(name, arrays, kwargs))


def test_alignment_follows_xarray():
    """Operands on different coordinates are aligned (inner join by default) as for np.add."""
    g, x = _labelled(np.float64, 2)
    g = g.isel(time=slice(2, None))
    like = _like(g, x)
    for got in [relukit.relu_backward(g, x), relukit.rrelu_backward(g, x, training=True, seed=3),
                relukit.leaky_relu_backward(g, x, 0.3)]:
        assert got.sizes == like.sizes and got["time"].equals(like["time"])
    grad = relukit.prelu_weight_grad(g, x, WEIGHT)
    aligned = x.isel(time=slice(2, None))
    np.testing.assert_array_equal(grad, relukit.prelu_weight_grad(g.values, aligned.values, WEIGHT))
    with xr.set_options(arithmetic_join="exact"), pytest.raises(ValueError):
        relukit.rrelu_backward(g, x, training=True, seed=3)


def test_bias_act_with_a_labelled_bias():
    """A DataArray bias is added by dimension name, as in the unfused act(x + bias)."""
    (x,) = _labelled(np.float64, 1)
    bias = xr.DataArray(np.linspace(-1, 1, x.sizes["channel"]), dims="channel")
    with np.errstate(all="ignore"):
        want = relukit.gelu(x + bias)
    got = relukit.bias_act(x, bias, "gelu")
    xr.testing.assert_identical(got.drop_attrs(), want.drop_attrs())
    dx, dbias = relukit.bias_act_backward(x, x, bias, "gelu", axis=1)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(dx.values, relukit.gelu_backward(x.values, (x + bias).values))


def test_keep_attrs_option_is_honoured():
    (x,) = _labelled(np.float64, 1)
    with xr.set_options(keep_attrs=False):
        assert relukit.relu(x).attrs == {} == relukit.rrelu(x, training=True, seed=1).attrs
    assert relukit.rrelu(x, training=True, seed=1).attrs == x.attrs


def test_prelu_channel_axis_and_weight_grad():
    g, x = _labelled(np.float64, 2)
    weight = xr.DataArray(WEIGHT, dims="channel")
    y = relukit.prelu(x, WEIGHT, axis=1)
    xr.testing.assert_identical(y, _like(x).copy(data=relukit.prelu(x.values, WEIGHT)))
    # channels last: the same result from a transposed array
    last = relukit.prelu(x.transpose("batch", "time", "channel"), WEIGHT, axis=-1)
    xr.testing.assert_identical(last.transpose(*DIMS), y)
    grad = relukit.prelu_weight_grad(g, x, weight)
    assert grad.dims == ("channel",)
    np.testing.assert_array_equal(grad.values, relukit.prelu_weight_grad(g.values, x.values, WEIGHT))
    one = relukit.prelu_weight_grad(g, x, np.array([0.25]))
    assert isinstance(one, np.ndarray) and one.shape == (1,)
    np.testing.assert_array_equal(
        one, relukit.prelu_weight_grad(g.values, x.values, np.array([0.25])))


def _dataset(arrays, offset=0):
    """A Dataset of two variables: the first array, and its negation with the batch reversed."""
    base = arrays[offset]
    return xr.Dataset({"p": base, "q": -base.isel(batch=slice(None, None, -1))}, attrs={"run": 1})


@pytest.mark.parametrize("name, kwargs", cases())
def test_dataset_is_taken_per_variable(name, kwargs):
    """Each data variable gets the call it would get alone, as xarray applies a ufunc to a Dataset."""
    arrays = _labelled(np.float64, data_arity(name))
    datasets = [_dataset(arrays, i) for i in range(len(arrays))]
    if kwargs.get("training"):
        with pytest.raises(TypeError, match="same slopes"):
            call(name, datasets, kwargs)
        return
    result = call(name, datasets, kwargs)
    assert isinstance(result, xr.Dataset) and list(result.data_vars) == ["p", "q"]
    assert result.attrs == {"run": 1}
    for var in ("p", "q"):
        alone = call(name, [d[var] for d in datasets], kwargs)
        xr.testing.assert_identical(result[var].drop_attrs(), alone.drop_attrs())


def test_dataset_in_bias_act_and_dead_units():
    g, x = (_dataset([a]) for a in _labelled(np.float64, 2))
    bias = np.linspace(-1, 1, SHAPE[1])
    y = relukit.bias_act(x, bias, "silu", axis=1)
    dx, dbias = relukit.bias_act_backward(g, x, bias, "silu", axis=1)
    dead = relukit.dead_units(x, axis=(0, 2), per_unit=True)
    for var in ("p", "q"):
        xr.testing.assert_identical(y[var], relukit.bias_act(x[var], bias, "silu", axis=1))
        want_dx, want_dbias = relukit.bias_act_backward(g[var], x[var], bias, "silu", axis=1)
        xr.testing.assert_identical(dx[var], want_dx)
        xr.testing.assert_identical(dbias[var], want_dbias)
        xr.testing.assert_identical(dead[var], relukit.dead_units(x[var], axis=(0, 2), per_unit=True))
    assert float(relukit.dead_units(x)["q"]) == float(relukit.dead_units(x["q"]))
    # only the variables both Datasets have, as in g * x
    assert list(relukit.bias_act_backward(g[["p"]], x, bias, axis=1)[0].data_vars) == ["p"]
