"""relukit.nn: every layer's backward against the functional backward and against numerical
gradients, what each layer saves, in-place forwards, PReLU and RReLU, dead-unit tracking, errors,
and a training step of a tiny network."""

import numpy as np
import pytest

import relukit
from relukit import nn
from _support import DTYPES, make_data, special_values

# layer name -> constructor arguments that are not the defaults (also tried), functional op
ARGS = {
    "Threshold": (0.5, -2.0),
    "LeakyReLU": (0.2,),
    "Hardtanh": (-2.0, 1.5),
    "ELU": (0.7,),
    "CELU": (1.3,),
    "GELU": ("tanh",),
    "Softplus": (2.0, 10.0),
    "Hardshrink": (0.3,),
    "Softshrink": (0.3,),
    "Squareplus": (2.0,),
}
ELEMENTWISE = [name for name in nn.LAYERS if name not in ("PReLU", "RReLU")]
KINKS = np.array([0.0, 0.5, -0.5, 0.3, -0.3, 1.0, -1.0, 1.5, -2.0, 6.0, 3.0, -3.0])
MASKED = {"ReLU", "LeakyReLU", "ReLU6", "Hardtanh", "Threshold", "Hardshrink", "Softshrink", "RReLU"}
FROM_OUTPUT = {"ELU", "SELU", "CELU", "Softplus", "Hardsigmoid", "Sigmoid", "Tanh", "Softsign",
               "LogSigmoid", "SparsePlus", "Squareplus"}


def make(name, default=False):
    cls = getattr(nn, name)
    if name == "Threshold" or not default:
        return cls(*ARGS.get(name, ()))
    return cls()


def functional(layer):
    """The layer's op as relukit functions with its parameters."""
    kwargs = {p: getattr(layer, p) for p, _ in layer.params}
    f = getattr(relukit, layer.op)
    b = getattr(relukit, f"{layer.op}_backward")
    bo = getattr(relukit, f"{layer.op}_backward_from_output", None)
    return (lambda x: f(x, **kwargs)), (lambda g, x: b(g, x, **kwargs)), (
        None if bo is None else lambda g, y: bo(g, y, **kwargs))


def same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def test_every_torch_activation_has_a_layer():
    expected = {"ReLU", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
                "Softplus", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh",
                "Softsign", "Tanhshrink", "Threshold", "Hardshrink", "Softshrink", "LogSigmoid"}
    assert expected <= set(nn.LAYERS)
    assert set(nn.__all__) == set(nn.LAYERS) | {"Layer"}


@DTYPES
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("default", [True, False], ids=["defaults", "params"])
def test_layer_equals_functional(name, dtype, default):
    layer = make(name, default)
    fwd, bwd, bwd_out = functional(layer)
    x = make_data(2000, dtype, seed=1, nan=False).reshape(40, 50)
    g = make_data(2000, dtype, seed=2).reshape(40, 50)
    y = layer.forward(x)
    same_bits(y, fwd(x))
    dx = layer.backward(g)
    # softplus from its output needs threshold >= 8.318 / 17.329 / 37.43 (float16 / 32 / 64)
    softplus_input = name == "Softplus" and layer.threshold < {"e": 8.318, "f": 17.329, "d": 37.43}[
        np.dtype(dtype).char]
    expected_kind = ("mask" if name in MASKED else "input" if softplus_input
                     else "output" if name in FROM_OUTPUT else "input")
    assert layer.saved == expected_kind
    same_bits(dx, bwd_out(g, y) if expected_kind == "output" else bwd(g, x))
    same_bits(layer.backward(g), dx)                   # backward may run again


@DTYPES
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_special_values(name, dtype):
    layer = make(name)
    fwd, bwd, bwd_out = functional(layer)
    x = special_values(dtype)
    g = np.ones_like(x)
    y = layer.forward(x)
    same_bits(y, fwd(x))
    dx = layer.backward(g)
    want = bwd_out(g, y) if layer.saved == "output" else bwd(g, x)
    if layer.saved == "mask":       # one bit cannot carry NaN: a NaN input gets a dead unit's gradient
        nan = np.isnan(x)
        want[nan] = relukit.leaky_relu_backward(g[nan], -1.0, 0.2) if name == "LeakyReLU" else 0
    same_bits(dx, want)


@pytest.mark.parametrize("name", ELEMENTWISE + ["RReLU"])
@pytest.mark.parametrize("default", [True, False], ids=["defaults", "params"])
def test_numerical_gradient(name, default):
    layer = make(name, default)
    if name == "RReLU":
        layer.eval()
    rng = np.random.default_rng(3)
    x = rng.uniform(-7, 7, 3000)
    x = x[np.min(np.abs(x[:, None] - KINKS[None, :]), axis=1) > 1e-2].reshape(-1)
    g = rng.standard_normal(x.size)
    layer.forward(x)
    dx = layer.backward(g)
    h = 1e-6
    plus, minus = layer.forward(x + h), layer.forward(x - h)
    numeric = g * (plus - minus) / (2 * h)
    np.testing.assert_allclose(dx, numeric, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE + ["RReLU"])
def test_in_place_forward(name):
    cls = getattr(nn, name)
    args = ARGS.get(name, ())
    x = make_data(999, np.float32, seed=4, nan=False)
    g = make_data(999, np.float32, seed=5)
    ref = cls(*args, seed=9) if name == "RReLU" else cls(*args)
    y_ref = ref.forward(x)
    dx_ref = ref.backward(g)
    layer = cls(*args, inplace=True, seed=9) if name == "RReLU" else cls(*args, inplace=True)
    buf = x.copy()
    y = layer.forward(buf)
    assert y is buf
    same_bits(y, y_ref)
    same_bits(layer.backward(g), dx_ref)
    # the saved state is a mask or the output itself: no second array of x's size
    if layer.saved == "mask":
        assert layer._saved.nbytes == (x.size + 7) // 8
    elif layer.saved == "output":
        assert layer._saved is buf


def test_input_is_not_modified_without_inplace():
    x = make_data(100, np.float64, seed=6)
    before = x.copy()
    for name in ELEMENTWISE:
        make(name).forward(x)
    np.testing.assert_array_equal(x.view(np.uint64), before.view(np.uint64))


def test_from_output_needs_parameters_that_allow_it():
    assert nn.ELU(1.0).saved is None               # nothing before a forward
    layer = nn.ELU(-0.5)
    x = np.array([-1.0, 2.0])
    layer.forward(x)
    assert layer.saved == "input"
    np.testing.assert_array_equal(layer.backward(np.ones(2)), relukit.elu_backward(np.ones(2), x, -0.5))


@DTYPES
def test_prelu(dtype):
    layer = nn.PReLU(3, init=0.1)
    assert layer.weight.shape == (3,) and layer.weight.dtype == np.float32
    layer.weight[:] = [0.1, 0.2, 0.5]
    x = make_data(2 * 3 * 5, dtype, seed=7, nan=False).reshape(2, 3, 5)
    g = make_data(2 * 3 * 5, dtype, seed=8, nan=False).reshape(2, 3, 5)
    same_bits(layer.forward(x), relukit.prelu(x, layer.weight))
    same_bits(layer.backward(g), relukit.prelu_backward(g, x, layer.weight))
    same_bits(layer.weight_grad, relukit.prelu_weight_grad(g, x, layer.weight))
    assert layer.saved == "input"


def test_prelu_numerical_weight_gradient():
    layer = nn.PReLU(4, init=0.25, axis=-1, dtype=np.float64)
    rng = np.random.default_rng(9)
    x, g = rng.standard_normal((16, 4)), rng.standard_normal((16, 4))
    layer.forward(x)
    layer.backward(g)
    h = 1e-6
    for c in range(4):
        w = layer.weight.copy()
        layer.weight[c] = w[c] + h
        plus = np.sum(g * layer.forward(x))
        layer.weight[c] = w[c] - h
        minus = np.sum(g * layer.forward(x))
        layer.weight[:] = w
        assert layer.weight_grad[c] == pytest.approx((plus - minus) / (2 * h), rel=1e-6, abs=1e-9)


@DTYPES
def test_rrelu_training_slopes_match_backward(dtype):
    layer = nn.RReLU(0.1, 0.3, seed=1)
    assert layer.training
    x = make_data(5000, dtype, seed=10, nan=False)
    x = x[np.isfinite(x) & (np.abs(x) > 1e-3) & (np.abs(x) < 1e3)]
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(x))
    neg = x < 0
    slopes = dx[neg].astype(np.float64)
    assert ((slopes >= 0.1 - 1e-3) & (slopes < 0.3 + 1e-3)).all() and np.unique(slopes).size > 10
    # the slope of the forward is the one the backward uses
    np.testing.assert_allclose(y[neg].astype(np.float64) / x[neg], slopes,
                               rtol=2 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(dx[x > 0], 1)
    # the backward equals relukit.rrelu_backward with the forward's seed
    same_bits(dx, relukit.rrelu_backward(np.ones_like(x), x, 0.1, 0.3, training=True,
                                         seed=layer._step_seed))
    y2 = layer.forward(x)
    assert not np.array_equal(y, y2)                   # a new draw each step
    same_bits(nn.RReLU(0.1, 0.3, seed=1).forward(x), y)   # reproducible from the layer's seed


def test_rrelu_eval_is_leaky_relu_with_the_mean_slope():
    layer = nn.RReLU(0.1, 0.3).eval()
    assert not layer.training
    x, g = make_data(300, np.float64, seed=11, nan=False), make_data(300, np.float64, seed=12)
    same_bits(layer.forward(x), relukit.leaky_relu(x, 0.2))
    same_bits(layer.backward(g), relukit.leaky_relu_backward(g, x, 0.2))
    assert layer.train() is layer and layer.training
    # backward follows the mode its forward ran in, not the mode switched to since
    same_bits(layer.backward(g), relukit.leaky_relu_backward(g, x, 0.2))
    y = layer.forward(x)
    dx = layer.backward(g)
    layer.eval()
    same_bits(layer.backward(g), dx)
    assert not np.array_equal(y, relukit.leaky_relu(x, 0.2))


def test_track_dead():
    layer = nn.ReLU(track_dead=True)
    assert layer.dead_fraction is None
    layer.forward(np.array([[-1.0, 2.0, -3.0, np.nan], [-1.0, -2.0, 0.0, np.nan]]))
    assert layer.dead_fraction == 0.75
    layer.forward(np.array([[1.0, -2.0, -3.0, -1.0]]))
    np.testing.assert_array_equal(layer.dead, [False, False, True, True])
    assert layer.dead_fraction == 0.5
    with pytest.raises(ValueError, match="reset_dead"):
        layer.forward(np.ones((2, 3)))
    layer.reset_dead()
    layer.forward(np.ones((2, 3)))
    assert layer.dead_fraction == 0.0
    conv = nn.GELU(track_dead=True, dead_axis=(0, 2, 3))
    x = np.random.default_rng(0).standard_normal((8, 5, 4, 4))
    x[:, 1] = -np.abs(x[:, 1])
    conv.forward(x)
    np.testing.assert_array_equal(conv.dead, [False, True, False, False, False])
    # a forward that fails (a read-only input to an in-place layer) leaves the tally alone
    layer = nn.ReLU(inplace=True, track_dead=True)
    layer.forward(np.array([[1.0, -2.0]]))
    frozen = np.array([[-1.0, -2.0]])
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        layer.forward(frozen)
    np.testing.assert_array_equal(layer.dead, [False, True])


@pytest.mark.parametrize("dtype", [np.int32, np.complex64, np.bool_])
def test_prelu_weight_dtype_must_be_float(dtype):
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        nn.PReLU(3, dtype=dtype)


def test_layer_errors():
    with pytest.raises(RuntimeError, match="forward first"):
        nn.ReLU().backward(np.ones(3))
    layer = nn.Sigmoid()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.ones(6))
    with pytest.raises(ValueError):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError):
        nn.GELU("exact")
    with pytest.raises(TypeError):
        nn.Threshold()
    with pytest.raises(TypeError):
        nn.ReLU(False, 3)
    with pytest.raises(ValueError):
        nn.PReLU(0)
    with pytest.raises(ValueError):
        nn.RReLU(0.5, 0.1)
    with pytest.raises(ValueError):
        nn.Softplus(beta=0.0)
    with pytest.raises(ValueError):
        nn.PReLU(3).forward(np.ones((2, 4)))


def test_repr_and_positional_arguments():
    assert repr(nn.ReLU(True)) == "ReLU(inplace=True)"
    assert repr(nn.Threshold(0.1, 20)) == "Threshold(threshold=0.1, value=20, inplace=False)"
    assert nn.GELU(approximate="tanh").approximate == "tanh"


def test_tiny_network_trains():
    """Two dense layers with a ReLU between, by hand: the layer gradients match finite differences
    of the whole network, and a few SGD steps reduce the loss."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    t = np.sin(X.sum(axis=1, keepdims=True))
    W1, b1 = rng.standard_normal((5, 16)) * 0.5, np.zeros(16)
    W2, b2 = rng.standard_normal((16, 1)) * 0.5, np.zeros(1)
    act = nn.ReLU(track_dead=True)

    def loss_and_grads(W1, b1, W2, b2):
        h = act.forward(X @ W1 + b1)
        out = h @ W2 + b2
        loss = 0.5 * np.mean((out - t) ** 2)
        d_out = (out - t) / len(X)
        d_h = d_out @ W2.T
        d_z = act.backward(d_h)
        return loss, (X.T @ d_z, d_z.sum(0), h.T @ d_out, d_out.sum(0))

    loss, grads = loss_and_grads(W1, b1, W2, b2)
    eps = 1e-6
    for i, j in [(0, 0), (2, 5), (4, 15)]:
        Wp, Wm = W1.copy(), W1.copy()
        Wp[i, j] += eps
        Wm[i, j] -= eps
        numeric = (loss_and_grads(Wp, b1, W2, b2)[0] - loss_and_grads(Wm, b1, W2, b2)[0]) / (2 * eps)
        assert grads[0][i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    first = loss
    for _ in range(50):
        loss, (gW1, gb1, gW2, gb2) = loss_and_grads(W1, b1, W2, b2)
        W1, b1, W2, b2 = W1 - 0.1 * gW1, b1 - 0.1 * gb1, W2 - 0.1 * gW2, b2 - 0.1 * gb2
    assert loss < 0.7 * first
    assert 0.0 <= act.dead_fraction <= 1.0
