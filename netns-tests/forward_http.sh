#!/usr/bin/env bash
# Scenario: a private HTTP service on host a (behind a NAT of KIND_A) is used from host b (behind
# a NAT of KIND_B) through `peer forward` on b to `peer online` on a: 20 concurrent fetches of a
# 300 KB page, all intact, over one session, direct or relayed as the NATs allow.
#
#   forward_http.sh BIN_DIR KIND_A KIND_B EXPECTED_PATH
#
# Exit 0 pass, 1 fail, 77 skipped. Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind_a=${2:-port} kind_b=${3:-port} expected=${4:-direct}

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
# This scenario asserts the punched path itself (every session on it, the server killed under it):
# punch first, not the default's relay-first start (punch_pair.sh covers that).
export PEER_PATH=${PEER_PATH:-punch-first}
scenario_start fw "$kind_a" "$kind_b"

mkdir -p "$work/www"
head -c 300000 /dev/urandom | base64 >"$work/www/page.txt"
start_web "$NS_A" 8080 "$work/www"
start_server
ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" --id web --json online \
  --allow 127.0.0.1:8080 2>"$work/online.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '"registered"' "$work/online.err" && break; sleep 0.05; done
ip netns exec "$NS_B" "$bin/peer" --server "$SERVER_IP:7000" --json forward web \
  --listen 18080 --target 127.0.0.1:8080 2>"$work/forward.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '"forwarding"' "$work/forward.err" && break; sleep 0.05; done
grep -q '"forwarding"' "$work/forward.err" || { echo "FAIL: forward did not start"; cat "$work/forward.err"; exit 1; }

# 20 fetches at once through b's local port.
fail=0
ip netns exec "$NS_B" python3 - "$work" <<'PY' || fail=1
import concurrent.futures, sys, urllib.request
work = sys.argv[1]
want = open(f"{work}/www/page.txt", "rb").read()
def fetch(i):
    return urllib.request.urlopen("http://127.0.0.1:18080/page.txt", timeout=30).read() == want
with concurrent.futures.ThreadPoolExecutor(20) as pool:
    results = list(pool.map(fetch, range(20)))
print(f"{sum(results)} of 20 fetches intact")
sys.exit(0 if all(results) else 1)
PY
path=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "connected": print(e["path"]); break' "$work/online.err")
attempts=$(grep -c 'started (path' "$work/server.log" || true)
echo "path: ${path:-none} (expected $expected), attempts: $attempts"
[ "$path" = "$expected" ] || { echo "FAIL: path ${path:-none}, expected $expected"; fail=1; }
[ "$attempts" = 1 ] || { echo "FAIL: $attempts attempts, expected 1 (one session for all fetches)"; fail=1; }
exit "$fail"
