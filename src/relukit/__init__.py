"""relukit: fast CPU kernels for ReLU-family activations, as NumPy ufuncs.

Forward ``name(x, ...)``, backward ``name_backward(g, x, ...)`` and, where the maths allows,
``name_backward_from_output(g, y, ...)``. ``relukit.show_config()`` shows the SIMD level and
threads in use.
"""

from relukit._api import (
    hardshrink,
    hardshrink_backward,
    hardshrink_backward_from_output,
    hardsigmoid,
    hardsigmoid_backward,
    hardsigmoid_backward_from_output,
    hardswish,
    hardswish_backward,
    hardtanh,
    hardtanh_backward,
    hardtanh_backward_from_output,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_backward_from_output,
    prelu,
    prelu_backward,
    prelu_weight_grad,
    relu,
    relu6,
    relu6_backward,
    relu6_backward_from_output,
    relu_backward,
    relu_backward_from_output,
    rrelu,
    rrelu_backward,
    rrelu_backward_from_output,
    softshrink,
    softshrink_backward,
    softshrink_backward_from_output,
    softsign,
    softsign_backward,
    softsign_backward_from_output,
    sparse_plus,
    sparse_plus_backward,
    sparse_plus_backward_from_output,
    squareplus,
    squareplus_backward,
    squareplus_backward_from_output,
    threshold,
    threshold_backward,
    threshold_backward_from_output,
)
from relukit._api import _ufuncs
from relukit._build_info import version as __version__
from relukit._runtime import config, get_num_threads, set_num_threads, show_config, threads

__all__ = [name for name in dir() if not name.startswith("_")]

# NumPy pickles a ufunc as relukit.<its __name__>: the raw ufuncs behind the wrappers
# (`leaky_relu_ufunc`, ...) must be reachable here too.
globals().update({name: ufunc for name, ufunc in _ufuncs.items() if name not in globals()})
