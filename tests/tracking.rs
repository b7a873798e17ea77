//! End-to-end tests of tracked stick counters: `http-request track-scN`, the counters a
//! tracked entry keeps (connections, requests, errors), `sc-inc-gpc0`/`sc-set-gpt0`, the
//! `sc*_`/`src_*`/`table_*` fetches, and seed 17 (request flood mitigation). Each runs
//! against halo and Debian's haproxy 2.6.

mod support;

use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const T: Duration = Duration::from_secs(10);

/// The stats socket, once it answers.
fn sock(h: &Halo) -> PathBuf {
    let p = h.dir().join("admin.sock");
    assert!(
        wait_until(T, || cli(&p, "show table").is_ok()),
        "no stats socket"
    );
    p
}

/// The entry lines of `show table NAME`, without the entry address and with `exp=`
/// masked.
fn entries(sock: &Path, table: &str) -> Vec<String> {
    cli(sock, &format!("show table {table}"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("0x"))
        .map(|l| {
            let rest = l.split_once(": ").map_or(l, |(_, r)| r);
            rest.split(' ')
                .map(|w| if w.starts_with("exp=") { "exp=N" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// A keep-alive client connecting from `src` (a loopback address).
fn client_from(src: &str, fe: SocketAddr) -> Client {
    let ip: IpAddr = src.parse().unwrap();
    let s = connect_from(Some(ip), fe).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    Client {
        r: BufReader::new(s.try_clone().unwrap()),
        w: s,
    }
}

fn get(c: &mut Client, path: &str) -> Option<support::http::Response> {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    c.read()
}

const COUNTERS_CFG: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 5s
    timeout server 10s
    timeout client 30s
frontend fe
    bind \"${FE}\"
    stick-table type ip size 1m expire 30s store gpc0,conn_cur,conn_cnt,sess_cnt,http_req_cnt,http_req_rate(10s),http_err_cnt,http_fail_cnt,gpt0
    http-request track-sc0 src
    http-request deny if { path /deny }
    http-request sc-inc-gpc0(0) if { path /inc }
    http-request sc-set-gpt0(0) 7 if { path /gpt }
    http-request return status 200 content-type text/plain lf-string \"g=%[sc0_get_gpc0] r=%[sc0_http_req_rate] c=%[sc0_conn_cur] t=%[sc0_tracked] t1=%[sc1_tracked] s=%[src_conn_cnt] n=%[table_cnt] gpt=%[sc_get_gpt0(0)] e=%[src_http_err_cnt(fe)] cv=%[src,table_http_req_cnt(fe)] in=%[str(10.9.9.9),in_table(fe)]\" if { path /show }
    default_backend be
backend be
    http-response sc-inc-gpc0(0) if { status 404 }
    server s \"${S1}\"
frontend srv
    bind \"${FE_SRV}\"
    http-request return status 404 if { path /nf }
    http-request return status 503 if { path /fail }
    http-request return status 200
";

#[test]
fn tracked_entry_counts_like_haproxy() {
    let (fe, srv) = (free_addr(), free_addr());
    let h = Halo::start(
        COUNTERS_CFG,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_SRV", haproxy_addr(srv)),
            ("S1", haproxy_addr(srv)),
        ],
    );
    let s = sock(&h);
    let mut c = client_from("127.0.0.2", fe);
    let r = get(&mut c, "/show").unwrap();
    assert_eq!(
        r.body, "g=0 r=1 c=1 t=1 t1=0 s=1 n=1 gpt=0 e=0 cv=1 in=0",
        "the request is counted as soon as it is tracked"
    );
    // Same connection, next stream: tracked again (conn_cnt 2), gpc0 raised before.
    assert_eq!(get(&mut c, "/inc").unwrap().status, 200);
    let r = get(&mut c, "/show").unwrap();
    assert_eq!(r.body, "g=1 r=3 c=1 t=1 t1=0 s=3 n=1 gpt=0 e=0 cv=3 in=0");
    assert_eq!(get(&mut c, "/deny").unwrap().status, 403);
    assert_eq!(get(&mut c, "/nf").unwrap().status, 404);
    assert_eq!(get(&mut c, "/fail").unwrap().status, 503);
    assert_eq!(get(&mut c, "/gpt").unwrap().status, 200);
    drop(c);
    // Once the streams are over: conn_cur back to 0; deny and the server's 404 are
    // errors, its 503 a failure; http-response sc-inc-gpc0 on the 404.
    let want = "key=127.0.0.2 use=0 exp=N gpt0=7 gpc0=2 conn_cnt=7 conn_cur=0 sess_cnt=0 \
                http_req_cnt=7 http_req_rate(10000)=7 http_err_cnt=2 http_fail_cnt=1";
    assert!(
        wait_until(T, || entries(&s, "fe") == vec![want.to_string()]),
        "{:?}",
        entries(&s, "fe")
    );
    // Another address has an entry of its own.
    let mut c = client_from("127.0.0.3", fe);
    let r = get(&mut c, "/show").unwrap();
    assert_eq!(r.body, "g=0 r=1 c=1 t=1 t1=0 s=1 n=2 gpt=0 e=0 cv=1 in=0");
}

/// Seed 17 as written (its `listen stats` page listens on `FE_STATS`).
fn seed17() -> String {
    seed_text("17-request-flood-mitigation.cfg")
}

/// Seed 17 with `tcp-request connection track-sc1 src` made an `http-request` rule and the
/// `tcp-request content reject` left out, for binaries without `tcp-request` rules.
fn seed17_http_variant() -> String {
    seed17()
        .lines()
        .filter(|l| !l.trim_start().starts_with("tcp-request content"))
        .map(|l| {
            if l.trim_start()
                .starts_with("tcp-request connection track-sc1")
            {
                "    http-request track-sc1 src".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn start_seed17(cfg: &str) -> (Halo, SocketAddr, HttpBackend, HttpBackend) {
    let (s1, s2) = (
        HttpBackend::start("srv1", Duration::ZERO),
        HttpBackend::start("srv2", Duration::ZERO),
    );
    let fe = free_addr();
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_STATS", haproxy_addr(free_addr())),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    (h, fe, s1, s2)
}

/// The flooder's entry: `gpc0` and `http_req_rate(10000)`.
fn flood_entry(s: &Path) -> Option<(u64, u64)> {
    let e = entries(s, "ft_web");
    let line = e.iter().find(|l| l.starts_with("key=127.0.0.2 "))?;
    let val = |name: &str| -> Option<u64> {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    Some((val("gpc0=")?, val("http_req_rate(10000)=")?))
}

/// The HTTP part of seed 17: the tenth dynamic request of a flooding address within 10 s
/// gets 403 and flags it (gpc0 > 0); from then on every request from it gets 403, static
/// ones too, while another address is served; `show table` shows gpc0 and the rate; after
/// 10 s of quiet the entry expires and the address is served again.
fn seed17_flood(cfg: &str) {
    let (h, fe, s1, s2) = start_seed17(cfg);
    let s = sock(&h);
    let mut flood = client_from("127.0.0.2", fe);
    for i in 1..=9 {
        let r = get(&mut flood, &format!("/dyn{i}")).unwrap();
        assert_eq!(r.status, 200, "request {i} is under the limit");
    }
    let served = s1.seen().len() + s2.seen().len();
    assert_eq!(served, 9);
    let r = get(&mut flood, "/dyn10").unwrap();
    assert_eq!(r.status, 403, "the tenth request in 10 s is denied");
    let (gpc0, rate) = flood_entry(&s).expect("an entry for the flooder");
    assert_eq!(gpc0, 1, "the address is flagged");
    assert!(rate >= 10, "http_req_rate {rate}");
    // Flagged: everything from it is refused (static files too), nothing reaches a server.
    let mut again = client_from("127.0.0.2", fe);
    assert_eq!(get(&mut again, "/logo.png").map(|r| r.status), Some(403));
    let mut c = client_from("127.0.0.2", fe);
    assert_eq!(get(&mut c, "/dyn").map(|r| r.status), Some(403));
    assert_eq!(s1.seen().len() + s2.seen().len(), served);
    // Another address is served.
    let mut polite = client_from("127.0.0.3", fe);
    assert_eq!(get(&mut polite, "/dyn").map(|r| r.status), Some(200));
    drop((flood, again, c, polite));
    // Quiet for 10 s: the entry expires, the address is served again.
    assert!(
        wait_until(Duration::from_secs(15), || flood_entry(&s).is_none()),
        "the entry expires"
    );
    let mut back = client_from("127.0.0.2", fe);
    assert_eq!(get(&mut back, "/dyn").map(|r| r.status), Some(200));
}

#[test]
fn seed17_http_flood_is_denied_then_forgotten() {
    seed17_flood(&seed17_http_variant());
}

/// The seed as written: with `tcp-request connection track-sc1 src` and `tcp-request
/// content reject`, a flagged address's new connections are closed at once.
#[test]
fn seed17_flagged_connections_are_closed() {
    let cfg = seed17();
    let (h, fe, _s1, _s2) = start_seed17(&cfg);
    let s = sock(&h);
    let mut flood = client_from("127.0.0.2", fe);
    for _ in 1..=9 {
        assert_eq!(get(&mut flood, "/dyn").map(|r| r.status), Some(200));
    }
    assert_eq!(get(&mut flood, "/dyn").map(|r| r.status), Some(403));
    assert_eq!(flood_entry(&s).map(|e| e.0), Some(1));
    // A new connection is closed without an answer.
    let mut c = client_from("127.0.0.2", fe);
    c.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert!(
        c.read().is_none(),
        "no answer on a flagged address's connection"
    );
}

#[test]
fn tune_stick_counters_allows_more_counters() {
    if skip_on_reference("tune.stick-counters is not in haproxy 2.6") {
        return;
    }
    let be = HttpBackend::start("web", Duration::ZERO);
    let fe = free_addr();
    let cfg = "global
    tune.stick-counters 6
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    stick-table type ip size 10 store gpc0,http_req_cnt
    http-request track-sc5 src
    tcp-request content track-sc4 src
    http-request sc-inc-gpc0(5)
    http-request set-header X-Sc \"%[sc_get_gpc0(5)] %[sc_http_req_cnt(4)] %[sc_tracked(3)]\"
    default_backend b
backend b
    server web \"${WEB}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("WEB", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    for _ in 0..2 {
        assert_eq!(c.get("/", "").status, 200);
    }
    let seen: Vec<_> = be
        .seen()
        .iter()
        .map(|s| s.header("x-sc").unwrap_or("").to_string())
        .collect();
    assert_eq!(seen, ["1 1 0", "2 2 0"]);
}

#[test]
fn track_sc_beyond_stick_counters_is_refused() {
    // Default: 3 counters, sc0 to sc2 (haproxy 2.6 has the same limit, fixed).
    let cfg = "defaults
    mode http
frontend f
    bind 127.0.0.1:8080
    stick-table type ip size 10
    http-request track-sc3 src
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("3 track-sc number exceeding 2 ("), "{err}");
    if skip_on_reference("tune.stick-counters is not in haproxy 2.6") {
        return;
    }
    let cfg = "global
    tune.stick-counters 1
defaults
    mode http
frontend f
    bind 127.0.0.1:8080
    stick-table type ip size 10
    tcp-request content track-sc1 src
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("1 track-sc number exceeding 0 ("), "{err}");
    let cfg = "global
    tune.stick-counters 101
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0, "{err}");
}

fn headers_seen(be: &HttpBackend, name: &str) -> Vec<String> {
    be.seen()
        .iter()
        .map(|s| s.header(name).unwrap_or("").to_string())
        .collect()
}

#[test]
fn array_table_converters() {
    let be = HttpBackend::start("web", Duration::ZERO);
    let fe = free_addr();
    // haproxy 2.6 wants the table argument of these converters.
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    stick-table type ip size 10 store gpc(2),gpc_rate(2,10s),gpt(2)
    http-request track-sc0 src
    http-request sc-inc-gpc(1,0)
    http-request sc-set-gpt(1,0) 7
    http-request set-header X-T \"%[src,table_gpc(1,f)] %[src,table_gpc_rate(1,f)] %[src,table_gpt(1,f)] %[src,table_gpc(0,f)]\"
    default_backend b
backend b
    server web \"${WEB}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("WEB", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    for _ in 0..2 {
        assert_eq!(c.get("/", "").status, 200);
    }
    assert_eq!(headers_seen(&be, "x-t"), ["1 1 7 0", "2 2 7 0"]);
}

#[test]
fn newer_table_converters_and_sc_key() {
    if skip_on_reference("table_inc_gpc, table_clr_gpc and sc_key are not in haproxy 2.6") {
        return;
    }
    let be = HttpBackend::start("web", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    stick-table type ip size 10 store gpc(2),gpc_rate(2,10s)
    http-request track-sc0 src
    http-request track-sc1 req.hdr(x-user) table s
    http-request set-var(txn.i) src,table_inc_gpc(1)
    http-request set-var(txn.c) src,table_clr_gpc(1) if { path /clear }
    http-request set-header X-T \"%[var(txn.i)] %[var(txn.c)] %[sc_key(0)] %[sc1_key] %[sc_key(2)]\"
    default_backend b
backend s
    stick-table type string len 8 size 10 store http_req_cnt
backend b
    server web \"${WEB}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("WEB", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    for p in ["/", "/", "/clear", "/"] {
        assert_eq!(c.get(p, "x-user: alice\r\n").status, 200);
    }
    assert_eq!(
        headers_seen(&be, "x-t"),
        [
            "1  127.0.0.1 alice",
            "2  127.0.0.1 alice",
            "3 3 127.0.0.1 alice",
            "1  127.0.0.1 alice"
        ]
    );
}

#[test]
fn table_expire_and_table_idle() {
    let be = HttpBackend::start("web", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    stick-table type ip size 10 expire 10s store gpc0
    http-request set-header X-Before \"%[src,table_idle(f,-1)]\"
    http-request track-sc0 src
    http-request set-header X-T \"%[src,table_expire(f)] %[src,table_idle(f)] %[str(10.9.9.9),table_expire(f,77)] %[str(10.9.9.9),table_idle(f,-5)]\"
    default_backend b
backend b
    server web \"${WEB}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("WEB", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/", "").status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.get("/", "").status, 200);
    let before = headers_seen(&be, "x-before");
    // No entry before the first request; 300 ms of idleness before the second.
    assert_eq!(before[0], "-1");
    let idle: i64 = before[1].parse().unwrap();
    assert!((250..2000).contains(&idle), "{before:?}");
    for t in headers_seen(&be, "x-t") {
        let v: Vec<i64> = t.split(' ').map(|x| x.parse().unwrap()).collect();
        assert!((9000..=10000).contains(&v[0]), "{t}");
        assert!(v[1] < 100, "{t}");
        assert_eq!(&v[2..], [77, -5], "{t}");
    }
}
