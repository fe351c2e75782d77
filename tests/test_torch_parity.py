"""Parity with PyTorch (torch.nn.functional forwards, torch.autograd gradients), float32 and
float64, on finite data away from kinks, for every function PyTorch has. Skipped without torch
(an optional, development-only dependency; written against PyTorch 2.13 on CPU).

Tolerance, per op and direction: |relukit - torch| <= (R + T) spacing + c eps A, where R is
relukit's SPEC bound in steps from the correctly rounded value (0 for the bitwise class, 1 for
hardsigmoid, hardswish, softshrink, 4 for the transcendental ops), T steps and c eps A the error
allowed to PyTorch's formula (eps = finfo(dtype).eps, A the magnitude of the terms PyTorch adds,
where its formula cancels), and spacing that of the larger of the two results. The allowances
are listed with each case in CASES, with the formula PyTorch 2.13 evaluates.

Where we deliberately differ (each is tested below, so that this list stays true):

- NaN in x: relukit's gradient is NaN for every op (SPEC). PyTorch's is not NaN for relu,
  relu6, leaky_relu, prelu, rrelu (eval), threshold, hardtanh, hardshrink, softshrink and
  hardsigmoid (it selects on a comparison that is false for NaN, or on the output), and for elu,
  selu, celu and hardswish it depends on the element's position in the array (vectorised body or
  scalar tail; pytorch/pytorch#195075).
- Limits at infinity: relukit's gelu (both forms), silu, mish and hardswish are 0 at -inf and
  softsign is +-1 at +-inf (SPEC); PyTorch gives NaN there (inf * 0, inf / inf;
  pytorch/pytorch#185770). Their gradients at -inf: relukit 0, PyTorch NaN (gelu, silu, mish,
  softsign). (PyTorch's float32 gelu(+inf) is NaN or inf depending on the element's position;
  not tested.)
- Overflow: softplus without a usable threshold (threshold=1e30) is x for large x in relukit,
  inf in PyTorch (its exp overflows; its gradient is then NaN); the tanh-gelu gradient at
  |x| = 1e30 is 0 or 1 in relukit, NaN in PyTorch float32 (x**3 overflows; float64 at -1e300).
- Accuracy: where PyTorch's formula cancels, relukit keeps its 4-ULP bound and PyTorch does not:
  gelu for x << 0 (1 + erf, 1 + tanh), the gradients of sigmoid and tanh near saturation (from
  the output, 1 - y), tanhshrink near 0 (x - tanh x), silu's, mish's and hardswish's gradient
  near their zeros, celu with alpha != 1 (x * (1/alpha) rounded, then amplified by e^z); and
  PyTorch's float64 hardsigmoid gradient is g times a float32 1/6 (off by 2**-25 relative). The tolerance allows PyTorch's error there (c eps A), it does not skip.
- rrelu in training: different random generators (relukit's is counter-based, from the seed);
  not compared.

Where the frameworks agree although one might expect otherwise (tested, so that a change shows):
hardswish's gradient at -3 and 3 is 0 and 1 in both; softshrink(NaN) is NaN in both; the
gradient at every other kink (relu at 0, hardtanh and relu6 at their bounds, threshold at t,
the shrinks at +-lambd, leaky_relu and elu at 0, hardsigmoid at +-3) follows PyTorch (SPEC).
"""

import math

import numpy as np
import pytest

import relukit
from _reference import spacing, ulp_steps
from _support import assert_same_bits

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


@pytest.fixture(autouse=True, scope="module")
def torch_on_one_thread():
    """PyTorch on one intra-op thread: with two, its float32 tanh was ~1500 ULP off on the second
    half of an 8000-element tensor in about one process in three (after other ops had run on that
    thread), where one thread gives it within 0.56 ULP every time. The reference must not flake."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _t(a, requires_grad=False):
    return torch.tensor(np.asarray(a), dtype=TORCH_DTYPE[np.asarray(a).dtype],
                        requires_grad=requires_grad)


def torch_forward_backward(fn, x, g):
    """PyTorch's forward of x and the gradient autograd gives for the incoming gradient g."""
    xt = _t(x, requires_grad=True)
    y = fn(xt)
    y.backward(_t(g))
    return y.detach().numpy(), xt.grad.numpy()


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -700, 700)))


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


# name: (torch forward, relukit forward, relukit backward, kinks, (R_fwd, R_bwd),
#        (T_fwd, T_bwd), (cA_fwd(x), cA_bwd(g, x)) in units of eps, or None)
SEL = 1.0507009873554804934193349852946
CASES = {
    # the bitwise class: PyTorch selects, or multiplies once, as relukit does
    "relu": (F.relu, relukit.relu, relukit.relu_backward, (0.0,), (0, 0), (0, 0), None),
    "relu6": (F.relu6, relukit.relu6, relukit.relu6_backward, (0.0, 6.0), (0, 0), (0, 0), None),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda x: relukit.leaky_relu(x, 0.2),
                   lambda g, x: relukit.leaky_relu_backward(g, x, 0.2), (0.0,), (0, 0), (0, 0),
                   None),
    "rrelu (eval)": (lambda t: F.rrelu(t, 0.1, 0.3, training=False),
                     lambda x: relukit.rrelu(x, 0.1, 0.3),
                     lambda g, x: relukit.rrelu_backward(g, x, 0.1, 0.3), (0.0,), (0, 0), (0, 0),
                     None),
    "threshold": (lambda t: F.threshold(t, 1.0, -5.0), lambda x: relukit.threshold(x, 1.0, -5.0),
                  lambda g, x: relukit.threshold_backward(g, x, 1.0, -5.0), (1.0,), (0, 0),
                  (0, 0), None),
    "hardtanh": (lambda t: F.hardtanh(t, -0.5, 2.0), lambda x: relukit.hardtanh(x, -0.5, 2.0),
                 lambda g, x: relukit.hardtanh_backward(g, x, -0.5, 2.0), (-0.5, 2.0), (0, 0),
                 (0, 0), None),
    "hardshrink": (F.hardshrink, relukit.hardshrink, relukit.hardshrink_backward, (-0.5, 0.5),
                   (0, 0), (0, 0), None),
    # x -+ lambd, one rounding in both
    "softshrink": (F.softshrink, relukit.softshrink, relukit.softshrink_backward, (-0.5, 0.5),
                   (1, 0), (0, 0), None),
    # (x + 3).clamp(0, 6) / 6: 2 roundings; gradient g / 6 (float32), g * float32(1/6) (float64:
    # relative 2**-25, as c eps A with A = |g| / 6 * 2**-24 / eps)
    "hardsigmoid": (F.hardsigmoid, relukit.hardsigmoid, relukit.hardsigmoid_backward, (-3.0, 3.0),
                    (1, 1), (2, 1), (None, lambda g, x, eps: np.abs(g) / 6 * 2.0 ** -24)),
    # x * (x + 3).clamp(0, 6) / 6: 3 roundings; gradient g (x / 3 + 0.5), which cancels near
    # -1.5: 2 eps |g| (|x| / 3 + 0.5)
    "hardswish": (F.hardswish, relukit.hardswish, relukit.hardswish_backward, (-3.0, 3.0), (1, 1),
                  (3, 1), (None, lambda g, x, eps: 2 * eps * np.abs(g) * (np.abs(x) / 3 + 0.5))),
    # alpha expm1(x) times the scales, and g alpha e^x: a few roundings around one exp
    "elu": (F.elu, relukit.elu, relukit.elu_backward, (0.0,), (4, 4), (4, 4), None),
    "elu alpha=0.3": (lambda t: F.elu(t, 0.3), lambda x: relukit.elu(x, 0.3),
                      lambda g, x: relukit.elu_backward(g, x, 0.3), (0.0,), (4, 4), (4, 4), None),
    "selu": (F.selu, relukit.selu, relukit.selu_backward, (0.0,), (4, 4), (4, 4), None),
    "celu": (F.celu, relukit.celu, relukit.celu_backward, (0.0,), (4, 4), (4, 4), None),
    # celu with alpha = 3: PyTorch rounds x * (1/3) (its 1/3 rounded too), a relative error of
    # eps in z = x / alpha that e^z turns into eps |z| of the result: 2 eps |z| alpha e^z
    # (forward) and 2 eps |z| |g| e^z (gradient), x < 0
    "celu alpha=3": (lambda t: F.celu(t, 3.0), lambda x: relukit.celu(x, 3.0),
                     lambda g, x: relukit.celu_backward(g, x, 3.0), (0.0,), (4, 4), (4, 4),
                     (lambda x, eps: 2 * eps * np.abs(np.minimum(x, 0) / 3) * 3 * np.exp(
                         np.minimum(x, 0) / 3),
                      lambda g, x, eps: 2 * eps * np.abs(np.minimum(x, 0) / 3) * np.abs(g)
                      * np.exp(np.minimum(x, 0) / 3))),
    # x * 0.5 * (1 + erf(x / sqrt2)): 1 + erf cancels for x < 0, 4 eps |x| absolute; gradient
    # g (cdf + x pdf), cdf with an absolute error of 2 eps: 4 eps |g| (1 + |x| phi(x))
    "gelu": (F.gelu, relukit.gelu, relukit.gelu_backward, (), (4, 4), (4, 4),
             (lambda x, eps: 4 * eps * np.abs(x),
              lambda g, x, eps: 4 * eps * np.abs(g) * (1 + np.abs(x) * _phi(x)))),
    # 0.5 x (1 + tanh(inner)): cancels for x < 0; the gradient's 0.5 x (1 - tanh^2) inner' has
    # 1 - tanh^2 to eps absolute: 6 eps |g| (1 + |x| (1 + 0.134145 x^2))
    "gelu tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: relukit.gelu(x, approximate="tanh"),
                  lambda g, x: relukit.gelu_backward(g, x, approximate="tanh"), (), (4, 4),
                  (4, 4), (lambda x, eps: 4 * eps * np.abs(x),
                           lambda g, x, eps: 6 * eps * np.abs(g) * (
                               1 + np.abs(x) * (1 + 0.134145 * x * x)))),
    # x sigmoid(x); gradient g s (1 + x (1 - s)), which cancels at its zero (x = -1.278), and
    # whose 1 - s carries s's rounding (eps absolute, times |x|): 4 eps |g| s (1 + |x|)
    "silu": (F.silu, relukit.silu, relukit.silu_backward, (), (4, 4), (3, 4),
             (None, lambda g, x, eps: 4 * eps * np.abs(g) * _sigmoid(x) * (1 + np.abs(x)))),
    # x tanh(softplus(x)); gradient tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2), cancelling at its
    # zero (x = -1.192): 4 eps |g| (tanh(sp) + |x| sigmoid(x))
    "mish": (F.mish, relukit.mish, relukit.mish_backward, (), (4, 4), (4, 4),
             (None, lambda g, x, eps: 4 * eps * np.abs(g) * (
                 np.tanh(np.logaddexp(0, x)) + np.abs(x) * _sigmoid(x)))),
    # log1p(exp(beta x)) / beta; gradient g z / (z + 1), z = exp(beta x)
    "softplus": (F.softplus, relukit.softplus, relukit.softplus_backward, (20.0,), (4, 4), (3, 4),
                 None),
    "softplus beta=2": (lambda t: F.softplus(t, 2.0, 10.0),
                        lambda x: relukit.softplus(x, 2.0, 10.0),
                        lambda g, x: relukit.softplus_backward(g, x, 2.0, 10.0), (5.0,), (4, 4),
                        (3, 4), None),
    "logsigmoid": (F.logsigmoid, relukit.logsigmoid, relukit.logsigmoid_backward, (), (4, 4),
                   (3, 4), None),
    # 1 / (1 + exp(-x)); gradient g (1 - y) y from the output y: 1 - y carries y's error,
    # 4 eps |g| y absolute
    "sigmoid": (torch.sigmoid, relukit.sigmoid, relukit.sigmoid_backward, (), (4, 4), (3, 1),
                (None, lambda g, x, eps: 4 * eps * np.abs(g) * _sigmoid(x))),
    # gradient g (1 - y^2) from the output: 3 eps |g| absolute
    "tanh": (torch.tanh, relukit.tanh, relukit.tanh_backward, (), (4, 4), (2, 1),
             (None, lambda g, x, eps: 3 * eps * np.abs(g))),
    # x / (|x| + 1); autograd's gradient g / (|x| + 1) - g |x| / (|x| + 1)^2 cancels for large
    # |x|: 4 eps |g| 2 / (1 + |x|)
    "softsign": (F.softsign, relukit.softsign, relukit.softsign_backward, (), (4, 4), (2, 1),
                 (None, lambda g, x, eps: 8 * eps * np.abs(g) / (1 + np.abs(x)))),
    # x - tanh(x) cancels near 0: 2 eps |x|; autograd's g - g (1 - y^2): 3 eps |g|
    "tanhshrink": (F.tanhshrink, relukit.tanhshrink, relukit.tanhshrink_backward, (), (4, 4),
                   (1, 1), (lambda x, eps: 2 * eps * np.abs(x),
                            lambda g, x, eps: 3 * eps * np.abs(g))),
}


def _data(dtype, kinks, n=4000, seed=0):
    """x: uniform on [-8, 8] and log-uniform magnitudes in [1e-6, 30] of both signs, at least
    1e-3 from every kink; g: standard normal times log-uniform scales in [1/4, 4]."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-8, 8, n),
                        10.0 ** rng.uniform(-6, math.log10(30), n) * rng.choice([-1, 1], n)])
    for k in kinks:
        x = x[np.abs(x - k) > 1e-3]
    x = x.astype(dtype)
    g = (rng.standard_normal(x.size) * 2.0 ** rng.uniform(-2, 2, x.size)).astype(dtype)
    return g, x


def _check(name, kind, got, want, R, T, cA, dtype):
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    sp = spacing(np.maximum(np.abs(got), np.abs(want)).astype(dtype))
    allowed = (R + T) * sp + (0.0 if cA is None else cA)
    if R + T == 0 and cA is None:
        assert_same_bits(got, want, f"{name} {kind}")
        return
    bad = np.flatnonzero(~(err <= allowed))
    assert not bad.size, (
        f"{name} {kind} {np.dtype(dtype).name}: {bad.size} beyond the allowance, e.g. "
        + ", ".join(f"#{i}: relukit {got[i]!r} torch {want[i]!r} (allowed {allowed[i]:.3g})"
                    for i in bad[:5]))


@pytest.mark.parametrize("name", list(CASES))
@DTYPES
def test_forward_and_gradient_match_pytorch(name, dtype):
    dtype = np.dtype(dtype)
    tf, rf, rb, kinks, R, T, cA = CASES[name]
    g, x = _data(dtype, kinks, seed=len(name))
    y_t, g_t = torch_forward_backward(tf, x, g)
    y_r, g_r = rf(x), rb(g, x)
    eps = float(np.finfo(dtype).eps)
    fa = None if cA is None or cA[0] is None else cA[0](x.astype(np.float64), eps)
    ba = None if cA is None or cA[1] is None else cA[1](g.astype(np.float64), x.astype(np.float64),
                                                         eps)
    _check(name, "forward", y_r, y_t, R[0], T[0], fa, dtype)
    _check(name, "backward", g_r, g_t, R[1], T[1], ba, dtype)


@DTYPES
def test_prelu_matches_pytorch(dtype):
    """Forward and input gradient bit for bit; the weight gradient within relukit's bound plus
    PyTorch's (a float32 sum of n terms in some order: (n - 1) eps/2 sum |t|; float64 likewise)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 5, 300)).astype(dtype)
    x[np.abs(x) < 1e-3] = 0.5
    g = rng.standard_normal(x.shape).astype(dtype)
    w = np.array([0.25, 0.0, -0.1, 1.5, 0.01], dtype)
    xt, wt = _t(x, True), _t(w, True)
    y = F.prelu(xt, wt)
    y.backward(_t(g))
    assert_same_bits(relukit.prelu(x, w), y.detach().numpy(), "prelu")
    assert_same_bits(relukit.prelu_backward(g, x, w), xt.grad.numpy(), "prelu_backward")
    got = relukit.prelu_weight_grad(g, x, w)
    want = wt.grad.numpy()
    terms = np.where(x > 0, 0, x.astype(np.float64) * g)
    n = x.size // w.size
    eps = float(np.finfo(dtype).eps)
    bound = spacing(got) + (n - 1) * eps / 2 * np.abs(terms).sum(axis=(0, 2)) * 2
    assert (np.abs(got.astype(np.float64) - want) <= bound).all(), (got, want, bound)
    # one slope for every channel
    w1 = np.array([0.2], dtype)
    wt1 = _t(w1, True)
    F.prelu(_t(x), wt1).backward(_t(g))
    got1 = relukit.prelu_weight_grad(g, x, w1)
    bound1 = spacing(got1) + (x.size - 1) * eps * np.abs(terms).sum()
    assert np.abs(float(got1[0]) - float(wt1.grad[0])) <= bound1[0]


# ---- the documented differences -----------------------------------------------------------------
ALWAYS_NOT_NAN = {
    "relu": (F.relu, relukit.relu_backward),
    "relu6": (F.relu6, relukit.relu6_backward),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2),
                   lambda g, x: relukit.leaky_relu_backward(g, x, 0.2)),
    "prelu": (lambda t: F.prelu(t, torch.tensor([0.25], dtype=t.dtype)),
              lambda g, x: relukit.prelu_backward(g, x, np.array([0.25]), axis=0)),
    "rrelu": (lambda t: F.rrelu(t, training=False), relukit.rrelu_backward),
    "threshold": (lambda t: F.threshold(t, 1.0, -5.0),
                  lambda g, x: relukit.threshold_backward(g, x, 1.0, -5.0)),
    "hardtanh": (F.hardtanh, relukit.hardtanh_backward),
    "hardshrink": (F.hardshrink, relukit.hardshrink_backward),
    "softshrink": (F.softshrink, relukit.softshrink_backward),
    "hardsigmoid": (F.hardsigmoid, relukit.hardsigmoid_backward),
}
POSITION_DEPENDENT = {
    "elu": (F.elu, relukit.elu_backward),
    "selu": (F.selu, relukit.selu_backward),
    "celu": (F.celu, relukit.celu_backward),
    "hardswish": (F.hardswish, relukit.hardswish_backward),
}


def _nan_gradients(tf, rb, dtype, max_len=40):
    """Gradients at a NaN x placed at every position of arrays of length 1..max_len (x = -0.7
    elsewhere, g = 1): (torch's, relukit's) values at the NaN."""
    t_vals, r_vals = [], []
    for n in range(1, max_len + 1):
        for p in range(n):
            x = np.full(n, -0.7, dtype)
            x[p] = np.nan
            g = np.ones(n, dtype)
            t_vals.append(torch_forward_backward(tf, x, g)[1][p])
            r_vals.append(rb(g, x)[p])
    return np.array(t_vals), np.array(r_vals)


@pytest.mark.parametrize("name", list(ALWAYS_NOT_NAN) + list(POSITION_DEPENDENT))
@DTYPES
def test_gradient_at_nan_differs(name, dtype):
    tf, rb = {**ALWAYS_NOT_NAN, **POSITION_DEPENDENT}[name]
    t_vals, r_vals = _nan_gradients(tf, rb, np.dtype(dtype))
    assert np.isnan(r_vals).all(), "relukit: NaN in x gives a NaN gradient (SPEC)"
    if name in ALWAYS_NOT_NAN:
        assert not np.isnan(t_vals).any(), f"PyTorch's {name} gradient at NaN is now NaN somewhere"
    else:
        assert np.isnan(t_vals).any() and not np.isnan(t_vals).all(), (
            f"PyTorch's {name} gradient at NaN no longer depends on the position")


@DTYPES
def test_limits_at_infinity_differ(dtype):
    dtype = np.dtype(dtype)
    x = np.array([-np.inf], dtype)
    g = np.ones(1, dtype)
    for name, tf, rf, rb in (("gelu", F.gelu, relukit.gelu, relukit.gelu_backward),
                             ("gelu tanh", lambda t: F.gelu(t, approximate="tanh"),
                              relukit.gelu_tanh, relukit.gelu_tanh_backward),
                             ("silu", F.silu, relukit.silu, relukit.silu_backward),
                             ("mish", F.mish, relukit.mish, relukit.mish_backward),
                             ("hardswish", F.hardswish, relukit.hardswish, None)):
        y_t, g_t = torch_forward_backward(tf, x, g)
        assert np.isnan(y_t[0]), f"PyTorch's {name}(-inf) is no longer NaN"
        assert rf(x)[0] == 0, name
        if rb is not None:
            assert np.isnan(g_t[0]), f"PyTorch's {name} gradient at -inf is no longer NaN"
            assert rb(g, x)[0] == 0, name
    xs = np.array([-np.inf, np.inf], dtype)
    y_t, g_t = torch_forward_backward(F.softsign, xs, np.ones(2, dtype))
    assert np.isnan(y_t).all() and np.isnan(g_t).all()
    assert relukit.softsign(xs).tolist() == [-1.0, 1.0]
    assert relukit.softsign_backward(np.ones(2, dtype), xs).tolist() == [0.0, 0.0]
    # PyTorch's float32 gelu(+inf) is NaN or inf depending on where it sits in the array
    assert relukit.gelu(np.array([np.inf, -np.inf], dtype)).tolist() == [np.inf, 0.0]


@DTYPES
def test_overflow_differs(dtype):
    dtype = np.dtype(dtype)
    x = np.array([1000.0], dtype)
    y_t, g_t = torch_forward_backward(lambda t: F.softplus(t, 1.0, 1e30), x, np.ones(1, dtype))
    assert y_t[0] == np.inf and np.isnan(g_t[0])
    assert relukit.softplus(x, 1.0, 1e30)[0] == 1000.0
    assert relukit.softplus_backward(np.ones(1, dtype), x, 1.0, 1e30)[0] == 1.0
    big = np.array([1e30, -1e30, -1e300 if dtype == np.float64 else -3e38], dtype)
    _, g_t = torch_forward_backward(lambda t: F.gelu(t, approximate="tanh"), big,
                                    np.ones(3, dtype))
    want_nan = [True, True, True] if dtype == np.float32 else [False, False, True]
    assert np.isnan(g_t).tolist() == want_nan, g_t
    assert relukit.gelu_tanh_backward(np.ones(3, dtype), big).tolist() == [1.0, 0.0, 0.0]


def test_pytorch_float64_hardsigmoid_gradient_uses_a_float32_sixth():
    x = np.zeros(3)
    g = np.array([1.0, 3.0, 7.0])
    _, g_t = torch_forward_backward(F.hardsigmoid, x, g)
    rel = (g_t - g / 6) / (g / 6)
    assert np.all(np.abs(rel - 2.0 ** -25) < 2.0 ** -30), rel
    # relukit's is g times float64's 1/6: one rounding of g / 6 (1 + 2**-54), within 1 ULP
    got = relukit.hardsigmoid_backward(g, x)
    assert_same_bits(got, g * (1 / 6))
    assert np.all(np.abs(got - g / 6) <= np.spacing(g / 6)), got - g / 6


@DTYPES
def test_where_the_frameworks_agree(dtype):
    dtype = np.dtype(dtype)
    x = np.array([-3.0, 3.0], dtype)
    g = np.array([1.0, -2.5], dtype)
    for tf, rb in ((F.hardswish, relukit.hardswish_backward),
                   (F.hardsigmoid, relukit.hardsigmoid_backward)):
        _, g_t = torch_forward_backward(tf, x, g)
        assert_same_bits(rb(g, x), g_t)
    assert relukit.hardswish_backward(g, x).tolist() == [0.0, -2.5]
    for n in (1, 5, 17, 64):
        x = np.full(n, 0.7, dtype)
        x[n // 2] = np.nan
        assert_same_bits(relukit.softshrink(x), F.softshrink(_t(x)).numpy())
        assert np.isnan(relukit.softshrink(x)[n // 2])
    # the other kinks: gradient with g = 1 at the kink itself
    for tf, rb, k in ((F.relu, relukit.relu_backward, 0.0),
                      (F.relu6, relukit.relu6_backward, 6.0),
                      (F.relu6, relukit.relu6_backward, 0.0),
                      (F.hardtanh, relukit.hardtanh_backward, 1.0),
                      (F.hardtanh, relukit.hardtanh_backward, -1.0),
                      (lambda t: F.threshold(t, 1.0, -5.0),
                       lambda g, x: relukit.threshold_backward(g, x, 1.0, -5.0), 1.0),
                      (F.hardshrink, relukit.hardshrink_backward, 0.5),
                      (F.softshrink, relukit.softshrink_backward, -0.5),
                      (lambda t: F.leaky_relu(t, 0.2),
                       lambda g, x: relukit.leaky_relu_backward(g, x, 0.2), 0.0),
                      (lambda t: F.elu(t, 0.3), lambda g, x: relukit.elu_backward(g, x, 0.3),
                       0.0)):
        xk = np.array([k], dtype)
        gk = np.array([1.0], dtype)
        _, g_t = torch_forward_backward(tf, xk, gk)
        assert ulp_steps(rb(gk, xk), g_t)[0] == 0, (tf, k, rb(gk, xk), g_t)
