//! `observe layer4|layer7` with `error-limit` and `on-error`: errors seen in traffic count
//! towards a server's health, and the server goes DOWN with HAProxy's "Health analyze"
//! message.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

/// A server answering every request with `status`.
fn answering(status: u16) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        let _ = write!(w, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    addr
}

fn start(server_opts: &str, s1: SocketAddr, healthy: &HttpBackend) -> (Halo, SocketAddr) {
    let fe = free_addr();
    let cfg = format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    balance first
    server s1 \"${{S1}}\" check port \"${{CP}}\" inter 20s {server_opts}
    server s2 \"${{S2}}\" check inter 20s
"
    );
    let h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(s1)),
            ("S2", healthy.cfg_addr()),
            ("CP", healthy.addr.port().to_string()),
        ],
    );
    (h, fe)
}

fn status(h: &Halo) -> (String, String) {
    let out = cli(&h.dir().join("admin.sock"), "show stat").unwrap_or_default();
    let row = out.lines().find(|l| l.starts_with("be,s1,")).unwrap_or("");
    let f: Vec<&str> = row.split(',').collect();
    (
        f.get(17).unwrap_or(&"").to_string(),
        f.get(36).unwrap_or(&"").to_string(),
    )
}

fn hit(fe: SocketAddr, n: usize) {
    for _ in 0..n {
        let mut c = Client::connect(fe);
        let _ = c.get("/", "");
    }
}

#[test]
fn layer7_errors_mark_the_server_down() {
    let healthy = HttpBackend::start("ok", Duration::ZERO);
    let (h, fe) = start(
        "observe layer7 error-limit 2 on-error mark-down",
        answering(500),
        &healthy,
    );
    assert!(wait_cli(
        &h.dir().join("admin.sock"),
        Duration::from_secs(5)
    ));
    hit(fe, 2);
    assert!(
        wait_until(Duration::from_secs(5), || {
            h.stderr_text().contains(
            "Server be/s1 is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\". 1 active and 0 backup servers left."
        )
        }),
        "{}",
        h.stderr_text()
    );
    assert_eq!(status(&h), ("DOWN".to_string(), "HANA".to_string()));
    // Traffic now goes to the other server.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/", "").status, 200);
}

#[test]
fn valid_statuses_keep_the_count_at_zero() {
    let healthy = HttpBackend::start("ok", Duration::ZERO);
    let (h, fe) = start(
        "observe layer7 error-limit 2 on-error mark-down",
        answering(404),
        &healthy,
    );
    assert!(wait_cli(
        &h.dir().join("admin.sock"),
        Duration::from_secs(5)
    ));
    hit(fe, 4);
    assert!(status(&h).0.starts_with("UP"), "{:?}", status(&h));
}

#[test]
fn layer4_errors_with_fail_check() {
    let healthy = HttpBackend::start("ok", Duration::ZERO);
    // Nothing listens on s1's traffic port; its check port is healthy.
    let dead = free_addr();
    let (h, fe) = start("observe layer4 error-limit 3", dead, &healthy);
    assert!(wait_cli(
        &h.dir().join("admin.sock"),
        Duration::from_secs(5)
    ));
    // The first check (at once) passes: full health, so it takes `fall` (3) failed
    // "checks" of 3 consecutive errors each.
    assert!(wait_until(Duration::from_secs(5), || status(&h).1 == "L4OK"));
    hit(fe, 3);
    assert_eq!(status(&h), ("UP 2/3".to_string(), "HANA".to_string()));
    hit(fe, 5);
    assert_eq!(status(&h).0, "UP 1/3");
    hit(fe, 1);
    assert!(
        wait_until(Duration::from_secs(5), || {
            h.stderr_text().contains(
            "Server be/s1 is DOWN, reason: Health analyze, info: \"Detected 3 consecutive errors, last one was: L4 unsuccessful connection\"."
        )
        }),
        "{}",
        h.stderr_text()
    );
}

#[test]
fn observe_options_are_checked() {
    for (opt, msg) in [
        (
            "observe foo",
            "'server be/s1' : 'observe' expects one of 'none', 'layer4', 'layer7' but got 'foo'.",
        ),
        (
            "check observe layer4 on-error bogus",
            "'server be/s1' : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got 'bogus'.",
        ),
        (
            "check observe layer4 error-limit 0",
            "'server be/s1' : error-limit has to be > 0.",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten be\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:8080 {opt}\n",
            free_port()
        );
        let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_ne!(code, 0, "{opt}");
        assert!(err.contains(msg), "{opt}: {err}");
        assert!(err.contains(":8]"), "{err}");
    }
}
