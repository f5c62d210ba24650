#!/usr/bin/env bash
# A quick run of every mode of load.py against a real server on loopback (about 15 s), so protocol
# changes cannot silently break the load tool, and the server survives each abuse mode:
#   bench/load/smoke.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
load="$here/load.py"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/rendezvous" --listen 127.0.0.1:0 --ready-file "$work/ready" --log-level warn --stats-interval 0 \
  --state "$work/state" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.05; done
[ -f "$work/ready" ] || { echo "smoke: the server did not start"; cat "$work/server.log"; exit 1; }

common=(--ready-file "$work/ready" --server-pid "$server_pid" --server-log "$work/server.log" --json)
failed=0
passed=0
pass() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# check NAME PYTHON-EXPRESSION-ON-d -- ARGS...: runs load.py ARGS, then tests its JSON figures `d`.
check() {
  local name=$1 expr=$2
  shift 3
  local out
  if ! out=$(python3 "$load" "$@" "${common[@]}" 2>&1); then
    fail "$name: load.py exited non-zero"; echo "$out"; return
  fi
  if echo "$out" | tail -1 | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if ($expr) and d.get('server_alive') else 1)"; then
    pass "$(echo "$out" | grep -E 'registered in|cycles in|requests|held [0-9]+ open|newcomer handshakes' | head -1)"
  else
    fail "$name: figures do not satisfy: $expr"; echo "$out"
  fi
}

check hold "d['registered'] == 50 and not d['failures']" -- hold 50 --seconds 0.5
check churn "d['cycles'] == 60 and not d['failures']" -- churn --count 60 --concurrency 8
check storm "d['registered'] == 300" -- storm 300 --retry --prefix storm --max-seconds 20
check spam "d['replies'].get('attempt', 0) > 0 and d['answered'] == d['sent']" -- spam --seconds 1
check slowloris "d['peak_open'] > 0" -- slowloris --connections 300 --addresses 8 --seconds 2 --ports main,hole,relay,probe --no-canary
check canary-after "d['ok'] > 0" -- canary --seconds 1

code=0
python3 "$load" hold 1 --server 10.1.2.3:7000 >/dev/null 2>&1 || code=$?
if [ "$code" = 2 ]; then pass "a non-loopback server is a usage error"; else fail "non-loopback: exit $code"; fi
code=0
python3 "$load" hold 1 --server 127.0.0.1:1 >/dev/null 2>&1 || code=$?
if [ "$code" = 3 ]; then pass "an unreachable server exits 3"; else fail "unreachable: exit $code"; fi

if kill -0 "$server_pid" 2>/dev/null; then pass "the server is still running"; else fail "the server died"; fi
echo "load smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
