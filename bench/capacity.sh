#!/usr/bin/env bash
# Server capacity on loopback, with bench/load/load.py as the crowd: for 1,000, 5,000 and 15,000
# peers, the server's RSS per idle registered peer, its CPU while they idle (each peer and the
# server pinging every 10 s, as real peers do), registrations per second with a new pin each,
# and a reconnect storm (every peer at once, retrying refusals with back-off, as the peers'
# reconnect loop does) against a freshly restarted server that holds their pins. Prints a table.
#   bench/capacity.sh [COUNTS...]        default: 1000 5000 15000
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 5000 15000)
scripts/install-deps.sh
scripts/build.sh >/dev/null
bin=$PWD/build/bin
load=$PWD/bench/load/load.py
work=$(mktemp -d /tmp/hp-capacity.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_server STATE_DIR: a server whose caps fit 15,000 peers (fewer relay pairs, see README).
start_server() {
  rm -f "$work/ready"
  "$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/ready" --log-level warn --stats-interval 0 \
    --max-peers 15200 --max-relay-pairs 100 --state "$1" 2>>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
}
stop_server() { kill -9 "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; }

echo "capacity: loopback, $(nproc) cores, $(uname -r); the load client shares the cores (see client_cpu_s)"
for n in "${counts[@]}"; do
  state=$work/state-$n
  start_server "$state"
  python3 "$load" hold "$n" --workers 2 --seconds 32 --ping-interval 10 --prefix "cap$n" \
    --ready-file "$work/ready" --server-pid "$server_pid" --json >"$work/hold-$n" 2>&1
  stop_server
  # The same IDs again, all at once, against a restarted server that has their pins.
  start_server "$state"
  python3 "$load" storm "$n" --retry --workers 2 --addresses 4096 --prefix "cap$n" --max-seconds 60 \
    --ready-file "$work/ready" --server-pid "$server_pid" --json >"$work/storm-$n" 2>&1
  stop_server
  # Registrations a second, each a new ID and pin, from a C++ client that is not the limit.
  start_server "$work/fresh-$n"
  "$bin/register_bench" --port "$(python3 -c "import json; print(json.load(open('$work/ready'))['main'])")" \
    --peers "$n" --threads 16 --server-pid "$server_pid" >"$work/register-$n" 2>&1 || true
  stop_server
done
python3 - "$work" "${counts[@]}" <<'PY'
import json, sys
work, counts = sys.argv[1], sys.argv[2:]
def last(path):
    return json.loads(open(path).read().strip().splitlines()[-1])
print()
print("| peers | RSS per idle peer | server CPU, idle (pings both ways) | registrations/s, new pins (C++ client) | server µs per registration | registrations/s (Python client) | storm: all back in | storm retries |")
print("|---|---|---|---|---|---|---|---|")
for n in counts:
    h, s, r = last(f"{work}/hold-{n}"), last(f"{work}/storm-{n}"), last(f"{work}/register-{n}")
    ok = "" if h["registered"] == int(n) else f" ({h['registered']} registered)"
    back = f"{s['seconds']:.1f} s" if s["registered"] == int(n) else f"{s['registered']} of {n} in {s['seconds']:.1f} s"
    reg = f"{r['registrations_per_s']:,.0f}" + ("" if r["registered"] == int(n) else f" ({r['registered']} registered)")
    print(f"| {int(n):,} | {h['rss_per_peer_kib']:.2f} KiB | {h['server_cpu_idle_percent']:.2f} % | {reg} | "
          f"{r.get('server_us_per_registration', 0):.0f} | {h['registrations_per_s']:,.0f}{ok} | {back} | {s.get('retries', 0):,} |")
PY
