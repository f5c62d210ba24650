#!/usr/bin/env bash
# The README's demo: builds, starts a rendezvous server on loopback and two peers, connects alice
# to bob by ID, sends a message each way, prints the path, then sends bob a small directory with
# `peer send` / `peer receive` and checks it arrived identical; exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DHP_BUILD_TESTS=OFF
bin=build/bin
port=${DEMO_PORT:-7000}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "== rendezvous server on 127.0.0.1:$port (hole-assist on $((port + 1)))"
export XDG_DATA_HOME="$work/peer-data"  # the demo peers' identity keys, gone with the demo
"$bin/rendezvous" --listen "127.0.0.1:$port" --ready-file "$work/ready" --state "$work/state" 2>"$work/server.log" &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.05; done
[ -f "$work/ready" ] || { echo "demo: the server did not start:"; cat "$work/server.log"; exit 1; }

echo "== bob registers and listens"
echo "hello alice, this is bob" | "$bin/peer" --server "127.0.0.1:$port" --id bob listen >"$work/bob.out" 2>"$work/bob.err" &
bob=$!
pids+=($bob)
for _ in $(seq 100); do grep -q registered "$work/bob.err" 2>/dev/null && break; sleep 0.05; done
echo "== peers online: $("$bin/peer" --server "127.0.0.1:$port" list | tr '\n' ' ')"

echo "== alice connects to bob by ID"
echo "hello bob, this is alice" | "$bin/peer" --server "127.0.0.1:$port" --id alice --json connect bob \
  >"$work/alice.out" 2>"$work/alice.err"
wait "$bob"

echo "alice received: $(cat "$work/alice.out")"
echo "bob received:   $(cat "$work/bob.out")"
connected=$(grep '"event":"connected"' "$work/alice.err")
echo "alice's event:  $connected"
path=$(sed -E 's/.*"path":"([a-z]+)".*/\1/' <<<"$connected")
echo "path: $path"
[ "$path" = direct ] && grep -q "this is bob" "$work/alice.out" && grep -q "this is alice" "$work/bob.out" || exit 1

echo "== bob waits for files (peer receive); alice sends a directory"
mkdir -p "$work/outbox/notes/2026" "$work/inbox"
echo "meeting at noon" >"$work/outbox/notes/2026/monday.txt"
head -c 3000000 /dev/urandom >"$work/outbox/notes/photo.bin"
"$bin/peer" --server "127.0.0.1:$port" --id bob receive --dir "$work/inbox" 2>"$work/bob-rx.err" &
bob=$!
pids+=($bob)
for _ in $(seq 100); do grep -q registered "$work/bob-rx.err" 2>/dev/null && break; sleep 0.05; done
"$bin/peer" --server "127.0.0.1:$port" --id alice send bob "$work/outbox/notes" 2>&1 | grep -v "connected to"
wait "$bob"
diff -r "$work/outbox/notes" "$work/inbox/notes" && echo "bob's inbox matches what alice sent"
