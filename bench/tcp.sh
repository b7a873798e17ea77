#!/usr/bin/env bash
# bench/tcp.sh - halo vs HAProxy in TCP mode, same machine, same run, interleaved.
#
# Two measurements per target and round, targets in an order rotated every round:
#   conn  connections per second: wrk -t1 -c$CONNS with "Connection: close", so every
#         request is a new TCP connection through the proxy (one small request each)
#   bulk  throughput of one connection carrying $BULK_MB MiB (curl through the proxy)
# Both proxies run the same tcp.cfg with nbthread 1, pinned to CPU 0; wrk, curl and the
# nginx backend run on CPU 1 (the layout of ../shared/bench, see its BASELINE.md).
# Prints one CSV line per run and the median ratios halo/HAProxy per measurement.
#
# Usage: HALO_BIN=target/release/halo ROUNDS=5 DURATION=10 bench/tcp.sh
# Needs: haproxy nginx wrk curl taskset (apt-get install -y haproxy nginx wrk curl util-linux)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
HALO_BIN=${HALO_BIN:-$HERE/../target/release/halo}
HAPROXY_BIN=${HAPROXY_BIN:-haproxy}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
BULK_MB=${BULK_MB:-1024}
RUN=${RUN:-/tmp/halo-tcpbench}
OUT=${OUT:-$RUN/tcp.csv}
NICE=${NICE:--20}

if [ "$NICE" != 0 ] && [ -z "${BENCH_IN_OWN_SESSION:-}" ] && command -v setsid > /dev/null; then
  export BENCH_IN_OWN_SESSION=1
  exec setsid -w "$0" "$@"
fi
if [ -n "${BENCH_IN_OWN_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
  echo "$NICE" > /proc/self/autogroup 2>/dev/null || true
fi

mkdir -p "$RUN/www/static" "$RUN/backend"
[ -f "$RUN/www/static/bulk" ] || truncate -s "${BULK_MB}M" "$RUN/www/static/bulk"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

sed -e "s|@RUN@|$RUN/backend|g" -e "s|@WWW@|$RUN/www|g" "$SHARED/backend-nginx.conf" > "$RUN/backend/nginx.conf"
nice -n "$NICE" taskset -c 1 nginx -p "$RUN/backend" -c "$RUN/backend/nginx.conf" -g 'daemon off;' > "$RUN/backend/out" 2>&1 &
PIDS+=($!)

declare -A PORT=([hx1]=9201 [halo1]=9231)
declare -A TPID=()
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A BIN=([hx1]=$HAPROXY_BIN [halo1]=$HALO_BIN)
for t in hx1 halo1; do
  TCP_PORT=${PORT[$t]} nice -n "$NICE" taskset -c 0 "${BIN[$t]}" -db -f "$HERE/tcp.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
for p in 8081 9201 9231; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done

[ -f "$OUT" ] || echo "ts,round,target,measure,value,unit,errors,proxy_cpu_pct" > "$OUT"
targets=(hx1 halo1)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    t=${targets[$(( (k + r) % 2 ))]}
    port=${PORT[$t]}
    c0=$(cpu_ticks "${TPID[$t]}"); w0=$(date +%s%N)
    res=$(nice -n "$NICE" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -H "Connection: close" \
          -s "$SHARED/wrk-report.lua" "http://127.0.0.1:$port/" | grep WRKJSON | sed 's/WRKJSON //')
    rps=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(round(j['requests']*1e6/j['duration_us'],1))" "$res")
    errs=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(j['err_connect']+j['err_read']+j['err_write']+j['err_status']+j['err_timeout'])" "$res")
    c1=$(cpu_ticks "${TPID[$t]}"); w1=$(date +%s%N)
    cpu=$(python3 -c "print(round(($c1-$c0)*1e9/$(getconf CLK_TCK)/($w1-$w0)*100,1))")
    echo "$(date +%s),$r,$t,conn,$rps,conn/s,$errs,$cpu" | tee -a "$OUT"
    mbps=$(nice -n "$NICE" taskset -c 1 curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/static/bulk")
    mbps=$(python3 -c "print(round(float('$mbps')/1048576,1))")
    echo "$(date +%s),$r,$t,bulk,$mbps,MiB/s,0," | tee -a "$OUT"
  done
done

python3 - "$OUT" <<'PY'
import csv, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1])))
for m in ("conn", "bulk"):
    by = {}
    for r in rows:
        if r["measure"] == m:
            by.setdefault(r["round"], {})[r["target"]] = float(r["value"])
    ratios = [v["halo1"] / v["hx1"] for v in by.values() if "halo1" in v and v.get("hx1")]
    if ratios:
        print(f"{m}: halo/HAProxy median {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}-{max(ratios):.2f}] over {len(ratios)} rounds")
# Per-core: connections per second of proxy CPU time.
by = {}
for r in rows:
    if r["measure"] == "conn" and r.get("proxy_cpu_pct"):
        cpu = float(r["proxy_cpu_pct"])
        if cpu > 0:
            by.setdefault(r["round"], {})[r["target"]] = float(r["value"]) / cpu
pc = [v["halo1"] / v["hx1"] for v in by.values() if "halo1" in v and v.get("hx1")]
if pc:
    print(f"conn per core: halo/HAProxy median {statistics.median(pc):.2f} "
          f"[{min(pc):.2f}-{max(pc):.2f}]")
PY
