//! Layer 4 rules end to end: `tcp-request connection|session|content`,
//! `tcp-response content`, `inspect-delay` with WAIT_END and conditions that wait for
//! data (TLS hello, SNI, payload), `expect-proxy layer4`, and seed 03's SSL session id
//! affinity with raw TLS hellos.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
";

type Reply = dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync;

/// A server that calls `reply` with what it received so far (first with nothing): once
/// it returns bytes, they are sent, the write side is shut, and the rest is read until the
/// peer closes. What each connection carried is recorded.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Server {
    fn start(reply: Arc<Reply>) -> Server {
        Server::start_with(reply, true)
    }

    /// Same, keeping the connection open after the reply (`shut` false).
    fn start_with(reply: Arc<Reply>, shut: bool) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (acc, rec) = (accepted.clone(), received.clone());
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let (reply, rec) = (reply.clone(), rec.clone());
                thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut got = Vec::new();
                    let mut replied = false;
                    let mut buf = [0u8; 4096];
                    loop {
                        if !replied && let Some(r) = reply(&got) {
                            let _ = s.write_all(&r);
                            if shut {
                                let _ = s.shutdown(Shutdown::Write);
                            }
                            replied = true;
                        }
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    rec.lock().unwrap().push(got);
                });
            }
        });
        Server {
            addr,
            accepted,
            received,
        }
    }

    /// Sends `banner` as soon as the connection is accepted.
    fn banner(banner: &'static [u8]) -> Server {
        Server::start(Arc::new(move |_: &[u8]| Some(banner.to_vec())))
    }

    fn cfg(&self) -> String {
        haproxy_addr(self.addr)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn received(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }
}

/// Connects to `fe` from `src` (127.0.0.1 when None), sends each part after its pause,
/// then reads until the connection ends. Returns what came back and the time from the
/// last part to the first byte (or the end).
fn talk(fe: SocketAddr, src: Option<IpAddr>, parts: &[(&[u8], Duration)]) -> (Vec<u8>, Duration) {
    let s = match src {
        Some(ip) => {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&SocketAddr::new(ip, 0).into()).unwrap();
            // A connection rejected at once may be reset before connect() returns.
            if sock
                .connect_timeout(&fe.into(), Duration::from_secs(2))
                .is_err()
            {
                return (Vec::new(), Duration::ZERO);
            }
            TcpStream::from(sock)
        }
        None => TcpStream::connect(fe).unwrap(),
    };
    let mut s = s;
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    for (data, pause) in parts {
        thread::sleep(*pause);
        let _ = s.write_all(data);
    }
    let sent = Instant::now();
    let mut out = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                first.get_or_insert_with(|| sent.elapsed());
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
    (out, first.unwrap_or_else(|| sent.elapsed()))
}

/// Sends `parts` like `talk`, reads exactly `n` bytes, then closes.
fn talk_n(fe: SocketAddr, parts: &[(&[u8], Duration)], n: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(fe).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    for (data, pause) in parts {
        thread::sleep(*pause);
        let _ = s.write_all(data);
    }
    let mut out = vec![0u8; n];
    match s.read_exact(&mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

fn now(data: &[u8]) -> (&[u8], Duration) {
    (data, Duration::ZERO)
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TLS 1.2 ClientHello record with session id `sid` and, when given, an SNI.
fn client_hello(sni: Option<&str>, sid: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]);
    body.push(sid.len() as u8);
    body.extend_from_slice(sid);
    body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]);
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let mut list = vec![0x00];
        list.extend_from_slice(&(n.len() as u16).to_be_bytes());
        list.extend_from_slice(n);
        exts.extend_from_slice(&[0x00, 0x00]);
        exts.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
        exts.extend_from_slice(&list);
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    handshake(1, &body)
}

/// A TLS 1.2 ServerHello record with session id `sid`.
fn server_hello(sid: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x22; 32]);
    body.push(sid.len() as u8);
    body.extend_from_slice(sid);
    body.extend_from_slice(&[0x00, 0x2f, 0x00]);
    handshake(2, &body)
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![ty];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn connection_reject_by_source() {
    let srv = Server::banner(b"hello\n");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request connection reject if {{ src 127.0.0.2 }}
    tcp-request connection silent-drop if {{ src 127.0.0.4 }}
    default_backend bk

backend bk
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", srv.cfg())]);
    let (out, _) = talk(fe, Some(ip(2)), &[now(b"x\n")]);
    assert!(out.is_empty(), "rejected client got {out:?}");
    assert_eq!(
        srv.accepted(),
        0,
        "a rejected connection reached the server"
    );
    let (out, _) = talk(fe, Some(ip(1)), &[now(b"x\n")]);
    assert_eq!(out, b"hello\n");
    assert!(wait_until(Duration::from_secs(3), || srv.received().len() == 1));
    assert_eq!(srv.received()[0], b"x\n");
}

#[test]
fn sni_routing_waits_for_the_whole_hello() {
    let a = Server::banner(b"A");
    let b = Server::banner(b"B");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend bk_a if {{ req.ssl_sni -i a.example }}
    default_backend bk_b

backend bk_a
    server s \"${{SA}}\"

backend bk_b
    server s \"${{SB}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("SA", a.cfg()), ("SB", b.cfg())],
    );
    let hello = client_hello(Some("A.example"), b"");
    // The hello comes in two parts: the rules wait for the second one.
    let (first, rest) = hello.split_at(20);
    let (out, _) = talk(fe, None, &[now(first), (rest, Duration::from_millis(300))]);
    assert_eq!(out, b"A");
    assert!(wait_until(Duration::from_secs(3), || a.received().len() == 1));
    assert_eq!(a.received()[0], hello, "the server got the whole hello");
    let (out, elapsed) = talk(fe, None, &[now(&client_hello(Some("b.example"), b""))]);
    assert_eq!(out, b"B");
    assert!(
        elapsed < Duration::from_secs(3),
        "a complete hello waited {elapsed:?}"
    );
    // Not TLS: decided at once (no accept rule matches, the default accepts).
    let (out, elapsed) = talk(fe, None, &[now(b"GET / HTTP/1.0\r\n\r\n")]);
    assert_eq!(out, b"B");
    assert!(
        elapsed < Duration::from_secs(3),
        "plain text waited {elapsed:?}"
    );
}

#[test]
fn wait_end_holds_until_the_inspect_delay() {
    let srv = Server::banner(b"ok");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request inspect-delay 700ms
    tcp-request content accept if WAIT_END
    default_backend bk

backend bk
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", srv.cfg())]);
    let (out, elapsed) = talk(fe, None, &[now(b"data")]);
    assert_eq!(out, b"ok");
    assert!(
        elapsed >= Duration::from_millis(550),
        "WAIT_END let the data through after {elapsed:?}"
    );
    assert!(wait_until(Duration::from_secs(3), || srv.received().len() == 1));
    assert_eq!(srv.received()[0], b"data");
}

#[test]
fn payload_rules_wait_only_while_undecided() {
    let a = Server::banner(b"A");
    let b = Server::banner(b"B");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request inspect-delay 4s
    tcp-request content reject if {{ req.payload(0,3) -m str BAD }}
    tcp-request content accept if {{ req.len ge 4 }}
    use_backend bk_a if {{ req.payload(0,4) -m str PING }}
    default_backend bk_b

backend bk_a
    server s \"${{SA}}\"

backend bk_b
    server s \"${{SB}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("SA", a.cfg()), ("SB", b.cfg())],
    );
    // "PI" decides nothing yet: the rules wait for "NG".
    let (out, _) = talk(
        fe,
        None,
        &[now(b"PI"), (b"NG\n", Duration::from_millis(300))],
    );
    assert_eq!(out, b"A");
    assert!(wait_until(Duration::from_secs(3), || a.received().len() == 1));
    assert_eq!(a.received()[0], b"PING\n");
    let (out, elapsed) = talk(fe, None, &[now(b"HELO\n")]);
    assert_eq!(out, b"B");
    assert!(
        elapsed < Duration::from_secs(2),
        "decided data waited {elapsed:?}"
    );
    let (out, _) = talk(fe, None, &[now(b"BAD stuff\n")]);
    assert!(out.is_empty(), "rejected payload got {out:?}");
    assert_eq!(a.accepted() + b.accepted(), 2);
}

#[test]
fn tcp_response_reject_on_server_bytes() {
    let good = Server::banner(b"OK fine\n");
    let bad = Server::banner(b"BAD banner\n");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    default_backend bk_good

frontend ft2
    bind \"${{FE_2}}\"
    default_backend bk_bad

backend bk_good
    tcp-response inspect-delay 2s
    tcp-response content reject if {{ res.payload(0,3) -m str BAD }}
    server s \"${{SG}}\"

backend bk_bad
    tcp-response inspect-delay 2s
    tcp-response content reject if {{ res.payload(0,3) -m str BAD }}
    server s \"${{SB}}\"
"
    );
    let fe2 = free_addr();
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_2", haproxy_addr(fe2)),
            ("SG", good.cfg()),
            ("SB", bad.cfg()),
        ],
    );
    let (out, _) = talk(fe, None, &[now(b"hi\n")]);
    assert_eq!(out, b"OK fine\n");
    let (out, _) = talk(fe2, None, &[now(b"hi\n")]);
    assert!(
        out.is_empty(),
        "a rejected response reached the client: {out:?}"
    );
    assert_eq!(bad.accepted(), 1);
}

#[test]
fn expect_proxy_layer4_from_trusted_sources_only() {
    let a = Server::banner(b"A");
    let b = Server::banner(b"B");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}
    tcp-request session reject if {{ src 10.9.9.9 }}
    use_backend bk_a if {{ src 10.1.2.3 }}
    default_backend bk_b

backend bk_a
    server s \"${{SA}}\"

backend bk_b
    server s \"${{SB}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("SA", a.cfg()), ("SB", b.cfg())],
    );
    let (out, _) = talk(
        fe,
        Some(ip(1)),
        &[now(b"PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\nhello\n")],
    );
    assert_eq!(out, b"A", "the PROXY header's source chose the backend");
    assert!(wait_until(Duration::from_secs(3), || a.received().len() == 1));
    assert_eq!(a.received()[0], b"hello\n");
    // Session rules see the addresses of the PROXY header.
    let (out, _) = talk(
        fe,
        Some(ip(1)),
        &[now(b"PROXY TCP4 10.9.9.9 10.0.0.1 1234 80\r\nhello\n")],
    );
    assert!(
        out.is_empty(),
        "session reject on the PROXY source: {out:?}"
    );
    // Another source: no PROXY header expected, its bytes go through as they are.
    let raw: &[u8] = b"PROXY TCP4 10.1.2.3 10.0.0.1 1234 80\r\nx\n";
    let (out, _) = talk(fe, Some(ip(2)), &[now(raw)]);
    assert_eq!(out, b"B");
    assert!(wait_until(Duration::from_secs(3), || b.received().len() == 1));
    assert_eq!(b.received()[0], raw);
}

#[test]
fn http_frontend_runs_layer4_rules() {
    let srv = Server::banner(b"unused");
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend ft
    bind \"${FE}\"
    tcp-request connection reject if { src 127.0.0.2 }
    tcp-request session set-var(sess.tag) str(tagged)
    tcp-request content reject if { src 127.0.0.3 }
    http-request return status 200 content-type text/plain lf-string \"%[var(sess.tag)]\"
    default_backend bk

backend bk
    server s1 \"${S1}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", srv.cfg())]);
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (out, _) = talk(fe, Some(ip(1)), &[now(req)]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("tagged"), "{text}");
    for last in [2, 3] {
        let (out, _) = talk(fe, Some(ip(last)), &[now(req)]);
        assert!(
            out.is_empty(),
            "127.0.0.{last} got {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

#[test]
fn rdp_cookie_and_ssl_version_rules() {
    let a = Server::banner(b"A");
    let b = Server::banner(b"B");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    tcp-request inspect-delay 4s
    tcp-request content reject if {{ req.ssl_ver lt 3.3 }}
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    tcp-request content accept if RDP_COOKIE
    use_backend bk_a if {{ req.rdp_cookie(mstshash) -m str alice }}
    default_backend bk_b

backend bk_a
    server s \"${{SA}}\"

backend bk_b
    server s \"${{SB}}\"
"
    );
    let _h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("SA", a.cfg()), ("SB", b.cfg())],
    );
    let x224: &[u8] = &[3, 0, 0, 0x2b, 0x26, 0xe0, 0, 0, 0, 0, 0];
    let mut start = x224.to_vec();
    start.extend_from_slice(b"Cookie: msts");
    let (out, _) = talk(
        fe,
        None,
        &[now(&start), (b"hash=alice\r\n", Duration::from_millis(300))],
    );
    assert_eq!(out, b"A", "routed by the RDP cookie once complete");
    let mut bob = x224.to_vec();
    bob.extend_from_slice(b"Cookie: mstshash=bob\r\n");
    assert_eq!(talk(fe, None, &[now(&bob)]).0, b"B");
    // TLS 1.2 hellos pass, an older client version is refused.
    assert_eq!(talk(fe, None, &[now(&client_hello(None, b""))]).0, b"B");
    let mut old = client_hello(None, b"");
    old[10] = 1;
    let (out, _) = talk(fe, None, &[now(&old)]);
    assert!(out.is_empty(), "a TLS 1.0 hello passed: {out:?}");
}

/// Two servers answering a ClientHello with a ServerHello carrying their own session id
/// (32 times their tag), or the one the client offered when it resumes.
fn tls_servers() -> (Server, Server) {
    let mk = |tag: u8| -> Server {
        Server::start_with(
            Arc::new(move |got: &[u8]| {
                if got.len() < 5 {
                    return None;
                }
                let len = u16::from_be_bytes([got[3], got[4]]) as usize;
                if got.len() < 5 + len {
                    return None;
                }
                let sid_len = got[43] as usize;
                let sid = if sid_len > 0 {
                    got[44..44 + sid_len].to_vec()
                } else {
                    vec![tag; 32]
                };
                Some(server_hello(&sid))
            }),
            false,
        )
    };
    (mk(1), mk(2))
}

/// Seed 03 with `tcp-response inspect-delay 5s` added: the ServerHello's session id is
/// learnt, and a client resuming it keeps reaching the server that issued it.
#[test]
fn seed_03_ssl_session_id_affinity_with_response_delay() {
    let (s1, s2) = tls_servers();
    let fe = free_addr();
    let cfg = seed_text("03-ssl-session-id-affinity.cfg").replace(
        "    tcp-request inspect-delay 5s\n",
        "    tcp-request inspect-delay 5s\n    tcp-response inspect-delay 5s\n",
    );
    assert!(cfg.contains("tcp-response inspect-delay"));
    let h = Halo::start(
        &cfg,
        &[("FE", haproxy_addr(fe)), ("S1", s1.cfg()), ("S2", s2.cfg())],
    );
    // A new client, its hello in two parts: the server's session id comes back.
    let hello = client_hello(Some("site.example"), b"");
    let (first, rest) = hello.split_at(30);
    let hello_len = server_hello(&[0; 32]).len();
    let out = talk_n(
        fe,
        &[now(first), (rest, Duration::from_millis(200))],
        hello_len,
    );
    assert!(out.len() > 44 && out[5] == 2, "no ServerHello: {out:?}");
    let sid = out[44..44 + out[43] as usize].to_vec();
    let table = cli(&h.dir().join("admin.sock"), "show table https").unwrap_or_default();
    assert!(
        table.contains(&format!("key={}", hex(&sid))),
        "session id not learnt: {table}"
    );
    // Resuming with that session id always reaches the server that issued it.
    for _ in 0..4 {
        let out = talk_n(
            fe,
            &[now(&client_hello(Some("site.example"), &sid))],
            hello_len,
        );
        assert_eq!(out.get(44..44 + sid.len()), Some(sid.as_slice()));
    }
    let (issuer, other) = if sid[0] == 1 { (&s1, &s2) } else { (&s2, &s1) };
    let done = wait_until(Duration::from_secs(3), || issuer.accepted() == 5);
    assert!(
        done && other.accepted() == 0,
        "issuer accepted {} of 5, other {}",
        issuer.accepted(),
        other.accepted()
    );
}

/// Seed 03 as written: without `tcp-response inspect-delay`, HAProxy 2.6 runs the
/// response rules and `stick store-response` as soon as the server is connected, before
/// the ServerHello arrives, so the server's session id is never learnt (halo does the
/// same; see the report).
#[test]
fn seed_03_as_written_learns_nothing_from_the_response() {
    let (s1, s2) = tls_servers();
    let fe = free_addr();
    let h = Halo::start(
        &seed_text("03-ssl-session-id-affinity.cfg"),
        &[("FE", haproxy_addr(fe)), ("S1", s1.cfg()), ("S2", s2.cfg())],
    );
    let hello_len = server_hello(&[0; 32]).len();
    let out = talk_n(fe, &[now(&client_hello(Some("x.example"), b""))], hello_len);
    assert!(out.len() > 44 && out[5] == 2, "no ServerHello: {out:?}");
    let sid = out[44..44 + out[43] as usize].to_vec();
    let table = cli(&h.dir().join("admin.sock"), "show table https").unwrap_or_default();
    assert!(table.starts_with("# table: https"), "{table}");
    assert!(
        !table.contains(&hex(&sid)),
        "learnt the session id: {table}"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// `tcp-request connection track-sc0 src` in a TCP frontend: the tracked entry counts the
/// connections of each source, and a rule on `sc0_conn_rate` rejects a source once it has
/// opened three in the period while another source is still served.
#[test]
fn connection_tracking_limits_a_source() {
    let srv = Server::banner(b"hello\n");
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    stick-table type ip size 100 expire 30s store conn_cnt,conn_rate(10s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc0_conn_rate gt 3 }}
    default_backend bk

backend bk
    server s1 \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", srv.cfg())]);
    for i in 1..=3 {
        let (out, _) = talk(fe, Some(ip(5)), &[now(b"x\n")]);
        assert_eq!(out, b"hello\n", "connection {i} of 127.0.0.5");
    }
    let (out, _) = talk(fe, Some(ip(5)), &[now(b"x\n")]);
    assert!(
        out.is_empty(),
        "the fourth connection is rejected, got {out:?}"
    );
    let (out, _) = talk(fe, Some(ip(6)), &[now(b"x\n")]);
    assert_eq!(out, b"hello\n", "another source is served");
    assert!(wait_until(Duration::from_secs(3), || srv.accepted() == 4));
}

#[test]
fn content_capture_fills_a_request_slot_in_http_mode() {
    let be = support::http::HttpBackend::start("web", Duration::ZERO);
    let fe = free_addr();
    // Slots in declaration order: 0 the Host header, 1 the TCP capture, 2 the HTTP one.
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    tcp-request inspect-delay 1s
    capture request header host len 10
    tcp-request content capture req.hdr(x-a) len 3
    http-request capture req.hdr(x-b) len 20
    http-request set-header X-Cap \"%[capture.req.hdr(0)]|%[capture.req.hdr(1)]|%[capture.req.hdr(2)]\"
    default_backend b
backend b
    server web \"${WEB}\"
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("WEB", be.cfg_addr())]);
    let mut c = support::http::Client::connect(fe);
    let r = c.get("/", "x-a: abcdef\r\nx-b: hello\r\n");
    assert_eq!(r.status, 200);
    // Every request of the connection is captured anew.
    let r = c.get("/2", "x-a: zyxw\r\n");
    assert_eq!(r.status, 200);
    let seen = be.seen();
    let caps: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-cap").unwrap_or(""))
        .collect();
    assert_eq!(caps, ["test|abc|hello", "test|zyx|"]);
}

#[test]
fn content_capture_in_tcp_mode_is_seen_by_later_rules() {
    let (a, b) = (TcpBackend::echo_named("a"), TcpBackend::echo_named("b"));
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}listen t
    bind \"${{FE}}\"
    tcp-request inspect-delay 2s
    tcp-request content reject unless {{ req.len ge 4 }}
    tcp-request content capture req.payload(0,4) len 3
    tcp-request content reject if {{ capture.req.hdr(0) -m str bad }}
    use-server b if {{ capture.req.hdr(0) -m str tob }}
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
    let ask = |line: &str| -> String {
        let (out, _) = talk(fe, None, &[now(format!("{line}\n").as_bytes())]);
        String::from_utf8_lossy(&out).trim().to_string()
    };
    assert_eq!(ask("tobe"), "b", "the first 3 bytes are captured");
    assert_eq!(ask("hello"), "a");
    assert_eq!(ask("badx"), "", "rejected on the captured bytes");
}

#[test]
fn content_capture_config_errors() {
    let (code, _, err) = run_check(
        Cfg::Text(
            "defaults\n mode tcp\nbackend b\n tcp-request content capture req.len len 3\n server a 127.0.0.1:1\n",
        ),
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("'tcp-request content capture' : proxy 'b' has no frontend capability"),
        "{err}"
    );
    let (code, _, err) = run_check(
        Cfg::Text(
            "defaults\n mode tcp\nfrontend f\n bind 127.0.0.1:8080\n tcp-request content capture req.len id 0\n",
        ),
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("'tcp-request content capture' : a positive 'len' argument is mandatory"),
        "{err}"
    );
}

/// An `openssl s_server` (TLS 1.2, session ids, no tickets), killed on drop.
struct OpensslServer(std::process::Child);

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_client` resuming from (`-sess_in`) or saving to (`-sess_out`) `sess`:
/// whether the handshake reused the session.
fn s_client(fe: SocketAddr, sess: &std::path::Path, resume: bool) -> Option<bool> {
    let out = std::process::Command::new("timeout")
        .arg("10")
        .arg("openssl")
        .args([
            "s_client",
            "-connect",
            &fe.to_string(),
            "-tls1_2",
            "-no_ticket",
        ])
        .arg(if resume { "-sess_in" } else { "-sess_out" })
        .arg(sess)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("\nReused, ") {
        Some(true)
    } else if text.contains("\nNew, ") {
        Some(false)
    } else {
        None
    }
}

/// Seed 03 (with `tcp-response inspect-delay`, see above) in front of two real TLS 1.2
/// servers: a client resuming its session (`s_client -sess_out`, then `-sess_in`) always
/// reaches the server that issued the session id, so the session is reused every time,
/// although round robin alone would alternate between the servers.
#[test]
fn seed_03_with_openssl_servers_resumes_on_the_issuing_server() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no openssl binary");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=site.example", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let servers: Vec<(SocketAddr, OpensslServer)> = (0..2)
        .map(|_| {
            let a = free_addr();
            let child = std::process::Command::new("openssl")
                .args([
                    "s_server",
                    "-accept",
                    &a.to_string(),
                    "-tls1_2",
                    "-no_ticket",
                ])
                .args(["-www", "-quiet", "-cert"])
                .arg(&cert)
                .arg("-key")
                .arg(&key)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (a, OpensslServer(child))
        })
        .collect();
    for (a, _) in &servers {
        assert!(wait_until(Duration::from_secs(10), || anyone_listening(*a)));
    }
    let fe = free_addr();
    let cfg = seed_text("03-ssl-session-id-affinity.cfg").replace(
        "    tcp-request inspect-delay 5s\n",
        "    tcp-request inspect-delay 5s\n    tcp-response inspect-delay 5s\n",
    );
    let h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(servers[0].0)),
            ("S2", haproxy_addr(servers[1].0)),
        ],
    );
    let sess = dir.path().join("sess");
    assert_eq!(s_client(fe, &sess, false), Some(false), "a new session");
    for i in 0..4 {
        assert_eq!(s_client(fe, &sess, true), Some(true), "resumption {i}");
    }
    let table = cli(&h.dir().join("admin.sock"), "show table https").unwrap_or_default();
    assert!(table.contains("used:1"), "{table}");
}
