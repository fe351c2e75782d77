"""README.md's Python examples run as written (each in a fresh interpreter, as a reader would paste
it into a file), so the first thing a user copies cannot drift from the API. A block that needs an
optional peer (dask.distributed, xarray) is skipped without it."""

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="needs the source checkout (README.md)")


def python_blocks():
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M) if README.exists() else []


def imported_modules(code):
    return {m.split(".")[0] for m in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", code, re.M)}


def test_the_readme_has_its_examples():
    blocks = python_blocks()
    assert len(blocks) >= 3
    assert any("relukit.relu(" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index, tmp_path):
    code = python_blocks()[index]
    for module in sorted(imported_modules(code) | ({"distributed"} if "distributed" in code else set())):
        pytest.importorskip(module)
    script = tmp_path / f"readme_{index}.py"
    script.write_text(code)
    # a file, not -c: dask's worker processes import the script's own module
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
