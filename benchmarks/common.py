"""Shared set-up for the asv suites: data, and peers that skip cleanly when not installed.

RELUKIT_ASV_SIZES (comma-separated element counts) narrows the sizes, e.g. for the CI smoke run
`RELUKIT_ASV_SIZES=1000 asv run --python=same --quick`."""

import functools
import os

import numpy as np

SIZES = [int(float(n)) for n in os.environ.get("RELUKIT_ASV_SIZES", "1e3,1e5,1e7").split(",")]
DTYPES = ["float32", "float64"]
IMPLS = ["relukit", "numpy", "torch", "numexpr"]
# allocating: a new output; out: a given output; inplace: into x (forward) or g (backward);
# strided: every other element of a twice-as-long array, into a new output
LAYOUTS = ["allocating", "out", "inplace", "strided"]


def random(n, dtype, seed=0, step=1):
    """Normal data: half negative, no zeros (all-zero arrays and untouched zero pages time wrong).
    A fresh copy of one array drawn per process: asv_runner 0.3 runs setup() before every timed
    call, and drawing 1e7 normals each time cost far more than the call."""
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
