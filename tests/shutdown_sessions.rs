//! Ending the sessions of a server: `shutdown sessions server B/S` on the runtime API, and
//! the server options `on-marked-down shutdown-sessions` and `on-marked-up
//! shutdown-backup-sessions`, with long-lived TCP (echo) and HTTP sessions.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

const WAIT: Duration = Duration::from_secs(5);

/// A client session through the proxy to a `TcpBackend`, held open (`HOLD`: the backend
/// answers its name, then echoes).
struct Held {
    s: TcpStream,
    server: String,
}

impl Held {
    fn open(fe: SocketAddr) -> Held {
        let mut s = TcpStream::connect(fe).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"HOLD\n").unwrap();
        let mut name = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            name.push(b[0]);
        }
        Held {
            s,
            server: String::from_utf8_lossy(&name).into_owned(),
        }
    }

    /// The session still carries bytes both ways.
    fn echoes(&mut self) -> bool {
        if self.s.write_all(b"ping\n").is_err() {
            return false;
        }
        let mut got = [0u8; 5];
        self.s.read_exact(&mut got).is_ok() && &got == b"ping\n"
    }

    /// The proxy closed the session: end of stream (or a reset) within the timeout.
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 64];
        matches!(self.s.read(&mut b), Ok(0))
            || matches!(self.s.read(&mut b), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut)
    }
}

fn sock(h: &Halo) -> std::path::PathBuf {
    h.dir().join("admin.sock")
}

/// The `status` column of `show stat` for `be/srv`.
fn status(h: &Halo, srv: &str) -> String {
    let out = cli(&sock(h), "show stat").unwrap_or_default();
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("be,{srv},")))
        .unwrap_or("");
    row.split(',').nth(17).unwrap_or("").to_string()
}

const GLOBAL: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
    stats socket \"${DIR}/oper.sock\" level operator
";

#[test]
fn cli_ends_the_tcp_sessions_of_one_server() {
    let s1 = TcpBackend::echo_named("s1");
    let s2 = TcpBackend::echo_named("s2");
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    balance roundrobin
    server s1 \"${{S1}}\"
    server s2 \"${{S2}}\"
"
    );
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ])
        .wait_for(&[fe])
        .start();
    let mut sessions: Vec<Held> = (0..4).map(|_| Held::open(fe)).collect();
    assert_eq!(sessions.iter().filter(|s| s.server == "s1").count(), 2);
    assert_eq!(sessions.iter().filter(|s| s.server == "s2").count(), 2);
    assert!(sessions.iter_mut().all(|s| s.echoes()));
    assert!(wait_until(WAIT, || s1.current() == 2 && s2.current() == 2));

    // Answers for what does not exist, and the level it needs.
    let ask = |c: &str| cli(&sock(&h), c).unwrap();
    assert_eq!(
        ask("shutdown sessions server be/nope").trim(),
        "No such server."
    );
    assert_eq!(
        ask("shutdown sessions server nope/s1").trim(),
        "No such backend."
    );
    assert_eq!(
        ask("shutdown sessions server be").trim(),
        "Require 'backend/server'."
    );
    assert_eq!(
        cli(&h.dir().join("oper.sock"), "shutdown sessions server be/s1")
            .unwrap()
            .trim(),
        "Permission denied"
    );
    assert!(sessions.iter_mut().all(|s| s.echoes()));

    assert_eq!(ask("shutdown sessions server be/s1").trim(), "");
    for s in sessions.iter_mut().filter(|s| s.server == "s1") {
        assert!(s.closed(), "a session on s1 stays open");
    }
    // The server side is closed too.
    assert!(wait_until(WAIT, || s1.current() == 0));
    // The sessions on s2 go on, and s1 takes new ones.
    for s in sessions.iter_mut().filter(|s| s.server == "s2") {
        assert!(s.echoes(), "a session on s2 was affected");
    }
    assert_eq!(s2.current(), 2);
    let mut again: Vec<Held> = (0..2).map(|_| Held::open(fe)).collect();
    assert!(again.iter().any(|s| s.server == "s1"));
    assert!(again.iter_mut().all(|s| s.echoes()));
}

/// An HTTP server that answers `GET /hold…` only once `release` is set (200 with its
/// name), anything else at once; counts its open connections.
struct HoldingHttp {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    release: Arc<AtomicBool>,
}

impl HoldingHttp {
    fn start(name: &'static str) -> HoldingHttp {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let (o, r) = (open.clone(), release.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let (o, r) = (o.clone(), r.clone());
                thread::spawn(move || {
                    o.fetch_add(1, SeqCst);
                    s.set_read_timeout(Some(Duration::from_millis(20))).ok();
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 2048];
                    'conn: while Instant::now() < deadline {
                        match s.read(&mut chunk) {
                            Ok(0) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            if head.split(' ').nth(1).unwrap_or("").starts_with("/hold") {
                                // Wait for the release while watching the connection.
                                loop {
                                    if r.load(SeqCst) {
                                        break;
                                    }
                                    match s.read(&mut chunk) {
                                        Ok(0) => break 'conn,
                                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                                        Err(e)
                                            if matches!(
                                                e.kind(),
                                                std::io::ErrorKind::WouldBlock
                                                    | std::io::ErrorKind::TimedOut
                                            ) => {}
                                        Err(_) => break 'conn,
                                    }
                                    if Instant::now() >= deadline {
                                        break 'conn;
                                    }
                                }
                            }
                            let body = name;
                            let r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if s.write_all(r.as_bytes()).is_err() {
                                break 'conn;
                            }
                        }
                    }
                    o.fetch_sub(1, SeqCst);
                });
            }
        });
        HoldingHttp {
            addr,
            open,
            release,
        }
    }
}

/// Sends a request and reads what comes back until the connection closes or `timeout`.
fn send(fe: SocketAddr, path: &str) -> TcpStream {
    let mut c = TcpStream::connect(fe).unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    c
}

/// Everything received until the peer closes (None: still open after `timeout`).
fn read_to_close(c: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while Instant::now() < deadline {
        match c.read(&mut b) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(got),
        }
    }
    None
}

/// Reads one response (head and content-length body).
fn read_response(c: &mut TcpStream, timeout: Duration) -> String {
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while Instant::now() < deadline {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                break;
            }
        }
        match c.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn http_proxy(s1: &HoldingHttp, s2: &HoldingHttp, s1_opts: &str) -> (Halo, SocketAddr) {
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    use-server s1 if {{ path_beg /hold1 }} or {{ path_beg /one }}
    use-server s2 if {{ path_beg /hold2 }}
    server s1 \"${{S1}}\" {s1_opts}
    server s2 \"${{S2}}\"
"
    );
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(s1.addr)),
            ("S2", haproxy_addr(s2.addr)),
        ])
        .wait_for(&[fe])
        .start();
    (h, fe)
}

#[test]
fn cli_ends_the_http_requests_waiting_on_one_server() {
    let s1 = HoldingHttp::start("one");
    let s2 = HoldingHttp::start("two");
    let (h, fe) = http_proxy(&s1, &s2, "");
    // A keep-alive session between two requests holds no server: it is not ended (nor
    // its server connection).
    let mut idle = send(fe, "/one");
    let r = read_response(&mut idle, WAIT);
    assert!(r.ends_with("one"), "{r}");
    let mut a = send(fe, "/hold1");
    let mut b = send(fe, "/hold2");
    assert!(wait_until(WAIT, || s1.open.load(SeqCst) == 2
        && s2.open.load(SeqCst) == 1));
    assert_eq!(
        cli(&sock(&h), "shutdown sessions server be/s1")
            .unwrap()
            .trim(),
        ""
    );
    // The request waiting on s1 gets a 502 (HAProxy 2.6 does so), its server connection
    // closes, and the client's connection stays for its next request.
    let r = read_response(&mut a, WAIT);
    assert!(r.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{r}");
    assert!(wait_until(WAIT, || s1.open.load(SeqCst) == 1));
    // The one on s2 is answered once its server answers.
    s2.release.store(true, SeqCst);
    let r = read_response(&mut b, WAIT);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("two"), "{r}");
    // s1 serves new requests, also on the connection whose request was killed.
    s1.release.store(true, SeqCst);
    let mut c = send(fe, "/hold1");
    let r = read_response(&mut c, WAIT);
    assert!(r.ends_with("one"), "{r}");
    a.write_all(b"GET /hold1 HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut a, WAIT);
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("one"), "{r}");
    idle.write_all(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut idle, WAIT);
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("one"), "{r}");
}

#[test]
fn cli_ends_an_http_response_in_progress_and_its_client_connection() {
    // A response whose body is still coming cannot be replaced: both connections close.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let o = open.clone();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let o = o.clone();
            thread::spawn(move || {
                o.fetch_add(1, SeqCst);
                let mut b = [0u8; 2048];
                let _ = s.read(&mut b);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf");
                s.set_read_timeout(Some(Duration::from_secs(20))).ok();
                let _ = s.read(&mut b);
                o.fetch_sub(1, SeqCst);
            });
        }
    });
    let other = HoldingHttp::start("two");
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    server s1 \"${{S1}}\"
    server s2 \"${{S2}}\" backup
"
    );
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(addr)),
            ("S2", haproxy_addr(other.addr)),
        ])
        .wait_for(&[fe])
        .start();
    let mut a = send(fe, "/");
    assert!(wait_until(WAIT, || open.load(SeqCst) == 1));
    // The head and the first bytes of the body arrive.
    a.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 512];
    while !got.ends_with(b"half") {
        let n = a.read(&mut b).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
    cli(&sock(&h), "shutdown sessions server be/s1").unwrap();
    let rest = read_to_close(&mut a, WAIT).expect("the client connection stays open");
    assert!(rest.is_empty());
    assert!(wait_until(WAIT, || open.load(SeqCst) == 0));
}

#[test]
fn on_marked_down_ends_the_sessions_when_checks_fail() {
    let s1 = TcpBackend::echo_named("s1");
    let s2 = TcpBackend::echo_named("s2");
    // s1's checks go to their own port, which the test closes.
    let chk = TcpBackend::echo_named("chk");
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    balance roundrobin
    server s1 \"${{S1}}\" check port \"${{CP}}\" inter 100 rise 1 fall 1 on-marked-down shutdown-sessions
    server s2 \"${{S2}}\" check port \"${{CP2}}\" inter 100 rise 1 fall 1
"
    );
    let chk2 = TcpBackend::echo_named("chk2");
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
            ("CP", chk.addr().port().to_string()),
            ("CP2", chk2.addr().port().to_string()),
        ])
        .wait_for(&[fe])
        .start();
    assert!(wait_until(WAIT, || status(&h, "s1") == "UP"
        && status(&h, "s2") == "UP"));
    let mut sessions: Vec<Held> = (0..4).map(|_| Held::open(fe)).collect();
    assert_eq!(sessions.iter().filter(|s| s.server == "s1").count(), 2);
    assert!(sessions.iter_mut().all(|s| s.echoes()));

    chk.stop();
    assert!(wait_until(WAIT, || status(&h, "s1").starts_with("DOWN")));
    for s in sessions.iter_mut().filter(|s| s.server == "s1") {
        assert!(s.closed(), "a session on s1 outlived its server going down");
    }
    assert!(wait_until(WAIT, || s1.current() == 0));
    for s in sessions.iter_mut().filter(|s| s.server == "s2") {
        assert!(s.echoes());
    }

    // s2 has no such option: going down (runtime API) leaves its sessions alone.
    cli(&sock(&h), "disable health be/s2").unwrap();
    cli(&sock(&h), "set server be/s2 health down").unwrap();
    assert!(wait_until(WAIT, || status(&h, "s2").starts_with("DOWN")));
    for s in sessions.iter_mut().filter(|s| s.server == "s2") {
        assert!(s.echoes(), "a session on s2 ended without on-marked-down");
    }
}

#[test]
fn on_marked_down_ends_http_requests_on_health_down() {
    let s1 = HoldingHttp::start("one");
    let s2 = HoldingHttp::start("two");
    let (h, fe) = http_proxy(&s1, &s2, "on-marked-down shutdown-sessions");
    let mut a = send(fe, "/hold1");
    let mut b = send(fe, "/hold2");
    assert!(wait_until(WAIT, || s1.open.load(SeqCst) == 1
        && s2.open.load(SeqCst) == 1));
    cli(&sock(&h), "set server be/s1 health down").unwrap();
    let r = read_response(&mut a, WAIT);
    assert!(r.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{r}");
    assert!(wait_until(WAIT, || s1.open.load(SeqCst) == 0));
    s2.release.store(true, SeqCst);
    let r = read_response(&mut b, WAIT);
    assert!(r.ends_with("two"), "{r}");
}

#[test]
fn on_marked_up_ends_the_backup_sessions() {
    let s1 = TcpBackend::echo_named("s1");
    let bk = TcpBackend::echo_named("bk");
    let chk = TcpBackend::echo_named("chk");
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    server s1 \"${{S1}}\" check port \"${{CP}}\" inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions
    server bk \"${{BK}}\" backup
"
    );
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("BK", bk.cfg_addr()),
            ("CP", chk.addr().port().to_string()),
        ])
        .wait_for(&[fe])
        .start();
    chk.stop();
    assert!(wait_until(WAIT, || status(&h, "s1").starts_with("DOWN")));
    let mut on_backup: Vec<Held> = (0..2).map(|_| Held::open(fe)).collect();
    assert!(on_backup.iter().all(|s| s.server == "bk"));
    assert!(on_backup.iter_mut().all(|s| s.echoes()));

    chk.restart();
    assert!(wait_until(WAIT, || status(&h, "s1") == "UP"));
    for s in on_backup.iter_mut() {
        assert!(
            s.closed(),
            "a backup session outlived the active server's return"
        );
    }
    assert!(wait_until(WAIT, || bk.current() == 0));
    let mut back = Held::open(fe);
    assert_eq!(back.server, "s1");
    assert!(back.echoes());

    // The active server going down and up again through the runtime API: the sessions
    // it serves are not backup sessions and stay.
    cli(&sock(&h), "disable health be/s1").unwrap();
    cli(&sock(&h), "set server be/s1 health down").unwrap();
    let mut on_backup = Held::open(fe);
    assert_eq!(on_backup.server, "bk");
    cli(&sock(&h), "set server be/s1 health up").unwrap();
    assert!(on_backup.closed());
    assert!(back.echoes());
}

#[test]
fn maintenance_counts_as_down_and_leaving_it_as_up() {
    let s1 = TcpBackend::echo_named("s1");
    let s2 = TcpBackend::echo_named("s2");
    let bk = TcpBackend::echo_named("bk");
    let fe = free_addr();
    let cfg = format!(
        "{GLOBAL}defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    balance first
    server s1 \"${{S1}}\" on-marked-down shutdown-sessions
    server s2 \"${{S2}}\" on-marked-up shutdown-backup-sessions
    server bk \"${{BK}}\" backup
"
    );
    let h = Halo::builder(&cfg)
        .envs(&[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
            ("BK", bk.cfg_addr()),
        ])
        .wait_for(&[fe])
        .start();
    let ask = |c: &str| cli(&sock(&h), c).unwrap();
    let mut on_s1 = Held::open(fe);
    assert_eq!(on_s1.server, "s1");
    // Draining is not going down; maintenance is.
    ask("set server be/s1 state drain");
    assert!(on_s1.echoes());
    ask("set server be/s1 state maint");
    assert!(on_s1.closed());
    assert!(wait_until(WAIT, || s1.current() == 0));

    // s2 with weight 0 coming back does not end the backup sessions; with a weight it does.
    ask("set server be/s2 state maint");
    let mut on_bk = Held::open(fe);
    assert_eq!(on_bk.server, "bk");
    ask("set server be/s2 weight 0");
    ask("set server be/s2 state ready");
    assert!(on_bk.echoes());
    ask("set server be/s2 state maint");
    ask("set server be/s2 weight 1");
    assert!(on_bk.echoes());
    ask("set server be/s2 state ready");
    assert!(on_bk.closed());
    assert!(wait_until(WAIT, || bk.current() == 0));
}

#[test]
fn option_values_are_checked() {
    for (opt, msg) in [
        (
            "on-marked-down bogus",
            "'server be/s1' : 'on-marked-down' expects 'shutdown-sessions' but got 'bogus'.",
        ),
        (
            "on-marked-up shutdown-sessions",
            "'server be/s1' : 'on-marked-up' expects 'shutdown-backup-sessions' but got 'shutdown-sessions'.",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten be\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:8080 {opt}\n",
            free_port()
        );
        let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_ne!(code, 0, "{opt}");
        assert!(err.contains(msg), "{opt}: {err}");
        assert!(err.contains(":8]"), "{err}");
    }
}
