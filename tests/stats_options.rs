//! Global settings that change what the statistics count: `stats calculate-max-counters
//! off` (no maxima kept), `http-err-codes` / `http-fail-codes` (which statuses count in
//! `http_err_cnt` and `http_fail_cnt`), and `option socket-stats` (a row per listener).
//! The first two are HAProxy 3.x keywords; `option socket-stats` is compared with 2.6.

mod support;

use std::time::Duration;

use support::http::Client;
use support::*;

/// The CSV row starting with `prefix` (`PX,SV,`), split in fields.
fn row(sock: &std::path::Path, prefix: &str) -> Vec<String> {
    let csv = cli(sock, "show stat").unwrap_or_default();
    csv.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} row in\n{csv}"))
        .split(',')
        .map(str::to_string)
        .collect()
}

/// The index of column `name` in `show stat`.
fn col(sock: &std::path::Path, name: &str) -> usize {
    let csv = cli(sock, "show stat").unwrap_or_default();
    let head = csv.lines().next().unwrap_or("").trim_start_matches("# ");
    head.split(',')
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn calculate_max_counters_off_keeps_no_maxima() {
    if skip_on_reference("stats calculate-max-counters (HAProxy 3.x)") {
        return;
    }
    let fe = free_addr();
    let cfg = r#"
global
    stats socket "${DIR}/stats.sock" level admin
    stats calculate-max-counters off
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind "${FE}"
    http-request return status 200
"#;
    let h = Halo::builder(cfg).env("FE", haproxy_addr(fe)).start();
    let sock = h.dir().join("stats.sock");
    for _ in 0..3 {
        let mut c = Client::connect(fe);
        assert_eq!(c.get("/", "").status, 200);
    }
    let r = row(&sock, "fe,FRONTEND,");
    assert_eq!(r[col(&sock, "stot")], "3");
    assert_eq!(r[col(&sock, "req_tot")], "3");
    for max in ["smax", "rate_max", "req_rate_max", "conn_rate_max"] {
        assert_eq!(r[col(&sock, max)], "0", "{max}");
    }
}

#[test]
fn http_err_and_fail_codes_choose_what_counts() {
    if skip_on_reference("http-err-codes / http-fail-codes (HAProxy 3.x)") {
        return;
    }
    let fe = free_addr();
    let cfg = r#"
global
    stats socket "${DIR}/stats.sock" level admin
    http-err-codes 400-499 -404
    http-err-codes +418-419,420
    http-fail-codes -503 +501
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind "${FE}"
    stick-table type ip size 10 expire 1m store http_err_cnt,http_fail_cnt
    http-request track-sc0 src
    default_backend be
backend be
    server app "${FE_APP}"
frontend app
    bind "${FE_APP}"
    http-request return status 404 if { path /404 }
    http-request return status 403 if { path /403 }
    http-request return status 501 if { path /501 }
    http-request return status 503 if { path /503 }
    http-request return status 500 if { path /500 }
    http-request return status 200
"#;
    let h = Halo::builder(cfg)
        .env("FE", haproxy_addr(fe))
        .env("FE_APP", haproxy_addr(free_addr()))
        .start();
    let sock = h.dir().join("stats.sock");
    // Errors: 403 counts, 404 was removed. Failures: 500 and 501 count, 503 was removed.
    for (path, status) in [
        ("/404", 404),
        ("/403", 403),
        ("/501", 501),
        ("/503", 503),
        ("/500", 500),
    ] {
        let mut c = Client::connect(fe);
        assert_eq!(c.get(path, "").status, status, "{path}");
    }
    let table = cli(&sock, "show table fe").unwrap_or_default();
    assert!(table.contains("http_err_cnt=1 http_fail_cnt=2"), "{table}");
}

/// `option socket-stats`: one row per listener (type 3), named by the bind's `name` or
/// `sock-N`, with its own session and byte counters. Compared field by field with what
/// HAProxy 2.6 shows for the same traffic.
#[test]
fn socket_stats_rows_per_listener() {
    let (a, b) = (free_addr(), free_addr());
    let cfg = r#"
global
    stats socket "${DIR}/stats.sock" level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend f
    option socket-stats
    bind "${FE_A}"
    bind "${FE_B}" name second
    http-request deny if { path /deny }
    http-request return status 200
"#;
    let h = Halo::builder(cfg)
        .env("FE_A", haproxy_addr(a))
        .env("FE_B", haproxy_addr(b))
        .start();
    let sock = h.dir().join("stats.sock");
    // One connection at a time: each is closed before the next one opens.
    for (addr, path) in [(a, "/"), (b, "/"), (b, "/x"), (b, "/deny")] {
        let mut c = Client::connect(addr);
        c.get(path, "");
        drop(c);
        assert!(wait_until(Duration::from_secs(5), || {
            row(&sock, "f,FRONTEND,")[col(&sock, "scur")] == "0"
        }));
    }
    let fe = row(&sock, "f,FRONTEND,");
    let l1 = row(&sock, "f,sock-1,");
    let l2 = row(&sock, "f,second,");
    let c = |n: &str| col(&sock, n);
    assert_eq!(l1[c("type")], "3");
    assert_eq!(l2[c("type")], "3");
    assert_eq!((l1[c("sid")].as_str(), l2[c("sid")].as_str()), ("1", "2"));
    assert_eq!((l1[c("stot")].as_str(), l2[c("stot")].as_str()), ("1", "3"));
    assert_eq!((l1[c("smax")].as_str(), l2[c("smax")].as_str()), ("1", "1"));
    assert_eq!((l1[c("dreq")].as_str(), l2[c("dreq")].as_str()), ("0", "1"));
    assert_eq!(l1[c("status")], "OPEN");
    assert_eq!(l1[c("addr")], a.to_string());
    assert_eq!(l2[c("addr")], b.to_string());
    assert_eq!(l1[c("mode")], "http");
    // The listeners' bytes add up to the frontend's.
    let n = |r: &Vec<String>, k: &str| r[c(k)].parse::<u64>().unwrap();
    assert!(n(&l1, "bin") > 0 && n(&l2, "bin") > 0);
    assert_eq!(n(&l1, "bin") + n(&l2, "bin"), n(&fe, "bin"));
    assert_eq!(n(&l1, "bout") + n(&l2, "bout"), n(&fe, "bout"));
    // Without the option, no listener rows.
    let cfg2 = cfg.replace("    option socket-stats\n", "");
    let (a2, b2) = (free_addr(), free_addr());
    let h2 = Halo::builder(&cfg2)
        .env("FE_A", haproxy_addr(a2))
        .env("FE_B", haproxy_addr(b2))
        .start();
    let csv = cli(&h2.dir().join("stats.sock"), "show stat").unwrap_or_default();
    assert!(
        !csv.lines()
            .any(|l| l.starts_with("f,sock-1,") || l.starts_with("f,second,"))
    );
}
