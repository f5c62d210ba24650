#!/usr/bin/env bash
# Scenario: behind a router of KIND, the mapping test through a standard STUN server (coturn on
# the server host's two addresses, RFC 5780) agrees with our own probe on mapping and port
# preservation.
#
#   stun_agrees.sh BIN_DIR KIND
#
# Exit 0 pass, 1 fail, 77 skipped (no root, or coturn not installed). Cleans up even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind=$2
command -v turnserver >/dev/null || { echo "SKIPPED: coturn's turnserver is not installed (apt-get install coturn)"; exit 77; }
# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
scenario_start st "$kind" port
start_server

ip netns exec "$NS_SERVER" turnserver -n --no-cli -S -L "$SERVER_IP" -L "$SERVER_IP2" --listening-port 3478 \
  --alt-listening-port 3479 --no-tls --no-dtls --log-file stdout --simple-log >"$work/coturn.err" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$NS_SERVER" ss -ltn | grep -q "$SERVER_IP2:3479" && break; sleep 0.05; done

fields() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["mapping"], str(r["port_preserving"]).lower())' "$1"; }
ip netns exec "$NS_A" "$bin/peer" nat --stun "$SERVER_IP:3478" --json >"$work/stun.json" 2>"$work/stun.err" ||
  { echo "FAIL: peer nat --stun exited $?"; cat "$work/stun.err"; exit 1; }
ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" nat --json >"$work/ours.json" 2>"$work/ours.err" ||
  { echo "FAIL: peer nat exited $?"; cat "$work/ours.err"; exit 1; }
stun=$(fields "$work/stun.json")
ours=$(fields "$work/ours.json")
printf '%-9s stun: %-40s ours: %s\n' "$kind" "$stun" "$ours"
[ "$stun" = "$ours" ] || { echo "FAIL: STUN says '$stun', our probe says '$ours'"; cat "$work/stun.json"; exit 1; }
