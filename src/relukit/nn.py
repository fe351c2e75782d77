"""Layer objects for NumPy training loops: ``forward(x)`` and ``backward(grad)``, named and
parametrised as ``torch.nn``.

Each layer saves the least memory its backward needs:

- ``"mask"``: 1 bit per element (``relukit.relu_mask``'s format) for the ops whose derivative takes
  two values: ReLU, LeakyReLU, RReLU, ReLU6, Hardtanh, Threshold, Hardshrink, Softshrink;
- ``"output"``: the output for the ops with a backward from the output (Sigmoid, Tanh, ELU, ...), so
  ``inplace=True`` overwrites the input and keeps no second array;
- ``"input"``: the input otherwise (GELU, SiLU, Mish, Hardswish, Tanhshrink, and PReLU, whose weight
  gradient needs x). With ``inplace=True`` these copy the input first: no memory is saved.

``layer.saved`` tells which, after a forward. The saved input or output is a reference, not a
copy: change neither between ``forward`` and ``backward``. A NaN input gives a NaN output; through a
mask its gradient is that of a non-positive input (``relu_backward_mask``), not NaN.

Every layer takes ``track_dead=True`` (and ``dead_axis``, the batch axis or axes, default 0) to
keep the dying-ReLU statistic of its inputs: ``layer.dead`` marks the units whose input was never
positive in any forward since ``reset_dead()``, and ``layer.dead_fraction`` is their share.

Examples
--------
>>> import numpy as np
>>> from relukit import nn
>>> layer = nn.ReLU(track_dead=True)
>>> x = np.array([[-1.0, 2.0], [-3.0, 4.0]])
>>> layer.forward(x)
array([[0., 2.],
       [0., 4.]])
>>> layer.backward(np.ones_like(x))
array([[0., 1.],
       [0., 1.]])
>>> layer.saved, layer.dead_fraction
('mask', 0.5)
"""

import inspect
import math

import numpy as np

import relukit
from relukit import _api, _masks

_REQUIRED = inspect.Parameter.empty


class Layer:
    """Base of the layers: parameters, train/eval, the dying-ReLU statistic, and the saved state.

    Parameters
    ----------
    *args, **kwargs
        The layer's own parameters (``torch.nn``'s names and order).
    track_dead : bool, default False
        Keep the dying-ReLU statistic of the inputs: ``dead`` (the units whose input was never
        positive since ``reset_dead()``) and ``dead_fraction`` (their share).
    dead_axis : int or tuple of ints, default 0
        The batch axis (axes) of that statistic.

    Notes
    -----
    ``layer(x)`` is ``layer.forward(x)``; ``backward(grad)`` returns the gradient with respect to
    the last forward's input. ``train()`` and ``eval()`` switch the mode (only RReLU differs).

    Examples
    --------
    >>> import numpy as np
    >>> from relukit import nn
    >>> layer = nn.LeakyReLU(0.1, track_dead=True)
    >>> layer(np.array([[-1.0, 2.0], [-3.0, -4.0]]))
    array([[-0.1,  2. ],
           [-0.3, -0.4]])
    >>> layer.dead, layer.dead_fraction
    (array([ True, False]), 0.5)
    >>> layer(np.array([[1.0, -2.0]])); layer.dead     # accumulates until reset_dead()
    array([[ 1. , -0.2]])
    array([False, False])
    """

    op = None              # the relukit function
    params = ()            # (name, default) in torch.nn's order; _REQUIRED for no default
    has_inplace = True

    def __init__(self, *args, track_dead=False, dead_axis=0, **kwargs):
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            setattr(self, name, value)
        self.track_dead, self.dead_axis = track_dead, dead_axis
        self.training = True
        self.dead = None
        self.saved = None
        self._saved = self._shape = self._dtype = None
        self._check()

    def _check(self):
        """Check the parameters now, not at the first forward (the wrapper's own checks)."""
        getattr(relukit, self.op)(np.empty(0), **self._kwargs())

    def _kwargs(self):
        return {name: getattr(self, name) for name, _ in self.params}

    def __repr__(self):
        shown = [f"{name}={getattr(self, name)!r}" for name in self.__signature__.parameters]
        return f"{type(self).__name__}({', '.join(shown)})"

    def train(self, mode=True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- the dying-ReLU statistic ------------------------------------------------------------------
    def reset_dead(self):
        self.dead = None

    @property
    def dead_fraction(self):
        """Share of units whose input was never positive since reset_dead() (None before)."""
        if self.dead is None:
            return None
        return float(np.count_nonzero(self.dead)) / self.dead.size

    def _track(self, x):
        """The dead units after this batch (assigned by forward once the forward has succeeded)."""
        never = _masks.dead_units(x, axis=self.dead_axis, per_unit=True)
        if self.dead is not None and self.dead.shape != never.shape:
            raise ValueError(f"{type(self).__name__}: units of shape {never.shape} after "
                             f"{self.dead.shape}; call reset_dead() when the layer's width changes")
        return never if self.dead is None else self.dead & never

    # ---- forward and backward ----------------------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        x = np.asarray(x)
        dead = self._track(x) if self.track_dead else None    # before an in-place forward
        y = self._forward(x, {"out": x} if getattr(self, "inplace", False) else {})
        self._shape, self._dtype = y.shape, y.dtype
        if self.track_dead:
            self.dead = dead
        return y

    def backward(self, grad):
        """The gradient with respect to the last forward's input, from ``grad`` w.r.t. its output."""
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward first")
        grad = np.asarray(grad)
        if grad.shape != self._shape:
            raise ValueError(f"{type(self).__name__}.backward: grad has shape {grad.shape} but the "
                             f"forward's output has shape {self._shape}")
        return self._backward(grad)

    def _save(self, kind, value):
        self.saved, self._saved = kind, value


class _Elementwise(Layer):
    """An op whose backward takes the saved output, or else the saved input."""

    def _from_output(self, dtype):
        """The backward from the output, when the op has one and these parameters allow it for
        outputs of this dtype."""
        backward = getattr(relukit, f"{self.op}_backward_from_output", None)
        if backward is None:
            return None
        try:
            backward(np.empty(0, dtype), np.empty(0, dtype), **self._kwargs())
        except ValueError:           # e.g. ELU with alpha < 0: y no longer tells the sides apart
            return None
        return backward

    def _forward(self, x, out):
        forward, kwargs = getattr(relukit, self.op), self._kwargs()
        # decided before an in-place forward overwrites x; on the dtype the forward will give
        if self._from_output(forward(np.empty(0, x.dtype), **kwargs).dtype) is not None:
            y = forward(x, **kwargs, **out)
            self._save("output", y)
        else:
            self._save("input", x.copy() if out else x)
            y = forward(x, **kwargs, **out)
        return y

    def _backward(self, grad):
        kwargs = self._kwargs()
        if self.saved == "output":
            return getattr(relukit, f"{self.op}_backward_from_output")(grad, self._saved, **kwargs)
        return getattr(relukit, f"{self.op}_backward")(grad, self._saved, **kwargs)


class _Masked(Layer):
    """An op whose derivative takes two values: its backward needs one bit per element."""

    def _rule(self):
        """(kind, lo, hi) of the bit and (dead rule, slope) where it is 0; see _masks."""
        raise NotImplementedError

    def _forward(self, x, out):
        (kind, lo, hi), _ = self._rule()
        mask = _masks.pack(x, kind, lo, hi, what=type(self).__name__)
        y = getattr(relukit, self.op)(x, **self._kwargs(), **out)
        self._save("mask", mask)
        return y

    def _backward(self, grad):
        _, (dead, slope) = self._rule()
        grad = grad.astype(np.result_type(grad.dtype, self._dtype), copy=False)
        return _masks.unpack(grad, self._saved, dead, slope=slope, what=type(self).__name__)


_ABOVE_ZERO = (_masks.OUTSIDE, -math.inf, 0.0)
_ZERO = (_masks.DEAD_ZERO, 0.0)
# name: the rule of the op's mask, from the layer
_MASK_RULES = {
    "relu": lambda layer: (_ABOVE_ZERO, _ZERO),
    "leaky_relu": lambda layer: (_ABOVE_ZERO, (_masks.DEAD_SLOPE, layer.negative_slope)),
    "relu6": lambda layer: ((_masks.INSIDE, 0.0, 6.0), _ZERO),
    "hardtanh": lambda layer: ((_masks.INSIDE, layer.min_val, layer.max_val), _ZERO),
    "threshold": lambda layer: ((_masks.OUTSIDE, -math.inf, layer.threshold), _ZERO),
    "hardshrink": lambda layer: ((_masks.OUTSIDE, -layer.lambd, layer.lambd), _ZERO),
    "softshrink": lambda layer: ((_masks.OUTSIDE, -layer.lambd, layer.lambd), _ZERO),
}

# class name, relukit op, torch.nn's parameters (name, default), whether torch has `inplace`
_TABLE = [
    ("ReLU", "relu", (), True),
    ("LeakyReLU", "leaky_relu", (("negative_slope", 0.01),), True),
    ("ReLU6", "relu6", (), True),
    ("Hardtanh", "hardtanh", (("min_val", -1.0), ("max_val", 1.0)), True),
    ("Threshold", "threshold", (("threshold", _REQUIRED), ("value", _REQUIRED)), True),
    ("Hardshrink", "hardshrink", (("lambd", 0.5),), False),
    ("Softshrink", "softshrink", (("lambd", 0.5),), False),
    ("ELU", "elu", (("alpha", 1.0),), True),
    ("SELU", "selu", (), True),
    ("CELU", "celu", (("alpha", 1.0),), True),
    ("GELU", "gelu", (("approximate", "none"),), False),
    ("SiLU", "silu", (), True),
    ("Mish", "mish", (), True),
    ("Softplus", "softplus", (("beta", 1.0), ("threshold", 20.0)), False),
    ("Hardswish", "hardswish", (), True),
    ("Hardsigmoid", "hardsigmoid", (), True),
    ("Sigmoid", "sigmoid", (), False),
    ("Tanh", "tanh", (), False),
    ("Softsign", "softsign", (), False),
    ("Tanhshrink", "tanhshrink", (), False),
    ("LogSigmoid", "logsigmoid", (), False),
    ("SparsePlus", "sparse_plus", (), False),     # not in torch.nn: named as relukit's function
    ("Squareplus", "squareplus", (("b", 4.0),), False),
]


def _signature(params, extra=()):
    P = inspect.Parameter
    fields = [P(name, P.POSITIONAL_OR_KEYWORD, default=default) for name, default in params]
    return inspect.Signature(fields + [P(name, P.POSITIONAL_OR_KEYWORD, default=default)
                                       for name, default in extra])


# name: (constructor arguments, then the literal outputs of the docstring's example: forward of
# [-2.0, 0.0, 1.5], backward of ones, and what the layer saved), computed once by running it
_EXAMPLES = {
    "ReLU": ("", "array([0. , 0. , 1.5])", "array([0., 0., 1.])", "mask"),
    "LeakyReLU": ("", "array([-0.02,  0.  ,  1.5 ])", "array([0.01, 0.01, 1.  ])", "mask"),
    "ReLU6": ("", "array([0. , 0. , 1.5])", "array([0., 0., 1.])", "mask"),
    "Hardtanh": ("", "array([-1.,  0.,  1.])", "array([0., 1., 0.])", "mask"),
    "Threshold": ("0.5, -1.0", "array([-1. , -1. ,  1.5])", "array([0., 0., 1.])", "mask"),
    "Hardshrink": ("", "array([-2. ,  0. ,  1.5])", "array([1., 0., 1.])", "mask"),
    "Softshrink": ("", "array([-1.5,  0. ,  1. ])", "array([1., 0., 1.])", "mask"),
    "ELU": ("", "array([-0.86466472,  0.        ,  1.5       ])",
            "array([0.13533528, 1.        , 1.        ])", "output"),
    "SELU": ("", "array([-1.52016647,  0.        ,  1.57605148])",
             "array([0.23793287, 1.75809934, 1.05070099])", "output"),
    "CELU": ("", "array([-0.86466472,  0.        ,  1.5       ])",
             "array([0.13533528, 1.        , 1.        ])", "output"),
    "GELU": ("", "array([-0.04550026,  0.        ,  1.3997892 ])",
             "array([-0.0852318 ,  0.5       ,  1.12746919])", "input"),
    "SiLU": ("", "array([-0.23840584,  0.        ,  1.22636171])",
             "array([-0.09078425,  0.5       ,  1.04129415])", "input"),
    "Mish": ("", "array([-0.25250148,  0.        ,  1.40337827])",
             "array([-0.10835509,  0.6       ,  1.08848799])", "input"),
    "Softplus": ("threshold=40.0", "array([0.12692801, 0.69314718, 1.70141328])",
                 "array([0.11920292, 0.5       , 0.81757448])", "output"),
    "Hardswish": ("", "array([-0.33333333,  0.        ,  1.125     ])",
                  "array([-0.16666667,  0.5       ,  1.        ])", "input"),
    "Hardsigmoid": ("", "array([0.16666667, 0.5       , 0.75      ])",
                    "array([0.16666667, 0.16666667, 0.16666667])", "output"),
    "Sigmoid": ("", "array([0.11920292, 0.5       , 0.81757448])",
                "array([0.10499359, 0.25      , 0.14914645])", "output"),
    "Tanh": ("", "array([-0.96402758,  0.        ,  0.90514825])",
             "array([0.07065082, 1.        , 0.18070664])", "output"),
    "Softsign": ("", "array([-0.66666667,  0.        ,  0.6       ])",
                 "array([0.11111111, 1.        , 0.16      ])", "output"),
    "Tanhshrink": ("", "array([-1.03597242,  0.        ,  0.59485175])",
                   "array([0.92934918, 0.        , 0.81929336])", "input"),
    "LogSigmoid": ("", "array([-2.12692801, -0.69314718, -0.20141328])",
                   "array([0.88079708, 0.5       , 0.18242552])", "output"),
    "SparsePlus": ("", "array([0.  , 0.25, 1.5 ])", "array([0. , 0.5, 1. ])", "output"),
    "Squareplus": ("", "array([0.41421356, 1.        , 2.        ])",
                   "array([0.14644661, 0.5       , 0.8       ])", "output"),
}

_SAVES = {
    "mask": "a bit-packed mask, 1 bit per element",
    "output": "its output, so ``inplace=True`` keeps no second array",
    "input": "its input (its backward needs x); ``inplace=True`` copies it first",
}

_COMMON_PARAMETERS = """track_dead : bool, default False
    Keep the dying-ReLU statistic of the inputs: ``dead`` and ``dead_fraction``.
dead_axis : int or tuple of ints, default 0
    The batch axis (axes) of that statistic."""


def _parameter_doc(name, default, op):
    kind = "float" if default is _REQUIRED else f"{type(default).__name__}, default {default!r}"
    return f"{name} : {kind}\n    As in ``relukit.{op}``."


def _layer_doc(name, op, params, torch_inplace):
    args, forward, backward, saved = _EXAMPLES[name]
    parameters = "\n".join(_parameter_doc(p, default, op) for p, default in params)
    return f"""Layer of ``relukit.{op}`` (as ``torch.nn.{name}``): ``forward(x)`` and ``backward(grad)``.

Parameters
----------
{parameters + chr(10) if parameters else ""}inplace : bool, default False
    ``forward`` overwrites its input{"" if torch_inplace else " (not in torch.nn)"}.
{_COMMON_PARAMETERS}

Notes
-----
Saves {_SAVES[saved]}{
    " (with parameters that allow a backward from it; else its input)" if saved == "output" and params
    else ""}. See ``relukit.nn``.

Examples
--------
>>> import numpy as np
>>> from relukit import nn
>>> layer = nn.{name}({args})
>>> layer.forward(np.array([-2.0, 0.0, 1.5]))
{forward}
>>> layer.backward(np.ones(3))
{backward}
>>> layer.saved
'{saved}'
"""


def _make_layer(name, op, params, torch_inplace):
    masked = op in _MASK_RULES
    base = _Masked if masked else _Elementwise
    body = {
        "op": op, "params": params, "__module__": __name__,
        "__signature__": _signature(params, (("inplace", False),)),
        "__doc__": _layer_doc(name, op, params, torch_inplace),
    }
    if masked:
        body["_rule"] = _MASK_RULES[op]
    return type(name, (base,), body)


for _row in _TABLE:
    globals()[_row[0]] = _make_layer(*_row)


class PReLU(Layer):
    """Parametric ReLU with one learned slope, or one per channel along ``axis`` (as
    ``torch.nn.PReLU``).

    Parameters
    ----------
    num_parameters : int, default 1
        1, or the number of channels along ``axis``.
    init : float, default 0.25
        The slopes' first value.
    axis : int, default 1
        The channel axis (1 for NCHW, -1 for channels last).
    dtype : dtype, default np.float32
        Of ``weight``.
    track_dead, dead_axis
        As in ``Layer``.

    Notes
    -----
    ``backward`` returns the input gradient and sets ``weight_grad`` (replaced, not accumulated);
    the caller updates ``weight``. Saves the input: the weight gradient needs it.

    Examples
    --------
    >>> import numpy as np
    >>> from relukit import nn
    >>> layer = nn.PReLU(2, init=0.5, dtype=np.float64)
    >>> x = np.array([[-2.0, 1.0], [-4.0, -1.0]])
    >>> layer.forward(x)
    array([[-1. ,  1. ],
           [-2. , -0.5]])
    >>> layer.backward(np.ones_like(x))
    array([[0.5, 1. ],
           [0.5, 0.5]])
    >>> layer.weight_grad
    array([-6., -1.])
    """

    op = "prelu"
    __signature__ = _signature((("num_parameters", 1), ("init", 0.25)),
                               (("axis", 1), ("dtype", np.float32)))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if int(self.num_parameters) != self.num_parameters or self.num_parameters < 1:
            raise ValueError(f"PReLU needs num_parameters >= 1, got {self.num_parameters}")
        if np.dtype(self.dtype).kind != "f":
            raise TypeError(f"PReLU's weight must be float16, float32 or float64, got "
                            f"{np.dtype(self.dtype)}")
        self.weight = np.full(int(self.num_parameters), self.init, dtype=self.dtype)
        self.weight_grad = None

    def _check(self):
        pass

    def _forward(self, x, out):
        self._save("input", x)
        return relukit.prelu(x, self.weight, axis=self.axis)

    def _backward(self, grad):
        x = self._saved
        self.weight_grad = relukit.prelu_weight_grad(grad, x, self.weight, axis=self.axis)
        return relukit.prelu_backward(grad, x, self.weight, axis=self.axis)


class RReLU(_Masked):
    """Randomized leaky ReLU (as ``torch.nn.RReLU``).

    In training (the default, as torch) each element gets a slope drawn from ``[lower, upper)``;
    in eval the slope is their mean.

    Parameters
    ----------
    lower, upper : float, default 1/8 and 1/3
        As in ``relukit.rrelu``.
    inplace : bool, default False
        ``forward`` overwrites its input.
    seed : int or None, default None
        Seeds the layer's generator of per-forward seeds.
    track_dead, dead_axis
        As in ``Layer``.

    Notes
    -----
    Saves a bit-packed mask and the forward's seed, from which ``backward`` draws the slopes
    again (it stores none).

    Examples
    --------
    >>> import numpy as np
    >>> from relukit import nn
    >>> layer = nn.RReLU(0.1, 0.3, seed=0)
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> y = layer.forward(x)
    >>> dx = layer.backward(np.ones_like(x))
    >>> bool(np.all((0.1 <= dx[:2]) & (dx[:2] < 0.3))), bool(y[0] == -dx[0]), float(dx[2])
    (True, True, 1.0)
    >>> layer.eval().forward(x), layer.backward(np.ones_like(x))
    (array([-0.2,  0. ,  2. ]), array([0.2, 0.2, 1. ]))
    """

    op = "rrelu"
    params = (("lower", 1 / 8), ("upper", 1 / 3))
    __signature__ = _signature(params, (("inplace", False), ("seed", None)))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rng = np.random.default_rng(self.seed)
        self._step_seed = None

    def _check(self):
        _api._check_rrelu(self.lower, self.upper)

    def _forward(self, x, out):
        mask = _masks.pack(x, *_ABOVE_ZERO, what="RReLU")
        self._step_seed = int(self._rng.integers(2**63)) if self.training else None
        y = relukit.rrelu(x, self.lower, self.upper, training=self.training, seed=self._step_seed,
                          **out)
        self._save("mask", mask)
        return y

    def _backward(self, grad):
        # the mode of the last forward, whatever train() or eval() said since
        grad = grad.astype(np.result_type(grad.dtype, self._dtype), copy=False)
        if self._step_seed is None:
            return _masks.unpack(grad, self._saved, _masks.DEAD_SLOPE,
                                 slope=_api._mean_slope(self.lower, self.upper), what="RReLU")
        return _masks.unpack(grad, self._saved, _masks.DEAD_NOISE, key=_api._rrelu_key(self._step_seed),
                             lower=self.lower, upper=self.upper, what="RReLU")


LAYERS = tuple(row[0] for row in _TABLE) + ("PReLU", "RReLU")
__all__ = ["Layer", *LAYERS]
