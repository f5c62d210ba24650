#!/usr/bin/env bash
# Scenario: files cross between two private networks. Host b (behind a NAT of KIND_B) sends a
# 200 MiB file and a directory tree to `peer online --inbox` on host a (behind KIND_A), over the
# path the NATs allow. The first send of the big file is killed halfway; sent again, it resumes
# (less than the whole crosses) and the whole verifies. Progress lines are shown throughout.
#
#   transfer_files.sh BIN_DIR KIND_A KIND_B EXPECTED_PATH
#
# Exit 0 pass, 1 fail, 77 skipped. Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind_a=${2:-port} kind_b=${3:-port} expected=${4:-direct}

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
# This scenario asserts the punched path itself (every session on it, the server killed under it):
# punch first, not the default's relay-first start (punch_pair.sh covers that).
export PEER_PATH=${PEER_PATH:-punch-first}
scenario_start tx "$kind_a" "$kind_b"

size=$((200 * 1024 * 1024))
mkdir -p "$work/src/project/src/deep" "$work/src/project/empty" "$work/inbox"
head -c "$size" /dev/urandom >"$work/src/big.bin"
head -c 1048577 /dev/urandom >"$work/src/project/src/data.bin"
printf '#!/bin/sh\necho built\n' >"$work/src/project/build.sh" && chmod 0755 "$work/src/project/build.sh"
echo "secret" >"$work/src/project/src/deep/key.txt" && chmod 0600 "$work/src/project/src/deep/key.txt"
: >"$work/src/project/src/empty-file"

start_server
ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" --id home --json online \
  --inbox "$work/inbox" --accept-from office 2>"$work/online.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '"registered"' "$work/online.err" && break; sleep 0.05; done
send() {  # send LOG ARGS...: peer send from b as "office"
  local log=$1
  shift
  ip netns exec "$NS_B" "$bin/peer" --server "$SERVER_IP:7000" --id office --json send home "$@" 2>"$work/$log"
}

# 1. The big file at 40 MiB/s, killed once the receiver holds half of it.
# (Started directly, not through send(): $! must be the peer itself for the kill below.)
ip netns exec "$NS_B" "$bin/peer" --server "$SERVER_IP:7000" --id office --json send home "$work/src/big.bin" \
  --rate-limit 40 2>"$work/first.err" &
sender=$!
pids+=($sender)
partial="$work/inbox/.big.bin.hp-partial"
for _ in $(seq 400); do
  [ -f "$partial" ] && [ "$(stat -c %s "$partial")" -ge $((size / 2)) ] && break
  sleep 0.05
done
kill -9 "$sender" 2>/dev/null || true
wait "$sender" 2>/dev/null || true
held=$(stat -c %s "$partial" 2>/dev/null || echo 0)
echo "killed the first send with $held of $size bytes at the receiver"
fail=0
[ "$held" -ge $((size / 2)) ] && [ "$held" -lt "$size" ] || { echo "FAIL: the receiver holds $held bytes"; fail=1; }
[ ! -e "$work/inbox/big.bin" ] || { echo "FAIL: a half file appeared under the final name"; fail=1; }
grep -q '"event":"progress"' "$work/first.err" || { echo "FAIL: no progress shown"; fail=1; }

# The receiver lets go of the file once it sees the sender gone (else the resend would be "busy").
for _ in $(seq 200); do grep -q '"transfer_failed"' "$work/online.err" && break; sleep 0.05; done

# 2. Sent again: resumes, then the tree.
send second.err "$work/src/big.bin" || { echo "FAIL: the resumed send failed"; fail=1; }
send tree.err "$work/src/project" || { echo "FAIL: the tree send failed"; fail=1; }

python3 - "$work" "$size" "$expected" <<'PY' || fail=1
import json, sys
work, size, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def events(name, kind):
    return [e for e in (json.loads(l) for l in open(f"{work}/{name}") if l.startswith("{")) if e.get("event") == kind]
ok = True
big = events("second.err", "transfer")
if len(big) != 1:
    print("FAIL: no transfer event for the resumed send"); sys.exit(1)
big = big[0]
print(f"resumed from {big['resumed_from']} of {size}, sent {big['sent']} bytes again, "
      f"{big['mbps']} Mbit/s over {big['path']}")
if not (big["resumed_from"] >= size // 2 - (1 << 20) and big["sent"] < size // 2 + (1 << 20)):
    print("FAIL: the second send did not resume"); ok = False
for name in ("first.err", "second.err", "tree.err"):
    for e in events(name, "connected"):
        if e["path"] != expected:
            print(f"FAIL: {name} went {e['path']}, expected {expected}"); ok = False
tree = events("tree.err", "transfer")
print(f"tree: {len(tree)} files")
if len(tree) != 4: ok = False
with open(f"{work}/big.hash", "w") as f: f.write(big["hash"])
sys.exit(0 if ok else 1)
PY
got=$(sha256sum "$work/inbox/big.bin" | cut -d' ' -f1)
want=$(sha256sum "$work/src/big.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] && [ "$got" = "$(cat "$work/big.hash")" ] || { echo "FAIL: big.bin differs"; fail=1; }
diff -r "$work/src/project" "$work/inbox/project" || { echo "FAIL: the tree differs"; fail=1; }
for f in build.sh src/deep/key.txt; do
  [ "$(stat -c %a "$work/src/project/$f")" = "$(stat -c %a "$work/inbox/project/$f")" ] || { echo "FAIL: mode of $f"; fail=1; }
done
[ -d "$work/inbox/project/empty" ] || { echo "FAIL: the empty directory is missing"; fail=1; }
[ ! -e "$partial" ] || { echo "FAIL: the partial file is left"; fail=1; }
[ "$fail" = 0 ] && echo "big file and tree intact over $expected"
exit "$fail"
