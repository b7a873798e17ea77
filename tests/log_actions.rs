//! The log actions and log profiles end to end: `set-log-level` in `http-request`,
//! `http-response`, `tcp-request content` and `tcp-response content` rules (`silent` drops
//! exactly the line of that stream, a level changes its syslog PRI), which HAProxy 2.6 has
//! and which these tests check on it too (`HALO_BIN=/usr/sbin/haproxy`); then the 3.1+
//! features, which follow the manual and skip on 2.6: `set-log-level` in
//! `http-after-response`, `do-log` (a line at the rule's point, `%OG` naming it),
//! `log-steps` (lines at the listed steps), `log-profile` sections (`log-tag`,
//! `on <step> drop|format|sd`) used by `log … profile NAME` targets and by `do-log profile`.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::syslog::{self, Format, Syslog, pri};
use support::*;

/// How long a log line may take to arrive.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// How long to watch for a line that must not come (after a later line that must did).
const QUIET: Duration = Duration::from_millis(300);

const HTTP_DEFAULTS: &str = "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
";

const TCP_DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
";

/// The (PRI, message) of each line in the default `local` format.
fn lines(sys: &Syslog, n: usize) -> Vec<(u32, String)> {
    let got = sys.expect_lines(n, LOG_WAIT);
    assert!(
        sys.stays_at(n, QUIET),
        "more than {n} lines: {:?}",
        sys.lines()
    );
    got.iter()
        .map(|l| {
            let h = syslog::header(Format::Local, l);
            (h.pri.expect("PRI"), h.msg)
        })
        .collect()
}

/// One exchange with the TCP echo backend through the proxy: sends `line`, reads the
/// answer up to its new line, then closes.
fn tcp_ask(fe: SocketAddr, line: &str) -> String {
    let mut s = TcpStream::connect(fe).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 256];
    while !out.contains(&b'\n') {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    String::from_utf8_lossy(&out).trim().to_string()
}

// ---------------------------------------------------------------------------
// set-log-level (HAProxy 2.6 and halo)
// ---------------------------------------------------------------------------

#[test]
fn http_set_log_level_silent_drops_exactly_that_line() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%HP %ST\"
    http-request set-log-level silent if {{ path /health }}
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    for p in ["/a", "/health", "/b"] {
        assert_eq!(c.get(p, "").status, 200, "{p}");
    }
    drop(c);
    // The silenced request is still served; only its line is missing.
    let got = lines(&sys, 2);
    let info = pri("local0", "info");
    assert_eq!(
        got,
        vec![(info, "/a 200".to_string()), (info, "/b 200".to_string())]
    );
}

#[test]
fn http_set_log_level_changes_the_pri() {
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    // The last matching rule wins; response rules come after request rules; a backend's
    // rules set the stream's level too.
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%HP %ST\"
    option log-separate-errors
    http-request set-log-level err if {{ path_beg /err }}
    http-request set-log-level debug if {{ path /err/debug }}
    http-request set-var(txn.warn) int(1) if {{ path /warn }}
    http-response set-log-level warning if {{ var(txn.warn) -m found }}
    tcp-request content set-log-level notice if {{ path /notice }}
    default_backend be
backend be
    http-request set-log-level crit if {{ path /crit }}
    http-request deny if {{ path /crit }}
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    for (p, st) in [
        ("/ok", 200),
        ("/err", 200),
        ("/err/debug", 200),
        ("/warn", 200),
        ("/notice", 200),
    ] {
        assert_eq!(c.get(p, "").status, st, "{p}");
    }
    assert_eq!(c.get("/crit", "").status, 403);
    drop(c);
    let got = lines(&sys, 6);
    let p = |l: &str| pri("local0", l);
    assert_eq!(
        got,
        vec![
            (p("info"), "/ok 200".to_string()),
            (p("err"), "/err 200".to_string()),
            (p("debug"), "/err/debug 200".to_string()),
            (p("warning"), "/warn 200".to_string()),
            (p("notice"), "/notice 200".to_string()),
            // A 403 of a rule is a local answer, not an error; the level set wins anyway.
            (p("crit"), "/crit 403".to_string()),
        ]
    );
}

#[test]
fn http_set_log_level_and_target_levels() {
    // The level set is what the target's level filter and minimum level see.
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0 notice err
    log-format \"%HP\"
    http-request set-log-level emerg if {{ path /emerg }}
    http-request set-log-level warning if {{ path /warning }}
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    for p in ["/info", "/emerg", "/warning", "/last"] {
        c.get(p, "");
    }
    drop(c);
    // `/info` and `/last` (info) are above `notice`: not sent; emerg is capped to err.
    let got = lines(&sys, 2);
    assert_eq!(
        got,
        vec![
            (pri("local0", "err"), "/emerg".to_string()),
            (pri("local0", "warning"), "/warning".to_string()),
        ]
    );
}

#[test]
fn tcp_set_log_level_content_and_response_rules() {
    let sys = Syslog::udp();
    let be = TcpBackend::echo_named("t");
    let fe = free_addr();
    let cfg = format!(
        "{TCP_DEFAULTS}listen l
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%ft %B\"
    tcp-request inspect-delay 2s
    tcp-request content set-log-level silent if {{ req.payload(0,6) -m str SILENT }}
    tcp-request content set-log-level err if {{ req.payload(0,3) -m str ERR }}
    tcp-request content set-var(sess.notice) int(1) if {{ req.payload(0,6) -m str NOTICE }}
    tcp-request content accept if {{ req.len gt 0 }}
    tcp-response content set-log-level notice if {{ var(sess.notice) -m found }}
    server t \"${{T}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("T", be.cfg_addr())
        .start();
    let mut want = 0;
    for l in ["hello", "SILENT", "ERR", "NOTICE", "bye"] {
        assert!(!tcp_ask(fe, l).is_empty(), "{l} got an answer");
        // One stream at a time, so that the lines come in this order.
        if l != "SILENT" {
            want += 1;
            sys.expect_lines(want, LOG_WAIT);
        }
    }
    let got = lines(&sys, 4);
    let levels: Vec<u32> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        levels,
        vec![
            pri("local0", "info"),
            pri("local0", "err"),
            pri("local0", "notice"),
            pri("local0", "info"),
        ],
        "{got:?}"
    );
    assert!(got.iter().all(|(_, m)| m.starts_with("l ")), "{got:?}");
}

#[test]
fn set_log_level_config_errors() {
    for (rule, want) in [
        (
            "http-request set-log-level bogus",
            "expects exactly 1 argument (log level name or 'silent')",
        ),
        (
            "http-request set-log-level",
            "expects exactly 1 argument (log level name or 'silent')",
        ),
        // (Where HAProxy's message differs: only the refusal.)
        ("http-response set-log-level info extra", ""),
    ] {
        let cfg = format!(
            "{HTTP_DEFAULTS}frontend fe\n    bind 127.0.0.1:1\n    {rule}\n    default_backend be\nbackend be\n    server s 127.0.0.1:2\n"
        );
        let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_ne!(code, 0, "{rule}");
        assert!(err.contains(want), "{rule}: {err}");
    }
    // Valid everywhere the matrix of 4.3 says (2.6 has no connection/session form).
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind 127.0.0.1:1
    tcp-request content set-log-level debug
    http-request set-log-level silent if {{ path /x }}
    http-response set-log-level alert
    default_backend be
backend be
    tcp-response content set-log-level emerg
    server s 127.0.0.1:2
"
    );
    let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
    assert_eq!(code, 0, "{err}");
}

// ---------------------------------------------------------------------------
// 3.1+ (the manual; skipped on HAProxy 2.6)
// ---------------------------------------------------------------------------

#[test]
fn http_after_response_set_log_level() {
    if skip_on_reference("http-after-response set-log-level is 3.x") {
        return;
    }
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%HP %ST\"
    http-request deny if {{ path /denied }}
    http-after-response set-log-level err if {{ status 403 }}
    http-request set-var(txn.quiet) int(1) if {{ path /quiet }}
    http-after-response set-log-level silent if {{ var(txn.quiet) -m found }}
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/denied", "").status, 403);
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/quiet", "").status, 200);
    assert_eq!(c.get("/ok", "").status, 200);
    drop(c);
    let got = lines(&sys, 2);
    assert_eq!(
        got,
        vec![
            (pri("local0", "err"), "/denied 403".to_string()),
            (pri("local0", "info"), "/ok 200".to_string()),
        ]
    );
}

#[test]
fn http_do_log_adds_a_line_at_the_rule() {
    if skip_on_reference("do-log and %OG are 3.1+") {
        return;
    }
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%OG %HP %ST %[var(txn.v)]\"
    http-request set-var(txn.v) str(req) if {{ path /x }}
    http-request do-log if {{ path /x }}
    http-response do-log
    http-after-response do-log if {{ status 200 }}
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/x", "").status, 200);
    assert_eq!(c.get("/y", "").status, 200);
    drop(c);
    let msgs: Vec<String> = lines(&sys, 7).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        vec![
            // The request line has no status yet.
            "http-req /x -1 req",
            "http-res /x 200 req",
            "http-after-res /x 200 req",
            "txn_close /x 200 req",
            "http-res /y 200 -",
            "http-after-res /y 200 -",
            "txn_close /y 200 -",
        ]
    );
}

#[test]
fn do_log_follows_set_log_level() {
    if skip_on_reference("do-log is 3.1+") {
        return;
    }
    let sys = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%OG %HP\"
    http-request set-log-level err if {{ path /e }}
    http-request set-log-level silent if {{ path /s }}
    http-request do-log
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    c.get("/s", "");
    c.get("/e", "");
    drop(c);
    let err = pri("local0", "err");
    assert_eq!(
        lines(&sys, 2),
        vec![
            (err, "http-req /e".to_string()),
            (err, "txn_close /e".to_string())
        ]
    );
}

#[test]
fn tcp_do_log_at_each_rule_set() {
    if skip_on_reference("do-log is 3.1+") {
        return;
    }
    let sys = Syslog::udp();
    let be = TcpBackend::echo_named("t");
    let fe = free_addr();
    let cfg = format!(
        "{TCP_DEFAULTS}listen l
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%OG %ci %b\"
    tcp-request connection do-log
    tcp-request session do-log
    tcp-request inspect-delay 2s
    tcp-request content do-log if {{ req.len gt 0 }}
    tcp-response content do-log
    server t \"${{T}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("T", be.cfg_addr())
        .start();
    assert!(!tcp_ask(fe, "hello").is_empty());
    let msgs: Vec<String> = lines(&sys, 5).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        vec![
            "tcp-req-conn 127.0.0.1 l",
            "tcp-req-sess 127.0.0.1 l",
            "tcp-req-cont 127.0.0.1 l",
            "tcp-res-cont 127.0.0.1 l",
            "txn_close 127.0.0.1 l",
        ]
    );
}

#[test]
fn http_log_steps() {
    if skip_on_reference("log-steps is 3.1+") {
        return;
    }
    let sys = Syslog::udp();
    let all = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let (fe, fe_all) = (free_addr(), free_addr());
    let cfg = format!(
        "{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%OG %HP %ST %s\"
    log-steps accept,close
    default_backend be
frontend fe_all
    bind \"${{FE_ALL}}\"
    log \"${{ALL}}\" local0
    log-format \"%OG %HP %ST %s\"
    log-steps all
    option logasap
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("FE_ALL", haproxy_addr(fe_all))
        .env("SYSLOG", sys.target())
        .env("ALL", all.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/a", "").status, 200);
    assert_eq!(c.get("/b", "").status, 200);
    drop(c);
    let msgs: Vec<String> = lines(&sys, 4).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        vec![
            "txn_accept /a -1 <NOSRV>",
            "txn_close /a 200 s1",
            "txn_accept /b -1 <NOSRV>",
            "txn_close /b 200 s1",
        ]
    );
    // `all`: every step, `option logasap` replaced by the steps.
    let mut c = Client::connect(fe_all);
    assert_eq!(c.get("/c", "").status, 200);
    drop(c);
    let msgs: Vec<String> = lines(&all, 5).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        vec![
            "txn_accept /c -1 <NOSRV>",
            "txn_request /c -1 <NOSRV>",
            "txn_connect /c -1 s1",
            "txn_response /c 200 s1",
            "txn_close /c 200 s1",
        ]
    );
}

#[test]
fn tcp_log_steps() {
    if skip_on_reference("log-steps is 3.1+") {
        return;
    }
    let sys = Syslog::udp();
    let be = TcpBackend::echo_named("t");
    let fe = free_addr();
    let cfg = format!(
        "{TCP_DEFAULTS}listen l
    bind \"${{FE}}\"
    log \"${{SYSLOG}}\" local0
    log-format \"%OG %s\"
    log-steps accept,request,connect,response,close
    server t \"${{T}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("SYSLOG", sys.target())
        .env("T", be.cfg_addr())
        .start();
    assert!(!tcp_ask(fe, "hello").is_empty());
    let msgs: Vec<String> = lines(&sys, 4).into_iter().map(|(_, m)| m).collect();
    assert_eq!(
        msgs,
        vec![
            "txn_accept <NOSRV>",
            "txn_request <NOSRV>",
            "txn_connect t",
            "txn_close t",
        ]
    );
}

#[test]
fn log_profile_on_a_log_target() {
    if skip_on_reference("log-profile is 3.1+") {
        return;
    }
    let plain = Syslog::udp();
    let prof = Syslog::udp();
    let be = HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "log-profile myprof
    log-tag custom-tag
    on accept drop
    on close format \"closed %HP %ST\"
    on any sd \"[x@1 step=\\\"%OG\\\"]\"

log-profile other
    on request format \"req %HP\"

{HTTP_DEFAULTS}frontend fe
    bind \"${{FE}}\"
    log-tag normal
    log \"${{PLAIN}}\" local0
    log \"${{PROF}}\" format rfc5424 profile myprof local0
    log-format \"%OG %HP\"
    log-steps accept,request,close
    http-request do-log profile other if {{ path /p }}
    default_backend be
backend be
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::builder(&cfg)
        .env("FE", haproxy_addr(fe))
        .env("PLAIN", plain.target())
        .env("PROF", prof.target())
        .env("S1", be.cfg_addr())
        .start();
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/p", "").status, 200);
    drop(c);
    // The plain target: every line with the proxy's format and tag.
    let got = plain.expect_lines(4, LOG_WAIT);
    assert!(plain.stays_at(4, QUIET), "{:?}", plain.lines());
    let msgs: Vec<(Option<String>, String)> = got
        .iter()
        .map(|l| {
            let h = syslog::header(Format::Local, l);
            (h.tag, h.msg)
        })
        .collect();
    let normal = Some("normal".to_string());
    assert_eq!(
        msgs,
        vec![
            (normal.clone(), "txn_accept /p".to_string()),
            (normal.clone(), "http-req /p".to_string()),
            (normal.clone(), "txn_request /p".to_string()),
            (normal.clone(), "txn_close /p".to_string()),
        ]
    );
    // The profiled target: no accept line, its own close line, the `any` structured data
    // where no step of its own is declared, its tag; `do-log profile other` uses that profile
    // instead of the target's (no step of `other` for http-req, no tag: the line as is,
    // with the proxy's tag).
    let got = prof.expect_lines(3, LOG_WAIT);
    assert!(prof.stays_at(3, QUIET), "{:?}", prof.lines());
    // `<PRI>1 DATE HOST TAG PID MSGID SD MSG`, the structured data holding spaces.
    let parsed: Vec<(String, String)> = got
        .iter()
        .map(|l| {
            let w: Vec<&str> = l.splitn(7, ' ').collect();
            assert_eq!((w[0], w[5]), ("<134>1", "-"), "{l}");
            (w[3].to_string(), w[6].to_string())
        })
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        parsed,
        vec![
            s("normal", "- http-req /p"),
            s("custom-tag", "[x@1 step=\"txn_request\"] txn_request /p"),
            // (A step of its own: `any` does not apply, nor its structured data.)
            s("custom-tag", "- closed /p 200"),
        ]
    );
}

#[test]
fn log_actions_check_accepts_every_form() {
    if skip_on_reference("log-profile, log-steps and do-log are 3.1+") {
        return;
    }
    let cfg = "log-profile p1
    log-tag t
    on error format \"%ci: error\"
    on connect drop
    on any sd \"custom-sd\"
    on tcp-req-conn format \"Connect: %ci\"
    on http-after-res drop format x sd y
global
    log 127.0.0.1:514 profile p1 local0
defaults
    mode http
    log-steps all
    timeout client 1s
    timeout server 1s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:1
    log global
    log 127.0.0.1:515 len 200 format rfc5424 sample 1:2 profile p1 local0 info
    log-steps accept,connect,http-req
    tcp-request connection do-log
    tcp-request connection do-log profile p1 if { src 127.0.0.1 }
    tcp-request session do-log
    tcp-request content do-log
    tcp-request content set-log-level err
    http-request do-log
    http-request do-log profile p1
    http-response do-log
    http-after-response do-log
    http-after-response set-log-level silent
    default_backend be
backend be
    tcp-response content do-log
    tcp-response content set-log-level info
    server s 127.0.0.1:2
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_eq!(code, 0, "{err}");
    for (bad, want) in [
        (
            "    log-steps accept,nowhere\n",
            "unknown log step 'nowhere'",
        ),
        (
            "    log 127.0.0.1:516 profile nope local0\n",
            "unable to find log-profile 'nope'",
        ),
        (
            "    http-request do-log profile nope\n",
            "unable to find log-profile 'nope'",
        ),
        (
            "    http-request do-log extra\n",
            "unexpected argument 'extra'",
        ),
    ] {
        let text = cfg.replace(
            "    default_backend be\n",
            &format!("{bad}    default_backend be\n"),
        );
        let (code, _, err) = run_check(Cfg::Text(&text), &[]);
        assert_ne!(code, 0, "{bad}");
        assert!(err.contains(want), "{bad}: {err}");
    }
    let bad_step = cfg.replace("on connect drop", "on nowhere drop");
    let (code, _, err) = run_check(Cfg::Text(&bad_step), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown logging step 'nowhere'"), "{err}");
}
