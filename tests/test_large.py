"""Arrays over 2**31 elements (opt in: ``pytest -m slow``; needs about 9 GiB of memory, skipped
when /proc/meminfo's MemAvailable is short)."""

import numpy as np
import pytest

import relukit

N = 2**31 + 77  # past every 32-bit index


def _available():
    """Bytes the kernel says can be allocated without swapping (None when not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def needs_memory(nbytes):
    available = _available()
    return pytest.mark.skipif(available is not None and available < nbytes * 1.1,
                              reason=f"needs {nbytes / 2**30:.1f} GiB free, "
                                     f"MemAvailable is {(available or 0) / 2**30:.1f} GiB")


@pytest.mark.slow
@needs_memory(2 * N * 4)
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


@pytest.mark.slow
@needs_memory((2**31 + 17) * 4)
def test_transcendental_in_place_past_two_to_the_31():
    """relu and then sigmoid in place on 2**31 + 17 float32 elements (threaded, the contiguous
    kernels): the last elements, past every 32-bit index, get their values."""
    n = 2**31 + 17
    x = np.full(n, -2.0, np.float32)
    tail = np.array([-3.0, np.nan, 0.5, -0.0, 4.0, -np.inf, np.inf], np.float32)
    x[-len(tail):] = tail
    x[2**31 - 1:2**31 + 2] = 1.0
    relukit.relu(x, out=x)
    assert x[0] == 0 and x[2**31] == 1 and x[-len(tail) - 1] == 0
    np.testing.assert_array_equal(x[-len(tail):], relukit.relu(tail))
    relukit.sigmoid(x, out=x)
    want = relukit.sigmoid(relukit.relu(tail))
    np.testing.assert_array_equal(x[-len(tail):], want)
    assert x[0] == 0.5 and x[2**31] == relukit.sigmoid(np.float32(1.0))
    assert x[-len(tail) - 1] == 0.5
