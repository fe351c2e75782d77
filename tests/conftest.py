import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _support  # noqa: E402

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis tests skip themselves
    settings = None

if settings is not None:
    # Deterministic in CI: the same examples on every run, no timing-dependent failures.
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        max_examples=150,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile("dev", deadline=None, max_examples=500)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _thread_limit_restored():
    """Every test starts and ends with relukit's default (unlimited) thread limit."""
    import relukit

    assert relukit.config()["thread_limit"] is None, "a previous test leaked a thread limit"
    yield
    leaked = relukit.config()["thread_limit"]
    if leaked is not None:
        relukit.set_num_threads(1 << 30)
        pytest.fail(f"test left relukit's thread limit at {leaked}")


@pytest.fixture(params=_support.FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def support():
    return _support


def pytest_collection_modifyitems(config, items):
    """Known, tracked accuracy bugs (tests/_known_failures.py) are strict xfails; `slow` tests
    (minutes, many GiB) run only when selected with -m (e.g. -m slow)."""
    import _known_failures

    skip_slow = not config.option.markexpr
    for item in items:
        reason = _known_failures.KNOWN.get(item.nodeid.split("::", 1)[-1])
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
        if skip_slow and "slow" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="slow: opt in with -m slow"))
