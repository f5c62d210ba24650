# shellcheck shell=bash disable=SC2034  # STEP is read by the trap in netns-tests/lab
# Topology of the NAT lab: names, addresses, build and teardown.
# Sourced by netns-tests/lab; expects set -euo pipefail and the die/log helpers from there.
#
#   [a 10.1.0.2]--+                                           +--[server 203.0.113.10/.11]
#   [a2 10.1.0.3]-+-[P-lan]-rtr-a-[P-wan 203.0.113.1]--+      |
#                                                      [P-br in inet 203.0.113.254]
#   [b 10.2.0.2]----[P-lan]-rtr-b-[P-wan 203.0.113.2]--+
#
# Every interface is created directly inside its namespace (never in the root namespace), so
# deleting the namespaces removes the whole lab.

readonly LAB_KINDS="none full addr port sym port-rst range"
readonly LAB_HOSTS="inet server rtr-a rtr-b a a2 b"
readonly LAB_STATE_DIR="${LAB_STATE_DIR:-/run/p2plab}"
RANGE_PORT_XOR=768   # `range`: external port = internal port XOR 768 (0x300)

INET_IP=203.0.113.254 SERVER_IP=203.0.113.10 SERVER_IP2=203.0.113.11
RTR_A_PUB=203.0.113.1 RTR_B_PUB=203.0.113.2 PUB_LEN=24

valid_kind() { [[ " $LAB_KINDS " == *" $1 "* ]]; }
valid_prefix() { [[ $1 =~ ^[a-z][a-z0-9]{0,7}$ ]]; }
ns_of() { echo "${P}-$1"; }                       # host name -> namespace name
state_file() { echo "$LAB_STATE_DIR/$1.env"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }

# lan_addrs SIDE KIND -> "ROUTER_LAN HOST HOST2 SUBNET LEN"
lan_addrs() {
  local side=$1 kind=$2
  if [[ $kind == none ]]; then   # public subnet, routed without NAT
    if [[ $side == a ]]; then echo "198.51.100.1 198.51.100.2 198.51.100.3 198.51.100.0 28"
    else echo "198.51.100.17 198.51.100.18 198.51.100.19 198.51.100.16 28"; fi
  else
    if [[ $side == a ]]; then echo "10.1.0.1 10.1.0.2 10.1.0.3 10.1.0.0 24"
    else echo "10.2.0.1 10.2.0.2 10.2.0.3 10.2.0.0 24"; fi
  fi
}

# veth NS1 IF1 NS2 IF2: one veth pair, each end created in its namespace and brought up.
veth() {
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

nsx() { local ns; ns=$(ns_of "$1"); shift; ip netns exec "$ns" "$@"; }

# build_lab KIND_A KIND_B: creates everything for prefix $P. Caller tears down on failure.
build_lab() {
  local kind_a=$1 kind_b=$2 h inet br
  inet=$(ns_of inet) br="${P}-br"

  STEP="creating namespaces"
  for h in $LAB_HOSTS; do
    ip netns add "$(ns_of "$h")"
    ip -n "$(ns_of "$h")" link set lo up
  done

  STEP="building the internet bridge"
  ip -n "$inet" link add "$br" type bridge stp_state 0
  ip -n "$inet" link set "$br" up
  ip -n "$inet" addr add "$INET_IP/$PUB_LEN" dev "$br"

  STEP="attaching the server"
  veth "$inet" "${P}-i-srv" "$(ns_of server)" "${P}-pub"
  ip -n "$inet" link set "${P}-i-srv" master "$br"
  ip -n "$(ns_of server)" addr add "$SERVER_IP/$PUB_LEN" dev "${P}-pub"
  ip -n "$(ns_of server)" addr add "$SERVER_IP2/$PUB_LEN" dev "${P}-pub"

  build_side a "$kind_a" "$RTR_A_PUB"
  build_side b "$kind_b" "$RTR_B_PUB"

  # A `none` LAN is a public subnet: the server, the inet namespace and the other router reach it
  # through its router's WAN address. NAT'd LANs (10.x) stay unrouted from the public side.
  STEP="routing public LAN subnets"
  local side kind pub other r net len
  for side in a b; do
    if [[ $side == a ]]; then kind=$kind_a pub=$RTR_A_PUB other=rtr-b
    else kind=$kind_b pub=$RTR_B_PUB other=rtr-a; fi
    [[ $kind == none ]] || continue
    read -r _ _ _ net len <<<"$(lan_addrs "$side" none)"
    for r in server inet "$other"; do
      ip -n "$(ns_of "$r")" route add "$net/$len" via "$pub"
    done
  done
}

# build_side SIDE KIND WAN_IP: router rtr-SIDE with its LAN bridge and hosts.
build_side() {
  local side=$1 kind=$2 wan_ip=$3 rtr rl h1 h2 net len
  rtr=$(ns_of "rtr-$side")
  read -r rl h1 h2 net len <<<"$(lan_addrs "$side" "$kind")"

  STEP="building router $side ($kind)"
  veth "$(ns_of inet)" "${P}-i-r$side" "$rtr" "${P}-wan"
  ip -n "$(ns_of inet)" link set "${P}-i-r$side" master "${P}-br"
  ip -n "$rtr" addr add "$wan_ip/$PUB_LEN" dev "${P}-wan"
  ip -n "$rtr" link add "${P}-lan" type bridge stp_state 0
  ip -n "$rtr" link set "${P}-lan" up
  ip -n "$rtr" addr add "$rl/$len" dev "${P}-lan"
  nsx "rtr-$side" sysctl -qw net.ipv4.ip_forward=1
  nsx "rtr-$side" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

  STEP="attaching hosts behind router $side"
  local host ip
  if [[ $side == a ]]; then set -- a "$h1" a2 "$h2"; else set -- b "$h1"; fi
  while (($#)); do
    host=$1 ip=$2; shift 2
    veth "$rtr" "${P}-l-$host" "$(ns_of "$host")" "${P}-eth"
    ip -n "$rtr" link set "${P}-l-$host" master "${P}-lan"
    ip -n "$(ns_of "$host")" addr add "$ip/$len" dev "${P}-eth"
    ip -n "$(ns_of "$host")" route add default via "$rl"
  done

  STEP="loading nftables rules on router $side ($kind)"
  nat_rules "$kind" "$wan_ip" "${P}-wan" | ip netns exec "$rtr" nft -f -
}

# write_state KIND_A KIND_B: the env file that `lab env` prints.
write_state() {
  local kind_a=$1 kind_b=$2 a_ip a2_ip b_ip ra rb f
  read -r ra a_ip a2_ip _ _ <<<"$(lan_addrs a "$kind_a")"
  read -r rb b_ip _ _ _ <<<"$(lan_addrs b "$kind_b")"
  mkdir -p "$LAB_STATE_DIR"
  f=$(state_file "$P")
  cat >"$f.tmp" <<EOF
LAB_PREFIX=$P
LAB_STATE_FILE=$f
NS_SERVER=$(ns_of server)
NS_A=$(ns_of a)
NS_A2=$(ns_of a2)
NS_B=$(ns_of b)
NS_RTR_A=$(ns_of rtr-a)
NS_RTR_B=$(ns_of rtr-b)
NS_INET=$(ns_of inet)
SERVER_IP=$SERVER_IP
SERVER_IP2=$SERVER_IP2
A_IP=$a_ip
A2_IP=$a2_ip
B_IP=$b_ip
RTR_A_PUB=$RTR_A_PUB
RTR_B_PUB=$RTR_B_PUB
RTR_A_LAN=$ra
RTR_B_LAN=$rb
INET_IP=$INET_IP
KIND_A=$kind_a
KIND_B=$kind_b
RANGE_PORT_XOR=$RANGE_PORT_XOR
EOF
  mv "$f.tmp" "$f"
}

# teardown PREFIX: kill what runs inside the lab's namespaces, delete them, drop the state file.
# Idempotent; never fails.
teardown() {
  local p=$1 h ns pids
  for h in $LAB_HOSTS probe; do
    ns="$p-$h"
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sleep 0.3
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
  # Nothing is created in the root namespace, but clean up strays of older/partial runs anyway.
  local dev
  for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$p-" || true); do
    ip link del "$dev" 2>/dev/null || true
  done
  rm -f "$(state_file "$p")" "$(state_file "$p").tmp"
  rm -rf "$LAB_STATE_DIR/$p.d"
}
