#!/usr/bin/env bash
# Cluster benchmark, one run on loopback: a single node (no Redis) against three nodes sharing one
# redis-server. Registrations per second (5,000 new IDs, each node taking a random share in the
# cluster), connect-by-ID latency (`connect` to both sides joined at the relay, 200 pairs: both
# sides on one node, then on two), 300 relayed pairs placed as peers with a --server list place
# themselves (how they spread over the nodes, by each node's own log, and their throughput), and
# a node killed under 5,000 registered peers (its peers re-home on the others: none lost, none
# counted twice). Prints one table with ratios and the goals.
#   bench/cluster_bench.sh [PEERS] [RELAY_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${1:-5000}
relay_mib=${2:-3000}
scripts/install-deps.sh
scripts/build.sh >/dev/null
bin=build/bin
# shellcheck source=lib.sh
source bench/lib.sh

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_listen "$redis_port" redis-server

# start_node N: cluster node nN on free loopback ports; sets node_port[N] and node_pid[N].
declare -A node_port node_pid
start_node() {
  "$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/ready$1" --log-level info --stats-interval 0 \
    --state "$work/state$1" --cluster "redis://127.0.0.1:$redis_port" --node-name "n$1" 2>"$work/node$1.log" &
  node_pid[$1]=$!
  pids+=($!)
  for _ in $(seq 100); do [ -f "$work/ready$1" ] && grep -q "holds its lease" "$work/node$1.log" && break; sleep 0.05; done
  node_port[$1]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["main"])' "$work/ready$1")
}

echo "cluster benchmark: $peers registrations, $relay_mib MiB over 300 relayed pairs, loopback, $(nproc) cores, $(uname -r)"
# The single node: registrations, connect latency, relayed pairs.
start_server --log-level info
"$bin/register_bench" --port "$main_port" --peers "$peers" --prefix single --server-pid "$server_pid" |
  sed 's/^{/{"setup":"single",/' >>"$work/results"
"$bin/relay_bench" --mode relay --port "$main_port" --streams 200 --total-mib 0 |
  sed 's/^{/{"setup":"single","what":"latency",/' >>"$work/results"
"$bin/relay_bench" --mode relay --port "$main_port" --streams 300 --total-mib "$relay_mib" |
  sed 's/^{/{"setup":"single","what":"pairs",/' >>"$work/results"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true

start_node 1
start_node 2
start_node 3
ports="${node_port[1]},${node_port[2]},${node_port[3]}"
"$bin/register_bench" --ports "$ports" --peers "$peers" --prefix cluster |
  sed 's/^{/{"setup":"cluster",/' >>"$work/results"
"$bin/relay_bench" --mode relay --ports "$ports" --placement same --streams 200 --total-mib 0 |
  sed 's/^{/{"setup":"cluster","what":"latency",/' >>"$work/results"
"$bin/relay_bench" --mode relay --ports "$ports" --placement cross --streams 200 --total-mib 0 |
  sed 's/^{/{"setup":"cluster","what":"latency",/' >>"$work/results"
for n in 1 2 3; do grep -c "started (path relay" "$work/node$n.log" >"$work/before$n" || true; done
"$bin/relay_bench" --mode relay --ports "$ports" --placement random --streams 300 --total-mib "$relay_mib" |
  sed 's/^{/{"setup":"cluster","what":"pairs",/' >>"$work/results"
# Each node's own count of the relayed attempts it coordinated in that run.
joined=()
for n in 1 2 3; do joined+=($(($(grep -c "started (path relay" "$work/node$n.log" || true) - $(cat "$work/before$n")))); done
echo "{\"setup\":\"cluster\",\"what\":\"joined_per_node\",\"joined\":[${joined[0]},${joined[1]},${joined[2]}]}" >>"$work/results"
# Node 2 killed under $peers registered peers; its peers re-home on nodes 1 and 3 (disowned: the
# benchmark tool kills it, and bash need not report that).
disown "${node_pid[2]}"
"$bin/register_bench" --ports "$ports" --peers "$peers" --prefix kill --kill-pid "${node_pid[2]}" --kill-port "${node_port[2]}" |
  sed 's/^{/{"setup":"cluster","what":"kill",/' >>"$work/results" || true
keep_files "$work/results" "$work"/node*.log

python3 - "$work/results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def row(setup, what=None, **match):
    for r in rows:
        if r.get("setup") == setup and r.get("what") == what and all(r.get(k) == v for k, v in match.items()):
            return r
    raise SystemExit(f"missing result {setup} {what} {match}")
reg1, reg3 = row("single", None), row("cluster", None)
lat1 = row("single", "latency")
lat_same, lat_cross = row("cluster", "latency", placement="same"), row("cluster", "latency", placement="cross")
pairs1, pairs3 = row("single", "pairs"), row("cluster", "pairs")
joined = row("cluster", "joined_per_node")["joined"]
kill = row("cluster", "kill")["node_kill"]
print()
print("| measure | single node | three nodes, one Redis | ratio |")
print("|---|---|---|---|")
print(f"| registrations/s ({reg1['peers']} new IDs) | {reg1['registrations_per_s']:.0f} | {reg3['registrations_per_s']:.0f} | {reg3['registrations_per_s']/reg1['registrations_per_s']:.2f}x |")
print(f"| connect to joined p50 / p99 ms, both on one node | {lat1['connect_ms_p50']:.2f} / {lat1['connect_ms_p99']:.2f} | {lat_same['connect_ms_p50']:.2f} / {lat_same['connect_ms_p99']:.2f} | |")
print(f"| connect to joined p50 / p99 ms, sides on two nodes | – | {lat_cross['connect_ms_p50']:.2f} / {lat_cross['connect_ms_p99']:.2f} | +{lat_cross['connect_ms_p50']-lat1['connect_ms_p50']:.2f} ms p50 |")
print(f"| 300 relayed pairs, Gbit/s | {pairs1['gbit_per_s']:.2f} | {pairs3['gbit_per_s']:.2f} | {pairs3['gbit_per_s']/pairs1['gbit_per_s']:.2f}x |")
even = sum(joined) / 3
spread = max(abs(j - even) / even for j in joined) if even else 1
print(f"| pairs joined per node (each node's log) | 300 | {' / '.join(map(str, joined))} | ±{spread:.0%} of even |")
print(f"| node killed under {kill['orphans']} of its peers | – | re-homed {kill['rehomed']} in {kill['rehome_seconds']:.1f} s, lost {kill['lost']}, list shows {kill['listed_total']} | |")
print()
goal = lambda ok: "met" if ok else "NOT met"
print(f"goal: cross-node connect p50 within 5 ms of single-node: +{lat_cross['connect_ms_p50']-lat1['connect_ms_p50']:.2f} ms, {goal(lat_cross['connect_ms_p50']-lat1['connect_ms_p50'] <= 5)}")
print(f"goal: relayed pairs within ±20% of even: ±{spread:.0%}, {goal(spread <= 0.2)}")
print(f"goal: no registration lost or duplicated under a node kill: lost {kill['lost']}, listed {kill['listed_total']} of {row('cluster','kill')['registered']}, {goal(kill['lost'] == 0 and kill['listed_matches'])}")
PY
