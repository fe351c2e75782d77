"""Threads, build and machine facts: the process-wide controls of relukit."""

import contextlib
import operator
import os
import platform
import threading
import warnings

import numpy as np

from relukit import _build_info, _dispatch

_kernels = _dispatch.kernels
NO_LIMIT = 1 << 30      # a thread limit this large or larger is none (the kernels' initial value)


# ---- threads ---------------------------------------------------------------------------------------
def set_num_threads(n):
    """Limit the threads every relukit kernel may use, in every Python thread of this process.

    Parameters
    ----------
    n : int
        At least 1 (else ValueError; not an integer: TypeError). The count used is the smaller of
        this limit and OpenMP's own (``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits``),
        read on every call.

    Notes
    -----
    The limit is process-global (``threads(n)`` limits one Python thread's calls for a ``with``
    block); there is no value for "no limit" but a huge one (``2**30`` or more counts as none:
    ``config()["thread_limit"]`` is then None). A forked child runs on one thread: GNU OpenMP hangs
    in a child's parallel region when the parent had threads, so raising the limit there warns
    (RuntimeWarning) and keeps 1; use multiprocessing's "spawn" or "forkserver" for threaded
    workers.

    Examples
    --------
    >>> import relukit
    >>> relukit.set_num_threads(1)
    >>> relukit.get_num_threads(), relukit.config()["thread_limit"]
    (1, 1)
    >>> relukit.set_num_threads(2**30)          # back to no limit
    >>> relukit.config()["thread_limit"] is None
    True
    """
    _set_thread_limit(n)


def _set_thread_limit(n, stacklevel=3):
    _kernels.set_thread_limit(_checked_limit(n, stacklevel + 1))


def _checked_limit(n, stacklevel):
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    if n > 1 and _in_forked_child:
        warnings.warn("relukit runs on one thread in a forked child process (GNU OpenMP hangs in "
                      "a child whose parent had threads); start threaded workers with "
                      "multiprocessing's 'spawn' or 'forkserver'", RuntimeWarning,
                      stacklevel=stacklevel)
        n = 1
    return min(n, NO_LIMIT)


def get_num_threads():
    """The number of threads a large call from this Python thread would use now.

    Returns
    -------
    int
        The smaller of relukit's limit (``set_num_threads``, a ``threads(n)`` block) and
        OpenMP's (``OMP_NUM_THREADS``, ``OMP_THREAD_LIMIT``, threadpoolctl); 1 in a build
        without OpenMP. Calls below the size thresholds (in bytes) of
        ``config()["thread_thresholds"]`` run on one thread whatever this says.

    Examples
    --------
    >>> import relukit
    >>> with relukit.threads(1):
    ...     relukit.get_num_threads()
    1
    """
    return _kernels.get_num_threads()


@contextlib.contextmanager
def threads(n):
    """Context manager: ``with relukit.threads(1): ...`` limits the threads of relukit calls made
    from this Python thread inside the block.

    Parameters
    ----------
    n : int
        The limit inside the block, at least 1 (as ``set_num_threads``).

    Notes
    -----
    The limit belongs to the Python thread that entered the block, as an OpenMP limit set by
    threadpoolctl does: other threads' calls keep theirs, so the tasks of a thread pool can each
    use a block of their own. Inside, the smaller of ``n`` and ``set_num_threads``' limit holds;
    an inner block replaces an outer one until it ends. Blocks may also end out of order within
    one thread (asyncio tasks share their thread): the latest block still open then holds.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> with relukit.threads(1):
    ...     y = relukit.relu(np.linspace(-1.0, 1.0, 1_000_000))
    ...     relukit.get_num_threads()
    1
    >>> relukit.config()["thread_limit"] is None           # restored
    True
    """
    limit = _checked_limit(n, stacklevel=4)
    blocks, token = _open_blocks(), object()
    blocks[token] = limit
    _kernels.set_block_limit(limit)
    try:
        yield
    finally:
        del blocks[token]
        _kernels.set_block_limit(next(reversed(blocks.values()), NO_LIMIT))


_thread_state = threading.local()


def _open_blocks():
    """This thread's open threads(n) blocks, oldest first: {token: limit}."""
    try:
        return _thread_state.blocks
    except AttributeError:
        _thread_state.blocks = {}
        return _thread_state.blocks


# GNU OpenMP hangs in a forked child's next parallel region if the parent had a thread team, and
# a child cannot tell whether it had: every forked child runs serially.
_in_forked_child = False


def _after_fork_in_child():
    global _in_forked_child
    _in_forked_child = True
    _kernels.set_thread_limit(1)


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- build and machine facts -------------------------------------------------------------------------
def _openmp_description():
    version = _kernels.openmp_version()
    if not version:
        return "not available (built without OpenMP: every kernel runs on one thread)"
    names = {201511: "4.5", 201811: "5.0", 202011: "5.1", 202111: "5.2"}
    return f"OpenMP {names.get(version, version)} (_OPENMP={version})"


def config():
    """Facts about this build and machine as a dict (what ``show_config`` prints).

    Returns
    -------
    dict
        ``version``, ``numpy``, ``compiler``; ``simd_level`` (the kernel variant in use, set by
        ``RELUKIT_CPU_LEVEL`` or the CPU), ``simd_available`` and ``simd_built``; ``openmp``;
        ``threads`` (``get_num_threads()``), ``thread_limit`` (relukit's limit for this Python
        thread, ``set_num_threads``' or a ``threads(n)`` block's; None when neither is set),
        ``thread_thresholds`` (bytes of array operands, inputs and output together, from which a
        call is threaded, per kind of op), ``cpu`` (the processor's model name, where the system
        gives one: timings are only comparable on the same one) and ``cpu_count``.

    Examples
    --------
    >>> import relukit
    >>> facts = relukit.config()
    >>> sorted(facts)  # doctest: +NORMALIZE_WHITESPACE
    ['compiler', 'cpu', 'cpu_count', 'numpy', 'openmp', 'simd_available', 'simd_built', 'simd_level',
     'thread_limit', 'thread_thresholds', 'threads', 'version']
    >>> facts["simd_level"] in facts["simd_available"]
    True
    """
    limit = _kernels.get_thread_limit()
    return {
        "version": _build_info.version,
        "numpy": np.__version__,
        "compiler": _build_info.compiler,
        "simd_level": _dispatch.level,
        "simd_available": list(_dispatch.available_levels()),
        "simd_built": list(_dispatch.built_levels()),
        "openmp": _openmp_description(),
        "threads": get_num_threads(),
        "thread_limit": None if limit >= NO_LIMIT else limit,
        "thread_thresholds": _kernels.get_thresholds(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def show_config():
    """Print version, SIMD level chosen and available, OpenMP runtime, threads and thresholds.

    The same facts as ``config()``, one a line; ``python -m relukit info`` prints them too.

    Examples
    --------
    >>> import relukit
    >>> relukit.show_config()  # doctest: +ELLIPSIS
    version            ...
    numpy              ...
    compiler           ...
    simd_level         ...
    thread_thresholds  memory ops from ... bytes, compute ops from ... bytes
    cpu                ...
    cpu_count          ...
    """
    facts = config()
    facts["thread_thresholds"] = ", ".join(
        f"{work} ops from {n:,} bytes" for work, n in facts["thread_thresholds"].items()
    )
    for key in ("simd_available", "simd_built"):
        facts[key] = ", ".join(facts[key])
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
