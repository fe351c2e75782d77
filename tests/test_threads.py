"""Threads: same bits for every thread count, the limits (set_num_threads, threads(n),
threadpoolctl, OMP_NUM_THREADS), many Python threads at once, and fork after a threaded call."""

import hashlib
import os
import platform
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import relukit
from _reference import every_ufunc
from _support import (
    BIG,
    FUNCTION_NAMES,
    assert_same_bits,
    call,
    has_slope,
    make_data,
    make_slope,
    operands,
    positive_slopes,
    reference,
    threaded_at,
)

SUBPROCESS_TIMEOUT = 60
# these tests change the process-global thread limit, start threads of their own or fork
pytestmark = pytest.mark.thread_unsafe(reason="changes the process-global thread limit")


def test_big_is_above_the_thread_threshold():
    assert threaded_at(BIG), "raise BIG: these tests would never start a thread"
    assert all(isinstance(v, int) and v > 0 for v in relukit.config()["thread_thresholds"].values())


def _variants(name, dtype):
    """(data, slope) pairs covering the contiguous, scalar-parameter and strided paths."""
    data = operands(name, BIG, dtype, seed=7)
    out = [(data, 0.1 if has_slope(name) else None)]
    if has_slope(name):
        s = make_slope(BIG, dtype, seed=7)
        out.append((data, positive_slopes(s) if name.endswith("from_output") else s))
    long = operands(name, 2 * BIG, dtype, seed=8)
    out.append(([a[::-2] for a in long], 0.3 if has_slope(name) else None))
    if len(data) == 2:
        # a broadcast (step-0) gradient against a long x
        out.append(([np.broadcast_to(dtype.type(-1.5), (BIG,)), data[1]],
                    0.3 if has_slope(name) else None))
    return out


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_same_bits_for_every_thread_count(name, dtype):
    for data, slope in _variants(name, dtype):
        expected = reference(name, data, slope)
        results = {}
        top = relukit.get_num_threads()
        for n in (1, 2, 3):
            relukit.set_num_threads(n)
            try:
                assert relukit.get_num_threads() == min(n, top)
                results[n] = call(name, data, slope)
                out = np.empty(BIG, dtype)
                call(name, data, slope, out=out)
                results[(n, "out")] = out
            finally:
                relukit.set_num_threads(1 << 30)
        for key, r in results.items():
            assert_same_bits(r, expected, f"{name} threads={key}")


@pytest.mark.parametrize("op", ["relu", "sigmoid", "gelu", "gelu_backward", "bias_act_gelu"])
def test_large_fresh_outputs_same_bits_for_every_thread_count(op):
    """Outputs of 4 MiB and more that NumPy has just allocated are faulted in by the calling
    thread while the others compute behind it (the fused kernels: faulted in first), and
    compute-bound calls past 16 MiB of input run a page at a time with prefetches. Either way the
    bits are those of 1 thread, and where= leaves the masked-out elements of a given output
    alone."""
    n = 7 * 700_001           # 19.6 MB of float32, 7 channels for bias_act
    x = make_data(n, np.float32, seed=5)
    g = make_data(n, np.float32, seed=7)
    bias = make_data(7, np.float32, seed=6)
    if op == "bias_act_gelu":
        shape = (n // 7, 7)
        run = lambda **kw: relukit.bias_act(x.reshape(shape), bias, act="gelu", **kw)
    elif op == "gelu_backward":
        run = lambda **kw: relukit.gelu_backward(g, x, **kw)
    else:
        run = lambda **kw: getattr(relukit, op)(x, **kw)
    with relukit.threads(1):
        expected = run()
    for n_threads in (2, 3):
        with relukit.threads(n_threads):
            assert_same_bits(run(), expected, f"{op} allocating, threads={n_threads}")
    if op != "bias_act_gelu":
        keep = np.arange(n) % 3 == 0
        out = np.full(n, 7.0, np.float32)
        with relukit.threads(2):
            run(out=out, where=~keep)
        assert (out[keep] == 7.0).all()
        assert_same_bits(out[~keep], expected[~keep], f"{op} where=")


@pytest.mark.parametrize("name", ["relu", "relu_backward", "leaky_relu_backward"])
def test_in_place_with_threads(name, dtype):
    data = operands(name, BIG, dtype, seed=3)
    expected = reference(name, data, 0.2)
    for n in (1, 2, 3):
        work = [a.copy() for a in data]
        with relukit.threads(n):
            r = call(name, work, 0.2, out=work[0])
        assert r is work[0]
        assert_same_bits(work[0], expected, f"{name} in place, threads={n}")


@pytest.mark.parametrize("name", ["relu", "gelu", "sigmoid_backward", "leaky_relu_backward"])
@pytest.mark.parametrize("shift", [1, 64, 4099])
def test_out_trailing_an_input_with_threads(name, shift, dtype):
    """out= the same buffer as an input, shift elements behind it: NumPy passes that without a
    copy (a loop running forward reads each element before it is overwritten), so the kernel
    must not split it over threads, where a later chunk would overwrite what an earlier one has
    yet to read. The result is the call's on separate arrays."""
    f = getattr(relukit, name)
    params = (0.2,) if name.startswith("leaky") else ()
    data = [make_data(BIG, dtype, seed=4 + k) for k in range(1 if "backward" not in name else 2)]
    expected = f(*data, *params)
    for k in range(len(data)):                                 # out trailing g, then x
        buf = np.full(BIG + shift, 7, dtype)
        buf[shift:] = data[k]
        operands = [buf[shift:] if j == k else a for j, a in enumerate(data)]
        with relukit.threads(2):
            f(*operands, *params, out=buf[:BIG])
        assert_same_bits(buf[:BIG], expected, f"{name}: out {shift} behind operand {k}")


def test_threads_context_manager_restores():
    assert relukit.config()["thread_limit"] is None
    top = relukit.get_num_threads()
    with relukit.threads(1):
        assert relukit.get_num_threads() == 1
        assert relukit.config()["thread_limit"] == 1
        with relukit.threads(2):
            assert relukit.config()["thread_limit"] == 2
            assert relukit.get_num_threads() == min(2, top)
        assert relukit.config()["thread_limit"] == 1
    assert relukit.config()["thread_limit"] is None
    assert relukit.get_num_threads() == top
    # restored on an exception too
    with pytest.raises(KeyError):
        with relukit.threads(1):
            raise KeyError
    assert relukit.config()["thread_limit"] is None
    # restores the previous explicit limit, not the default
    relukit.set_num_threads(3)
    try:
        with relukit.threads(1):
            assert relukit.get_num_threads() == 1
        assert relukit.config()["thread_limit"] == 3
    finally:
        relukit.set_num_threads(1 << 30)


def test_threads_block_is_per_python_thread():
    top = relukit.get_num_threads()
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        with relukit.threads(1):
            seen["other, in its block"] = relukit.get_num_threads()
            inside.set()
            release.wait(30)
        seen["other, after"] = relukit.get_num_threads()

    t = threading.Thread(target=other)
    t.start()
    inside.wait(30)
    seen["main, while other's block is open"] = relukit.get_num_threads()
    with relukit.threads(2):
        release.set()
        t.join(30)
        seen["main, in its block"] = relukit.get_num_threads()
    assert seen == {"other, in its block": 1, "main, while other's block is open": top,
                    "other, after": top, "main, in its block": min(2, top)}


def test_threads_blocks_ending_out_of_order():
    """As asyncio tasks sharing a thread (or thread-pool tasks) end them: the latest open block
    holds, and none leaves its limit behind."""
    top = relukit.get_num_threads()
    first, second = relukit.threads(1), relukit.threads(3)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert relukit.get_num_threads() == min(3, top)
    assert relukit.config()["thread_limit"] == 3
    second.__exit__(None, None, None)
    assert relukit.config()["thread_limit"] is None


def test_threads_blocks_in_a_thread_pool():
    from concurrent.futures import ThreadPoolExecutor

    x = make_data(BIG, np.float32, seed=6)
    with relukit.threads(1):
        expected = relukit.gelu(x)

    def task(n):
        with relukit.threads(n):
            counts = {relukit.get_num_threads()}
            result = relukit.gelu(x)
            counts.add(relukit.get_num_threads())
        return n, counts, result

    top = relukit.get_num_threads()
    with ThreadPoolExecutor(4) as pool:
        for n, counts, result in pool.map(task, [1, 2] * 8):
            assert counts == {min(n, top)}
            assert_same_bits(result, expected)
    assert relukit.config()["thread_limit"] is None
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: relukit.get_num_threads(), range(8))) == {top}


def test_set_num_threads_is_process_global():
    seen = []
    relukit.set_num_threads(1)
    try:
        t = threading.Thread(target=lambda: seen.append(relukit.get_num_threads()))
        t.start()
        t.join(30)
    finally:
        relukit.set_num_threads(1 << 30)
    assert seen == [1]


def test_set_num_threads_rejects_zero_and_non_integers():
    with pytest.raises(ValueError, match="at least 1"):
        relukit.set_num_threads(0)
    for bad in (2.7, 0.5, "2", None):
        with pytest.raises(TypeError):
            relukit.set_num_threads(bad)
        with pytest.raises(TypeError), relukit.threads(bad):
            pass
    assert relukit.config()["thread_limit"] is None


def test_set_num_threads_beyond_int_is_no_limit():
    for n in (2**31, 2**70, np.int64(2**40)):
        relukit.set_num_threads(n)
        try:
            assert relukit.config()["thread_limit"] is None
        finally:
            relukit.set_num_threads(1 << 30)
    relukit.set_num_threads(np.int32(1))     # NumPy integers are integers
    try:
        assert relukit.get_num_threads() == 1
    finally:
        relukit.set_num_threads(1 << 30)


def test_effective_count_is_min_of_limit_and_openmp():
    top = relukit.get_num_threads()
    assert top >= 1
    if "not available" in relukit.config()["openmp"]:
        assert top == 1
    for n in (1, 2, 3, 64):
        with relukit.threads(n):
            assert relukit.get_num_threads() == min(n, top)


def test_threadpoolctl_limits_are_honoured(dtype):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if "not available" in relukit.config()["openmp"]:
        pytest.skip("built without OpenMP")
    before = relukit.get_num_threads()
    data = operands("relu_backward", BIG, dtype, seed=2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert relukit.get_num_threads() == 1
        assert relukit.config()["threads"] == 1
        r = relukit.relu_backward(*data)
    assert relukit.get_num_threads() == before
    assert_same_bits(r, reference("relu_backward", data))


def _run(script, env=None, timeout=SUBPROCESS_TIMEOUT):
    full_env = dict(os.environ)
    full_env.pop("RELUKIT_CPU_LEVEL", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_omp_num_threads_env_is_honoured():
    x = operands("relu", BIG, np.float32, seed=4)[0]
    r = _run(f"""
        import hashlib, numpy as np, relukit
        print(relukit.get_num_threads(), relukit.config()["threads"])
        x = np.random.default_rng(4).standard_normal({BIG}).astype(np.float32)
        x[::5] = np.nan
        print(hashlib.sha256(relukit.relu(x).tobytes()).hexdigest())
    """, env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    counts, digest = r.stdout.split("\n")[:2]
    assert counts == "1 1"
    x = np.random.default_rng(4).standard_normal(BIG).astype(np.float32)
    x[::5] = np.nan
    assert digest == _digest(reference("relu", [x]))
    del x


def test_omp_thread_limit_env_is_honoured():
    if "not available" in relukit.config()["openmp"]:
        pytest.skip("built without OpenMP")
    r = _run("""
        import relukit
        print(relukit.get_num_threads(), relukit.config()["threads"])
    """, env={"OMP_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "4"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]


def _python_threads_agree(funcs, inputs, n_threads=8, rounds=3, toggle_limit=False, watch=None):
    """Run every (f, args) of `funcs` into fresh outputs shaped like `inputs`, from `n_threads`
    Python threads released together by a barrier, `rounds` times; returns [thread][round] ->
    outputs. `watch()`, when given, runs over and over in one more thread until they finish."""
    barrier = threading.Barrier(n_threads, timeout=60)
    results = [[None] * rounds for _ in range(n_threads)]
    errors = []
    stop = threading.Event()

    def worker(k):
        try:
            for r in range(rounds):
                barrier.wait()
                outs = []
                for f, args in funcs:
                    out = np.empty(inputs.shape, inputs.dtype)
                    f(*args, out=out)
                    outs.append(out)
                results[k][r] = outs
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    def toggler():
        # changes the process-global limit while the workers' calls run
        try:
            i = 0
            while not stop.is_set():
                relukit.set_num_threads(1 + i % 3)
                i += 1
                stop.wait(0.0002)
        except BaseException as e:
            errors.append(e)

    def watcher():
        try:
            while not stop.is_set():
                watch()
                stop.wait(0.0005)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    if toggle_limit:
        threads.append(threading.Thread(target=toggler))
    if watch is not None:
        threads.append(threading.Thread(target=watcher))
    for t in threads:
        t.start()
    for t in threads[:n_threads]:
        t.join(120)
    stop.set()
    for t in threads:
        t.join(120)
    relukit.set_num_threads(1 << 30)
    assert not any(t.is_alive() for t in threads), "a Python thread hung"
    assert not errors, errors
    return results


@pytest.mark.parametrize("toggle_limit", [False, True], ids=["fixed", "limit-changing"])
def test_eight_python_threads_at_once(dtype, toggle_limit):
    g, x = operands("relu_backward", BIG, dtype, seed=5)
    s = make_slope(BIG, dtype, seed=5)
    g.flags.writeable = False
    x.flags.writeable = False
    s.flags.writeable = False
    funcs = [
        (relukit.relu, (x,)),
        (relukit.relu_backward, (g, x)),
        (relukit.leaky_relu, (x, 0.1)),
        (relukit.leaky_relu_backward, (g, x, s)),
        (relukit.leaky_relu_backward_from_output, (g, x, 0.2)),
    ]
    with relukit.threads(1):
        expected = [f(*args) for f, args in funcs]
    for e, (f, args) in zip(expected, funcs):
        name = f.__name__
        data, slope = (args[:-1], args[-1]) if has_slope(name) else (args, None)
        assert_same_bits(e, reference(name, data, slope), name)
    results = _python_threads_agree(funcs, x, toggle_limit=toggle_limit)
    for k, per_thread in enumerate(results):
        for r, outs in enumerate(per_thread):
            for (f, _), got, exp in zip(funcs, outs, expected):
                assert_same_bits(got, exp, f"{f.__name__}, Python thread {k}, round {r}")


def _os_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.parametrize("limit", [1, 2])
def test_every_kernel_from_eight_threads_at_once(limit):
    """Every ufunc, called by 8 Python threads released together (shared read-only operands,
    each thread its own outputs), gives the bits of a serial call; operands of 32771 elements
    make the compute-bound kernels start OpenMP threads. Each Python thread that calls a kernel
    gets its own OpenMP team of at most limit - 1 workers, so the process never holds more than
    the threads it had + 8 workers + 1 watcher + 8 * (limit - 1) OS threads."""
    cases = every_ufunc(32771, np.float32, seed=13)
    for _, _, args in cases:
        for a in args:
            a.flags.writeable = False
    funcs = [(ufunc, args) for _, ufunc, args in cases]
    with relukit.threads(1):
        expected = [ufunc(*args) for ufunc, args in funcs]
    peak = []
    relukit.set_num_threads(limit)          # process-global: the 8 Python threads see it
    try:
        team = relukit.get_num_threads()
        before = _os_threads()
        results = _python_threads_agree(funcs, cases[0][2][0], rounds=2,
                                        watch=lambda: peak.append(_os_threads()))
    finally:
        relukit.set_num_threads(1 << 30)
    bound = before + 8 + 1 + 8 * (team - 1)
    assert peak and max(peak) <= bound, f"{max(peak)} OS threads, bound {bound}"
    for k, per_thread in enumerate(results):
        for r, outs in enumerate(per_thread):
            for (name, _, _), got, exp in zip(cases, outs, expected):
                assert_same_bits(got, exp, f"{name}, Python thread {k}, round {r}")
    # the OpenMP teams of finished Python threads go with them
    for _ in range(100):
        if _os_threads() <= before + 1:
            break
        threading.Event().wait(0.01)
    assert _os_threads() <= before + 1


FORK_SCRIPT = """
    import multiprocessing, os, sys, warnings
    import numpy as np
    import relukit

    N = {big}
    x = np.random.default_rng(1).standard_normal(N).astype(np.float32)
    x[::11] = np.nan
    g = np.random.default_rng(2).standard_normal(N).astype(np.float32)

    def compute():
        return [relukit.relu(x), relukit.relu_backward(g, x), relukit.leaky_relu(x, 0.1),
                relukit.relu(x.astype(np.float16))]

    expected = compute()          # threaded in the parent
    parent_threads = relukit.get_num_threads()

    def child_check():
        ok = relukit.get_num_threads() == 1
        for _ in range(3):
            for a, b in zip(compute(), expected):
                ok = ok and np.array_equal(a, b, equal_nan=True) and a.dtype == b.dtype
        # asking for threads again warns and keeps one (GNU OpenMP would hang here)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with relukit.threads(2):
                ok = ok and relukit.get_num_threads() == 1
                ok = ok and all(np.array_equal(a, b, equal_nan=True)
                                for a, b in zip(compute(), expected))
            relukit.set_num_threads(2)
            ok = ok and relukit.get_num_threads() == 1
        return ok and [w.category for w in caught] == [RuntimeWarning] * 2 and all(
            "forked child" in str(w.message) and w.filename == "<string>" for w in caught)

    # 1. os.fork
    pid = os.fork()
    if pid == 0:
        try:
            code = 0 if child_check() else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print("fork", os.waitstatus_to_exitcode(status))

    # 2. multiprocessing's fork context, after another threaded call in the parent
    compute()

    def target(q):
        q.put(child_check())

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(q,))
    p.start()
    print("mp", q.get(timeout=50))
    p.join(50)
    print("mp exit", p.exitcode)

    # the parent keeps its threads and its results
    print("parent", parent_threads, relukit.get_num_threads(),
          all(np.array_equal(a, b, equal_nan=True) for a, b in zip(compute(), expected)))
"""


def _run_in_own_session(argv, what):
    """stdout of `python -W error argv`, in its own session so that a hung (grand)child can be
    ended with its whole process group; fails after SUBPROCESS_TIMEOUT."""
    p = subprocess.Popen(
        [sys.executable, "-W", "error", "-W", "ignore::DeprecationWarning", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={k: v for k, v in os.environ.items() if k != "RELUKIT_CPU_LEVEL"})
    try:
        stdout, stderr = p.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"{what} hung (timeout {SUBPROCESS_TIMEOUT}s)")
    assert p.returncode == 0, stderr
    return stdout, stderr


def test_fork_after_threaded_call():
    script = FORK_SCRIPT.format(big=BIG)
    stdout, stderr = _run_in_own_session(["-c", textwrap.dedent(script)],
                                         "a forked child after a threaded call")
    lines = stdout.strip().splitlines()
    assert lines[0] == "fork 0", (lines, stderr)
    assert lines[1] == "mp True", (lines, stderr)
    assert lines[2] == "mp exit 0"
    _, parent_before, parent_after, same = lines[3].split()
    assert parent_before == parent_after and same == "True"
    if relukit.get_num_threads() >= 2:       # not when OMP_NUM_THREADS=1 or one core
        assert int(parent_before) >= 2, "the parent never ran a threaded call: test is vacuous"


SPAWN_SCRIPT = """
import hashlib, multiprocessing, os, sys, threading
import numpy as np
import relukit

N = {big}


def compute():
    x = np.random.default_rng(1).standard_normal(N).astype(np.float32)
    x[::11] = np.nan
    g = np.random.default_rng(2).standard_normal(N).astype(np.float32)
    results = [relukit.relu(x), relukit.sigmoid_backward(g, x), relukit.gelu(x),
               relukit.leaky_relu(x.astype(np.float16), 0.1)]
    return [hashlib.sha256(r.tobytes()).hexdigest() for r in results]


def child(q):
    q.put((relukit.get_num_threads(), compute()))


def run(method, expected):
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    threads, got = q.get(timeout=40)
    p.join(40)
    print(method, p.exitcode, threads, got == expected, flush=True)


if __name__ == "__main__":
    expected = compute()                  # threaded in the parent first
    print("parent", relukit.get_num_threads(), flush=True)
    for method in ("spawn", "forkserver", "fork"):
        run(method, expected)
    # fork while four Python threads are inside threaded kernels
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            compute()

    workers = [threading.Thread(target=busy) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        run("fork", expected)
    finally:
        stop.set()
        for w in workers:
            w.join(40)
    print("parent again", compute() == expected, flush=True)
"""


def test_spawn_forkserver_and_fork_children(tmp_path):
    """spawn and forkserver children are fresh processes: they get every thread and the same
    bits; fork children (also while other Python threads run threaded kernels) run serially and
    finish; the parent keeps working. A file, not -c: spawn re-imports the main module."""
    script = tmp_path / "children.py"
    script.write_text(textwrap.dedent(SPAWN_SCRIPT.format(big=BIG)))
    stdout, stderr = _run_in_own_session([str(script)], "a spawn/forkserver/fork child")
    lines = stdout.strip().splitlines()
    parent = lines[0].split()[1]
    assert lines[1:4] == [f"spawn 0 {parent} True", f"forkserver 0 {parent} True",
                          "fork 0 1 True"], (lines, stderr)
    assert lines[4:] == ["fork 0 1 True", "parent again True"], (lines, stderr)


@pytest.mark.parametrize("limit", [1, 2])
def test_non_ufunc_kernels_from_eight_threads_at_once(limit):
    """The mask, fused bias and reduction kernels (their own OpenMP chunking, not the ufunc loop)
    give the serial bits when 8 Python threads call them at once on shared read-only operands."""
    n_threads, rounds = 8, 2
    rng = np.random.default_rng(21)
    x = (rng.standard_normal((64, 4099)) * 3).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    b = rng.standard_normal(x.shape[1]).astype(np.float32)
    w = np.full(x.shape[1], 0.2, np.float32)
    mask = relukit.relu_mask(x)
    for a in (x, g, b, w, mask):
        a.flags.writeable = False
    calls = [
        lambda: relukit.relu_mask(x),
        lambda: relukit.relu_backward_mask(g, mask),
        lambda: relukit.bias_act(x, b, "gelu"),
        lambda: relukit.bias_act_backward(g, x, b, "silu"),
        lambda: relukit.prelu_weight_grad(g, x, w, axis=1),
        lambda: relukit.rrelu(x, training=True, seed=3),
    ]
    flat = lambda outs: [a for o in outs for a in (o if isinstance(o, tuple) else (o,))]
    with relukit.threads(1):
        expected = flat([call() for call in calls])
    barrier = threading.Barrier(n_threads, timeout=60)
    results, errors = [], []

    def worker():
        try:
            for _ in range(rounds):
                barrier.wait()
                results.append(flat([call() for call in calls]))
        except BaseException as e:   # reported in the main thread
            errors.append(e)

    with relukit.threads(limit):
        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    assert len(results) == n_threads * rounds
    for got in results:
        for k, (a, e) in enumerate(zip(got, expected)):
            if a.dtype == np.uint8:                     # a packed mask
                assert np.array_equal(a, e), f"output {k}"
            else:
                assert_same_bits(a, e, f"output {k}")


# The caller's SSE mode, set from ctypes (x86-64 glibc: MXCSR is the last 4 bytes of the fenv_t
# that fegetenv and fesetenv take): flush-to-zero with denormals-are-zero, and rounding up.
FP_MODE_SCRIPT = """
    import ctypes, ctypes.util, numpy as np, relukit

    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    env = (ctypes.c_uint32 * 8)()

    def mxcsr():
        libm.fegetenv(env)
        return env[7]

    def set_mxcsr(value):
        libm.fegetenv(env)
        env[7] = value
        libm.fesetenv(env)

    DEFAULT, FTZ_DAZ, ROUND_UP = mxcsr() & ~0x3F, 0x8040, 0x4000     # (importing NumPy may set flags)
    rng = np.random.default_rng(3)
    n = 1 << 18
    x32 = (rng.standard_normal(n) * 30).astype(np.float32)
    x32[::7] = np.float32(-4e-38) * rng.random(n)[::7].astype(np.float32)   # subnormal results
    x64 = rng.standard_normal(n) * 40
    x64[::7] *= 1e-300
    g64 = rng.standard_normal(n) * 1e-300
    bias = np.full(64, 1e-38, np.float32)   # made here: NumPy's own casts follow the caller's mode
    calls = {{
        "leaky_relu": lambda: relukit.leaky_relu(x32, 0.125),
        "gelu": lambda: relukit.gelu(x32),
        "sigmoid": lambda: relukit.sigmoid(x64),
        "elu_backward": lambda: relukit.elu_backward(g64, x64),
        "prelu_weight_grad": lambda: relukit.prelu_weight_grad(g64, x64, 0.25),
        "rrelu": lambda: relukit.rrelu(x64, training=True, seed=5),
        "bias_act": lambda: relukit.bias_act(x32.reshape(-1, 64), bias, "silu"),
        "relu_backward_mask": lambda: relukit.relu_backward_mask(g64, relukit.relu_mask(x64)),
    }}

    def run_all(threads):
        with relukit.threads(threads):
            return {{name: np.atleast_1d(f()).copy() for name, f in calls.items()}}

    for name, f in calls.items():               # the kernels' own flags are not left behind
        set_mxcsr(DEFAULT)
        f()
        if mxcsr() & 0x1F:                      # all but "inexact", which Python's floats raise
            print(f"{{name}} left flags {{mxcsr() & 0x3F:#x}}")
    if {workers_born_flushing}:
        set_mxcsr(DEFAULT | FTZ_DAZ)
        run_all(2)                          # the OpenMP workers start in the caller's mode
        set_mxcsr(DEFAULT)
        want, modes = run_all(1), [DEFAULT]
    else:
        want, modes = run_all(1), [DEFAULT | FTZ_DAZ, DEFAULT | ROUND_UP]
    bad = []
    for mode in modes:
        set_mxcsr(mode)
        for threads in (1, 2):
            got = run_all(threads)
            if mxcsr() & ~0x3F != mode & ~0x3F:
                bad.append(f"mode {{mode:#x}} not restored: {{mxcsr():#x}}")
            bad += [f"{{name}}, mode {{mode:#x}}, {{threads}} threads" for name in calls
                    if got[name].tobytes() != want[name].tobytes()]
    set_mxcsr(DEFAULT)
    print("\\n".join(bad) or "ok")
"""


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"),
                    reason="sets MXCSR through glibc's x86-64 fenv_t")
@pytest.mark.parametrize("workers_born_flushing", [False, True])
def test_results_do_not_depend_on_the_callers_fp_mode(workers_born_flushing):
    """Every thread computes in IEEE's default mode whatever the caller set, and the caller's mode
    is as it was after the call: the same bits as a default-mode call for 1 and 2 threads, also
    when the OpenMP workers were created while the caller flushed subnormals."""
    r = _run(FP_MODE_SCRIPT.format(workers_born_flushing=workers_born_flushing))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok", r.stdout
