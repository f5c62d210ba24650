#!/usr/bin/env bash
# Keeps the benchmarks honest between benchmark runs: a tiny run of every mode of relay_bench and
# of register_bench against a real server (and socat when installed), so protocol changes cannot
# silently break them.
#   bench/smoke.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
start_server
"$bin/relay_bench" --mode raw --streams 2 --total-mib 8 --latency-rounds 50
"$bin/relay_bench" --mode relay --port "$main_port" --streams 4 --total-mib 8 --latency-rounds 50
"$bin/register_bench" --port "$main_port" --peers 100 --threads 4
if command -v socat >/dev/null; then
  start_socat
  "$bin/relay_bench" --mode socat --port "$socat_port" --sink-port "$sink_port" --streams 2 --total-mib 8 --latency-rounds 50
fi
