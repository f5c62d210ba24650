#!/usr/bin/env bash
# Scenario: a direct path dies mid-transfer and the session goes back to the relay. Two peers
# behind port-restricted NATs connect (relay first, then the punched path); a third of the way
# through MIB MiB each way, router A starts dropping everything to and from router B's public
# address (as a NAT that lost its mapping would), with the rest of each stream written into the
# hole. Asserts: path_lost and path_changed {from: direct, to: relay} on both sides within a
# third of --dead-after (default 30 s) of the cut, the server's log names the resume, and both
# copies arrive intact (what was written into the hole is sent again on the relay).
#
#   path_fallback.sh BIN_DIR [MIB]
#
# Exit 0 pass, 1 fail, 77 skipped (no root / no namespaces). Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
size=$((${2:-100} << 20))
third=$((size / 3))
dead_after_ms=30000

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
scenario_start pf port port

head -c "$size" /dev/urandom >"$work/a.bin"
head -c "$size" /dev/urandom >"$work/b.bin"
start_server --log-level debug

# Each side sends a third, waits for the cut, then sends the rest.
feed() { head -c "$third" "$1"; while [ ! -f "$work/cut" ]; do sleep 0.05; done; tail -c +"$((third + 1))" "$1"; }
feed "$work/b.bin" | ip netns exec "$NS_B" "$bin/peer" --server "$SERVER_IP:7000" --id bob --json --log-level info listen \
  >"$work/b.out" 2>"$work/b.err" &
bob=$!
pids+=($bob)
for _ in $(seq 100); do grep -q '"registered"' "$work/b.err" && break; sleep 0.05; done
feed "$work/a.bin" | ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" --id alice --json --log-level info \
  connect bob >"$work/a.out" 2>"$work/a.err" &
alice=$!
pids+=($alice)

for _ in $(seq 300); do grep -q '"to":"direct"' "$work/a.err" && grep -q '"to":"direct"' "$work/b.err" && break; sleep 0.05; done
grep -q '"to":"direct"' "$work/a.err" && grep -q '"to":"direct"' "$work/b.err" ||
  { echo "FAIL: the session never moved to the direct path"; exit 1; }
wait_halfway "$third" "$work/a.out" "$work/b.out"

# The cut: router A drops the direct path both ways; the relay (the server's address) still works.
ip netns exec "$NS_RTR_A" nft -f - <<NFT
table inet ${prefix}cut {
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip daddr $RTR_B_PUB drop
    ip saddr $RTR_B_PUB drop
  }
}
NFT
cut_at=$(date +%s%N)
touch "$work/cut"

for _ in $(seq 400); do grep -q '"to":"relay"' "$work/a.err" && grep -q '"to":"relay"' "$work/b.err" && break; sleep 0.05; done
back_ms=$(( ($(date +%s%N) - cut_at) / 1000000 ))
expect_exit_ok alice "$alice"
expect_exit_ok bob "$bob"

fail=0
cmp -s "$work/a.bin" "$work/b.out" || { echo "FAIL: bob's copy differs ($(stat -c %s "$work/b.out") bytes)"; fail=1; }
cmp -s "$work/b.bin" "$work/a.out" || { echo "FAIL: alice's copy differs ($(stat -c %s "$work/a.out") bytes)"; fail=1; }
for side in a b; do
  grep -q '"event":"path_lost"' "$work/$side.err" || { echo "FAIL: $side saw no path_lost"; fail=1; }
  grep '"event":"path_changed"' "$work/$side.err" | grep '"from":"direct"' | grep -q '"to":"relay"' ||
    { echo "FAIL: $side never went back to the relay"; fail=1; }
done
grep -q "resuming a session whose path was lost" "$work/server.log" || { echo "FAIL: the server's log names no resume"; fail=1; }
[ "$back_ms" -le $((dead_after_ms / 3)) ] || { echo "FAIL: back on the relay $back_ms ms after the cut, more than a third of --dead-after"; fail=1; }
lost_ms=$(grep -h '"to":"relay"' "$work/a.err" | sed -E 's/.*"lost_ms":([0-9]+).*/\1/')
intact=$(cmp -s "$work/a.bin" "$work/b.out" && cmp -s "$work/b.bin" "$work/a.out" && echo intact || echo BROKEN)
printf 'port ↔ port: direct, cut after %d MiB; back on the relay %s ms after the cut (resumed %s ms after the loss was noticed); %d MiB each way %s\n' \
  "$((third >> 20))" "$back_ms" "$lost_ms" "$((size >> 20))" "$intact"
exit "$fail"
