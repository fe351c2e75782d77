"""Arrays over 2**31 elements (opt in: ``pytest -m slow``; needs about 9 GiB of memory)."""

import numpy as np
import pytest

import relukit

N = 2**31 + 77  # past every 32-bit index


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_in_place_past_two_to_the_31(dtype):
    x = np.full(N, -1.0, dtype)
    marks = np.array([0, 2**31 - 1, 2**31, 2**31 + 1, N - 1])
    x[marks] = 2.5
    x[marks[:-1] + 1] = np.nan
    relukit.relu(x, out=x)
    assert x[marks[-1]] == 2.5
    assert np.isnan(x[marks[:-1] + 1]).all()
    # everything else became +0.0
    x[marks] = 0
    x[marks[:-1] + 1] = 0
    assert not x.view(np.uint16 if dtype == np.float16 else np.uint32).any()
    del x
    g = np.full(N, 3.0, dtype)
    xx = np.full(N, 1.0, dtype)
    xx[-5:] = -1.0
    relukit.leaky_relu_backward(g, xx, 0.5, out=g)
    assert (g[-5:] == 1.5).all() and g[-6] == 3.0 and g[2**31] == 3.0 and g[0] == 3.0
