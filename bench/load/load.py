#!/usr/bin/env python3
"""Load and abuse client for the rendezvous server (loopback only).

Modes (see --help of each, and bench/load/README.md):
  hold       N registered peers held open; registrations/s, server RSS per peer, idle server CPU
  churn      connect-register-close cycles; cycles/s
  slowloris  many silent (or half-a-header) connections re-opened as soon as the server closes them,
             with a canary newcomer measuring whether real peers still get in
  spam       authenticated connections sending connect requests at a fixed rate
  storm      N peers connecting and registering at once; time until all are registered
  canary     a newcomer trying hello+auth every few hundred ms (used by slowloris; usable alone)

Every run is bounded in time (--seconds / --max-seconds) and in count, and talks only to
127.0.0.0/8. Exit status: 0 when the run happened, 2 on a usage error, 3 when the server could
not be reached.
"""

import argparse
import asyncio
import collections
import hashlib
import hmac
import ipaddress
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_BODY = 64 * 1024
AUTH_CONTEXT = b"holepunch-server-auth-v1:"
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
CLK_TCK = os.sysconf("SC_CLK_TCK")


class UsageError(Exception):
    pass


class Unreachable(Exception):
    pass


class Failure(Exception):
    """One step of a connection failed; `code` is the bucket it is counted in."""

    def __init__(self, code, retryable=False):
        super().__init__(code)
        self.code = code
        self.retryable = retryable


# --------------------------------------------------------------------------------------------
# Addresses, keys, server process figures


def source_address(k, base=100):
    """The k-th distinct loopback source address: 127.<base+k/64000>.<k/250%256>.<k%250+1>."""
    return "127.%d.%d.%d" % (base + k // (250 * 256), (k // 250) % 256, k % 250 + 1)


def key_for(seed, peer_id):
    """A deterministic Ed25519 key per ID, so a rerun against the same state re-matches its pins."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(("%s:%s" % (seed, peer_id)).encode()).digest())


def auth_message(challenge, token, key):
    proof = hmac.new(token.encode(), challenge.encode(), hashlib.sha256).hexdigest() if token else ""
    message = {"type": "auth", "proof": proof}
    if key is not None:
        message["key"] = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        message["key_sig"] = key.sign(AUTH_CONTEXT + challenge.encode()).hex()
    return message


class ServerProc:
    """Figures of the server process from /proc (all None without --server-pid)."""

    def __init__(self, pid):
        self.pid = pid
        if pid is not None and not os.path.exists("/proc/%d/status" % pid):
            raise UsageError("no process %d" % pid)

    def alive(self):
        return self.pid is not None and os.path.exists("/proc/%d/stat" % self.pid)

    def rss_kib(self):
        if not self.alive():
            return None
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def cpu_ticks(self):
        if not self.alive():
            return None
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            return None

    def fds(self):
        if not self.alive():
            return None
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return None


class CpuMeter:
    """Server CPU over an interval as % of one core."""

    def __init__(self, proc):
        self.proc = proc
        self.ticks = proc.cpu_ticks()
        self.wall = time.monotonic()

    def percent(self):
        ticks = self.proc.cpu_ticks()
        if ticks is None or self.ticks is None:
            return None
        wall = time.monotonic() - self.wall
        # Ticks are 1/CLK_TCK s: a shorter interval says nothing.
        return round(100.0 * (ticks - self.ticks) / CLK_TCK / wall, 2) if wall >= 0.25 else None


def client_cpu_s():
    """CPU seconds of this process and of its finished worker and canary processes."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return round(total, 2)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


# --------------------------------------------------------------------------------------------
# Connections


async def open_socket(host, port, local_ip, timeout):
    """A connected non-blocking socket from local_ip (port picked at connect time)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass
        sock.bind((local_ip, 0))
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (host, port))
        return sock
    except TimeoutError:
        sock.close()
        raise Failure("connect_timeout", retryable=True)
    except OSError as e:
        sock.close()
        name = {111: "connect_refused", 104: "connect_reset", 99: "connect_no_local_port",
                24: "client_out_of_fds", 11: "connect_eagain"}.get(e.errno, "connect_error_%s" % e.errno)
        raise Failure(name, retryable=e.errno in (111, 104, 11, 99))
    except BaseException:
        sock.close()
        raise


class Link:
    """A framed JSON connection that answers the server's pings by itself."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.pings = 0
        self.closed_reason = None
        self.pending_length = None

    @classmethod
    async def open(cls, host, port, local_ip, timeout):
        sock = await open_socket(host, port, local_ip, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_BODY + 8)
        except BaseException:
            sock.close()
            raise
        return cls(reader, writer)

    def send(self, message):
        if self.writer.is_closing():
            return
        body = json.dumps(message, separators=(",", ":")).encode()
        self.writer.write(len(body).to_bytes(4, "big") + body)

    async def recv(self, timeout=None):
        """The next message other than ping/pong; raises Failure('closed:...') when the server closes."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    # A timeout between header and body must not lose the header.
                    if self.pending_length is None:
                        header = await self.reader.readexactly(4)
                        self.pending_length = int.from_bytes(header, "big")
                    length = self.pending_length
                    if length == 0 or length > MAX_BODY:
                        raise Failure("bad_frame_from_server")
                    body = await self.reader.readexactly(length)
                    self.pending_length = None
                    message = json.loads(body)
                    kind = message.get("type") if isinstance(message, dict) else None
                    if kind == "ping":
                        self.pings += 1
                        self.send({"type": "pong", "t": message.get("t", 0)})
                        continue
                    if kind == "pong":
                        continue
                    return message
        except TimeoutError:  # an OSError too, since 3.11: not a close
            raise
        except asyncio.IncompleteReadError:
            self.closed_reason = "eof"
        except (ConnectionResetError, BrokenPipeError):
            self.closed_reason = "reset"
        except OSError as e:
            self.closed_reason = "os_error_%s" % e.errno
        except ValueError:
            raise Failure("bad_json_from_server")
        raise Failure("closed", retryable=True)

    async def request(self, message, timeout):
        """Sends message and waits for the reply carrying its req."""
        self.send(message)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            reply = await self.recv(left)
            if reply.get("req") == message.get("req"):
                return reply

    def close(self):
        try:
            self.writer.close()
        except Exception:
            pass


async def handshake(link, token, key, timeout):
    """hello -> auth -> auth_ok; raises Failure with the step that failed."""
    try:
        hello = await link.recv(timeout)
    except TimeoutError:
        raise Failure("timeout_hello", retryable=True)
    except Failure as f:
        if f.code == "closed":
            raise Failure("closed_before_hello", retryable=True)  # the server's admission refusal
        raise
    if hello.get("type") == "error":
        # Admission refused or evicted us before greeting (server_busy, evicted, server_full, ...).
        raise Failure("refused_%s" % hello.get("code", "?"), retryable=True)
    if hello.get("type") != "hello":
        raise Failure("unexpected_%s" % hello.get("type"))
    if hello.get("auth_required") and not token:
        raise Failure("token_required")
    link.send(auth_message(str(hello.get("challenge", "")), token, key))
    try:
        reply = await link.recv(timeout)
    except TimeoutError:
        raise Failure("timeout_auth", retryable=True)
    except Failure as f:
        if f.code == "closed":
            raise Failure("closed_during_auth", retryable=True)
        raise
    if reply.get("type") != "auth_ok":
        code = str(reply.get("code", reply.get("type")))
        # A wrong token or key never clears; an eviction or a busy server may.
        raise Failure("auth_%s" % code, retryable=code not in ("auth_failed", "auth_required", "bad_request"))


async def register(link, peer_id, timeout, req=1):
    try:
        reply = await link.request({"type": "register", "id": peer_id, "req": req}, timeout)
    except TimeoutError:
        raise Failure("timeout_register", retryable=True)
    except Failure as f:
        if f.code == "closed":
            raise Failure("closed_during_register", retryable=True)
        raise
    if reply.get("type") == "registered":
        return reply
    code = reply.get("code", reply.get("type"))
    # server_full and a duplicate left by our own previous try can clear; a pin conflict cannot.
    raise Failure(str(code), retryable=code in ("server_full", "duplicate_id", "server_error"))


async def open_peer(target, local_ip, token, key, peer_id, timeout):
    """Connect, authenticate and (if peer_id) register; returns the Link."""
    link = await Link.open(target[0], target[1], local_ip, timeout)
    try:
        await handshake(link, token, key, timeout)
        if peer_id is not None:
            await register(link, peer_id, timeout)
        return link
    except BaseException:
        link.close()
        raise


# --------------------------------------------------------------------------------------------
# Common set-up


def loopback_host(host):
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError):
        raise UsageError("cannot resolve %r" % host)
    if address.version != 4 or not address.is_loopback:
        raise UsageError("%s is not in 127.0.0.0/8: this tool only talks to loopback" % host)
    return str(address)


def resolve_ports(args):
    """{'host':..., 'main':P, 'hole':P, 'relay':P, 'probe':[P,P]} from --ready-file or --server."""
    if args.ready_file:
        try:
            with open(args.ready_file) as f:
                ready = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError("cannot read ready file %s: %s" % (args.ready_file, e))
        host = loopback_host(args.server.rsplit(":", 1)[0] if args.server else "127.0.0.1")
        ports = {"host": host, "main": int(ready["main"]), "hole": int(ready.get("hole", 0)),
                 "relay": int(ready.get("relay", 0)), "probe": [int(p) for p in ready.get("probe", [])]}
    elif args.server:
        host, _, port = args.server.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError("--server must be HOST:PORT")
        main = int(port)
        # Without a ready file the other ports are the server's defaults: main+1 .. main+4.
        ports = {"host": loopback_host(host), "main": main, "hole": main + 1, "relay": main + 2,
                 "probe": [main + 3, main + 4]}
    else:
        raise UsageError("give --server HOST:PORT or --ready-file FILE")
    return ports


async def preflight(ports, timeout=3.0):
    """The server greets a fresh connection, or Unreachable."""
    try:
        link = await Link.open(ports["host"], ports["main"], "127.98.0.1", timeout)
    except Failure as f:
        raise Unreachable("cannot connect to %s:%d (%s)" % (ports["host"], ports["main"], f.code))
    try:
        hello = await link.recv(timeout)
        if hello.get("type") != "hello":
            raise Unreachable("server sent %r instead of hello" % hello.get("type"))
    except (TimeoutError, Failure):
        raise Unreachable("server at %s:%d did not greet us" % (ports["host"], ports["main"]))
    finally:
        link.close()


def log_size(path):
    """(bytes, lines) of a log file, (0, 0) when there is none."""
    if not path:
        return (0, 0)
    try:
        with open(path, "rb") as f:
            data = f.read()
        return (len(data), data.count(b"\n"))
    except OSError:
        return (0, 0)


class Report:
    def __init__(self, mode, args):
        self.mode = mode
        self.args = args
        self.figures = {"mode": mode}
        self.lines = []

    def line(self, text):
        print(text, flush=True)

    def set(self, **figures):
        self.figures.update(figures)

    def finish(self):
        self.figures["client_cpu_s"] = client_cpu_s()
        self.figures["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
        if self.args.json:
            print(json.dumps(self.figures, sort_keys=True), flush=True)


def counts_text(counter):
    return ", ".join("%s %d" % (k, v) for k, v in sorted(counter.items(), key=lambda kv: -kv[1])) or "none"


async def keep_alive(link, drops, extra=None):
    """Reads a link (answering pings) until the server closes it; stopped by cancelling."""
    while True:
        try:
            message = await link.recv(None)
        except Failure as f:
            drops["%s_%s" % (f.code, link.closed_reason or "")] += 1
            return
        if extra is not None:
            extra[message.get("type", "?")] += 1


class Keeper:
    """Keeps links alive from the moment they are registered, and optionally pings from each."""

    def __init__(self, ping_interval=0.0):
        self.drops = collections.Counter()
        self.extra = collections.Counter()
        self.links = []
        self.tasks = []
        self.first_drop = None
        self.ping_interval = ping_interval
        self.pinger = asyncio.create_task(self._ping()) if ping_interval > 0 else None

    def keep(self, link):
        self.links.append(link)
        task = asyncio.create_task(keep_alive(link, self.drops, self.extra))
        task.add_done_callback(self._done)
        self.tasks.append(task)

    def _done(self, task):
        if not task.cancelled() and self.first_drop is None:
            self.first_drop = time.monotonic()

    async def _ping(self):
        while True:
            await asyncio.sleep(self.ping_interval)
            stamp = int(time.time() * 1000)
            for link in list(self.links):
                link.send({"type": "ping", "t": stamp})

    def dropped(self):
        return sum(self.drops.values())

    async def stop(self):
        for task in self.tasks + ([self.pinger] if self.pinger else []):
            task.cancel()
        await asyncio.gather(*self.tasks, *([self.pinger] if self.pinger else []), return_exceptions=True)


# --------------------------------------------------------------------------------------------
# hold and storm: many registered peers


async def connect_many(args, ports, n, indices, concurrency, retry, keeper, label="hold", progress=True):
    """Opens and registers the peers `indices` of n, each kept alive by keeper from the moment it is
    in. Returns (links, raw figures to summarize())."""
    target = (ports["host"], ports["main"])
    gate = asyncio.Semaphore(concurrency) if concurrency > 0 else None
    links = {}
    final_failures = collections.Counter()
    attempt_failures = collections.Counter()
    counts = {"retried_peers": 0, "retries": 0, "max_tries": 0}
    latencies = []
    deadline = time.monotonic() + args.max_seconds
    t0 = time.monotonic()
    last_done_at = [t0]

    async def one(i):
        peer_id = "%s-%d" % (args.prefix, i)
        key = key_for(args.key_seed, peer_id)
        local_ip = source_address(i % args.addresses)
        tries = 0
        backoff = args.retry_min_ms / 1000.0
        try:
            while True:
                tries += 1
                try:
                    if gate is not None:
                        async with gate:
                            started = time.monotonic()  # latency excludes the wait for a slot
                            link = await open_peer(target, local_ip, args.token, key, peer_id, args.timeout)
                    else:
                        started = time.monotonic()
                        link = await open_peer(target, local_ip, args.token, key, peer_id, args.timeout)
                    links[i] = link
                    keeper.keep(link)  # answer its pings from now on, or a slow run loses early peers
                    latencies.append(time.monotonic() - started)
                    return
                except Failure as f:
                    attempt_failures[f.code] += 1
                    left = deadline - time.monotonic()
                    if not (retry and f.retryable and tries <= args.max_retries and left > backoff):
                        final_failures[f.code] += 1
                        return
                    counts["retries"] += 1
                    if tries == 1:
                        counts["retried_peers"] += 1
                    # Jittered exponential back-off, like a peer's reconnect loop.
                    await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                    backoff = min(backoff * 2, args.retry_max_ms / 1000.0)
        finally:
            counts["max_tries"] = max(counts["max_tries"], tries)
            last_done_at[0] = time.monotonic()

    tasks = [asyncio.create_task(one(i)) for i in indices]
    progress_at = time.monotonic() + 1.0
    pending = set(tasks)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(left, max(0.05, progress_at - time.monotonic())))
        if progress and time.monotonic() >= progress_at and pending:
            print("  %s: %.1f s: %d/%d registered, %d failed" % (
                label, time.monotonic() - t0, len(links), n, sum(final_failures.values())), flush=True)
            progress_at = time.monotonic() + 1.0
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        final_failures["gave_up_at_max_seconds"] += len(pending)
    raw = dict(counts, registered=len(links), failures=dict(final_failures), attempt_failures=dict(attempt_failures),
               latencies=[round(x, 5) for x in latencies], t0=t0, t_last=last_done_at[0],
               drops=dict(keeper.drops), pings=sum(link.pings for link in keeper.links))
    return list(links.values()), raw


def summarize(raws):
    """One set of registration figures from those of each process (CLOCK_MONOTONIC is system-wide)."""
    failures, attempt_failures, drops = collections.Counter(), collections.Counter(), collections.Counter()
    latencies = []
    for raw in raws:
        failures.update(raw["failures"])
        attempt_failures.update(raw["attempt_failures"])
        drops.update(raw["drops"])
        latencies.extend(raw["latencies"])
    return {
        "registered": sum(raw["registered"] for raw in raws),
        "seconds": round(max(raw["t_last"] for raw in raws) - min(raw["t0"] for raw in raws), 3),
        "failures": dict(failures),
        "attempt_failures": dict(attempt_failures),
        "retried_peers": sum(raw["retried_peers"] for raw in raws),
        "retries": sum(raw["retries"] for raw in raws),
        "max_tries": max(raw["max_tries"] for raw in raws),
        "latency_ms_p50": ms(percentile(latencies, 50)),
        "latency_ms_p99": ms(percentile(latencies, 99)),
        "latency_ms_max": ms(max(latencies) if latencies else None),
    }, drops, sum(raw["pings"] for raw in raws)


class LocalFleet:
    """The peers of hold/storm in this process."""

    def __init__(self, args, ports, concurrency, label):
        self.args, self.ports, self.concurrency, self.label = args, ports, concurrency, label
        self.keeper = None
        self.links = []

    async def register(self):
        """Registers every peer; returns (stats, drops so far, pings so far)."""
        self.keeper = Keeper(getattr(self.args, "ping_interval", 0.0))
        self.links, raw = await connect_many(self.args, self.ports, self.args.n, range(self.args.n), self.concurrency,
                                             self.args.retry, self.keeper, self.label)
        return summarize([raw])

    async def finish(self):
        """Closes every peer; returns (all drops, all pings answered, peers still open at the end)."""
        drops = collections.Counter(self.keeper.drops)
        pings = sum(link.pings for link in self.links)
        await self.keeper.stop()
        alive = len(self.links) - sum(drops.values())
        close_all(self.links)
        return drops, pings, alive


class WorkerFleet:
    """The peers of hold/storm spread over --workers processes (peer i in worker i % W), all starting
    at one moment, so a single Python process is not what limits a storm."""

    def __init__(self, args, ports, concurrency, label):
        self.args, self.ports, self.concurrency, self.label = args, ports, concurrency, label
        self.procs = []

    async def register(self):
        a = self.args
        workers = a.workers
        start_at = time.monotonic() + 1.0 + 0.2 * workers  # time for each to start and import
        per_worker = -(-self.concurrency // workers) if self.concurrency > 0 else 0
        for w in range(workers):
            command = [sys.executable, os.path.abspath(__file__), "_worker", "--server",
                       "%s:%d" % (self.ports["host"], self.ports["main"]), "--n", str(a.n), "--worker-index", str(w),
                       "--worker-count", str(workers), "--start-at", repr(start_at), "--concurrency", str(per_worker),
                       "--prefix", a.prefix, "--key-seed", a.key_seed, "--addresses", str(a.addresses),
                       "--timeout", str(a.timeout), "--max-seconds", str(a.max_seconds),
                       "--max-retries", str(a.max_retries), "--retry-min-ms", str(a.retry_min_ms),
                       "--retry-max-ms", str(a.retry_max_ms), "--ping-interval", str(getattr(a, "ping_interval", 0.0))]
            if a.retry:
                command.append("--retry")
            if a.token:
                command += ["--token", a.token]
            self.procs.append(await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024))
        print("  %s: %d worker processes start at once" % (self.label, workers), flush=True)
        raws = [await self._line(p, a.max_seconds + 30) for p in self.procs]
        return summarize(raws)

    async def _line(self, proc, timeout):
        try:
            async with asyncio.timeout(timeout):
                line = await proc.stdout.readline()
        except TimeoutError:
            line = b""
        if not line:
            for p in self.procs:
                if p.returncode is None:
                    p.kill()
            raise Unreachable("a worker process ended without figures (exit %s)" % proc.returncode)
        return json.loads(line)

    async def finish(self):
        for proc in self.procs:
            try:
                proc.stdin.write(b"stop\n")
                await proc.stdin.drain()
            except (ConnectionError, OSError):
                pass
        finals = [await self._line(p, 30) for p in self.procs]
        for proc in self.procs:
            await proc.wait()
        drops = collections.Counter()
        for final in finals:
            drops.update(final["drops"])
        return drops, sum(f["pings"] for f in finals), sum(f["alive"] for f in finals)


def make_fleet(args, ports, concurrency, label):
    return (WorkerFleet if args.workers > 1 else LocalFleet)(args, ports, concurrency, label)


async def worker_main(args):
    """_worker: registers peers index % count == worker-index, prints its figures, holds them until
    a line on stdin, prints its final figures."""
    ports = {"host": loopback_host(args.server.rpartition(":")[0]), "main": int(args.server.rpartition(":")[2])}
    await asyncio.sleep(max(0.0, args.start_at - time.monotonic()))
    keeper = Keeper(args.ping_interval)
    links, raw = await connect_many(args, ports, args.n, range(args.worker_index, args.n, args.worker_count),
                                    args.concurrency, args.retry, keeper, progress=False)
    print(json.dumps(raw), flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        async with asyncio.timeout(3600 + 60):  # bounded even if the parent never says stop
            await stdin.readline()
    except TimeoutError:
        pass
    drops = collections.Counter(keeper.drops)
    pings = sum(link.pings for link in links)
    await keeper.stop()
    close_all(links)
    print(json.dumps({"drops": dict(drops), "pings": pings, "alive": len(links) - sum(drops.values())}), flush=True)


def close_all(links):
    for link in links:
        link.close()


async def mode_hold(args, ports, report, proc):
    rss_before = proc.rss_kib()
    cpu_start = CpuMeter(proc)
    report.line("hold: %d peers from %d source addresses, %d handshakes in flight at most%s" % (
        args.n, args.addresses, args.concurrency, ", %d processes" % args.workers if args.workers > 1 else ""))
    fleet = make_fleet(args, ports, args.concurrency, "hold")
    stats, reg_drops, reg_pings = await fleet.register()
    cpu_connect = cpu_start.percent()
    rss_registered = proc.rss_kib()
    rate = stats["registered"] / stats["seconds"] if stats["seconds"] > 0 else None
    report.line("hold: %d/%d registered in %.2f s (%s registrations/s), failures: %s" % (
        stats["registered"], args.n, stats["seconds"], "%.0f" % rate if rate else "-", counts_text(stats["failures"])))
    report.line("hold: registration latency p50 %s ms, p99 %s ms, max %s ms" % (
        stats["latency_ms_p50"], stats["latency_ms_p99"], stats["latency_ms_max"]))
    if reg_drops:
        report.line("hold: dropped by the server while the rest registered: %s" % counts_text(reg_drops))
    meter = CpuMeter(proc)
    await asyncio.sleep(args.seconds)
    cpu_idle = meter.percent()
    rss_after = proc.rss_kib()
    drops, pings, alive = await fleet.finish()
    hold_drops = drops - reg_drops
    report.line("hold: held %d peers for %.1f s: %d pings answered, %d dropped by the server (%s); %d still open" % (
        stats["registered"], args.seconds, pings - reg_pings, sum(hold_drops.values()), counts_text(hold_drops), alive))
    rss_per_peer = None
    if rss_before is not None and rss_registered is not None and stats["registered"]:
        rss_per_peer = round((rss_registered - rss_before) / stats["registered"], 2)
        report.line("hold: server RSS %d KiB before, %d KiB with all registered, %s KiB after the hold: %.2f KiB per peer"
                    % (rss_before, rss_registered, rss_after, rss_per_peer))
    if cpu_idle is not None:
        report.line("hold: server CPU %.2f %% of one core while idle-holding (%s %% while registering)" % (
            cpu_idle, cpu_connect))
    report.set(n=args.n, addresses=args.addresses, concurrency=args.concurrency, workers=args.workers,
               registrations_per_s=round(rate, 1) if rate else None, hold_seconds=args.seconds,
               pings_answered_in_hold=pings - reg_pings, dropped_while_registering=dict(reg_drops),
               dropped_in_hold=dict(hold_drops), still_open=alive,
               rss_before_kib=rss_before, rss_registered_kib=rss_registered, rss_after_kib=rss_after,
               rss_per_peer_kib=rss_per_peer, server_cpu_idle_percent=cpu_idle,
               server_cpu_register_percent=cpu_connect, **stats)


async def mode_storm(args, ports, report, proc):
    rss_before = proc.rss_kib()
    meter = CpuMeter(proc)
    report.line("storm: %d peers at once from %d source addresses%s%s" % (
        args.n, args.addresses, ", retrying refusals" if args.retry else "",
        ", %d processes" % args.workers if args.workers > 1 else ""))
    fleet = make_fleet(args, ports, 0, "storm")
    stats, storm_drops, _ = await fleet.register()
    cpu = meter.percent()
    rss_after = proc.rss_kib()
    report.line("storm: %d/%d registered in %.2f s; %d peers needed retries (%d retries, at most %d tries for one)" % (
        stats["registered"], args.n, stats["seconds"], stats["retried_peers"], stats["retries"], stats["max_tries"]))
    report.line("storm: refusals seen: %s" % counts_text(stats["attempt_failures"]))
    report.line("storm: final failures: %s" % counts_text(stats["failures"]))
    report.line("storm: registration latency p50 %s ms, p99 %s ms, max %s ms" % (
        stats["latency_ms_p50"], stats["latency_ms_p99"], stats["latency_ms_max"]))
    if cpu is not None:
        report.line("storm: server CPU %.1f %% of one core during the storm; RSS %s -> %s KiB" % (cpu, rss_before, rss_after))
    if storm_drops:
        report.line("storm: dropped by the server during the storm: %s" % counts_text(storm_drops))
    if args.seconds > 0:
        await asyncio.sleep(args.seconds)
    drops, _, alive = await fleet.finish()
    after = drops - storm_drops
    if args.seconds > 0:
        report.line("storm: held for %.1f s afterwards, %d dropped (%s)" % (args.seconds, sum(after.values()), counts_text(after)))
    report.set(n=args.n, addresses=args.addresses, retry=args.retry, workers=args.workers, storm_seconds=stats["seconds"],
               server_cpu_percent=cpu, rss_before_kib=rss_before, rss_after_kib=rss_after,
               dropped_during_storm=dict(storm_drops), dropped_after=dict(after), still_open=alive, **stats)


# --------------------------------------------------------------------------------------------
# churn


async def mode_churn(args, ports, report, proc):
    target = (ports["host"], ports["main"])
    meter = CpuMeter(proc)
    rss_before = proc.rss_kib()
    failures = collections.Counter()
    latencies = []
    next_index = 0
    ok = 0
    deadline = time.monotonic() + args.max_seconds
    report.line("churn: %d cycles, %d at a time, from %d source addresses%s" % (
        args.count, args.concurrency, args.addresses, ", each worker reusing one ID" if args.reuse_ids else ""))

    async def worker(w):
        nonlocal next_index, ok
        while next_index < args.count and time.monotonic() < deadline:
            i = next_index
            next_index += 1
            peer_id = "%s-%d" % (args.prefix, w if args.reuse_ids else i)
            started = time.monotonic()
            try:
                link = await open_peer(target, source_address(i % args.addresses), args.token,
                                       key_for(args.key_seed, peer_id), peer_id, args.timeout)
            except Failure as f:
                failures[f.code] += 1
                continue
            latencies.append(time.monotonic() - started)
            ok += 1
            link.close()
            try:
                await link.writer.wait_closed()
            except Exception:
                pass

    t0 = time.monotonic()
    tasks = [asyncio.create_task(worker(w)) for w in range(args.concurrency)]
    try:
        async with asyncio.timeout(args.max_seconds + args.timeout + 1):
            await asyncio.gather(*tasks)
    except TimeoutError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        failures["gave_up_at_max_seconds"] += 1
    elapsed = time.monotonic() - t0
    cpu = meter.percent()
    rate = ok / elapsed if elapsed > 0 else None
    report.line("churn: %d/%d cycles in %.2f s: %.0f cycles/s; failures: %s" % (
        ok, next_index, elapsed, rate or 0, counts_text(failures)))
    report.line("churn: cycle latency p50 %s ms, p99 %s ms" % (ms(percentile(latencies, 50)), ms(percentile(latencies, 99))))
    rss_after = proc.rss_kib()
    if cpu is not None:
        report.line("churn: server CPU %.1f %% of one core; RSS %s -> %s KiB" % (cpu, rss_before, rss_after))
    report.set(count=args.count, concurrency=args.concurrency, cycles=ok, started=next_index, seconds=round(elapsed, 3),
               cycles_per_s=round(rate, 1) if rate else None, failures=dict(failures),
               latency_ms_p50=ms(percentile(latencies, 50)), latency_ms_p99=ms(percentile(latencies, 99)),
               server_cpu_percent=cpu, rss_before_kib=rss_before, rss_after_kib=rss_after)


# --------------------------------------------------------------------------------------------
# slowloris


def slowloris_ports(args, ports):
    chosen = []
    for name in args.ports.split(","):
        name = name.strip()
        if name in ("main", "hole", "relay"):
            if not ports[name]:
                raise UsageError("the server's %s port is unknown" % name)
            chosen.append((name, ports[name]))
        elif name == "probe":
            if not ports["probe"]:
                raise UsageError("the server's probe ports are unknown")
            chosen.extend(("probe%d" % i, p) for i, p in enumerate(ports["probe"]))
        elif name.isdigit():
            chosen.append((name, int(name)))
        else:
            raise UsageError("unknown port %r (main, hole, relay, probe or a number)" % name)
    return chosen


PAYLOADS = {
    "none": b"",
    "partial": b"\x00\x00",                 # half a frame header
    "header": (1000).to_bytes(4, "big"),    # a whole header announcing a body that never comes
}

LIFETIME_BUCKETS = [(0.1, "<0.1s"), (1.0, "<1s"), (5.0, "<5s"), (15.0, "<15s"), (60.0, "<60s"), (float("inf"), ">=60s")]


def lifetime_bucket(seconds):
    for limit, name in LIFETIME_BUCKETS:
        if seconds < limit:
            return name
    return LIFETIME_BUCKETS[-1][1]


def close_kind(heard, how):
    """What the server said before closing: its last frame's type (error:CODE for errors), else how it closed."""
    last = None
    offset = 0
    while offset + 4 <= len(heard):
        length = int.from_bytes(heard[offset:offset + 4], "big")
        if length == 0 or offset + 4 + length > len(heard):
            break
        try:
            message = json.loads(heard[offset + 4:offset + 4 + length])
            last = message.get("type", "?")
            if last == "error":
                last = "error:%s" % message.get("code", "?")
        except ValueError:
            last = "garbage"
        offset += 4 + length
    if last is None:
        return "nothing_" + how if not heard else "partial_frame_" + how
    return "%s_then_%s" % (last, how)


async def mode_slowloris(args, ports, report, proc):
    loop = asyncio.get_running_loop()
    targets = slowloris_ports(args, ports)
    payload = PAYLOADS[args.send]
    host = ports["host"]
    deadline = time.monotonic() + args.seconds
    open_now = collections.Counter()      # per port name
    opens = collections.Counter()
    server_closes = collections.Counter()
    lifetimes = {name: collections.Counter() for name, _ in targets}
    close_kinds = {name: collections.Counter() for name, _ in targets}
    connect_failures = collections.Counter()
    budget = [args.max_opens]
    stop = asyncio.Event()

    async def slot(i):
        name, port = targets[i % len(targets)]
        local_ip = source_address(i % args.addresses)
        while not stop.is_set() and time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            try:
                sock = await open_socket(host, port, local_ip, args.timeout)
            except Failure as f:
                connect_failures[f.code] += 1
                await asyncio.sleep(0.05)  # an error (not a close): do not spin on it
                continue
            opens[name] += 1
            open_now[name] += 1
            opened = time.monotonic()
            closed_by_server = False
            how = "eof"
            heard = b""
            try:
                if payload:
                    await loop.sock_sendall(sock, payload)
                while True:
                    data = await loop.sock_recv(sock, 4096)
                    if not data:
                        closed_by_server = True
                        break
                    if len(heard) < 8192:
                        heard += data  # the main port's hello, a refusal frame, ...
            except (ConnectionResetError, BrokenPipeError):
                closed_by_server = True
                how = "reset"
            except OSError:
                closed_by_server = True
                how = "os_error"
            finally:
                open_now[name] -= 1
                sock.close()
            if closed_by_server:
                server_closes[name] += 1
                lifetimes[name][lifetime_bucket(time.monotonic() - opened)] += 1
                close_kinds[name][close_kind(heard, how)] += 1
            if args.reopen_delay_ms > 0:
                await asyncio.sleep(args.reopen_delay_ms / 1000.0)

    canary = None
    if args.canary:  # admission is shared by every port, so a flood of any of them can lock newcomers out
        canary = start_canary(args, ports)
    report.line("slowloris: %d connections from %d addresses to %s, sending %r, for %.1f s%s" % (
        args.connections, args.addresses, ",".join("%s:%d" % t for t in targets), args.send, args.seconds,
        " (canary newcomer on the main port)" if canary else ""))
    meter = CpuMeter(proc)
    t0 = time.monotonic()
    tasks = [asyncio.create_task(slot(i)) for i in range(args.connections)]
    timeline = []
    peak = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        held = sum(open_now.values())
        peak = max(peak, held)
        sample = {"t": round(time.monotonic() - t0, 1), "open": held, "by_port": dict(open_now),
                  "server_closes": sum(server_closes.values()), "opens": sum(opens.values())}
        if proc.pid is not None:
            sample["server_fds"] = proc.fds()
            sample["server_rss_kib"] = proc.rss_kib()
        timeline.append(sample)
        print("  slowloris: %5.1f s: %d open (%s), %d opened, %d closed by the server%s" % (
            sample["t"], held, counts_text(open_now), sample["opens"], sample["server_closes"],
            ", server fds %s" % sample.get("server_fds") if proc.pid is not None else ""), flush=True)
        if budget[0] <= 0:
            report.line("slowloris: --max-opens reached; stopping early")
            break
    cpu = meter.percent()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.monotonic() - t0
    canary_result = finish_canary(canary)
    steady = [s["open"] for s in timeline[len(timeline) // 2:]] or [0]
    report.line("slowloris: held %d open at the peak, %d on average over the second half" % (
        peak, sum(steady) // len(steady)))
    for name, _ in targets:
        report.line("slowloris: %s: %d opened, %d closed by the server (lifetimes: %s; last said: %s)" % (
            name, opens[name], server_closes[name], counts_text(lifetimes[name]), counts_text(close_kinds[name])))
    if connect_failures:
        report.line("slowloris: connect failures: %s" % counts_text(connect_failures))
    if cpu is not None:
        report.line("slowloris: server CPU %.1f %% of one core" % cpu)
    if canary_result and "error" in canary_result:
        report.line("slowloris: canary: %s" % canary_result["error"])
    elif canary_result:
        report.line("slowloris: canary newcomer: %d/%d handshakes ok, failures: %s, latency p50 %s ms, longest lockout %.1f s" % (
            canary_result.get("ok", 0), canary_result.get("attempts", 0), counts_text(canary_result.get("failures", {})),
            canary_result.get("latency_ms_p50"), canary_result.get("longest_lockout_s") or 0.0))
    report.set(connections=args.connections, addresses=args.addresses, ports=[t[0] for t in targets], send=args.send,
               seconds=round(elapsed, 2), peak_open=peak, mean_open_second_half=sum(steady) // len(steady),
               opens=dict(opens), server_closes=dict(server_closes),
               close_kinds={k: dict(v) for k, v in close_kinds.items()},
               lifetimes={k: dict(v) for k, v in lifetimes.items()}, connect_failures=dict(connect_failures),
               server_cpu_percent=cpu, timeline=timeline, canary=canary_result)


def start_canary(args, ports):
    command = [sys.executable, os.path.abspath(__file__), "canary", "--json", "--seconds", str(args.seconds),
               "--server", "%s:%d" % (ports["host"], ports["main"]), "--source-base", str(args.canary_base)]
    if args.token:
        command += ["--token", args.token]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def finish_canary(process):
    if process is None:
        return None
    try:
        out, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {"error": "canary printed no figures (exit %s)" % process.returncode}


# --------------------------------------------------------------------------------------------
# canary: is a newcomer let in?


async def mode_canary(args, ports, report, proc):
    target = (ports["host"], ports["main"])
    deadline = time.monotonic() + args.seconds
    failures = collections.Counter()
    latencies = []
    timeline = collections.OrderedDict()
    attempts = ok = 0
    longest = 0.0
    failing_since = None
    t0 = time.monotonic()
    k = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        second = int(started - t0)
        bucket = timeline.setdefault(second, {"t": second, "ok": 0, "failed": 0})
        attempts += 1
        try:
            link = await open_peer(target, source_address(k % 200, base=args.source_base), args.token, None, None,
                                   min(args.timeout, max(0.1, deadline - started + 0.5)))
            link.close()
            ok += 1
            bucket["ok"] += 1
            latencies.append(time.monotonic() - started)
            if failing_since is not None:
                longest = max(longest, time.monotonic() - failing_since)
                failing_since = None
        except Failure as f:
            failures[f.code] += 1
            bucket["failed"] += 1
            if failing_since is None:
                failing_since = started
        k += 1
        await asyncio.sleep(max(0.0, args.interval_ms / 1000.0 - (time.monotonic() - started)))
    if failing_since is not None:
        longest = max(longest, time.monotonic() - failing_since)
    report.line("canary: %d/%d newcomer handshakes ok in %.1f s; failures: %s; latency p50 %s ms, p99 %s ms; longest lockout %.1f s" % (
        ok, attempts, args.seconds, counts_text(failures), ms(percentile(latencies, 50)), ms(percentile(latencies, 99)), longest))
    report.set(attempts=attempts, ok=ok, failures=dict(failures), latency_ms_p50=ms(percentile(latencies, 50)),
               latency_ms_p99=ms(percentile(latencies, 99)), longest_lockout_s=round(longest, 2),
               timeline=list(timeline.values()))


# --------------------------------------------------------------------------------------------
# spam


def reply_kind(message):
    """'attempt', 'error:CODE', and for busy which cap: busy_initiator, busy_target or busy_server."""
    kind = message.get("type", "?")
    if kind != "error":
        return kind
    code = message.get("code", "?")
    if code == "busy":
        text = message.get("message", "")
        if "your" in text or "you already" in text:
            return "error:busy_initiator"
        if "that peer" in text:
            return "error:busy_target"
        if "server" in text:
            return "error:busy_server"
    return "error:%s" % code


async def bystander(target_addr, args, target_id, deadline, replies):
    """A registered peer of its own asking for target once a second, as a real user would."""
    peer_id = "%s-bystander" % args.prefix
    try:
        link = await open_peer(target_addr, source_address(1, base=97), args.token, key_for(args.key_seed, peer_id),
                               peer_id, args.timeout)
    except Failure as f:
        replies["open_failed_%s" % f.code] += 1
        return
    try:
        req = 100
        await asyncio.sleep(min(0.5, args.seconds / 4))  # let the spammers go first
        while time.monotonic() < deadline:
            req += 1
            started = time.monotonic()
            try:
                reply = await link.request({"type": "connect", "target": target_id, "path": "relay", "req": req},
                                           args.timeout)
                replies[reply_kind(reply)] += 1
            except TimeoutError:
                replies["timeout"] += 1
            except Failure as f:
                replies["closed"] += 1
                return
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        link.close()


async def mode_spam(args, ports, report, proc):
    target_addr = (ports["host"], ports["main"])
    replies = collections.Counter()
    target_events = collections.Counter()
    drops = collections.Counter()
    stop = asyncio.Event()
    target_link = None
    target_id = args.target
    meter = CpuMeter(proc)
    rss_before = proc.rss_kib()
    if target_id is None:
        target_id = "%s-spam-target" % args.prefix
        try:
            target_link = await open_peer(target_addr, source_address(0, base=97), args.token,
                                          key_for(args.key_seed, target_id), target_id, args.timeout)
        except Failure as f:
            raise Unreachable("could not register the spam target %s: %s" % (target_id, f.code))
    spammers = []
    for c in range(args.connections):
        try:
            spammers.append(await open_peer(target_addr, source_address(c % args.addresses), args.token,
                                            key_for(args.key_seed, "%s-spammer-%d" % (args.prefix, c)), None, args.timeout))
        except Failure as f:
            replies["open_failed_%s" % f.code] += 1
    report.line("spam: %d connections sending connect(%s, relay) every %d ms for %.1f s%s" % (
        len(spammers), target_id, args.interval_ms, args.seconds,
        " (target registered by this run)" if target_link else ""))
    sent = [0]
    answered = [0]
    t0 = time.monotonic()
    deadline = t0 + args.seconds

    async def reader(link):
        while not stop.is_set():
            try:
                message = await link.recv(0.5)
            except TimeoutError:
                continue
            except Failure as f:
                drops["%s_%s" % (f.code, link.closed_reason or "")] += 1
                return
            replies[reply_kind(message)] += 1
            if "req" in message:
                answered[0] += 1

    async def writer(link):
        req = 0
        next_at = time.monotonic()
        while time.monotonic() < deadline and not link.writer.is_closing():
            req += 1
            link.send({"type": "connect", "target": target_id, "path": "relay", "req": req})
            sent[0] += 1
            try:
                await link.writer.drain()
            except (ConnectionError, OSError):
                return
            next_at += args.interval_ms / 1000.0
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    readers = [asyncio.create_task(reader(link)) for link in spammers]
    bystander_replies = collections.Counter()
    bystander_task = asyncio.create_task(bystander(target_addr, args, target_id, deadline, bystander_replies))
    target_task = asyncio.create_task(keep_alive(target_link, drops, target_events)) if target_link else None
    await asyncio.gather(*(writer(link) for link in spammers), bystander_task)
    await asyncio.sleep(min(1.0, args.timeout))  # late replies
    cpu = meter.percent()
    rss_after = proc.rss_kib()
    stop.set()
    await asyncio.gather(*readers, return_exceptions=True)
    if target_task:
        target_task.cancel()
        await asyncio.gather(target_task, return_exceptions=True)
        target_link.close()
    close_all(spammers)
    elapsed = time.monotonic() - t0
    report.line("spam: sent %d connect requests (%.0f/s), %d answered; replies: %s" % (
        sent[0], sent[0] / args.seconds if args.seconds else 0, answered[0], counts_text(replies)))
    report.line("spam: a bystander peer asking for %s once a second got: %s" % (target_id, counts_text(bystander_replies)))
    if target_link:
        report.line("spam: the target received: %s" % counts_text(target_events))
    if drops:
        report.line("spam: connections the server closed: %s" % counts_text(drops))
    if cpu is not None:
        report.line("spam: server CPU %.1f %% of one core; RSS %s -> %s KiB" % (cpu, rss_before, rss_after))
    report.set(connections=len(spammers), interval_ms=args.interval_ms, target=target_id, sent=sent[0], answered=answered[0],
               replies=dict(replies), bystander_replies=dict(bystander_replies), target_received=dict(target_events), dropped=dict(drops),
               seconds=round(elapsed, 2), server_cpu_percent=cpu, rss_before_kib=rss_before, rss_after_kib=rss_after)


# --------------------------------------------------------------------------------------------
# Command line


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("server and output")
    g.add_argument("--server", metavar="HOST:PORT", help="the main port (loopback only); other ports default to main+1..+4")
    g.add_argument("--ready-file", metavar="FILE", help="the server's --ready-file: takes every port from it")
    g.add_argument("--token", default=os.environ.get("RENDEZVOUS_TOKEN", ""), help="shared secret (env RENDEZVOUS_TOKEN)")
    g.add_argument("--server-pid", type=int, metavar="PID", help="the server's pid: report its RSS, CPU and fds from /proc")
    g.add_argument("--server-log", metavar="FILE", help="the server's log: report how much it grew (log floods)")
    g.add_argument("--json", action="store_true", help="end with one JSON object line of figures")
    g.add_argument("--addresses", type=positive_int, default=64, metavar="K",
                   help="distinct source addresses 127.100.x.y to spread connections over (default 64)")
    g.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per-step timeout (default 10 s)")
    g.add_argument("--prefix", default="load", help="peer ID prefix (default load)")
    g.add_argument("--key-seed", default="load", help="identity keys are derived from this and the ID (default load)")

    parser = argparse.ArgumentParser(
        prog="load.py", description="Load and abuse client for the rendezvous server (loopback only).",
        epilog="Exit status: 0 when the run happened, 2 on a usage error, 3 when the server could not be reached.")
    sub = parser.add_subparsers(dest="mode", required=True, metavar="MODE")

    def many(p, seconds_default, seconds_help):
        p.add_argument("--seconds", type=float, default=seconds_default, help=seconds_help)
        p.add_argument("--retry", action="store_true", help="retry refused or dropped attempts with jittered back-off")
        p.add_argument("--max-retries", type=int, default=30, help="tries after the first per peer (default 30)")
        p.add_argument("--retry-min-ms", type=float, default=50, help="first back-off (default 50 ms)")
        p.add_argument("--retry-max-ms", type=float, default=2000, help="longest back-off (default 2000 ms)")
        p.add_argument("--max-seconds", type=float, default=120, help="give up registering after this (default 120 s)")
        p.add_argument("--workers", type=positive_int, default=1,
                       help="spread the peers over this many client processes (default 1; 2 uses both cores)")

    p = sub.add_parser("hold", parents=[common], help="N registered peers held open")
    p.add_argument("n", type=positive_int, help="peers to hold")
    many(p, 5.0, "seconds to hold them once all are registered (default 5)")
    p.add_argument("--concurrency", type=positive_int, default=128,
                   help="handshakes in flight at once (default 128; the server admits 256 pending)")
    p.add_argument("--ping-interval", type=float, default=0.0, metavar="S",
                   help="also ping the server every S seconds from each peer (default: only answer)")

    p = sub.add_parser("storm", parents=[common], help="N peers connecting and registering at once")
    p.add_argument("n", type=positive_int, help="peers")
    many(p, 0.0, "seconds to hold them afterwards (default 0)")

    p = sub.add_parser("churn", parents=[common], help="connect-register-close cycles")
    p.add_argument("--count", type=positive_int, default=200, help="cycles (default 200)")
    p.add_argument("--concurrency", type=positive_int, default=16, help="cycles in flight (default 16)")
    p.add_argument("--reuse-ids", action="store_true", help="each worker re-registers one ID (shows close/register races)")
    p.add_argument("--seconds", "--max-seconds", dest="max_seconds", type=float, default=60,
                   help="stop after this even if --count is not reached (default 60 s)")

    p = sub.add_parser("slowloris", parents=[common], help="silent connections, re-opened when closed")
    p.add_argument("--connections", type=positive_int, default=500, help="connections to keep trying to hold (default 500)")
    p.add_argument("--ports", default="main", help="comma list of main, hole, relay, probe (both) or numbers (default main)")
    p.add_argument("--send", choices=sorted(PAYLOADS), default="none",
                   help="none, partial (2 header bytes) or header (a 1000-byte frame announced, never sent)")
    p.add_argument("--seconds", type=float, default=5.0, help="run time (default 5)")
    p.add_argument("--reopen-delay-ms", type=float, default=0.0, help="pause before re-opening a closed one (default 0)")
    p.add_argument("--max-opens", type=positive_int, default=2_000_000, help="cap on connections opened in all")
    p.add_argument("--canary-base", type=int, default=99,
                   help="the canary connects from 127.B.0.x (default 99: below the flood's 127.100+)")
    p.add_argument("--no-canary", dest="canary", action="store_false",
                   help="do not run the newcomer canary (a second process trying hello+auth on the main port)")

    p = sub.add_parser("spam", parents=[common], help="connect requests at a fixed rate")
    p.add_argument("--connections", type=positive_int, default=4, help="authenticated, unregistered connections (default 4)")
    p.add_argument("--interval-ms", type=float, default=50, help="between requests on each connection (default 50)")
    p.add_argument("--seconds", type=float, default=3.0, help="run time (default 3)")
    p.add_argument("--target", help="peer ID to connect to (default: register <prefix>-spam-target and use it)")

    p = sub.add_parser("_worker", parents=[common])  # one process of --workers (internal)
    many(p, 0.0, argparse.SUPPRESS)
    p.add_argument("--n", type=positive_int, required=True)
    p.add_argument("--worker-index", type=int, required=True)
    p.add_argument("--worker-count", type=positive_int, required=True)
    p.add_argument("--start-at", type=float, required=True)
    p.add_argument("--concurrency", type=int, default=0)
    p.add_argument("--ping-interval", type=float, default=0.0)

    p = sub.add_parser("canary", parents=[common], help="a newcomer trying hello+auth repeatedly")
    p.add_argument("--seconds", type=float, default=5.0, help="run time (default 5)")
    p.add_argument("--interval-ms", type=float, default=250, help="between tries (default 250)")
    p.add_argument("--source-base", type=int, default=99, help="tries come from 127.B.x.y (default 99)")
    return parser


def check_args(args):
    if getattr(args, "seconds", None) is not None and (args.seconds < 0 or args.seconds > 3600):
        raise UsageError("--seconds must be between 0 and 3600")
    if hasattr(args, "max_seconds") and not 0 < args.max_seconds <= 3600:
        raise UsageError("--max-seconds must be between 0 and 3600")
    if args.addresses > 250 * 256 * 100:
        raise UsageError("--addresses is too large")
    for name in ("source_base", "canary_base"):
        if not 1 <= getattr(args, name, 99) <= 254:
            raise UsageError("--%s must be 1..254" % name.replace("_", "-"))
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if getattr(args, "interval_ms", 1) <= 0:
        raise UsageError("--interval-ms must be positive")
    if args.mode in ("hold", "storm", "churn", "spam") and not all(c.isalnum() or c in "._-" for c in args.prefix):
        raise UsageError("--prefix may hold only A-Z a-z 0-9 . _ -")


MODES = {"hold": mode_hold, "storm": mode_storm, "churn": mode_churn, "slowloris": mode_slowloris,
         "spam": mode_spam, "canary": mode_canary}


async def run(args):
    ports = resolve_ports(args)
    proc = ServerProc(args.server_pid)
    report = Report(args.mode, args)
    report.set(server="%s:%d" % (ports["host"], ports["main"]), loadavg_1m_start=round(os.getloadavg()[0], 2))
    if os.getloadavg()[0] > 1.0:
        report.line("%s: note: load average %.2f before the run: other work competes for the CPUs, so rates and "
                    "CPU shares are skewed" % (args.mode, os.getloadavg()[0]))
    if args.mode != "canary":  # the canary measures lockouts: not getting in is its result
        await preflight(ports, min(3.0, args.timeout))
    log_start = log_size(args.server_log)
    started = time.monotonic()
    await MODES[args.mode](args, ports, report, proc)
    if args.server_log:
        grown = log_size(args.server_log)
        lines = grown[1] - log_start[1]
        rate = lines / max(0.001, time.monotonic() - started)
        report.line("%s: the server log grew by %d lines (%d bytes), %.0f lines/s" % (
            args.mode, lines, grown[0] - log_start[0], rate))
        report.set(server_log_lines=lines, server_log_bytes=grown[0] - log_start[0], server_log_lines_per_s=round(rate, 1))
    if proc.pid is not None:
        report.set(server_alive=proc.alive())
        if not proc.alive():
            report.line("%s: THE SERVER PROCESS %d IS GONE" % (args.mode, proc.pid))
    report.finish()


def main(argv=None):
    args = build_parser().parse_args(argv)
    limit = raise_nofile()
    if args.mode == "_worker":
        asyncio.run(worker_main(args))
        return 0
    try:
        check_args(args)
        needed = max(getattr(args, "n", 0), getattr(args, "connections", 0))
        if needed + 64 > limit:
            raise UsageError("%d connections need more descriptors than RLIMIT_NOFILE allows (%d)" % (needed, limit))
        asyncio.run(run(args))
    except UsageError as e:
        print("load.py: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except Unreachable as e:
        print("load.py: %s" % e, file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
