#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/*.cpp) with clang 14 into build-fuzz/ and runs each for
# SECONDS (default 20) on a copy of its seed corpus. Exits 1 if any harness found a crash (each
# is printed with its input file and the command that reproduces it), 2 if the build failed.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      e.g. scripts/fuzz.sh 60 frame_decode record_open
#
# Needs (Debian 12): clang-14 libclang-rt-14-dev llvm-14 make, plus the project's libasio-dev
# nlohmann-json3-dev libsodium-dev libssl-dev libspdlog-dev (libfmt-dev comes with it).
# Independent of build/: every source file is compiled here with the fuzzing flags.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-fuzz
NICE=(nice -n 19)

ALL=(frame_decode frame_fields stun_response mux_frame record_open transfer_wire session_hello punch_hello text_parsers
     config_resolve)
# -max_len per harness: a whole 64 KiB frame / record / data frame where the cap is the point,
# small where the input is a message or a line of text.
declare -A MAX_LEN=([frame_decode]=65600 [frame_fields]=8192 [stun_response]=4200 [mux_frame]=65600
                    [record_open]=66000 [transfer_wire]=4096 [session_hello]=8192 [punch_hello]=4096
                    [text_parsers]=512 [config_resolve]=8192)
JSON_HARNESSES=" frame_decode frame_fields transfer_wire session_hello punch_hello config_resolve "

seconds=20
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
if [ $# -gt 0 ]; then
  harnesses=("$@")
  for h in "${harnesses[@]}"; do
    [[ -n ${MAX_LEN[$h]:-} ]] || { echo "fuzz: unknown harness '$h' (have: ${ALL[*]})" >&2; exit 2; }
  done
else
  harnesses=("${ALL[@]}")
fi

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 not found; apt-get install clang-14 libclang-rt-14-dev llvm-14" >&2
  exit 2
fi
if [ ! -f "$(clang++-14 -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]; then
  echo "fuzz: the libFuzzer runtime is missing; apt-get install libclang-rt-14-dev" >&2
  exit 2
fi

echo "fuzz: building ${harnesses[*]}"
targets=()
for h in "${harnesses[@]}"; do targets+=("$OUT/bin/$h"); done
if ! "${NICE[@]}" make -s -f fuzz/Makefile -j"$(nproc)" OUT="$OUT" "${targets[@]}"; then
  echo "fuzz: build failed" >&2
  exit 2
fi

symbolizer=$(command -v llvm-symbolizer-14 || echo /usr/lib/llvm-14/bin/llvm-symbolizer)
export ASAN_SYMBOLIZER_PATH=$symbolizer
# What a reproducer needs in front to print file:line (nothing when llvm-symbolizer is on PATH).
repro_env=""
command -v llvm-symbolizer >/dev/null || repro_env="ASAN_SYMBOLIZER_PATH=$symbolizer "
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_one HARNESS: runs it, writes its summary line to $OUT/results/HARNESS and its report (if it
# failed) to $OUT/results/HARNESS.report; exits non-zero if it found something.
run_one() {
  local h=$1 work=$OUT/work/$1 artifacts=$OUT/crashes/$1 log=$OUT/logs/$1.log report=$OUT/results/$1.report
  rm -rf "$work" "$artifacts" "$report"
  mkdir -p "$work" "$artifacts" "$OUT/logs" "$OUT/results"
  if [ -d "fuzz/corpus/$h" ]; then cp -r "fuzz/corpus/$h/." "$work/"; fi
  local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -max_len="${MAX_LEN[$h]}" -timeout=10 -print_final_stats=1
              -artifact_prefix="$artifacts/")
  [[ $JSON_HARNESSES == *" $h "* ]] && args+=(-dict="$ROOT/fuzz/dict/json.dict")
  "${NICE[@]}" "$OUT/bin/$h" "${args[@]}" "$work" >"$log" 2>&1
  local rc=$?
  local execs found
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if [ $rc -eq 0 ] && [ -z "$found" ]; then
    printf '%-15s ok      execs=%s\n' "$h" "${execs:-?}" >"$OUT/results/$h"
    return 0
  fi
  printf '%-15s FAILED  execs=%s\n' "$h" "${execs:-?}" >"$OUT/results/$h"
  {
    echo "fuzz: $h FAILED (exit $rc); log: ${log#"$ROOT"/}"
    grep -m1 '==FUZZ FINDING==' "$log" | sed 's/^/fuzz:   /'
    grep -m1 -E '^SUMMARY: ' "$log" | sed 's/^/fuzz:   /'
    grep -m1 -E 'runtime error:' "$log" | sed "s|$ROOT/||; s/^/fuzz:   /"
    grep -E '^ +#[0-9]+ ' "$log" | grep -F " $ROOT/" | grep -v -e 'fuzz/fuzz_util.hpp' |
      awk '{ key = $0; sub(/^ *#[0-9]+ 0x[0-9a-f]+ /, "", key); if (!seen[key]++) print }' | head -6 | sed "s|$ROOT/||; s/^ */fuzz:     /"
    for f in $found; do
      echo "fuzz:   input: ${f#"$ROOT"/}"
      echo "fuzz:   reproduce: ${repro_env}${OUT#"$ROOT"/}/bin/$h ${f#"$ROOT"/}"
    done
    [ -z "$found" ] && echo "fuzz:   (no input saved; see the log)"
  } >"$report"
  return 1
}

# One harness per core at a time.
jobs_max=$(nproc)
for h in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "fuzz: running $h for ${seconds}s"
  run_one "$h" &
done
wait
failed=()
summary=()
for h in "${harnesses[@]}"; do
  summary+=("$(cat "$OUT/results/$h")")
  if [ -f "$OUT/results/$h.report" ]; then
    failed+=("$h")
    cat "$OUT/results/$h.report"
  fi
done

echo "fuzz: summary (${seconds}s each)"
printf 'fuzz:   %s\n' "${summary[@]}"
# The plain closing line test runners are read by: harnesses that found nothing pass.
echo "fuzz: $((${#harnesses[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} harness(es) found crashes: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes"
