"""show_config(), config(), __version__, `python -m relukit info`, and what the build inlined."""

import importlib
import re
import shutil
import subprocess
import sys

import pytest

import relukit
from _support import BIG, threaded_at

KEYS = ("version", "numpy", "compiler", "simd_level", "simd_available", "simd_built", "openmp",
        "threads", "thread_limit", "thread_thresholds", "cpu", "cpu_count")


def test_config_keys_and_values():
    cfg = relukit.config()
    assert isinstance(cfg, dict)
    for key in KEYS:
        assert key in cfg, key
    assert cfg["version"] == relukit.__version__
    assert cfg["simd_level"] in cfg["simd_available"]
    assert set(cfg["simd_available"]) <= set(cfg["simd_built"])
    assert "baseline" in cfg["simd_built"]
    assert isinstance(cfg["threads"], int) and cfg["threads"] >= 1
    assert cfg["threads"] == relukit.get_num_threads()
    assert cfg["thread_limit"] is None
    assert isinstance(cfg["openmp"], str) and cfg["openmp"]
    assert isinstance(cfg["cpu"], str) and cfg["cpu"]
    thresholds = cfg["thread_thresholds"]
    assert set(thresholds) >= {"memory"}
    assert all(isinstance(v, int) and v >= 1 for v in thresholds.values())
    # the threads tests need their arrays (BIG elements) to be threaded
    assert threaded_at(BIG)


def test_config_follows_the_thread_limit():
    with relukit.threads(1):
        cfg = relukit.config()
        assert cfg["threads"] == 1 and cfg["thread_limit"] == 1
    assert relukit.config()["thread_limit"] is None


def test_show_config_prints_every_key(capsys):
    assert relukit.show_config() is None
    out = capsys.readouterr().out
    lines = out.splitlines()
    printed = {line.split()[0] for line in lines if line.strip()}
    for key in KEYS:
        assert key in printed, key
    cfg = relukit.config()
    text = dict(line.split(None, 1) for line in lines if len(line.split(None, 1)) == 2)
    assert text["version"].strip() == relukit.__version__
    assert text["simd_level"].strip() == cfg["simd_level"]
    assert text["threads"].strip() == str(cfg["threads"])
    for level in cfg["simd_available"]:
        assert level in text["simd_available"]
    assert f"{cfg['thread_thresholds']['memory']:,}" in text["thread_thresholds"]


def test_version_string():
    v = relukit.__version__
    assert isinstance(v, str)
    parts = v.split(".")
    assert len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit()


def test_python_m_relukit_info():
    r = subprocess.run([sys.executable, "-m", "relukit", "info"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "simd_level" in r.stdout and relukit.__version__ in r.stdout


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
@pytest.mark.parametrize("level", ("baseline", "avx2", "avx512"))
def test_every_scalar_helper_is_inlined_into_the_kernels(level):
    """No kernel calls a per-element helper of _scalar.pxd or _vecmath.pxd: a call left in a loop
    stops gcc from vectorising it (meson.build's inlining parameters keep them inline)."""
    try:
        module = importlib.import_module(f"relukit._kernels_{level}")
    except ImportError:
        pytest.skip(f"no {level} module in this build")
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", module.__file__],
                         capture_output=True, text=True, check=True).stdout
    if "<__pyx_f_" not in asm:
        pytest.skip("the module's symbols are stripped")
    calls = sorted(set(re.findall(r"call\s+\S+\s+<(__pyx_f_\d+_(?:scalar|vecmath)_\w+)>", asm)))
    assert not calls, f"{level}: kernels call {calls}"
