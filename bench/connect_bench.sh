#!/usr/bin/env bash
# Connect benchmark on loopback (issue 17): how long a new connection takes to its first echoed
# byte, four ways, each a fresh process per connection to one echo server this script runs:
#   raw          python connects to the echo server (the floor)
#   ssh          ssh -W to a private `sshd -D` on a loopback port (key exchange, auth, a channel)
#   punch-first  peer connect --path punch-first --target ECHO (punch, then the session)
#   relay-first  peer connect (--path auto, the default: the session starts on the relay)
# Peers connect to `peer online --allow ECHO` by ID through a rendezvous server. For ours it also
# reports the `connected` event's elapsed_ms and, relay-first, when the session was direct
# (path_changed). The NAT verdicts are cached by a first run, as they are on a user's machine
# after the first use (the lab matrix reports the same times behind real NATs).
# Prints p50 and p90 of each, the goals (relay-first: first byte < 50 ms; direct < 500 ms) and
# ratios to ssh.
#   bench/connect_bench.sh [--smoke] [RUNS]     RUNS connections per way (default 30)
#   --smoke: 3 runs of raw, punch-first and relay-first; exits 1 if one fails
#   --paths LIST: a comma-separated subset of raw,ssh,punch-first,relay-first
# BENCH_BIN=DIR skips install and build and uses the binaries there (the CTest smoke run).
set -euo pipefail
command_line="$(printf '%q ' "$0" "$@")"
[ -n "${BENCH_BIN:-}" ] && command_line="BENCH_BIN=$BENCH_BIN $command_line"
cd "$(dirname "$0")/.."

duration=30  # (runs, for bench_args' number)
paths=raw,ssh,punch-first,relay-first
smoke_paths=raw,punch-first,relay-first
# shellcheck source=args.sh
source bench/args.sh
bench_args "$@"
runs=$duration
[ "$smoke" = 1 ] && runs=3

# shellcheck source=binaries.sh
source bench/binaries.sh
# shellcheck source=../scripts/lib/private_sshd.sh
source scripts/lib/private_sshd.sh
export PATH=$PATH:/usr/sbin  # sshd
command -v python3 >/dev/null || { echo "SKIPPED: python3 not found"; exit 77; }
if want ssh && ! private_sshd_usable; then
  echo "note: the ssh path needs root and OpenSSH (sshd, ssh, ssh-keygen); left out"
  drop ssh
fi

# shellcheck source=lib.sh
source bench/lib.sh
export XDG_STATE_HOME="$work/peer-state"  # the peers' NAT cache
connect_cleanup() {
  kill_started
  bench_cleanup
}
trap connect_cleanup EXIT

# --- the echo server, the rendezvous server and `peer online` ----------------------------------------
echo_port=$(free_port)
python3 -c 'import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(__import__("sys").argv[1]))); s.listen(128)
def serve(c):
    with c:
        while (d := c.recv(65536)): c.sendall(d)
while True: threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()' "$echo_port" &
pids+=($!)
wait_listen "$echo_port" "the echo server"
start_server
"$bin/peer" --server "127.0.0.1:$main_port" --id echo --json --log-level info online --allow "127.0.0.1:$echo_port" \
  2>"$work/online.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '"registered"' "$work/online.err" && break; sleep 0.05; done

if want ssh; then
  sshd_port=$(free_port)
  write_private_sshd "$work/ssh" "$sshd_port" "[127.0.0.1]:$sshd_port" connect_bench
  echo "AllowTcpForwarding local" >>"$work/ssh/sshd_config"
  start_private_sshd "$work/ssh" "$sshd_port"
fi

# --- measuring -----------------------------------------------------------------------------------------
BIN=$bin MAIN_PORT=$main_port ECHO_PORT=$echo_port SSH_DIR="$work/ssh" SSH_PORT=${sshd_port:-0} RUNS=$runs \
  PATHS="$(IFS=,; echo "${paths[*]}")" COMMAND_LINE="$command_line" SMOKE=$smoke python3 - <<'PYEOF'
import json, os, socket, statistics, subprocess, sys, time

bin_dir, main_port, echo_port = os.environ["BIN"], os.environ["MAIN_PORT"], int(os.environ["ECHO_PORT"])
runs, paths, smoke = int(os.environ["RUNS"]), os.environ["PATHS"].split(","), os.environ["SMOKE"] == "1"
ssh_dir, ssh_port = os.environ["SSH_DIR"], os.environ["SSH_PORT"]

def argv(path):
    if path == "ssh":
        return ["ssh", "-F", "/dev/null", "-p", ssh_port, "-i", f"{ssh_dir}/client_key", "-o", "IdentitiesOnly=yes",
                "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={ssh_dir}/known_hosts",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-W", f"127.0.0.1:{echo_port}", "root@127.0.0.1"]
    mode = "auto" if path == "relay-first" else "punch-first"
    return [f"{bin_dir}/peer", "--server", f"127.0.0.1:{main_port}", "--json", "--path", mode,
            "connect", "echo", "--target", f"127.0.0.1:{echo_port}"]

def one(path):
    """ms to the first echoed byte, and the peer's events (connected, path_changed)."""
    started = time.monotonic()
    if path == "raw":
        with socket.create_connection(("127.0.0.1", echo_port)) as s:
            s.sendall(b"x")
            if s.recv(1) != b"x": raise RuntimeError("raw: no echo")
        return (time.monotonic() - started) * 1000, {}
    p = subprocess.Popen(argv(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"x"); p.stdin.flush()
    got = p.stdout.read(1)
    first = (time.monotonic() - started) * 1000
    if path == "relay-first":
        time.sleep(0.6)  # let the move happen, to report when the session was direct
    p.stdin.close()
    p.stdin = None  # (closed: communicate must not flush it)
    _, err = p.communicate(timeout=30)
    if got != b"x" or p.returncode != 0:
        raise RuntimeError(f"{path}: no echo (exit {p.returncode}): {err.decode(errors='replace')[-400:]}")
    events = {}
    for line in err.decode(errors="replace").splitlines():
        try: e = json.loads(line)
        except ValueError: continue
        if e.get("event") in ("connected", "path_changed"): events[e["event"]] = e
    return first, events

def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else None

one("punch-first")  # the peers' NAT verdicts are cached from here on, as after a user's first run
rows, failed = {}, []
for path in paths:
    first, connected, direct, paths_seen = [], [], [], set()
    for _ in range(runs):
        try:
            ms, events = one(path)
        except Exception as e:
            failed.append(str(e)); continue
        first.append(ms)
        if "connected" in events:
            connected.append(events["connected"]["elapsed_ms"])
            paths_seen.add(events["connected"]["path"])
        if "path_changed" in events:
            direct.append(events["path_changed"]["elapsed_ms"])
    rows[path] = dict(first=first, connected=connected, direct=direct, paths=paths_seen)

fmt = lambda v: "-" if v is None else f"{v:.1f}"
print(f"connect benchmark, loopback, {runs} connections per way ({os.environ['COMMAND_LINE'].strip()})")
print(f"{'way':<12} {'first byte p50':>14} {'p90':>7} {'connected p50':>14} {'p90':>7} {'direct p50':>11} {'p90':>7}  first path")
for path, r in rows.items():
    print(f"{path:<12} {fmt(pct(r['first'], .5)):>14} {fmt(pct(r['first'], .9)):>7} {fmt(pct(r['connected'], .5)):>14} "
          f"{fmt(pct(r['connected'], .9)):>7} {fmt(pct(r['direct'], .5)):>11} {fmt(pct(r['direct'], .9)):>7}  "
          f"{','.join(sorted(r['paths'])) or '-'}")
if "relay-first" in rows:
    r = rows["relay-first"]
    p90 = pct(r["first"], .9)
    print(f"goal: relay-first first byte p90 < 50 ms: {fmt(p90)} ms {'PASS' if p90 is not None and p90 < 50 else 'MISS'}")
    d90 = pct(r["direct"], .9)
    moved = len(r["direct"])
    print(f"goal: direct within 500 ms (p90 of path_changed): {fmt(d90)} ms, {moved}/{len(r['first'])} moved "
          f"{'PASS' if d90 is not None and d90 < 500 and moved == len(r['first']) else 'MISS'}")
    if "punch-first" in rows and pct(rows["punch-first"]["first"], .5):
        print(f"relay-first / punch-first first byte p50: {pct(r['first'], .5) / pct(rows['punch-first']['first'], .5):.2f}")
    if "ssh" in rows and pct(rows["ssh"]["first"], .5):
        print(f"relay-first / ssh first byte p50: {pct(r['first'], .5) / pct(rows['ssh']['first'], .5):.2f}")
for f in failed[:5]: print("FAILED:", f)
sys.exit(1 if failed or any(not r["first"] for r in rows.values()) else 0)
PYEOF
