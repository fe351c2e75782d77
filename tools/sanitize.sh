#!/usr/bin/env bash
# Memory safety: build relukit with AddressSanitizer and UndefinedBehaviorSanitizer into its own
# build directory and virtual environment, then run the tests with the sanitizer runtimes preloaded
# (CPython is not built with ASan, so the runtime must be loaded before anything else), once with
# OMP_NUM_THREADS=1 and once with 2. Any sanitizer report aborts the run and fails the script.
#
#   tools/sanitize.sh                 # the whole default suite (not -m slow), 1 and 2 threads
#   tools/sanitize.sh tests/test_reliability.py -k leak     # any pytest arguments instead
#
# SANITIZE_VENV (default /tmp/relukit-sanitize-venv) is reused between runs; the build directory is
# build/sanitize in the checkout. SANITIZE_THREADS (default "1 2") lists the OMP_NUM_THREADS runs. Needs gcc (or clang) with libasan and libubsan.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${SANITIZE_VENV:-/tmp/relukit-sanitize-venv}
cc=${CC:-gcc}

asan=$("$cc" -print-file-name=libasan.so)
ubsan=$("$cc" -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
    [[ -e $lib ]] || { echo "sanitize.sh: $cc has no ${lib##*/}" >&2; exit 2; }
done

if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet meson-python meson cython ninja numpy pytest hypothesis \
        threadpoolctl mpmath
fi

cd "$repo"
# A regular (not editable) install, so that importing never triggers an uninstrumented rebuild.
# b_lundef=false: the extension modules leave the sanitizer symbols to the preloaded runtime.
# -fno-sanitize-recover: undefined behaviour aborts instead of printing and carrying on.
"$venv/bin/pip" install --quiet --no-build-isolation --force-reinstall --no-deps \
    -Cbuild-dir=build/sanitize \
    -Csetup-args=-Db_sanitize=address,undefined -Csetup-args=-Db_lundef=false \
    "-Csetup-args=-Dc_args=-fno-sanitize-recover=all -fno-omit-frame-pointer" \
    .

# detect_leaks=0: CPython's interned objects and arenas are never freed (not our leaks; the leak
# tests in tests/test_reliability.py measure ours). PYTHONMALLOC=malloc sends Python's small
# objects through malloc too, so ASan sees every allocation.
export LD_PRELOAD="$asan $ubsan"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONMALLOC=malloc
export RELUKIT_SANITIZED=1
# the tests must import the instrumented build, not a source tree or another install
(cd / && "$venv/bin/python" -c \
    'import relukit, sys; assert "site-packages" in relukit.__file__, relukit.__file__')
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(tests)
status=0
for threads in ${SANITIZE_THREADS:-1 2}; do
    echo "== OMP_NUM_THREADS=$threads: pytest ${args[*]}"
    start=$SECONDS
    OMP_NUM_THREADS=$threads "$venv/bin/python" -m pytest -q "${args[@]}" || status=$?
    echo "== OMP_NUM_THREADS=$threads: exit $status after $((SECONDS - start)) s"
    [[ $status -eq 0 ]] || break
done
exit $status
