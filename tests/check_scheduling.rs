//! When checks run and where they start: first checks spread over the shortest interval
//! and bounded by `max-spread-checks`, `init-state`, `tune.max-checks-per-thread`.

mod support;

use std::time::{Duration, Instant};

use support::http::*;
use support::*;

fn rows(sock: &std::path::Path) -> Vec<(String, String, String)> {
    let out = cli(sock, "show stat").unwrap_or_default();
    out.lines()
        .filter(|l| l.starts_with("be,") && !l.starts_with("be,BACKEND"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[17].to_string(), f[36].to_string())
        })
        .collect()
}

#[test]
fn max_spread_checks_bounds_the_first_checks() {
    let app = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    // `tune.max-checks-per-thread` is 2.9+: only for halo.
    let tune = if is_reference_haproxy() {
        ""
    } else {
        "    tune.max-checks-per-thread 2\n"
    };
    let cfg = format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
    max-spread-checks 200ms
{tune}defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    server s1 \"${{S}}\" check inter 30s
    server s2 \"${{S}}\" check inter 30s
    server s3 \"${{S}}\" check inter 30s
"
    );
    let start = Instant::now();
    let h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S", app.cfg_addr())]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    // Without the bound the third server's first check would wait 20 s (30 s · 2/3).
    assert!(
        wait_until(Duration::from_secs(5), || rows(&sock)
            .iter()
            .all(|r| r.2 == "L4OK")),
        "{:?}",
        rows(&sock)
    );
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[test]
fn init_state_sets_where_checks_start() {
    if skip_on_reference("init-state is a 3.x keyword") {
        return;
    }
    let app = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    server s1 \"${S}\" check inter 300ms rise 3 init-state fully-down
    server s2 \"${DEAD}\" check inter 300ms fall 3 init-state fully-up
";
    let dead = free_addr();
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S", app.cfg_addr()),
            ("DEAD", haproxy_addr(dead)),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let first = rows(&sock);
    // s1 needs all three checks to pass, s2 all three to fail.
    assert!(first[0].1.starts_with("DOWN"), "{first:?}");
    assert!(first[1].1.starts_with("UP"), "{first:?}");
    assert!(wait_until(Duration::from_secs(5), || {
        let r = rows(&sock);
        r[0].1 == "UP" && r[1].1 == "DOWN"
    }));
    let log = h.stderr_text();
    assert!(log.contains("Server be/s1 is UP"), "{log}");
    assert!(log.contains("Server be/s2 is DOWN"), "{log}");
}
