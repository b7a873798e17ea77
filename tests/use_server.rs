//! End-to-end tests of `use-server` (manual 4.2): rule order, a stopped server passing the
//! turn to the next rule (unless `option persist`), precedence over cookies (which are
//! still stripped, and not inserted) and stick rules (which still store), a rendered
//! server name, TCP mode on inspected content, and the configuration errors.
//! Each runs against halo and Debian's haproxy 2.6.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const HTTP: &str = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    retries 0
";

/// The name of the backend that answered `path` on a fresh connection (its body is
/// `NAME PATH`), with the response.
fn who(fe: SocketAddr, path: &str, extra: &str) -> (String, support::http::Response) {
    let r = Client::connect(fe).get(path, extra);
    let name = r.body.split(' ').next().unwrap_or("").to_string();
    (name, r)
}

#[test]
fn rules_in_order_and_stopped_server_skipped() {
    let (a, b) = (
        HttpBackend::start("a", Duration::ZERO),
        HttpBackend::start("b", Duration::ZERO),
    );
    let fe = free_addr();
    let cfg = format!(
        "{HTTP}listen l
    bind \"${{FE}}\"
    use-server b if {{ path_beg /b }}
    use-server down if {{ path_beg /down }}
    use-server a if {{ path_beg /down }}
    use-server b unless {{ path_beg /a }} || {{ path_beg /down }}
    server a \"${{A}}\"
    server b \"${{B}}\" weight 0
    server down 127.0.0.1:9 disabled
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    // `b` has weight 0: only a rule sends requests there.
    assert_eq!(who(fe, "/b", "").0, "b");
    assert_eq!(who(fe, "/x", "").0, "b", "the `unless` rule");
    assert_eq!(who(fe, "/a", "").0, "a", "no rule: balanced");
    // The disabled server is ignored and the next matching rule applies.
    let (n, r) = who(fe, "/down", "");
    assert_eq!((r.status, n.as_str()), (200, "a"));
}

#[test]
fn option_persist_keeps_a_stopped_server() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let fe = free_addr();
    let dead = free_addr();
    let cfg = format!(
        "{HTTP}listen l
    bind \"${{FE}}\"
    option persist
    use-server down if {{ path_beg /down }}
    server a \"${{A}}\"
    server down \"${{D}}\" disabled
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("D", haproxy_addr(dead)),
        ],
    );
    let (_, r) = who(fe, "/down", "");
    assert_eq!(r.status, 503, "the stopped server is used, and fails");
    assert_eq!(who(fe, "/", "").0, "a");
    assert!(a.seen().iter().all(|s| s.target != "/down"));
}

#[test]
fn wins_over_cookie_which_is_stripped_and_not_inserted() {
    let (a, b) = (
        HttpBackend::start("a", Duration::ZERO),
        HttpBackend::start("b", Duration::ZERO),
    );
    let fe = free_addr();
    let cfg = format!(
        "{HTTP}listen l
    bind \"${{FE}}\"
    cookie SRV insert indirect
    use-server b if {{ path_beg /b }}
    server a \"${{A}}\" cookie ca
    server b \"${{B}}\" cookie cb weight 0
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    // Balanced: the cookie is inserted.
    let (n, r) = who(fe, "/", "");
    assert_eq!(n, "a");
    assert_eq!(r.header("set-cookie"), Some("SRV=ca; path=/"));
    // use-server: no cookie inserted.
    let (n, r) = who(fe, "/b", "");
    assert_eq!(n, "b");
    assert_eq!(r.header("set-cookie"), None);
    // A cookie for `a` does not take the request there, and is stripped.
    let (n, r) = who(fe, "/b", "Cookie: SRV=ca\r\n");
    assert_eq!(n, "b");
    assert_eq!(r.header("set-cookie"), None);
    let last = b.seen().last().cloned().unwrap();
    assert_eq!(
        last.header("cookie"),
        None,
        "the persistence cookie is stripped"
    );
    // Without a matching rule the cookie still designates its server.
    assert_eq!(who(fe, "/", "Cookie: SRV=cb\r\n").0, "b");
}

#[test]
fn wins_over_stick_match_and_is_stored() {
    let (a, b) = (
        HttpBackend::start("a", Duration::ZERO),
        HttpBackend::start("b", Duration::ZERO),
    );
    let fe = free_addr();
    let cfg = format!(
        "{HTTP}listen l
    bind \"${{FE}}\"
    stick-table type ip size 10
    stick on src
    use-server b if {{ path_beg /b }}
    server a \"${{A}}\"
    server b \"${{B}}\" weight 0
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    assert_eq!(who(fe, "/", "").0, "a", "balanced, and stored");
    assert_eq!(
        who(fe, "/b", "").0,
        "b",
        "use-server beats the stored server"
    );
    // The stick rule stored the server use-server chose.
    assert_eq!(who(fe, "/", "").0, "b");
}

#[test]
fn rendered_server_name() {
    let (a, b) = (
        HttpBackend::start("a", Duration::ZERO),
        HttpBackend::start("b", Duration::ZERO),
    );
    let fe = free_addr();
    let cfg = format!(
        "{HTTP}listen l
    bind \"${{FE}}\"
    use-server %[req.hdr(x-srv)] if {{ req.hdr(x-srv) -m found }}
    use-server b if {{ path_beg /b }}
    server a \"${{A}}\"
    server b \"${{B}}\" weight 0
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    assert_eq!(who(fe, "/", "x-srv: b\r\n").0, "b");
    assert_eq!(who(fe, "/b", "").0, "b");
    // A name that names no server ends the rules: balanced, even on /b.
    assert_eq!(who(fe, "/b", "x-srv: zz\r\n").0, "a");
}

#[test]
fn tcp_mode_on_inspected_content() {
    let (a, b) = (TcpBackend::echo_named("a"), TcpBackend::echo_named("b"));
    let fe = free_addr();
    let cfg = "defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen t
    bind \"${FE}\"
    tcp-request inspect-delay 2s
    tcp-request content accept if { req.len gt 0 }
    use-server b if { req.payload(0,2) -m str to }
    server a \"${A}\"
    server b \"${B}\" weight 0
";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    let ask = |line: &str| -> String {
        let mut s = TcpStream::connect(fe).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut out = String::new();
        r.read_line(&mut out).unwrap();
        out.trim().to_string()
    };
    assert_eq!(ask("to b"), "b");
    assert_eq!(ask("hello"), "a");
    assert_eq!(ask("to b again"), "b");
}

#[test]
fn config_errors() {
    let (code, _, err) = run_check(
        Cfg::Text(
            "listen l\n  mode http\n  bind 127.0.0.1:8080\n  use-server nosuch if TRUE\n  server a 127.0.0.1:1\n",
        ),
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("unable to find server 'nosuch' referenced in a 'use-server' rule"),
        "{err}"
    );
    let (code, _, err) = run_check(
        Cfg::Text(
            "listen l\n  mode http\n  bind 127.0.0.1:8080\n  use-server a\n  server a 127.0.0.1:1\n",
        ),
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("'use-server' requires either 'if' or 'unless' followed by a condition"),
        "{err}"
    );
}
