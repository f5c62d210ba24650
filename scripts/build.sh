#!/usr/bin/env bash
# Configures and builds into build/ (binaries in build/bin). Extra arguments go to cmake configure.
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache hit across clones at other paths (CI builds a fresh clone): paths relative to here,
# and the working directory left out of the hash that -g would otherwise put in it.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j"$(nproc)"
