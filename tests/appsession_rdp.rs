//! End-to-end tests of the legacy `appsession` (seed 15's `films` backend: a session cookie
//! learnt from the server's Set-Cookie, matched on the request's cookie and on `;NAME=` in
//! the path, redispatched when its server dies) and of `persist rdp-cookie` (the server an
//! RDP `msts` cookie names). HAProxy 2.6 rejects `appsession`: those tests skip on it.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const T: Duration = Duration::from_secs(10);

/// A PHP-like application server: a request without a PHPSESSID (cookie or `;PHPSESSID=`
/// path parameter) gets `Set-Cookie: PHPSESSID=sid-<name>`; every answer names the server.
/// Dropping it closes its listener, so later connections are refused.
struct PhpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl PhpServer {
    fn start(name: &'static str) -> PhpServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let st = st.clone();
                        thread::spawn(move || serve_php(s, name, &st));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        PhpServer { addr, stop }
    }

    fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve_php(s: TcpStream, name: &str, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(T));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    loop {
        let mut session = false;
        let mut first = true;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let low = line.to_ascii_lowercase();
            if (first && low.contains(";phpsessid=")) || low.starts_with("cookie: phpsessid=") {
                session = true;
            }
            first = false;
            if line == "\r\n" {
                break;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let set = if session {
            String::new()
        } else {
            format!("Set-Cookie: PHPSESSID=sid-{name}; path=/\r\n")
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

/// Seed 15 as halo can start it without TLS (issue 6): the TLS bind, its DH parameter, the
/// redirect to HTTPS (which would answer every plain request) and the `if { ssl_fc }`
/// header (never true without TLS) are removed; both backends, `option redispatch` and
/// `appsession PHPSESSID len 32 timeout 1h` stay.
fn seed15_plain() -> String {
    let text = seed_text("15-acl-apps-appsession-tls.cfg");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.contains("FE_TLS")
                && !l.contains("tune.ssl")
                && !l.contains("redirect scheme")
                && !l.contains("ssl_fc")
        })
        .collect();
    assert!(kept.iter().any(|l| l.contains("appsession PHPSESSID")));
    kept.join("\n") + "\n"
}

fn server_of(r: &support::http::Response) -> String {
    r.header("x-server").unwrap_or("").to_string()
}

#[test]
fn seed15_appsession_keeps_the_session_on_its_server_and_redispatches() {
    if skip_on_reference("HAProxy 2.6 rejects 'appsession'") {
        return;
    }
    let (s3, s4) = (
        PhpServer::start("webserver3"),
        PhpServer::start("webserver4"),
    );
    let (w1, w2) = (
        HttpBackend::start("websrv1", Duration::ZERO),
        HttpBackend::start("websrv2", Duration::ZERO),
    );
    let fe = free_addr();
    let h = Halo::start(
        &seed15_plain(),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", w1.cfg_addr()),
            ("S2", w2.cfg_addr()),
            ("S3", haproxy_addr(s3.addr)),
            ("S4", haproxy_addr(s4.addr)),
        ],
    );
    // Accepted with a warning naming the modern form.
    let err = h.stderr_text();
    assert!(
        err.contains("appsession") && err.contains("stick-table"),
        "no warning naming the modern form: {err}"
    );
    // The other application is not concerned.
    let r = Client::connect(fe).get("/", "");
    assert_eq!(r.status, 200);
    assert!(r.header("x-server").unwrap_or("").starts_with("websrv"));
    // A first visit is balanced and given its session by the server.
    let r = Client::connect(fe).get("/fun/login", "");
    assert_eq!(r.status, 200);
    let owner = server_of(&r);
    let set = r.header("set-cookie").unwrap_or("").to_string();
    assert_eq!(set, format!("PHPSESSID=sid-{owner}; path=/"));
    let other = if owner == "webserver3" {
        "webserver4"
    } else {
        "webserver3"
    };
    let cookie = format!("Cookie: PHPSESSID=sid-{owner}\r\n");
    // With its cookie the client keeps reaching that server (round robin would alternate).
    for i in 0..6 {
        let r = Client::connect(fe).get(&format!("/fun/page{i}"), &cookie);
        assert_eq!(
            (r.status, server_of(&r)),
            (200, owner.clone()),
            "request {i}"
        );
    }
    // Also with the session id as a path parameter and no cookie, as 1.x clients did.
    for i in 0..6 {
        let path = format!("/fun/page{i};PHPSESSID=sid-{owner}?x=1");
        let r = Client::connect(fe).get(&path, "");
        assert_eq!((r.status, server_of(&r)), (200, owner.clone()), "path {i}");
    }
    // An unknown session is balanced over both servers.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = Client::connect(fe).get("/fun/x", "Cookie: PHPSESSID=unknown\r\n");
        seen.push(server_of(&r));
    }
    assert!(seen.iter().any(|s| s == "webserver3") && seen.iter().any(|s| s == "webserver4"));
    // The server dies: `option redispatch` sends the session to the other one.
    if owner == "webserver3" {
        s3.kill()
    } else {
        s4.kill()
    }
    let addr = if owner == "webserver3" {
        s3.addr
    } else {
        s4.addr
    };
    assert!(wait_until(T, || TcpStream::connect(addr).is_err()));
    let r = Client::connect(fe).get("/fun/again", &cookie);
    assert_eq!((r.status, server_of(&r).as_str()), (200, other));
    let r = Client::connect(fe).get(&format!("/fun/again;PHPSESSID=sid-{owner}"), "");
    assert_eq!((r.status, server_of(&r).as_str()), (200, other));
}

#[test]
fn appsession_request_learn_and_query_string_mode() {
    if skip_on_reference("HAProxy 2.6 rejects 'appsession'") {
        return;
    }
    let (a, b) = (PhpServer::start("a"), PhpServer::start("b"));
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    appsession SID len 8 timeout 30s request-learn mode query-string
    server a \"${A}\"
    server b \"${B}\"
";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", haproxy_addr(a.addr)),
            ("B", haproxy_addr(b.addr)),
        ],
    );
    // request-learn: a session the client brings is stored for the server it reached.
    let first = server_of(&Client::connect(fe).get("/", "Cookie: SID=client-chosen\r\n"));
    for i in 0..4 {
        // Only the first 8 characters are the key.
        let r = Client::connect(fe).get(&format!("/{i}"), "Cookie: SID=client-cXXXX\r\n");
        assert_eq!(server_of(&r), first, "request {i}");
        // mode query-string: `?SID=` finds it too.
        let r = Client::connect(fe).get(&format!("/{i}?a=1&SID=client-chosen"), "");
        assert_eq!(server_of(&r), first, "query {i}");
    }
}

/// The X.224 connection request of an RDP client carrying `Cookie: msts=IP.PORT.0000`, the
/// address and port of `server` encoded as Windows does (little-endian address, port with
/// its bytes swapped).
fn rdp_request(server: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = server else {
        panic!("IPv4 only")
    };
    let ip = u32::from_le_bytes(v4.ip().octets());
    let port = v4.port().swap_bytes();
    let cookie = format!("Cookie: msts={ip}.{port}.0000\r\n");
    let x224_len = 6 + cookie.len();
    let total = 4 + 1 + x224_len;
    let mut p = vec![3, 0, (total >> 8) as u8, total as u8, x224_len as u8, 0xe0];
    p.extend_from_slice(&[0, 0, 0, 0, 0]);
    p.extend_from_slice(cookie.as_bytes());
    p
}

/// Connects, sends `payload` at once, and returns what the echo server answered (its
/// name first).
fn rdp_exchange(fe: SocketAddr, payload: &[u8]) -> String {
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(payload).unwrap();
    let mut buf = vec![0u8; 256];
    let mut got = Vec::new();
    while !got.contains(&b'\n') {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    text.split_whitespace().next().unwrap_or("").to_string()
}

/// A TCP server that says its name on the first bytes it receives.
fn named_tcp(name: &'static str) -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    thread::spawn(move || {
        while !st.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    thread::spawn(move || {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(T));
                        let mut b = [0u8; 512];
                        if matches!(s.read(&mut b), Ok(n) if n > 0) {
                            let _ = s.write_all(format!("{name}\n").as_bytes());
                        }
                    });
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, stop)
}

#[test]
fn persist_rdp_cookie_reaches_the_server_the_cookie_names() {
    let (a, stop_a) = named_tcp("srv1");
    let (b, stop_b) = named_tcp("srv2");
    let fe = free_addr();
    let cfg = "defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen tse-farm
    bind \"${FE}\"
    tcp-request inspect-delay 5s
    tcp-request content accept if RDP_COOKIE
    persist rdp-cookie
    balance roundrobin
    server srv1 \"${A}\"
    server srv2 \"${B}\"
";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", haproxy_addr(a)),
            ("B", haproxy_addr(b)),
        ],
    );
    // Round robin would alternate: the cookie keeps each client on its server.
    for (addr, name) in [(b, "srv2"), (a, "srv1")] {
        for i in 0..4 {
            assert_eq!(rdp_exchange(fe, &rdp_request(addr)), name, "{name} {i}");
        }
    }
    // A cookie naming no known server is balanced.
    let nobody = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 1), 1));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(rdp_exchange(fe, &rdp_request(nobody)));
    }
    assert!(seen.iter().any(|s| s == "srv1") && seen.iter().any(|s| s == "srv2"));
    stop_a.store(true, Ordering::Relaxed);
    stop_b.store(true, Ordering::Relaxed);
}

#[test]
fn appsession_prefix_keys_on_the_rest_of_the_cookie_name() {
    if skip_on_reference("HAProxy 2.6 rejects 'appsession'") {
        return;
    }
    let (a, b) = (PhpServer::start("a"), PhpServer::start("b"));
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    appsession PHPSESS len 32 timeout 30s prefix
    server a \"${A}\"
    server b \"${B}\"
";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", haproxy_addr(a.addr)),
            ("B", haproxy_addr(b.addr)),
        ],
    );
    // `PHPSESSID=sid-X` is learnt as `ID=sid-X`, from the cookie and from `;PHPSESSID=`.
    let owner = server_of(&Client::connect(fe).get("/login", ""));
    for i in 0..4 {
        let c = format!("Cookie: PHPSESSID=sid-{owner}\r\n");
        let r = Client::connect(fe).get(&format!("/{i}"), &c);
        assert_eq!(server_of(&r), owner, "cookie {i}");
        let r = Client::connect(fe).get(&format!("/{i};PHPSESSID=sid-{owner}"), "");
        assert_eq!(server_of(&r), owner, "path {i}");
    }
}
