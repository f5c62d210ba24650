#!/usr/bin/env bash
# The README's test command: installs packages, builds with warnings as errors, runs every test
# (unit, loopback and the network-namespace NAT lab; the lab needs root and is skipped, loudly,
# without it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHP_WERROR=ON -DHP_BUILD_TESTS=ON
cd build
status=0
ctest --output-on-failure -j2 --timeout 900 || status=$?
# The NAT matrix summary (CTest shows only failing output): one table, also as JSON.
if [ -s netns-matrix-results.jsonl ]; then
  python3 ../netns-tests/matrix_summary.py netns-matrix-results.jsonl
fi
exit "$status"
