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

. "$HERE/common.sh"
bench_own_session "$@"

mkdir -p "$RUN/www/static"
[ -f "$RUN/www/static/bulk" ] || truncate -s "${BULK_MB}M" "$RUN/www/static/bulk"

start_backend

declare -A PORT=([hx1]=9201 [halo1]=9231)
declare -A TPID=()
declare -A BIN=([hx1]=$HAPROXY_BIN [halo1]=$HALO_BIN)
for t in hx1 halo1; do
  TCP_PORT=${PORT[$t]} nice -n "$NICE" taskset -c 0 "${BIN[$t]}" -db -f "$HERE/tcp.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
wait_urls http://127.0.0.1:8081/ http://127.0.0.1:9201/ http://127.0.0.1:9231/

targets=(hx1 halo1)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    t=${targets[$(( (k + r) % 2 ))]}
    port=${PORT[$t]}
    wrk_run "$r" "$t" "${TPID[$t]}" conn conn/s "http://127.0.0.1:$port/" -H "Connection: close"
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
