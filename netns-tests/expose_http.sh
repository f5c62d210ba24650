#!/usr/bin/env bash
# Scenario: a private HTTP service on host a (behind a NAT of KIND) is published with
# `peer expose` and fetched on the rendezvous server's public port from another private network
# (host b) and from the server host; 2,000 short requests, a new connection each, are all
# answered through a second exposed port (nginx), and the cost per connection is reported; when
# the exposing peer is killed the port is freed.
#
#   expose_http.sh BIN_DIR [KIND]
#
# Exit 0 pass, 1 fail, 77 skipped. Cleans up its lab even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
kind=${2:-port}
public_port=20001

# shellcheck source=lib/scenario.sh
source "$here/lib/scenario.sh"
scenario_start ex "$kind" port

mkdir -p "$work/www"
head -c 300000 /dev/urandom | base64 >"$work/www/page.txt"
start_web "$NS_A" 8080 "$work/www"
mkdir -p "$work/short"
echo "a short page" >"$work/short/short.txt"
start_web "$NS_A" 8081 "$work/short"  # for the many short requests
start_server --expose-ports 20000-20010
ip netns exec "$NS_A" "$bin/peer" --server "$SERVER_IP:7000" --id web --json expose \
  --expose 127.0.0.1:8080="$public_port" --expose 127.0.0.1:8081="$((public_port + 1))" 2>"$work/expose.err" &
exposer=$!
pids+=($exposer)
for _ in $(seq 100); do grep -q '"exposed"' "$work/expose.err" && break; sleep 0.05; done
grep -q '"exposed"' "$work/expose.err" || { echo "FAIL: the port was not exposed"; exit 1; }

fetch() {  # fetch NS URL OUT: exit 0 with the body in OUT, non-zero if it could not connect
  ip netns exec "$1" python3 -c 'import sys, urllib.request
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=10).read())' "$2" >"$3" 2>/dev/null
}
fail=0
for from in "$NS_B" "$NS_SERVER"; do
  if fetch "$from" "http://$SERVER_IP:$public_port/page.txt" "$work/got.txt" && cmp -s "$work/got.txt" "$work/www/page.txt"; then
    echo "ok: fetched page.txt from ${from#"$prefix"-} through $SERVER_IP:$public_port"
  else
    echo "FAIL: fetch from ${from#"$prefix"-} through the exposed port"; fail=1
  fi
done

# 2,000 short requests from b, 20 at a time, each on a new connection.
if ip netns exec "$NS_B" python3 - "http://$SERVER_IP:$((public_port + 1))/short.txt" <<'PY'; then
import concurrent.futures, sys, time, urllib.request
url, total, parallel = sys.argv[1], 2000, 20
def fetch(_):
    try:
        return urllib.request.urlopen(url, timeout=10).read() == b"a short page\n"
    except Exception:
        return False
start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    right = sum(pool.map(fetch, range(total)))
elapsed = time.monotonic() - start
print(f"ok: {right} of {total} short requests answered, a new connection each, {parallel} at a time, in "
      f"{elapsed:.2f} s: {total / elapsed:.0f} connections/s, {1000 * elapsed * parallel / total:.2f} ms per connection")
sys.exit(0 if right == total else 1)
PY
  :
else
  echo "FAIL: not every short request through the exposed port was answered"; fail=1
fi

kill -9 "$exposer"
sleep 0.5  # the server notices the closed main connection at once
if fetch "$NS_B" "http://$SERVER_IP:$public_port/page.txt" "$work/gone.txt"; then
  echo "FAIL: the port still answers after the exposing peer died"; fail=1
else
  echo "ok: port $public_port closed after the exposing peer died"
fi
grep -q "expose: port $public_port closed" "$work/server.log" || { echo "FAIL: the server did not log the port closing"; fail=1; }
exit "$fail"
