#!/usr/bin/env bash
# Keeps the benchmark honest between benchmark runs: a tiny run of every mode of relay_bench
# against a real server (and socat when installed), so protocol changes cannot silently break it.
#   bench/smoke.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/ready" --log-level warn --stats-interval 0 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.05; done
main_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["main"])' "$work/ready")
"$bin/relay_bench" --mode raw --streams 2 --total-mib 8 --latency-rounds 50
"$bin/relay_bench" --mode relay --port "$main_port" --streams 4 --total-mib 8 --latency-rounds 50
if command -v socat >/dev/null; then
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  sink=$(free_port) listen=$(free_port)
  socat TCP-LISTEN:"$listen",bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:"$sink" &
  pids+=($!)
  sleep 0.3
  "$bin/relay_bench" --mode socat --port "$listen" --sink-port "$sink" --streams 2 --total-mib 8 --latency-rounds 50
fi
