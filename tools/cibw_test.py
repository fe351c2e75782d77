"""cibuildwheel's test command: the suite against the installed wheel (run from a copy of tests/
outside the source tree, see test-sources), then once more at the lowest SIMD level."""

import os
import subprocess
import sys


def suite(**env):
    command = [sys.executable, "-m", "pytest", "-q", "tests"]
    print("+", " ".join(f"{k}={v}" for k, v in env.items()), *command, flush=True)
    return subprocess.call(command, env={**os.environ, **env})


sys.exit(suite() or suite(RELUKIT_CPU_LEVEL="baseline"))
