# shellcheck shell=bash
# nftables rules of each NAT kind (RFC 4787 / RFC 5382 terms). Sourced by netns-tests/lab.
#
# kind      mapping                         filtering                    port preserving
# none      -- (public LAN, plain routing)  --                           --
# no4       -- (the LAN has no IPv4)        --                           --
# full      endpoint-independent            endpoint-independent         yes
# addr      endpoint-independent            address-dependent            yes
# port      endpoint-independent            address+port-dependent       yes
# port-rst  endpoint-independent            address+port-dependent, RST  yes
# sym       address+port-dependent          address+port-dependent       no (fully random)
# range     endpoint-independent            address+port-dependent       no (port XOR 768)
#
# Unsolicited inbound TCP on the WAN is dropped silently (RFC 5382 REQ-4), both towards the router's
# own stack (which would otherwise answer with RST) and towards the LAN; `port-rst` answers with RST.
# Invalid TCP (e.g. a stray segment of a dead connection) is dropped so the router's stack never
# answers it with RST either.
#
# IPv6 is never translated. A router's V6KIND decides what happens to it (fw6_rules below):
# fw6    stateful firewall (table ip6 labfw6): out from the LAN and replies in; unsolicited inbound
#        dropped silently -- the firewall a TCP simultaneous open has to cross
# open6  routed, no firewall (no ip6 table at all)
# none6  no IPv6 on the LAN (nothing to load)

# nat_rules KIND WAN_IP WAN_IF: prints an nft script (one table `labnat`) for the router.
nat_rules() {
  local kind=$1 pub=$2 wan=$3 snat unsolicited=drop
  [[ $kind == none || $kind == no4 ]] && { echo "table ip labnat { }"; return; }

  case $kind in
    sym) snat="oifname \"$wan\" snat ip to $pub fully-random" ;;
    range)
      # Endpoint-independent but not port-preserving: a fixed bijection on ports, so the same
      # internal port always gets the same external one whatever the destination.
      # Port $RANGE_PORT_XOR itself (it would map to 0) falls through to plain SNAT.
      snat="oifname \"$wan\" tcp sport != $RANGE_PORT_XOR snat ip to $pub : tcp sport xor $RANGE_PORT_XOR
    oifname \"$wan\" udp sport != $RANGE_PORT_XOR snat ip to $pub : udp sport xor $RANGE_PORT_XOR
    oifname \"$wan\" snat ip to $pub" ;;
    *) snat="oifname \"$wan\" snat ip to $pub" ;;
  esac
  [[ $kind == port-rst ]] && unsolicited="reject with tcp reset"

  cat <<EOF
table ip labnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    $snat
  }
  chain guard_local {
    type filter hook input priority filter; policy accept;
    iifname "$wan" ct state new meta l4proto tcp $unsolicited
    iifname "$wan" ct state invalid meta l4proto tcp drop
  }
  chain guard_forward {
    type filter hook forward priority filter; policy accept;
    iifname "$wan" ct state new ct status dnat accept
    iifname "$wan" ct state new drop
  }
EOF
  if [[ $kind == full || $kind == addr ]]; then
    # Learn "mapped port -> internal ip.port" (and for `addr`, "mapped port . remote ip") after
    # SNAT has chosen the port, then DNAT new inbound connections through the learned map.
    # Every outgoing packet refreshes the entries; they expire 5 min after the last one.
    local gate=""
    [[ $kind == addr ]] && gate="tcp dport . ip saddr @contacted "
    cat <<EOF
  map cone { type inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout 5m; }
  set contacted { type inet_service . ipv4_addr; flags dynamic,timeout; timeout 5m; }
  chain learn {
    type filter hook postrouting priority srcnat + 1; policy accept;
    oifname "$wan" ct direction original meta l4proto tcp update @cone { ct reply proto-dst : ct original ip saddr . ct original proto-src }
    oifname "$wan" ct direction original meta l4proto tcp update @contacted { ct reply proto-dst . ip daddr }
  }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$wan" ct state new meta l4proto tcp ${gate}dnat ip to tcp dport map @cone
  }
EOF
  fi
  echo "}"
}

# fw6_rules LAN_IF WAN_IF: prints an nft script (one table `labfw6`, IPv6 only, separate from the
# IPv4 `labnat`) for a fw6 router. Replies (established) and ICMPv6 errors about a known flow
# (related) come in; whatever the LAN sends goes out; everything else arriving from the WAN --
# new connections, echo requests, invalid or stray segments -- is dropped without an answer.
# A simultaneous open passes: the peer's SYN matches the conntrack entry the LAN host's own SYN
# created, so it counts as established. `iifname LAN` (not `oifname WAN`) because bridged LAN-to-LAN
# traffic also runs through this hook when br_netfilter is loaded (bridge-nf-call-ip6tables).
fw6_rules() {
  local lan=$1 wan=$2
  cat <<EOF
table ip6 labfw6 {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "$lan" accept
  }
  chain guard_local {
    type filter hook input priority filter; policy accept;
    iifname "$wan" ct state new meta l4proto tcp drop
    iifname "$wan" ct state invalid meta l4proto tcp drop
  }
}
EOF
}
