//! Per-stream overrides: `http-request set-timeout` / `http-response set-timeout` (client,
//! connect, queue, server, tarpit, tunnel) and `http-request` / `tcp-request content`
//! `set-retries`, for the current stream only. A backend reached by `use_backend` from
//! another proxy gets its own retries back, the server timeout stays (as HAProxy 2.6).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 5s
";

fn get(fe: SocketAddr, path: &str, extra: &str) -> Response {
    Client::connect(fe).get(path, extra)
}

#[test]
fn set_timeout_server_cuts_a_slow_server_for_that_request_only() {
    let slow = HttpBackend::start("slow", Duration::from_millis(800));
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    http-request set-timeout server 200ms if {{ hdr(x-short) -m found }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", slow.cfg_addr())]);
    let t = Instant::now();
    let r = get(fe, "/a", "x-short: 1\r\n");
    assert_eq!(r.status, 504);
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    // Without the header the backend's 5 s apply: the slow answer arrives.
    let r = get(fe, "/b", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "slow /b 0\n");
    // On a keep-alive connection, the next request is back to the backend's timeout.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/c", "x-short: 1\r\n").status, 504);
    let r = c.get("/d", "");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn set_timeout_server_from_an_expression() {
    let slow = HttpBackend::start("slow", Duration::from_millis(800));
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    http-request set-timeout server req.hdr(x-ms),mul(1) if {{ hdr(x-ms) -m found }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", slow.cfg_addr())]);
    assert_eq!(get(fe, "/a", "x-ms: 150\r\n").status, 504);
    assert_eq!(get(fe, "/b", "x-ms: 3000\r\n").status, 200);
}

#[test]
fn a_server_timeout_set_in_a_listen_follows_the_request_to_another_backend() {
    // HAProxy 2.6 keeps it (the manual of later versions says the backend's value is
    // preset again).
    let slow = HttpBackend::start("slow", Duration::from_millis(600));
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    http-request set-timeout server 150ms if {{ path_beg /short }}
    use_backend other if {{ path_end /other }}
    server s1 \"${{S1}}\"
backend other
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", slow.cfg_addr())]);
    assert_eq!(get(fe, "/short/here", "").status, 504);
    assert_eq!(get(fe, "/short/other", "").status, 504);
    let r = get(fe, "/long/other", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "slow /long/other 0\n");
}

#[test]
fn retries_set_in_a_listen_do_not_follow_the_request_to_another_backend() {
    if skip_on_reference("set-retries is HAProxy 2.7+") {
        return;
    }
    let good = HttpBackend::start("good", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    balance first
    option redispatch
    retries 3
    http-request set-retries 0
    use_backend other if {{ path /other }}
    server dead \"${{S1}}\"
    server good \"${{S2}}\"
backend other
    balance first
    option redispatch
    retries 3
    server dead \"${{S1}}\"
    server good \"${{S2}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(dead_addr())),
            ("S2", good.cfg_addr()),
        ],
    );
    assert_eq!(get(fe, "/here", "").status, 503);
    assert_eq!(get(fe, "/other", "").status, 200);
}

/// Upgrades to a tunnel on `fe` and says whether the tunnel still echoes after `idle`.
fn tunnel_alive_after(fe: SocketAddr, path: &str, idle: Duration) -> bool {
    let mut c = Client::connect(fe);
    c.send(
        format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
    let r = c.read().expect("101");
    assert_eq!(r.status, 101);
    c.send(b"ping");
    let mut b = [0u8; 4];
    c.r.read_exact(&mut b).expect("echo");
    assert_eq!(&b, b"ping");
    thread::sleep(idle);
    if c.w.write_all(b"pong").is_err() {
        return false;
    }
    let mut b = [0u8; 4];
    c.r.read_exact(&mut b).is_ok() && &b == b"pong"
}

#[test]
fn set_timeout_tunnel_ends_an_idle_tunnel_early() {
    let ws = HttpBackend::start("ws", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}    timeout tunnel 10s
listen l
    bind \"${{FE}}\"
    http-request set-timeout tunnel 200ms if {{ path /short }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", ws.cfg_addr())]);
    assert!(!tunnel_alive_after(
        fe,
        "/short",
        Duration::from_millis(700)
    ));
    assert!(tunnel_alive_after(fe, "/long", Duration::from_millis(700)));
}

#[test]
fn set_timeout_errors_are_those_of_haproxy() {
    for (rule, err) in [
        (
            "http-request set-timeout foo 5s",
            "'set-timeout' rule supports",
        ),
        (
            "http-request set-timeout server",
            "expects exactly 2 arguments",
        ),
        (
            "http-request set-timeout server 0",
            "null value is not valid for a 'set-timeout server' rule",
        ),
        (
            "http-request set-timeout server 200xyz",
            "unexpected character 'x' in rule 'set-timeout server'",
        ),
        (
            "http-request set-timeout server 99999999999",
            "timer overflow in argument '99999999999' to rule 'set-timeout server'",
        ),
    ] {
        let cfg = format!(
            "{DEFAULTS}listen l\n    bind \"${{FE}}\"\n    {rule}\n    server s1 127.0.0.1:1\n"
        );
        let (code, text) = refused(&cfg);
        assert_ne!(code, 0, "{rule}");
        assert!(text.contains(err), "{rule}: {text}");
    }
    // The backend-side timeouts need a proxy with a backend.
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request set-timeout server 1s\n    default_backend b\nbackend b\n    server s1 127.0.0.1:1\n"
    );
    let (code, text) = refused(&cfg);
    assert_ne!(code, 0);
    assert!(
        text.contains("proxy 'f' has no backend capability"),
        "{text}"
    );
}

/// Exit code and stderr of a configuration that must be refused: checked with `-c` by
/// haproxy, started by halo (whose rule compilation happens at start).
fn refused(cfg: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("halo.cfg");
    std::fs::write(&path, cfg).unwrap();
    let mode = if is_reference_haproxy() { "-c" } else { "-db" };
    let out = run_bin(
        &[mode.into(), "-f".into(), path.into_os_string()],
        &[("FE", haproxy_addr(free_addr()))],
        Duration::from_secs(10),
    );
    (out.code, out.stderr)
}

/// A raw server that sends a response head announcing 10 bytes, 5 of them, then stalls.
fn stalling_body_server() -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    thread::spawn(move || {
                        s.set_nonblocking(false).ok();
                        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                        let mut buf = [0u8; 4096];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let _ = s.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Slow: 1\r\n\r\nhello",
                        );
                        thread::sleep(Duration::from_secs(3));
                        let _ = s.write_all(b"world");
                    });
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, stop)
}

#[test]
fn http_response_set_timeout_server_applies_to_the_response_body() {
    if skip_on_reference("http-response set-timeout is HAProxy 2.7+") {
        return;
    }
    let (srv, stop) = stalling_body_server();
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    http-response set-timeout server 200ms if {{ res.hdr(x-slow) -m found }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", haproxy_addr(srv))]);
    let mut c = Client::connect(fe);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let t = Instant::now();
    // The head and the first 5 bytes arrive, then the connection ends well before the
    // server's 3 s stall is over.
    let mut all = Vec::new();
    let _ = c.r.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("world"), "{text}");
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn set_timeout_queue_gives_up_waiting_early() {
    if skip_on_reference("set-timeout queue is HAProxy 2.7+") {
        return;
    }
    let slow = HttpBackend::start("slow", Duration::from_millis(1500));
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}    timeout queue 5s
listen l
    bind \"${{FE}}\"
    http-request set-timeout queue 100ms if {{ path /impatient }}
    server s1 \"${{S1}}\" maxconn 1
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", slow.cfg_addr())]);
    let first = thread::spawn(move || get(fe, "/first", "").status);
    assert!(wait_until(Duration::from_secs(5), || !slow
        .seen()
        .is_empty()));
    let t = Instant::now();
    assert_eq!(get(fe, "/impatient", "").status, 503);
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(first.join().unwrap(), 200);
}

#[test]
fn set_timeout_tarpit_shortens_the_tarpit() {
    if skip_on_reference("set-timeout tarpit is HAProxy 2.7+") {
        return;
    }
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}    timeout tarpit 5s
listen l
    bind \"${{FE}}\"
    http-request set-timeout tarpit 100ms if {{ path /quick }}
    http-request tarpit
    server s1 127.0.0.1:1
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    let t = Instant::now();
    assert_eq!(get(fe, "/quick", "").status, 500);
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
}

/// A port nothing listens on.
fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

#[test]
fn set_retries_bounds_connection_attempts_for_the_request() {
    if skip_on_reference("set-retries is HAProxy 2.7+") {
        return;
    }
    let good = HttpBackend::start("good", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    balance first
    option redispatch
    retries 3
    http-request set-retries 0 if {{ path /none }}
    http-request set-retries int(2) if {{ path /expr }}
    server dead \"${{S1}}\"
    server good \"${{S2}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(dead_addr())),
            ("S2", good.cfg_addr()),
        ],
    );
    // No retry: the dead server's failure is the answer.
    assert_eq!(get(fe, "/none", "").status, 503);
    // With retries, the request is redispatched to the live server.
    let r = get(fe, "/some", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "good /some 0\n");
    assert_eq!(get(fe, "/expr", "").status, 200);
    assert_eq!(get(fe, "/none", "").status, 503);
}

#[test]
fn tcp_request_content_set_retries_in_tcp_mode() {
    if skip_on_reference("set-retries is HAProxy 2.7+") {
        return;
    }
    let echo = TcpBackend::echo_named("echo");
    let fe = free_addr();
    let cfg = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind \"${FE}\"
    balance first
    option redispatch
    retries 3
    server dead \"${S1}\"
    server echo \"${S2}\"
listen l2
    bind \"${FE2}\"
    balance first
    option redispatch
    retries 3
    tcp-request content set-retries 0
    server dead \"${S1}\"
    server echo \"${S2}\"
";
    let fe2 = free_addr();
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE2", haproxy_addr(fe2)),
            ("S1", haproxy_addr(dead_addr())),
            ("S2", echo.cfg_addr()),
        ],
    );
    // Retried and redispatched: the echo server answers.
    assert_eq!(request(fe).unwrap(), "echo");
    // No retry: the connection closes without an answer.
    assert!(request(fe2).is_err());
}

#[test]
fn set_timeout_client_bounds_a_slow_request_body() {
    if skip_on_reference("set-timeout client is HAProxy 2.7+") {
        return;
    }
    let be = HttpBackend::start("be", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen l
    bind \"${{FE}}\"
    http-request set-timeout client 200ms if {{ path /up }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    let t = Instant::now();
    // The rest of the body never comes: the stream ends long before `timeout client`.
    let mut all = Vec::new();
    let _ = c.r.read_to_end(&mut all);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Another request with the same slow body is still waited for past 200 ms.
    let mut c = Client::connect(fe);
    c.send(b"POST /other HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    thread::sleep(Duration::from_millis(600));
    c.send(b"world");
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "be /other 10\n");
}
