#!/usr/bin/env bash
# Reverse-proxy benchmark on loopback (issue 14): one nginx (2 workers, a 1.4 KB static page)
# reached five ways, all started by this script and measured by wrk in one run:
#   direct   wrk -> nginx (the limit)
#   socat    wrk -> socat -> socat -> nginx (two forking relays, like client -> server -> peer -> nginx)
#   ssh -R   wrk -> sshd's remote-forward listener -> ssh client -> nginx (a private `sshd -D` on a
#            loopback port, generated keys, one ssh connection carrying every client as a channel)
#   expose   wrk -> rendezvous --expose-ports -> peer expose -> nginx (ours, as users get it: each
#            client a stream of the peer's channel to the server, one TCP connection carrying all)
#   pool     the same with --expose-channels 0 --expose-pool 8: each client spliced to one of the peer's idle pool
#            connections (the design the channel replaced as the default, kept for comparison)
# Each path gets wrk keep-alive at -c 50, one connection per request (`Connection: close`) at -c 50,
# and keep-alive at -c 1000 from one address: req/s, p50/p99 latency, errors (socket errors plus
# non-2xx/3xx). Prints one table, the goals against the anchors (PASS/MISS; a MISS does not fail
# the run), accept-queue overflows, our server's and peer's CPU per request, and memory: the
# rendezvous server's RSS idle and at -c 1000 (KiB per active exposed client) and, when the peer
# has --expose-pool, per idle pooled connection (8 peers without a pool against 8 with 64 each).
#   bench/expose_bench.sh [--smoke] [SECONDS]        SECONDS per wrk run (default 5)
#   --smoke: 1 s runs of direct, expose and pool at -c 50 only; exits 1 if any run has an error or 0 req/s
#   --paths LIST: a comma-separated subset of direct,socat,ssh,expose,pool
# BENCH_BIN=DIR skips install and build and uses the binaries there (the CTest smoke run);
# BENCH_KEEP=DIR keeps wrk's output and the servers' logs there.
# Exits 77 (skipped) when nginx, wrk or socat are missing and it was not allowed to install them.
set -euo pipefail
command_line="$(printf '%q ' "$0" "$@")"
[ -n "${BENCH_BIN:-}" ] && command_line="BENCH_BIN=$BENCH_BIN $command_line"
cd "$(dirname "$0")/.."

duration=5
paths=direct,socat,ssh,expose,pool
smoke_paths=direct,expose,pool
# shellcheck source=args.sh
source bench/args.sh
bench_args "$@"

# shellcheck source=binaries.sh
source bench/binaries.sh
# shellcheck source=../scripts/lib/private_sshd.sh
source scripts/lib/private_sshd.sh
export PATH=$PATH:/usr/sbin  # nginx and sshd
for tool in nginx wrk socat python3 ss; do
  command -v "$tool" >/dev/null ||
    { echo "SKIPPED: $tool not found (scripts/install-deps.sh installs nginx-light, wrk, socat)"; exit 77; }
done
if want ssh && ! private_sshd_usable; then
  echo "note: the ssh -R path needs root and OpenSSH (sshd, ssh, ssh-keygen); left out"
  drop ssh
fi

# shellcheck source=lib.sh
source bench/lib.sh
expose_cleanup() {
  kill_started
  keep_files "$work"/wrk-*.txt "$work"/*.log "$work"/*.err "$work/results"
  bench_cleanup
}
trap expose_cleanup EXIT


# --- nginx, a 1.4 KB page ---------------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx/www" "$work/nginx/tmp"
python3 - "$work/nginx/www/page.html" <<'PY'
import sys
head = "<!DOCTYPE html>\n<html><head><title>expose benchmark</title></head><body>\n<h1>expose benchmark</h1>\n"
tail = "</body></html>\n"
line = "<p>The quick brown fox jumps over the lazy dog, and back again.</p>\n"
body = (line * 30)[: 1400 - len(head) - len(tail)]
open(sys.argv[1], "w").write(head + body + tail)
PY
page_bytes=$(stat -c %s "$work/nginx/www/page.html")
nginx_user=
[ "$(id -u)" -eq 0 ] && nginx_user="user root;"  # the workers must read the 0700 work dir
cat >"$work/nginx/nginx.conf" <<EOF
$nginx_user
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 65s;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port reuseport backlog=4096;
    root $work/nginx/www;
  }
}
EOF
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" 2>"$work/nginx/stderr" &
pids+=($!)
wait_listen "$nginx_port" nginx || { cat "$work/nginx/stderr" "$work/nginx/error.log" >&2; exit 1; }
declare -A port=([direct]=$nginx_port)

# --- socat, two hops --------------------------------------------------------------------------------
if want socat; then
  hop1=$(free_port)
  hop2=$(free_port)
  socat TCP-LISTEN:"$hop2",bind=127.0.0.1,fork,reuseaddr,backlog=4096 TCP:127.0.0.1:"$nginx_port" &
  pids+=($!)
  socat TCP-LISTEN:"$hop1",bind=127.0.0.1,fork,reuseaddr,backlog=4096 TCP:127.0.0.1:"$hop2" &
  pids+=($!)
  wait_listen "$hop2" "socat (hop 2)"
  wait_listen "$hop1" "socat (hop 1)"
  port[socat]=$hop1
fi

# --- ssh -R through a private sshd ------------------------------------------------------------------
if want ssh; then
  sshd_port=$(free_port)
  ssh_remote=$(free_port)
  write_private_sshd "$work/ssh" "$sshd_port" "[127.0.0.1]:$sshd_port" expose_bench
  cat >>"$work/ssh/sshd_config" <<EOF
AllowTcpForwarding remote
GatewayPorts no
EOF
  start_private_sshd "$work/ssh" "$sshd_port"
  private_ssh "$work/ssh" "$sshd_port" -R "127.0.0.1:$ssh_remote:127.0.0.1:$nginx_port"
  wait_listen "$ssh_remote" "ssh -R" || { cat "$work/ssh/ssh.err" "$work/ssh/sshd.err" >&2; exit 1; }
  port[ssh]=$ssh_remote
fi

# --- ours: rendezvous --expose-ports and peer expose ------------------------------------------------
# free_range N: the first of N consecutive free loopback ports, below the ephemeral range.
free_range() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(500):
    base, socks = random.randrange(20000, 32000 - n), []
    try:
        for p in range(base, base + n):
            s = socket.socket(); socks.append(s); s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base)
    break
PY
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# expose ID PORT ERRFILE [ARGS...]: a `peer expose` of nginx on the server's PORT, waited for until
# exposed; sets last_pid.
expose() {
  local id=$1 remote=$2 err=$3
  shift 3
  "$bin/peer" --server "127.0.0.1:$main_port" --id "$id" --json expose --local "127.0.0.1:$nginx_port" \
    --remote-port "$remote" "$@" 2>"$err" &
  last_pid=$!
  pids+=($!)
  for _ in $(seq 200); do grep -q '"exposed"' "$err" && return 0; sleep 0.05; done
  echo "expose_bench: port $remote was not exposed" >&2
  cat "$err" >&2
  exit 1
}
# settle_fds PID: until PID's descriptor count has held still for 0.5 s (10 s at most).
settle_fds() {
  local last=-1 same=0 now
  for _ in $(seq 200); do
    now=$(fd_count "$1")
    if [ "$now" = "$last" ]; then same=$((same + 1)); [ "$same" -ge 10 ] && return 0; else same=0; last=$now; fi
    sleep 0.05
  done
}
pool_probes=8
declare -A peer_of  # path -> the exposing peer's pid
if want expose || want pool; then
  expose_port=$(free_range $((2 + 2 * pool_probes)))
  start_server --expose-ports "$expose_port-$((expose_port + 1 + 2 * pool_probes))"
  pool_port=$((expose_port + 1 + 2 * pool_probes))
  if want pool; then
    expose pool "$pool_port" "$work/pool.err" --expose-channels 0 --expose-pool 8
    peer_of[pool]=$last_pid
    port[pool]=$pool_port
  fi
  expose web "$expose_port" "$work/expose.err"
  peer_pid=$last_pid
  want expose && peer_of[expose]=$peer_pid port[expose]=$expose_port
  [ "$smoke" = 1 ] || settle_fds "$server_pid"
  rss_idle=$(rss_kib "$server_pid")
  peer_rss_idle=$(rss_kib "$peer_pid")
  # Memory per idle pooled connection (when the peer has a pool): 8 more exposing peers without a
  # pool, then 8 with the largest pool; the second group's growth less the first's is the pools'.
  pool_line=
  peer_help=$("$bin/peer" --help)  # (not piped into grep -q: pipefail would see peer's SIGPIPE)
  if [ "$smoke" = 0 ] && grep -q -- '--expose-pool' <<<"$peer_help"; then
    probes=()
    r0=$(rss_kib "$server_pid") f0=$(fd_count "$server_pid")
    for i in $(seq "$pool_probes"); do
      expose "nopool$i" $((expose_port + i)) "$work/pool0-$i.err" --expose-pool 0
      probes+=("$last_pid")
    done
    settle_fds "$server_pid"
    r1=$(rss_kib "$server_pid") f1=$(fd_count "$server_pid")
    for i in $(seq "$pool_probes"); do
      expose "pool$i" $((expose_port + pool_probes + i)) "$work/pool64-$i.err" --expose-pool 64
      probes+=("$last_pid")
    done
    settle_fds "$server_pid"
    r2=$(rss_kib "$server_pid") f2=$(fd_count "$server_pid")
    pooled=$(((f2 - f1) - (f1 - f0)))
    if [ "$pooled" -gt 0 ]; then
      pool_line=$(awk -v r0="$r0" -v r1="$r1" -v r2="$r2" -v n="$pooled" -v p="$pool_probes" 'BEGIN {
        printf "server RSS per idle pooled connection: %.2f KiB (%d peers with --expose-pool 0: +%d KiB; %d with --expose-pool 64: +%d KiB and %d more descriptors, idle pooled connections)",
          ((r2 - r1) - (r1 - r0)) / n, p, r1 - r0, p, r2 - r1, n }')
    else
      pool_line="TODO(pool): server RSS per idle pooled connection — the peers with --expose-pool 64 added no descriptors ($f0 -> $f1 -> $f2): no pool to measure"
    fi
    kill "${probes[@]}" 2>/dev/null || true
    wait "${probes[@]}" 2>/dev/null || true
    settle_fds "$server_pid"
  elif [ "$smoke" = 0 ]; then
    pool_line="TODO(pool): server RSS per idle pooled connection — not printed: this peer has no --expose-pool (no pooled data connections to measure)"
  fi
fi

# Every path serves the page before anything is measured.
for p in "${paths[@]}"; do
  python3 - "${port[$p]}" "$page_bytes" "$p" <<'PY'
import sys, urllib.request
port, size, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/page.html", timeout=5).read()
if len(body) != size:
    sys.exit(f"expose_bench: {name} served {len(body)} bytes, not the {size}-byte page")
PY
done

# --- measuring --------------------------------------------------------------------------------------
cat >"$work/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
EOF

# sample_peak PID OUT: every 50 ms, the peak VmRSS (KiB) and descriptor count of PID into OUT.
sample_peak() {
  local pid=$1 out=$2 rss peak=0 fds peak_fds=0
  while [ -d "/proc/$pid" ]; do
    rss=$(rss_kib "$pid" 2>/dev/null) || break
    fds=$(fd_count "$pid")
    ((rss > peak)) && peak=$rss
    ((fds > peak_fds)) && peak_fds=$fds
    echo "$peak $peak_fds" >"$out"
    sleep 0.05
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
# The host's accept-queue overflows and drops so far (a full backlog drops the handshake's last ACK).
listen_drops() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $(n["ListenOverflows"]) + $(n["ListenDrops"]) }' /proc/net/netstat; }

# measure PATH MODE CONNECTIONS [SECONDS]: one wrk run, its result line appended to $work/results
# (with the accept-queue drops during it and, for ours, the server's and the peer's CPU time).
measure() {
  local path=$1 mode=$2 conns=$3 seconds=${4:-$duration} extra=()
  [ "$mode" = close ] && extra=(-H 'Connection: close')
  local out="$work/wrk-$path-$mode-$conns.txt" drops0 drops1 cpu0=(0 0) cpu1=(0 0)
  drops0=$(listen_drops)
  [ -n "${peer_of[$path]:-}" ] && cpu0=("$(cpu_ticks "$server_pid")" "$(cpu_ticks "${peer_of[$path]}")")
  wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$work/report.lua" "${extra[@]}" \
    "http://127.0.0.1:${port[$path]}/page.html" >"$out" 2>&1 || true
  [ -n "${peer_of[$path]:-}" ] && cpu1=("$(cpu_ticks "$server_pid")" "$(cpu_ticks "${peer_of[$path]}")")
  drops1=$(listen_drops)
  python3 - "$out" "$path" "$mode" "$conns" $((drops1 - drops0)) $((cpu1[0] - cpu0[0])) $((cpu1[1] - cpu0[1])) \
    "$(getconf CLK_TCK)" >>"$work/results" <<'PY'
import json, sys
out, path, mode, conns, drops, server_ticks, peer_ticks, hz = sys.argv[1:9]
r = {"path": path, "mode": mode, "conns": int(conns), "requests": 0, "duration_us": 1, "listen_drops": int(drops),
     "server_cpu_s": int(server_ticks) / int(hz), "peer_cpu_s": int(peer_ticks) / int(hz)}
for line in open(out, errors="replace"):
    if line.startswith("WRK_RESULT "):
        r.update(json.loads(line[len("WRK_RESULT "):]))
r["ok"] = "p50_us" in r
print(json.dumps(r))
PY
  sleep "$settle"
}

settle=1
[ "$smoke" = 1 ] && settle=0.2
echo "command: $command_line"
echo "expose benchmark: ${duration} s per wrk run (wrk -t2, default 2 s timeout), loopback, $(nproc) cores" \
  "shared by wrk, nginx and the relays, $(uname -r)"
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') (2 workers, ${page_bytes}-byte page), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)," \
  "socat $(socat -V | sed -n 's/^socat version \([^ ]*\).*/\1/p')$(want ssh && echo ", $(ssh -V 2>&1 | cut -d, -f1) (default cipher)")"
echo "paths: ${paths[*]}; binaries: $bin (rendezvous and peer built $(date -u -r "$bin/rendezvous" '+%F %T') UTC," \
  "tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes'))"
newer=$(find common nat relay session transfer rendezvous peer -name '*.[ch]pp' -newer "$bin/rendezvous" 2>/dev/null | wc -l)
[ "$newer" = 0 ] || echo "note: $newer C++ source(s) changed after these binaries were built"
for p in "${paths[@]}"; do
  [ "$smoke" = 1 ] || measure "$p" warmup 50 1  # warm-up, not reported
  measure "$p" keepalive 50
  measure "$p" close 50
  [ "$smoke" = 1 ] && continue
  if [ "$p" = expose ]; then
    rss_before=$(rss_kib "$server_pid")
    peer_rss_before=$(rss_kib "$peer_pid")
    sample_peak "$server_pid" "$work/server-peak" &
    sampler=$!
    pids+=($!)
    sample_peak "$peer_pid" "$work/peer-peak" &
    peer_sampler=$!
    pids+=($!)
  fi
  measure "$p" keepalive 1000
  if [ "$p" = expose ]; then
    kill "$sampler" "$peer_sampler" 2>/dev/null || true
    wait "$sampler" "$peer_sampler" 2>/dev/null || true
  fi
done

# --- the table, the goals, memory -------------------------------------------------------------------
status=0
python3 - "$work/results" "$smoke" <<'PY' || status=$?
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
smoke = sys.argv[2] == "1"
names = {"direct": "direct", "socat": "socat 2-hop", "ssh": "ssh -R", "expose": "peer expose (channel)",
         "pool": "peer expose, pool only"}
got = {}
for r in rows:
    if r["mode"] == "warmup":
        continue
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r.get(k, 0) for k in ("connect", "read", "write", "status", "timeout"))
    got[(r["path"], r["mode"], r["conns"])] = r
paths = [p for p in names if any(k[0] == p for k in got)]
def cell(p, mode, conns, what):
    r = got.get((p, mode, conns))
    if r is None: return "–"
    if what == "rps": return f"{r['rps']:,.0f}"
    if what == "err": return f"{r['errors']:,}"
    return f"{r[what] / 1000:.2f}" if r["ok"] else "–"
print()
print("| path | keep-alive -c50 req/s | p50 ms | p99 ms | close -c50 req/s | p50 ms | p99 ms "
      "| keep-alive -c1000 req/s | p99 ms | -c1000 errors | -c50 errors (keep-alive/close) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for p in paths:
    print(f"| {names[p]} | {cell(p,'keepalive',50,'rps')} | {cell(p,'keepalive',50,'p50_us')} | {cell(p,'keepalive',50,'p99_us')} "
          f"| {cell(p,'close',50,'rps')} | {cell(p,'close',50,'p50_us')} | {cell(p,'close',50,'p99_us')} "
          f"| {cell(p,'keepalive',1000,'rps')} | {cell(p,'keepalive',1000,'p99_us')} | {cell(p,'keepalive',1000,'err')} "
          f"| {cell(p,'keepalive',50,'err')} / {cell(p,'close',50,'err')} |")
print()
for r in got.values():
    if r["errors"] or not r["ok"]:
        kinds = ", ".join(f"{k} {r.get(k, 0):,}" for k in ("connect", "read", "write", "timeout", "status"))
        print(f"errors: {names[r['path']]} {r['mode']} -c{r['conns']}: {kinds} (status = non-2xx/3xx responses)"
              + ("" if r["ok"] else "; wrk printed no result"))

for r in sorted(got.values(), key=lambda r: (list(names).index(r["path"]), r["conns"])):
    if r["listen_drops"]:
        print(f"accept queue: {r['listen_drops']:,} overflows/drops on this host during {names[r['path']]} "
              f"{r['mode']} -c{r['conns']} (/proc/net/netstat ListenOverflows + ListenDrops; each costs that "
              "client a 1 s handshake retransmission)")
for ours in ("expose", "pool"):
    cpu = [r for r in got.values() if r["path"] == ours]
    if not cpu:
        continue
    print(f"our CPU, {names[ours]} (share of one core over the run; µs per request): " + "; ".join(
        f"{r['mode']} -c{r['conns']}: server {100 * r['server_cpu_s'] / (r['duration_us'] / 1e6):.0f}% "
        f"({1e6 * r['server_cpu_s'] / max(r['requests'], 1):.0f} µs), peer "
        f"{100 * r['peer_cpu_s'] / (r['duration_us'] / 1e6):.0f}% ({1e6 * r['peer_cpu_s'] / max(r['requests'], 1):.0f} µs)"
        for r in sorted(cpu, key=lambda r: (r["conns"], r["mode"] != "keepalive"))))
print()
def rps(p, mode, conns=50):
    r = got.get((p, mode, conns))
    return r["rps"] if r and r["ok"] else None
def goal(label, text, ok):
    print(f"  {label}: " + (f"{text} — {'PASS' if ok else 'MISS'}" if text else "n/a (not measured)"))
def ratio(a, b):
    return a / b if a is not None and b else None
if "expose" in paths:
    print("goals (ours = peer expose):")
    x = ratio(rps("expose", "keepalive"), rps("direct", "keepalive"))
    goal("keep-alive -c50 req/s, ours/direct", x is not None and f"{x:.0%} (goal ≥ 50%)", x is not None and x >= 0.5)
    x = ratio(rps("expose", "close"), rps("direct", "close"))
    goal("new connections/s -c50, ours/direct", x is not None and f"{x:.0%} (goal ≥ 40%)", x is not None and x >= 0.4)
    x = ratio(rps("expose", "close"), rps("ssh", "close"))
    goal("new connections/s -c50, ours/ssh -R", x is not None and f"{x:.2f}x (goal ≥ 2x)", x is not None and x >= 2)
    for mode, label in (("keepalive", "keep-alive"), ("close", "close")):
        o, d = got.get(("expose", mode, 50)), got.get(("direct", mode, 50))
        added = (o["p99_us"] - d["p99_us"]) / 1000 if o and d and o["ok"] and d["ok"] else None
        goal(f"added p99 -c50 {label}, ours - direct", added is not None and f"{added:.2f} ms (goal < 2 ms)",
             added is not None and added < 2)
    r = got.get(("expose", "keepalive", 1000))
    goal("errors at -c1000, ours", r is not None and f"{r['errors']:,}" + ("" if r["ok"] else " (wrk printed no result)")
         + " (goal 0)", r is not None and r["ok"] and r["errors"] == 0)
if "expose" in paths and "pool" in paths:
    print("the channel against the pool it replaced as the default: " + ", ".join(
        f"{label} {x:.2f}x" for label, x in (
            ("keep-alive -c50", ratio(rps("expose", "keepalive"), rps("pool", "keepalive"))),
            ("new connections/s -c50", ratio(rps("expose", "close"), rps("pool", "close"))),
            ("keep-alive -c1000", ratio(rps("expose", "keepalive", 1000), rps("pool", "keepalive", 1000)))) if x is not None))
others = [p for p in ("socat", "ssh") if p in paths and "direct" in paths]
if others:
    print("for reference: " + "; ".join(
        f"{names[p]}/direct keep-alive {rps(p, 'keepalive') / rps('direct', 'keepalive'):.0%}, "
        f"new connections {rps(p, 'close') / rps('direct', 'close'):.0%}" for p in others
        if rps(p, "keepalive") and rps(p, "close") and rps("direct", "keepalive") and rps("direct", "close")))
if smoke:
    bad = [f"{names[r['path']]} {r['mode']} -c{r['conns']}" for r in got.values() if r["errors"] or not r["ok"] or r["rps"] == 0]
    if bad:
        print("smoke: FAIL — errors or no requests on: " + ", ".join(bad))
        sys.exit(1)
    print("smoke: ok — every path served requests without an error")
PY

if want expose && [ "$smoke" = 0 ] && [ -s "$work/server-peak" ]; then
  read -r peak peak_fds <"$work/server-peak"
  read -r peer_peak peer_peak_fds <"$work/peer-peak"
  echo
  echo "memory (VmRSS; kernel socket and pipe buffers are not in it):"
  echo "  rendezvous server: idle with the port exposed ${rss_idle} KiB, before -c1000 ${rss_before} KiB," \
    "peak during -c1000 ${peak} KiB (peak ${peak_fds} descriptors)"
  awk -v a="$rss_before" -v b="$peak" 'BEGIN { printf "  server RSS per active exposed client: %.2f KiB ((peak - before) / 1000)\n", (b - a) / 1000 }'
  echo "  $pool_line"
  echo "  peer expose: idle ${peer_rss_idle} KiB, before -c1000 ${peer_rss_before} KiB, peak during -c1000" \
    "${peer_peak} KiB (peak ${peer_peak_fds} descriptors)"
  awk -v a="$peer_rss_before" -v b="$peer_peak" 'BEGIN { printf "  peer RSS per active exposed client: %.2f KiB\n", (b - a) / 1000 }'
fi
# What the relays logged at warn and above, if anything (the server and peer log at warn).
show_warnings "registered|exposed|identity_created" "$work/server.log" "$work/expose.err" "$work/pool.err" "$work/nginx/error.log" \
  "$work/ssh/ssh.err"
exit "$status"
