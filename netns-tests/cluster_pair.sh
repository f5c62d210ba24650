#!/usr/bin/env bash
# Scenario: a cluster of three rendezvous nodes on three addresses of the server host, sharing
# one real redis-server there. Bob registers on node 2, alice asks node 1 to connect to him by
# ID: node 1 coordinates (its hole-assist and relay ports serve both), node 2 hands bob his part.
# Asserts the path, 8 MiB intact each way, that node 1 coordinated an attempt to a peer on node
# 2, for a direct pair that the stream keeps flowing after both their nodes are killed halfway,
# and for a relayed pair that it was joined on node 1's relay without punching (the NAT reports
# crossed the cluster).
#
#   cluster_pair.sh BIN_DIR KIND_A KIND_B EXPECTED_PATH
#
# Exit 0 pass, 1 fail, 77 skipped (no root / no namespaces / no redis-server). Cleans up its lab.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind_a=$2 kind_b=$3 expected=$4
size=$((8 << 20))
command -v redis-server >/dev/null || { echo "SKIPPED: redis-server is not installed (scripts/install-deps.sh)"; exit 77; }

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
# This scenario asserts the punched path itself (every session on it, the server killed under it):
# punch first, not the default's relay-first start (punch_pair.sh covers that).
export PEER_PATH=${PEER_PATH:-punch-first}
scenario_start cl "$kind_a" "$kind_b"

# Node N listens on 203.0.113.(9+N) and probes from .(12+N): three public addresses, as three hosts would have.
pub_dev=$(ip -n "$NS_SERVER" -o addr show | awk -v ip="$SERVER_IP" '$4 ~ "^"ip"/" {print $2; exit}')
node_ip() { echo "203.0.113.$((9 + $1))"; }
alt_ip() { echo "203.0.113.$((12 + $1))"; }
for n in 1 2 3; do
  [ "$n" = 2 ] || ip -n "$NS_SERVER" addr add "$(node_ip "$n")/24" dev "$pub_dev" 2>/dev/null || true
  ip -n "$NS_SERVER" addr add "$(alt_ip "$n")/24" dev "$pub_dev"
done
# (.10 and .11 are the lab's SERVER_IP and SERVER_IP2 already.)

ip netns exec "$NS_SERVER" redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$NS_SERVER" ss -Hltn "sport = :6390" | grep -q . && break; sleep 0.05; done
node_pids=()
for n in 1 2 3; do
  ip netns exec "$NS_SERVER" "$bin/rendezvous" --listen "$(node_ip "$n"):7000" --alt-ip "$(alt_ip "$n")" \
    --cluster redis://127.0.0.1:6390 --node-name "n$n" --ready-file "$work/ready$n" --state "$work/state$n" \
    --log-level debug 2>"$work/node$n.err" &
  pids+=($!)
  node_pids+=($!)
done
for n in 1 2 3; do
  for _ in $(seq 200); do grep -q "holds its lease" "$work/node$n.err" 2>/dev/null && break; sleep 0.05; done
  grep -q "holds its lease" "$work/node$n.err" || { echo "FAIL: node $n did not join the cluster"; exit 1; }
done

head -c "$size" /dev/urandom >"$work/a.bin"
head -c "$size" /dev/urandom >"$work/b.bin"
half=$((size / 2))
# Each side sends the first half, waits until both nodes are dead (direct path only: a relayed
# stream needs its node), then sends the rest.
[ "$expected" = direct ] || touch "$work/killed"
feed() { head -c "$half" "$1"; while [ ! -f "$work/killed" ]; do sleep 0.05; done; tail -c +"$((half + 1))" "$1"; }
feed "$work/b.bin" | ip netns exec "$NS_B" "$bin/peer" --server "$(node_ip 2):7000" --id bob --json listen \
  >"$work/b.out" 2>"$work/b.err" &
bob=$!
pids+=($bob)
for _ in $(seq 200); do grep -q '"registered"' "$work/b.err" && break; sleep 0.05; done
# Bob's NAT report reaches the cluster (node 1 chooses the path by it).
for _ in $(seq 200); do grep -q "bob is behind" "$work/node2.err" && break; sleep 0.05; done
sleep 0.2
# Alice reports the verdict her cache holds for this network the moment she connects: `peer nat`
# leaves it (as an earlier run would), so node 1 knows both sides before the connect.
if [ "$expected" != direct ]; then
  ip netns exec "$NS_A" "$bin/peer" --server "$(node_ip 1):7000" --json nat >"$work/a-nat.out" 2>&1 ||
    { echo "FAIL: peer nat failed: $(tail -3 "$work/a-nat.out")"; exit 1; }
fi
feed "$work/a.bin" | ip netns exec "$NS_A" "$bin/peer" --server "$(node_ip 1):7000" --id alice --json connect bob \
  >"$work/a.out" 2>"$work/a.err" &
alice=$!
pids+=($alice)
if [ "$expected" = direct ]; then
  # Kill alice's node (the coordinator) and bob's once half of each stream has crossed.
  wait_halfway "$half" "$work/a.out" "$work/b.out"
  kill -9 "${node_pids[0]}" "${node_pids[1]}"
  wait "${node_pids[0]}" "${node_pids[1]}" 2>/dev/null || true
  touch "$work/killed"
fi
expect_exit_ok alice "$alice"
expect_exit_ok bob "$bob"

connected=$(grep -h '"event":"connected"' "$work/a.err" || true)
connect_ms=$(sed -E 's/.*"elapsed_ms":([0-9]+).*/\1/' <<<"$connected")
path=$(sed -E 's/.*"path":"([a-z]+)".*/\1/' <<<"$connected")
remote=$(sed -E 's/.*"remote":"([^"]+)".*/\1/' <<<"$connected")
fail=0
cmp -s "$work/a.bin" "$work/b.out" || { echo "FAIL: bob's copy differs ($(stat -c %s "$work/b.out") bytes)"; fail=1; }
cmp -s "$work/b.bin" "$work/a.out" || { echo "FAIL: alice's copy differs ($(stat -c %s "$work/a.out") bytes)"; fail=1; }
[ "$path" = "$expected" ] || { echo "FAIL: path $path, expected $expected"; fail=1; }
grep -q -- "-> bob on node n2 started" "$work/node1.err" || { echo "FAIL: node 1 did not coordinate an attempt to bob on n2"; fail=1; }
if [ "$expected" = direct ]; then
  [ "${remote%:*}" = "$RTR_B_PUB" ] || { echo "FAIL: remote $remote is not bob's router $RTR_B_PUB"; fail=1; }
else
  [ "${remote%:*}" = "$(node_ip 1)" ] || { echo "FAIL: relayed remote $remote is not node 1 (the coordinator)"; fail=1; }
  grep -q "<-> bob joined" "$work/node1.err" || { echo "FAIL: the pair was not joined on node 1's relay"; fail=1; }
  if grep -q "punching to" "$work/a.err" "$work/b.err"; then
    echo "FAIL: a side punched although node 1 knew from the cluster that no direct path could exist"; fail=1
  fi
fi
if [ "$expected" = direct ]; then
  grep -q '"server_lost"' "$work/a.err" || { echo "FAIL: alice never noticed her node died"; fail=1; }
fi
printf 'cluster: %-8s (node 1) %-8s (node 2) expected=%-7s got=%-7s remote=%-22s connect_ms=%-6s 8 MiB each way %s%s\n' \
  "$kind_a" "$kind_b" "$expected" "$path" "$remote" "$connect_ms" "$([ $fail = 0 ] && echo intact || echo BROKEN)" \
  "$([ "$expected" = direct ] && echo ', both nodes killed halfway')"
exit "$fail"
