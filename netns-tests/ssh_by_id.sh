#!/usr/bin/env bash
# Scenario: real OpenSSH by peer ID. Host a (behind a NAT of KIND_A) runs sshd on 127.0.0.1:2222
# (its own host key and authorized key, in a's namespace) and `peer online --id home --allow
# 127.0.0.1:2222`; host b (behind KIND_B) reaches it with ssh, scp and rsync whose ssh_config
# says `ProxyCommand peer connect %h --target 127.0.0.1:2222`:
#   1. ssh runs a command on a;  2. scp of a 200 MiB file arrives with the same SHA-256 (and its
#   throughput is shown);  3. rsync -a of a small tree (nested dirs, modes, a symlink) arrives equal.
# After each: ssh/scp/rsync exit 0 with nothing on stderr, the ProxyCommand (`peer connect`) exits
# 0, no peer log has a warning, an error or a truncated session, both sides' path is EXPECTED_PATH
# and online saw the session end cleanly. Finally `peer online` exits 0 on SIGTERM.
#
#   ssh_by_id.sh BIN_DIR KIND_A KIND_B EXPECTED_PATH
#
# Exit 0 pass, 1 fail, 77 skipped (not root, no namespaces, no OpenSSH). Cleans up its lab even on
# failure (the sshd is killed with the scenario's processes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind_a=${2:-port} kind_b=${3:-port} expected=${4:-direct}

for tool in /usr/sbin/sshd ssh scp ssh-keygen rsync sha256sum; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: $tool not found (scripts/install-deps.sh installs openssh-server, openssh-client, rsync)"; exit 77; }
done
sftp_server=/usr/lib/openssh/sftp-server
[ -x "$sftp_server" ] || { echo "SKIPPED: $sftp_server not found (openssh-server)"; exit 77; }

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
# shellcheck source=../scripts/lib/private_sshd.sh
source "$here/../scripts/lib/private_sshd.sh"
scenario_start sh "$kind_a" "$kind_b"

fail=0
check() {  # check DESCRIPTION CONDITION...: prints ok/FAIL, remembers a failure
  local what=$1
  shift
  if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; fail=1; fi
}

# --- sshd in a's namespace ------------------------------------------------------------------------
mkdir -p "$work/a" "$work/b"
write_private_sshd "$work" 2222 home ssh_by_id
cat >>"$work/sshd_config" <<EOF
PrintLastLog no
Subsystem sftp $sftp_server
EOF
ip netns exec "$NS_A" /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.err" &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec "$NS_A" ss -Hltn 'sport = :2222' | grep -q . && break
  sleep 0.05
done
ip netns exec "$NS_A" ss -Hltn 'sport = :2222' | grep -q . || { echo "FAIL: sshd did not listen"; cat "$work/sshd.err"; exit 1; }

# --- the rendezvous server and `peer online` on a -------------------------------------------------
start_server
ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" --id home --json --log-level info online \
  --allow 127.0.0.1:2222 2>"$work/online.err" &
online=$!
pids+=("$online")
for _ in $(seq 100); do grep -q '"registered"' "$work/online.err" && break; sleep 0.05; done
grep -q '"registered"' "$work/online.err" || { echo "FAIL: online did not register"; exit 1; }

# --- b's ssh_config: the README's recipe, with a ProxyCommand wrapper that keeps peer connect's
# stderr and exit code. ssh runs it as `exec proxy home` in /bin/sh and, when it is done, closes
# the pipes and sends it SIGHUP, which the wrapper hands on to peer connect.
cat >"$work/proxy" <<EOF
#!/bin/bash
# proxy NAME: peer connect NAME --target 127.0.0.1:2222 with b's own identity; stderr to
# connect-\$PROXY_TAG.PID.err, the exit code to .rc, the signals it was sent to .sig.
out="$work/connect-\${PROXY_TAG:-ssh}.\$\$"
XDG_DATA_HOME="$work/b/peer-data" "$bin/peer" --server "$SERVER_IP:7000" --json --log-level info \\
  connect "\$1" --target 127.0.0.1:2222 <&0 2>"\$out.err" &
child=\$!
for sig in HUP INT TERM; do trap "echo \$sig >>'\$out.sig'; kill -\$sig \$child 2>/dev/null" "\$sig"; done
while :; do
  wait "\$child" && rc=0 || rc=\$?
  if ! kill -0 "\$child" 2>/dev/null; then  # gone; a wait cut short by a trap gives way to its code
    wait "\$child" 2>/dev/null && rc=0 || { r=\$?; [ "\$r" = 127 ] || rc=\$r; }
    break
  fi
done
echo "\$rc" >"\$out.rc"
exit "\$rc"
EOF
chmod 0755 "$work/proxy"
cat >"$work/ssh_config" <<EOF
Host home
  ProxyCommand $work/proxy %h
  User root
  IdentityFile $work/client_key
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile $work/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
EOF

# check_logs STEP: the step's one peer connect exited 0 with a clean log over $expected, online's
# log is clean and shows the step's session ended cleanly.
sessions=0
check_logs() {
  local step=$1 rcfile errs rc
  sessions=$((sessions + 1))
  errs=("$work"/connect-"$step".*.err)
  check "one peer connect for $step (${#errs[@]})" [ "${#errs[@]}" = 1 -a -f "${errs[0]}" ]
  rcfile=${errs[0]%.err}.rc
  for _ in $(seq 100); do [ -f "$rcfile" ] && break; sleep 0.05; done
  rc=$(cat "$rcfile" 2>/dev/null || echo "none (still running 5 s after ssh ended)")
  check "peer connect ($step) exited 0 (got $rc; signals: $(tr '\n' ' ' 2>/dev/null <"${errs[0]%.err}.sig" || echo none))" [ "$rc" = 0 ]
  for _ in $(seq 100); do
    [ "$(grep -c '"event":"session_ended"' "$work/online.err" || true)" -ge "$sessions" ] && break
    sleep 0.05
  done
  check_peer_log "peer connect ($step)" connect "${errs[0]}"
  check_peer_log "peer online (after $step)" online "$work/online.err"
  for _ in $(seq 100); do
    [ "$(grep -c 'disconnected by user' "$work/sshd.err" || true)" -ge "$sessions" ] && break
    sleep 0.05
  done
  check "sshd saw $sessions client(s) log in and disconnect on purpose, and logged no error" \
    [ "$(grep -c '^Accepted publickey for root' "$work/sshd.err" || true)" = "$sessions" \
    -a "$(grep -c '^Received disconnect from .*: disconnected by user' "$work/sshd.err" || true)" = "$sessions" \
    -a "$(grep -ciE 'error|fatal|warn|reset|broken|timeout' "$work/sshd.err" || true)" = 0 ]
}

# check_peer_log WHAT ROLE FILE: every line is JSON; no warning/error/critical log line, no error
# event, no "truncated"; every session ended up on $expected (the default path starts on the relay:
# a session's path is its connected event's, or the path_changed event's that followed); (connect)
# one connected and one closed event; (online) $sessions sessions, all ended cleanly.
check_peer_log() {
  local out
  if out=$(python3 - "$3" "$2" "$expected" "$sessions" <<'PY'
import json, sys
path, role, expected, sessions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
problems, connected, closed, ended, final = [], [], [], [], {}
for n, line in enumerate(open(path, errors="replace"), 1):
    line = line.rstrip("\n")
    try:
        e = json.loads(line)
    except ValueError:
        problems.append(f"line {n} is not JSON: {line}"); continue
    kind, level = e.get("event"), e.get("level")
    if kind == "log" and level not in ("trace", "debug", "info"):
        problems.append(f"line {n}: {level}: {e.get('message')}")
    if kind in ("error", "punch_failed", "transfer_failed", "server_lost"):
        problems.append(f"line {n}: {line}")
    if "truncat" in line:
        problems.append(f"line {n} says truncated: {line}")
    if kind == "connected":
        connected.append(e)
        final[e.get("peer")] = e
    if kind == "path_changed": final[e.get("peer")] = dict(e, path=e.get("to"))
    if kind == "closed": closed.append(e)
    if kind == "session_ended": ended.append(e)
for e in final.values():
    if e.get("path") != expected:
        problems.append(f"the session ended up {e.get('path')}, expected {expected}: {json.dumps(e)}")
if role == "connect":
    if len(connected) != 1: problems.append(f"{len(connected)} connected events, expected 1")
    if len(closed) != 1: problems.append(f"{len(closed)} closed events, expected 1")
    for e in connected: print(f"connected over {e.get('path')} after {e.get('elapsed_ms')} ms", end="; ")
    for e in final.values(): print(f"path {e.get('path')} ({e.get('remote')}) after {e.get('elapsed_ms')} ms", end="; ")
    for e in closed: print("closed " + json.dumps({k: v for k, v in e.items() if k not in ('event', 'peer')}), end="")
else:
    if len(connected) != sessions: problems.append(f"{len(connected)} sessions, expected {sessions}")
    if len(ended) != sessions: problems.append(f"{len(ended)} sessions ended, expected {sessions}")
    for e in ended:
        if e.get("clean") is not True: problems.append(f"a session ended uncleanly: {json.dumps(e)}")
    print(f"{len(connected)} session(s), {len(ended)} ended cleanly" if not problems else "", end="")
for p in problems: print("\n         " + p, end="")
sys.exit(1 if problems else 0)
PY
  ); then
    echo "  ok   $1 log clean: $out"
  else
    echo "  FAIL $1 log: $out"
    fail=1
  fi
}

in_b() { ip netns exec "$NS_B" "$@"; }

# --- 1. a command over ssh -------------------------------------------------------------------------
echo "1. ssh home (NATs: a $kind_a, b $kind_b; expected path $expected)"
rc=0
export PROXY_TAG=ssh
# shellcheck disable=SC2016  # $(hostname) runs on a
in_b ssh -F "$work/ssh_config" home 'echo "hello-from-$(hostname)"; ip -4 -o addr show' \
  >"$work/ssh.out" 2>"$work/ssh-client.err" || rc=$?
check "ssh exited 0 (got $rc)" [ "$rc" = 0 ]
check "ssh wrote nothing on stderr" [ ! -s "$work/ssh-client.err" ]
check "ssh ran the command: $(head -1 "$work/ssh.out")" [ "$(head -1 "$work/ssh.out")" = "hello-from-$(hostname)" ]
check "the command ran in a's namespace (it has $A_IP)" grep -q "inet $A_IP/" "$work/ssh.out"
check_logs ssh

# --- 2. scp of 200 MiB -----------------------------------------------------------------------------
echo "2. scp 200 MiB b -> home"
size=$((200 * 1024 * 1024))
head -c "$size" /dev/urandom >"$work/b/big"
rc=0
t0=$(date +%s.%N)
export PROXY_TAG=scp
in_b scp -q -F "$work/ssh_config" "$work/b/big" "home:$work/a/big" 2>"$work/scp-client.err" || rc=$?
t1=$(date +%s.%N)
check "scp exited 0 (got $rc)" [ "$rc" = 0 ]
check "scp wrote nothing on stderr" [ ! -s "$work/scp-client.err" ]
want=$(sha256sum "$work/b/big" | cut -d' ' -f1)
got=$(sha256sum "$work/a/big" 2>/dev/null | cut -d' ' -f1 || true)
check "the file arrived with the same SHA-256 ($want)" [ "$got" = "$want" ]
connect_ms=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l) if l.startswith("{") else {}
    if e.get("event") == "connected": print(e["elapsed_ms"]); break
else: print(0)' "$(echo "$work"/connect-scp.*.err | cut -d' ' -f1)" 2>/dev/null || echo 0)
throughput=$(python3 -c 'import sys
t, c, size = float(sys.argv[2]) - float(sys.argv[1]), float(sys.argv[3]) / 1000, int(sys.argv[4])
data = max(t - c, 1e-3)
print(f"{size / 2**20 / t:.1f} MiB/s over the whole scp ({t:.2f} s), {size / 2**20 / data:.1f} MiB/s after the {c:.2f} s connect")' \
  "$t0" "$t1" "$connect_ms" "$size")
echo "  scp: $throughput"
check_logs scp

# --- 3. rsync of a tree ----------------------------------------------------------------------------
echo "3. rsync -a of a tree b -> home"
mkdir -p "$work/b/tree/src/deep" "$work/b/tree/empty"
head -c 1048577 /dev/urandom >"$work/b/tree/src/data.bin"
printf '#!/bin/sh\necho built\n' >"$work/b/tree/build.sh" && chmod 0755 "$work/b/tree/build.sh"
echo "secret" >"$work/b/tree/src/deep/key.txt" && chmod 0600 "$work/b/tree/src/deep/key.txt"
: >"$work/b/tree/src/empty-file"
ln -s src/deep/key.txt "$work/b/tree/link-to-key"
rc=0
export PROXY_TAG=rsync
in_b rsync -a -e "ssh -F $work/ssh_config" "$work/b/tree/" "home:$work/a/tree/" \
  2>"$work/rsync-client.err" || rc=$?
check "rsync exited 0 (got $rc)" [ "$rc" = 0 ]
check "rsync wrote nothing on stderr" [ ! -s "$work/rsync-client.err" ]
# shellcheck disable=SC2016  # the inner script's arguments
check "the tree arrived equal (diff -r, modes, symlink)" \
  bash -c 'diff -r --no-dereference "$1" "$2" && diff <(cd "$1" && find . -printf "%p %y %m %s %l\n" | sort) <(cd "$2" && find . -printf "%p %y %m %s %l\n" | sort)' \
  _ "$work/b/tree" "$work/a/tree"
check "the symlink stayed a symlink" [ -L "$work/a/tree/link-to-key" ]
check_logs rsync

# --- 4. online ends on SIGTERM ---------------------------------------------------------------------
echo "4. peer online, SIGTERM"
kill -TERM "$online"
for _ in $(seq 100); do kill -0 "$online" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$online" 2>/dev/null; then
  check "peer online exited within 5 s of SIGTERM" false
else
  rc=0
  wait "$online" || rc=$?
  check "peer online exited 0 on SIGTERM (got $rc)" [ "$rc" = 0 ]
fi
check_peer_log "peer online (after SIGTERM)" online "$work/online.err"

paths=$(python3 -c 'import json, sys
paths = set()
for name in sys.argv[1:]:  # one session a file: the path it ended up on
    path = None
    for line in open(name, errors="replace"):
        e = json.loads(line) if line.startswith("{") else {}
        if e.get("event") == "connected": path = e.get("path")
        if e.get("event") == "path_changed": path = e.get("to")
    if path: paths.add(path)
print(" ".join(sorted(paths)) or "none")' "$work"/connect-*.err) || paths=none
echo "summary: $([ "$fail" = 0 ] && echo PASS || echo FAIL): path $paths (expected $expected; a $kind_a, b $kind_b);" \
  "ssh, scp of 200 MiB at $throughput, rsync"
exit "$fail"
