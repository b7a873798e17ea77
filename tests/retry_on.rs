//! `retry-on` in HTTP mode: a request sent again after a failure beyond the connection
//! (empty response, response timeout, chosen statuses), counted against `retries`, to the
//! same server or elsewhere with `option redispatch`; `http-request disable-l7-retry`;
//! requests whose body is not whole in the buffer are never sent again.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

/// What a scripted server does with the request it numbers `n` (from 0).
#[derive(Clone, Copy, Debug)]
enum Act {
    Status(u16),
    /// Close without answering.
    Close,
    /// Say nothing for 2 s.
    Stall,
}

/// A server answering each request as `script(n)` says, recording method and body length.
struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, usize)>>>,
    stop: Arc<AtomicBool>,
}

impl Scripted {
    fn start(name: &'static str, script: fn(usize) -> Act) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let (seen, count) = (seen2.clone(), count.clone());
                        thread::spawn(move || serve(s, name, script, &seen, &count));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Scripted { addr, seen, stop }
    }

    fn seen(&self) -> Vec<(String, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    s: TcpStream,
    name: &str,
    script: fn(usize) -> Act,
    seen: &Mutex<Vec<(String, usize)>>,
    count: &AtomicUsize,
) {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let method = line.split_whitespace().next().unwrap_or("").to_string();
        let mut cl = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                cl = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; cl];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push((method, cl));
        let n = count.fetch_add(1, Ordering::Relaxed);
        match script(n) {
            Act::Status(st) => {
                let text = format!("{name} {st}");
                let resp = format!(
                    "HTTP/1.1 {st} X\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
                if w.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            Act::Close => return,
            Act::Stall => {
                thread::sleep(Duration::from_secs(2));
                return;
            }
        }
    }
}

fn start(backend: &str, servers: &[SocketAddr]) -> (Halo, SocketAddr) {
    let fe = free_addr();
    let mut cfg = format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind \"${{FE}}\"
    default_backend be
backend be
{backend}"
    );
    let mut env = vec![("FE", haproxy_addr(fe))];
    let names = ["S1", "S2"];
    for (i, a) in servers.iter().enumerate() {
        cfg.push_str(&format!("    server s{} \"${{{}}}\"\n", i + 1, names[i]));
        env.push((names[i], haproxy_addr(*a)));
    }
    (Halo::start(&cfg, &env), fe)
}

fn get(fe: SocketAddr, raw: &str) -> Response {
    let mut c = Client::connect(fe);
    c.send(raw.as_bytes());
    c.read().expect("a response")
}

const GET: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn a_listed_status_is_retried_on_another_server_with_redispatch() {
    let bad = Scripted::start("bad", |_| Act::Status(503));
    let good = Scripted::start("good", |_| Act::Status(200));
    let (_h, fe) = start(
        "    balance roundrobin\n    retry-on 503\n    option redispatch\n    retries 3\n",
        &[bad.addr, good.addr],
    );
    for _ in 0..6 {
        let r = get(fe, GET);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, "good 200");
    }
    // Round robin sent some first attempts to the failing server.
    assert!(!bad.seen().is_empty());
    assert_eq!(good.seen().len(), 6);
}

#[test]
fn without_retry_on_the_status_reaches_the_client() {
    let bad = Scripted::start("bad", |_| Act::Status(503));
    let (_h, fe) = start("    option redispatch\n", &[bad.addr]);
    let r = get(fe, GET);
    assert_eq!(r.status, 503);
    assert_eq!(r.body, "bad 503");
    assert_eq!(bad.seen().len(), 1);
}

#[test]
fn an_empty_response_is_sent_again_to_the_same_server() {
    // The first request finds the server closing without an answer, the next one works.
    let flaky = Scripted::start(
        "flaky",
        |n| {
            if n == 0 { Act::Close } else { Act::Status(200) }
        },
    );
    let (_h, fe) = start("    retry-on empty-response\n", &[flaky.addr]);
    let r = get(
        fe,
        "POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "flaky 200");
    // Both attempts carried the whole body.
    assert_eq!(
        flaky.seen(),
        vec![("POST".to_string(), 5), ("POST".to_string(), 5)]
    );
}

#[test]
fn retries_bound_the_attempts() {
    let bad = Scripted::start("bad", |_| Act::Status(502));
    let (_h, fe) = start("    retry-on 502\n    retries 2\n", &[bad.addr]);
    let r = get(fe, GET);
    // The last answer goes to the client after the first attempt and two retries.
    assert_eq!(r.status, 502);
    assert_eq!(r.body, "bad 502");
    assert_eq!(bad.seen().len(), 3);
}

#[test]
fn a_response_timeout_is_retried_elsewhere() {
    let slow = Scripted::start("slow", |_| Act::Stall);
    let fast = Scripted::start("fast", |_| Act::Status(200));
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 300ms
frontend fe
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    retry-on response-timeout
    option redispatch
    server s1 \"${S1}\"
    server s2 \"${S2}\"
";
    let _h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(slow.addr)),
            ("S2", haproxy_addr(fast.addr)),
        ],
    );
    // Round robin gives one of the two requests to the stalling server first.
    for _ in 0..2 {
        let r = get(fe, GET);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, "fast 200");
    }
    assert!(!slow.seen().is_empty());
}

#[test]
fn disable_l7_retry_keeps_posts_from_being_sent_again() {
    let bad = Scripted::start("bad", |n| {
        if n == 0 {
            Act::Status(503)
        } else {
            Act::Status(200)
        }
    });
    let (_h, fe) = start(
        "    retry-on 503\n    http-request disable-l7-retry if METH_POST\n",
        &[bad.addr],
    );
    let r = get(
        fe,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(r.status, 503);
    assert_eq!(bad.seen().len(), 1);
    // A GET is still retried.
    let bad2 = Scripted::start("bad2", |n| {
        if n == 0 {
            Act::Status(503)
        } else {
            Act::Status(200)
        }
    });
    let (_h2, fe2) = start(
        "    retry-on 503\n    http-request disable-l7-retry if METH_POST\n",
        &[bad2.addr],
    );
    assert_eq!(get(fe2, GET).status, 200);
    assert_eq!(bad2.seen().len(), 2);
}

#[test]
fn a_body_not_whole_when_sent_is_never_sent_again() {
    // HAProxy 2.6's rule: only a request entirely in the buffer when it leaves for the
    // server can be sent again.
    let bad = Scripted::start("bad", |n| {
        if n == 0 {
            Act::Status(503)
        } else {
            Act::Status(200)
        }
    });
    let (_h, fe) = start("    retry-on 503\n", &[bad.addr]);
    let mut c = Client::connect(fe);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n");
    thread::sleep(Duration::from_millis(200));
    c.send(b"data");
    let r = c.read().expect("a response");
    assert_eq!(r.status, 503);
    assert_eq!(bad.seen(), vec![("POST".to_string(), 4)]);
}

#[test]
fn a_request_larger_than_the_buffer_is_never_sent_again() {
    let bad = Scripted::start("bad", |n| {
        if n == 0 {
            Act::Status(503)
        } else {
            Act::Status(200)
        }
    });
    let (_h, fe) = start("    retry-on 503\n", &[bad.addr]);
    let body = "x".repeat(20000);
    let r = get(
        fe,
        &format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n{body}"),
    );
    assert_eq!(r.status, 503);
    assert_eq!(bad.seen(), vec![("POST".to_string(), 20000)]);
}

#[test]
fn retry_on_is_checked() {
    for (line, ok) in [
        ("retry-on 503 504 conn-failure", true),
        ("retry-on all-retryable-errors", true),
        ("retry-on none", true),
        ("retry-on 200", false),
        ("retry-on sometimes", false),
        ("retry-on none 503", false),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten be\n    bind 127.0.0.1:{}\n    {line}\n    server s1 127.0.0.1:8080\n",
            free_port()
        );
        let (code, _out, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_eq!(code == 0, ok, "{line}: {err}");
        if !ok {
            assert!(
                err.contains(":8]") || err.contains(":8:"),
                "{line}: the error names the line: {err}"
            );
            assert!(err.contains("'retry-on'"), "{err}");
        }
    }
}
