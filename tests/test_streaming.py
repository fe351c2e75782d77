"""Streaming (non-temporal) stores write the same bits as ordinary stores.

Memory-bound ops stream outputs of 32 MiB and more; here the threshold is lowered to 0 so that
every length, alignment and thread count goes through that path."""

import numpy as np
import pytest

import relukit
from relukit._dispatch import kernels

from _support import BIG, DTYPES, assert_same_bits, make_data


@pytest.fixture
def streaming():
    """set(True) streams every memory-bound out-of-place result, set(False) none."""
    saved = kernels.get_stream_from()
    yield lambda on: kernels.set_stream_from(0 if on else 1 << 62)
    kernels.set_stream_from(saved)


CALLS = {
    "relu": lambda x, g, **kw: relukit.relu(x, **kw),
    "relu_backward": lambda x, g, **kw: relukit.relu_backward(g, x, **kw),
    "leaky_relu scalar slope": lambda x, g, **kw: relukit.leaky_relu(x, 0.2, **kw),
    "leaky_relu slope array": lambda x, g, **kw: relukit.leaky_relu(x, np.abs(g) + 0.5, **kw),
    "hardtanh": lambda x, g, **kw: relukit.hardtanh(x, -0.5, 2.0, **kw),
    "softsign_backward": lambda x, g, **kw: relukit.softsign_backward(g, x, **kw),
    "sigmoid (compute-bound: not streamed)": lambda x, g, **kw: relukit.sigmoid(x, **kw),
}


@DTYPES
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("offset", [0, 1, 5])      # the output starts off a cache line
@pytest.mark.parametrize("n", [1, 17, 1000, 4097, BIG])
def test_streamed_output_has_the_same_bits(dtype, call, offset, n, streaming):
    x, g = make_data(n, dtype, seed=1), make_data(n, dtype, seed=2)
    fn = CALLS[call]
    streaming(False)
    expected = fn(x, g)
    streaming(True)
    for threads in (1, 2):
        buffer = np.full(n + offset + 3, 7, dtype)
        with relukit.threads(threads):
            fn(x, g, out=buffer[offset:offset + n])
        assert_same_bits(buffer[offset:offset + n], expected, f"{call} threads={threads}")
        assert np.all(buffer[:offset] == 7) and np.all(buffer[offset + n:] == 7)


def test_in_place_and_overlapping_outputs_stay_right(streaming):
    streaming(True)
    x = make_data(BIG, np.float32, seed=3)
    expected = relukit.relu(x)
    relukit.relu(x, out=x)
    assert_same_bits(x, expected)
    a = make_data(BIG + 1, np.float64, seed=4)
    expected = relukit.relu(a[1:])
    relukit.relu(a[1:], out=a[:-1])         # the output trails the input
    assert_same_bits(a[:-1], expected)
