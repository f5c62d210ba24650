# shellcheck shell=bash
# Sourced by the benchmark scripts: sets `bin`, the binaries' folder. BENCH_BIN=DIR uses the
# binaries there and skips install and build (the CTest smoke runs); otherwise the packages are
# installed and build/ is built.
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$(cd "$BENCH_BIN" && pwd)
else
  scripts/install-deps.sh
  scripts/build.sh >/dev/null
  bin=build/bin
fi
