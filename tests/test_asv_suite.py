"""The asv suite imports and runs (`asv run --python=same --quick` on its small classes).

Timing is not checked here (performance targets live in the benchmarks); this keeps the suite
working for the dashboard. It runs asv from the source checkout, so it skips when the tests run
against an installed package elsewhere, and when asv is not installed."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / "asv.conf.json").exists(),
                                reason="needs the source checkout (asv.conf.json)")


def asv(*args, tmp_path):
    pytest.importorskip("asv")
    # asv keeps its machine file in HOME: a private one, so the user's is never touched
    env = {**os.environ, "HOME": str(tmp_path), "RELUKIT_ASV_SIZES": "1000"}
    return subprocess.run([sys.executable, "-m", "asv", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_asv_quick_run(tmp_path):
    machine = asv("machine", "--yes", tmp_path=tmp_path)
    assert machine.returncode == 0, machine.stderr
    check = asv("check", "--python=same", tmp_path=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    run = asv("run", "--python=same", "--quick", "--dry-run", "--show-stderr",
              "-b", "ReluLayouts|CallOverhead", tmp_path=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed" not in run.stdout
    for name in ("ReluLayouts.time_layout", "CallOverhead.track_call"):
        assert f"{name}" in run.stdout and "ok" in run.stdout


def test_a_level_relukit_fell_back_from_skips(monkeypatch):
    # on a CPU without AVX-512 the avx512 row of the env_nobuild matrix runs avx2 kernels: its
    # benchmarks must skip, not record avx2 figures under the avx512 name
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import common
    from relukit import _dispatch

    monkeypatch.setattr(_dispatch, "level", "avx2")
    monkeypatch.setenv("RELUKIT_CPU_LEVEL", "avx512")
    with pytest.raises(NotImplementedError, match="avx512 is not available here"):
        common.random(10, "float32")
    monkeypatch.setenv("RELUKIT_CPU_LEVEL", "AVX2")
    assert common.random(10, "float32").shape == (10,)
    monkeypatch.delenv("RELUKIT_CPU_LEVEL")
    assert np.all(common.random(10, "float64") != 0)


def test_every_backward_from_output_is_timed(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import relukit
    from benchmarks import activations

    ops = {name[:-len("_backward_from_output")] for name in relukit.__all__
           if name.endswith("_backward_from_output")}
    assert ops <= set(activations.FROM_OUTPUT)
    bench = activations.BackwardFromOutput()
    for op in activations.FROM_OUTPUT:
        for dtype in activations.DTYPES:
            bench.setup(op, dtype, 100)
            bench.time_backward_from_output(op, dtype, 100)   # raises if the parameters are refused


def test_every_activation_case_sets_up_and_runs(monkeypatch):
    # the suite's op x implementation x layout x dtype grid, once each at n = 100: each case runs
    # or skips (NotImplementedError: a peer that is not installed or cannot express the op)
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import activations

    ran = set()
    for bench in (activations.Forward(), activations.Backward()):
        for op in activations.OPS:
            for impl in activations.IMPLS:
                for layout in activations.LAYOUTS:
                    for dtype in activations.DTYPES:
                        try:
                            bench.setup(op, impl, dtype, 100, layout)
                        except NotImplementedError:
                            continue
                        bench.call()
                        ran.add((op, impl))
    assert {(op, "relukit") for op in activations.OPS} <= ran
    assert {("relu", "numpy"), ("prelu", "numpy")} <= ran
    bench = activations.NonDefaultParams()
    for op in activations.PARAMS:
        for dtype in activations.DTYPES:
            for direction in ("forward", "backward"):
                bench.setup(op, "relukit", dtype, 100, direction)
                bench.time_params(op, "relukit", dtype, 100, direction)
