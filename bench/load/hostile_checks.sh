#!/usr/bin/env bash
# The server under hostile load, with real peers beside the load tool (loopback only, bounded):
#   1. 5,000 silent connections from 64 addresses hold all four ports: a new peer from another
#      address registers within 2 s, and a pair connects;
#   2. connect spam at the peer being reached: a real connect succeeds within 2 s, during and after;
#   3. at its descriptor budget the server refuses registrations with server_full, and serves
#      again when the load drops.
#   bench/load/hostile_checks.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
load="$(cd "$(dirname "$0")" && pwd)/load.py"
work=$(mktemp -d /tmp/hp-hostile.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
passed=0
pass() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# start_server NAME [LAUNCHER...] -- [FLAGS...]: a fresh server; sets server_pid, main_port.
start_server() {
  local name=$1; shift
  local launcher=()
  while [ "$1" != "--" ]; do launcher+=("$1"); shift; done
  shift
  rm -f "$work/$name.ready"
  "${launcher[@]}" "$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/$name.ready" --log-level info \
    --stats-interval 0 --state "$work/$name-state" "$@" 2>"$work/$name.log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 200); do [ -f "$work/$name.ready" ] && break; sleep 0.05; done
  [ -f "$work/$name.ready" ] || { echo "the server did not start"; cat "$work/$name.log"; exit 1; }
  main_port=$(python3 -c "import json; print(json.load(open('$work/$name.ready'))['main'])" )
}
peer() { "$bin/peer" --server "127.0.0.1:$main_port" --identity "$work/$1.key" "${@:2}"; }
# ms_since START_NS
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# wait_for FILE TEXT SECONDS
wait_for() {
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# --- 1. slowloris on every port -----------------------------------------------------------------
start_server slow --
python3 "$load" slowloris --connections 5000 --addresses 64 --ports main,hole,relay,probe --seconds 14 \
  --ready-file "$work/slow.ready" --server-pid "$server_pid" --server-log "$work/slow.log" --json \
  >"$work/slowloris.out" 2>&1 &
flood=$!
pids+=("$flood")
sleep 4  # the flood is at full strength
start=$(date +%s%N)
peer bob --id bob --json listen </dev/null >"$work/bob.out" 2>"$work/bob.err" &
pids+=($!)
if wait_for "$work/bob.err" '"event":"registered"' 10; then
  took=$(ms_since "$start")
  if [ "$took" -le 2000 ]; then pass "during 5,000 silent connections a new peer registered in $took ms"
  else fail "a new peer took $took ms to register during the flood (goal 2,000)"; fi
else
  fail "a new peer could not register during the flood"; cat "$work/bob.err"
fi
start=$(date +%s%N)
if echo hello | timeout 10 "$bin/peer" --server "127.0.0.1:$main_port" --identity "$work/alice.key" --json connect bob \
     >"$work/alice.out" 2>"$work/alice.err"; then
  pass "during the flood a pair connected in $(ms_since "$start") ms ($(grep -o '"path":"[a-z]*"' "$work/alice.err" | head -1))"
else
  fail "no pair could connect during the flood"; cat "$work/alice.err"
fi
wait "$flood" || true
if tail -1 "$work/slowloris.out" | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
print(f\"flood: peak {d['peak_open']} open, canary {d.get('canary', {}).get('ok')} ok, longest lockout {d.get('canary', {}).get('longest_lockout_s')} s\")
sys.exit(0 if d.get('server_alive') else 1)"; then pass "the server survived the flood"; else fail "the flood"; cat "$work/slowloris.out"; fi
lines=$(wc -l <"$work/slow.log")
if [ "$lines" -lt 400 ]; then pass "the flood cost $lines log lines"; else fail "the flood wrote $lines log lines"; fi
kill "$server_pid"

# --- 2. connect spam at a real peer -------------------------------------------------------------
start_server spam --
peer carol --id carol listen </dev/null >"$work/carol.out" 2>"$work/carol.err" &
pids+=($!)
wait_for "$work/carol.err" "registered as carol" 10 || { fail "carol did not register"; }
python3 "$load" spam --connections 4 --interval-ms 50 --seconds 6 --target carol \
  --ready-file "$work/spam.ready" --server-log "$work/spam.log" --json >"$work/spam.out" 2>&1 &
spam=$!
pids+=("$spam")
sleep 2
start=$(date +%s%N)
if echo during | timeout 10 "$bin/peer" --server "127.0.0.1:$main_port" --identity "$work/dave.key" connect carol \
     >"$work/dave.out" 2>"$work/dave.err"; then
  took=$(ms_since "$start")
  if [ "$took" -le 2000 ]; then pass "during connect spam a real connect succeeded in $took ms"
  else fail "during connect spam a real connect took $took ms"; fi
else
  fail "a real connect failed during connect spam"; cat "$work/dave.err"
fi
wait "$spam" || true
peer carol2 --id carol2 listen </dev/null >"$work/carol2.out" 2>"$work/carol2.err" &
pids+=($!)
wait_for "$work/carol2.err" "registered as carol2" 10 || true
start=$(date +%s%N)
if echo after | timeout 10 "$bin/peer" --server "127.0.0.1:$main_port" --identity "$work/dave.key" connect carol2 \
     >"$work/dave2.out" 2>"$work/dave2.err"; then
  pass "after the spam a real connect took $(ms_since "$start") ms"
else
  fail "a real connect failed after the spam"; cat "$work/dave2.err"
fi
lines=$(grep -c "connect" "$work/spam.log" || true)
if [ "$lines" -lt 60 ]; then pass "the spam cost $lines log lines about connects"; else fail "the spam wrote $lines log lines about connects"; fi
kill "$server_pid"

# --- 3. the descriptor budget ---------------------------------------------------------------------
start_server fds prlimit --nofile=600 -- --max-peers 10000
if grep -q "descriptor limit 600: at most" "$work/fds.log"; then pass "$(grep -o 'descriptor limit 600: at most [0-9]* peers' "$work/fds.log")"
else fail "no descriptor budget line"; cat "$work/fds.log"; fi
cap=$(grep -o 'descriptor limit 600: at most [0-9]* peers' "$work/fds.log" | grep -o '[0-9]* peers' | cut -d' ' -f1)
python3 "$load" hold $((cap + 40)) --concurrency 8 --seconds 3 --ready-file "$work/fds.ready" --server-pid "$server_pid" --json \
  >"$work/hold.out" 2>&1 &
hold=$!
pids+=("$hold")
wait "$hold" || true
if tail -1 "$work/hold.out" | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
full = d['failures'].get('server_full', 0)
print(f\"{d['registered']} registered, {full} refused server_full\")
sys.exit(0 if d['registered'] == $cap and full == 40 and d.get('server_alive') else 1)"; then
  pass "at its budget the server refused the rest with server_full"
else
  fail "the descriptor budget"; tail -5 "$work/hold.out"
fi
if grep -q "out of file descriptors" "$work/fds.log"; then fail "the server hit the descriptor wall"; grep "out of file" "$work/fds.log" | head -3
else pass "the server never reached the descriptor wall"; fi
sleep 1  # the hold closed its connections
peer erin --id erin listen </dev/null >"$work/erin.out" 2>"$work/erin.err" &
pids+=($!)
if wait_for "$work/erin.err" "registered as erin" 10; then pass "with the load gone a new peer registers again"
else fail "the server did not take a registration after the load"; cat "$work/erin.err"; fi

echo "hostile checks: $passed passed, $failed failed"
[ "$failed" = 0 ]
