"""Shared set-up for the asv suites: data, and peers that skip cleanly when not installed."""

import numpy as np

SIZES = [1_000, 100_000, 10_000_000]
DTYPES = ["float32", "float64"]
IMPLS = ["relukit", "numpy", "torch"]


def random(n, dtype, seed=0):
    # normal data: half negative, no zeros (all-zero arrays and untouched zero pages time wrong)
    return np.random.default_rng(seed).standard_normal(n).astype(dtype)


def torch_or_skip():
    try:
        import torch
    except ImportError:
        raise NotImplementedError("torch is not installed") from None  # asv: skipped
    return torch
