#!/usr/bin/env bash
# Tunnel throughput benchmark on loopback (issue 14): one iperf3 server reached five ways, all
# started by this script, each measured by iperf3 at 1 and at 8 parallel streams:
#   raw      iperf3 -> iperf3 (the limit)
#   socat    iperf3 -> socat (TCP-LISTEN fork) -> iperf3
#   ssh      iperf3 -> ssh -L (aes256-gcm@openssh.com) -> a private `sshd -D` on a loopback port -> iperf3
#   stunnel  iperf3 -> stunnel client -> TLS 1.3 TLS_AES_256_GCM_SHA384 -> stunnel server -> iperf3
#   ours     iperf3 -> peer forward -> (session, direct on loopback) -> peer online -> iperf3
# Prints one table (Gbit/s received, iperf3's end.sum_received), the goals (ours >= 1.5x stunnel and
# >= 1.5x ssh at 1 and at 8 streams; PASS/MISS, a MISS does not fail the run), ours/raw for
# reference, and the CPU of our two peer processes during the 8-stream run.
#   bench/tunnel_bench.sh [--smoke] [SECONDS]        SECONDS per iperf3 run (default 10)
#   --smoke: 1 s runs of every path at 1 stream only; exits 1 if a run errors or moves 0 bytes
#   --paths LIST: a comma-separated subset of raw,socat,ssh,stunnel,ours
# BENCH_BIN=DIR skips install and build and uses the binaries there (the CTest smoke run);
# BENCH_KEEP=DIR keeps iperf3's JSON and the relays' logs there.
# Exits 77 (skipped) when iperf3, socat or python3 are missing and it was not allowed to install them.
set -euo pipefail
command_line="$(printf '%q ' "$0" "$@")"
[ -n "${BENCH_BIN:-}" ] && command_line="BENCH_BIN=$BENCH_BIN $command_line"
cd "$(dirname "$0")/.."

duration=10
paths=raw,socat,ssh,stunnel,ours
smoke_paths=
# shellcheck source=args.sh
source bench/args.sh
bench_args "$@"
streams=(1 8)
[ "$smoke" = 1 ] && streams=(1)

# shellcheck source=binaries.sh
source bench/binaries.sh
# shellcheck source=../scripts/lib/private_sshd.sh
source scripts/lib/private_sshd.sh
export PATH=$PATH:/usr/sbin  # sshd
for tool in iperf3 socat python3 ss; do
  command -v "$tool" >/dev/null ||
    { echo "SKIPPED: $tool not found (scripts/install-deps.sh installs iperf3, socat)"; exit 77; }
done
if want ssh && ! private_sshd_usable; then
  echo "note: the ssh -L path needs root and OpenSSH (sshd, ssh, ssh-keygen); left out"
  drop ssh
fi
if want stunnel; then
  if ! command -v stunnel4 >/dev/null || ! command -v openssl >/dev/null; then
    echo "note: the stunnel path needs stunnel4 and openssl; left out"
    drop stunnel
  fi
fi

# shellcheck source=lib.sh
source bench/lib.sh
tunnel_cleanup() {
  kill_started
  keep_files "$work"/iperf-*.json "$work"/*.log "$work"/*.err "$work/results" "$work/ssh" "$work/stunnel"
  bench_cleanup
}
trap tunnel_cleanup EXIT


# --- iperf3, one persistent server shared by every path (the runs are sequential) -------------------
iperf_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
wait_listen "$iperf_port" "iperf3 -s" || { cat "$work/iperf3-server.log" >&2; exit 1; }
declare -A port=([raw]=$iperf_port)

# --- socat, one forking relay -----------------------------------------------------------------------
if want socat; then
  port[socat]=$(free_port)
  socat TCP-LISTEN:"${port[socat]}",bind=127.0.0.1,fork,reuseaddr,backlog=1024 TCP:127.0.0.1:"$iperf_port" \
    2>"$work/socat.err" &
  pids+=($!)
  wait_listen "${port[socat]}" socat
fi

# --- ssh -L (aes256-gcm) through a private sshd ------------------------------------------------------
if want ssh; then
  sshd_port=$(free_port)
  port[ssh]=$(free_port)
  write_private_sshd "$work/ssh" "$sshd_port" "[127.0.0.1]:$sshd_port" tunnel_bench
  cat >>"$work/ssh/sshd_config" <<EOF
Ciphers aes256-gcm@openssh.com
AllowTcpForwarding local
EOF
  start_private_sshd "$work/ssh" "$sshd_port"
  private_ssh "$work/ssh" "$sshd_port" -c aes256-gcm@openssh.com -L "127.0.0.1:${port[ssh]}:127.0.0.1:$iperf_port"
  wait_listen "${port[ssh]}" "ssh -L" || { cat "$work/ssh/ssh.err" "$work/ssh/sshd.err" >&2; exit 1; }
fi

# --- stunnel, TLS 1.3 with AES-256-GCM: a client instance and a server instance ---------------------
if want stunnel; then
  mkdir -p "$work/stunnel"
  st_server=$(free_port)
  port[stunnel]=$(free_port)
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -keyout "$work/stunnel/key.pem" -out "$work/stunnel/cert.pem" 2>/dev/null
  for side in server client; do
    {
      echo "foreground = yes"
      echo "pid = $work/stunnel/$side.pid"
      echo "debug = warning"
      echo "[$side]"
      echo "sslVersion = TLSv1.3"
      echo "ciphersuites = TLS_AES_256_GCM_SHA384"
      if [ "$side" = server ]; then
        echo "accept = 127.0.0.1:$st_server"
        echo "connect = 127.0.0.1:$iperf_port"
        echo "cert = $work/stunnel/cert.pem"
        echo "key = $work/stunnel/key.pem"
      else
        echo "client = yes"
        echo "accept = 127.0.0.1:${port[stunnel]}"
        echo "connect = 127.0.0.1:$st_server"
        echo "CAfile = $work/stunnel/cert.pem"
        echo "verifyPeer = yes"
      fi
    } >"$work/stunnel/$side.conf"
    stunnel4 "$work/stunnel/$side.conf" 2>"$work/stunnel/$side.err" &
    pids+=($!)
  done
  wait_listen "$st_server" "stunnel (server)" || { cat "$work/stunnel/server.err" >&2; exit 1; }
  wait_listen "${port[stunnel]}" "stunnel (client)" || { cat "$work/stunnel/client.err" >&2; exit 1; }
fi

# --- ours: rendezvous, peer online --allow, peer forward ---------------------------------------------
if want ours; then
  start_server
  "$bin/peer" --server "127.0.0.1:$main_port" --id box --identity "$work/box.key" --json online \
    --allow "127.0.0.1:$iperf_port" 2>"$work/online.err" &
  online_pid=$!
  pids+=($!)
  for _ in $(seq 200); do grep -q '"registered"' "$work/online.err" && break; sleep 0.05; done
  grep -q '"registered"' "$work/online.err" || { echo "tunnel_bench: peer online did not register" >&2; cat "$work/online.err" >&2; exit 1; }
  port[ours]=$(free_port)
  "$bin/peer" --server "127.0.0.1:$main_port" --id bench --identity "$work/bench.key" --json forward box \
    --listen "${port[ours]}" --target "127.0.0.1:$iperf_port" 2>"$work/forward.err" &
  forward_pid=$!
  pids+=($!)
  for _ in $(seq 200); do grep -q '"forwarding"' "$work/forward.err" && break; sleep 0.05; done
  grep -q '"forwarding"' "$work/forward.err" || { echo "tunnel_bench: peer forward did not start" >&2; cat "$work/forward.err" >&2; exit 1; }
fi

# Every path carries a short transfer before anything is measured (for ours, this makes the session).
for p in "${paths[@]}"; do
  iperf3 -c 127.0.0.1 -p "${port[$p]}" -n 1M -J >"$work/iperf-$p-warmup.json" 2>&1 ||
    echo "tunnel_bench: the warm-up through $p failed (see the table)" >&2
done
ours_path=
if want ours; then
  # The session starts on the relay (path auto) and moves to the punched path: measure after that.
  for _ in $(seq 100); do grep -q '"path_changed"' "$work/forward.err" && break; sleep 0.05; done
  ours_path=$(python3 -c 'import json,sys
path = None
for line in open(sys.argv[1], errors="replace"):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("event") == "connected" and path is None: path = e.get("path", "?")
    if e.get("event") == "path_changed": path = path + " -> " + e.get("to", "?")
print(path or "")' "$work/forward.err")
fi

# --- measuring --------------------------------------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
now() { date +%s.%N; }
# measure PATH STREAMS: one iperf3 run, its result line appended to $work/results (for ours at 8
# streams, with the CPU time of both peers).
measure() {
  local path=$1 n=$2 out="$work/iperf-$1-$2.json" t0 t1 c0=(0 0) c1=(0 0) rc=0
  [ "$path" = ours ] && c0=("$(cpu_ticks "$forward_pid")" "$(cpu_ticks "$online_pid")")
  t0=$(now)
  iperf3 -c 127.0.0.1 -p "${port[$path]}" -t "$duration" -P "$n" -J >"$out" 2>"$out.err" || rc=$?
  t1=$(now)
  [ "$path" = ours ] && c1=("$(cpu_ticks "$forward_pid")" "$(cpu_ticks "$online_pid")")
  python3 - "$out" "$path" "$n" "$rc" "$t0" "$t1" $((c1[0] - c0[0])) $((c1[1] - c0[1])) "$(getconf CLK_TCK)" \
    >>"$work/results" <<'PY'
import json, sys
out, path, n, rc, t0, t1, fwd, onl, hz = sys.argv[1:10]
r = {"path": path, "streams": int(n), "rc": int(rc), "wall_s": float(t1) - float(t0),
     "forward_cpu_s": int(fwd) / int(hz), "online_cpu_s": int(onl) / int(hz), "bps": 0.0, "bytes": 0}
try:
    j = json.load(open(out))
    if j.get("error"):
        r["error"] = j["error"]
    s = j.get("end", {}).get("sum_received", {})
    r["bps"] = float(s.get("bits_per_second", 0))
    r["bytes"] = int(s.get("bytes", 0))
except (ValueError, OSError) as e:
    r["error"] = f"no JSON from iperf3 ({e})"
if int(rc) and "error" not in r:
    r["error"] = f"iperf3 exited {rc}"
print(json.dumps(r))
PY
  sleep "$settle"
}

settle=1
[ "$smoke" = 1 ] && settle=0.2
echo "command: $command_line"
echo "tunnel benchmark: iperf3 ${duration} s per run at $(sed 's/ / and /' <<<"${streams[*]}") stream(s), loopback, $(nproc) cores" \
  "shared by iperf3 and the relays, $(uname -r)"
echo "$(iperf3 --version | head -1 | cut -d' ' -f1-2), socat $(socat -V | sed -n 's/^socat version \([^ ]*\).*/\1/p')$(
  want ssh && echo ", $(ssh -V 2>&1 | cut -d, -f1) (aes256-gcm@openssh.com)")$(want stunnel &&
    echo ", $(stunnel4 -version 2>&1 | grep -m1 '^stunnel' | cut -d' ' -f1-2) (TLS 1.3 TLS_AES_256_GCM_SHA384)")"
echo "paths: ${paths[*]}; binaries: $bin (rendezvous and peer built $(date -u -r "$bin/peer" '+%F %T') UTC," \
  "tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes'))"
newer=$(find common nat relay session transfer rendezvous peer -name '*.[ch]pp' -newer "$bin/peer" 2>/dev/null | wc -l)
[ "$newer" = 0 ] || echo "note: $newer C++ source(s) changed after these binaries were built"
want ours && echo "ours: peer forward -> peer online, session path: ${ours_path:-none seen} (direct expected on loopback)"
for p in "${paths[@]}"; do
  for n in "${streams[@]}"; do measure "$p" "$n"; done
done

# --- the table and the goals ------------------------------------------------------------------------
status=0
python3 - "$work/results" "$smoke" <<'PY' || status=$?
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
smoke = sys.argv[2] == "1"
names = {"raw": "raw (direct)", "socat": "socat", "ssh": "ssh -L aes256-gcm", "stunnel": "stunnel TLS 1.3",
         "ours": "peer forward -> online"}
got = {(r["path"], r["streams"]): r for r in rows}
paths = [p for p in names if any(k[0] == p for k in got)]
streams = sorted({k[1] for k in got})
def gbps(p, n):
    r = got.get((p, n))
    return r["bps"] / 1e9 if r and not r.get("error") and r["bps"] > 0 else None
def cell(p, n):
    r = got.get((p, n))
    if r is None: return "–"
    g = gbps(p, n)
    return f"{g:.2f}" if g is not None else "error"
print()
print("| path | " + " | ".join(f"{n} stream{'s' if n > 1 else ''} Gbit/s" for n in streams) + " |")
print("|---|" + "---|" * len(streams))
for p in paths:
    print(f"| {names[p]} | " + " | ".join(cell(p, n) for n in streams) + " |")
print()
for r in rows:
    if r.get("error") or r["bps"] <= 0:
        print(f"error: {names[r['path']]} at {r['streams']} stream(s): {r.get('error', '0 bytes received')}")
r = got.get(("ours", 8))
if r and r["wall_s"] > 0:
    print(f"our CPU during the 8-stream run (share of one core over {r['wall_s']:.1f} s): peer forward "
          f"{100 * r['forward_cpu_s'] / r['wall_s']:.0f}%, peer online {100 * r['online_cpu_s'] / r['wall_s']:.0f}%")
def ratio(a, b):
    return a / b if a is not None and b else None
if "ours" in paths:
    print("goals (ours = peer forward -> peer online):")
    for other in ("stunnel", "ssh"):
        for n in streams:
            x = ratio(gbps("ours", n), gbps(other, n))
            label = f"  ours/{other} at {n} stream{'s' if n > 1 else ''}: "
            print(label + (f"{x:.2f}x (goal ≥ 1.5x) — {'PASS' if x >= 1.5 else 'MISS'}" if x is not None
                           else "n/a (not measured)"))
    refs = [f"{n} stream{'s' if n > 1 else ''} {x:.0%}" for n in streams
            if (x := ratio(gbps("ours", n), gbps("raw", n))) is not None]
    if refs:
        print("for reference, ours/raw: " + ", ".join(refs))
if smoke:
    bad = [f"{names[r['path']]} at {r['streams']}" for r in rows if r.get("error") or r["bps"] <= 0 or r["bytes"] <= 0]
    if bad:
        print("smoke: FAIL — errors or 0 bytes on: " + ", ".join(bad))
        sys.exit(1)
    print("smoke: ok — every path moved data without an error")
PY

# What the relays logged at warn and above, if anything (a broken pipe or reset as iperf3 ends a
# test is its usual teardown: the receiver closes the data connections while the sender writes).
show_warnings "registered|forwarding|identity_created|connected|path_changed|incoming" "$work/server.log" "$work/online.err" \
  "$work/forward.err" "$work/ssh/ssh.err" "$work/stunnel/server.err" "$work/stunnel/client.err" "$work/socat.err"
exit "$status"
