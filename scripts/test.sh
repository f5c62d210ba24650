#!/usr/bin/env bash
# The README's test command: installs packages, builds with warnings as errors, runs every test
# (unit, loopback and the network-namespace NAT lab; the lab needs root and is skipped, loudly,
# without it), then the unit and loopback suites again under AddressSanitizer + UBSan, then each
# fuzz harness for 20 s.
#   scripts/test.sh                              everything (what CI runs)
#   scripts/test.sh --sanitize=address,undefined only the sanitizer stage (build-asan/)
#   scripts/test.sh --sanitize=thread            unit and loopback under ThreadSanitizer (build-tsan/; not in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=
for arg in "$@"; do
  case $arg in
    --sanitize=*) sanitize=${arg#--sanitize=} ;;
    *) echo "test.sh: unknown argument '$arg' (see the comment at the top)" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh

# run_sanitized SANITIZERS: builds build-<name>/ with them and runs the unit and loopback suites
# there (not the benchmarks' smoke runs or the timed hostile-load goals, which mean nothing at a
# sanitizer's speed).
run_sanitized() {
  local kinds=$1 dir
  case $kinds in
    thread) dir=build-tsan ;;
    *) dir=build-asan ;;
  esac
  # -O1 -g1: a quicker build than RelWithDebInfo, still fast enough to run every suite.
  local flags="-O1 -g1 -fsanitize=$kinds -fno-omit-frame-pointer"
  [[ $kinds == *undefined* ]] && flags+=" -fno-sanitize-recover=undefined"
  # (No -Werror here: GCC 12 warns falsely about std::regex and std::function under the sanitizers.)
  BUILD_DIR=$dir scripts/build.sh -DCMAKE_BUILD_TYPE=Sanitize -DHP_WERROR=OFF -DHP_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$kinds"
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2 --timeout 900 -L 'unit|loopback' \
    -E 'bench_|hostile_load')
}

if [ -n "$sanitize" ]; then
  run_sanitized "$sanitize"
  exit 0
fi

scripts/build.sh -DHP_WERROR=ON -DHP_BUILD_TESTS=ON
status=0
(cd build && ctest --output-on-failure -j2 --timeout 900) || status=$?
# The NAT matrix summary (CTest shows only failing output): one table, also as JSON.
if [ -s build/netns-matrix-results.jsonl ]; then
  python3 netns-tests/matrix_summary.py build/netns-matrix-results.jsonl
fi
[ "$status" = 0 ] || exit "$status"
echo "== unit and loopback suites under AddressSanitizer + UBSan"
run_sanitized address,undefined
echo "== fuzzing: every harness for 20 s"
scripts/fuzz.sh 20
