"""What relukit is timed against: for each op and direction, relukit's call, the fastest plain NumPy
expression and PyTorch's function. Shared by ``python -m relukit bench`` and the asv suite.

Each callable takes the data operands: ``(x,)`` for a forward, ``(g, x)`` for a backward. The
NumPy expressions use Python scalars so that NumPy keeps the input dtype (NEP 50).
"""

import concurrent.futures
import functools
import re

import numpy as np

import relukit

try:                                   # NumPy has no erf; SciPy's ndtr is Phi (optional peer)
    from scipy.special import ndtr as _ndtr
except ImportError:
    _ndtr = None


def _where(cond, a, b):
    """np.where(cond, a, b) for finite a and b, as products with the mask: np.where itself costs
    10x more on a mask of random signs (NumPy 2.4, 1e5 float32: relu's backward 345 us against
    27 us for g * (x > 0), leaky_relu's 354 us against 95 us)."""
    dtype = np.result_type(a, b)
    if np.ndim(b) == 0 and b == 0:
        return np.multiply(a, cond, dtype=dtype)
    return np.multiply(a, cond, dtype=dtype) + np.multiply(b, ~cond, dtype=dtype)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(x, 0)


@functools.lru_cache(maxsize=None)
def _prelu_weight(dtype):
    """prelu's one shared slope (PyTorch's nn.PReLU() default, 0.25), so the data stay 1-D."""
    return np.array([0.25], dtype)


@functools.lru_cache(maxsize=None)
def _rrelu_noise(n, dtype):
    """The slopes relukit's rrelu draws with seed 0, for NumPy and PyTorch, which keep a
    forward's slopes for its backward (relukit draws them again): drawn once per size."""
    return -relukit.rrelu(-np.ones(n, dtype), training=True, seed=0)


def _gelu_tanh_arg(x):
    return 0.7978845608028654 * (x + 0.044715 * x * x * x)


def _gelu_tanh_backward(x):
    t = np.tanh(_gelu_tanh_arg(x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 0.134145 * x * x)


def copier(x, threads):
    """A callable copying x into a new array's memory with up to `threads` threads: the bandwidth
    ceiling a kernel with that many threads is held against. np.copyto is single-threaded, but
    it releases the GIL, so Python threads copying one slice each run in parallel."""
    out = np.empty_like(x)
    # below ~1e6 elements one thread copies faster than two (2-4x at 1.3e5-1e6 on the development
    # VM): the ceiling is the faster copy
    if threads <= 1 or x.size < 1 << 20:
        return lambda: np.copyto(out, x)
    bounds = np.linspace(0, x.size, threads + 1).astype(int)
    pieces = [(out[a:b], x[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    pool = concurrent.futures.ThreadPoolExecutor(threads - 1)

    def copy():
        futures = [pool.submit(np.copyto, *piece) for piece in pieces[1:]]
        np.copyto(*pieces[0])              # the calling thread copies the first piece itself
        for future in futures:
            future.result()
    return copy


# op: (relukit forward, NumPy forward, relukit backward, NumPy backward)
OPS = {
    "relu": (
        relukit.relu, lambda x: np.maximum(x, 0),
        relukit.relu_backward, lambda g, x: _where(x > 0, g, 0)),
    "leaky_relu": (
        relukit.leaky_relu, lambda x: np.maximum(x, x * 0.01),
        relukit.leaky_relu_backward, lambda g, x: _where(x > 0, g, g * 0.01)),
    "relu6": (
        relukit.relu6, lambda x: np.clip(x, 0, 6),
        relukit.relu6_backward, lambda g, x: _where((x > 0) & (x < 6), g, 0)),
    "hardtanh": (
        relukit.hardtanh, lambda x: np.clip(x, -1, 1),
        relukit.hardtanh_backward, lambda g, x: _where((x > -1) & (x < 1), g, 0)),
    "threshold": (
        lambda x, **kw: relukit.threshold(x, 0.5, -1.0, **kw), lambda x: _where(x > 0.5, x, -1.0),
        lambda g, x, **kw: relukit.threshold_backward(g, x, 0.5, -1.0, **kw),
        lambda g, x: _where(x > 0.5, g, 0)),
    "hardshrink": (
        relukit.hardshrink, lambda x: _where(np.abs(x) > 0.5, x, 0),
        relukit.hardshrink_backward, lambda g, x: _where(np.abs(x) > 0.5, g, 0)),
    "softshrink": (
        relukit.softshrink, lambda x: _where(x > 0.5, x - 0.5, _where(x < -0.5, x + 0.5, 0)),
        relukit.softshrink_backward, lambda g, x: _where(np.abs(x) > 0.5, g, 0)),
    "hardsigmoid": (
        relukit.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6,
        relukit.hardsigmoid_backward, lambda g, x: _where((x > -3) & (x < 3), g / 6, 0)),
    "hardswish": (
        relukit.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
        relukit.hardswish_backward,
        lambda g, x: _where(x <= -3, 0, _where(x >= 3, g, g * (2 * x + 3) / 6))),
    "softsign": (
        relukit.softsign, lambda x: x / (1 + np.abs(x)),
        relukit.softsign_backward, lambda g, x: g / np.square(1 + np.abs(x))),
    "sparse_plus": (
        relukit.sparse_plus,
        lambda x: _where(x <= -1, 0, _where(x >= 1, x, np.square(x + 1) / 4)),
        relukit.sparse_plus_backward,
        lambda g, x: _where(x <= -1, 0, _where(x >= 1, g, g * (x + 1) / 2))),
    "squareplus": (
        relukit.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2,
        relukit.squareplus_backward, lambda g, x: g * (1 + x / np.sqrt(x * x + 4)) / 2),
    "sigmoid": (
        relukit.sigmoid, _sigmoid,
        relukit.sigmoid_backward, lambda g, x: g * _sigmoid(x) * _sigmoid(-x)),
    "tanh": (
        relukit.tanh, np.tanh,
        relukit.tanh_backward, lambda g, x: g / np.square(np.cosh(x))),
    "tanhshrink": (
        relukit.tanhshrink, lambda x: x - np.tanh(x),
        relukit.tanhshrink_backward, lambda g, x: g * np.square(np.tanh(x))),
    "elu": (
        relukit.elu, lambda x: _where(x > 0, x, np.expm1(x)),
        relukit.elu_backward, lambda g, x: _where(x > 0, g, g * np.exp(x))),
    "selu": (
        relukit.selu, lambda x: 1.0507009873554805 * _where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        relukit.selu_backward,
        lambda g, x: g * _where(x > 0, 1.0507009873554805, 1.7580993408473766 * np.exp(x))),
    "celu": (
        relukit.celu, lambda x: _where(x > 0, x, np.expm1(x)),
        relukit.celu_backward, lambda g, x: _where(x > 0, g, g * np.exp(x))),
    "softplus": (
        relukit.softplus, lambda x: _where(x > 20, x, _softplus(x)),
        relukit.softplus_backward, lambda g, x: _where(x > 20, g, g * _sigmoid(x))),
    "logsigmoid": (
        relukit.logsigmoid, lambda x: -_softplus(-x),
        relukit.logsigmoid_backward, lambda g, x: g * _sigmoid(-x)),
    "silu": (
        relukit.silu, lambda x: x * _sigmoid(x),
        relukit.silu_backward, lambda g, x: g * _sigmoid(x) * (1 + x * _sigmoid(-x))),
    "mish": (
        relukit.mish, lambda x: x * np.tanh(_softplus(x)),
        relukit.mish_backward,
        lambda g, x: g * (np.tanh(_softplus(x)) + x * _sigmoid(x) / np.square(np.cosh(_softplus(x))))),
    "gelu": (
        relukit.gelu, None if _ndtr is None else (lambda x: x * _ndtr(x)),
        relukit.gelu_backward,
        None if _ndtr is None else (lambda g, x: g * (_ndtr(x) + x * np.exp(-x * x / 2) * 0.3989422804014327))),
    "gelu_tanh": (
        lambda x, **kw: relukit.gelu(x, approximate="tanh", **kw),
        lambda x: 0.5 * x * (1 + np.tanh(_gelu_tanh_arg(x))),
        lambda g, x, **kw: relukit.gelu_backward(g, x, approximate="tanh", **kw),
        lambda g, x: g * _gelu_tanh_backward(x)),
    "prelu": (
        lambda x, **kw: relukit.prelu(x, _prelu_weight(x.dtype), **kw),
        lambda x: _where(x > 0, x, x * _prelu_weight(x.dtype)),
        lambda g, x, **kw: relukit.prelu_backward(g, x, _prelu_weight(x.dtype), **kw),
        lambda g, x: _where(x > 0, g, g * _prelu_weight(x.dtype))),
    # training mode, the per-element slopes uniform in [1/8, 1/3) (NumPy's and PyTorch's: the
    # same slopes, stored; PyTorch's forward draws its own); the data are 1-D
    "rrelu": (
        lambda x, **kw: relukit.rrelu(x, training=True, seed=0, **kw),
        lambda x: _where(x > 0, x, x * _rrelu_noise(x.size, x.dtype)),
        lambda g, x, **kw: relukit.rrelu_backward(g, x, training=True, seed=0, **kw),
        lambda g, x: _where(x > 0, g, g * _rrelu_noise(x.size, x.dtype))),
}


def torch_peers(torch):
    """op: (PyTorch forward, PyTorch backward) on tensors; None where PyTorch has no such op."""
    F, aten = torch.nn.functional, torch.ops.aten
    # prelu's slope and rrelu's stored slopes as tensors, made once (not inside the timed call)
    prelu_weight = {t: torch.full((1,), 0.25, dtype=t)
                    for t in (torch.float16, torch.float32, torch.float64)}
    rrelu_noise = functools.lru_cache(maxsize=None)(
        lambda n, dtype: torch.from_numpy(_rrelu_noise(n, np.dtype(str(dtype)[len("torch."):]))))
    return {
        "relu": (torch.relu, lambda g, x: aten.threshold_backward(g, x, 0)),
        "leaky_relu": (lambda x: F.leaky_relu(x, 0.01),
                       lambda g, x: aten.leaky_relu_backward(g, x, 0.01, False)),
        "relu6": (F.relu6, lambda g, x: aten.hardtanh_backward(g, x, 0, 6)),
        "hardtanh": (F.hardtanh, lambda g, x: aten.hardtanh_backward(g, x, -1, 1)),
        "threshold": (lambda x: F.threshold(x, 0.5, -1.0),
                      lambda g, x: aten.threshold_backward(g, x, 0.5)),
        "hardshrink": (F.hardshrink, lambda g, x: aten.hardshrink_backward(g, x, 0.5)),
        "softshrink": (F.softshrink, lambda g, x: aten.softshrink_backward(g, x, 0.5)),
        "hardsigmoid": (F.hardsigmoid, aten.hardsigmoid_backward),
        "hardswish": (F.hardswish, aten.hardswish_backward),
        "softsign": (F.softsign, lambda g, x: g / (1 + x.abs()).square()),
        "sparse_plus": None,
        "squareplus": None,
        "sigmoid": (torch.sigmoid, lambda g, x: aten.sigmoid_backward(g, torch.sigmoid(x))),
        "tanh": (torch.tanh, lambda g, x: aten.tanh_backward(g, torch.tanh(x))),
        "tanhshrink": (F.tanhshrink, lambda g, x: g * torch.tanh(x).square()),
        "elu": (F.elu, lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "selu": (F.selu, lambda g, x: aten.elu_backward(
            g, 1.6732632423543772, 1.0507009873554805, 1.0, False, x)),
        "celu": (F.celu, lambda g, x: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "softplus": (F.softplus, lambda g, x: aten.softplus_backward(g, x, 1.0, 20.0)),
        "logsigmoid": (F.logsigmoid, lambda g, x: g * torch.sigmoid(-x)),
        "silu": (F.silu, aten.silu_backward),
        "mish": (F.mish, aten.mish_backward),
        "gelu": (F.gelu, aten.gelu_backward),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                      lambda g, x: aten.gelu_backward(g, x, approximate="tanh")),
        # PyTorch has no backward for the input gradient alone: its kernel forms the weight's
        # per-element gradient too, and autograd sums it
        "prelu": (lambda x: F.prelu(x, prelu_weight[x.dtype]), None),
        "rrelu": (lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=True),
                  lambda g, x: aten.rrelu_with_noise_backward(
                      g, x, rrelu_noise(x.numel(), x.dtype), 1 / 8, 1 / 3, True, False)),
    }


# numexpr: one compiled expression per op and direction, where its functions can say it (it has
# where, exp, expm1, log1p, tanh, sqrt, abs but no erf); x and g are the operands' names.
NUMEXPR = {
    "relu": ("where(x > 0, x, 0)", "where(x > 0, g, 0)"),
    "leaky_relu": ("where(x > 0, x, x * 0.01)", "where(x > 0, g, g * 0.01)"),
    "relu6": ("where(x > 0, where(x < 6, x, 6), 0)", "where((x > 0) & (x < 6), g, 0)"),
    "hardtanh": ("where(x > -1, where(x < 1, x, 1), -1)", "where((x > -1) & (x < 1), g, 0)"),
    "threshold": ("where(x > 0.5, x, -1)", "where(x > 0.5, g, 0)"),
    "hardshrink": ("where(abs(x) > 0.5, x, 0)", "where(abs(x) > 0.5, g, 0)"),
    "softshrink": ("where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))",
                   "where(abs(x) > 0.5, g, 0)"),
    "hardsigmoid": ("where(x > -3, where(x < 3, (x + 3) / 6, 1), 0)",
                    "where((x > -3) & (x < 3), g / 6, 0)"),
    "hardswish": ("where(x > -3, where(x < 3, x * (x + 3) / 6, x), 0)",
                  "where(x <= -3, 0, where(x >= 3, g, g * (2 * x + 3) / 6))"),
    "softsign": ("x / (1 + abs(x))", "g / ((1 + abs(x)) * (1 + abs(x)))"),
    "squareplus": ("(x + sqrt(x * x + 4)) / 2", "g * (1 + x / sqrt(x * x + 4)) / 2"),
    "sigmoid": ("1 / (1 + exp(-x))", "g / ((1 + exp(-x)) * (1 + exp(x)))"),
    "tanh": ("tanh(x)", "g * (1 - tanh(x) ** 2)"),
    "tanhshrink": ("x - tanh(x)", "g * tanh(x) ** 2"),
    "elu": ("where(x > 0, x, expm1(x))", "where(x > 0, g, g * exp(x))"),
    "celu": ("where(x > 0, x, expm1(x))", "where(x > 0, g, g * exp(x))"),
    "softplus": ("where(x > 20, x, log1p(exp(x)))", "where(x > 20, g, g / (1 + exp(-x)))"),
    "logsigmoid": ("-log1p(exp(-x))", "g / (1 + exp(x))"),
    "silu": ("x / (1 + exp(-x))", "g * (1 + x / (1 + exp(x))) / (1 + exp(-x))"),
    "mish": ("x * tanh(log1p(exp(x)))", None),
    "gelu_tanh": ("0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))", None),
    "prelu": ("where(x > 0, x, x * 0.25)", "where(x > 0, g, g * 0.25)"),
}


_FLOAT = r"\d+\.\d+"


def _masked(expr):
    """expr with every where(c, a, b) written as a * (c) + b * ~(c) (a term of 0 left out), as
    _where does for NumPy: numexpr's where costs 4x more on random signs (1e5 float32, 1 thread:
    where(x > 0, g, 0) 393 us, g * (x > 0) 101 us)."""
    start = expr.find("where(")
    if start < 0:
        return expr
    depth, parts, begin = 0, [], start + len("where(")
    for i in range(begin, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")" and depth:
            depth -= 1
        elif expr[i] in ",)" and depth == 0:
            parts.append(_masked(expr[begin:i].strip()))
            begin = i + 1
            if expr[i] == ")":
                break
    c, a, b = parts
    select = " + ".join(f"({v}) * {m}" for v, m in ((a, f"({c})"), (b, f"~({c})")) if v != "0")
    return expr[:start] + f"({select or '0'})" + _masked(expr[i + 1:])


def numexpr_peers(numexpr):
    """op: (forward, backward) as numexpr calls on NumPy arrays, for the ops NUMEXPR can say."""
    def compile_(expr, names):
        if expr is None:
            return None
        expr = _masked(expr)
        # numexpr reads a float literal as float64 and would upcast float32 work: the literals
        # become named constants of the operands' dtype instead
        literals = re.findall(_FLOAT, expr)
        for k in range(len(literals)):
            expr = re.sub(_FLOAT, f"c{k}", expr, count=1)

        def call(*arrays):
            values = {f"c{k}": arrays[0].dtype.type(v) for k, v in enumerate(literals)}
            return numexpr.evaluate(expr, local_dict={**dict(zip(names, arrays)), **values})
        return call
    return {op: (compile_(f, ("x",)), compile_(b, ("g", "x"))) for op, (f, b) in NUMEXPR.items()}
