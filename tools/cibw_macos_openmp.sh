#!/usr/bin/env bash
# cibuildwheel's before-all on macOS: LLVM's OpenMP runtime (libomp) for Apple clang, from
# conda-forge's llvm-openmp, built for macOS 10.13 (x86_64) / 11.0 (arm64), so delocate accepts
# it under MACOSX_DEPLOYMENT_TARGET=12 (Homebrew's libomp targets the runner's own macOS).
# Installed into $RELUKIT_OPENMP_PREFIX, where pyproject's CPPFLAGS/LDFLAGS point.
set -euo pipefail
prefix=${RELUKIT_OPENMP_PREFIX:?}
case "$(uname -m)" in
    arm64) platform=osx-arm64 ;;
    *) platform=osx-64 ;;
esac
tools=$(mktemp -d)
curl -fsSL "https://micro.mamba.pm/api/micromamba/$platform/latest" | tar -xj -C "$tools" bin/micromamba
"$tools/bin/micromamba" create --yes --quiet --root-prefix "$tools/root" --prefix "$prefix" \
    --platform "$platform" --channel conda-forge llvm-openmp
ls -l "$prefix/lib/libomp.dylib" "$prefix/include/omp.h"
