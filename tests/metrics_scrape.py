#!/usr/bin/env python3
"""The server's Prometheus endpoint, scraped like Prometheus would: a real rendezvous server with
--metrics on loopback, real peers registering, connecting through the relay, a wrong token and
an exposed web service; /metrics is fetched with curl and parsed with python3-prometheus-client's
text parser (the format a real scraper reads), and the counters must move as each thing happens.

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
    "holepunch_accounts": "gauge",
}


def scrape(port):
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
    if types != FAMILIES:
        fail(f"families and types differ from the documented set: {sorted(set(types.items()) ^ set(FAMILIES.items()))}")
    return samples


def expect(port, key, check, what, seconds=5):
    """The server publishes its counters every second: a check may take that long to hold."""
    deadline = time.monotonic() + seconds
    while True:
        samples = scrape(port)
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
                      ("holepunch_relay_peer_pairs_total", 1), ("holepunch_relay_pairs", 0)):
        expect(metrics, key, lambda v, want=want: v == want, f"expected {want}")

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
    print(f"metrics scrape: {len(after)} samples parsed; registrations {after['holepunch_registrations_total']:.0f}, "
          f"relayed bytes {after['holepunch_relay_bytes_total']:.0f}, exposed clients counted; 404 and 405 elsewhere")


try:
    main()
finally:
    for proc in PROCS:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    shutil.rmtree(WORK, ignore_errors=True)
