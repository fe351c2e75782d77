"""relu and leaky_relu, forward and backward, against NumPy's fastest expression and PyTorch.

The implementation is a parameter, so relukit and its peers are timed in the same class, in the
same process, on the same arrays.
"""

import numpy as np

import relukit

from .common import DTYPES, LAYOUTS, SIZES, random, torch_or_skip

IMPLS = ["relukit", "numpy", "torch"]


class Forward:
    params = (["relu", "leaky_relu"], IMPLS, DTYPES, SIZES, LAYOUTS)
    param_names = ["op", "impl", "dtype", "n", "layout"]

    def setup(self, op, impl, dtype, n, layout):
        self.x = random(n, dtype)
        # relu and leaky_relu with slope 0.01 keep mixed-sign data in place (no zeros appear for
        # leaky, relu's output is its own fixed point), so repeated in-place calls do equal work
        out = {"allocating": None, "out": np.empty_like(self.x), "inplace": self.x}[layout]
        x = self.x
        zero, slope = x.dtype.type(0), x.dtype.type(0.01)
        if impl == "relukit":
            f = relukit.relu if op == "relu" else relukit.leaky_relu
            self.call = lambda: f(x, out=out)
        elif impl == "numpy":
            if op == "relu":
                self.call = lambda: np.maximum(x, zero, out=out)
            else:
                self.call = lambda: np.where(x > zero, x, x * slope) if out is None else \
                    np.copyto(out, np.where(x > zero, x, x * slope))
        else:
            torch = torch_or_skip()
            tx = torch.from_numpy(x)
            tout = None if out is None else torch.from_numpy(out)
            f = torch.relu if op == "relu" else (lambda t: torch.nn.functional.leaky_relu(t, 0.01))
            if layout == "allocating":
                self.call = lambda: f(tx)
            elif layout == "inplace":
                self.call = (lambda: torch.relu_(tx)) if op == "relu" else \
                    (lambda: torch.nn.functional.leaky_relu_(tx, 0.01))
            else:
                self.call = (lambda: torch.clamp_min(tx, 0, out=tout)) if op == "relu" else \
                    (lambda: tout.copy_(f(tx)))

    def time_call(self, op, impl, dtype, n, layout):
        self.call()


class Backward:
    params = (["relu", "leaky_relu"], IMPLS, DTYPES, SIZES, ["allocating", "inplace"])
    param_names = ["op", "impl", "dtype", "n", "layout"]

    def setup(self, op, impl, dtype, n, layout):
        g, x = random(n, dtype, 1), random(n, dtype, 2)
        out = g if layout == "inplace" else None
        zero, slope = x.dtype.type(0), x.dtype.type(0.01)
        if impl == "relukit":
            if op == "relu":
                self.call = lambda: relukit.relu_backward(g, x, out=out)
            else:
                self.call = lambda: relukit.leaky_relu_backward(g, x, 0.01, out=out)
        elif impl == "numpy":
            if op == "relu":
                self.call = (lambda: np.where(x > zero, g, zero)) if out is None else \
                    (lambda: np.multiply(g, x > zero, out=g))
            else:
                self.call = (lambda: np.where(x > zero, g, g * slope)) if out is None else \
                    (lambda: np.copyto(g, np.where(x > zero, g, g * slope)))
        else:
            torch = torch_or_skip()
            tg, tx = torch.from_numpy(g), torch.from_numpy(x)
            if op == "relu":
                self.call = (lambda: torch.ops.aten.threshold_backward(tg, tx, 0)) if out is None \
                    else (lambda: tg.mul_(tx > 0))
            else:
                self.call = lambda: torch.ops.aten.leaky_relu_backward(tg, tx, 0.01, False)

    def time_call(self, op, impl, dtype, n, layout):
        self.call()


class CallOverhead:
    """Per-call cost at n=1 against a builtin ufunc (np.positive) and the raw ufunc."""

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
