"""SIMD level dispatch: RELUKIT_CPU_LEVEL, identical bits at every level, and the choice logic."""

import functools
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import relukit
import relukit._dispatch as dispatch
from _support import BIG, FLOAT_DTYPES, make_data, make_slope, positive_slopes, reference

TIMEOUT = 120
SIZES = (1001, BIG)
LEVELS = ("baseline", "avx2", "avx512")


def _env(level):
    env = {k: v for k, v in os.environ.items() if k not in ("RELUKIT_CPU_LEVEL", "OMP_NUM_THREADS")}
    if level is not None:
        env["RELUKIT_CPU_LEVEL"] = level
    return env


def _python(script, level, timeout=TIMEOUT):
    return subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=timeout, env=_env(level))


# The same computation, run in a subprocess per level and in this process for the reference.
CASES = """
def cases(relukit, np, inputs):
    out = {}
    for dt in ("float16", "float32", "float64"):
        X, G, S, P = (inputs[dt + key] for key in ("_x", "_g", "_s", "_positive_s"))
        for n in SIZES:
            x, g, s, ps = X[:n], G[:n], S[:n], P[:n]
            k = f"{dt}-{n}-"
            out[k + "relu"] = relukit.relu(x)
            out[k + "relu_backward"] = relukit.relu_backward(g, x)
            out[k + "relu_backward_from_output"] = relukit.relu_backward_from_output(g, x)
            out[k + "relu_strided"] = relukit.relu(X[: 2 * n : 2][::-1])
            out[k + "leaky_relu"] = relukit.leaky_relu(x, 0.1)
            out[k + "leaky_relu_array"] = relukit.leaky_relu(x, s)
            out[k + "leaky_relu_backward"] = relukit.leaky_relu_backward(g, x, 0.1)
            out[k + "leaky_relu_backward_array"] = relukit.leaky_relu_backward(g, x, s)
            out[k + "leaky_relu_backward_from_output"] = relukit.leaky_relu_backward_from_output(
                g, x, ps)
    return out
"""


def _reference_cases(inputs):
    out = {}
    for dt in ("float16", "float32", "float64"):
        X, G, S, P = (inputs[dt + key] for key in ("_x", "_g", "_s", "_positive_s"))
        for n in SIZES:
            x, g, s, ps = X[:n], G[:n], S[:n], P[:n]
            k = f"{dt}-{n}-"
            out[k + "relu"] = reference("relu", [x])
            out[k + "relu_backward"] = reference("relu_backward", [g, x])
            out[k + "relu_backward_from_output"] = reference("relu_backward", [g, x])
            out[k + "relu_strided"] = reference("relu", [X[: 2 * n : 2][::-1].copy()])
            out[k + "leaky_relu"] = reference("leaky_relu", [x], 0.1)
            out[k + "leaky_relu_array"] = reference("leaky_relu", [x], s)
            out[k + "leaky_relu_backward"] = reference("leaky_relu_backward", [g, x], 0.1)
            out[k + "leaky_relu_backward_array"] = reference("leaky_relu_backward", [g, x], s)
            out[k + "leaky_relu_backward_from_output"] = reference("leaky_relu_backward", [g, x],
                                                                   ps)
    return out


def _digest(a):
    """A hash of the bits, with every NaN made one canonical pattern (only NaN-ness is
    specified, not the payload)."""
    a = np.array(a, copy=True)
    a[np.isnan(a)] = np.nan
    return hashlib.sha256(a.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dispatch") / "inputs.npz"
    arrays = {}
    for dt in FLOAT_DTYPES:
        name = np.dtype(dt).name
        arrays[name + "_x"] = make_data(2 * BIG, dt, seed=101)
        arrays[name + "_g"] = make_data(2 * BIG, dt, seed=102)
        arrays[name + "_s"] = make_slope(2 * BIG, dt, seed=103)
        arrays[name + "_positive_s"] = positive_slopes(arrays[name + "_s"])
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def expected_digests(inputs_file):
    with np.load(inputs_file) as f:
        inputs = {k: f[k] for k in f.files}
    return {k: _digest(v) for k, v in _reference_cases(inputs).items()}


def _level_script(inputs_file):
    return CASES + textwrap.dedent(f"""
        import hashlib, json
        import numpy as np
        import relukit, relukit._dispatch
        SIZES = {SIZES!r}

        def digest(a):
            a = np.array(a, copy=True)
            a[np.isnan(a)] = np.nan
            return hashlib.sha256(a.tobytes()).hexdigest()

        with np.load({str(inputs_file)!r}) as f:
            inputs = {{k: f[k] for k in f.files}}
        # bits only here: floating-point warnings are test_no_fp_warnings_*'s business
        with np.errstate(all="ignore"):
            results = cases(relukit, np, inputs)
        print(json.dumps({{
            "simd_level": relukit.config()["simd_level"],
            "module": relukit._dispatch.kernels.__name__,
            "threads": relukit.get_num_threads(),
            "digests": {{k: digest(v) for k, v in results.items()}},
            "dtypes": {{k: str(v.dtype) for k, v in results.items()}},
        }}))
    """)


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_gives_the_reference_bits(level, inputs_file, expected_digests):
    if level not in relukit.config()["simd_available"]:
        pytest.skip(f"{level} is not available on this CPU/build")
    r = _python(_level_script(inputs_file), level)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["simd_level"] == level
    assert report["module"] == f"relukit._kernels_{level}"
    assert report["digests"].keys() == expected_digests.keys()
    wrong = [k for k, v in report["digests"].items() if v != expected_digests[k]]
    assert not wrong, f"level {level} differs from the NumPy reference in {wrong}"
    for k, dt in report["dtypes"].items():
        assert dt == k.split("-")[0], k


def test_this_process_gives_the_reference_bits(inputs_file, expected_digests):
    ns = {"SIZES": SIZES}
    exec(CASES, ns)
    with np.load(inputs_file) as f:
        inputs = {k: f[k] for k in f.files}
    got = {k: _digest(v) for k, v in ns["cases"](relukit, np, inputs).items()}
    wrong = [k for k in got if got[k] != expected_digests[k]]
    assert not wrong, wrong


def test_unknown_level_fails_at_import():
    r = _python("import relukit", "sse9")
    assert r.returncode != 0
    assert "ValueError" in r.stderr
    assert "RELUKIT_CPU_LEVEL" in r.stderr and "sse9" in r.stderr
    assert "Segmentation" not in r.stderr


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_level_means_best(value):
    r = _python("import relukit; print(relukit.config()['simd_level'])", value)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == relukit.config()["simd_available"][-1]


def test_level_is_case_and_space_insensitive():
    r = _python("import relukit; print(relukit.config()['simd_level'])", " Baseline ")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "baseline"


def test_default_level_is_the_best_available():
    if "RELUKIT_CPU_LEVEL" in os.environ:
        pytest.skip("RELUKIT_CPU_LEVEL is set for this test run")
    cfg = relukit.config()
    assert cfg["simd_level"] == cfg["simd_available"][-1]
    assert dispatch.kernels.__name__ == f"relukit._kernels_{cfg['simd_level']}"


def test_levels_reported_consistently():
    cfg = relukit.config()
    assert cfg["simd_level"] in cfg["simd_available"]
    assert set(cfg["simd_available"]) <= set(cfg["simd_built"])
    assert cfg["simd_available"][0] == "baseline"
    assert list(cfg["simd_available"]) == [l for l in LEVELS if l in cfg["simd_available"]]
    assert list(dispatch.available_levels()) == cfg["simd_available"]


# ---- the choice logic, with the available levels monkeypatched ------------------------------------
@pytest.fixture
def only_avx2(monkeypatch):
    monkeypatch.setattr(dispatch, "available_levels", lambda: ("baseline", "avx2"))


def test_choose_level_unavailable_warns_and_falls_back(only_avx2):
    with pytest.warns(RuntimeWarning, match="avx512") as record:
        assert dispatch.choose_level("avx512") == "avx2"
    assert len(record) == 1
    assert "avx2" in str(record[0].message)


def test_choose_level_best_when_unset(only_avx2):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dispatch.choose_level("") == "avx2"
        assert dispatch.choose_level(None) == "avx2"
        assert dispatch.choose_level("   ") == "avx2"


def test_choose_level_available_levels_no_warning(only_avx2):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dispatch.choose_level("baseline") == "baseline"
        assert dispatch.choose_level("avx2") == "avx2"
        assert dispatch.choose_level(" AVX2\n") == "avx2"


def test_choose_level_unknown_is_value_error(only_avx2):
    for bad in ("sse4", "avx", "avx-512", "x86-64-v3", "1"):
        with pytest.raises(ValueError, match="RELUKIT_CPU_LEVEL"):
            dispatch.choose_level(bad)


def test_choose_level_baseline_only(monkeypatch):
    monkeypatch.setattr(dispatch, "available_levels", lambda: ("baseline",))
    for requested in ("avx2", "avx512"):
        with pytest.warns(RuntimeWarning, match=requested):
            assert dispatch.choose_level(requested) == "baseline"
    assert dispatch.choose_level("") == "baseline"


# ---- no floating-point warnings at any level ----------------------------------------------------------
FP_SCRIPT = """
import json, warnings
import numpy as np
import relukit

warnings.simplefilter("error")
BIG = {big}
failures = []


def inputs(dt, kind, n):
    fi = np.finfo(dt)
    sub = float(fi.smallest_subnormal)
    if kind == "subnormal":
        # subnormal inputs; times a slope of 0.5 or 0.01 the exact product needs rounding
        base = [3 * sub, -3 * sub, -5 * sub, -7 * sub, sub, -sub, 0.75 * float(fi.smallest_normal),
                -0.75 * float(fi.smallest_normal), -float(fi.smallest_normal), -0.0]
    elif kind == "special":
        base = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, -sub]
    else:  # finite values whose product with a slope of 3.5 overflows
        base = [-float(fi.max), -float(fi.max) / 2, float(fi.max), -1.0]
    return np.resize(np.array(base, dt), n)


for dt in (np.float16, np.float32, np.float64):
    for kind in ("subnormal", "special", "overflow"):
        for n in (1, 7, 1001, BIG):
            x = inputs(dt, kind, n)
            g = x[::-1].copy()
            slopes = (3.5,) if kind == "overflow" else (0.5, 0.01, 0.0)
            calls = {{"relu": lambda: relukit.relu(x),
                      "relu_backward": lambda: relukit.relu_backward(g, x),
                      "relu_backward_from_output": lambda: relukit.relu_backward_from_output(g, x)}}
            for s in slopes:
                calls[f"leaky_relu s={{s}}"] = lambda s=s: relukit.leaky_relu(x, s)
                calls[f"leaky_relu_backward s={{s}}"] = lambda s=s: relukit.leaky_relu_backward(g, x, s)
                if s > 0:
                    calls[f"leaky_relu_backward_from_output s={{s}}"] = (
                        lambda s=s: relukit.leaky_relu_backward_from_output(g, x, s))
            for threads in (1, 2):
                with relukit.threads(threads):
                    for name, f in calls.items():
                        try:
                            with np.errstate(all="raise"):
                                f()
                            f()  # default errstate: warnings are errors
                        except (FloatingPointError, RuntimeWarning) as e:
                            failures.append([np.dtype(dt).name, kind, n, threads, name,
                                             type(e).__name__ + ": " + str(e)])
print(json.dumps([relukit.config()["simd_level"], failures]))
"""


@functools.lru_cache(maxsize=None)
def _fp_failures(level):
    r = _python(FP_SCRIPT.format(big=BIG), level)
    assert r.returncode == 0, r.stderr
    got_level, failures = json.loads(r.stdout)
    assert got_level == level
    return tuple(map(tuple, failures))


def _summary(failures):
    seen = {}
    for dt, kind, n, threads, name, err in failures:
        seen.setdefault((dt, kind, name, err), []).append((n, threads))
    return "\n".join(f"{k}: (n, threads) {v}" for k, v in seen.items())


@pytest.mark.parametrize("level", LEVELS)
def test_no_fp_warnings_for_special_inputs_at_every_level(level):
    """SPEC: no RuntimeWarning (nor FloatingPointError under np.errstate(all='raise')) for NaN,
    inf or subnormal input, with and without threads, whatever SIMD level is chosen."""
    if level not in relukit.config()["simd_available"]:
        pytest.skip(f"{level} is not available on this CPU/build")
    failures = [f for f in _fp_failures(level) if f[1] != "overflow"]
    assert not failures, f"at level {level}:\n" + _summary(failures)


@pytest.mark.parametrize("level", LEVELS)
def test_fp_status_same_at_every_level(level):
    """The kernels never report FP exceptions of their own (DESIGN section 4, _rk.h): a finite
    product that overflows in leaky_relu is silent at the default level, so it must be silent at
    every level."""
    if level not in relukit.config()["simd_available"]:
        pytest.skip(f"{level} is not available on this CPU/build")
    failures = [f for f in _fp_failures(level) if f[1] == "overflow"]
    assert not failures, f"at level {level}:\n" + _summary(failures)
