//! End-to-end tests of the stick-table arrays `gpc(N)`, `gpc_rate(N,T)` and `gpt(N)`:
//! the `sc-inc-gpc`/`sc-set-gpt`/`sc-add-gpc` actions (http and tcp rules), the
//! `sc_*_gpc`/`src_*_gpc`/`*_gpt` fetches, `show table` output and configuration errors.
//! Run against halo and Debian's haproxy 2.6 (which lacks `sc-add-gpc`, new in 2.7).

mod support;

use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::http::Client;
use support::*;

const T: Duration = Duration::from_secs(10);

fn sock(h: &Halo) -> PathBuf {
    let p = h.dir().join("admin.sock");
    assert!(
        wait_until(T, || cli(&p, "show table").is_ok()),
        "no stats socket"
    );
    p
}

/// The entry lines of `show table NAME`, without the entry address and with `exp=` masked.
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

fn client_from(src: &str, fe: SocketAddr) -> Client {
    let ip: IpAddr = src.parse().unwrap();
    let s = connect_from(Some(ip), fe).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    Client {
        r: BufReader::new(s.try_clone().unwrap()),
        w: s,
    }
}

fn body(c: &mut Client, path: &str) -> String {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    let r = c.read().expect("response");
    assert_eq!(r.status, 200, "{path}");
    r.body
}

const HTTP_CFG: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 5s
    timeout server 10s
    timeout client 30s
frontend fe
    bind \"${FE}\"
    stick-table type ip size 100 expire 30s store http_req_cnt,gpc(3),gpc_rate(3,10s),gpt(2)
    http-request track-sc1 src
    http-request sc-inc-gpc(1,1) if { path /inc }
    http-request sc-inc-gpc(7,1) if { path /inc }
    http-request sc-set-gpt(0,1) 7 if { path /gpt }
    http-request sc-set-gpt(1,1) sc_get_gpc(1,1) if { path /gpt }
    http-request return status 200 content-type text/plain lf-string \"%[sc_inc_gpc(0,1)]\" if { path /fi }
    http-request return status 200 content-type text/plain lf-string \"%[src_inc_gpc(2,fe)]\" if { path /si }
    http-request return status 200 content-type text/plain lf-string \"%[src_clr_gpc(2,fe)]/%[sc_clr_gpc(0,1)]\" if { path /clr }
    http-request return status 200 content-type text/plain lf-string \"g=%[sc_get_gpc(0,1)],%[sc_get_gpc(1,1)],%[sc_get_gpc(2,1)] r=%[sc_gpc_rate(1,1)] t=%[sc_get_gpt(0,1)],%[sc_get_gpt(1,1)] s=%[src_get_gpc(1,fe)],%[src_gpc_rate(1,fe)],%[src_get_gpt(1,fe)] legacy=%[sc1_get_gpc1],%[sc_gpc1_rate(1)],%[sc_get_gpt0(1)]\"
";

#[test]
fn http_actions_and_fetches_on_arrays() {
    let fe = free_addr();
    let h = Halo::start(HTTP_CFG, &[("FE", haproxy_addr(fe))]);
    let s = sock(&h);
    let mut c = client_from("127.0.0.3", fe);
    assert_eq!(body(&mut c, "/"), "g=0,0,0 r=0 t=0,0 s=0,0,0 legacy=0,0,0");
    body(&mut c, "/inc");
    body(&mut c, "/inc");
    // The second element and its rate went up twice; the legacy gpc1 fetches read them.
    assert_eq!(body(&mut c, "/"), "g=0,2,0 r=2 t=0,0 s=2,2,0 legacy=2,2,0");
    // sc-set-gpt with an integer and with an expression (the counter's value).
    body(&mut c, "/gpt");
    assert_eq!(body(&mut c, "/"), "g=0,2,0 r=2 t=7,2 s=2,2,2 legacy=2,2,7");
    // The increment fetches return the new value, the clear fetches the old one.
    assert_eq!(body(&mut c, "/fi"), "1");
    assert_eq!(body(&mut c, "/fi"), "2");
    assert_eq!(body(&mut c, "/si"), "1");
    assert_eq!(body(&mut c, "/si"), "2");
    assert_eq!(body(&mut c, "/si"), "3");
    assert_eq!(body(&mut c, "/clr"), "3/2");
    assert_eq!(body(&mut c, "/"), "g=0,2,0 r=2 t=7,2 s=2,2,2 legacy=2,2,7");
    drop(c);
    // `show table`: one field per element, arrays after the other types.
    let want = "key=127.0.0.3 use=0 exp=N http_req_cnt=13 gpt0=7 gpt1=2 gpc0=0 gpc1=2 gpc2=0 \
                gpc0_rate(10000)=2 gpc1_rate(10000)=2 gpc2_rate(10000)=3";
    assert!(
        wait_until(T, || entries(&s, "fe") == vec![want.to_string()]),
        "{:?}",
        entries(&s, "fe")
    );
}

const TCP_CFG: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 5s
    timeout server 10s
    timeout client 30s
frontend fe
    bind \"${FE}\"
    stick-table type ip size 100 expire 30s store gpc(2),gpt(2)
    tcp-request connection track-sc2 src
    tcp-request connection sc-inc-gpc(1,2)
    tcp-request content sc-inc-gpc(0,2)
    tcp-request content sc-set-gpt(1,2) 9
    tcp-request content sc-set-gpt0(2) 4
    http-request return status 200 content-type text/plain lf-string \"%[sc_get_gpc(0,2)],%[sc_get_gpc(1,2)],%[sc_get_gpt(0,2)],%[sc_get_gpt(1,2)]\"
";

#[test]
fn tcp_actions_on_arrays() {
    let fe = free_addr();
    let h = Halo::start(TCP_CFG, &[("FE", haproxy_addr(fe))]);
    let s = sock(&h);
    let mut c = client_from("127.0.0.4", fe);
    // Connection rules once per connection, content rules once per request; sc-set-gpt0
    // sets the first element of the gpt array.
    assert_eq!(body(&mut c, "/"), "1,1,4,9");
    assert_eq!(body(&mut c, "/"), "2,1,4,9");
    drop(c);
    let mut c = client_from("127.0.0.4", fe);
    assert_eq!(body(&mut c, "/"), "3,2,4,9");
    drop(c);
    let want = "key=127.0.0.4 use=0 exp=N gpt0=4 gpt1=9 gpc0=3 gpc1=2";
    assert!(
        wait_until(T, || entries(&s, "fe") == vec![want.to_string()]),
        "{:?}",
        entries(&s, "fe")
    );
}

#[test]
fn sc_add_gpc_adds_to_counter_and_rate() {
    if skip_on_reference("sc-add-gpc is new in HAProxy 2.7") {
        return;
    }
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 5s
    timeout server 10s
    timeout client 30s
frontend fe
    bind \"${FE}\"
    stick-table type ip size 100 expire 30s store gpc(2),gpc_rate(2,10s)
    tcp-request content track-sc0 src
    tcp-request content sc-add-gpc(0,0) 3
    http-request sc-add-gpc(1,0) req.hdr_cnt(x-a)
    http-request return status 200 content-type text/plain lf-string \"%[sc_get_gpc(0,0)],%[sc_get_gpc(1,0)],%[sc_gpc_rate(1,0)]\"
";
    let fe = free_addr();
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe))]);
    let _s = sock(&h);
    let mut c = client_from("127.0.0.5", fe);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nx-a: 1\r\nx-a: 2\r\n\r\n");
    assert_eq!(c.read().expect("response").body, "3,2,2");
    assert_eq!(body(&mut c, "/"), "6,2,2");
}

#[test]
fn array_declaration_errors() {
    for (store, want) in [
        (
            "gpc(2),gpc0",
            "simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'",
        ),
        (
            "gpc_rate(2,10s),gpc1_rate(1s)",
            "simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table",
        ),
        (
            "gpt(2),gpt0",
            "simultaneous usage of 'gpt' and 'gpt0' in a same table",
        ),
        (
            "gpc(101)",
            "array size is out of allowed range (1-100) for store option 'gpc'",
        ),
        ("gpt(0)", "array size is out of allowed range (1-100)"),
        ("gpc_rate(2)", "missing argument to store option 'gpc_rate'"),
        ("gpt(2,1s)", "unexpected argument to store option 'gpt'"),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             frontend fe\n    bind 127.0.0.1:1\n    stick-table type ip size 10 store {store}\n"
        );
        let (code, out, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_ne!(code, 0, "{store}");
        assert!(format!("{out}{err}").contains(want), "{store}: {out}{err}");
    }
    // A good declaration and the actions' argument errors.
    let good = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
                frontend fe\n    bind 127.0.0.1:1\n    stick-table type ip size 10 store gpc(100),gpc_rate(100,1m),gpt(100)\n    \
                http-request sc-inc-gpc(99,2)\n    http-request sc-set-gpt(3,0) 1\n";
    let (code, out, err) = run_check(Cfg::Text(good), &[]);
    assert_eq!(code, 0, "{out}{err}");
    for (rule, want) in [
        ("sc-inc-gpc", "invalid gpc ID 'sc-inc-gpc'"),
        ("sc-inc-gpc(1)", "Missing gpc ID 'sc-inc-gpc(1)'"),
        (
            "sc-inc-gpc(1,5)",
            "invalid stick table track ID 'sc-inc-gpc(1,5)'",
        ),
        ("sc-set-gpt(1) 3", "Missing gpt ID 'sc-set-gpt(1)'"),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n\
             frontend fe\n    bind 127.0.0.1:1\n    stick-table type ip size 10 store gpc(2),gpt(2)\n    http-request {rule}\n"
        );
        // `halo -c` checks the actions at start only: start it (both exit at once).
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.cfg");
        std::fs::write(&p, &cfg).unwrap();
        let o = run_bin(&["-f".into(), p.into_os_string()], &[], T);
        let (code, out, err) = (o.code, o.stdout, o.stderr);
        assert!(code > 0, "{rule}: {code}");
        assert!(format!("{out}{err}").contains(want), "{rule}: {out}{err}");
    }
}
