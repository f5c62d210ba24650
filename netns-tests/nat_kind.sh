#!/usr/bin/env bash
# Scenario: `peer nat --json` behind a router of KIND reports the right mapping, filtering and
# port preservation (the server has its alternate address, so nothing is left undetermined).
#
#   nat_kind.sh BIN_DIR KIND MAPPING FILTERING PORT_PRESERVING CLASS
#
# VERDICT=ipv6 checks the IPv6 verdict instead (KIND with an IPv6 side, e.g. port+fw6: a firewall,
# no translation), which `peer nat` probes beside the IPv4 one.
# Exit 0 pass, 1 fail, 77 skipped. Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind=$2 want_mapping=$3 want_filtering=$4 want_preserving=$5 want_class=$6
# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
scenario_start nk "$kind" port
start_server

ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" nat --json >"$work/nat.json" 2>"$work/nat.err" ||
  { echo "FAIL: peer nat exited $?"; cat "$work/nat.err"; exit 1; }
got=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r=r[sys.argv[2]] if sys.argv[2] else r; print(r["mapping"], r["filtering"], str(r["port_preserving"]).lower(), r["class"].replace(" ", "_"), len(r.get("undetermined", [])))' "$work/nat.json" "${VERDICT:-}")
want="$want_mapping $want_filtering $want_preserving ${want_class// /_} 0"
printf '%-9s %s\n' "$kind" "$(cat "$work/nat.json")"
[ "$got" = "$want" ] || { echo "FAIL: got '$got', want '$want'"; exit 1; }
