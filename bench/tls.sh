#!/usr/bin/env bash
# bench/tls.sh - halo vs HAProxy terminating TLS, same machine, same run, interleaved.
#
# Three measurements per target and round, targets in an order rotated every round:
#   hs_rsa    new TLS handshakes per second, RSA 2048 certificate: wrk -t1 -c$CONNS with
#             "Connection: close", so every request is a new connection and a full
#             handshake (wrk resumes no session; TLS 1.3, X25519)
#   hs_ecdsa  the same with an ECDSA P-256 certificate
#   ka        keep-alive requests per second over TLS (small responses, RSA port)
# Both proxies run tls.cfg with nbthread 1, pinned to CPU 0; wrk and the nginx backend
# run on CPU 1 (the layout of ../shared/bench, see its BASELINE.md).
# Prints one CSV line per run and the median ratios halo/HAProxy per measurement.
#
# Usage: HALO_BIN=target/release/halo ROUNDS=5 DURATION=10 bench/tls.sh
# Needs: haproxy nginx wrk openssl taskset (apt-get install -y haproxy nginx wrk openssl util-linux)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
HALO_BIN=${HALO_BIN:-$HERE/../target/release/halo}
HAPROXY_BIN=${HAPROXY_BIN:-haproxy}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
RUN=${RUN:-/tmp/halo-tlsbench}
OUT=${OUT:-$RUN/tls.csv}
NICE=${NICE:--20}

if [ "$NICE" != 0 ] && [ -z "${BENCH_IN_OWN_SESSION:-}" ] && command -v setsid > /dev/null; then
  export BENCH_IN_OWN_SESSION=1
  exec setsid -w "$0" "$@"
fi
if [ -n "${BENCH_IN_OWN_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
  echo "$NICE" > /proc/self/autogroup 2>/dev/null || true
fi

mkdir -p "$RUN/www/static" "$RUN/backend" "$RUN/certs"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

C=$RUN/certs
if [ ! -f "$C/rsa.pem" ]; then
  openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey rsa:2048 \
    -keyout "$C/rsa.key" -out "$C/rsa.crt" 2> /dev/null
  cat "$C/rsa.crt" "$C/rsa.key" > "$C/rsa.pem"
  openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey ec \
    -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$C/ec.key" -out "$C/ec.crt" 2> /dev/null
  cat "$C/ec.crt" "$C/ec.key" > "$C/ecdsa.pem"
fi

sed -e "s|@RUN@|$RUN/backend|g" -e "s|@WWW@|$RUN/www|g" "$SHARED/backend-nginx.conf" > "$RUN/backend/nginx.conf"
nice -n "$NICE" taskset -c 1 nginx -p "$RUN/backend" -c "$RUN/backend/nginx.conf" -g 'daemon off;' > "$RUN/backend/out" 2>&1 &
PIDS+=($!)

declare -A RSA=([hx1]=9301 [halo1]=9331)
declare -A EC=([hx1]=9302 [halo1]=9332)
declare -A TPID=()
declare -A BIN=([hx1]=$HAPROXY_BIN [halo1]=$HALO_BIN)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for t in hx1 halo1; do
  RSA_PORT=${RSA[$t]} EC_PORT=${EC[$t]} CERTS=$C nice -n "$NICE" taskset -c 0 \
    "${BIN[$t]}" -db -f "$HERE/tls.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
for p in 8081; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
for p in 9301 9331 9302 9332; do
  for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$p/" && break; sleep 0.1; done
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
    run "$t" hs_rsa "https://127.0.0.1:${RSA[$t]}/" -H "Connection: close"
    run "$t" hs_ecdsa "https://127.0.0.1:${EC[$t]}/" -H "Connection: close"
    run "$t" ka "https://127.0.0.1:${RSA[$t]}/"
  done
done

python3 - "$OUT" <<'PY'
import csv, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1])))
for m in ("hs_rsa", "hs_ecdsa", "ka"):
    by, pc = {}, {}
    for r in rows:
        if r["measure"] == m:
            by.setdefault(r["round"], {})[r["target"]] = float(r["value"])
            cpu = float(r["proxy_cpu_pct"] or 0)
            if cpu > 0:
                pc.setdefault(r["round"], {})[r["target"]] = float(r["value"]) / cpu
    ratios = [v["halo1"] / v["hx1"] for v in by.values() if "halo1" in v and v.get("hx1")]
    per_core = [v["halo1"] / v["hx1"] for v in pc.values() if "halo1" in v and v.get("hx1")]
    if ratios:
        print(f"{m}: halo/HAProxy median {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}-{max(ratios):.2f}] over {len(ratios)} rounds; per core "
              f"{statistics.median(per_core):.2f} [{min(per_core):.2f}-{max(per_core):.2f}]")
PY
