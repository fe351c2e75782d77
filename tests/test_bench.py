"""`python -m relukit bench` runs end to end, and its JSON and plot hold what the table says."""

import collections
import datetime
import importlib.util
import itertools
import json
import platform
import subprocess
import sys
import time

import numpy as np
import pytest


def bench(*args, tmp_path):
    return subprocess.run([sys.executable, "-m", "relukit", "bench", "--quick", *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_bench_json_rows(tmp_path):
    out = tmp_path / "rows.json"
    done = bench("--ops", "relu,sigmoid", "--sizes", "1000,3000", "--dtypes", "float32",
                 "--peers", "numpy", "--threads", "1", "--json", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["config"]["threads"] == 1 == result["threads_requested"]
    assert result["config"]["peers"] == {"numpy": {"version": np.__version__, "threads": 1}}
    assert result["config"]["python"] == platform.python_version()
    assert datetime.datetime.fromisoformat(result["date"]).tzinfo is not None   # when, in UTC
    cases = {(r["case"], r["n"]) for r in result["rows"]}
    for case in ("relu", "relu_backward", "sigmoid", "sigmoid_backward", "relu out=",
                 "relu in place", "relu_backward out=g"):
        assert {(case, 1000), (case, 3000)} <= cases
    for row in result["rows"]:
        assert set(row["seconds"]) == {"relukit", "numpy", "copy"}
        assert all(t > 0 for t in row["seconds"].values())
        assert row["best_ratio"] == pytest.approx(row["seconds"]["numpy"] / row["seconds"]["relukit"])
        assert row["copy_share"] == pytest.approx(row["gbps"] / row["copy_gbps"])
    assert "relu_backward out=g" in done.stdout
    ahead = sum(row["best_ratio"] >= 1 for row in result["rows"])
    assert f"ahead of the fastest peer in {ahead} of {len(result['rows'])} cases" in done.stdout


def test_summary_names_each_case_behind_and_its_fastest_peer():
    from relukit._bench import summary

    def row(case, n, **seconds):
        peers = [t for p, t in seconds.items() if p not in ("relukit", "copy")]
        return {"case": case, "dtype": "float32", "n": n, "seconds": seconds,
                "best_ratio": min(peers) / seconds["relukit"] if peers else None}

    rows = [row("relu", 1000, relukit=1.0, numpy=3.0, torch=2.0, copy=1.0),
            row("gelu", 100000, relukit=2.0, numpy=9.0, torch=1.0, copy=1.0),
            row("tanh", 1000, relukit=1.0, numpy=0.8, torch=2.0, copy=1.0),
            row("elu", 1000, relukit=1.0, copy=1.0)]     # no peer: not counted
    lines = summary(rows).splitlines()
    assert lines[0] == "ahead of the fastest peer in 1 of 3 cases; behind:"
    assert lines[1].split() == ["gelu", "float32", "100,000", "0.50", "(torch)"]
    assert lines[2].split() == ["tanh", "float32", "1,000", "0.80", "(numpy)"]
    assert len(lines) == 3
    assert summary(rows[:1]) == "ahead of the fastest peer in 1 of 1 cases"
    assert summary(rows[3:]) == "no peer timed"


def test_samples_vary_their_predecessor_and_slow_calls_settle_first():
    from relukit._bench import _time
    log = []

    def candidate(name, seconds):
        def call():
            log.append(name)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
        return call

    # "slow" calls take long enough to settle: each of its samples comes after as many calls of
    # its own; "fast" ones are timed as they come
    candidates = {"slow": candidate("slow", 2e-4), "fast": candidate("fast", 0),
                  "other": candidate("other", 0)}
    times = _time(candidates, repeats=12, min_sample=1e-3, settle=(1e-4, 1e-2))
    assert set(times) == set(candidates) and times["slow"] >= 2e-4
    # runs of calls to one candidate; the first three are the calibrations, and a run can span
    # two rounds when one ends with the candidate that starts the next
    runs = [(name, sum(1 for _ in group)) for name, group in itertools.groupby(log)][3:]
    slow = [length for name, length in runs if name == "slow"]
    assert min(slow) % 2 == 0 and all(length % min(slow) == 0 for length in slow)
    # a fixed order (even rotated) would give each candidate the same predecessor most times
    for name in candidates:
        before = collections.Counter(runs[i - 1][0] for i in range(1, len(runs))
                                     if runs[i][0] == name)
        assert len(before) == 2 and max(before.values()) <= 2 * min(before.values()), before


def test_every_op_dtype_and_installed_peer_runs(tmp_path):
    """--ops all in every dtype with every peer installed here (a float16 PyTorch prelu once
    raised KeyError): each row times relukit and the copy, and a peer only where it has the op."""
    out = tmp_path / "rows.json"
    done = bench("--ops", "all", "--sizes", "100", "--dtypes", "float16,float32,float64",
                 "--json", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {r["dtype"] for r in rows} == {"float16", "float32", "float64"}
    assert all({"relukit", "copy"} <= set(r["seconds"]) for r in rows)
    if importlib.util.find_spec("torch") is not None:
        assert any("torch" in r["seconds"] for r in rows if r["dtype"] == "float16")


def test_plot_without_matplotlib_is_refused_before_timing(tmp_path):
    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed")
    done = bench("--sizes", "1000", "--plot", str(tmp_path / "bench.png"), tmp_path=tmp_path)
    assert done.returncode == 2 and "--plot needs matplotlib" in done.stderr
    assert "relukit" not in done.stdout             # nothing was timed


def test_bench_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.png"
    done = bench("--ops", "relu", "--sizes", "1000,2000", "--dtypes", "float64", "--peers", "",
                 "--plot", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (("--ops", "nope"), "unknown ops"),
    (("--peers", "jax"), "unknown peers"),
    (("--threads", "0"), "argument --threads: must be at least 1"),
    (("--threads", "two"), "argument --threads: 'two' is not a whole number"),
    (("--sizes", "abc"), "argument --sizes: 'abc' is not a number"),
    (("--sizes", ""), "argument --sizes: '' is not a number"),
    (("--sizes", "0"), "argument --sizes: '0' is not a whole number"),
    (("--sizes", "1000,-5"), "argument --sizes: '-5'"),
    (("--sizes", "1e400"), "argument --sizes: '1e400'"),
    (("--sizes", "2.5"), "argument --sizes: '2.5'"),
    (("--dtypes", "foo"), "argument --dtypes: unknown dtypes ['foo']"),
    (("--dtypes", "float32,int32"), "argument --dtypes: unknown dtypes ['int32']"),
    (("--json", "no/such/folder/rows.json"), "argument --json: cannot write"),
    (("--plot", "no/such/folder/bench.png"), "argument --plot: cannot write"),
    (("--json", "."), "argument --json: cannot write '.': it is a folder"),
])
def test_bench_rejects_bad_arguments(args, message, tmp_path):
    done = bench(*args, tmp_path=tmp_path)
    assert done.returncode == 2 and message in done.stderr
