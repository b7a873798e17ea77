//! Global settings that change what the statistics count: `stats calculate-max-counters
//! off` (no maxima kept), `http-err-codes` / `http-fail-codes` (which statuses count in
//! `http_err_cnt` and `http_fail_cnt`), and `option socket-stats` (a row per listener).
//! The first two are HAProxy 3.x keywords; `option socket-stats` is compared with 2.6.

mod support;

use std::time::Duration;

use support::http::Client;
use support::stats::StatCsv;
use support::*;

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
    let st = StatCsv::show_stat(&sock);
    let fe = |name: &str| st.get("fe", "FRONTEND", name).unwrap_or_default();
    assert_eq!(fe("stot"), "3");
    assert_eq!(fe("req_tot"), "3");
    for max in ["smax", "rate_max", "req_rate_max", "conn_rate_max"] {
        assert_eq!(fe(max), "0", "{max}");
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
            StatCsv::show_stat(&sock)
                .get("f", "FRONTEND", "scur")
                .as_deref()
                == Some("0")
        }));
    }
    let st = StatCsv::show_stat(&sock);
    let both = |name: &str| {
        (
            st.get("f", "sock-1", name).unwrap_or_default(),
            st.get("f", "second", name).unwrap_or_default(),
        )
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(both("type"), pair("3", "3"));
    assert_eq!(both("sid"), pair("1", "2"));
    assert_eq!(both("stot"), pair("1", "3"));
    assert_eq!(both("smax"), pair("1", "1"));
    assert_eq!(both("dreq"), pair("0", "1"));
    assert_eq!(both("status"), pair("OPEN", "OPEN"));
    assert_eq!(both("addr"), (a.to_string(), b.to_string()));
    assert_eq!(both("mode"), pair("http", "http"));
    // The listeners' bytes add up to the frontend's.
    let n = |sv: &str, k: &str| -> u64 { st.get("f", sv, k).unwrap_or_default().parse().unwrap() };
    assert!(n("sock-1", "bin") > 0 && n("second", "bin") > 0);
    assert_eq!(
        n("sock-1", "bin") + n("second", "bin"),
        n("FRONTEND", "bin")
    );
    assert_eq!(
        n("sock-1", "bout") + n("second", "bout"),
        n("FRONTEND", "bout")
    );
    // Without the option, no listener rows.
    let cfg2 = cfg.replace("    option socket-stats\n", "");
    let (a2, b2) = (free_addr(), free_addr());
    let h2 = Halo::builder(&cfg2)
        .env("FE_A", haproxy_addr(a2))
        .env("FE_B", haproxy_addr(b2))
        .start();
    let keys = StatCsv::show_stat(&h2.dir().join("stats.sock")).keys();
    assert_eq!(
        keys.iter().filter(|(px, _)| px == "f").count(),
        1,
        "only the FRONTEND row: {keys:?}"
    );
}
