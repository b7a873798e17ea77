//! Request bodies seen by the rules: `option http-buffer-request` (in the frontend or the
//! backend), `http-request wait-for-body`, the `req.body*` fetches, `100 Continue` sent by
//! the proxy while it waits, 408 when the body is late, and `balance url_param ...
//! check_post` hashing a parameter found in a POST body.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Sends `parts` (pausing between them) and reads until the proxy closes.
fn exchange(fe: SocketAddr, parts: &[&[u8]], pause: Duration) -> String {
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        s.write_all(p).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn body_echo_config(extra: &str) -> String {
    format!(
        "{DEFAULTS}    timeout http-request 400ms
frontend fe
    bind \"${{FE}}\"
{extra}    http-request return status 200 content-type text/plain lf-string \"body=[%[req.body]] len=%[req.body_len] size=%[req.body_size] p=%[req.body_param(b)]\"
"
    )
}

#[test]
fn buffered_body_is_visible_to_the_rules() {
    let fe = free_addr();
    let _h = Halo::start(
        &body_echo_config("    option http-buffer-request\n"),
        &[("FE", haproxy_addr(fe))],
    );
    let pause = Duration::from_millis(100);
    // Content-Length, arriving in two pieces.
    let out = exchange(
        fe,
        &[
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\na=1",
            b"&b=2",
        ],
        pause,
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("body=[a=1&b=2] len=7 size=7 p=2"), "{out}");
    // Chunked: the payload without its framing.
    let out = exchange(
        fe,
        &[b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\na=1\r\n4\r\n&b=2\r\n0\r\n\r\n"],
        pause,
    );
    assert!(out.ends_with("body=[a=1&b=2] len=7 size=7 p=2"), "{out}");
    // A client waiting for 100 Continue gets it from the proxy.
    let out = exchange(
        fe,
        &[
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            b"b=9",
        ],
        pause,
    );
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
        "{out}"
    );
    assert!(out.ends_with("body=[b=9] len=3 size=3 p=9"), "{out}");
}

#[test]
fn late_body_gets_408_and_an_aborted_one_nothing() {
    let fe = free_addr();
    let _h = Halo::start(
        &body_echo_config("    option http-buffer-request\n"),
        &[("FE", haproxy_addr(fe))],
    );
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70\r\n\r\nabc")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 408 Request Time-out\r\n"),
        "{out}"
    );
    // The client gives up before the end of its body: no answer.
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70\r\n\r\nabc")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(out, "");
}

#[test]
fn without_buffering_the_rules_see_what_came_with_the_head() {
    let fe = free_addr();
    let _h = Halo::start(&body_echo_config(""), &[("FE", haproxy_addr(fe))]);
    let out = exchange(
        fe,
        &[
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n",
            b"a=1&b=2",
        ],
        Duration::from_millis(150),
    );
    assert!(out.ends_with("body=[] len=0 size=7 p="), "{out}");
}

#[test]
fn wait_for_body_resumes_the_rules_after_it() {
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend fe
    bind \"${{FE}}\"
    http-request set-var(txn.before) req.body_len
    http-request wait-for-body time 2s at-least 4 if METH_POST
    http-request return status 200 content-type text/plain lf-string \"before=%[var(txn.before)] after=%[req.body_len]\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    let out = exchange(
        fe,
        &[
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
            b"0123456789",
        ],
        Duration::from_millis(150),
    );
    assert!(out.ends_with("before=0 after=10"), "{out}");
}

#[test]
fn buffered_body_reaches_the_server_whole_and_without_expect() {
    let srv = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend fe
    bind \"${{FE}}\"
    default_backend be
backend be
    option http-buffer-request
    http-request set-header X-Len %[req.body_len]
    server s \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", srv.cfg_addr())]);
    let out = exchange(
        fe,
        &[
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            b"hello",
        ],
        Duration::from_millis(100),
    );
    assert!(out.contains("HTTP/1.1 200"), "{out}");
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body_len, 5);
    assert_eq!(seen[0].header("x-len"), Some("5"));
    assert_eq!(seen[0].header("expect"), None);
}

#[test]
fn url_param_check_post_hashes_the_body_parameter() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend fe
    bind \"${{FE}}\"
    default_backend be
backend be
    balance url_param sid check_post
    server a \"${{S1}}\"
    server b \"${{S2}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
        ],
    );
    // For each session id, the query and the body designate the same server, every time.
    for sid in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
        let mut c = Client::connect(fe);
        let by_query = c.get(&format!("/?sid={sid}"), "").body;
        let body = format!("x=1&sid={sid}");
        for _ in 0..3 {
            c.send(
                format!(
                    "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            let r = c.read().expect("response");
            assert_eq!(
                r.body.split(' ').next(),
                by_query.split(' ').next(),
                "sid {sid}"
            );
        }
    }
}

#[test]
fn body_param_can_ignore_case() {
    if skip_on_reference("req.body_param's 'i' flag came after haproxy 2.6") {
        return;
    }
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend fe
    bind \"${{FE}}\"
    option http-buffer-request
    http-request return status 200 content-type text/plain lf-string \"%[req.body_param(B,i)]/%[req.body_param(B)]/%[req.body_param]\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    let out = exchange(
        fe,
        &[b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\na=1&b=2"],
        Duration::ZERO,
    );
    assert!(out.ends_with("\r\n\r\n2//1"), "{out}");
}
