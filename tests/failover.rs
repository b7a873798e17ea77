//! A server killed under load (`kill -9`): with `retries`, `option redispatch` and
//! `retry-on conn-failure empty-response`, no idempotent request fails, the server is
//! DOWN after `fall` checks and the traffic has moved to the survivor.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::http::*;
use support::*;

/// A Python HTTP server in its own process (so it can be killed with SIGKILL), answering
/// every GET after `delay_ms`, each response in one write.
fn python_server(port: u16, delay_ms: u64) -> Child {
    let code = [
        "import http.server, time",
        "class H(http.server.BaseHTTPRequestHandler):",
        "    protocol_version = 'HTTP/1.1'",
        "    def do_GET(self):",
        &format!("        time.sleep({delay_ms} / 1000)"),
        // The whole response in one write: a kill between the head and the body would
        // truncate a response, which no proxy may retry.
        "        self.wfile.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nvictim')",
        "    def log_message(self, *a):",
        "        pass",
        &format!("http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()"),
    ]
    .join("\n");
    Command::new("python3")
        .arg("-c")
        .arg(code)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3")
}

#[test]
fn killing_a_server_under_load_loses_no_request() {
    let survivor = HttpBackend::start("survivor", Duration::from_millis(5));
    let port = free_port();
    let mut victim = python_server(port, 20);
    let vaddr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(vaddr).is_ok()
    }));
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    server victim \"${V}\" check inter 200ms fall 2 rise 2
    server survivor \"${S}\" check inter 200ms fall 2 rise 2
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("V", haproxy_addr(vaddr)),
            ("S", survivor.cfg_addr()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, victim_answers) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stop, ok, failed, va) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                victim_answers.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut c = Client::connect(fe);
                    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                    match c.read() {
                        Some(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if r.body == "victim" {
                                va.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    // Traffic reaches both servers, then the victim dies mid-requests.
    assert!(wait_until(Duration::from_secs(5), || victim_answers
        .load(Ordering::Relaxed)
        > 20));
    let _ = victim.kill();
    let _ = victim.wait();
    let killed = Instant::now();
    let down = wait_until(Duration::from_secs(5), || {
        cli(&sock, "show stat")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("be,victim,") && l.split(',').nth(17) == Some("DOWN"))
    });
    let moved_after = killed.elapsed();
    // Keep the load a little longer on the survivor alone.
    let before = ok.load(Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(5), || ok
        .load(Ordering::Relaxed)
        > before + 50));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(down, "the victim never went DOWN");
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed ({} succeeded); DOWN after {moved_after:?}",
        ok.load(Ordering::Relaxed)
    );
    eprintln!(
        "failover: DOWN {moved_after:?} after the kill, {} requests, 0 failed",
        ok.load(Ordering::Relaxed)
    );
}
