#!/usr/bin/env python3
"""Replays every line of cases.txt through HAProxy (Debian's 2.6 by default) and checks the
answer recorded there (the part after the "/" when halo deliberately differs).

    python3 src/http/h1/haproxy_lab.py [-v] [path/to/haproxy]   (ONLY=text: cases whose name has it)

Starts `haproxy -db` on free 127.0.0.1 ports with two frontends (default, and with
`option accept-invalid-http-request` + a backend with `accept-invalid-http-response`) and a
Python backend that reads what HAProxy forwards for 0.3 s, then answers 200 (or the bytes of
an R/J/W line) and closes. A request answered by the backend counts as "ok"; otherwise the
status HAProxy answered (408 when it waited for more bytes). About 2 minutes.
"""
import os, re, socket, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
VERBOSE = "-v" in sys.argv
args = [a for a in sys.argv[1:] if a != "-v"]
HAPROXY = args[0] if args else "/usr/sbin/haproxy"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            i += 2
            if n == "x":
                out.append(int(s[i:i + 2], 16))
                i += 2
            else:
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[n]
        else:
            out += c.encode()
            i += 1
    return bytes(out)


def load_cases():
    cases = []
    for line in open(os.path.join(HERE, "cases.txt"), encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        head, name, raw = line.split(" | ", 2)
        kind, expect = head.split()
        haproxy_expect = expect.split("/")[-1]
        cases.append((kind, haproxy_expect, name, unescape(raw)))
    return cases


FE, FE_INV, BE = free_port(), free_port(), free_port()
answer = [b""]
received = []


def backend():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", BE))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.settimeout(0.3)
        data = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                data += d
        except Exception:
            pass
        received.append(data)
        try:
            c.sendall(answer[0])
            c.shutdown(socket.SHUT_WR)
            time.sleep(0.05)
        except Exception:
            pass
        c.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
WS_REQ = (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def exchange(port, request, response):
    answer[0] = response
    received.clear()
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(request)
    c.settimeout(2.5)
    out = b""
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            out += d
            c.settimeout(0.6)
    except (socket.timeout, ConnectionResetError):
        pass
    c.close()
    m = re.match(rb"HTTP/1\.[01] (\d+)", out)
    return int(m.group(1)) if m else None, out


def main():
    cfg = f"""
global
    tune.bufsize 16384
    tune.maxrewrite 1024
defaults
    mode http
    timeout client 3s
    timeout server 3s
    timeout connect 1s
    timeout http-request 1500ms
frontend fe
    bind 127.0.0.1:{FE}
    default_backend be
frontend fe_inv
    bind 127.0.0.1:{FE_INV}
    option accept-invalid-http-request
    default_backend be_inv
backend be
    server s1 127.0.0.1:{BE}
backend be_inv
    option accept-invalid-http-response
    server s1 127.0.0.1:{BE}
"""
    tmp = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    tmp.write(cfg)
    tmp.close()
    threading.Thread(target=backend, daemon=True).start()
    proc = subprocess.Popen([HAPROXY, "-db", "-f", tmp.name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    bad = 0
    try:
        cases = load_cases()
        only = os.environ.get("ONLY")
        if only:
            cases = [c for c in cases if any(o in c[2] for o in only.split(","))]
        for kind, expect, name, raw in cases:
            if kind in "QI":
                status, out = exchange(FE if kind == "Q" else FE_INV, raw, OK)
                got = "ok" if status == 200 else str(status)
            else:
                req = WS_REQ if kind == "W" else b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                status, out = exchange(FE_INV if kind == "J" else FE, req, raw)
                got = "502" if status == 502 else ("ok" if status else "none")
            if expect == "*":
                expect = got
            mark = "  " if got == expect else "XX"
            bad += got != expect
            if VERBOSE or got != expect:
                print(f"{mark} {kind} {name!r}: expected {expect}, haproxy {got}")
                if got != expect and VERBOSE:
                    print("     ", out[:300], received)
        print(f"{len(cases)} cases, {bad} differ from cases.txt")
    finally:
        proc.terminate()
        os.unlink(tmp.name)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
