"""cibuildwheel's before-build step: the licence of the OpenMP runtime that the repair step
(auditwheel, delocate, delvewheel) bundles on this platform goes into the wheel's licence files,
as LICENSES/OPENMP-RUNTIME-BUNDLED.txt (listed by pyproject's license-files).

    python tools/wheel_licenses.py PROJECT_DIR
"""

import pathlib
import shutil
import sys

PLATFORMS = {"linux": "linux", "darwin": "macos", "win32": "windows"}

project = pathlib.Path(sys.argv[1])
source = project / "tools" / "wheel_licenses" / f"{PLATFORMS[sys.platform]}.txt"
shutil.copyfile(source, project / "LICENSES" / "OPENMP-RUNTIME-BUNDLED.txt")
print(f"bundled OpenMP runtime licence: {source.name}")
