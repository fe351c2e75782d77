"""The public functions are real NumPy ufuncs (or wrappers over one): attributes, loops, pickling,
__array_ufunc__ overrides and the ufunc methods."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import relukit
from _support import (
    assert_same_bits,
    make_data,
    ref_leaky_relu,
    ref_relu,
    ref_relu_backward,
)

UFUNCS = {
    "relu": (1, ["e->e", "f->f", "d->d"]),
    "relu_backward": (2, ["ee->e", "ff->f", "dd->d"]),
    "relu_backward_from_output": (2, ["ee->e", "ff->f", "dd->d"]),
    "leaky_relu_ufunc": (2, ["ee->e", "ff->f", "dd->d"]),
    "leaky_relu_backward_ufunc": (3, ["eee->e", "fff->f", "ddd->d"]),
    "leaky_relu_backward_from_output_ufunc": (3, ["eee->e", "fff->f", "ddd->d"]),
}
WRAPPERS = ("leaky_relu", "leaky_relu_backward", "leaky_relu_backward_from_output")


@pytest.mark.parametrize("name", UFUNCS)
def test_ufunc_attributes(name):
    uf = getattr(relukit, name)
    nin, types = UFUNCS[name]
    assert type(uf) is np.ufunc
    assert uf.__module__ == "relukit"
    assert uf.__name__ == name
    assert uf.nin == nin and uf.nout == 1 and uf.nargs == nin + 1
    # float16 listed first, so float16 input stays float16
    assert uf.types == types
    assert uf.ntypes == 3
    assert uf.signature is None


def test_public_names():
    for name in ("relu", "relu_backward", "relu_backward_from_output", *WRAPPERS,
                 "set_num_threads", "get_num_threads", "threads", "show_config", "config"):
        assert name in relukit.__all__
        assert callable(getattr(relukit, name))
    assert isinstance(relukit.__version__, str) and relukit.__version__
    assert relukit.__version__ == relukit.config()["version"]
    assert relukit.relu.__doc__ and relukit.relu_backward.__doc__
    assert relukit.relu_backward_from_output.__doc__
    for name in WRAPPERS:
        f = getattr(relukit, name)
        assert f.__doc__ and f.__module__ == "relukit"
        assert type(f.ufunc) is np.ufunc and f.ufunc is getattr(relukit, name + "_ufunc")


@pytest.mark.parametrize("name", [*UFUNCS, *WRAPPERS])
def test_pickle_round_trip(name):
    f = getattr(relukit, name)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(f, protocol=protocol)
        assert pickle.loads(data) is f
        # the pickle names relukit, never a CPU-level-specific kernel module
        assert b"_kernels" not in data
        assert b"relukit" in data


def test_pickle_loads_in_fresh_process(tmp_path):
    names = [*UFUNCS, *WRAPPERS]
    path = tmp_path / "funcs.pkl"
    path.write_bytes(pickle.dumps({n: getattr(relukit, n) for n in names}))
    script = textwrap.dedent(f"""
        import pickle, sys
        import numpy as np
        funcs = pickle.loads(open({str(path)!r}, "rb").read())
        import relukit
        for name, f in funcs.items():
            assert f is getattr(relukit, name), name
        x = np.array([-2.0, 0.0, 3.0, np.nan])
        print(funcs["relu"](x).tolist(), funcs["leaky_relu"](x, 0.5).tolist())
        print(funcs["relu_backward"](np.ones(4), x).tolist())
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "[0.0, 0.0, 3.0, nan] [-1.0, 0.0, 3.0, nan]"
    assert lines[1] == "[0.0, 0.0, 1.0, nan]"


class Recorder:
    """A duck array that records every ufunc call it is offered."""

    def __init__(self, value):
        self.value = np.asarray(value)
        self.calls = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self.calls.append((ufunc, method, inputs, kwargs))
        unwrapped = [i.value if isinstance(i, Recorder) else i for i in inputs]
        return ("recorded", getattr(ufunc, method)(*unwrapped, **kwargs))


def test_array_ufunc_dispatch_unary():
    r = Recorder([-1.0, 2.0])
    tag, result = relukit.relu(r)
    assert tag == "recorded"
    assert_same_bits(result, np.array([0.0, 2.0]))
    (ufunc, method, inputs, kwargs), = r.calls
    assert ufunc is relukit.relu and method == "__call__" and inputs == (r,)


def test_array_ufunc_dispatch_second_operand_and_out():
    g = np.array([5.0, 5.0])
    r = Recorder([-1.0, 2.0])
    tag, result = relukit.relu_backward(g, r)
    assert tag == "recorded"
    assert_same_bits(result, np.array([0.0, 5.0]))
    ufunc, method, inputs, kwargs = r.calls[0]
    assert ufunc is relukit.relu_backward and inputs[0] is g and inputs[1] is r


def test_array_ufunc_dispatch_through_wrapper():
    r = Recorder([-2.0, 2.0])
    tag, result = relukit.leaky_relu(r, 0.25)
    assert tag == "recorded"
    assert_same_bits(result, np.array([-0.5, 2.0]))
    ufunc, method, inputs, kwargs = r.calls[0]
    assert ufunc is relukit.leaky_relu_ufunc
    assert inputs[0] is r and inputs[1] == 0.25
    # the wrapper passes out=None through untouched; a given out arrives as a tuple
    out = np.empty(2)
    relukit.leaky_relu(r, 0.25, out=out)
    assert r.calls[1][3]["out"] == (out,)


def test_array_ufunc_none_opts_out():
    class NoUfuncs:
        __array_ufunc__ = None

    with pytest.raises(TypeError):
        relukit.relu(NoUfuncs())
    with pytest.raises(TypeError):
        relukit.relu_backward(np.ones(2), NoUfuncs())


def test_array_interface_objects():
    class ArrayLike:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return self.a if dtype is None else self.a.astype(dtype)

    x = make_data(50, np.float32)
    r = relukit.relu(ArrayLike(x))
    assert_same_bits(r, ref_relu(x))


def test_ufunc_at():
    x = make_data(100, np.float64, seed=2)
    idx = np.array([0, 3, 3, 50, 99])
    expected = x.copy()
    for i in np.unique(idx):
        expected[i] = ref_relu(expected[i:i + 1])[0]
    # index 3 appears twice: relu is idempotent, so applying twice is still one relu
    a = x.copy()
    relukit.relu.at(a, idx)
    assert_same_bits(a, expected)
    g = make_data(100, np.float32, seed=3)
    xx = make_data(5, np.float32, seed=4)
    a = g.copy()
    relukit.relu_backward.at(a, np.arange(5), xx)
    expected = g.copy()
    expected[:5] = ref_relu_backward(g[:5], xx)
    assert_same_bits(a, expected)


def test_ufunc_outer(dtype):
    g = make_data(13, dtype, seed=5)
    x = make_data(17, dtype, seed=6)
    r = relukit.relu_backward.outer(g, x)
    assert r.shape == (13, 17)
    assert_same_bits(r, ref_relu_backward(*np.broadcast_arrays(g[:, None], x[None, :])))
    r = relukit.leaky_relu_ufunc.outer(x, np.array([0.0, 0.5, 2.0], dtype))
    assert_same_bits(r, ref_leaky_relu(*np.broadcast_arrays(x[:, None],
                                                            np.array([[0.0, 0.5, 2.0]], dtype))))


def test_unary_ufunc_has_no_reduce():
    with pytest.raises(ValueError):
        relukit.relu.reduce(np.ones(3))


def test_resolve_dtypes():
    f16, f32, f64 = (np.dtype(t) for t in ("float16", "float32", "float64"))
    assert relukit.relu.resolve_dtypes((f16, None)) == (f16, f16)
    assert relukit.relu.resolve_dtypes((f32, None)) == (f32, f32)
    assert relukit.relu.resolve_dtypes((np.dtype(np.int8), None)) == (f16, f16)
    assert relukit.relu.resolve_dtypes((np.dtype(np.int64), None)) == (f64, f64)
    assert relukit.relu_backward.resolve_dtypes((f32, f16, None)) == (f32, f32, f32)
