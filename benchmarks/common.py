"""Shared set-up for the asv suites: data, and peers that skip cleanly when not installed.

RELUKIT_ASV_SIZES (comma-separated element counts) narrows the sizes, e.g. for the CI smoke run
`RELUKIT_ASV_SIZES=1000 asv run --python=same --quick`."""

import functools
import os

import numpy as np

from relukit import _dispatch

SIZES = [int(float(n)) for n in os.environ.get("RELUKIT_ASV_SIZES", "1e3,1e5,1e7").split(",")]
DTYPES = ["float16", "float32", "float64"]
IMPLS = ["relukit", "numpy", "torch", "numexpr"]
# allocating: a new output; out: a given output; inplace: into x (forward) or g (backward);
# strided: every other element of a twice-as-long array, into a new output
LAYOUTS = ["allocating", "out", "inplace", "strided"]


def random(n, dtype, seed=0, step=1):
    """Normal data: half negative, no zeros (all-zero arrays and untouched zero pages time wrong).
    A fresh copy of one array drawn per process: asv_runner 0.3 runs setup() before every timed
    call, and drawing 1e7 normals each time cost far more than the call.

    Every setup draws its data here, so this is also where a benchmark skips when
    RELUKIT_CPU_LEVEL asks for a level relukit fell back from (a CPU without AVX-512): its
    figures would otherwise be recorded under the level's name."""
    requested = os.environ.get("RELUKIT_CPU_LEVEL", "").strip().lower()
    if requested and requested != _dispatch.level:
        skip(f"RELUKIT_CPU_LEVEL={requested} is not available here (relukit runs {_dispatch.level})")
    return _drawn(n, np.dtype(dtype), seed, step).copy()[::step]


@functools.lru_cache(maxsize=None)
def _drawn(n, dtype, seed, step):
    return np.random.default_rng(seed).standard_normal(n * step).astype(dtype)


def skip(why):
    raise NotImplementedError(why)    # asv reports the benchmark as skipped


def import_or_skip(name):
    try:
        return __import__(name)
    except ImportError:
        skip(f"{name} is not installed")
