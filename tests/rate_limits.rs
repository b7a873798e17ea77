//! Accept-rate limits: `rate-limit sessions` on a frontend, `maxconnrate` and
//! `maxsessrate` in global, `set rate-limit … global` and the rate lines of `show info`.
//! Connections over the limit wait in the kernel's queue: none is refused.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use support::http::*;
use support::*;

fn cfg(global: &str, frontend: &str) -> String {
    format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
{global}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind \"${{FE}}\"
{frontend}
    http-request return status 200 content-type text/plain string ok
"
    )
}

/// Opens `n` connections at once, one GET each; the time each answer took.
fn burst(fe: SocketAddr, n: usize) -> Vec<Duration> {
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(fe);
                let r = c.get("/", "");
                assert_eq!(r.status, 200);
                start.elapsed()
            })
        })
        .collect();
    let mut t: Vec<Duration> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    t.sort();
    t
}

fn start(global: &str, frontend: &str) -> (Halo, SocketAddr) {
    let fe = free_addr();
    let h = Halo::start(&cfg(global, frontend), &[("FE", haproxy_addr(fe))]);
    (h, fe)
}

/// A rate of 4 per second spreads 12 connections over two seconds or more, and serves
/// them all.
fn assert_limited(times: &[Duration]) {
    assert_eq!(times.len(), 12);
    let early = times
        .iter()
        .filter(|t| **t < Duration::from_millis(500))
        .count();
    assert!(
        early <= 7,
        "{early} answered in the first 500 ms: {times:?}"
    );
    assert!(
        times[11] >= Duration::from_millis(1500),
        "all answered too fast for 4/s: {times:?}"
    );
    assert!(times[11] < Duration::from_secs(8), "{times:?}");
}

#[test]
fn rate_limit_sessions_spreads_a_burst() {
    let (_h, fe) = start("", "    rate-limit sessions 4");
    assert_limited(&burst(fe, 12));
}

#[test]
fn maxconnrate_spreads_a_burst() {
    let (_h, fe) = start("    maxconnrate 4", "");
    assert_limited(&burst(fe, 12));
}

#[test]
fn maxsessrate_spreads_a_burst() {
    let (_h, fe) = start("    maxsessrate 4", "");
    assert_limited(&burst(fe, 12));
}

#[test]
fn the_runtime_api_changes_the_limit() {
    let (h, fe) = start("    maxconnrate 2", "");
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let info = cli(&sock, "show info").unwrap();
    assert!(info.contains("\nConnRateLimit: 2\n"), "{info}");
    assert_eq!(
        cli(&sock, "set rate-limit connections global 0")
            .unwrap()
            .trim(),
        ""
    );
    assert!(
        cli(&sock, "show info")
            .unwrap()
            .contains("\nConnRateLimit: 0\n")
    );
    // Without the limit, 10 connections do not wait 4 s.
    let t = burst(fe, 10);
    assert!(t[9] < Duration::from_secs(3), "{t:?}");
    let info = cli(&sock, "show info").unwrap();
    let rate: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("ConnRate: "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(rate >= 10, "{info}");
    assert!(
        cli(&sock, "set rate-limit sessions global 3")
            .unwrap()
            .trim()
            .is_empty()
    );
    assert!(
        cli(&sock, "show info")
            .unwrap()
            .contains("\nSessRateLimit: 3\n")
    );
    assert_eq!(
        cli(&sock, "set rate-limit connections global").unwrap(),
        "Expects an integer value.\n\n"
    );
    assert!(
        cli(&sock, "set rate-limit bananas global 1")
            .unwrap()
            .starts_with("'set rate-limit' only supports :\n   - 'connections global'")
    );
}
