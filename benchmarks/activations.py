"""Every activation, forward and backward, against NumPy's fastest expression and PyTorch.

The implementation is a parameter, so relukit and its peers are timed in the same class, in the
same process, on the same arrays. The peers come from relukit._peers, which `python -m relukit
bench` uses too.
"""

import numpy as np

import relukit
from relukit import _peers

from .common import DTYPES, IMPLS, SIZES, random, torch_or_skip

OPS = list(_peers.OPS)


def _prepare(op, impl, backward, arrays):
    """The callable to time and its arguments (PyTorch gets tensors sharing the arrays' memory)."""
    if impl == "torch":
        torch = torch_or_skip()
        peers = _peers.torch_peers(torch)[op]
        if peers is None:
            raise NotImplementedError(f"PyTorch has no {op}")
        return peers[backward], [torch.from_numpy(a) for a in arrays]
    relukit_fwd, numpy_fwd, relukit_bwd, numpy_bwd = _peers.OPS[op]
    if impl == "relukit":
        return (relukit_bwd if backward else relukit_fwd), arrays
    if numpy_fwd is None:
        raise NotImplementedError(f"NumPy alone has no {op} (install SciPy)")
    return (numpy_bwd if backward else numpy_fwd), arrays


class Forward:
    params = (OPS, IMPLS, DTYPES, SIZES)
    param_names = ["op", "impl", "dtype", "n"]

    def setup(self, op, impl, dtype, n):
        self.fn, self.args = _prepare(op, impl, False, [random(n, dtype)])

    def time_forward(self, op, impl, dtype, n):
        self.fn(*self.args)


class Backward:
    params = (OPS, IMPLS, DTYPES, SIZES)
    param_names = ["op", "impl", "dtype", "n"]

    def setup(self, op, impl, dtype, n):
        self.fn, self.args = _prepare(op, impl, True, [random(n, dtype, 1), random(n, dtype, 2)])

    def time_backward(self, op, impl, dtype, n):
        self.fn(*self.args)


class ReluLayouts:
    """relu into a given output and in place, relu_backward in place into g: the layouts where
    no page faults are paid, against NumPy and np.copyto (the bandwidth ceiling)."""

    params = (["relukit", "numpy", "copy"], DTYPES, SIZES, ["out", "inplace", "backward_inplace"])
    param_names = ["impl", "dtype", "n", "layout"]

    def setup(self, impl, dtype, n, layout):
        x, g = random(n, dtype), random(n, dtype, 1)
        out = np.empty_like(x)
        zero = x.dtype.type(0)
        # relu is idempotent, and g only loses elements where the fixed x <= 0: repeated in-place
        # calls do the same work on the same kind of data
        calls = {
            ("relukit", "out"): lambda: relukit.relu(x, out=out),
            ("numpy", "out"): lambda: np.maximum(x, zero, out=out),
            ("copy", "out"): lambda: np.copyto(out, x),
            ("relukit", "inplace"): lambda: relukit.relu(x, out=x),
            ("numpy", "inplace"): lambda: np.maximum(x, zero, out=x),
            ("copy", "inplace"): lambda: np.copyto(out, x),
            ("relukit", "backward_inplace"): lambda: relukit.relu_backward(g, x, out=g),
            ("numpy", "backward_inplace"): lambda: np.multiply(g, x > zero, out=g),
            ("copy", "backward_inplace"): lambda: np.copyto(out, x),
        }
        self.call = calls[impl, layout]

    def time_layout(self, impl, dtype, n, layout):
        self.call()


class CallOverhead:
    """Per-call cost at n=1 against a builtin ufunc (np.positive), and a wrapper over its ufunc."""

    params = ["relukit.relu", "np.positive", "relukit.leaky_relu", "leaky_relu.ufunc"]
    param_names = ["call"]

    def setup(self, call):
        x = random(1, "float32")
        self.call = {
            "relukit.relu": lambda: relukit.relu(x),
            "np.positive": lambda: np.positive(x),
            "relukit.leaky_relu": lambda: relukit.leaky_relu(x),
            "leaky_relu.ufunc": lambda: relukit.leaky_relu.ufunc(x, 0.01),
        }[call]

    def time_call(self, call):
        self.call()
