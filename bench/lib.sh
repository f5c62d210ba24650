# Shared by the benchmark scripts: a rendezvous server and a socat forwarder on loopback, killed
# on exit. Source it after setting `bin` (the binaries' folder); it sets `work` and a trap.
# shellcheck shell=bash

work=$(mktemp -d)
pids=()
bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap bench_cleanup EXIT

# kill_started: ends what the script started, newest first, with the children forking relays
# (socat, sshd) leave per connection, and waits for each to go.
kill_started() {
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    # shellcheck disable=SC2046  # one PID a word
    kill $(ps -o pid= --ppid "$p" 2>/dev/null) "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
}

# keep_files FILE...: with BENCH_KEEP=DIR, copies them there for a closer look after the run.
keep_files() {
  [ -n "${BENCH_KEEP:-}" ] || return 0
  mkdir -p "$BENCH_KEEP" && cp -r "$@" "$BENCH_KEEP"/ 2>/dev/null || true
}

# wait_listen PORT WHAT: until something listens on 127.0.0.1:PORT (5 s).
wait_listen() {
  for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done
  echo "$(basename "$0"): $2 did not listen on port $1" >&2
  return 1
}

# start_private_sshd DIR PORT: the sshd that write_private_sshd (scripts/lib/private_sshd.sh)
# configured in DIR, in the background, until it listens on PORT.
start_private_sshd() {
  "$(command -v sshd)" -D -e -f "$1/sshd_config" 2>"$1/sshd.err" &
  pids+=($!)
  wait_listen "$2" sshd || { cat "$1/sshd.err" >&2; exit 1; }
}

# private_ssh DIR PORT ARGS...: ssh -N to that sshd as root with DIR's client key, in the
# background (ARGS: the forward, -L or -R, and options such as -c CIPHER); errors in DIR/ssh.err.
private_ssh() {
  local dir=$1 port=$2
  shift 2
  ssh -F /dev/null -N -p "$port" -i "$dir/client_key" -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o BatchMode=yes -o UserKnownHostsFile="$dir/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes "$@" root@127.0.0.1 2>"$dir/ssh.err" &
  pids+=($!)
}

# show_warnings ROUTINE FILE...: what the relays logged beyond their debug and info lines and the
# routine events named by ROUTINE (an alternation: "registered|exposed"), the first 5 lines a file.
show_warnings() {
  local routine=$1 log lines
  shift
  for log in "$@"; do
    [ -s "$log" ] || continue
    lines=$(grep -v -E "\"level\":\"(debug|info)\"|\"event\":\"($routine)\"" "$log" || true)
    [ -n "$lines" ] || continue
    echo "log ${log#"$work"/} ($(wc -l <<<"$lines") lines at warn or above; the first 5):"
    head -5 <<<"$lines" | cut -c1-300 | sed 's/^/  /'
  done
}

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
