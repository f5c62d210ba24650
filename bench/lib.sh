# Shared by the benchmark scripts: a rendezvous server and a socat forwarder on loopback, killed
# on exit. Source it after setting `bin` (the binaries' folder); it sets `work` and a trap.
# shellcheck shell=bash

work=$(mktemp -d)
pids=()
bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server [ARGS...]: a rendezvous server on free loopback ports (ARGS go to it); sets
# main_port and server_pid.
start_server() {
  export XDG_DATA_HOME="$work/peer-data"  # the peers' identity keys
  "$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/ready" --log-level warn --stats-interval 0 --state "$work/state" \
    "$@" 2>"$work/server.log" &
  server_pid=$!
  pids+=($!)
  for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.05; done
  main_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["main"])' "$work/ready")
}

# start_socat: socat forwarding a free port to another; sets socat_port and sink_port (where the
# benchmark's sink must listen).
start_socat() {
  sink_port=$(free_port)
  socat_port=$(free_port)
  socat TCP-LISTEN:"$socat_port",bind=127.0.0.1,fork,reuseaddr,backlog=1024 TCP:127.0.0.1:"$sink_port" &
  pids+=($!)
  sleep 0.3
}
