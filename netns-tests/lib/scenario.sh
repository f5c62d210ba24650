# Shared set-up for lab scenarios: a unique prefix, a work dir, a lab of two NAT kinds, and a
# cleanup trap that kills the scenario's processes, removes the lab, checks nothing is left
# behind, and shows the logs when the scenario failed. Source it, then call scenario_start.
#   pids+=($!)   after starting a background process, so cleanup kills it
# shellcheck shell=bash

scenario_cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
  "$LAB_TOOL" down --prefix "$prefix" >/dev/null 2>&1 || true
  if ip netns list | grep -q "^$prefix-"; then
    echo "FAIL: namespaces of $prefix left behind" >&2
    rc=1
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$work"/*.err "$work"/server.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  fi
  rm -rf "$work"
  exit "$rc"
}

# scenario_start TAG KIND_A KIND_B: builds the lab (exit 77 if namespaces cannot be made) and
# loads its addresses (SERVER_IP, NS_A, ...) into the environment.
scenario_start() {
  local tag=$1 kind_a=$2 kind_b=$3 rc=0
  LAB_TOOL="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lab"
  prefix="$tag$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  work=$(mktemp -d "/tmp/$tag-$prefix.XXXX")
  # Peers keep their identity keys and NAT cache here, not in the user's home.
  export XDG_DATA_HOME="$work/peer-data" XDG_STATE_HOME="$work/peer-state"
  pids=()
  trap scenario_cleanup EXIT INT TERM
  "$LAB_TOOL" up "$kind_a" "$kind_b" --prefix "$prefix" >"$work/lab.log" 2>&1 || rc=$?
  if [ "$rc" -eq 77 ]; then
    echo "SKIPPED: $(tail -1 "$work/lab.log")"
    exit 77
  fi
  [ "$rc" -eq 0 ] || { cat "$work/lab.log"; exit 1; }
  eval "$("$LAB_TOOL" env --prefix "$prefix")"
}

# start_server [FLAGS...]: the rendezvous server on the server host (port 7000, with its second
# address for NAT probes); waits until ready. Dual-stack ([::]:7000) when either side of the lab
# has IPv6.
start_server() {
  local listen=0.0.0.0:7000 alt=$SERVER_IP2
  if [ "${KIND_A6:-none6}${KIND_B6:-none6}" != none6none6 ]; then
    listen="[::]:7000" alt="$SERVER_IP2,$SERVER_IP6_2"
  fi
  ip netns exec "$NS_SERVER" "$bin/rendezvous" --listen "$listen" --alt-ip "$alt" --ready-file "$work/ready" --state "$work/server-state" "$@" \
    2>"$work/server.log" &
  server=$!
  pids+=($server)
  for _ in $(seq 100); do [ -f "$work/ready" ] && return 0; sleep 0.05; done
  echo "FAIL: server did not start"
  exit 1
}

# start_web NS PORT DIR: nginx serving DIR on 127.0.0.1:PORT inside namespace NS, until the
# scenario ends (python's http.server keeps a listen backlog of 5: concurrent fetches lose SYNs).
start_web() {
  local ns=$1 port=$2 root=$3 conf="$work/nginx-$2"
  mkdir -p "$conf"
  cat >"$conf/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; pid $conf/nginx.pid; error_log $conf/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $conf; proxy_temp_path $conf; fastcgi_temp_path $conf;
  uwsgi_temp_path $conf; scgi_temp_path $conf;
  server { listen 127.0.0.1:$port backlog=1024; root $root; } }
CONF
  ip netns exec "$ns" nginx -c "$conf/nginx.conf" -p "$conf" >"$conf/stderr.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q . && return 0; sleep 0.05; done
  echo "FAIL: nginx did not listen on $port in $ns"; cat "$conf/stderr.log" "$conf/error.log" 2>/dev/null
  exit 1
}

# server_for SIDE (a or b): the --server address a host behind that router uses: IPv6 for a LAN
# without IPv4 (kind no4), else IPv4.
server_for() {
  local kind
  kind=$([ "$1" = a ] && echo "$KIND_A" || echo "$KIND_B")
  if [ "$kind" = no4 ]; then echo "[$SERVER_IP6]:7000"; else echo "$SERVER_IP:7000"; fi
}

# expect_exit_ok NAME PID...: waits for each PID; the scenario fails ("NAME exited N") at the first
# that did not exit 0.
expect_exit_ok() {
  local name=$1 pid status
  shift
  for pid in "$@"; do
    status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { echo "FAIL: $name exited $status"; exit 1; }
  done
}

# wait_halfway BYTES FILE...: until every FILE holds BYTES (the first half of a stream), or 30 s.
wait_halfway() {
  local bytes=$1 f all
  shift
  for _ in $(seq 600); do
    all=1
    for f in "$@"; do [ "$(stat -c %s "$f")" -ge "$bytes" ] || all=0; done
    [ "$all" = 1 ] && return 0
    sleep 0.05
  done
}
