"""relukit: fast CPU kernels for ReLU-family activations, as NumPy ufuncs.

Forward ``name(x, ...)``, backward ``name_backward(g, x, ...)`` and, where the maths allows,
``name_backward_from_output(g, y, ...)``. ``relukit.show_config()`` shows the SIMD level and
threads in use.
"""

from relukit._api import *  # noqa: F403 (the activation functions, listed in _api.__all__)
from relukit._api import _ufuncs
from relukit._build_info import version as __version__
from relukit._fused import bias_act, bias_act_backward
from relukit._masks import dead_units, relu_backward_mask, relu_mask
from relukit._runtime import config, get_num_threads, set_num_threads, show_config, threads

__all__ = [name for name in dir() if not name.startswith("_")]

# NumPy pickles a ufunc as relukit.<its __name__>: the raw ufuncs behind the wrappers
# (`leaky_relu_ufunc`, ...) must be reachable here too.
globals().update({name: ufunc for name, ufunc in _ufuncs.items() if name not in globals()})

from relukit import nn  # noqa: E402 (layer objects: a submodule, not in __all__)

_NOT_MONOTONIC = "it is not monotonic: below its minimum two inputs give each output"
_WHY_NO_FROM_OUTPUT = {
    "gelu": _NOT_MONOTONIC, "silu": _NOT_MONOTONIC, "mish": _NOT_MONOTONIC,
    "hardswish": _NOT_MONOTONIC,
    "tanhshrink": "its derivative tanh(x)**2 has no closed form in y = x - tanh(x)",
}


def __getattr__(name):
    # the from-output gradients SPEC rules out: say why, not only that the name is missing
    op = name.removesuffix("_backward_from_output")
    if op in _WHY_NO_FROM_OUTPUT:
        raise AttributeError(f"relukit has no {name}: {_WHY_NO_FROM_OUTPUT[op]}; use "
                             f"{op}_backward(g, x) with the forward's input")
    raise AttributeError(f"module 'relukit' has no attribute {name!r}")
