#!/usr/bin/env bash
# Transfer benchmark on loopback: one file of MIB MiB (default 1024) sent with `peer send` to
# `peer receive` (secure session, whole-file hash, temp file then rename), against the same
# file piped through socat (plain TCP, file to file) in the same run. Best of ROUNDS (default 3)
# each; prints one table with wall-clock throughput (connection set-up included for us) and our
# data-phase rate from the "transfer" event, and the ratio to socat.
#   bench/transfer_bench.sh [MIB] [ROUNDS]
# BENCH_BIN=DIR skips install and build and uses the binaries there (the CTest smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
rounds=${2:-3}
# shellcheck source=binaries.sh
source bench/binaries.sh
# shellcheck source=lib.sh
source bench/lib.sh
start_server
head -c $((mib * 1024 * 1024)) /dev/urandom >"$work/file.bin"
want=$(sha256sum "$work/file.bin" | cut -d' ' -f1)
now() { date +%s.%N; }

socat_round() {
  rm -rf "$work/socat-out" && mkdir "$work/socat-out"
  local port
  port=$(free_port)
  socat -u TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr OPEN:"$work/socat-out/file.bin",creat,trunc &
  local sink=$!
  sleep 0.2
  local start
  start=$(now)
  socat -u OPEN:"$work/file.bin" TCP:127.0.0.1:"$port"
  wait "$sink"
  echo "socat $(now) $start" >>"$work/times"
}

peer_round() {
  rm -rf "$work/peer-out" && mkdir "$work/peer-out"
  "$bin/peer" --server "127.0.0.1:$main_port" --id bench-rx --json receive --dir "$work/peer-out" 2>"$work/rx.err" &
  local rx=$!
  for _ in $(seq 100); do grep -q '"registered"' "$work/rx.err" && break; sleep 0.05; done
  local start
  start=$(now)
  "$bin/peer" --server "127.0.0.1:$main_port" --id bench-tx --json send bench-rx "$work/file.bin" 2>"$work/tx.err"
  wait "$rx"
  local end
  end=$(now)
  local got
  got=$(sha256sum "$work/peer-out/file.bin" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "the received file differs" >&2; exit 1; }
  echo "peer $end $start $(grep '"event":"transfer"' "$work/tx.err" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["mbps"])')" >>"$work/times"
}

echo "transfer benchmark: $mib MiB file, loopback, best of $rounds, $(nproc) cores, $(uname -r)"
for _ in $(seq "$rounds"); do
  socat_round
  peer_round
done
python3 - "$work/times" "$mib" <<'PY'
import sys
mib = int(sys.argv[2])
best = {}
data_phase = 0.0
for line in open(sys.argv[1]):
    f = line.split()
    gbit = mib * 1024 * 1024 * 8 / 1e9 / (float(f[1]) - float(f[2]))
    best[f[0]] = max(best.get(f[0], 0.0), gbit)
    if f[0] == "peer":
        data_phase = max(data_phase, float(f[3]) / 1000)
print(f"| tool | throughput (wall clock) | of socat |")
print(f"|---|---|---|")
print(f"| socat (plain TCP, file to file) | {best['socat']:.2f} Gbit/s | 100% |")
print(f"| peer send -> peer receive | {best['peer']:.2f} Gbit/s | {100 * best['peer'] / best['socat']:.0f}% |")
print(f"| (our data phase, from the transfer event) | {data_phase:.2f} Gbit/s | {100 * data_phase / best['socat']:.0f}% |")
PY
