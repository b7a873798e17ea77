# bench/common.sh - what the halo-vs-HAProxy benches of this folder share (sourced, after
# they set RUN, OUT, NICE, SHARED, CONNS, DURATION): their own scheduling group, the
# nginx backend on CPU 1, the cleanup of every process they start, and one wrk run
# measured with the proxy's CPU time, written as a CSV line.

# Re-runs the calling script in its own session and scheduling group at high priority.
bench_own_session() {
  if [ "$NICE" != 0 ] && [ -z "${BENCH_IN_OWN_SESSION:-}" ] && command -v setsid > /dev/null; then
    export BENCH_IN_OWN_SESSION=1
    exec setsid -w "$0" "$@"
  fi
  if [ -n "${BENCH_IN_OWN_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
    echo "$NICE" > /proc/self/autogroup 2>/dev/null || true
  fi
}

PIDS=()
bench_cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap bench_cleanup EXIT INT TERM

# The nginx backend of ../shared/bench (ports 8081, 8082) on CPU 1.
start_backend() {
  mkdir -p "$RUN/www/static" "$RUN/backend"
  sed -e "s|@RUN@|$RUN/backend|g" -e "s|@WWW@|$RUN/www|g" "$SHARED/backend-nginx.conf" > "$RUN/backend/nginx.conf"
  nice -n "$NICE" taskset -c 1 nginx -p "$RUN/backend" -c "$RUN/backend/nginx.conf" -g 'daemon off;' > "$RUN/backend/out" 2>&1 &
  PIDS+=($!)
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Waits until each URL answers (10 s at most each).
wait_urls() {
  for u in "$@"; do
    for _ in $(seq 100); do curl -sk -o /dev/null "$u" && break; sleep 0.1; done
  done
}

# wrk_run ROUND TARGET PID MEASURE UNIT URL [wrk args…]: one wrk run on CPU 1, printed and
# appended to $OUT as ts,round,target,measure,value,unit,errors,proxy_cpu_pct.
wrk_run() {
  local r=$1 t=$2 pid=$3 m=$4 unit=$5 url=$6; shift 6
  local c0 w0 res rps errs c1 w1 cpu
  [ -f "$OUT" ] || echo "ts,round,target,measure,value,unit,errors,proxy_cpu_pct" > "$OUT"
  c0=$(cpu_ticks "$pid"); w0=$(date +%s%N)
  res=$(nice -n "$NICE" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "$@" \
        -s "$SHARED/wrk-report.lua" "$url" | grep WRKJSON | sed 's/WRKJSON //')
  c1=$(cpu_ticks "$pid"); w1=$(date +%s%N)
  rps=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(round(j['requests']*1e6/j['duration_us'],1))" "$res")
  errs=$(python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(j['err_connect']+j['err_read']+j['err_write']+j['err_status']+j['err_timeout'])" "$res")
  cpu=$(python3 -c "print(round(($c1-$c0)*1e9/$(getconf CLK_TCK)/($w1-$w0)*100,1))")
  echo "$(date +%s),$r,$t,$m,$rps,$unit,$errs,$cpu" | tee -a "$OUT"
}
