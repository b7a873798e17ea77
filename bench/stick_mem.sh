#!/bin/sh
# Memory of a stick table holding N IPv4 entries (`store gpc0,http_req_rate(10s)`), halo vs
# HAProxy: each proxy starts on the same config, the table is filled over the stats socket
# (`set table ft key IP data.gpc0 1`, many commands per line, one `prompt` connection),
# and VmRSS is read before and after. Prints bytes per entry for each.
#
# Usage:  cargo build --release
#         HALO_BIN=target/release/halo HAPROXY_BIN=/usr/sbin/haproxy N=1000000 bench/stick_mem.sh
# (needs python3; N defaults to 1000000, PER_LINE commands per CLI line to 300)
set -eu

HALO_BIN=${HALO_BIN:-target/release/halo}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}
N=${N:-1000000}
PER_LINE=${PER_LINE:-300}
RUN=$(mktemp -d /tmp/stick_mem.XXXXXX)
PID=

cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
    rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Sends N `set table` commands over one interactive connection, PER_LINE per line, each
# line answered before the next is sent; fails on any unexpected answer.
fill() {
    python3 - "$1" "$N" "$PER_LINE" <<'EOF'
import socket, sys
path, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
def until(marker):
    buf = b""
    while not (marker in buf and buf.endswith(b"> ")):
        d = s.recv(65536)
        if not d:
            sys.exit("stats socket closed")
        buf += d
    return buf
s.sendall(b"prompt\n")
until(b"")
# Each line ends with `show table ft key 10.0.0.0` (set by the first line), whose answer
# marks the end of the line's answers: HAProxy prompts after each command of a line.
i = 0
while i < n:
    cmds = []
    for k in range(i, min(n, i + per)):
        ip = "10.%d.%d.%d" % ((k >> 16) & 255, (k >> 8) & 255, k & 255)
        cmds.append("set table ft key %s data.gpc0 1" % ip)
    i += len(cmds)
    cmds.append("show table ft key 10.0.0.0")
    s.sendall((";".join(cmds) + "\n").encode())
    out = until(b"key=10.0.0.0 ")
    lines = [l.lstrip(b"> ") for l in out.split(b"\n")]
    odd = [l for l in lines if l.strip() and not l.startswith((b"#", b"0x"))]
    if odd:
        sys.exit("unexpected answer: %r" % odd[:3])
s.close()
EOF
}

# Entries in the table, from the `show table` header (`size:... used:N`).
used() {
    python3 - "$1" <<'EOF'
import socket, sys, re
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"show table\n")
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
m = re.search(rb"used:(\d+)", buf)
print(m.group(1).decode() if m else "?")
EOF
}

measure() {
    name=$1 bin=$2
    sock="$RUN/$name.sock"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$RUN/$name.cfg" <<EOF
global
    stats socket "$sock" level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend ft
    bind 127.0.0.1:$port
    stick-table type ip size 1m expire 1h store gpc0,http_req_rate(10s)
    http-request track-sc0 src
    http-request return status 200
EOF
    "$bin" -db -f "$RUN/$name.cfg" > "$RUN/$name.log" 2>&1 &
    PID=$!
    t=0
    while [ ! -S "$sock" ]; do
        sleep 0.1; t=$((t + 1))
        if [ $t -gt 100 ]; then echo "$name did not start:"; cat "$RUN/$name.log"; exit 1; fi
    done
    sleep 0.5
    before=$(rss_kb $PID)
    start=$(date +%s%N)
    fill "$sock"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    sleep 1
    after=$(rss_kb $PID)
    n=$(used "$sock")
    bpe=$(( (after - before) * 1024 / n ))
    printf '%-8s entries=%s rss_before=%sKiB rss_after=%sKiB delta=%sKiB bytes/entry=%s fill=%sms\n' \
        "$name" "$n" "$before" "$after" "$((after - before))" "$bpe" "$ms"
    kill $PID; wait $PID 2>/dev/null || true
    PID=
}

measure halo "$HALO_BIN"
measure haproxy "$HAPROXY_BIN"
