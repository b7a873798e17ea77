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

. "$HERE/common.sh"
bench_own_session "$@"

mkdir -p "$RUN/www/static" "$RUN/backend" "$RUN/certs"

C=$RUN/certs
if [ ! -f "$C/rsa.pem" ]; then
  openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey rsa:2048 \
    -keyout "$C/rsa.key" -out "$C/rsa.crt" 2> /dev/null
  cat "$C/rsa.crt" "$C/rsa.key" > "$C/rsa.pem"
  openssl req -x509 -nodes -days 30 -subj /CN=localhost -newkey ec \
    -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$C/ec.key" -out "$C/ec.crt" 2> /dev/null
  cat "$C/ec.crt" "$C/ec.key" > "$C/ecdsa.pem"
fi

start_backend

declare -A RSA=([hx1]=9301 [halo1]=9331)
declare -A EC=([hx1]=9302 [halo1]=9332)
declare -A TPID=()
declare -A BIN=([hx1]=$HAPROXY_BIN [halo1]=$HALO_BIN)
for t in hx1 halo1; do
  RSA_PORT=${RSA[$t]} EC_PORT=${EC[$t]} CERTS=$C nice -n "$NICE" taskset -c 0 \
    "${BIN[$t]}" -db -f "$HERE/tls.cfg" > "$RUN/$t.out" 2>&1 &
  PIDS+=($!)
  TPID[$t]=$!
done
wait_urls http://127.0.0.1:8081/ https://127.0.0.1:9301/ https://127.0.0.1:9331/ \
  https://127.0.0.1:9302/ https://127.0.0.1:9332/

run() { # target measure url extra-wrk-args...
  local t=$1 m=$2 url=$3; shift 3
  wrk_run "$r" "$t" "${TPID[$t]}" "$m" req/s "$url" "$@"
}

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
