"""Training-pipeline kernels: bit-packed masks, fused bias + activation, and the layers.

Each relukit call is timed next to what it replaces, in the same class on the same arrays:
masks against np.packbits(x > 0) and relu_backward(g, x); bias_act against relu(x + b) and its
backward against the unfused relu_backward(g, x + b) plus dx.sum(axis=0).
"""

import numpy as np

import relukit
from relukit import nn

from .common import DTYPES, SIZES, import_or_skip, random

WIDTH = 1000          # channels of the (n / WIDTH, WIDTH) matrices, channels last


class Masks:
    params = (["relukit", "numpy"], DTYPES, SIZES, ["mask", "backward"])
    param_names = ["impl", "dtype", "n", "kernel"]

    def setup(self, impl, dtype, n, kernel):
        x, g = random(n, dtype), random(n, dtype, 1)
        mask, out = relukit.relu_mask(x), np.empty_like(g)
        self.call = {
            ("relukit", "mask"): lambda: relukit.relu_mask(x),
            ("numpy", "mask"): lambda: np.packbits(x > 0),
            ("relukit", "backward"): lambda: relukit.relu_backward_mask(g, mask, out=out),
            # what the mask replaces: the backward from the saved input
            ("numpy", "backward"): lambda: relukit.relu_backward(g, x, out=out),
        }[impl, kernel]

    def time_mask(self, impl, dtype, n, kernel):
        self.call()


class BiasAct:
    params = (["fused", "unfused"], ["relu", "leaky_relu", "gelu", "silu"], DTYPES, SIZES,
              ["forward", "backward"])
    param_names = ["impl", "act", "dtype", "n", "direction"]

    def setup(self, impl, act, dtype, n, direction):
        width = min(WIDTH, n)
        x = random(n, dtype).reshape(-1, width)
        g = random(n, dtype, 1).reshape(-1, width)
        b = random(width, dtype, 2)
        f, fb = getattr(relukit, act), getattr(relukit, f"{act}_backward")
        self.call = {
            ("fused", "forward"): lambda: relukit.bias_act(x, b, act),
            ("unfused", "forward"): lambda: f(x + b),
            ("fused", "backward"): lambda: relukit.bias_act_backward(g, x, b, act),
            ("unfused", "backward"): lambda: fb(g, x + b).sum(axis=0),
        }[impl, direction]

    def time_bias_act(self, impl, act, dtype, n, direction):
        self.call()


class PreluWeightGrad:
    """prelu's slope gradient, a sum over all but the channel axis of (n / 1000, 8, 125)-shaped
    data (a batch of 8-channel images), against NumPy's expression (issue 3: relukit at least 5x
    faster at 1e7) and PyTorch's kernel with the sum its autograd adds."""

    params = (["relukit", "numpy", "torch"], DTYPES, SIZES)
    param_names = ["impl", "dtype", "n"]

    def setup(self, impl, dtype, n):
        x = random(n, dtype).reshape(-1, 8, 125)
        g = random(n, dtype, 1).reshape(-1, 8, 125)
        w = np.full(8, 0.25, dtype)
        if impl == "relukit":
            self.call = lambda: relukit.prelu_weight_grad(g, x, w)
        elif impl == "numpy":
            self.call = lambda: np.sum(np.multiply(x * g, x <= 0), axis=(0, 2))
        else:
            torch = import_or_skip("torch")
            tx, tg, tw = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(w).view(8, 1)
            kernel = torch.ops.aten._prelu_kernel_backward
            self.call = lambda: kernel(tg, tx, tw)[1].sum(dim=(0, 2))

    def time_weight_grad(self, impl, dtype, n):
        self.call()


class Layers:
    """A forward and backward step of a layer, by what it saves: mask, output or input."""

    params = (["ReLU", "LeakyReLU", "Sigmoid", "GELU"], DTYPES, SIZES)
    param_names = ["layer", "dtype", "n"]

    def setup(self, layer, dtype, n):
        self.layer = getattr(nn, layer)()
        self.x, self.g = random(n, dtype), random(n, dtype, 1)

    def time_step(self, layer, dtype, n):
        self.layer.forward(self.x)
        self.layer.backward(self.g)

    def peakmem_step(self, layer, dtype, n):
        self.layer.forward(self.x)
        self.layer.backward(self.g)
