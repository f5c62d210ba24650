#!/usr/bin/env python3
"""The server's Prometheus endpoint, scraped like Prometheus would: a real rendezvous server with
--metrics on loopback, real peers registering, connecting through the relay and directly, a wrong
token and an exposed web service; /metrics is fetched with curl and parsed with
python3-prometheus-client's text parser (the format a real scraper reads), and the counters must
move as each thing happens. Then a node of a cluster on a real redis-server: its link gauge
follows Redis going away and coming back.

    metrics_scrape.py BIN_DIR
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

BIN = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(prefix="metrics-scrape-")
PROCS = []
TOKEN = "scrape-secret"


def fail(why):
    print(f"FAIL: {why}")
    for name in sorted(os.listdir(WORK)):
        if name.endswith(".err") or name == "server.log":
            with open(os.path.join(WORK, name), errors="replace") as f:
                print(f"--- {name}\n" + "".join(f.readlines()[-15:]))
    sys.exit(1)


def start(name, argv, stdin=subprocess.DEVNULL):
    err = open(os.path.join(WORK, name + ".err"), "w")
    out = open(os.path.join(WORK, name + ".out"), "wb")
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, name + "-data"), XDG_STATE_HOME=os.path.join(WORK, name + "-state"))
    proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, env=env)
    PROCS.append(proc)
    return proc


def wait_for(predicate, what, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    fail(f"timed out waiting for {what}")


def text_of(name):
    with open(os.path.join(WORK, name), errors="replace") as f:
        return f.read()


def curl(url, *extra):
    done = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *extra, url], capture_output=True, text=True, timeout=10)
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


# Every family we serve, with its type: a scrape must hold exactly these, typed so.
FAMILIES = {
    "holepunch_peers_online": "gauge", "holepunch_main_connections": "gauge",
    "holepunch_registrations": "counter", "holepunch_connect_attempts": "counter",
    "holepunch_connect_attempts_in_flight": "gauge", "holepunch_connect_attempts_failed": "counter",
    "holepunch_session_resumes": "counter", "holepunch_relay_pairs": "gauge", "holepunch_relay_waiting_halves": "gauge",
    "holepunch_relay_peer_pairs": "counter", "holepunch_relay_peer_pairs_upgraded": "counter",
    "holepunch_relay_bytes": "counter", "holepunch_exposed_clients_connected": "gauge",
    "holepunch_exposed_clients": "counter", "holepunch_exposed_bytes": "counter", "holepunch_refusals": "counter",
    "holepunch_pending_handshakes": "gauge", "holepunch_open_fds": "gauge", "holepunch_max_fds": "gauge",
    "holepunch_accounts": "gauge", "holepunch_connect_outcomes": "counter",
    "holepunch_time_to_connected_seconds": "histogram",
}
# A node of a cluster serves one more: its link to Redis.
CLUSTER_FAMILIES = {**FAMILIES, "holepunch_cluster_link_up": "gauge"}


def scrape(port, families=FAMILIES):
    code, body = curl(f"http://127.0.0.1:{port}/metrics")
    if code != 200:
        fail(f"GET /metrics answered {code}: {body[:200]}")
    samples, types = {}, {}
    for family in text_string_to_metric_families(body):
        if family.name in types:
            fail(f"family {family.name} appears twice")
        types[family.name] = family.type
        for sample in family.samples:
            key = sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()))
            samples[key] = sample.value
    if types != families:
        fail(f"families and types differ from the documented set: {sorted(set(types.items()) ^ set(families.items()))}")
    return samples


def expect(port, key, check, what, seconds=5, families=FAMILIES):
    """The server publishes its counters every second: a check may take that long to hold."""
    deadline = time.monotonic() + seconds
    while True:
        samples = scrape(port, families)
        if key not in samples:
            fail(f"{key} missing from the scrape")
        if check(samples[key]):
            return samples
        if time.monotonic() > deadline:
            fail(f"{key} is {samples[key]}: {what}")
        time.sleep(0.1)


def free_expose_port():
    """A port the server may expose: in 20000-20999, as the other tests' ranges, and free now."""
    for candidate in range(20000 + os.getpid() % 1000, 21000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
                return candidate
            except OSError:
                continue
    fail("no free port in 20000-20999")


def main():
    ready = os.path.join(WORK, "ready")
    expose_port = free_expose_port()
    server = subprocess.Popen(
        [f"{BIN}/rendezvous", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--token", TOKEN, "--ready-file", ready,
         "--state", os.path.join(WORK, "state"), "--expose-ports", f"{expose_port}-{expose_port}", "--log-level", "debug"],
        stderr=open(os.path.join(WORK, "server.log"), "w"))
    PROCS.append(server)
    wait_for(lambda: os.path.exists(ready), "the server's ready file")
    ports = json.loads(text_of("ready"))
    metrics, main_port = ports["metrics"], ports["main"]
    if not metrics:
        fail("the ready file names no metrics port")
    peer = [f"{BIN}/peer", "--server", f"127.0.0.1:{main_port}", "--token", TOKEN, "--json"]

    before = expect(metrics, "holepunch_peers_online", lambda v: v == 0, "no peer is online yet")
    if before["holepunch_registrations_total"] != 0 or not before["holepunch_open_fds"] > 0:
        fail(f"a fresh server shows {before['holepunch_registrations_total']} registrations, {before['holepunch_open_fds']} descriptors")

    # Only /metrics, only GET.
    code, _ = curl(f"http://127.0.0.1:{metrics}/")
    if code != 404:
        fail(f"GET / answered {code}, not 404")
    code, _ = curl(f"http://127.0.0.1:{metrics}/metrics", "-X", "POST", "-d", "x=1")
    if code != 405:
        fail(f"POST /metrics answered {code}, not 405")

    # A wrong token is one refusal, by its cause.
    refused = 'holepunch_refusals_total{cause=auth_failed}'
    subprocess.run([f"{BIN}/peer", "--server", f"127.0.0.1:{main_port}", "--token", "wrong", "list"], capture_output=True, timeout=20)
    expect(metrics, refused, lambda v: v == before[refused] + 1, "one wrong token was refused")

    # A relayed connection: registrations, an attempt, a relay pair and its bytes.
    payload = os.urandom(256 * 1024)
    bob = start("bob", peer + ["--id", "bob", "listen"], stdin=subprocess.PIPE)
    wait_for(lambda: '"registered"' in text_of("bob.err"), "bob to register")
    alice = start("alice", peer + ["--id", "alice", "--path", "relay", "connect", "bob"], stdin=subprocess.PIPE)
    wait_for(lambda: '"connected"' in text_of("alice.err") and '"connected"' in text_of("bob.err"), "alice and bob to connect")
    expect(metrics, "holepunch_peers_online", lambda v: v == 2, "alice and bob are online")
    expect(metrics, "holepunch_relay_pairs", lambda v: v >= 1, "their pair is on the relay now")
    for proc in (alice, bob):
        proc.stdin.write(payload)
        proc.stdin.close()
    for name, proc in (("alice", alice), ("bob", bob)):
        if proc.wait(timeout=30) != 0:
            fail(f"{name} exited {proc.returncode}")
    after = expect(metrics, "holepunch_relay_bytes_total", lambda v: v >= 2 * len(payload), "the relay carried both payloads")
    for key, want in (("holepunch_registrations_total", 2), ("holepunch_connect_attempts_total", 1),
                      ("holepunch_relay_peer_pairs_total", 1), ("holepunch_relay_pairs", 0),
                      ("holepunch_connect_outcomes_total{outcome=relay}", 1),
                      ("holepunch_time_to_connected_seconds_count{path=relay}", 1)):
        expect(metrics, key, lambda v, want=want: v == want, f"expected {want}")

    # A direct connection (loopback punches at once): its outcome and its time to connected.
    carol = start("carol", peer + ["--id", "carol", "listen"], stdin=subprocess.PIPE)
    wait_for(lambda: '"registered"' in text_of("carol.err"), "carol to register")
    dave = start("dave", peer + ["--id", "dave", "--path", "direct", "connect", "carol"], stdin=subprocess.PIPE)
    wait_for(lambda: '"connected"' in text_of("dave.err"), "dave to connect directly")
    if '"path":"direct"' not in text_of("dave.err"):
        fail("dave's connection is not direct")
    # Carol is busy with dave: erin's attempt is declined, a failed outcome.
    erin = subprocess.run(peer + ["--id", "erin", "connect", "carol"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          env=dict(os.environ, XDG_DATA_HOME=os.path.join(WORK, "erin-data"), XDG_STATE_HOME=os.path.join(WORK, "erin-state")))
    if erin.returncode == 0:
        fail("erin connected to a busy carol")
    expect(metrics, "holepunch_connect_outcomes_total{outcome=failed}", lambda v: v == 1, "erin's declined attempt failed")
    for proc in (dave, carol):
        proc.stdin.close()
    for name, proc in (("dave", dave), ("carol", carol)):
        if proc.wait(timeout=30) != 0:
            fail(f"{name} exited {proc.returncode}")
    outcomes = expect(metrics, "holepunch_connect_outcomes_total{outcome=direct}", lambda v: v == 1, "one direct connection")
    direct_seconds = "holepunch_time_to_connected_seconds_{}{{path=direct}}"
    if outcomes[direct_seconds.format("count")] != 1 or not 0 < outcomes[direct_seconds.format("sum")] < 30:
        fail(f"the direct connection's time is {outcomes[direct_seconds.format('sum')]} s over "
             f"{outcomes[direct_seconds.format('count')]} connections")
    if outcomes["holepunch_time_to_connected_seconds_bucket{le=+Inf}{path=direct}"] != 1:
        fail("the histogram's +Inf bucket does not hold the direct connection")
    # Cumulative buckets: never falling, and the connection in the first bucket at or above its time.
    buckets = sorted((float(key.split("{le=")[1].split("}")[0]), value) for key, value in outcomes.items()
                     if key.startswith("holepunch_time_to_connected_seconds_bucket") and key.endswith("{path=direct}"))
    counts = [value for _, value in buckets]
    if counts != sorted(counts) or len(buckets) != 11:
        fail(f"the direct histogram's buckets are not cumulative: {buckets}")
    took = outcomes[direct_seconds.format("sum")]
    first_holding = next(bound for bound, value in buckets if value == 1)
    if not (took <= first_holding and all(bound < took for bound, value in buckets if value == 0)):
        fail(f"a connection of {took} s sits in the wrong bucket: {buckets}")
    if outcomes["holepunch_connect_outcomes_total{outcome=failed}"] != 1:
        fail("a connection that worked was counted as failed")

    # An exposed service: each public client is counted.
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    os.makedirs(os.path.join(WORK, "www"))
    with open(os.path.join(WORK, "www", "index.txt"), "w") as f:
        f.write("hello from behind a NAT\n")
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=os.path.join(WORK, "www")))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    start("web", peer + ["--id", "web", "expose", "--local", f"127.0.0.1:{web.server_address[1]}", "--remote-port", str(expose_port)])
    wait_for(lambda: '"exposed"' in text_of("web.err"), "the service to be exposed")
    for _ in range(3):
        code, body = curl(f"http://127.0.0.1:{expose_port}/index.txt")
        if code != 200 or "hello from behind a NAT" not in body:
            fail(f"the exposed service answered {code}: {body[:100]}")
    expect(metrics, "holepunch_exposed_clients_total", lambda v: v >= 3, "three clients reached the exposed service")
    web.shutdown()
    cluster_link()
    print(f"metrics scrape: {len(after)} samples parsed; registrations {after['holepunch_registrations_total']:.0f}, "
          f"relayed bytes {after['holepunch_relay_bytes_total']:.0f}, a relayed and a direct connection timed, exposed "
          f"clients counted; 404 and 405 elsewhere; the cluster link gauge follows Redis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port):
    redis = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", WORK, "--protected-mode", "no"],
                             stdout=open(os.path.join(WORK, "redis.log"), "a"), stderr=subprocess.STDOUT)
    PROCS.append(redis)

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")
        except OSError:
            return False
    wait_for(answers, "redis-server to answer")
    return redis


def cluster_link():
    """A node of a cluster: holepunch_cluster_link_up is 1 with Redis up, 0 once it is gone, 1 again when it is back."""
    redis_port = free_port()
    redis = start_redis(redis_port)
    ready = os.path.join(WORK, "node-ready")
    node = subprocess.Popen(
        [f"{BIN}/rendezvous", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--ready-file", ready, "--node-lease", "3",
         "--cluster", f"redis://127.0.0.1:{redis_port}", "--node-name", "scrape-node", "--log-level", "debug",
         "--state", os.path.join(WORK, "node-state")],
        stderr=open(os.path.join(WORK, "server.log"), "a"))
    PROCS.append(node)
    wait_for(lambda: os.path.exists(ready), "the cluster node's ready file")
    metrics = json.loads(text_of("node-ready"))["metrics"]
    up = "holepunch_cluster_link_up"
    expect(metrics, up, lambda v: v == 1, "the link to Redis is up", families=CLUSTER_FAMILIES)
    redis.send_signal(signal.SIGKILL)
    redis.wait()
    expect(metrics, up, lambda v: v == 0, "Redis is gone", seconds=10, families=CLUSTER_FAMILIES)
    start_redis(redis_port)
    expect(metrics, up, lambda v: v == 1, "Redis is back", seconds=20, families=CLUSTER_FAMILIES)


try:
    main()
finally:
    for proc in PROCS:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    shutil.rmtree(WORK, ignore_errors=True)
