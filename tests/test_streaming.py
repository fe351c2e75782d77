"""Streaming (non-temporal) stores write the same bits as ordinary stores.

The streamed path only runs for outputs above a size threshold; here the threshold is lowered to 0
so that every length, alignment and thread count goes through it."""

import numpy as np
import pytest

import relukit
from relukit import _dispatch

from _support import DTYPES, assert_same_bits, make_data

kernels = _dispatch.kernels


@pytest.fixture
def always_stream():
    saved = kernels.get_stream_bytes()
    kernels.set_stream_bytes(0)
    yield
    kernels.set_stream_bytes(saved)


CALLS = {
    "relu": lambda x, g, **kw: relukit.relu(x, **kw),
    "leaky_relu scalar slope": lambda x, g, **kw: relukit.leaky_relu(x, 0.2, **kw),
    "leaky_relu slope array": lambda x, g, **kw: relukit.leaky_relu(x, np.abs(g), **kw),
    "sigmoid": lambda x, g, **kw: relukit.sigmoid(x, **kw),
    "gelu_backward": lambda x, g, **kw: relukit.gelu_backward(g, x, **kw),
}


@DTYPES
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("offset", [0, 1, 5])      # output starts off the vector alignment
@pytest.mark.parametrize("n", [1, 17, 1000, 4097, 300_001])
def test_streamed_output_has_the_same_bits(dtype, call, offset, n, always_stream):
    x, g = make_data(n, dtype, seed=1), make_data(n, dtype, seed=2)
    fn = CALLS[call]
    kernels.set_stream_bytes(1 << 62)
    expected = fn(x, g)
    kernels.set_stream_bytes(0)
    for threads in (1, 2):
        buffer = np.full(n + offset + 3, 7, dtype)
        with relukit.threads(threads):
            fn(x, g, out=buffer[offset:offset + n])
        assert_same_bits(buffer[offset:offset + n], expected, f"{call} threads={threads}")
        assert np.all(buffer[:offset] == 7) and np.all(buffer[offset + n:] == 7)


def test_in_place_is_not_streamed_but_still_right(always_stream):
    x = make_data(5000, np.float32, seed=3)
    expected = relukit.relu(x)
    relukit.relu(x, out=x)
    assert_same_bits(x, expected)
