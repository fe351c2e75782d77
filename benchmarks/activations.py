"""Every activation, forward and backward, against NumPy's fastest expression, PyTorch and numexpr.

The implementation is a parameter, so relukit and its peers are timed in the same class, in the
same process, on the same arrays. The peers come from relukit._peers, which `python -m relukit
bench` uses too. Peers' expressions cannot write into a given output, so the `out` and `inplace`
layouts are relukit's alone (and the layout classes below time NumPy's own out= for relu).
"""

import time

import numpy as np

import relukit
from relukit import _peers

from .common import DTYPES, IMPLS, LAYOUTS, SIZES, import_or_skip, random, skip

OPS = list(_peers.OPS)


def _peer(op, impl, backward):
    """The peer's callable on NumPy arrays (PyTorch's wrapped to take and give arrays)."""
    if impl == "numpy":
        fn = _peers.OPS[op][3 if backward else 1]
    elif impl == "numexpr":
        fn = _peers.numexpr_peers(import_or_skip("numexpr")).get(op, (None, None))[backward]
    else:
        torch = import_or_skip("torch")
        f = (_peers.torch_peers(torch)[op] or (None, None))[backward]
        fn = f and (lambda *arrays, f=f: f(*map(torch.from_numpy, arrays)))
    if fn is None:
        skip(f"{impl} cannot express {op}")
    return fn


class _Activation:
    params = (OPS, IMPLS, DTYPES, SIZES, LAYOUTS)
    param_names = ["op", "impl", "dtype", "n", "layout"]
    backward = False

    def setup(self, op, impl, dtype, n, layout):
        step = 2 if layout == "strided" else 1
        args = [random(n, dtype, seed, step) for seed in range(1 + self.backward)]
        if impl != "relukit":
            if layout in ("out", "inplace"):
                skip("peer expressions have no out=")
            fn = _peer(op, impl, self.backward)
            try:
                fn(*args)       # a peer without this dtype (PyTorch's float16 rrelu), as the bench
            except (NotImplementedError, RuntimeError, TypeError) as error:
                skip(f"{impl} cannot run {op} in {dtype}: {error}")
            self.call = lambda: fn(*args)
            return
        fn = _peers.OPS[op][2 if self.backward else 0]
        if layout == "out":
            out = np.empty_like(args[0])
            self.call = lambda: fn(*args, out=out)
        elif layout == "inplace":
            # repeated calls on the same x: idempotent ops converge, others keep finite values;
            # the first operand (x forward, g backward) is overwritten
            self.call = lambda: fn(*args, out=args[0])
        else:
            self.call = lambda: fn(*args)


class Forward(_Activation):
    def time_forward(self, op, impl, dtype, n, layout):
        self.call()


class Backward(_Activation):
    backward = True

    def time_backward(self, op, impl, dtype, n, layout):
        self.call()


# the ops with a backward from the output, with what it takes beyond (g, y): a softplus threshold
# it accepts (see softplus_backward_from_output), rrelu in training; prelu's weight is per dtype
FROM_OUTPUT = {op: {"softplus": {"threshold": 40.0}, "threshold": {"threshold": 0.5, "value": -1.0},
                    "rrelu": {"training": True, "seed": 0}}.get(op, {})
               for op in OPS if hasattr(relukit, f"{op}_backward_from_output")}


class BackwardFromOutput:
    """relukit's backward from the output y, into a given output: it keeps y in place of x, and
    should cost no more than Backward's relukit row with layout `out` (same op, dtype and n)."""

    params = (list(FROM_OUTPUT), DTYPES, SIZES)
    param_names = ["op", "dtype", "n"]

    def setup(self, op, dtype, n):
        params = FROM_OUTPUT[op] or (
            {"weight": _peers._prelu_weight(np.dtype(dtype))} if op == "prelu" else {})
        x, g, out = random(n, dtype, 0), random(n, dtype, 1), np.empty(n, dtype)
        y = getattr(relukit, op)(x, **params)
        fn = getattr(relukit, f"{op}_backward_from_output")
        self.call = lambda: fn(g, y, out=out, **params)

    def time_backward_from_output(self, op, dtype, n):
        self.call()


# parameter values other than the defaults (which Forward and Backward use): a value can take a
# loop the defaults never reach (celu's float64 loop for one alpha other than 1 was not
# vectorised). Each: relukit's forward and backward, PyTorch's forward (torch as t, F = t.nn.functional)
PARAMS = {
    "leaky_relu(0.2)": (lambda x, **kw: relukit.leaky_relu(x, 0.2, **kw),
                        lambda g, x, **kw: relukit.leaky_relu_backward(g, x, 0.2, **kw),
                        lambda t, F, x: F.leaky_relu(x, 0.2)),
    "hardtanh(-2, 2)": (lambda x, **kw: relukit.hardtanh(x, -2.0, 2.0, **kw),
                        lambda g, x, **kw: relukit.hardtanh_backward(g, x, -2.0, 2.0, **kw),
                        lambda t, F, x: F.hardtanh(x, -2.0, 2.0)),
    "elu(alpha=0.5)": (lambda x, **kw: relukit.elu(x, 0.5, **kw),
                       lambda g, x, **kw: relukit.elu_backward(g, x, 0.5, **kw),
                       lambda t, F, x: F.elu(x, 0.5)),
    "celu(alpha=0.5)": (lambda x, **kw: relukit.celu(x, 0.5, **kw),
                        lambda g, x, **kw: relukit.celu_backward(g, x, 0.5, **kw),
                        lambda t, F, x: F.celu(x, 0.5)),
    "softplus(beta=2)": (lambda x, **kw: relukit.softplus(x, 2.0, **kw),
                         lambda g, x, **kw: relukit.softplus_backward(g, x, 2.0, **kw),
                         lambda t, F, x: F.softplus(x, 2.0)),
    "silu(beta=1.702)": (lambda x, **kw: relukit.silu(x, 1.702, **kw),      # the quick GELU
                         lambda g, x, **kw: relukit.silu_backward(g, x, 1.702, **kw),
                         lambda t, F, x: x * t.sigmoid(1.702 * x)),
}


class NonDefaultParams:
    """Forward and backward with the PARAMS above, into a given output; PyTorch's forward."""

    params = (list(PARAMS), ["relukit", "torch"], DTYPES, SIZES, ["forward", "backward"])
    param_names = ["op", "impl", "dtype", "n", "direction"]

    def setup(self, op, impl, dtype, n, direction):
        x, g, out = random(n, dtype, 0), random(n, dtype, 1), np.empty(n, dtype)
        forward, backward, torch_forward = PARAMS[op]
        if impl == "relukit":
            self.call = ((lambda: forward(x, out=out)) if direction == "forward"
                         else (lambda: backward(g, x, out=out)))
            return
        if direction == "backward":
            skip("PyTorch's backward runs through autograd")
        torch = import_or_skip("torch")
        tx = torch.from_numpy(x)
        self.call = lambda: torch_forward(torch, torch.nn.functional, tx)

    def time_params(self, op, impl, dtype, n, direction):
        self.call()


class ReluLayouts:
    """relu into a given output and in place, relu_backward in place into g: the layouts where
    no page faults are paid, against NumPy's own out= and np.copyto (the bandwidth ceiling)."""

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
            ("relukit", "inplace"): lambda: relukit.relu(x, out=x),
            ("numpy", "inplace"): lambda: np.maximum(x, zero, out=x),
            ("relukit", "backward_inplace"): lambda: relukit.relu_backward(g, x, out=g),
            ("numpy", "backward_inplace"): lambda: np.multiply(g, x > zero, out=g),
        }
        self.call = calls.get((impl, layout)) or (lambda: np.copyto(out, x))

    def time_layout(self, impl, dtype, n, layout):
        self.call()


class BandwidthShare:
    """Share (%) of the copy bandwidth each kernel reaches at the largest size, writing into a
    given output (no page faults), the copy running on as many threads as relukit."""

    params = (OPS, ["forward", "backward"], DTYPES)
    param_names = ["op", "direction", "dtype"]
    unit = "%"

    def setup(self, op, direction, dtype):
        n = max(SIZES)
        backward = direction == "backward"
        args = [random(n, dtype, seed) for seed in range(1 + backward)]
        out = np.empty_like(args[0])
        fn = _peers.OPS[op][2 if backward else 0]
        self.kernel = lambda: fn(*args, out=out)
        self.copy = _peers.copier(args[-1], relukit.get_num_threads())
        self.bytes_ratio = 1.5 if backward else 1.0     # a backward moves 3 arrays, a copy 2

    def track_copy_share(self, op, direction, dtype):
        samples = {"kernel": [], "copy": []}
        for _ in range(7):
            for name, fn in (("kernel", self.kernel), ("copy", self.copy)):
                fn()
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
        median = {k: sorted(v)[len(v) // 2] for k, v in samples.items()}
        return 100 * self.bytes_ratio * median["copy"] / median["kernel"]


class CallOverhead:
    """Per-call cost (ns) at n=1 against a builtin ufunc (np.positive), and a wrapper over its
    ufunc. A track_ metric that batches its calls: asv_runner 0.3 times each call of a time_
    benchmark that has a setup on its own, and the timer's own cost is most of a call this small."""

    params = ["relukit.relu", "np.positive", "relukit.leaky_relu", "leaky_relu.ufunc"]
    param_names = ["call"]
    unit = "ns"

    def setup(self, call):
        x = random(1, "float32")
        self.call = {
            "relukit.relu": lambda: relukit.relu(x),
            "np.positive": lambda: np.positive(x),
            "relukit.leaky_relu": lambda: relukit.leaky_relu(x),
            "leaky_relu.ufunc": lambda: relukit.leaky_relu.ufunc(x, 0.01),
        }[call]

    def track_call(self, call):
        batch, samples = 2000, []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(batch):
                self.call()
            samples.append((time.perf_counter() - start) / batch)
        return 1e9 * sorted(samples)[len(samples) // 2]
