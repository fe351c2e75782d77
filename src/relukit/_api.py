"""The public API: the ufuncs of the chosen kernel module, keyword wrappers for ops with
parameters, thread control and build facts."""

import contextlib
import os

import numpy as np

from relukit import _build_info, _dispatch

_kernels = _dispatch.kernels
_ufuncs = _kernels.ufuncs

# ---- ops without parameters: the ufuncs themselves ------------------------------------------------
relu = _ufuncs["relu"]
relu_backward = _ufuncs["relu_backward"]
relu_backward_from_output = _ufuncs["relu_backward_from_output"]

relu.__doc__ = """relu(x, /, out=None, *, where=True, casting='same_kind', order='K', dtype=None)

Rectified linear unit, ``max(x, 0)``, elementwise. A NumPy ufunc.

Bit for bit equal to ``np.maximum(x, 0)`` for every non-NaN input: ``-0.0`` gives ``+0.0`` and
``-inf`` gives ``0``. NaN propagates. float16, float32 and float64 results keep the input dtype
(float16 is computed in float32 and rounded once); integers and bools are cast as ``np.sqrt``
casts them. In place is ``relu(x, out=x)``.

Examples
--------
>>> import numpy as np, relukit
>>> relukit.relu(np.array([-2.0, -0.0, 0.5, np.nan]))
array([0. , 0. , 0.5, nan])
"""

relu_backward.__doc__ = """relu_backward(g, x, /, out=None, *, where=True, casting='same_kind', order='K', dtype=None)

Gradient of relu with respect to its input: ``g`` where ``x > 0``, else ``0``. A NumPy ufunc.

The derivative at 0 is 0. Where it is 0 the result is 0 whatever ``g`` holds (a select, not a
product, so a dead unit never passes on a NaN or inf gradient); NaN in ``x`` gives NaN. In place
is ``relu_backward(g, x, out=g)``.

Examples
--------
>>> import numpy as np, relukit
>>> relukit.relu_backward(np.array([1.0, np.nan, 3.0]), np.array([-1.0, 0.0, 2.0]))
array([0., 0., 3.])
"""

relu_backward_from_output.__doc__ = """relu_backward_from_output(g, y, /, out=None, *, where=True, casting='same_kind', order='K', dtype=None)

Gradient of relu from its output ``y = relu(x)``: ``g`` where ``y > 0``, else ``0``. A NumPy ufunc.

Equal to ``relu_backward(g, x)``; it lets the forward run in place (``relu(x, out=x)``) and
still train.

Examples
--------
>>> import numpy as np, relukit
>>> x = np.array([-1.0, 2.0])
>>> y = relukit.relu(x, out=x)
>>> relukit.relu_backward_from_output(np.array([5.0, 5.0]), y)
array([0., 5.])
"""


# ---- ops with parameters: wrappers with PyTorch's keyword defaults ---------------------------------
# Each wrapper forwards every ufunc keyword (out, where, dtype, casting, order, subok) and exposes the
# raw ufunc as `.ufunc`; parameters are trailing ufunc inputs, so they broadcast against x. Keywords
# pass through `**kwargs` untouched: an explicit `out=None` would cost NumPy ~120 ns of parsing a call.


def _expose(wrapper, ufunc):
    wrapper.ufunc = ufunc
    wrapper.__module__ = "relukit"
    return wrapper


def _require_nonnegative(value, name, op):
    ok = value >= 0 if type(value) is float else np.all(np.greater_equal(value, 0))
    if not ok:
        raise ValueError(
            f"{op}_backward_from_output needs {name} >= 0: with a negative {name} the output's "
            f"sign no longer tells x > 0 from x <= 0, so the gradient cannot be recovered from y; "
            f"use {op}_backward(g, x, ...) instead"
        )


leaky_relu_ufunc = _ufuncs["leaky_relu_ufunc"]
leaky_relu_backward_ufunc = _ufuncs["leaky_relu_backward_ufunc"]
leaky_relu_backward_from_output_ufunc = _ufuncs["leaky_relu_backward_from_output_ufunc"]


def leaky_relu(x, negative_slope=0.01, **kwargs):
    """Leaky ReLU: ``x`` where ``x > 0``, else ``negative_slope * x``.

    Parameters
    ----------
    x : array_like
    negative_slope : float or array_like, default 0.01
        Broadcasts against ``x``: an array of per-channel slopes gives PReLU.
    **kwargs
        As for any NumPy ufunc (``out=x`` runs in place; ``where``, ``dtype``, ``casting``,
        ``order``). The raw ufunc is ``leaky_relu.ufunc(x, negative_slope)``.

    Bit for bit equal to ``np.where(x > 0, x, x * negative_slope)`` in the same dtype; NaN
    propagates.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.leaky_relu(np.array([-2.0, 3.0]), negative_slope=0.1)
    array([-0.2,  3. ])
    """
    return leaky_relu_ufunc(x, negative_slope, **kwargs)


def leaky_relu_backward(g, x, negative_slope=0.01, **kwargs):
    """Gradient of leaky_relu with respect to its input: ``g`` if ``x > 0`` else ``negative_slope * g``.

    The derivative at 0 is ``negative_slope``. NaN in ``x`` gives NaN. In place is ``out=g``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.leaky_relu_backward(np.array([1.0, 1.0]), np.array([-2.0, 3.0]), 0.1)
    array([0.1, 1. ])
    """
    return leaky_relu_backward_ufunc(g, x, negative_slope, **kwargs)


def leaky_relu_backward_from_output(g, y, negative_slope=0.01, **kwargs):
    """Gradient of leaky_relu from its output ``y``; needs ``negative_slope >= 0``.

    For a non-negative slope ``y > 0`` exactly where ``x > 0``, so this equals
    ``leaky_relu_backward(g, x, negative_slope)``. A negative slope raises ValueError.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> y = relukit.leaky_relu(np.array([-2.0, 3.0]), 0.1)
    >>> relukit.leaky_relu_backward_from_output(np.array([1.0, 1.0]), y, 0.1)
    array([0.1, 1. ])
    """
    _require_nonnegative(negative_slope, "negative_slope", "leaky_relu")
    return leaky_relu_backward_from_output_ufunc(g, y, negative_slope, **kwargs)


_expose(leaky_relu, leaky_relu_ufunc)
_expose(leaky_relu_backward, leaky_relu_backward_ufunc)
_expose(leaky_relu_backward_from_output, leaky_relu_backward_from_output_ufunc)


# ---- threads ---------------------------------------------------------------------------------------
def set_num_threads(n):
    """Limit the threads every relukit kernel may use, in every Python thread of this process.

    The count used is the smaller of this limit and OpenMP's own (``OMP_NUM_THREADS``,
    ``threadpoolctl.threadpool_limits``), read on every call.
    """
    _kernels.set_thread_limit(int(n))


def get_num_threads():
    """The number of threads a large call from this Python thread would use now."""
    return _kernels.get_num_threads()


@contextlib.contextmanager
def threads(n):
    """Context manager: ``with relukit.threads(1): ...`` limits relukit's threads, then restores.

    The limit is process-global (as ``set_num_threads``), not per Python thread.
    """
    previous = _kernels.get_thread_limit()
    set_num_threads(n)
    try:
        yield
    finally:
        _kernels.set_thread_limit(previous)


# GNU OpenMP hangs in a forked child's next parallel region if the parent had a thread team; the
# child therefore runs serially (it may raise the limit again if its OpenMP runtime allows).
os.register_at_fork(after_in_child=lambda: _kernels.set_thread_limit(1))


# ---- build and machine facts -------------------------------------------------------------------------
def _openmp_description():
    version = _kernels.openmp_version()
    if not version:
        return "not available (built without OpenMP: every kernel runs on one thread)"
    names = {201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}
    return f"OpenMP {names.get(version, version)} (_OPENMP={version})"


def config():
    """Facts about this build and machine as a dict (what ``show_config`` prints)."""
    limit = _kernels.get_thread_limit()
    return {
        "version": _build_info.version,
        "numpy": np.__version__,
        "compiler": _build_info.compiler,
        "simd_level": _dispatch.level,
        "simd_available": list(_dispatch.available_levels()),
        "simd_built": list(_dispatch.built_levels()),
        "openmp": _openmp_description(),
        "threads": get_num_threads(),
        "thread_limit": None if limit >= 1 << 30 else limit,
        "thread_thresholds": _kernels.get_thresholds(),
        "cpu_count": os.cpu_count(),
    }


def show_config():
    """Print version, SIMD level chosen and available, OpenMP runtime, threads and thresholds."""
    facts = config()
    facts["thread_thresholds"] = ", ".join(
        f"{work} ops from {n:,} elements" for work, n in facts["thread_thresholds"].items()
    )
    for key in ("simd_available", "simd_built"):
        facts[key] = ", ".join(facts[key])
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
