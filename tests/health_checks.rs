//! End-to-end tests of health checks as rule lists: `option httpchk` (with the legacy
//! header-in-version form), `http-check expect` matches, `disable-on-404`, `send-state`,
//! `tcp-check` send/expect against a scripted server, `option redis-check` and seed 11's
//! ruleset against real `redis-server`s, and what `show stat` / `show servers state` say.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// A scripted HTTP server: answers checks on `/health…` with a status set by the test,
// anything else with 200 and its name; records every request.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
}

struct CheckServer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

impl CheckServer {
    fn start(name: &str) -> CheckServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let s = CheckServer {
            addr: l.local_addr().unwrap(),
            status: Arc::new(AtomicU16::new(200)),
            seen: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (status, seen, stop, name) = (
            s.status.clone(),
            s.seen.clone(),
            s.stop.clone(),
            name.to_string(),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (status, seen, name) = (status.clone(), seen.clone(), name.clone());
                        thread::spawn(move || serve_http(c, &name, &status, &seen));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        s
    }
    fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }
    fn set_status(&self, s: u16) {
        self.status.store(s, Ordering::Relaxed);
    }
    fn seen(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for CheckServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_http(mut c: TcpStream, name: &str, status: &AtomicU16, seen: &Mutex<Vec<Req>>) {
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    seen.lock().unwrap().push(Req {
        method: method.clone(),
        target: target.clone(),
        headers,
    });
    let (code, body) = if target.starts_with("/health") {
        let s = status.load(Ordering::Relaxed);
        (s, "ok\n".to_string())
    } else {
        (200, format!("{name}\n"))
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Other",
    };
    let body = if method == "HEAD" {
        String::new()
    } else {
        body
    };
    let resp = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nX-Foo: bar, baz\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = c.write_all(resp.as_bytes());
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn sock(h: &Halo) -> PathBuf {
    h.dir().join("admin.sock")
}

/// The `show stat` fields of server `be/srv`, by column name.
fn stat(sock: &Path, be: &str, srv: &str) -> Option<Vec<(String, String)>> {
    let out = cli(sock, "show stat").ok()?;
    let mut lines = out.lines();
    let head: Vec<String> = lines
        .next()?
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_string)
        .collect();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.first() == Some(&be) && f.get(1) == Some(&srv) {
            return Some(
                head.iter()
                    .cloned()
                    .zip(f.iter().map(|s| s.to_string()))
                    .collect(),
            );
        }
    }
    None
}

fn field(sock: &Path, be: &str, srv: &str, name: &str) -> String {
    stat(sock, be, srv)
        .and_then(|v| v.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
        .unwrap_or_default()
}

/// Waits until `be/srv` has this status and last check status (ignoring "* ").
fn wait_state(sock: &Path, be: &str, srv: &str, status: &str, check: &str) -> bool {
    wait_until(T, || {
        field(sock, be, srv, "status") == status
            && field(sock, be, srv, "check_status").trim_start_matches("* ") == check
    })
}

fn dump(sock: &Path) -> String {
    cli(sock, "show stat").unwrap_or_default()
}

fn get(fe: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

// ---------------------------------------------------------------------------
// HTTP checks
// ---------------------------------------------------------------------------

#[test]
fn failing_http_check_marks_down_after_fall_and_traffic_moves() {
    let a = CheckServer::start("A");
    let b = CheckServer::start("B");
    let fe = free_addr();
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend bk
backend bk
    balance roundrobin
    option httpchk GET /health
    server a \"${A}\" check inter 100 rise 2 fall 3
    server b \"${B}\" check inter 100 rise 2 fall 3
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    assert!(wait_state(&s, "bk", "a", "UP", "L7OK"), "{}", dump(&s));
    assert!(wait_state(&s, "bk", "b", "UP", "L7OK"), "{}", dump(&s));
    assert_eq!(field(&s, "bk", "a", "check_code"), "200");
    assert_eq!(field(&s, "bk", "a", "check_desc"), "Layer7 check passed");
    // Both take traffic.
    let mut seen_a = 0;
    for _ in 0..6 {
        if get(fe, "/x").contains("\r\n\r\nA\n") {
            seen_a += 1;
        }
    }
    assert!(seen_a > 0);

    // A's check URL starts failing: while it goes down, clients see no error.
    a.set_status(500);
    let mut went_down = false;
    let mut transition_failures = 0;
    for _ in 0..400 {
        let r = get(fe, "/x");
        if !r.starts_with("HTTP/1.1 200") {
            transition_failures += 1;
        }
        if field(&s, "bk", "a", "status") == "DOWN" {
            went_down = true;
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert!(went_down, "{}", dump(&s));
    assert_eq!(transition_failures, 0);
    // It took `fall` failed checks.
    let chkfail: u32 = field(&s, "bk", "a", "chkfail").parse().unwrap_or(0);
    assert!(chkfail >= 3, "chkfail {chkfail}");
    assert_eq!(
        field(&s, "bk", "a", "check_status").trim_start_matches("* "),
        "L7STS"
    );
    assert_eq!(field(&s, "bk", "a", "check_code"), "500");
    assert_eq!(field(&s, "bk", "a", "check_desc"), "Layer7 wrong status");
    assert!(
        wait_until(T, || {
            h.stderr_text().contains(
        "Server bk/a is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: "
    )
        }),
        "{}",
        h.stderr_text()
    );
    // show servers state: op state 0, check status L7STS (17), result failed (2).
    let st = cli(&s, "show servers state bk").unwrap();
    let line = st
        .lines()
        .find(|l| l.split(' ').nth(3) == Some("a"))
        .unwrap()
        .to_string();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f[5], "0", "{line}");
    assert_eq!(f[10], "17", "{line}");
    assert_eq!(f[11], "2", "{line}");
    // All traffic on B, without errors.
    for _ in 0..10 {
        let r = get(fe, "/x");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.ends_with("B\n"), "{r}");
    }

    // A recovers: UP after `rise` good checks, traffic comes back.
    a.set_status(200);
    assert!(wait_state(&s, "bk", "a", "UP", "L7OK"), "{}", dump(&s));
    assert!(wait_until(T, || h.stderr_text().contains(
        "Server bk/a is UP, reason: Layer7 check passed, code: 200"
    )));
    assert!(wait_until(T, || get(fe, "/x").ends_with("A\n")));
}

#[test]
fn http_check_expect_matches() {
    let srv = CheckServer::start("S");
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    option httpchk GET /health
    default-server check inter 100 rise 1 fall 1
backend str_ok
    option httpchk GET /health
    http-check expect string ok
    server s \"${S}\"
backend str_bad
    option httpchk GET /health
    http-check expect string nope
    server s \"${S}\"
backend str_neg
    option httpchk GET /health
    http-check expect ! string ok
    server s \"${S}\"
backend rstatus_ok
    option httpchk GET /health
    http-check expect rstatus ^2[0-9]+$
    server s \"${S}\"
backend rstatus_bad
    option httpchk GET /health
    http-check expect ! rstatus ^2
    server s \"${S}\"
backend hdr_ok
    option httpchk GET /health
    http-check expect hdr name x-foo value baz
    server s \"${S}\"
backend fhdr_bad
    option httpchk GET /health
    http-check expect fhdr name x-foo value baz
    server s \"${S}\"
backend status_list
    option httpchk GET /health
    http-check expect status 201,300-310
    server s \"${S}\"
backend rstring_ok
    option httpchk GET /health
    http-check expect rstring ^o[kK]
    server s \"${S}\"
backend inherit_only
    server s \"${S}\"
backend dropped
    http-check expect status 200
    server s \"${S}\"
";
    let h = Halo::start(cfg, &[("S", srv.cfg_addr())]);
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    for (be, status, chk, code, info) in [
        ("str_ok", "UP", "L7OK", "200", ""),
        (
            "str_bad",
            "DOWN",
            "L7RSP",
            "",
            "HTTP content check did not match",
        ),
        (
            "str_neg",
            "DOWN",
            "L7RSP",
            "",
            "HTTP check matched unwanted content",
        ),
        ("rstatus_ok", "UP", "L7OK", "200", ""),
        ("rstatus_bad", "DOWN", "L7STS", "200", ""),
        ("hdr_ok", "UP", "L7OK", "200", ""),
        ("fhdr_bad", "DOWN", "L7STS", "200", ""),
        ("status_list", "DOWN", "L7STS", "200", ""),
        ("rstring_ok", "UP", "L7OK", "200", ""),
        ("inherit_only", "UP", "L7OK", "200", ""),
        // Own rules replace those of `defaults`, the request of its `option httpchk`
        // included: nothing is sent and the check times out (HAProxy 2.6).
        ("dropped", "DOWN", "L7TOUT", "", ""),
    ] {
        assert!(wait_state(&s, be, "s", status, chk), "{be}: {}", dump(&s));
        assert_eq!(field(&s, be, "s", "check_code"), code, "{be}");
        if !info.is_empty() {
            assert!(
                h.stderr_text().contains(&format!(
                    "Server {be}/s is DOWN, reason: Layer7 invalid response, info: \"{info}\""
                )),
                "{be}: {}",
                h.stderr_text()
            );
        }
    }
}

#[test]
fn legacy_httpchk_headers_and_send_state_reach_the_server() {
    let srv = CheckServer::start("S");
    let srv2 = CheckServer::start("S2");
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
    node lb1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend legacy
    option httpchk HEAD /health HTTP/1.0\\r\\nHost:\\ www.site1.com
    server s1 \"${S}\" check inter 100
backend modern
    option httpchk GET /health-m HTTP/1.1
    http-check send hdr Host www.site2.com hdr X-Check yes body hello
    http-check send-state
    server s2 \"${S2}\" check inter 100
";
    let h = Halo::start(cfg, &[("S", srv.cfg_addr()), ("S2", srv2.cfg_addr())]);
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    assert!(wait_until(T, || !srv.seen().is_empty() && !srv2.seen().is_empty()));
    let r = srv.seen()[0].clone();
    assert_eq!(r.method, "HEAD");
    assert_eq!(r.target, "/health");
    assert_eq!(r.header("host"), Some("www.site1.com"));
    assert_eq!(r.header("connection"), None);
    assert!(wait_state(&s, "legacy", "s1", "UP", "L7OK"), "{}", dump(&s));

    let r = srv2.seen()[0].clone();
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/health-m");
    assert_eq!(r.header("host"), Some("www.site2.com"));
    assert_eq!(r.header("x-check"), Some("yes"));
    assert_eq!(r.header("content-length"), Some("5"));
    assert_eq!(r.header("connection"), Some("close"));
    let state = r.header("x-haproxy-server-state").unwrap_or("").to_string();
    let want = format!(
        "; address=127.0.0.1; port={}; name=modern/s2; node=lb1; weight=1/",
        srv2.addr.port()
    );
    assert!(state.starts_with("UP"), "{state}");
    assert!(state.contains(&want), "{state}");
    assert!(state.contains("; scur=0/0; qcur=0"), "{state}");
}

#[test]
fn disable_on_404_puts_server_in_nolb() {
    let a = CheckServer::start("A");
    let b = CheckServer::start("B");
    let fe = free_addr();
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind \"${FE}\"
    default_backend bk
backend bk
    option httpchk GET /health
    http-check disable-on-404
    server a \"${A}\" check inter 100 rise 1 fall 1
    server b \"${B}\" check inter 100 rise 1 fall 1
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    assert!(wait_state(&s, "bk", "a", "UP", "L7OK"), "{}", dump(&s));
    a.set_status(404);
    assert!(wait_state(&s, "bk", "a", "NOLB", "L7OKC"), "{}", dump(&s));
    assert_eq!(field(&s, "bk", "a", "check_code"), "404");
    assert!(
        wait_until(T, || {
            h.stderr_text().contains(
        "Server bk/a is stopping, reason: Layer7 check conditionally passed, code: 404, check duration: "
    )
        }),
        "{}",
        h.stderr_text()
    );
    for _ in 0..6 {
        assert!(get(fe, "/x").ends_with("B\n"));
    }
    a.set_status(200);
    assert!(wait_state(&s, "bk", "a", "UP", "L7OK"), "{}", dump(&s));
}

// ---------------------------------------------------------------------------
// tcp-check against a scripted server
// ---------------------------------------------------------------------------

/// Answers `+PONG\r\n` to a `PING` line and `-ERR unknown\r\n` to anything else; sends a
/// banner first when given one.
fn scripted(banner: &'static str) -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    thread::spawn(move || {
        while !st.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut c, _)) => {
                    thread::spawn(move || {
                        c.set_nonblocking(false).ok();
                        c.set_read_timeout(Some(Duration::from_secs(3))).ok();
                        let _ = c.write_all(banner.as_bytes());
                        let mut buf = [0u8; 512];
                        let mut got = Vec::new();
                        while let Ok(n) = c.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            got.extend_from_slice(&buf[..n]);
                            while let Some(p) = got.windows(2).position(|w| w == b"\r\n") {
                                let line: Vec<u8> = got.drain(..p + 2).collect();
                                let ans: &[u8] = if line.starts_with(b"PING") {
                                    b"+PONG\r\n"
                                } else {
                                    b"-ERR unknown\r\n"
                                };
                                let _ = c.write_all(ans);
                            }
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
fn tcp_check_send_expect_against_scripted_server() {
    let (srv, stop) = scripted("");
    let (banner, stop2) = scripted("220 mail ready\r\n");
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 500ms
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
backend inherited
    server s \"${S}\" check inter 100 rise 1 fall 1
backend wrong
    tcp-check send PING\\r\\n
    tcp-check expect string +NOPE
    server s \"${S}\" check inter 100 rise 1 fall 1
backend negated
    tcp-check comment ping\\ phase
    tcp-check send-binary 50494e470d0a
    tcp-check expect ! binary 2b504f4e47
    server s \"${S}\" check inter 100 rise 1 fall 1
backend banner
    tcp-check expect rstring ^220\\  min-recv 4
    tcp-check send QUIT\\r\\n
    tcp-check expect string -ERR
    server s \"${B}\" check inter 100 rise 1 fall 1
backend silent
    tcp-check send HELLO\\r\\n
    tcp-check expect string never
    server s \"${S}\" check inter 100 rise 1 fall 1
";
    let h = Halo::start(
        cfg,
        &[("S", haproxy_addr(srv)), ("B", haproxy_addr(banner))],
    );
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    assert!(
        wait_state(&s, "inherited", "s", "UP", "L7OK"),
        "{}",
        dump(&s)
    );
    assert!(wait_state(&s, "banner", "s", "UP", "L7OK"), "{}", dump(&s));
    // The server does not close: a mismatch waits for more data until the timeout.
    assert!(
        wait_state(&s, "wrong", "s", "DOWN", "L7TOUT"),
        "{}",
        dump(&s)
    );
    assert!(
        wait_state(&s, "negated", "s", "DOWN", "L7RSP"),
        "{}",
        dump(&s)
    );
    assert!(
        wait_state(&s, "silent", "s", "DOWN", "L7TOUT"),
        "{}",
        dump(&s)
    );
    let err = h.stderr_text();
    assert!(
        err.contains("Server wrong/s is DOWN, reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string '+NOPE')\""),
        "{err}"
    );
    assert!(
        err.contains("Server negated/s is DOWN, reason: Layer7 invalid response, info: \"TCPCHK matched unwanted content (binary) at step 3\""),
        "{err}"
    );
    assert!(
        err.contains("Server silent/s is DOWN, reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string 'never')\""),
        "{err}"
    );
    stop.store(true, Ordering::Relaxed);
    stop2.store(true, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Real redis-server (seed 11)
// ---------------------------------------------------------------------------

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start(replica_of: Option<u16>) -> Option<Redis> {
        if !Path::new("/usr/bin/redis-server").exists() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let port = free_port();
        let mut cmd = Command::new("/usr/bin/redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(m) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &m.to_string()]);
        }
        let child = cmd.spawn().ok()?;
        let r = Redis {
            child,
            port,
            _dir: dir,
        };
        let a: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
        wait_until(T, || TcpStream::connect(a).is_ok()).then_some(r)
    }
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn command(&self, cmd: &str) -> String {
        let Ok(mut s) = TcpStream::connect(self.addr()) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let _ = s.write_all(format!("{cmd}\r\n").as_bytes());
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_check_and_seed_11_ruleset_follow_the_master() {
    let Some(master) = Redis::start(None) else {
        eprintln!("redis-server not installed: skipped");
        return;
    };
    let Some(replica) = Redis::start(Some(master.port)) else {
        panic!("cannot start the replica");
    };
    let cfg = "
global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend ping
    option redis-check
    server R1 \"${S1}\" check inter 100 rise 1 fall 1
    server R2 \"${S2}\" check inter 100 rise 1 fall 1
backend bk_redis
    option tcp-check
    tcp-check send PING\\r\\n
    tcp-check expect string +PONG
    tcp-check send info\\ replication\\r\\n
    tcp-check expect string role:master
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    server R1 \"${S1}\" check inter 100 rise 1 fall 1
    server R2 \"${S2}\" check inter 100 rise 1 fall 1
";
    let h = Halo::start(cfg, &[("S1", master.addr()), ("S2", replica.addr())]);
    let s = sock(&h);
    assert!(wait_cli(&s, T));
    assert!(wait_state(&s, "ping", "R1", "UP", "L7OK"), "{}", dump(&s));
    assert!(wait_state(&s, "ping", "R2", "UP", "L7OK"), "{}", dump(&s));
    assert!(
        wait_state(&s, "bk_redis", "R1", "UP", "L7OK"),
        "{}",
        dump(&s)
    );
    // The replica answers role:slave and keeps the connection: the check times out.
    assert!(
        wait_state(&s, "bk_redis", "R2", "DOWN", "L7TOUT"),
        "{}",
        dump(&s)
    );
    assert!(
        wait_until(T, || {
            h.stderr_text().contains(
        "Server bk_redis/R2 is DOWN, reason: Layer7 timeout, info: \" at step 4 of tcp-check (expect string 'role:master')\""
    )
        }),
        "{}",
        h.stderr_text()
    );
    assert_eq!(field(&s, "bk_redis", "R1", "last_chk"), "(tcp-check)");
    assert_eq!(field(&s, "ping", "R1", "last_chk"), "Redis server is ok");
    // Role swap: the replica becomes the master and the old master its replica.
    assert!(replica.command("REPLICAOF NO ONE").contains("+OK"));
    assert!(
        master
            .command(&format!("REPLICAOF 127.0.0.1 {}", replica.port))
            .contains("+OK")
    );
    assert!(
        wait_state(&s, "bk_redis", "R2", "UP", "L7OK"),
        "{}",
        dump(&s)
    );
    assert!(
        wait_state(&s, "bk_redis", "R1", "DOWN", "L7TOUT"),
        "{}",
        dump(&s)
    );
    // A stopped redis is a layer-4 failure for redis-check.
    drop(master);
    assert!(
        wait_state(&s, "ping", "R1", "DOWN", "L4CON"),
        "{}",
        dump(&s)
    );
    assert_eq!(field(&s, "ping", "R1", "last_chk"), "Connection refused");
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[test]
fn malformed_check_rules_are_refused_with_their_line() {
    let cfg = "
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend bk
    option httpchk
    http-check expect bogus 200
    http-check send meth
    server s 127.0.0.1:1 check
";
    let (code, _out, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0);
    assert!(err.contains(":9]"), "{err}");
    assert!(err.contains("http-check expect"), "{err}");
    assert!(err.contains(":10]"), "{err}");
}

/// Seed 06's APPLICATION backend: its servers count as up only while `/health` answers a
/// body containing `GOOD` (`option httpchk /health`, `http-check expect string GOOD`,
/// `inter 1s fall 2 rise 1`).
#[test]
fn seed06_application_servers_are_up_only_while_health_says_good() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let good = Arc::new(AtomicBool::new(true));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app1 = l.local_addr().unwrap();
    let g = good.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let mut first = String::new();
                if r.read_line(&mut first).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let body = if first.contains("/health") {
                    if g.load(Ordering::SeqCst) {
                        "ALL GOOD"
                    } else {
                        "BAD"
                    }
                } else {
                    "app1"
                };
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    let app2 = support::http::HttpBackend::start("app2", Duration::ZERO);
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 4s
    timeout client 30s
    timeout server 30s
frontend public
    bind \"${FE}\"
    default_backend APPLICATION
backend APPLICATION
    balance roundrobin
    option httpchk /health
    http-check expect string GOOD
    default-server inter 1s fall 2 rise 1
    server APP1 \"${S1}\" check
    server APP2 \"${S2}\" check
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(app1)),
            ("S2", app2.cfg_addr()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let status = |srv: &str| {
        cli(&sock, "show stat")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(&format!("APPLICATION,{srv},")))
            .and_then(|l| l.split(',').nth(17).map(str::to_string))
            .unwrap_or_default()
    };
    // APP2's page has no GOOD: it is DOWN; APP1 serves everything.
    assert!(wait_until(Duration::from_secs(5), || status("APP2") == "DOWN"));
    assert!(status("APP1").starts_with("UP"), "{}", status("APP1"));
    for _ in 0..3 {
        let mut c = support::http::Client::connect(fe);
        assert_eq!(c.get("/", "").body, "app1");
    }
    // APP1's health turns BAD: DOWN after two checks, then UP again after one GOOD.
    good.store(false, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || status("APP1") == "DOWN"));
    good.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || status("APP1") == "UP"));
}

/// `option external-check`: the program gets the listener's and the server's addresses and
/// HAProxy's environment; its exit status decides (PROCOK / PROCERR with the code).
#[test]
fn external_check_runs_the_program() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("chk.sh");
    let out = dir.path().join("seen");
    let code = dir.path().join("code");
    std::fs::write(&code, "3").unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > {o}\nenv | grep -E '^(HAPROXY_|PATH=)' | sort >> {o}\nexit $(cat {c})\n",
            o = out.display(),
            c = code.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fe = free_addr();
    let srv = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
    external-check
    insecure-fork-wanted
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
listen be
    bind \"${FE}\"
    option external-check
    external-check command \"${CMD}\"
    external-check path \"/usr/bin:/bin\"
    server s1 \"${S1}\" check inter 200ms id 7 maxconn 5
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(srv)),
            ("CMD", script.display().to_string()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let row = || {
        cli(&sock, "show stat")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("be,s1,"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                format!("{} {} {}", f[17], f[36], f[37])
            })
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(5), || row() == "DOWN PROCERR 3"),
        "{}",
        row()
    );
    assert!(
        wait_until(Duration::from_secs(2), || h.stderr_text().contains(
            "Server be/s1 is DOWN, reason: External check error, code: 3, check duration: "
        )),
        "{}",
        h.stderr_text()
    );
    // A `listen` section is a "proxy" in HAProxy's messages.
    assert!(
        h.stderr_text()
            .contains("proxy 'be' has no server available!"),
        "{}",
        h.stderr_text()
    );
    let seen = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines[0],
        format!("{} {} {} {}", fe.ip(), fe.port(), srv.ip(), srv.port())
    );
    for want in [
        format!("HAPROXY_PROXY_ADDR={}", fe.ip()),
        "HAPROXY_PROXY_NAME=be".to_string(),
        format!("HAPROXY_PROXY_PORT={}", fe.port()),
        format!("HAPROXY_SERVER_ADDR={}", srv.ip()),
        "HAPROXY_SERVER_CURCONN=0".to_string(),
        "HAPROXY_SERVER_ID=7".to_string(),
        "HAPROXY_SERVER_MAXCONN=5".to_string(),
        "HAPROXY_SERVER_NAME=s1".to_string(),
        format!("HAPROXY_SERVER_PORT={}", srv.port()),
        "HAPROXY_SERVER_PROTO=h1".to_string(),
        "HAPROXY_SERVER_SSL=0".to_string(),
        "PATH=/usr/bin:/bin".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} missing: {seen}");
    }
    std::fs::write(&code, "0").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || row() == "UP PROCOK 0"),
        "{}",
        row()
    );
}

/// `tcp-check set-var(check.x)`: a value read from the server's answer is sent back later
/// in the same check (`send-lf` with `%[var(check.x)]`).
#[test]
fn tcp_check_variables_carry_values_between_steps() {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let token = format!("tk{}", fastrand_like());
                let _ = write!(s, "TOKEN {token}\r\n");
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let ok = line.trim_end() == format!("AUTH {token}");
                let _ = s.write_all(if ok { b"OK\r\n" } else { b"ERR\r\n" });
            });
        }
    });
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    option tcp-check
    tcp-check connect
    tcp-check expect rstring ^TOKEN
    tcp-check set-var(check.tok) res.payload(6,5)
    tcp-check send-lf \"AUTH %[var(check.tok)]\\r\\n\"
    tcp-check expect string OK
    server s1 \"${S1}\" check inter 200ms rise 1 fall 1
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", haproxy_addr(addr))]);
    let sock = sock(&h);
    assert!(
        wait_state(&sock, "be", "s1", "UP", "L7OK"),
        "{}",
        dump(&sock)
    );
}

/// Three digits that change from one connection to the next.
fn fastrand_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:03}", n % 1000)
}
