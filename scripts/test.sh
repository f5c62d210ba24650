#!/usr/bin/env bash
# The README's test command: installs packages, builds with warnings as errors, runs every test
# (unit, loopback and the network-namespace NAT lab; the lab needs root and is skipped, loudly,
# without it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHP_WERROR=ON -DHP_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j2 --timeout 900
