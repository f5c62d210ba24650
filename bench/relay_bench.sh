#!/usr/bin/env bash
# Relay benchmark, one run on loopback: throughput with 1 and 64 concurrent streams (1 GiB in
# total each) and added round-trip latency (64-byte request/response), for raw TCP (the limit),
# our relay (rendezvous relay port, splice), and socat. Prints one table with ratios.
#   bench/relay_bench.sh [TOTAL_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-1024}
scripts/install-deps.sh
scripts/build.sh >/dev/null
bin=build/bin
# shellcheck source=lib.sh
source bench/lib.sh
start_server
start_socat

run() {  # run MODE STREAMS MIB ROUNDS
  local extra=()
  case $1 in
    socat) extra=(--port "$socat_port" --sink-port "$sink_port") ;;
    relay) extra=(--port "$main_port") ;;
  esac
  "$bin/relay_bench" --mode "$1" --streams "$2" --total-mib "$3" --latency-rounds "$4" "${extra[@]}"
}

echo "relay benchmark: $total MiB per throughput run, loopback, $(nproc) cores, $(uname -r)"
for mode in raw relay socat; do
  run "$mode" 1 "$total" 0 >>"$work/results"
  run "$mode" 64 "$total" 0 >>"$work/results"
  run "$mode" 1 0 20000 >>"$work/results"
done
python3 - "$work/results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def get(mode, streams, key, latency=False):
    for r in rows:
        if r["mode"] == mode and r["streams"] == streams and (key in r):
            return r[key]
tp = {(m, s): get(m, s, "gbit_per_s") for m in ("raw", "relay", "socat") for s in (1, 64)}
lat = {m: (get(m, 1, "rtt_us_p50"), get(m, 1, "rtt_us_p99")) for m in ("raw", "relay", "socat")}
print()
print("| path | 1 stream Gbit/s | 64 streams Gbit/s | RTT p50 µs | RTT p99 µs | added p50 µs |")
print("|---|---|---|---|---|---|")
for m in ("raw", "relay", "socat"):
    print(f"| {m} | {tp[(m,1)]:.2f} | {tp[(m,64)]:.2f} | {lat[m][0]:.1f} | {lat[m][1]:.1f} | {lat[m][0]-lat['raw'][0]:.1f} |")
print()
for s in (1, 64):
    print(f"{s:>2} stream(s): relay = {tp[('relay',s)]/tp[('raw',s)]:.0%} of raw, {tp[('relay',s)]/tp[('socat',s)]:.2f}x socat")
print(f"added latency p50: relay {lat['relay'][0]-lat['raw'][0]:.1f} µs, socat {lat['socat'][0]-lat['raw'][0]:.1f} µs")
PY
