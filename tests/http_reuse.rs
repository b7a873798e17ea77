//! Server connections in HTTP mode: every request of a keep-alive session is balanced
//! again (unless `option prefer-last-server`), idle server connections are shared between
//! sessions as `http-reuse` allows (`safe` by default: never for a session's first
//! request), `pool-max-conn`, `max-reuse`, a request resent once when an idle connection
//! turns out closed, server slots held per request, `http-send-name-header` and
//! `option http-pretend-keepalive`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

fn config(backend: &str) -> String {
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind \"${{FE}}\"
    default_backend be
backend be
{backend}"
    )
}

fn start(backend: &str, servers: &[&HttpBackend]) -> (Halo, SocketAddr) {
    let fe = free_addr();
    let mut env = vec![("FE", haproxy_addr(fe))];
    let names = ["S1", "S2"];
    for (i, s) in servers.iter().enumerate() {
        env.push((names[i], s.cfg_addr()));
    }
    let h = Halo::start(&config(backend), &env);
    (h, fe)
}

fn one_request(fe: SocketAddr, path: &str) -> Response {
    let mut c = Client::connect(fe);
    let r = c.get(path, "");
    drop(c);
    r
}

#[test]
fn keep_alive_requests_are_balanced_each_and_connections_kept() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let (_h, fe) = start(
        "    balance roundrobin\n    server a \"${S1}\"\n    server b \"${S2}\"\n",
        &[&a, &b],
    );
    let mut c = Client::connect(fe);
    let got: Vec<String> = (0..4)
        .map(|i| {
            let r = c.get(&format!("/{i}"), "");
            assert_eq!(r.status, 200);
            r.body.split(' ').next().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(got, ["a", "b", "a", "b"], "every request is balanced");
    // The connection to each server was kept and used again.
    assert_eq!(a.conns.load(Ordering::SeqCst), 1, "connections to a");
    assert_eq!(b.conns.load(Ordering::SeqCst), 1, "connections to b");
}

#[test]
fn prefer_last_server_keeps_the_session_on_its_server() {
    // haproxy 2.6 honours it only for connections private to the session; halo does what
    // the manual says for every connection.
    if skip_on_reference("prefer-last-server with shared connections") {
        return;
    }
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let (_h, fe) = start(
        "    balance roundrobin\n    option prefer-last-server\n    server a \"${S1}\"\n    server b \"${S2}\"\n",
        &[&a, &b],
    );
    let mut c = Client::connect(fe);
    let first = c.get("/", "").body;
    for _ in 0..3 {
        assert_eq!(
            c.get("/", "").body.split(' ').next(),
            first.split(' ').next()
        );
    }
    assert_eq!(
        a.conns.load(Ordering::SeqCst) + b.conns.load(Ordering::SeqCst),
        1
    );
}

#[test]
fn safe_reuse_never_carries_a_first_request_over_an_idle_connection() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start("    server a \"${S1}\"\n", &[&a]);
    for i in 0..3 {
        assert_eq!(one_request(fe, &format!("/{i}")).status, 200);
    }
    assert_eq!(a.conns.load(Ordering::SeqCst), 3);
    // A later request of a session may use the idle ones: no new connection.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/x", "").status, 200);
    let before = a.conns.load(Ordering::SeqCst);
    assert_eq!(c.get("/y", "").status, 200);
    assert_eq!(a.conns.load(Ordering::SeqCst), before);
}

/// A server's column of `show stat`.
fn server_stat(sock: &std::path::Path, server: &str, column: &str) -> Option<String> {
    let out = cli(sock, "show stat").ok()?;
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let col = head.iter().position(|c| *c == column)?;
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r.get(1) == Some(&server))
        .and_then(|r| r.get(col).map(|v| v.to_string()))
}

#[test]
fn reuse_always_shares_idle_connections_between_sessions() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let fe = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    stats socket {}\n{}",
        sock.display(),
        config("    http-reuse always\n    server a \"${S1}\"\n")
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", a.cfg_addr())]);
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    for i in 0..5 {
        assert_eq!(one_request(fe, &format!("/{i}")).status, 200);
        // The session's end parks its connection in the server's idle pool.
        assert!(wait_until(Duration::from_secs(3), || server_stat(
            &sock, "a", "srv_icur"
        )
        .as_deref()
            == Some("1")));
    }
    assert_eq!(a.conns.load(Ordering::SeqCst), 1, "one connection for all");
    assert_eq!(a.seen().len(), 5);
    assert_eq!(server_stat(&sock, "a", "connect").as_deref(), Some("1"));
    assert_eq!(server_stat(&sock, "a", "reuse").as_deref(), Some("4"));
    assert_eq!(
        server_stat(&sock, "a", "safe_conn_cur").as_deref(),
        Some("1")
    );
}

#[test]
fn aggressive_reuse_wants_a_proven_connection_for_first_requests() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start("    http-reuse aggressive\n    server a \"${S1}\"\n", &[&a]);
    // A connection used once only is not proven: the next session's first request
    // opens its own.
    assert_eq!(one_request(fe, "/1").status, 200);
    assert_eq!(one_request(fe, "/2").status, 200);
    assert_eq!(a.conns.load(Ordering::SeqCst), 2);
    // A session with two requests proves its connection; later first requests use it.
    let mut c = Client::connect(fe);
    c.get("/3", "");
    c.get("/4", "");
    drop(c);
    // Once the session's end reached the proxy (its connection parked), a first request
    // goes over it without a new connection.
    assert!(wait_until(Duration::from_secs(3), || {
        let before = a.conns.load(Ordering::SeqCst);
        one_request(fe, "/5").status == 200 && a.conns.load(Ordering::SeqCst) == before
    }));
}

#[test]
fn never_and_pool_max_conn_zero_keep_connections_private() {
    // `never`: connections stay with their session (keep-alive within it); no pool
    // (`pool-max-conn 0`): a shared connection closes after its response.
    for (backend, in_session) in [
        ("    http-reuse never\n    server a \"${S1}\"\n", 1),
        (
            "    http-reuse always\n    server a \"${S1}\" pool-max-conn 0\n",
            2,
        ),
    ] {
        let a = HttpBackend::start("a", Duration::ZERO);
        let (_h, fe) = start(backend, &[&a]);
        for i in 0..3 {
            assert_eq!(one_request(fe, &format!("/{i}")).status, 200);
        }
        assert_eq!(a.conns.load(Ordering::SeqCst), 3, "{backend}");
        // Keep-alive within a session still works.
        let mut c = Client::connect(fe);
        c.get("/a", "");
        c.get("/b", "");
        assert_eq!(a.conns.load(Ordering::SeqCst), 3 + in_session, "{backend}");
    }
}

#[test]
fn max_reuse_limits_requests_per_connection() {
    // The manual allows lower layers to ignore it, and haproxy 2.6's HTTP/1 does.
    if skip_on_reference("max-reuse over HTTP/1") {
        return;
    }
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start("    server a \"${S1}\" max-reuse 1\n", &[&a]);
    let mut c = Client::connect(fe);
    for i in 0..4 {
        assert_eq!(c.get(&format!("/{i}"), "").status, 200);
    }
    // Each connection carries its first request and one more.
    assert_eq!(a.conns.load(Ordering::SeqCst), 2);
}

#[test]
fn server_slot_is_held_per_request_not_per_session() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start(
        "    timeout queue 500ms\n    server a \"${S1}\" maxconn 1\n",
        &[&a],
    );
    // Two idle keep-alive sessions do not hold the server's only slot.
    let mut c1 = Client::connect(fe);
    let mut c2 = Client::connect(fe);
    for _ in 0..3 {
        assert_eq!(c1.get("/1", "").status, 200);
        assert_eq!(c2.get("/2", "").status, 200);
    }
}

#[test]
fn send_name_header_names_the_server() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start(
        "    http-send-name-header X-Srv\n    server alpha \"${S1}\"\n",
        &[&a],
    );
    let mut c = Client::connect(fe);
    c.get("/", "X-Srv: forged\r\n");
    let seen = a.seen();
    let v: Vec<&str> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-srv"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(v, ["alpha"]);
}

#[test]
fn pretend_keepalive_hides_the_close_from_the_server() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let (_h, fe) = start(
        "    option http-server-close\n    option http-pretend-keepalive\n    server a \"${S1}\"\n",
        &[&a],
    );
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/1", "").status, 200);
    assert_eq!(c.get("/2", "").status, 200);
    let seen = a.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.header("connection").is_none()));
    // The proxy still closes the server connection after each response.
    assert_eq!(a.conns.load(Ordering::SeqCst), 2);
}

/// A server that answers one request per connection with a keep-alive response, then
/// closes the connection a moment later, as a server whose keep-alive timeout expires.
struct Closing {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn closing_server() -> Closing {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (c2, cl2, r2) = (conns.clone(), closed.clone(), requests.clone());
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            c2.fetch_add(1, Ordering::SeqCst);
            let (cl, r) = (cl2.clone(), r2.clone());
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut w = s.try_clone().unwrap();
                let mut rd = BufReader::new(s);
                let mut line = String::new();
                if rd.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut cl_len = 0usize;
                loop {
                    let mut h = String::new();
                    if rd.read_line(&mut h).unwrap_or(0) == 0 {
                        return;
                    }
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        cl_len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; cl_len];
                let _ = rd.read_exact(&mut body);
                r.lock().unwrap().push(line.trim().to_string());
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                thread::sleep(Duration::from_millis(20));
                let _ = w.shutdown(std::net::Shutdown::Both);
                cl.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Closing {
        addr,
        conns,
        closed,
        requests,
    }
}

#[test]
fn a_request_finding_its_idle_connection_closed_is_sent_again() {
    let s = closing_server();
    let fe = free_addr();
    let _h = Halo::start(
        &config("    server s \"${S1}\"\n"),
        &[("FE", haproxy_addr(fe)), ("S1", haproxy_addr(s.addr))],
    );
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/1", "").status, 200);
    assert!(wait_until(Duration::from_secs(5), || s
        .closed
        .load(Ordering::SeqCst)
        == 1));
    // GET without body: resent over a new connection, the client sees nothing of it.
    let r = c.get("/2", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    assert_eq!(s.conns.load(Ordering::SeqCst), 2);
    assert!(wait_until(Duration::from_secs(5), || s
        .closed
        .load(Ordering::SeqCst)
        == 2));
    // A POST cannot be sent twice: it is only sent over a connection checked open, so it
    // goes over a new one.
    c.send(b"POST /3 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let r = c.read().expect("an answer to the POST");
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert_eq!(s.conns.load(Ordering::SeqCst), 3);
    let reqs = s.requests.lock().unwrap().clone();
    assert_eq!(
        reqs,
        ["GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "POST /3 HTTP/1.1"]
    );
}

#[test]
fn pool_options_are_accepted_and_checked() {
    if skip_on_reference("halo's messages") {
        return;
    }
    let (code, _, err) = run_check(
        Cfg::Text(&config(
            "    http-reuse sometimes\n    server a 127.0.0.1:1 pool-max-conn x\n",
        )),
        &[("FE", "127.0.0.1:1".into())],
    );
    assert_ne!(code, 0);
    assert!(err.contains("'http-reuse' expects"), "{err}");
    assert!(err.contains("'pool-max-conn' expects"), "{err}");
    let (code, _, err) = run_check(
        Cfg::Text(&config(
            "    http-reuse aggressive\n    max-keep-alive-queue 5\n    http-send-name-header\n    server a 127.0.0.1:1 pool-max-conn 10 pool-purge-delay 1s pool-low-conn 2 max-reuse 100\n",
        )),
        &[("FE", "127.0.0.1:1".into())],
    );
    assert_eq!(code, 0, "{err}");
}

/// `max-session-srv-conns 0`: a session keeps no idle server connection between its
/// requests, so with `http-reuse never` each request opens its own.
#[test]
fn max_session_srv_conns_zero_keeps_nothing_between_requests() {
    let s = HttpBackend::start("s", Duration::ZERO);
    for (limit, conns) in [("", 1), ("    max-session-srv-conns 0\n", 2)] {
        let fe = free_addr();
        let before = s.conns.load(Ordering::SeqCst);
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\nfrontend fe\n    bind \"${{FE}}\"\n{limit}    default_backend be\nbackend be\n    http-reuse never\n    server s \"${{S1}}\"\n"
        );
        let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        let mut c = Client::connect(fe);
        assert_eq!(c.get("/1", "").status, 200);
        assert_eq!(c.get("/2", "").status, 200);
        assert_eq!(s.conns.load(Ordering::SeqCst) - before, conns, "{limit:?}");
    }
}

/// Server option `pool-conn-name EXPR`: an idle connection is only reused by a request
/// whose expression gives the same name.
#[test]
fn pool_conn_name_keeps_named_connections_apart() {
    if skip_on_reference("pool-conn-name is a 3.x keyword") {
        return;
    }
    let s = HttpBackend::start("s", Duration::ZERO);
    let fe = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    stats socket {}\n{}",
        sock.display(),
        config("    http-reuse always\n    server s \"${S1}\" pool-conn-name req.hdr(x-tenant)\n")
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    // One request per session; the session's end parks its connection: `idle` are then
    // waiting in the pool.
    let ask = |tenant: &str, idle: usize| {
        let mut c = Client::connect(fe);
        assert_eq!(c.get("/", &format!("x-tenant: {tenant}\r\n")).status, 200);
        drop(c);
        let want = idle.to_string();
        assert!(wait_until(Duration::from_secs(3), || {
            server_stat(&sock, "s", "srv_icur").as_deref() == Some(want.as_str())
        }));
    };
    let conns = || s.conns.load(Ordering::SeqCst);
    ask("a", 1);
    ask("a", 1);
    assert_eq!(conns(), 1, "same name: the idle connection is reused");
    ask("b", 2);
    assert_eq!(conns(), 2, "another name: a new connection");
    ask("a", 2);
    ask("b", 2);
    assert_eq!(conns(), 2, "each name finds its own connection");
}

/// An idle keep-alive client does not pin a server connection: once its response is
/// sent, the shareable connection waits in the server's pool, whose limits apply
/// (`pool-max-conn 2` here: five idle clients leave two idle server connections), and the
/// client's next request still goes out over an idle one.
#[test]
fn idle_clients_leave_their_server_connections_to_the_pool() {
    let s = HttpBackend::start("s", Duration::ZERO);
    let fe = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    stats socket {}\n{}",
        sock.display(),
        config("    server s \"${S1}\" pool-max-conn 2\n")
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let mut clients: Vec<Client> = (0..5)
        .map(|i| {
            let mut c = Client::connect(fe);
            assert_eq!(c.get(&format!("/{i}"), "").status, 200);
            c
        })
        .collect();
    assert!(wait_until(Duration::from_secs(3), || {
        server_stat(&sock, "s", "srv_icur").as_deref() == Some("2")
    }));
    let before = s.conns.load(Ordering::SeqCst);
    for c in clients.iter_mut().take(2) {
        assert_eq!(c.get("/again", "").status, 200);
    }
    assert_eq!(
        s.conns.load(Ordering::SeqCst),
        before,
        "later requests use the pooled connections"
    );
}

/// `tune.pool-low-fd-ratio` / `tune.pool-high-fd-ratio`: with many idle clients for the
/// sockets `maxconn` allows, idle server connections are not kept; raised ratios keep them.
#[test]
fn fd_ratios_bound_idle_server_connections() {
    if skip_on_reference(
        "HAProxy closes idle connections above the high ratio only when it needs a new socket; halo checks every second",
    ) {
        return;
    }
    let s = HttpBackend::start("s", Duration::ZERO);
    for (ratios, idle) in [
        ("", "0"),
        (
            "    tune.pool-low-fd-ratio 100\n    tune.pool-high-fd-ratio 100\n",
            "30",
        ),
    ] {
        let fe = free_addr();
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("stats.sock");
        let cfg = format!(
            "global\n    maxconn 100\n{ratios}    stats socket {}\n{}",
            sock.display(),
            config("    server s \"${S1}\"\n")
        );
        let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        assert!(wait_cli(&sock, Duration::from_secs(5)));
        // 30 idle clients and their connections: above 25% of the 200 sockets.
        let _clients: Vec<Client> = (0..30)
            .map(|i| {
                let mut c = Client::connect(fe);
                assert_eq!(c.get(&format!("/{i}"), "").status, 200);
                c
            })
            .collect();
        assert!(
            wait_until(Duration::from_secs(5), || {
                server_stat(&sock, "s", "srv_icur").as_deref() == Some(idle)
            }),
            "{ratios:?}: {:?}",
            server_stat(&sock, "s", "srv_icur")
        );
    }
}
