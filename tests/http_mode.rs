//! HTTP mode end to end: content switching with ACLs (seed 08), client keep-alive with
//! server-close (seed 04), queueing under maxconn (seed 05), X-Forwarded-For, bodies
//! (Content-Length and chunked), HAProxy's error answers, and a WebSocket-style upgrade.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

#[test]
fn seed08_static_dynamic_split() {
    if skip_on_reference("HAProxy 2.6 rejects the seed's `req.hdr_beg(Host)`") {
        return;
    }
    let st = HttpBackend::start("static", Duration::ZERO);
    let dy = HttpBackend::start("dynamic", Duration::ZERO);
    let fe = free_addr();
    let _h = Halo::start(
        &seed_text("08-static-dynamic-split.cfg"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", st.cfg_addr()),
            ("S2", dy.cfg_addr()),
        ],
    );
    let mut c = Client::connect(fe);
    let cases = [
        ("/", "Host: static.x\r\n", "static"),
        ("/", "Host: IMAGES.example.com\r\n", "static"),
        ("/a/b/c.JPG", "", "static"),
        ("/x.css", "", "static"),
        ("/x.php?v=.js", "", "dynamic"),
        ("/x.js?v=1", "", "static"),
        ("/index.php", "", "dynamic"),
        ("/", "Host: www.x\r\n", "dynamic"),
    ];
    for (path, extra, want) in cases {
        c.send(
            format!(
                "GET {path} HTTP/1.1\r\n{}{extra}\r\n",
                if extra.is_empty() {
                    "Host: www.x\r\n"
                } else {
                    ""
                }
            )
            .as_bytes(),
        );
        let r = c.read().expect("response");
        assert_eq!(r.status, 200);
        assert!(
            r.body.starts_with(want),
            "{path} {extra:?} went to {}",
            r.body
        );
    }
}

#[test]
fn seed04_client_keepalive_server_close() {
    let be = HttpBackend::start("apache", Duration::ZERO);
    let fe = free_addr();
    let _h = Halo::start(
        &seed_text("04-client-keepalive-server-close.cfg"),
        &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())],
    );
    let mut c = Client::connect(fe);
    for i in 0..5 {
        let r = c.get(&format!("/r{i}"), "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, format!("apache /r{i} 0\n"));
        assert_ne!(r.header("connection"), Some("close"));
    }
    // One client connection, five server connections, each told to close.
    assert_eq!(be.conns.load(Ordering::Relaxed), 5);
    for s in be.seen() {
        assert_eq!(s.header("connection"), Some("close"), "{s:?}");
    }
}

#[test]
fn seed05_maxconn_queues_and_refuses_nothing() {
    let s1 = HttpBackend::start("s1", Duration::from_millis(150));
    let s2 = HttpBackend::start("s2", Duration::from_millis(150));
    let fe = free_addr();
    let _h = Halo::start(
        &seed_text("05-maxconn-queueing.cfg"),
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
        ],
    );
    let ok = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for i in 0..200 {
        let ok = ok.clone();
        threads.push(thread::spawn(move || {
            let mut c = Client::connect(fe);
            let r = c.get(&format!("/{i}"), "");
            if r.status == 200 {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 200, "some requests failed");
    for s in [&s1, &s2] {
        let m = s.max_current.load(Ordering::SeqCst);
        assert!(m <= 30, "{} had {m} requests in flight", s.name);
        assert!(
            m >= 20,
            "{} never got busy ({m}): no queueing happened",
            s.name
        );
    }
}

#[test]
fn forwardfor_and_bodies() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind \"${FE}\"\n    option forwardfor\n    default_backend b\nbackend b\n    server s1 \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    // Content-Length body.
    let body = vec![b'z'; 300_000];
    c.send(
        format!(
            "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let r = c.read().unwrap();
    assert_eq!(r.body, "b /up 300000\n");
    // Chunked body, in pieces.
    c.send(
        b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    thread::sleep(Duration::from_millis(50));
    c.send(b"6\r\n world\r\n0\r\n\r\n");
    let r = c.read().unwrap();
    assert_eq!(r.body, "b /chunked 11\n");
    let seen = be.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body_len, 300_000);
    assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
}

#[test]
fn malformed_requests_never_reach_the_server() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 700ms\nfrontend f\n    bind \"${FE}\"\n    default_backend b\nbackend b\n    server s1 \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let bad: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: t\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
        b"G=T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for raw in bad {
        let mut c = Client::connect(fe);
        c.send(raw);
        let r = c
            .read()
            .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(raw)));
        assert!(
            (400..=501).contains(&r.status),
            "{:?} got {}",
            String::from_utf8_lossy(raw),
            r.status
        );
    }
    // A slow head gets 408 after timeout http-request.
    let mut c = Client::connect(fe);
    c.send(b"GET / HTTP/1.1\r\n");
    let r = c.read().unwrap();
    assert_eq!(r.status, 408);
    assert!(r.body.contains("408 Request Time-out"));
    let chunked_seen: Vec<_> = be
        .seen()
        .into_iter()
        .filter(|s| s.method != "POST")
        .collect();
    assert!(
        chunked_seen.is_empty(),
        "malformed requests reached the server: {chunked_seen:?}"
    );
}

#[test]
fn no_server_gives_503() {
    let fe = free_addr();
    let dead = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 5s\n    retries 1\nfrontend f\n    bind \"${FE}\"\n    default_backend b\nbackend b\n    server s1 \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", haproxy_addr(dead))]);
    let mut c = Client::connect(fe);
    let r = c.get("/", "");
    assert_eq!(r.status, 503);
    assert!(r.body.contains("No server is available"));
}

#[test]
fn upgrade_becomes_a_tunnel() {
    let be = HttpBackend::start("ws", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 400ms\n    timeout server 400ms\n    timeout tunnel 5s\nfrontend f\n    bind \"${FE}\"\n    default_backend b\nbackend b\n    server s1 \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    c.send(b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let r = c.read().unwrap();
    assert_eq!(r.status, 101);
    // Frames both ways for longer than timeout client.
    for i in 0..3 {
        thread::sleep(Duration::from_millis(300));
        let msg = format!("frame {i}");
        c.send(msg.as_bytes());
        let mut buf = vec![0u8; msg.len()];
        c.r.read_exact(&mut buf).unwrap();
        assert_eq!(buf, msg.as_bytes());
    }
    let _ = c.closed();
}

#[test]
fn seed19_proxy_protocol_chain_keeps_the_client_address() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let fe_lb = free_addr();
    let _h = Halo::start(
        &seed_text("19-proxy-protocol-chain.cfg"),
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_LB", haproxy_addr(fe_lb)),
            ("S1", be.cfg_addr()),
        ],
    );
    // A client on 127.0.0.5 goes through the DMZ proxy, then the LAN balancer.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new("127.0.0.5".parse().unwrap(), 0).into())
        .unwrap();
    sock.connect(&fe.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut c = Client {
        w: s.try_clone().unwrap(),
        r: BufReader::new(s),
    };
    let r = c.get("/chain", "");
    assert_eq!(r.status, 200);
    let seen = be.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.5"));
    // Straight to the LAN balancer without a PROXY header: closed, nothing forwarded.
    let mut direct = Client::connect(fe_lb);
    direct.send(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        direct.read().is_none(),
        "a request without PROXY header was answered"
    );
    assert_eq!(be.seen().len(), 1);
}

#[test]
fn seed02_slowloris_gets_408_while_others_are_served() {
    if skip_on_reference(
        "HAProxy refuses `maxconn 20000` under this machine's 20000 fd limit (halo lowers it with a warning)",
    ) {
        return;
    }
    let be = HttpBackend::start("apache", Duration::ZERO);
    let fe = free_addr();
    let _h = Halo::start(
        &seed_text("02-slowloris-shield.cfg"),
        &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())],
    );
    let t0 = std::time::Instant::now();
    let slow = thread::spawn(move || {
        let mut c = Client::connect(fe);
        c.send(b"GET / HTTP/1.1\r\n");
        // One byte of header every 400 ms: never a complete head.
        for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaa" {
            // Once halo has answered 408 and closed, writing fails: stop there.
            if c.w.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(400));
            if t0.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        (c.read(), t0.elapsed())
    });
    // Meanwhile normal clients are served, with X-Forwarded-For.
    for i in 0..5 {
        let mut c = Client::connect(fe);
        let r = c.get(&format!("/n{i}"), "");
        assert_eq!(r.status, 200);
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(be.seen()[0].header("x-forwarded-for"), Some("127.0.0.1"));
    let (resp, took) = slow.join().unwrap();
    let resp = resp.expect("the slow client got no answer");
    assert_eq!(resp.status, 408);
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(8),
        "408 after {took:?}"
    );
    assert!(
        be.seen()
            .iter()
            .all(|s| !s.target.is_empty() && s.target != "/")
    );
}

#[test]
fn abortonclose_drops_a_queued_request_whose_client_left() {
    let be = HttpBackend::start("b", Duration::from_millis(800));
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n    timeout queue 5s\n    option abortonclose\nfrontend f\n    bind \"${FE}\"\n    default_backend b\nbackend b\n    server s1 \"${S1}\" maxconn 1\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let busy = thread::spawn(move || {
        let mut c = Client::connect(fe);
        c.get("/first", "").status
    });
    thread::sleep(Duration::from_millis(200));
    {
        // Queued behind /first, then the client hangs up.
        let mut c = Client::connect(fe);
        c.send(b"GET /abandoned HTTP/1.1\r\nHost: t\r\n\r\n");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(busy.join().unwrap(), 200);
    thread::sleep(Duration::from_millis(1200));
    let targets: Vec<String> = be.seen().iter().map(|s| s.target.clone()).collect();
    assert_eq!(
        targets,
        vec!["/first".to_string()],
        "the abandoned request reached the server"
    );
}

#[test]
fn forwardfor_once_originalto_and_ignore_probes() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    // `option forwardfor` in defaults applies to both the frontend and the backend:
    // the header must still be added once.
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n    timeout http-request 500ms\n    option forwardfor\n    option originalto\n    option http-ignore-probes\nfrontend f\n    bind \"${FE}\"\n    default_backend b\nbackend b\n    server s1 \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/x", "").status, 200);
    let seen = be.seen();
    let xff: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for"))
        .collect();
    assert_eq!(xff.len(), 1, "{:?}", seen[0].headers);
    assert_eq!(
        seen[0].header("x-original-to"),
        Some(fe.ip().to_string().as_str())
    );
    // A connection that sends nothing gets no 408 with http-ignore-probes.
    let mut probe = Client::connect(fe);
    assert!(probe.read().is_none(), "a probe got an answer");
}

#[test]
fn accept_invalid_lets_through_what_haproxy_then_tolerates() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = |opt: &str| {
        format!(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${{FE}}\"\n{opt}    default_backend be\nbackend be\n    server s \"${{S1}}\"\n"
        )
    };
    let raw = b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n";
    {
        let _h = Halo::start(&cfg(""), &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        let mut c = Client::connect(fe);
        c.send(raw);
        assert_eq!(c.read().map(|r| r.status), Some(400));
    }
    for opt in [
        "    option accept-invalid-http-request\n",
        "    option accept-unsafe-violations-in-http-request\n",
    ] {
        if opt.contains("unsafe") && skip_on_reference("the 3.x name of the option") {
            continue;
        }
        let fe = free_addr();
        let _h = Halo::start(&cfg(opt), &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        let mut c = Client::connect(fe);
        c.send(raw);
        let r = c.read().expect("response");
        assert_eq!(r.status, 200, "{opt}");
        assert!(r.body.starts_with("srv /a#frag"), "{}", r.body);
    }
}

/// Global `h1-accept-payload-with-any-method`: an HTTP/1.0 GET with a body gets 413 by
/// default and is forwarded with its body when the option is set.
#[test]
fn h1_payload_with_any_method_is_a_global_choice() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let cfg = |global: &str| {
        format!(
            "global\n{global}defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${{FE}}\"\n    default_backend be\nbackend be\n    server s \"${{S1}}\"\n"
        )
    };
    let raw = b"GET /g HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    let fe = free_addr();
    {
        let _h = Halo::start(&cfg(""), &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        let mut c = Client::connect(fe);
        c.send(raw);
        assert_eq!(c.read().map(|r| r.status), Some(413));
        assert!(s.seen().is_empty(), "nothing reaches the server");
    }
    let fe = free_addr();
    let _h = Halo::start(
        &cfg("    h1-accept-payload-with-any-method\n"),
        &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
    );
    let mut c = Client::connect(fe);
    c.send(raw);
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "srv /g 5\n");
}

/// `h1-case-adjust` (and `-file`) with `option h1-case-adjust-bogus-server` spells the
/// listed header names as configured towards servers, and `-bogus-client` towards clients.
#[test]
fn h1_case_adjust_spells_names_for_bogus_peers() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.txt");
    std::fs::write(&file, "# names\n\n  x-server   X-SERVER \n").unwrap();
    let cfg = |fe_opt: &str, be_opt: &str| {
        format!(
            "global\n    h1-case-adjust x-trace X-Trace\n    h1-case-adjust-file \"{}\"\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${{FE}}\"\n{fe_opt}    default_backend be\nbackend be\n{be_opt}    server s \"${{S1}}\"\n",
            file.display()
        )
    };
    let ask = |fe: SocketAddr| {
        let mut c = Client::connect(fe);
        c.get("/c", "x-trace: 7\r\n")
    };
    let name_seen = |s: &HttpBackend| {
        let seen = s.seen();
        let last = seen.last().expect("request reached the server");
        last.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-trace"))
            .map(|(k, _)| k.clone())
    };
    let name_sent = |r: &Response| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-server"))
            .map(|(k, _)| k.clone())
    };
    {
        // The tables alone change nothing: the proxies must ask for them.
        let fe = free_addr();
        let _h = Halo::start(
            &cfg("", ""),
            &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
        );
        let r = ask(fe);
        assert_eq!(r.status, 200);
        assert_eq!(name_seen(&s).as_deref(), Some("x-trace"));
        assert_ne!(name_sent(&r).as_deref(), Some("X-SERVER"));
    }
    let fe = free_addr();
    let _h = Halo::start(
        &cfg(
            "    option h1-case-adjust-bogus-client\n",
            "    option h1-case-adjust-bogus-server\n",
        ),
        &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
    );
    let r = ask(fe);
    assert_eq!(r.status, 200);
    assert_eq!(name_seen(&s).as_deref(), Some("X-Trace"));
    assert_eq!(name_sent(&r).as_deref(), Some("X-SERVER"));
}

/// `h1-do-not-close-on-insecure-transfer-encoding`: a request with both Transfer-Encoding
/// and Content-Length loses the length either way; the client connection closes after the
/// response unless the option is set.
#[test]
fn te_with_cl_closes_unless_told_not_to() {
    if skip_on_reference("h1-do-not-close-on-insecure-transfer-encoding is a 3.x keyword") {
        return;
    }
    let s = HttpBackend::start("srv", Duration::ZERO);
    let cfg = |global: &str| {
        format!(
            "global\n{global}defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${{FE}}\"\n    default_backend be\nbackend be\n    server s \"${{S1}}\"\n"
        )
    };
    let raw = b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for (global, keeps) in [
        ("", false),
        ("    h1-do-not-close-on-insecure-transfer-encoding\n", true),
    ] {
        let fe = free_addr();
        let _h = Halo::start(
            &cfg(global),
            &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
        );
        let mut c = Client::connect(fe);
        c.send(raw);
        let r = c.read().expect("response");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "srv /p 3\n");
        let last = s.seen().pop().expect("request reached the server");
        assert_eq!(last.header("content-length"), None, "the length is dropped");
        if keeps {
            let r = c.get("/again", "");
            assert_eq!(r.status, 200);
        } else {
            assert!(c.closed(), "connection closed after the response");
        }
    }
}

/// Server option `redir PREFIX`: GET and HEAD requests get a 302 to the prefix followed by
/// the path (from its '/', absolute-form included); other methods reach the server.
#[test]
fn server_redir_answers_get_and_head_with_a_302() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${FE}\"\n    default_backend be\nbackend be\n    server s \"${S1}\" redir http://img.example.com ws auto\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    for (req, loc) in [
        (
            "GET /a/b?c=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            "http://img.example.com/a/b?c=1",
        ),
        (
            "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
            "http://img.example.com/h",
        ),
        (
            "GET http://h/z?q HTTP/1.1\r\nHost: h\r\n\r\n",
            "http://img.example.com/z?q",
        ),
    ] {
        let mut c = Client::connect(fe);
        c.send(req.as_bytes());
        let r = c.read().expect("response");
        assert_eq!(r.status, 302, "{req}");
        assert_eq!(r.header("location"), Some(loc));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    assert!(
        s.seen().is_empty(),
        "redirected requests never reach the server"
    );
    let mut c = Client::connect(fe);
    c.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "srv /p 2\n");
}

/// The HTTP/2 connection preface on an HTTP/1 listener that does not upgrade to HTTP/2
/// (`option disable-h2-upgrade`; halo never upgrades) gets 400 and reaches no server.
#[test]
fn h2_preface_without_upgrade_gets_400() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${FE}\"\n    option disable-h2-upgrade\n    default_backend be\nbackend be\n    server s \"${S1}\"\n";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let mut c = Client::connect(fe);
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(c.read().map(|r| r.status), Some(400));
    assert!(s.seen().is_empty());
}

/// A 503 (no backend, no server reachable) or a 504 (server timeout) ends the request, not
/// the client connection: like HAProxy, the next request on it is served.
#[test]
fn error_answers_keep_the_client_connection() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let silent = silent.try_clone().unwrap();
        let held = held.clone();
        thread::spawn(move || {
            for c in silent.incoming().flatten() {
                held.lock().unwrap().push(c);
            }
        });
    }
    let fe = free_addr();
    let closed = free_addr();
    let cfg = "defaults\n    mode http\n    timeout connect 500ms\n    timeout client 5s\n    timeout server 300ms\n    retries 0\nfrontend fe\n    bind \"${FE}\"\n    http-request deny if { path /deny }\n    use_backend empty if { path /none }\n    use_backend down if { path /down }\n    default_backend slow\nbackend empty\nbackend down\n    server s \"${S1}\"\nbackend slow\n    server s \"${S2}\"\n";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(closed)),
            ("S2", haproxy_addr(silent.local_addr().unwrap())),
        ],
    );
    for (path, status) in [("/none", 503), ("/down", 503), ("/slow", 504)] {
        let mut c = Client::connect(fe);
        assert_eq!(c.get(path, "").status, status, "{path}");
        assert_eq!(c.get("/deny", "").status, 403, "after {path}");
    }
}

/// `tune.h1.fe.glitches-threshold`: requests let through only by
/// `accept-unsafe-violations-in-http-request` count on their connection; from 75% of the
/// threshold the connection closes after the answer, at the threshold it is killed.
#[test]
fn glitches_threshold_closes_misbehaving_client_connections() {
    if skip_on_reference("tune.h1.fe.glitches-threshold is a 3.x keyword") {
        return;
    }
    let s = HttpBackend::start("srv", Duration::ZERO);
    let cfg = |n: u32| {
        format!(
            "global\n    tune.h1.fe.glitches-threshold {n}\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind \"${{FE}}\"\n    option accept-unsafe-violations-in-http-request\n    default_backend be\nbackend be\n    server s \"${{S1}}\"\n"
        )
    };
    let glitchy = b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n";
    // Threshold 4: clean requests do not count; the third glitch (75%) closes after it.
    let fe = free_addr();
    {
        let _h = Halo::start(&cfg(4), &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
        let mut c = Client::connect(fe);
        for _ in 0..2 {
            c.send(glitchy);
            assert_eq!(c.read().map(|r| r.status), Some(200));
            assert_eq!(c.get("/clean", "").status, 200);
        }
        c.send(glitchy);
        let r = c.read().expect("answer at 75%");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.closed());
    }
    // Threshold 2: the second glitch kills the connection without an answer.
    let fe = free_addr();
    let _h = Halo::start(&cfg(2), &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let mut c = Client::connect(fe);
    c.send(glitchy);
    assert_eq!(c.read().map(|r| r.status), Some(200));
    let before = s.seen().len();
    c.send(glitchy);
    assert!(c.read().is_none(), "killed without an answer");
    assert_eq!(s.seen().len(), before, "nothing forwarded");
}
