#!/bin/bash
# Requests per second through seed 17's frontend (tracking every connection), halo vs
# HAProxy, interleaved, one thread each, pinned (proxy on CPU 0, wrk on CPU 1). Needs the
# nginx backend of ../shared/bench on 127.0.0.1:8081/8082 and a copy of seed 17 without
# its `listen stats` section and with `nbthread 1` in /tmp/s17/s17.cfg:
#   mkdir -p /tmp/s17; awk '/^listen stats/{s=1;next} /^(frontend|backend|defaults|global)/{s=0} !s' \
#     ../shared/seed-configs/17-request-flood-mitigation.cfg | sed 's/^global$/global\n    nbthread 1/' > /tmp/s17/s17.cfg
#   bench/seed17.sh
export DIR=/tmp/s17 FE=127.0.0.1:9071 S1=127.0.0.1:8081 S2=127.0.0.1:8082
for round in 1 2 3; do
  for b in ${HALO_BIN:-target/release/halo} /usr/sbin/haproxy; do
    rm -f /tmp/s17/admin.sock
    taskset -c 0 nice -n -20 $b -f /tmp/s17/s17.cfg -db > /tmp/s17/out.$(basename $b) 2>&1 &
    pid=$!
    for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:9071/a.css && break; sleep 0.1; done
    r=$(taskset -c 1 nice -n -20 wrk -t1 -c50 -d8s --latency http://127.0.0.1:9071/a.css | awk '/Requests\/sec/{rq=$2} /99%/{p=$2} /Non-2xx/{n=$NF} END{print rq, p, n}')
    echo "$round $(basename $b) $r"
    kill $pid; wait $pid 2>/dev/null
  done
done
