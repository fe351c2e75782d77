"""Arguments for calling every activation function generically (dask and xarray tests)."""

import inspect

import numpy as np
import pytest

import relukit
from relukit import _api

WEIGHT = np.array([0.25, -0.5, 0.0, 2.0, 0.1])  # prelu: one slope per channel of axis 1 (5 long)
# The arguments that are not data (g, x, y), per function.
PARAMS = {
    "threshold": (0.5, -1.0),
    "threshold_backward": (0.5, -1.0),
    "threshold_backward_from_output": (0.5, -1.0),
    "prelu": (WEIGHT,),
    "prelu_backward": (WEIGHT,),
    "prelu_backward_from_output": (np.abs(WEIGHT) + 0.5,),
    "prelu_weight_grad": (WEIGHT,),
}
TRAINING = {"training": True, "seed": 11}
# softplus from its output needs a threshold past which its two sides round alike in every dtype
KEYWORDS = {"softplus_backward_from_output": {"threshold": 40.0}}
DATA_NAMES = ("g", "x", "y")


def data_arity(name):
    """How many leading data operands `name` takes; fails for a function this file does not know."""
    fn = getattr(relukit, name)
    if isinstance(fn, np.ufunc):
        return fn.nin
    required = [p.name for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    data = [p for p in required if p in DATA_NAMES]
    if required[:len(data)] != data or len(required) - len(data) != len(PARAMS.get(name, ())):
        pytest.fail(f"tests/_wrapper_args.py does not know the arguments of "
                    f"relukit.{name}{inspect.signature(fn)}: add them to PARAMS")
    return len(data)


def cases():
    """Every activation function (relukit._api.__all__); rrelu's also in training."""
    return [pytest.param(name, KEYWORDS.get(name, {}) | kwargs, id=name + suffix)
            for name in _api.__all__
            for kwargs, suffix in [({}, "")] + [(TRAINING, "-training")] * name.startswith("rrelu")]


def call(name, arrays, kwargs):
    return getattr(relukit, name)(*arrays, *PARAMS.get(name, ()), **kwargs)
