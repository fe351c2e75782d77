"""relukit: fast CPU kernels for ReLU-family activations, as NumPy ufuncs.

Forward ``name(x, ...)``, backward ``name_backward(g, x, ...)`` and, where the maths allows,
``name_backward_from_output(g, y, ...)``. See ``relukit.show_config()`` for the SIMD level and
threads in use.
"""

from relukit._api import (
    config,
    get_num_threads,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_backward_from_output,
    leaky_relu_backward_from_output_ufunc,
    leaky_relu_backward_ufunc,
    leaky_relu_ufunc,
    relu,
    relu_backward,
    relu_backward_from_output,
    set_num_threads,
    show_config,
    threads,
)
from relukit._build_info import version as __version__

__all__ = [
    "relu",
    "relu_backward",
    "relu_backward_from_output",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_backward_from_output",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "show_config",
    "config",
]
