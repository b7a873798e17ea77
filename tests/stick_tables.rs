//! End-to-end tests of stick tables and server stickiness: `stick on src` in TCP and HTTP
//! mode, a cookie learnt from the response (`stick store-response res.cook(x)`) and matched
//! on the request, expiry, `show table` / `clear table` output, and seed 01's table shared
//! by an HTTP and a TCP backend. Each runs against halo and Debian's haproxy 2.6.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const T: Duration = Duration::from_secs(10);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The stats socket, once it answers.
fn sock(h: &Halo) -> std::path::PathBuf {
    let p = h.dir().join("admin.sock");
    assert!(
        wait_until(T, || cli(&p, "show table").is_ok()),
        "no stats socket"
    );
    p
}

fn table(sock: &Path, cmd: &str) -> String {
    cli(sock, cmd).unwrap_or_default()
}

/// The entry lines of a `show table NAME` answer, with the entry address and `exp=`
/// countdown masked (they differ from run to run).
fn entries(out: &str) -> Vec<String> {
    out.lines()
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

fn tcp_cfg(extra: &str) -> String {
    format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen app
    bind \"${{FE}}\"
    balance roundrobin
    {extra}
    stick on src
    server s1 \"${{S1}}\" id 1
    server s2 \"${{S2}}\" id 2
"
    )
}

#[test]
fn tcp_client_keeps_its_server_by_source() {
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let h = Halo::start(
        &tcp_cfg("stick-table type ip size 100 expire 30s"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let a = request_from(ip("127.0.0.2"), fe).unwrap();
    let b = request_from(ip("127.0.0.3"), fe).unwrap();
    assert_ne!(a, b, "the second client is balanced to the other server");
    for _ in 0..5 {
        assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), a);
        assert_eq!(request_from(ip("127.0.0.3"), fe).unwrap(), b);
    }
    let out = table(&sock(&h), "show table app");
    assert!(
        out.starts_with("# table: app, type: ip, size:100, used:2\n"),
        "{out}"
    );
    let mut e = entries(&out);
    e.sort();
    let id = |n: &str| if n == "s1" { 1 } else { 2 };
    assert_eq!(
        e,
        vec![
            format!(
                "key=127.0.0.2 use=0 exp=N server_id={} server_key={a}",
                id(&a)
            ),
            format!(
                "key=127.0.0.3 use=0 exp=N server_id={} server_key={b}",
                id(&b)
            ),
        ]
    );
    // `clear table KEY`: the client is balanced again.
    assert_eq!(table(&sock(&h), "clear table app key 127.0.0.2"), "\n");
    assert!(entries(&table(&sock(&h), "show table app")).len() == 1);
}

#[test]
fn entries_expire() {
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let h = Halo::start(
        &tcp_cfg("stick-table type ip size 100 expire 1s"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let a = request_from(ip("127.0.0.2"), fe).unwrap();
    assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), a);
    assert!(
        wait_until(T, || entries(&table(&sock(&h), "show table app"))
            .is_empty()),
        "the entry expires"
    );
    assert!(table(&sock(&h), "show table app").contains("used:0"));
    // Forgotten: the balancer's next server.
    assert_ne!(request_from(ip("127.0.0.2"), fe).unwrap(), a);
}

#[test]
fn full_table_drops_its_oldest_entry() {
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let h = Halo::start(
        &tcp_cfg("stick-table type ip size 2 expire 30s"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    for c in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        request_from(ip(c), fe).unwrap();
    }
    let out = table(&sock(&h), "show table app");
    let keys: Vec<String> = entries(&out)
        .iter()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(keys.len(), 2, "{out}");
    assert!(!keys.contains(&"key=127.0.0.2".to_string()), "{out}");
}

#[test]
fn http_client_keeps_its_server_by_source() {
    let (s1, s2) = (
        HttpBackend::start("s1", Duration::ZERO),
        HttpBackend::start("s2", Duration::ZERO),
    );
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    stick-table type ip size 1k expire 30s store http_req_cnt
    stick on src
    server s1 \"${S1}\" id 1
    server s2 \"${S2}\" id 2
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let mut first = None;
    for i in 0..6 {
        // A new connection each time, and several requests on one.
        let mut c = Client::connect(fe);
        for _ in 0..2 {
            let r = c.get(&format!("/{i}"), "");
            assert_eq!(r.status, 200);
            let who = r.header("x-server").unwrap_or("").to_string();
            assert_eq!(who, *first.get_or_insert(who.clone()));
        }
    }
    let seen = s1.seen().len() + s2.seen().len();
    assert_eq!(seen, 12);
    assert!(s1.seen().is_empty() || s2.seen().is_empty());
    let out = table(&sock(&h), "show table be");
    let who = first.unwrap_or_default();
    let id = if who == "s1" { 1 } else { 2 };
    assert_eq!(
        entries(&out),
        vec![format!(
            "key=127.0.0.1 use=0 exp=N server_id={id} http_req_cnt=0 server_key={who}"
        )]
    );
}

/// A server that sets `x=<name>` when the request has no cookie, and names itself.
struct CookieServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl CookieServer {
    fn start(name: &'static str) -> CookieServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        thread::spawn(move || serve_cookie(s, name));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        CookieServer { addr, stop }
    }
}

impl Drop for CookieServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_cookie(s: TcpStream, name: &str) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(T));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    loop {
        let mut has_cookie = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.to_ascii_lowercase().starts_with("cookie:") {
                has_cookie = true;
            }
            if line == "\r\n" {
                break;
            }
        }
        let set = if has_cookie {
            String::new()
        } else {
            format!("Set-Cookie: x=tok-{name}\r\n")
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\n{set}X-Server: {name}\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn cookie_learnt_from_the_response_keeps_the_server() {
    let (a, b) = (CookieServer::start("s1"), CookieServer::start("s2"));
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    stick-table type string len 32 size 100 expire 30s
    stick on req.cook(x)
    stick store-response res.cook(x)
    server s1 \"${S1}\" id 1
    server s2 \"${S2}\" id 2
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(a.addr)),
            ("S2", haproxy_addr(b.addr)),
        ],
    );
    // Two clients without a cookie: balanced, each told its cookie.
    let mut learnt = Vec::new();
    for _ in 0..2 {
        let r = Client::connect(fe).get("/", "");
        assert_eq!(r.status, 200);
        let cookie = r.header("set-cookie").unwrap_or("").to_string();
        learnt.push((cookie, r.body.clone()));
    }
    assert_ne!(learnt[0].1, learnt[1].1);
    // With their cookie they stay on their server, on new connections.
    for _ in 0..4 {
        for (cookie, server) in &learnt {
            let r = Client::connect(fe).get("/", &format!("Cookie: {cookie}\r\n"));
            assert_eq!(&r.body, server, "cookie {cookie}");
        }
    }
    let out = table(&sock(&h), "show table be");
    assert!(
        out.starts_with("# table: be, type: string, size:100, used:2\n"),
        "{out}"
    );
    let mut e = entries(&out);
    e.sort();
    assert_eq!(
        e,
        vec![
            "key=tok-s1 use=0 exp=N server_id=1 server_key=s1".to_string(),
            "key=tok-s2 use=0 exp=N server_id=2 server_key=s2".to_string(),
        ]
    );
}

#[test]
fn show_table_lists_and_answers_as_haproxy() {
    let fe = free_addr();
    let s1 = TcpBackend::echo_named("s1");
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen app
    bind \"${FE}\"
    stick-table type ip size 200k expire 30m store gpc0,conn_rate(10s),server_id
    stick on src
    server s1 \"${S1}\"
backend t_str
    stick-table type string len 8 size 10
backend t_bin
    stick-table type binary len 4 size 10
backend t_v6
    stick-table type ipv6 size 1m
backend t_int
    stick-table type integer size 10 nopurge
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", s1.cfg_addr())]);
    let s = sock(&h);
    request_from(ip("127.0.0.9"), fe).unwrap();
    assert_eq!(
        table(&s, "show table"),
        "# table: t_int, type: integer, size:10, used:0
# table: t_v6, type: ipv6, size:1048576, used:0
# table: t_bin, type: binary, size:10, used:0
# table: t_str, type: string, size:10, used:0
# table: app, type: ip, size:204800, used:1

"
    );
    let out = table(&s, "show table app");
    assert!(out.ends_with("\n\n"), "{out:?}");
    assert_eq!(
        entries(&out),
        vec![
            "key=127.0.0.9 use=0 exp=N server_id=1 gpc0=0 conn_rate(10000)=0 server_key=s1"
                .to_string()
        ]
    );
    assert_eq!(entries(&table(&s, "show table app key 127.0.0.9")).len(), 1);
    assert_eq!(table(&s, "show table app key 127.0.0.8"), "\n");
    assert_eq!(table(&s, "show table app key nope"), "\n");
    assert_eq!(table(&s, "show table app key"), "Key value expected\n\n");
    assert_eq!(table(&s, "show table nope"), "No such table\n\n");
    assert_eq!(table(&s, "clear table nope"), "No such table\n\n");
    assert_eq!(table(&s, "clear table t_int key zz"), "Invalid key\n\n");
    assert_eq!(
        table(&s, "show table t_bin key 00"),
        "Showing keys from tables of type other than ip, ipv6, string and integer is not supported\n\n"
    );
    assert_eq!(
        table(&s, "clear table"),
        "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n\n"
    );
    assert_eq!(
        table(&s, "show table app data.gpc0 eq 0").lines().count(),
        3,
        "header, the entry, the empty line"
    );
    assert_eq!(
        table(&s, "show table app data.gpc0 gt 0"),
        "# table: app, type: ip, size:204800, used:1\n\n"
    );
    assert_eq!(table(&s, "clear table app"), "\n");
    assert_eq!(
        table(&s, "show table app"),
        "# table: app, type: ip, size:204800, used:0\n\n"
    );
}

/// Seed 01 without health checks (`check` on server lines).
fn seed01() -> String {
    let mut out = String::new();
    for l in seed_text("01-http-https-same-backend.cfg").lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        if words.first() == Some(&"server") {
            let kept: Vec<&str> = words.into_iter().filter(|w| *w != "check").collect();
            out.push_str(&format!("    {}\n", kept.join(" ")));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[test]
fn seed01_http_and_tcp_share_one_table() {
    let (h1, h2) = (
        HttpBackend::start("s1", Duration::ZERO),
        HttpBackend::start("s2", Duration::ZERO),
    );
    let (t1, t2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let (fe_http, fe_tls) = (free_addr(), free_addr());
    let h = Halo::start(
        &seed01(),
        &[
            ("FE_HTTP", haproxy_addr(fe_http)),
            ("FE_TLS", haproxy_addr(fe_tls)),
            ("S1_HTTP", h1.cfg_addr()),
            ("S2_HTTP", h2.cfg_addr()),
            ("S1_TLS", t1.cfg_addr()),
            ("S2_TLS", t2.cfg_addr()),
        ],
    );
    let s = sock(&h);
    // Learnt on the TCP side, followed on the HTTP side.
    let first = request_from(ip("127.0.0.1"), fe_tls).unwrap();
    for _ in 0..4 {
        let r = Client::connect(fe_http).get("/", "");
        assert_eq!(r.header("x-server"), Some(first.as_str()));
    }
    // The table as the seed's README shows it.
    let out = table(&s, "show table bk_https");
    assert_eq!(
        out.lines().next(),
        Some("# table: bk_https, type: ip, size:204800, used:1")
    );
    let id = if first == "s1" { 1 } else { 2 };
    assert_eq!(
        entries(&out),
        [format!(
            "key=127.0.0.1 use=0 exp=N server_id={id} server_key={first}"
        )]
    );
    // And the other way round: the HTTP side learns, the TCP side follows.
    table(&s, "clear table bk_https");
    let mut seen = Vec::new();
    for _ in 0..2 {
        table(&s, "clear table bk_https");
        let r = Client::connect(fe_http).get("/", "");
        let who = r.header("x-server").unwrap_or("").to_string();
        for _ in 0..3 {
            assert_eq!(request_from(ip("127.0.0.1"), fe_tls).unwrap(), who);
        }
        seen.push(who);
    }
    assert_ne!(seen[0], seen[1], "balanced again once the entry is cleared");
}

#[test]
fn draining_server_keeps_its_clients_and_maint_moves_them() {
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let h = Halo::start(
        &tcp_cfg("stick-table type ip size 100 expire 30s"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let s = sock(&h);
    let a = request_from(ip("127.0.0.2"), fe).unwrap();
    let other = if a == "s1" { "s2" } else { "s1" };
    table(&s, &format!("set server app/{a} state drain"));
    for _ in 0..3 {
        assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), a);
        // A new client is never balanced to the draining server.
        assert_eq!(request_from(ip("127.0.0.3"), fe).unwrap(), other);
    }
    table(&s, &format!("set server app/{a} state maint"));
    assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), other);
    table(&s, &format!("set server app/{a} state ready"));
    // The entry now names the server that took the client.
    for _ in 0..3 {
        assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), other);
    }
}

#[test]
fn check_refuses_bad_tables_and_rules_without_a_table() {
    let head = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    for (body, what) in [
        (
            "backend b\n    stick-table type foo size 10\n    server s1 127.0.0.1:1\n",
            "foo",
        ),
        (
            "backend b\n    stick-table type ip\n    server s1 127.0.0.1:1\n",
            "size",
        ),
        (
            "backend b\n    stick on src\n    server s1 127.0.0.1:1\n",
            "stick-table",
        ),
        (
            "backend b\n    stick on src table nope\n    server s1 127.0.0.1:1\n",
            "nope",
        ),
    ] {
        let (code, _, err) = run_check(Cfg::Text(&format!("{head}{body}")), &[]);
        assert_eq!(code, 1, "{body}: {err}");
        assert!(err.contains(what), "{body}: {err}");
    }
    let ok = "listen b\n    bind 127.0.0.1:1\n    stick-table type string len 8 size 1k expire 1m nopurge store gpc0,http_req_rate(10s)\n    stick on src\n    stick match req.payload(0,4) table b if { src 127.0.0.1 }\n    server s1 127.0.0.1:1 non-stick\n";
    let (code, _, err) = run_check(Cfg::Text(&format!("{head}{ok}")), &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn set_table_and_the_order_of_entries() {
    let fe = free_addr();
    let s1 = TcpBackend::echo_named("s1");
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen app
    bind \"${FE}\"
    server s1 \"${S1}\"
backend ti
    stick-table type integer size 10 store server_id
backend ts
    stick-table type string size 10 store server_id
backend tp
    stick-table type ip size 10 store server_id,gpc0,http_req_rate(10s),server_key
backend tb
    stick-table type binary size 10 store server_id
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", s1.cfg_addr())]);
    let s = sock(&h);
    for k in ["5", "256", "1", "3", "513", "2"] {
        assert_eq!(
            table(&s, &format!("set table ti key {k} data.server_id 1")),
            "\n"
        );
    }
    for k in ["b", "a", "cc", "ab", "c"] {
        table(&s, &format!("set table ts key {k} data.server_id 1"));
    }
    for k in ["10.0.0.2", "9.0.0.1", "10.0.0.1", "1.2.3.4"] {
        table(&s, &format!("set table tp key {k} data.server_id 1"));
    }
    let keys = |t: &str| -> Vec<String> {
        entries(&table(&s, &format!("show table {t}")))
            .iter()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect()
    };
    // The order of HAProxy's key trees (integers compared as little-endian memory).
    assert_eq!(
        keys("ti"),
        ["key=256", "key=1", "key=513", "key=2", "key=3", "key=5"]
    );
    assert_eq!(keys("ts"), ["key=a", "key=ab", "key=b", "key=c", "key=cc"]);
    assert_eq!(
        keys("tp"),
        ["key=1.2.3.4", "key=9.0.0.1", "key=10.0.0.1", "key=10.0.0.2"]
    );
    for (cmd, answer) in [
        (
            "set table",
            "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n",
        ),
        ("set table tp", "\n"),
        ("set table tp key", "Key value expected\n\n"),
        (
            "set table tp foo 1",
            "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n",
        ),
        (
            "set table tp key 1.2.3.9 gpc0 1",
            "\"data.<type>\" followed by a value expected\n\n",
        ),
        (
            "set table tp key 1.2.3.9 data.foo 1",
            "Unknown data type\n\n",
        ),
        (
            "set table tp key 1.2.3.9 data.gpc0",
            "Require a valid integer value to store\n\n",
        ),
        (
            "set table tp key 1.2.3.9 data.server_key x",
            "Require a valid integer value to store\n\n",
        ),
        (
            "set table ti key 1 data.gpc0 1",
            "Data type not stored in this table\n\n",
        ),
        // Keys of ip tables are read leniently (`nope` is 0.0.0.0, `12` is 12.0.0.0).
        ("set table tp key nope", "\n"),
        ("set table tp key 12", "\n"),
        ("set table ti key nope", "Invalid key\n\n"),
        ("set table nope key 1", "No such table\n\n"),
        (
            "set table tb key 00",
            "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n\n",
        ),
        (
            "set table tp key 1.2.3.5 data.gpc0 7 data.http_req_rate 5 data.server_id 3",
            "\n",
        ),
    ] {
        assert_eq!(table(&s, cmd), answer, "{cmd}");
    }
    let all = entries(&table(&s, "show table tp"));
    assert!(
        all.contains(
            &"key=1.2.3.5 use=0 exp=N server_id=3 gpc0=7 http_req_rate(10000)=5 server_key=-"
                .to_string()
        ),
        "{all:?}"
    );
    assert!(all.iter().any(|l| l.starts_with("key=0.0.0.0 ")), "{all:?}");
    assert!(
        all.iter().any(|l| l.starts_with("key=12.0.0.0 ")),
        "{all:?}"
    );
    // An entry is created even when a value is refused.
    assert!(
        all.contains(
            &"key=1.2.3.9 use=0 exp=N server_id=0 gpc0=0 http_req_rate(10000)=0 server_key=-"
                .to_string()
        ),
        "{all:?}"
    );
}

#[test]
fn non_stick_servers_are_never_stored() {
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen app
    bind \"${FE}\"
    balance roundrobin
    stick-table type ip size 100 expire 30s
    stick match src
    stick store-request src
    server s1 \"${S1}\" id 1
    server s2 \"${S2}\" id 2 non-stick
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let mut got = Vec::new();
    for c in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        got.push((c, request_from(ip(c), fe).unwrap()));
    }
    let out = table(&sock(&h), "show table app");
    let stored: Vec<String> = entries(&out)
        .iter()
        .map(|l| {
            l.split(' ')
                .next()
                .unwrap_or("")
                .trim_start_matches("key=")
                .to_string()
        })
        .collect();
    let on_s1: Vec<String> = got
        .iter()
        .filter(|(_, s)| s == "s1")
        .map(|(c, _)| c.to_string())
        .collect();
    assert_eq!(on_s1.len(), 2, "{got:?}");
    assert_eq!(stored, on_s1, "only the clients of s1 are stored: {out}");
}

#[test]
fn the_stored_server_key_wins_over_the_server_id() {
    // As HAProxy 2.x: a table storing `server_key` (by default with `server_id`) finds the
    // server by its name; the id only serves when there is no key.
    let (s1, s2) = (TcpBackend::echo_named("s1"), TcpBackend::echo_named("s2"));
    let fe = free_addr();
    let h = Halo::start(
        &tcp_cfg("stick-table type ip size 100 expire 30s"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let a = request_from(ip("127.0.0.2"), fe).unwrap();
    let other_id = if a == "s1" { 2 } else { 1 };
    assert_eq!(
        table(
            &sock(&h),
            &format!("set table app key 127.0.0.2 data.server_id {other_id}")
        ),
        "\n"
    );
    for _ in 0..3 {
        assert_eq!(request_from(ip("127.0.0.2"), fe).unwrap(), a);
    }
}
