"""Choose the SIMD level once, at import, and import the matching kernel module.

``RELUKIT_CPU_LEVEL=baseline|avx2|avx512`` caps the level: an unknown value is an error, a level
this CPU (or this build) lacks gives a warning and the best level below it.
"""

import importlib
import importlib.util
import os
import warnings

from relukit import _cpu

LEVELS = _cpu.LEVELS


def built_levels():
    return tuple(l for l in LEVELS if importlib.util.find_spec(f"relukit._kernels_{l}") is not None)


def available_levels():
    """Levels both built and runnable on this CPU, lowest first."""
    built = built_levels()
    return tuple(l for l in _cpu.supported_levels() if l in built)


def choose_level(requested=None):
    available = available_levels()
    requested = (requested or "").strip().lower()
    if not requested:
        return available[-1]
    if requested not in LEVELS:
        raise ValueError(
            f"RELUKIT_CPU_LEVEL={requested!r} is not a SIMD level; use one of {', '.join(LEVELS)}"
        )
    if requested in available:
        return requested
    best = [l for l in available if LEVELS.index(l) <= LEVELS.index(requested)][-1]
    warnings.warn(
        f"RELUKIT_CPU_LEVEL={requested} is not available here (this CPU and build run "
        f"{', '.join(available)}); using {best}",
        RuntimeWarning,
        stacklevel=3,
    )
    return best


level = choose_level(os.environ.get("RELUKIT_CPU_LEVEL"))
kernels = importlib.import_module(f"relukit._kernels_{level}")
