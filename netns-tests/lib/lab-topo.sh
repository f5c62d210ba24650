# shellcheck shell=bash disable=SC2034  # STEP is read by the trap in netns-tests/lab
# Topology of the NAT lab: names, addresses, build and teardown.
# Sourced by netns-tests/lab; expects set -euo pipefail and the die/log helpers from there.
#
#   [a 10.1.0.2]--+                                           +--[server 203.0.113.10/.11]
#   [a2 10.1.0.3]-+-[P-lan]-rtr-a-[P-wan 203.0.113.1]--+      |
#                                                      [P-br in inet 203.0.113.254]
#   [b 10.2.0.2]----[P-lan]-rtr-b-[P-wan 203.0.113.2]--+
#
# IPv6 (dual stack; the LAN parts only when that side's V6KIND is fw6 or open6):
#   internet 2001:db8:ff::/64: inet ::fe, server ::10 and ::11, rtr-a WAN ::1, rtr-b WAN ::2
#   LAN A 2001:db8:a::/64 (rtr-a ::1, a ::2, a2 ::3), LAN B 2001:db8:b::/64 (rtr-b ::1, b ::2)
#   The public side reaches a LAN only via that LAN's router WAN address (no NAT, no direct link).
#
# Every interface is created directly inside its namespace (never in the root namespace), so
# deleting the namespaces removes the whole lab.

readonly LAB_KINDS="none full addr port sym port-rst range"   # IPv4 NAT kinds (selftest's list)
readonly LAB_V4_KINDS="$LAB_KINDS no4"                        # no4: that LAN has no IPv4 at all
readonly LAB_V6_KINDS="fw6 open6 none6"                       # none6 (default): no IPv6 on the LAN
readonly LAB_HOSTS="inet server rtr-a rtr-b a a2 b"
readonly LAB_STATE_DIR="${LAB_STATE_DIR:-/run/p2plab}"
RANGE_PORT_XOR=768   # `range`: external port = internal port XOR 768 (0x300)

INET_IP=203.0.113.254 SERVER_IP=203.0.113.10 SERVER_IP2=203.0.113.11
RTR_A_PUB=203.0.113.1 RTR_B_PUB=203.0.113.2 PUB_LEN=24
INET_IP6=2001:db8:ff::fe SERVER_IP6=2001:db8:ff::10 SERVER_IP6_2=2001:db8:ff::11
RTR_A_PUB6=2001:db8:ff::1 RTR_B_PUB6=2001:db8:ff::2 PUB6_LEN=64
HAVE6=1   # 0: the kernel has no IPv6 (preflight); then only none6 labs, without IPv6

valid_kind() { [[ " $LAB_KINDS " == *" $1 "* ]]; }        # an IPv4 NAT kind
valid_v4kind() { [[ " $LAB_V4_KINDS " == *" $1 "* ]]; }
valid_v6kind() { [[ " $LAB_V6_KINDS " == *" $1 "* ]]; }
valid_prefix() { [[ $1 =~ ^[a-z][a-z0-9]{0,7}$ ]]; }
ns_of() { echo "${P}-$1"; }                       # host name -> namespace name
state_file() { echo "$LAB_STATE_DIR/$1.env"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }

# split_kind SPEC DEFAULT_V6 -> "V4KIND V6KIND" for SPEC = V4KIND[+V6KIND]; fails if invalid.
split_kind() {
  local spec=$1 v4 v6
  v4=${spec%%+*}
  if [[ $spec == *+* ]]; then v6=${spec#*+}; else v6=$2; fi
  valid_v4kind "$v4" && valid_v6kind "$v6" || return 1
  echo "$v4 $v6"
}

# kind_spec V4KIND V6KIND -> how `up` would have been asked for it (V4KIND alone when none6).
kind_spec() { if [[ ${2:-none6} == none6 ]]; then echo "$1"; else echo "$1+$2"; fi; }

# lan_addrs SIDE KIND -> "ROUTER_LAN HOST HOST2 SUBNET LEN" (an empty line for no4)
lan_addrs() {
  local side=$1 kind=$2
  if [[ $kind == no4 ]]; then   # no IPv4 on that LAN
    echo ""
  elif [[ $kind == none ]]; then   # public subnet, routed without NAT
    if [[ $side == a ]]; then echo "198.51.100.1 198.51.100.2 198.51.100.3 198.51.100.0 28"
    else echo "198.51.100.17 198.51.100.18 198.51.100.19 198.51.100.16 28"; fi
  else
    if [[ $side == a ]]; then echo "10.1.0.1 10.1.0.2 10.1.0.3 10.1.0.0 24"
    else echo "10.2.0.1 10.2.0.2 10.2.0.3 10.2.0.0 24"; fi
  fi
}

# lan6_addrs SIDE KIND6 -> "ROUTER_LAN6 HOST6 HOST2_6 PREFIX LEN" (an empty line for none6)
lan6_addrs() {
  [[ $2 != none6 ]] || { echo ""; return; }
  if [[ $1 == a ]]; then echo "2001:db8:a::1 2001:db8:a::2 2001:db8:a::3 2001:db8:a:: 64"
  else echo "2001:db8:b::1 2001:db8:b::2 2001:db8:b::3 2001:db8:b:: 64"; fi
}

# veth NS1 IF1 NS2 IF2: one veth pair, each end created in its namespace and brought up.
veth() {
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

nsx() { local ns; ns=$(ns_of "$1"); shift; ip netns exec "$ns" "$@"; }

# no_ipv6 HOST IF: IPv6 off on interface IF of HOST (bridge ports, and LANs without IPv6).
no_ipv6() { ((!HAVE6)) || nsx "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"; }
# if6 CMD...: runs CMD when the kernel has IPv6.
if6() { ((!HAVE6)) || "$@"; }

# build_lab KIND_A KIND_B KIND_A6 KIND_B6: creates everything for prefix $P (KIND_A/B are IPv4
# kinds or no4, KIND_A6/B6 are fw6, open6 or none6). Caller tears down on failure.
build_lab() {
  local kind_a=$1 kind_b=$2 kind_a6=$3 kind_b6=$4 h inet br
  inet=$(ns_of inet) br="${P}-br"

  STEP="creating namespaces"
  for h in $LAB_HOSTS; do
    ip netns add "$(ns_of "$h")"
    ip -n "$(ns_of "$h")" link set lo up
    # IPv6 addresses are static only: no router advertisements, no SLAAC, no DAD delay.
    if6 nsx "$h" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
      net.ipv6.conf.all.autoconf=0 net.ipv6.conf.default.autoconf=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  # Hosts of a none6 LAN get no IPv6 on any interface made from now on (lo keeps ::1).
  if [[ $kind_a6 == none6 ]]; then
    for h in a a2; do if6 nsx "$h" sysctl -qw net.ipv6.conf.default.disable_ipv6=1; done
  fi
  [[ $kind_b6 != none6 ]] || if6 nsx b sysctl -qw net.ipv6.conf.default.disable_ipv6=1

  STEP="building the internet bridge"
  ip -n "$inet" link add "$br" type bridge stp_state 0
  ip -n "$inet" link set "$br" up
  ip -n "$inet" addr add "$INET_IP/$PUB_LEN" dev "$br"
  if6 ip -n "$inet" addr add "$INET_IP6/$PUB6_LEN" dev "$br" nodad

  STEP="attaching the server"
  veth "$inet" "${P}-i-srv" "$(ns_of server)" "${P}-pub"
  ip -n "$inet" link set "${P}-i-srv" master "$br"
  no_ipv6 inet "${P}-i-srv"
  ip -n "$(ns_of server)" addr add "$SERVER_IP/$PUB_LEN" dev "${P}-pub"
  ip -n "$(ns_of server)" addr add "$SERVER_IP2/$PUB_LEN" dev "${P}-pub"
  # Linux prefers the IPv6 address added last as the source: SERVER_IP6 goes last so that, as in
  # IPv4 (where the first address is primary), the server's connections come from its first address.
  if6 ip -n "$(ns_of server)" addr add "$SERVER_IP6_2/$PUB6_LEN" dev "${P}-pub" nodad
  if6 ip -n "$(ns_of server)" addr add "$SERVER_IP6/$PUB6_LEN" dev "${P}-pub" nodad

  build_side a "$kind_a" "$kind_a6" "$RTR_A_PUB" "$RTR_A_PUB6"
  build_side b "$kind_b" "$kind_b6" "$RTR_B_PUB" "$RTR_B_PUB6"

  # A `none` LAN is a public subnet: the server, the inet namespace and the other router reach it
  # through its router's WAN address. NAT'd LANs (10.x) stay unrouted from the public side.
  # An IPv6 LAN (fw6/open6) is routed the same way: only via its router's WAN, never on-link, so
  # every packet from the public side crosses that router (and its firewall).
  STEP="routing public LAN subnets"
  local side kind kind6 pub pub6 other r net len
  for side in a b; do
    if [[ $side == a ]]; then kind=$kind_a kind6=$kind_a6 pub=$RTR_A_PUB pub6=$RTR_A_PUB6 other=rtr-b
    else kind=$kind_b kind6=$kind_b6 pub=$RTR_B_PUB pub6=$RTR_B_PUB6 other=rtr-a; fi
    if [[ $kind == none ]]; then
      read -r _ _ _ net len <<<"$(lan_addrs "$side" none)"
      for r in server inet "$other"; do
        ip -n "$(ns_of "$r")" route add "$net/$len" via "$pub"
      done
    fi
    if [[ $kind6 != none6 ]]; then
      read -r _ _ _ net len <<<"$(lan6_addrs "$side" "$kind6")"
      for r in server inet "$other"; do
        ip -n "$(ns_of "$r")" -6 route add "$net/$len" via "$pub6"
      done
    fi
  done
}

# build_side SIDE KIND KIND6 WAN_IP WAN_IP6: router rtr-SIDE with its LAN bridge and hosts.
build_side() {
  local side=$1 kind=$2 kind6=$3 wan_ip=$4 wan_ip6=$5 rtr rl h1 h2 net len rl6 g1 g2 len6 spec
  rtr=$(ns_of "rtr-$side") spec=$(kind_spec "$kind" "$kind6")
  read -r rl h1 h2 net len <<<"$(lan_addrs "$side" "$kind")"
  read -r rl6 g1 g2 _ len6 <<<"$(lan6_addrs "$side" "$kind6")"

  STEP="building router $side ($spec)"
  veth "$(ns_of inet)" "${P}-i-r$side" "$rtr" "${P}-wan"
  ip -n "$(ns_of inet)" link set "${P}-i-r$side" master "${P}-br"
  no_ipv6 inet "${P}-i-r$side"
  ip -n "$rtr" addr add "$wan_ip/$PUB_LEN" dev "${P}-wan"
  if6 ip -n "$rtr" addr add "$wan_ip6/$PUB6_LEN" dev "${P}-wan" nodad
  ip -n "$rtr" link add "${P}-lan" type bridge stp_state 0
  ip -n "$rtr" link set "${P}-lan" up
  [[ $kind == no4 ]] || ip -n "$rtr" addr add "$rl/$len" dev "${P}-lan"
  if [[ $kind6 == none6 ]]; then no_ipv6 "rtr-$side" "${P}-lan"
  else ip -n "$rtr" addr add "$rl6/$len6" dev "${P}-lan" nodad; fi
  nsx "rtr-$side" sysctl -qw net.ipv4.ip_forward=1
  nsx "rtr-$side" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  if6 nsx "rtr-$side" sysctl -qw net.ipv6.conf.all.forwarding=1

  STEP="attaching hosts behind router $side"
  local host ip ip6
  if [[ $side == a ]]; then set -- a "$h1" "$g1" a2 "$h2" "$g2"; else set -- b "$h1" "$g1"; fi
  while (($#)); do
    host=$1 ip=$2 ip6=$3; shift 3
    veth "$rtr" "${P}-l-$host" "$(ns_of "$host")" "${P}-eth"
    ip -n "$rtr" link set "${P}-l-$host" master "${P}-lan"
    no_ipv6 "rtr-$side" "${P}-l-$host"
    if [[ $kind != no4 ]]; then
      ip -n "$(ns_of "$host")" addr add "$ip/$len" dev "${P}-eth"
      ip -n "$(ns_of "$host")" route add default via "$rl"
    fi
    if [[ $kind6 == none6 ]]; then
      no_ipv6 "$host" "${P}-eth"
    else
      ip -n "$(ns_of "$host")" addr add "$ip6/$len6" dev "${P}-eth" nodad
      ip -n "$(ns_of "$host")" -6 route add default via "$rl6" dev "${P}-eth"
    fi
  done

  STEP="loading nftables rules on router $side ($spec)"
  nat_rules "$kind" "$wan_ip" "${P}-wan" | ip netns exec "$rtr" nft -f -
  if [[ $kind6 == fw6 ]]; then
    fw6_rules "${P}-lan" "${P}-wan" | ip netns exec "$rtr" nft -f -
  fi
}

# write_state KIND_A KIND_B KIND_A6 KIND_B6: the env file that `lab env` prints.
write_state() {
  local kind_a=$1 kind_b=$2 kind_a6=$3 kind_b6=$4 a_ip a2_ip b_ip ra rb a_ip6 a2_ip6 b_ip6 ra6 rb6 f
  read -r ra a_ip a2_ip _ _ <<<"$(lan_addrs a "$kind_a")"
  read -r rb b_ip _ _ _ <<<"$(lan_addrs b "$kind_b")"
  read -r ra6 a_ip6 a2_ip6 _ _ <<<"$(lan6_addrs a "$kind_a6")"
  read -r rb6 b_ip6 _ _ _ <<<"$(lan6_addrs b "$kind_b6")"
  if ((!HAVE6)); then
    local SERVER_IP6="" SERVER_IP6_2="" RTR_A_PUB6="" RTR_B_PUB6="" INET_IP6=""
  fi
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
SERVER_IP6=$SERVER_IP6
SERVER_IP6_2=$SERVER_IP6_2
A_IP6=$a_ip6
A2_IP6=$a2_ip6
B_IP6=$b_ip6
RTR_A_PUB6=$RTR_A_PUB6
RTR_B_PUB6=$RTR_B_PUB6
RTR_A_LAN6=$ra6
RTR_B_LAN6=$rb6
INET_IP6=$INET_IP6
KIND_A6=$kind_a6
KIND_B6=$kind_b6
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
