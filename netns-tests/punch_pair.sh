#!/usr/bin/env bash
# Scenario: two peers behind NATs of the given kinds connect by ID with the real binaries.
# Asserts the path, MIB (default 16) MiB intact each way, and, when the path is direct, that the
# stream keeps flowing after the rendezvous server is killed halfway. With the default path (auto)
# a pair starts on the relay and moves to the punched path: "direct" means it did (path_changed
# on both sides), and the server is killed only after that.
#
#   punch_pair.sh BIN_DIR KIND_A KIND_B EXPECTED_PATH [MIB]
#
# Environment: B_HOST=b|a2 (where bob runs; a2 shares router A with alice), PUNCH_TIMEOUT
# (seconds), MAX_CONNECT_MS (fail if connecting took longer), NO_PUNCH=1 (fail if either side
# punched: a pair the server knows is hopeless goes straight to the relay; both sides' NAT
# verdicts are cached first with `peer nat`), FAMILY=ipv4|ipv6 (fail
# if the path is of the other family), MATRIX_RESULTS=FILE (append one JSON result line),
# SCENARIO=name (for that line). Kinds may carry an IPv6 side (sym+fw6, no4+fw6: see the lab).
#
# Exit 0 pass, 1 fail, 77 skipped (no root / no namespaces). Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind_a=$2 kind_b=$3 expected=$4
size=$((${5:-16} << 20))
half=$((size / 2))

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
scenario_start pp "$kind_a" "$kind_b"

head -c "$size" /dev/urandom >"$work/a.bin"
head -c "$size" /dev/urandom >"$work/b.bin"

start_server --log-level debug

# Each side sends the first half, waits until the server is dead (direct path only: a relayed
# stream needs the server), then sends the rest.
[ "$expected" = direct ] || touch "$work/killed"
feed() { head -c "$half" "$1"; while [ ! -f "$work/killed" ]; do sleep 0.05; done; tail -c +"$((half + 1))" "$1"; }

started=$(date +%s%N)
b_host=${B_HOST:-b}
ns_bob=$NS_B
[ "$b_host" = a2 ] && ns_bob=$NS_A2
punch=(--punch-timeout "${PUNCH_TIMEOUT:-5}")
if [ -n "${NO_PUNCH:-}" ]; then
  # The server decides by each side's NAT verdict, which a peer reports at once from its cache of
  # the last probe on this network (a first connect ever punches beside the relay, harmlessly,
  # while its probe runs): `peer nat` leaves that verdict, as a user's earlier runs would.
  for side in b a; do
    ns=$NS_A
    [ "$side" = b ] && ns=$ns_bob
    host=$side
    [ "$side" = b ] && host=${b_host:0:1}
    ip netns exec "$ns" "$bin/peer" --server "$(server_for "$host")" --json nat >"$work/$side-nat.out" 2>&1 ||
      { echo "FAIL: peer nat ($side) failed: $(tail -3 "$work/$side-nat.out")"; exit 1; }
  done
fi
feed "$work/b.bin" | ip netns exec "$ns_bob" "$bin/peer" "${punch[@]}" --server "$(server_for "${b_host:0:1}")" --id bob --json --log-level info listen \
  >"$work/b.out" 2>"$work/b.err" &
bob=$!
pids+=($bob)
for _ in $(seq 100); do grep -q '"registered"' "$work/b.err" && break; sleep 0.05; done
feed "$work/a.bin" | ip netns exec "$NS_A" "$bin/peer" "${punch[@]}" --server "$(server_for a)" --id alice --json --log-level info \
  connect bob >"$work/a.out" 2>"$work/a.err" &
alice=$!
pids+=($alice)

for _ in $(seq 300); do grep -q '"connected"' "$work/a.err" && grep -q '"connected"' "$work/b.err" && break; sleep 0.05; done
connected=$(grep -h '"event":"connected"' "$work/a.err" || true)
[ -n "$connected" ] || { echo "FAIL: alice did not connect"; exit 1; }
connect_ms=$(sed -E 's/.*"elapsed_ms":([0-9]+).*/\1/' <<<"$connected")
path=$(sed -E 's/.*"path":"([a-z]+)".*/\1/' <<<"$connected")
remote=$(sed -E 's/.*"remote":"([^"]+)".*/\1/' <<<"$connected")
family=$(sed -E 's/.*"family":"([a-z0-9]+)".*/\1/' <<<"$connected")
direct_ms=null
if [ "$expected" = direct ] && [ "$path" = relay ]; then
  # Relay first (path auto): the session starts on the relay and moves onto the punched path once
  # it opens; from then on the server is not needed.
  for _ in $(seq 300); do grep -q '"path_changed"' "$work/a.err" && grep -q '"path_changed"' "$work/b.err" && break; sleep 0.05; done
  changed=$(grep -h '"event":"path_changed"' "$work/a.err" || true)
  if [ -n "$changed" ] && grep -q '"path_changed"' "$work/b.err"; then
    path=$(sed -E 's/.*"to":"([a-z]+)".*/\1/' <<<"$changed")
    remote=$(sed -E 's/.*"remote":"([^"]+)".*/\1/' <<<"$changed")
    family=$(sed -E 's/.*"family":"([a-z0-9]+)".*/\1/' <<<"$changed")
    direct_ms=$(sed -E 's/.*"elapsed_ms":([0-9]+).*/\1/' <<<"$changed")
  fi
fi
remote_host=${remote%:*}
remote_host=${remote_host#[}
remote_host=${remote_host%]}

if [ "$expected" = direct ]; then
  # Kill the server once half of each stream has crossed.
  wait_halfway "$half" "$work/a.out" "$work/b.out"
  kill -9 "$server"
  wait "$server" 2>/dev/null || true
  touch "$work/killed"
fi

expect_exit_ok alice "$alice"
expect_exit_ok bob "$bob"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

fail=0
cmp -s "$work/a.bin" "$work/b.out" || { echo "FAIL: bob's copy differs ($(stat -c %s "$work/b.out") bytes)"; fail=1; }
cmp -s "$work/b.bin" "$work/a.out" || { echo "FAIL: alice's copy differs ($(stat -c %s "$work/a.out") bytes)"; fail=1; }
[ "$path" = "$expected" ] || { echo "FAIL: path $path, expected $expected"; fail=1; }
[ -z "${FAMILY:-}" ] || [ "$family" = "$FAMILY" ] || { echo "FAIL: the path is $family, expected $FAMILY"; fail=1; }
if [ "$expected" = direct ]; then
  # Alice must have reached bob where he really is: through router B's public address (or bob
  # himself when he has no NAT, and always over IPv6: no translation), or on the private LAN
  # they share.
  want=$RTR_B_PUB
  [ "$KIND_B" = none ] && want=$B_IP
  [ "$b_host" = a2 ] && want=$A2_IP
  if [ "$family" = ipv6 ]; then
    want=$B_IP6
    [ "$b_host" = a2 ] && want=$A2_IP6
  fi
  [ "$remote_host" = "$want" ] || { echo "FAIL: remote $remote is not $want"; fail=1; }
fi
if [ "$expected" = direct ]; then
  grep -q '"server_lost"' "$work/a.err" || { echo "FAIL: alice never noticed the server died"; fail=1; }
else
  [ "$remote_host" = "$SERVER_IP" ] || [ "$remote_host" = "$SERVER_IP6" ] || { echo "FAIL: relayed remote $remote is not the server"; fail=1; }
fi
printf '%-10s %-10s expected=%-7s got=%-7s %-4s remote=%-22s connect_ms=%-6s direct_ms=%-6s total_ms=%s  16 MiB each way %s\n' \
  "$kind_a" "$kind_b" "$expected" "$path" "$family" "$remote" "$connect_ms" "$direct_ms" "$elapsed_ms" "$([ $fail = 0 ] && echo intact || echo BROKEN)" \
  | sed "s/16 MiB/$((size >> 20)) MiB/"
if [ -n "${MAX_CONNECT_MS:-}" ] && [ "${connect_ms:-999999}" -gt "$MAX_CONNECT_MS" ]; then
  echo "FAIL: connecting took ${connect_ms} ms, more than $MAX_CONNECT_MS"; fail=1
fi
if [ -n "${NO_PUNCH:-}" ] && grep -q "punching to" "$work/a.err" "$work/b.err"; then
  echo "FAIL: a side punched although the server knew no direct path could exist"; fail=1
fi
if [ -n "${MATRIX_RESULTS:-}" ]; then
  printf '{"scenario":"%s","a":"%s","b":"%s","expected":"%s","got":"%s","family":"%s","remote":"%s","connect_ms":%s,"direct_ms":%s,"mib_each_way":%d,"intact":%s,"ok":%s}\n' \
    "${SCENARIO:-$kind_a-$kind_b}" "$kind_a" "$( [ "$b_host" = a2 ] && echo "$kind_a (same NAT)" || echo "$kind_b")" \
    "$expected" "$path" "$family" "$remote" "${connect_ms:-null}" "$direct_ms" "$((size >> 20))" \
    "$(cmp -s "$work/a.bin" "$work/b.out" && cmp -s "$work/b.bin" "$work/a.out" && echo true || echo false)" \
    "$([ "$fail" = 0 ] && echo true || echo false)" >>"$MATRIX_RESULTS"
fi
exit "$fail"
