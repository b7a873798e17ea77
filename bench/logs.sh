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

if [ "$NICE" != 0 ] && [ -z "${BENCH_IN_OWN_SESSION:-}" ] && command -v setsid > /dev/null; then
  export BENCH_IN_OWN_SESSION=1
  exec setsid -w "$0" "$@"
fi
if [ -n "${BENCH_IN_OWN_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
  echo "$NICE" > /proc/self/autogroup 2>/dev/null || true
fi

mkdir -p "$RUN/www/static" "$RUN/backend"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

sed -e "s|@RUN@|$RUN/backend|g" -e "s|@WWW@|$RUN/www|g" "$SHARED/backend-nginx.conf" > "$RUN/backend/nginx.conf"
nice -n "$NICE" taskset -c 1 nginx -p "$RUN/backend" -c "$RUN/backend/nginx.conf" -g 'daemon off;' > "$RUN/backend/out" 2>&1 &
PIDS+=($!)
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for t in hx1 halo1; do
  PLAIN_PORT=${PLAIN[$t]} LOG_PORT=${LOGGED[$t]} SYSLOG=127.0.0.1:$SYSLOG_PORT \
    nice -n "$NICE" taskset -c 0 "${BIN[$t]}" -db -f "$HERE/logs.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
for p in 8081 9401 9431 9402 9432; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
run() { # target measure url extra-wrk-args...
  local t=$1 m=$2 url=$3; shift 3
  local c0 w0 res rps errs c1 w1 cpu
  c0=$(cpu_ticks "${TPID[$t]}"); w0=$(date +%s%N)
  res=$(nice -n "$NICE" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "$@" \
        -s "$SHARED/wrk-report.lua" "$url" | grep WRKJSON | sed 's/WRKJSON //')
  c1=$(cpu_ticks "${TPID[$t]}"); w1=$(date +%s%N)
  rps=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(round(j['requests']*1e6/j['duration_us'],1))" "$res")
  errs=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(j['err_connect']+j['err_read']+j['err_write']+j['err_status']+j['err_timeout'])" "$res")
  cpu=$(python3 -c "print(round(($c1-$c0)*1e9/$(getconf CLK_TCK)/($w1-$w0)*100,1))")
  echo "$(date +%s),$r,$t,$m,$rps,req/s,$errs,$cpu" | tee -a "$OUT"
}

[ -f "$OUT" ] || echo "ts,round,target,measure,value,unit,errors,proxy_cpu_pct" > "$OUT"
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
