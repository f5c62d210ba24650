#!/usr/bin/env bash
# Configures and builds into build/ (binaries in build/bin), or $BUILD_DIR. Extra arguments go to
# cmake configure.
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache hit across clones at other paths (CI builds a fresh clone): paths relative to here,
# and the working directory left out of the hash that -g would otherwise put in it.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# Precompiled headers are cached only with these sloppiness settings (ccache manual, "Precompiled headers").
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
dir=${BUILD_DIR:-build}  # another tree for sanitizer builds (scripts/test.sh)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
