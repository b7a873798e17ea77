#!/usr/bin/env bash
# bench/logs.sh - the cost of logging at full load, halo vs HAProxy, same run, interleaved.
#
# Two measurements per target and round, targets in an order rotated every round:
#   plain     keep-alive requests per second through a frontend that does not log
#   httplog   the same through a frontend with `option httplog` and a captured header,
#             one syslog line per request sent over UDP to a local sink
# Both proxies run logs.cfg with nbthread 1, pinned to CPU 0; wrk, the nginx backend and
# the syslog sink run on CPU 1 (the layout of ../shared/bench, see its BASELINE.md).
# Prints one CSV line per run and the median ratios halo/HAProxy per measurement, and
# each proxy's own cost of logging (httplog / plain).
#
# Usage: HALO_BIN=target/release/halo ROUNDS=5 DURATION=10 bench/logs.sh
# Needs: haproxy nginx wrk python3 taskset
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
HALO_BIN=${HALO_BIN:-$HERE/../target/release/halo}
HAPROXY_BIN=${HAPROXY_BIN:-haproxy}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
RUN=${RUN:-/tmp/halo-logbench}
OUT=${OUT:-$RUN/logs.csv}
NICE=${NICE:--20}

. "$HERE/common.sh"
bench_own_session "$@"


start_backend
# The syslog sink: counts the lines it drains.
SYSLOG_PORT=${SYSLOG_PORT:-9514}
taskset -c 1 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
n = 0
while True:
    s.recv(65536)
    n += 1
    if n % 100000 == 0:
        print(n, flush=True)
' "$SYSLOG_PORT" > "$RUN/syslog.count" 2>&1 &
PIDS+=($!)

declare -A PLAIN=([hx1]=9401 [halo1]=9431)
declare -A LOGGED=([hx1]=9402 [halo1]=9432)
declare -A TPID=()
declare -A BIN=([hx1]=$HAPROXY_BIN [halo1]=$HALO_BIN)
for t in hx1 halo1; do
  PLAIN_PORT=${PLAIN[$t]} LOG_PORT=${LOGGED[$t]} SYSLOG=127.0.0.1:$SYSLOG_PORT \
    nice -n "$NICE" taskset -c 0 "${BIN[$t]}" -db -f "$HERE/logs.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
wait_urls http://127.0.0.1:8081/ http://127.0.0.1:9401/ http://127.0.0.1:9431/ \
  http://127.0.0.1:9402/ http://127.0.0.1:9432/
run() { # target measure url extra-wrk-args...
  local t=$1 m=$2 url=$3; shift 3
  wrk_run "$r" "$t" "${TPID[$t]}" "$m" req/s "$url" "$@"
}

targets=(hx1 halo1)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    t=${targets[$(( (k + r) % 2 ))]}
    run "$t" plain "http://127.0.0.1:${PLAIN[$t]}/"
    run "$t" httplog "http://127.0.0.1:${LOGGED[$t]}/"
  done
done

python3 - "$OUT" <<'PY'
import csv, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1])))
val = {}
for r in rows:
    val.setdefault((r["round"], r["target"]), {})[r["measure"]] = (float(r["value"]), float(r["proxy_cpu_pct"] or 0))
for m in ("plain", "httplog"):
    ratios, per_core = [], []
    for rnd in {k[0] for k in val}:
        a, b = val.get((rnd, "halo1"), {}).get(m), val.get((rnd, "hx1"), {}).get(m)
        if a and b:
            ratios.append(a[0] / b[0])
            if a[1] and b[1]:
                per_core.append((a[0] / a[1]) / (b[0] / b[1]))
    if ratios:
        print(f"{m}: halo/HAProxy median {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
              f" over {len(ratios)} rounds; per core {statistics.median(per_core):.2f}")
for t in ("hx1", "halo1"):
    cost = [v["httplog"][0] / v["plain"][0] for k, v in val.items() if k[1] == t and "plain" in v and "httplog" in v]
    if cost:
        print(f"{t}: httplog/plain {statistics.median(cost):.2f} [{min(cost):.2f}-{max(cost):.2f}]")
PY
