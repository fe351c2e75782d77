"""dask: every activation function keeps dask arrays lazy and chunked and computes, block by block,
what it computes on the whole NumPy array; also on a two-process dask.distributed cluster."""

import logging
import os

import numpy as np
import pytest

import relukit

import _support
from _wrapper_args import WEIGHT, call, cases, data_arity

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

SHAPE, CHUNKS = (6, 5, 44), (4, 2, 16)      # uneven blocks along every axis


def _refuse_to_compute(*args, **kwargs):
    raise AssertionError("a lazy call computed its dask input")


def _operands(n, dtype, seed):
    return [_support.make_data(np.prod(SHAPE), dtype, seed=seed + i).reshape(SHAPE)
            for i in range(n)]


@pytest.mark.parametrize("name, kwargs", cases())
@_support.DTYPES
def test_lazy_chunked_and_equal_to_numpy(name, kwargs, dtype):
    arrays = _operands(data_arity(name), dtype, seed=5)
    lazy = [da.from_array(a, chunks=CHUNKS) for a in arrays]
    with dask.config.set(scheduler=_refuse_to_compute):
        result = call(name, lazy, kwargs)
    assert isinstance(result, da.Array), type(result)
    expected = call(name, arrays, kwargs)
    if name == "prelu_weight_grad":
        assert result.shape == WEIGHT.shape
        _check_weight_grad(result.compute(scheduler="sync"), expected, *arrays)
        return
    if kwargs:        # rrelu's slopes follow the C-order index: blocks are whole rows of axis 0
        assert result.chunks[0] == lazy[0].chunks[0]
    else:
        assert result.chunks == lazy[0].chunks
    _support.assert_same_bits(result.compute(scheduler="sync"), expected, name)


def _check_weight_grad(got, expected, g, x, axis=1):
    """Block partial sums add in another order than the kernel's: within the float64 summation
    bound (n eps sum |term|), then rounded once to the dtype (at most half an ULP apart each).
    axis None: one sum over everything."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    compute = np.float32 if g.dtype == np.float16 else g.dtype
    summed = None if axis is None else tuple(i for i in range(x.ndim) if i != axis)
    with np.errstate(all="ignore"):       # inf and NaN sums are compared exactly
        terms = np.where(x > 0, 0, x.astype(compute) * g.astype(compute)).astype(np.float64)
        bound = x.size * np.finfo(np.float64).eps * np.abs(terms).sum(axis=summed)
    got, expected, bound = (np.atleast_1d(a).reshape(-1) for a in (got, expected, bound))
    exact = np.isnan(expected) | np.isinf(expected)
    np.testing.assert_array_equal(got[exact], expected[exact])
    ulp = np.spacing(np.abs(expected[~exact])).astype(np.float64)
    diff = np.abs(got[~exact].astype(np.float64) - expected[~exact])
    assert np.all(diff <= bound[~exact] + ulp), (got, expected)


@_support.DTYPES
@pytest.mark.parametrize("axis, weight", [(1, WEIGHT), (-1, np.linspace(-1, 1, 44)),
                                          (0, np.array([0.3]))])
def test_prelu_weight_grad_blockwise_sum(dtype, axis, weight):
    """Values clipped to +-100: sums stay finite (NaN or inf in one term hides a whole channel)."""
    g, x = (np.clip(_support.make_data(np.prod(SHAPE), dtype, seed=s, nan=False), -100, 100)
            .reshape(SHAPE) for s in (1, 2))
    lazy = relukit.prelu_weight_grad(da.from_array(g, chunks=CHUNKS),
                                     da.from_array(x, chunks=(2, 5, 11)), weight, axis=axis)
    assert lazy.shape == weight.shape and lazy.dtype == dtype
    expected = relukit.prelu_weight_grad(g, x, weight, axis=axis)
    assert np.all(np.isfinite(expected)) or dtype == np.float16
    got = lazy.compute(scheduler="threads")
    _check_weight_grad(got, expected, g, x, None if weight.size == 1 else axis % x.ndim)


def test_prelu_weight_grad_mixes_numpy_and_dask():
    g, x = _operands(2, np.float64, seed=3)
    got = relukit.prelu_weight_grad(g, da.from_array(x, chunks=CHUNKS), WEIGHT)
    _check_weight_grad(got.compute(), relukit.prelu_weight_grad(g, x, WEIGHT), g, x)


def test_rrelu_training_slopes_do_not_depend_on_chunks():
    x, g = _operands(2, np.float64, seed=9)
    forward = relukit.rrelu(x, training=True, seed=4)
    backward = relukit.rrelu_backward(g, x, training=True, seed=4)
    for chunks in [(1, 5, 44), (6, 1, 1), (4, 2, 16), -1]:
        lazy = relukit.rrelu(da.from_array(x, chunks=chunks), training=True, seed=4)
        _support.assert_same_bits(lazy.compute(), forward, f"chunks {chunks}")
        grad = relukit.rrelu_backward(da.from_array(g, chunks=(3, 5, 7)),
                                      da.from_array(x, chunks=chunks), training=True, seed=4)
        _support.assert_same_bits(grad.compute(), backward, f"backward, chunks {chunks}")


def test_errors_are_raised_when_the_graph_is_built():
    x = da.ones(SHAPE, chunks=CHUNKS)
    with dask.config.set(scheduler=_refuse_to_compute):
        with pytest.raises(ValueError, match="needs a seed"):
            relukit.rrelu(x, training=True)
        with pytest.raises(ValueError, match="one shape"):
            relukit.rrelu_backward(x[:1], x, training=True, seed=1)
        with pytest.raises(TypeError, match="no out="):
            relukit.rrelu(x, training=True, seed=1, out=np.empty(SHAPE))
        with pytest.raises(ValueError, match="one shape"):
            relukit.prelu_weight_grad(x[:1], x, WEIGHT)
        with pytest.raises(ValueError, match="6 channels"):
            relukit.prelu_weight_grad(x, x, WEIGHT, axis=0)
        # bias_act, bias_act_backward and dead_units: the NumPy path's checks, before any task
        b = np.ones(SHAPE[-1])
        for bad_bias in (np.ones(1), 0.5, np.ones((1, SHAPE[-1]))):
            with pytest.raises(ValueError, match="bias must be 1-D"):
                relukit.bias_act(x, bad_bias)
        with pytest.raises(ValueError, match="unknown act"):
            relukit.bias_act(x, b, "foo")
        with pytest.raises(ValueError, match="single number"):
            relukit.bias_act(x, b, "leaky_relu", negative_slope=np.full(SHAPE[-1], 0.1))
        with pytest.raises(ValueError, match="one shape"):
            relukit.bias_act_backward(x[:1], x, b)
        with pytest.raises(ValueError, match="no backward from its output"):
            relukit.bias_act_backward(x, x, b, "gelu", from_output=True)
        for call_with_out in (lambda o: relukit.bias_act(x, b, out=o),
                              lambda o: relukit.bias_act_backward(x, x, b, out=o)):
            with pytest.raises(TypeError, match="out= is for NumPy arrays"):
                call_with_out(np.empty(SHAPE))
        with pytest.raises(ValueError, match="non-empty batch"):
            relukit.dead_units(da.zeros((0, 3)))
        with pytest.raises(ValueError, match="non-empty batch"):
            relukit.dead_units(x, axis=())
        with pytest.raises(TypeError, match="real numbers"):
            relukit.dead_units(x.astype(np.complex128))


def test_bias_act_integers_do_not_wrap_and_gelu_forms_resolve():
    """int8 x and bias are cast before the sum, as in the NumPy path; act="gelu_erf" (a raw ufunc
    name the NumPy path takes) works too."""
    x, b = np.array([[100, -100]], np.int8), np.array([100, -100], np.int8)
    lazy = relukit.bias_act(da.from_array(x), b)
    _support.assert_same_bits(lazy.compute(), relukit.bias_act(x, b))
    assert float(lazy.compute()[0, 0]) == 200.0
    xf = _operands(1, np.float32, seed=9)[0]
    for act in ("gelu_erf", "gelu_tanh"):
        _support.assert_same_bits(relukit.bias_act(da.from_array(xf, chunks=CHUNKS), np.ones(44), act)
                                  .compute(), relukit.bias_act(xf, np.ones(44), act))


@pytest.mark.parametrize("act, params", [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}),
                                         ("gelu", {"approximate": "tanh"})])
@pytest.mark.parametrize("axis", [-1, 1])
def test_bias_act_and_dead_units_stay_lazy(act, params, axis):
    """The fused and reducing helpers take their unfused expressions on dask arrays: lazy, and
    equal to the NumPy path within the summation's rounding (dbias is summed by dask)."""
    x_np, g_np = _operands(2, np.float64, seed=5)
    bias = np.linspace(-1, 1, SHAPE[axis])
    x, g = (da.from_array(a, chunks=CHUNKS) for a in (x_np, g_np))
    with dask.config.set(scheduler=_refuse_to_compute):
        y = relukit.bias_act(x, bias, act, axis=axis, **params)
        dx, dbias = relukit.bias_act_backward(g, x, bias, act, axis=axis, **params)
        dead, dead_per_unit = relukit.dead_units(x, axis=0), relukit.dead_units(x, per_unit=True)
    for lazy in (y, dx, dbias, dead, dead_per_unit):
        assert isinstance(lazy, da.Array)
    _support.assert_same_bits(y.compute(), relukit.bias_act(x_np, bias, act, axis=axis, **params))
    dx_np, dbias_np = relukit.bias_act_backward(g_np, x_np, bias, act, axis=axis, **params)
    _support.assert_same_bits(dx.compute(), dx_np)
    # dbias sums a whole channel, which the special values make inf or NaN: finite data for it
    rng = np.random.default_rng(6)
    g_fin, x_fin = rng.standard_normal((2, *SHAPE))
    dx_fin, dbias_np = relukit.bias_act_backward(g_fin, x_fin, bias, act, axis=axis, **params)
    _, dbias = relukit.bias_act_backward(da.from_array(g_fin, chunks=CHUNKS),
                                         da.from_array(x_fin, chunks=CHUNKS), bias, act,
                                         axis=axis, **params)
    scale = np.sum(np.abs(dx_fin), axis=tuple(a for a in range(3) if a != axis % 3))
    assert np.all(np.abs(dbias.compute() - dbias_np) <= 64 * np.finfo(np.float64).eps * scale)
    assert float(dead.compute()) == relukit.dead_units(x_np)
    assert np.array_equal(dead_per_unit.compute(), relukit.dead_units(x_np, per_unit=True))


# ---- a cluster of two worker processes on the loopback interface -------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    environ = dict(os.environ)     # starting workers sets OMP_NUM_THREADS=1 etc. in this process
    yield from _cluster(distributed)
    os.environ.clear()
    os.environ.update(environ)


def _cluster(distributed):
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def test_distributed_cluster(client):
    import distributed

    x, g = _operands(2, np.float32, seed=21)
    lx, lg = da.from_array(x, chunks=CHUNKS), da.from_array(g, chunks=CHUNKS)
    lazy = {
        "relu": relukit.relu(lx),
        "gelu_backward": relukit.gelu_backward(lg, lx, approximate="tanh"),
        "leaky_relu": relukit.leaky_relu(lx, 0.2),
        "prelu": relukit.prelu(lx, WEIGHT),
        "rrelu_backward": relukit.rrelu_backward(lg, lx, training=True, seed=2),
        "prelu_weight_grad": relukit.prelu_weight_grad(lg, lx, WEIGHT),
    }
    futures = client.compute(list(lazy.values()))
    distributed.wait(futures, timeout=120)       # a hung worker fails the test, not the run
    results = dict(zip(lazy, client.gather(futures)))
    workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2
    _support.assert_same_bits(results["relu"], relukit.relu(x))
    _support.assert_same_bits(results["gelu_backward"], relukit.gelu_backward(g, x, approximate="tanh"))
    _support.assert_same_bits(results["leaky_relu"], relukit.leaky_relu(x, 0.2))
    _support.assert_same_bits(results["prelu"], relukit.prelu(x, WEIGHT))
    _support.assert_same_bits(results["rrelu_backward"],
                              relukit.rrelu_backward(g, x, training=True, seed=2))
    _check_weight_grad(results["prelu_weight_grad"], relukit.prelu_weight_grad(g, x, WEIGHT), g, x)
