"""The bench and asv peers compute what relukit computes, so their timings compare like with like."""

import numpy as np
import pytest

from relukit import _peers


@pytest.mark.parametrize("op", list(_peers.OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_peer_agrees_with_relukit(op, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(4001) * 4).astype(dtype)   # across every kink and saturation
    g = rng.standard_normal(4001).astype(dtype)
    relukit_fwd, numpy_fwd, relukit_bwd, numpy_bwd = _peers.OPS[op]
    if numpy_fwd is None:
        pytest.skip(f"the NumPy peer of {op} needs SciPy")
    eps = np.finfo(dtype).eps
    for got, expected in ((relukit_fwd(x), numpy_fwd(x)), (relukit_bwd(g, x), numpy_bwd(g, x))):
        assert got.dtype == expected.dtype == dtype
        # the naive peer expressions may cancel (squareplus for x < 0 loses bits in x + sqrt(..)):
        # their error is a few eps of |x|, not of the result
        bound = 8 * eps * (np.abs(expected) + np.abs(x))
        assert np.all(np.abs(got.astype(np.float64) - expected) <= bound)


@pytest.mark.parametrize("op", list(_peers.NUMEXPR))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numexpr_peer_agrees_with_relukit(op, dtype):
    numexpr = pytest.importorskip("numexpr")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(4001) * 4).astype(dtype)
    g = rng.standard_normal(4001).astype(dtype)
    relukit_fwd, _, relukit_bwd, _ = _peers.OPS[op]
    numexpr_fwd, numexpr_bwd = _peers.numexpr_peers(numexpr)[op]
    eps = np.finfo(dtype).eps
    pairs = [(relukit_fwd(x), numexpr_fwd(x))]
    if numexpr_bwd is not None:
        pairs.append((relukit_bwd(g, x), numexpr_bwd(g, x)))
    for got, expected in pairs:
        assert got.dtype == expected.dtype == dtype     # float literals must not upcast
        # 1 - tanh(x)**2 and log1p(exp(x)) cancel: their error is a few eps of the inputs' scale
        bound = 16 * eps * (np.abs(expected) + np.abs(x) + np.abs(g))
        assert np.all(np.abs(got.astype(np.float64) - expected) <= bound)
