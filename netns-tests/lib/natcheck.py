#!/usr/bin/env python3
"""NAT lab probe (stdlib only). Runs inside the lab's namespaces.

  serve    --ips IP1,IP2 --ports P1,P2 [--ready FILE]
           (server) listens on every IP:PORT; on each connection sends "OBS <ip> <port>" (the
           source it observed), then answers "DIAL <src_ip> <dst_ip> <dst_port> <timeout>" with
           "RES ok|refused|timeout|...": a connection from src_ip (new ephemeral port) to dst.
  classify --server IP1 --server2 IP2 --ports P1,P2 --port Q
           (host behind a NAT) prints JSON: mapping (none|EIM|ADM|APDM), filtering
           (none|EIF|ADF|APDF|APDF+RST), preserving (yes|no), observed endpoints.
  punch    --name a --peer b --port X --server IP:PORT --dir D [--timeout S] [--start-delay S]
           learns its mapped endpoint from the server, publishes it as D/<name>.ep, reads the
           peer's D/<peer>.ep, then listens on X and connects from X until one connection
           completes and both sides exchange HELLO. Prints JSON; exit 0 = direct, 1 = failed.
"""
import argparse
import errno
import json
import os
import select
import socket
import sys
import threading
import time


def reuse_socket(port, ip="0.0.0.0"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((ip, port))
    return s


def err_name(code):
    return {errno.ECONNREFUSED: "refused", errno.ETIMEDOUT: "timeout",
            errno.EHOSTUNREACH: "unreach", errno.ENETUNREACH: "unreach"}.get(
        code, "error:" + errno.errorcode.get(code, str(code)))


def connect(sock, dst, timeout):
    """Non-blocking connect with a deadline. Returns "ok" or a failure name; sock stays usable."""
    sock.setblocking(False)
    code = sock.connect_ex(dst)
    if code not in (0, errno.EINPROGRESS):
        return err_name(code)
    if code == errno.EINPROGRESS:
        _, w, _ = select.select([], [sock], [], timeout)
        if not w:
            return "timeout"
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            return err_name(code)
    sock.setblocking(True)
    return "ok"


def read_line(sock, timeout):
    sock.settimeout(timeout)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            buf += chunk
    except (socket.timeout, OSError):
        pass
    return buf.decode(errors="replace").strip()


# ---------------------------------------------------------------- serve

def serve_conn(conn, addr):
    with conn:
        conn.sendall(f"OBS {addr[0]} {addr[1]}\n".encode())
        while True:
            line = read_line(conn, 600)
            if not line or line == "QUIT":
                return
            parts = line.split()
            if parts[0] == "DIAL" and len(parts) == 5:
                src, dst, port, tmo = parts[1], parts[2], int(parts[3]), float(parts[4])
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((src, 0))
                res = connect(s, (dst, port), tmo)
                if res == "ok":  # a real endpoint behind the NAT answers with HELLO
                    hello = read_line(s, tmo)
                    res = "ok" if hello.startswith("HELLO") else "no-hello"
                s.close()
                conn.sendall(f"RES {res}\n".encode())
            else:
                conn.sendall(b"ERR\n")


def cmd_serve(a):
    listeners = []
    for ip in a.ips.split(","):
        for port in a.ports.split(","):
            s = reuse_socket(int(port), ip)
            s.listen(64)
            listeners.append(s)
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write("ready\n")
        os.rename(a.ready + ".tmp", a.ready)
    while True:
        r, _, _ = select.select(listeners, [], [])
        for s in r:
            conn, addr = s.accept()
            threading.Thread(target=serve_conn, args=(conn, addr), daemon=True).start()


# ---------------------------------------------------------------- classify

def observe(port, dst, timeout=3.0):
    """Connect from local `port` to dst; returns (socket, (obs_ip, obs_port), local_ip)."""
    s = reuse_socket(port)
    res = connect(s, dst, timeout)
    if res != "ok":
        raise SystemExit(f"natcheck: cannot reach server {dst[0]}:{dst[1]} from port {port}: {res}")
    line = read_line(s, timeout).split()
    if len(line) != 3 or line[0] != "OBS":
        raise SystemExit(f"natcheck: bad answer from server {dst}: {line}")
    return s, (line[1], int(line[2])), s.getsockname()[0]


def hello_acceptor(listener):
    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            return
        try:
            c.sendall(b"HELLO\n")
            time.sleep(0.2)
        finally:
            c.close()


def cmd_classify(a):
    p1, p2 = (int(x) for x in a.ports.split(","))
    keep = []
    obs = []
    local_ip = None
    for dst in ((a.server, p1), (a.server, p2), (a.server2, p1)):
        s, o, local_ip = observe(a.port, dst)
        keep.append(s)
        obs.append(o)
    m11, m12, m21 = (o[1] for o in obs)
    if obs[0][0] == local_ip and m11 == a.port:
        mapping = "none"
    elif m11 == m12 == m21:
        mapping = "EIM"
    elif m11 == m12:
        mapping = "ADM"
    else:
        mapping = "APDM"
    preserving = "yes" if m11 == a.port else "no"

    # Filtering: a fresh port that has only contacted server IP1:P1. Then the server dials the
    # mapped endpoint from IP1 (another port) and from IP2.
    q = a.port + 1
    lst = reuse_socket(q)
    lst.listen(16)
    threading.Thread(target=hello_acceptor, args=(lst,), daemon=True).start()
    ctl, mapped, _ = observe(q, (a.server, p1))
    res = {}
    for src in (a.server, a.server2):
        ctl.sendall(f"DIAL {src} {mapped[0]} {mapped[1]} {a.dial_timeout}\n".encode())
        line = read_line(ctl, a.dial_timeout + 3).split()
        res[src] = line[1] if len(line) == 2 and line[0] == "RES" else "no-answer"
    r1, r2 = res[a.server], res[a.server2]
    if r1 == "ok" and r2 == "ok":
        filtering = "none" if mapping == "none" else "EIF"
    elif r1 == "ok":
        filtering = "ADF"
    elif r2 == "ok":
        filtering = "odd"
    else:
        filtering = "APDF+RST" if r1 == r2 == "refused" else "APDF"
    print(json.dumps({"mapping": mapping, "filtering": filtering, "preserving": preserving,
                      "local": f"{local_ip}:{a.port}",
                      "observed": [f"{ip}:{p}" for ip, p in obs],
                      "filter_probe": {"mapped": f"{mapped[0]}:{mapped[1]}",
                                       "from_ip1_other_port": r1, "from_ip2": r2}}))
    ctl.sendall(b"QUIT\n")


# ---------------------------------------------------------------- punch

def wait_file(path, deadline):
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                ip, port = f.read().split()
                return ip, int(port)
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    return None


def greet(sock, name, peer, timeout):
    try:
        sock.setblocking(True)
        sock.sendall(f"HELLO {name}\n".encode())
        return read_line(sock, timeout) == f"HELLO {peer}"
    except OSError:
        return False


def cmd_punch(a):
    start = time.monotonic()
    deadline = start + a.timeout
    sip, sport = a.server.rsplit(":", 1)
    lst = reuse_socket(a.port)
    lst.listen(16)
    ctl, mapped, _ = observe(a.port, (sip, int(sport)))
    mine = os.path.join(a.dir, a.name + ".ep")
    with open(mine + ".tmp", "w") as f:
        f.write(f"{mapped[0]} {mapped[1]}\n")
    os.rename(mine + ".tmp", mine)
    peer = wait_file(os.path.join(a.dir, a.peer + ".ep"), deadline)
    time.sleep(a.start_delay)  # e.g. to make one side's first SYNs hit the other NAT early
    out = {"name": a.name, "mapped": f"{mapped[0]}:{mapped[1]}", "result": "fail",
           "peer": f"{peer[0]}:{peer[1]}" if peer else None, "attempts": 0, "errors": {}}
    while peer and time.monotonic() < deadline:
        out["attempts"] += 1
        s = reuse_socket(a.port)
        s.setblocking(False)
        code = s.connect_ex(peer)
        attempt_end = min(deadline, time.monotonic() + 1.0)
        won = None
        while won is None and time.monotonic() < attempt_end:
            wl = [s] if code in (0, errno.EINPROGRESS) else []
            r, w, _ = select.select([lst], wl, [], max(0.0, attempt_end - time.monotonic()))
            if lst in r:
                c, addr = lst.accept()
                if addr[0] == peer[0] and greet(c, a.name, a.peer, 3.0):
                    won, via = c, "accept"
                else:
                    c.close()
            if s in w:
                code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0 and greet(s, a.name, a.peer, 3.0):
                    won, via = s, "connect"
                else:
                    code = code or -1
            if code not in (0, errno.EINPROGRESS):
                key = err_name(code) if code > 0 else "no-hello"
                out["errors"][key] = out["errors"].get(key, 0) + 1
                time.sleep(0.1)  # e.g. RST from a NAT: retry, it is not the end of the attempt
                break
        if won is not None:
            out.update(result="direct", via=via, seconds=round(time.monotonic() - start, 2))
            time.sleep(0.3)  # let the peer read our HELLO before closing
            won.close()
            break
        s.close()
    ctl.close()
    print(json.dumps(out))
    return 0 if out["result"] == "direct" else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--ips", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--ready")
    c = sub.add_parser("classify")
    c.add_argument("--server", required=True)
    c.add_argument("--server2", required=True)
    c.add_argument("--ports", required=True)
    c.add_argument("--port", type=int, default=42000)
    c.add_argument("--dial-timeout", type=float, default=2.0)
    p = sub.add_parser("punch")
    p.add_argument("--name", required=True)
    p.add_argument("--peer", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--start-delay", type=float, default=0.0)
    a = ap.parse_args()
    return {"serve": cmd_serve, "classify": cmd_classify, "punch": cmd_punch}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
