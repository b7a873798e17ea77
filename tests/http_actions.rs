//! HTTP actions and options end to end: `set-map`/`del-map`/`add-acl`/`del-acl` editing the
//! lists the runtime API shows, `http-after-response` on every response, `early-hint`,
//! `option forwarded`, `http-restrict-req-hdr-names`, `checkcache`, trailer dropping,
//! `idle-close-on-response`, `http-use-proxy-header` and the global `set-var`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::http::{Client, HttpBackend};
use support::*;

const DEFAULTS: &str = "defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
";

/// A backend that records the raw bytes of each request and answers with `answer(path)`,
/// then closes.
struct RawBackend {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

fn request_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if !head.contains("transfer-encoding: chunked") {
        return true;
    }
    let body = &buf[end + 4..];
    (body.starts_with(b"0\r\n") || body.windows(4).any(|w| w == b"\n0\r\n"))
        && body.ends_with(b"\r\n\r\n")
}

impl RawBackend {
    fn start(answer: fn(&str) -> Vec<u8>) -> RawBackend {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        l.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let seen = seen2.clone();
                thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !request_complete(&buf) {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                    seen.lock().unwrap().push(buf);
                    let _ = s.write_all(&answer(&path));
                });
            }
        });
        RawBackend { addr, seen, stop }
    }

    fn cfg_addr(&self) -> String {
        haproxy_addr(self.addr)
    }

    fn seen_text(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends raw bytes on a new connection and reads until the proxy closes.
fn raw(fe: SocketAddr, req: &str) -> String {
    exchange(None, fe, req.as_bytes()).unwrap_or_default()
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

fn status_of(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn get(fe: SocketAddr, path: &str) -> String {
    raw(
        fe,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn map_and_acl_actions_edit_the_runtime_lists() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.map"), "/fixed fixed\n").unwrap();
    std::fs::write(dir.path().join("blocked.acl"), "").unwrap();
    std::fs::write(dir.path().join("seen.map"), "").unwrap();
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
{DEFAULTS}
frontend fe
    bind ${{FE}}
    acl blocked path -f \"${{DIR}}/blocked.acl\"
    acl edit path /set /del /block /unblock
    http-request set-map(\"${{DIR}}/routes.map\") %[url_param(k)] %[url_param(v)] if {{ path /set }}
    http-request del-map(\"${{DIR}}/routes.map\") %[url_param(k)] if {{ path /del }}
    http-request add-acl(\"${{DIR}}/blocked.acl\") %[url_param(p)] if {{ path /block }}
    http-request del-acl(\"${{DIR}}/blocked.acl\") %[url_param(p)] if {{ path /unblock }}
    http-request return status 200 content-type text/plain string ok if edit
    http-request deny if blocked
    use_backend be if {{ path_beg /app }}
    http-request return status 200 content-type text/plain lf-string \"%[path,map(${{DIR}}/routes.map,none)]\" unless {{ path_beg /app }}
backend be
    http-request set-var(txn.p) path
    http-request set-header X-Seen \"%[path,map(${{DIR}}/seen.map,no)]\"
    http-response set-map(\"${{DIR}}/seen.map\") %[var(txn.p)] %[status]
    server s1 {}
",
        be.cfg_addr()
    );
    let h = Halo::builder(&cfg)
        .dir(dir)
        .env("FE", haproxy_addr(fe))
        .start();
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let d = h.dir().to_string_lossy().into_owned();
    let show = |what: &str| -> String {
        cli(&sock, &format!("show {what}"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_once(' ').map(|(_, r)| r).unwrap_or("").to_string())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("|")
    };
    // set-map adds a key, then changes its value; del-map removes it.
    assert_eq!(body_of(&get(fe, "/a")), "none");
    assert_eq!(body_of(&get(fe, "/set?k=/a&v=one")), "ok");
    assert_eq!(body_of(&get(fe, "/a")), "one");
    assert_eq!(body_of(&get(fe, "/set?k=/a&v=two")), "ok");
    assert_eq!(body_of(&get(fe, "/a")), "two");
    assert_eq!(show(&format!("map {d}/routes.map")), "/fixed fixed|/a two");
    // The runtime API edits the same list the actions edit.
    assert_eq!(
        cli(&sock, &format!("set map {d}/routes.map /a three")).unwrap_or_default(),
        "\n"
    );
    assert_eq!(body_of(&get(fe, "/a")), "three");
    assert_eq!(body_of(&get(fe, "/del?k=/a")), "ok");
    assert_eq!(body_of(&get(fe, "/a")), "none");
    assert_eq!(show(&format!("map {d}/routes.map")), "/fixed fixed");
    // add-acl / del-acl.
    assert_eq!(status_of(&get(fe, "/x")), 200);
    assert_eq!(body_of(&get(fe, "/block?p=/x")), "ok");
    assert_eq!(body_of(&get(fe, "/block?p=/x")), "ok");
    assert_eq!(status_of(&get(fe, "/x")), 403);
    assert_eq!(show(&format!("acl {d}/blocked.acl")), "/x");
    assert_eq!(body_of(&get(fe, "/unblock?p=/x")), "ok");
    assert_eq!(status_of(&get(fe, "/x")), 200);
    assert_eq!(show(&format!("acl {d}/blocked.acl")), "");
    // http-response set-map: the next request sees what the previous response stored.
    assert_eq!(status_of(&get(fe, "/app/1")), 200);
    assert_eq!(show(&format!("map {d}/seen.map")), "/app/1 200");
    assert_eq!(status_of(&get(fe, "/app/1")), 200);
    let seen = be.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("x-seen"), Some("no"));
    assert_eq!(seen[1].header("x-seen"), Some("200"));
}

#[test]
fn after_response_rules_apply_to_every_response() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind ${{FE}}
    http-request set-var(txn.skip) bool(1) if {{ query skip }}
    http-request return status 200 content-type text/plain string returned if {{ path_beg /ret }}
    http-request deny if {{ path /deny }}
    http-request redirect location /elsewhere if {{ path /redir }}
    use_backend empty if {{ path /none }}
    default_backend be
    http-after-response allow if {{ var(txn.skip) -m found }}
    http-after-response set-header X-After yes
    http-after-response set-header X-Order \"%[res.hdr(X-Order)]-fe\"
    http-after-response set-var(txn.st) status
    http-after-response set-header X-Status %[var(txn.st)]
    http-after-response del-header X-Server
    http-after-response set-status 418 if {{ status 503 }}
backend be
    http-after-response set-header X-Order be
    http-after-response replace-value X-Order ^be$ backend
    server s1 {}
backend empty
",
        be.cfg_addr()
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    let mut c = Client::connect(fe);
    let r = c.get("/srv", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-after"), Some("yes"));
    assert_eq!(r.header("x-order"), Some("backend-fe"));
    assert_eq!(r.header("x-status"), Some("200"));
    assert_eq!(r.header("x-server"), None);
    // Answers made by the proxy itself, on the same connection.
    let r = c.get("/ret", "");
    assert_eq!((r.status, r.body.as_str()), (200, "returned"));
    assert_eq!(r.header("x-after"), Some("yes"));
    assert_eq!(r.header("x-order"), Some("-fe"));
    let r = c.get("/redir", "");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("x-after"), Some("yes"));
    assert_eq!(r.header("x-status"), Some("302"));
    // `allow` ends the list.
    let r = c.get("/ret?skip", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-after"), None);
    let r = c.get("/deny", "");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-after"), Some("yes"));
    assert_eq!(r.header("x-status"), Some("403"));
    // An error page: no server, 503, turned into a 418.
    let resp = get(fe, "/none");
    assert_eq!(status_of(&resp), 418, "{resp}");
    assert!(resp.to_ascii_lowercase().contains("x-after: yes"), "{resp}");
}

#[test]
fn early_hints_come_before_the_response() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind ${{FE}}
    http-request early-hint Link \"</style.css>; rel=preload\"
    http-request early-hint Link \"</app.js>; rel=preload\" if {{ path /two }}
    http-request early-hint X-Same \"one\" if {{ path /two }}
    http-request early-hint X-Same \"two\"
    http-request return status 200 content-type text/plain string here if {{ path /ret }}
    default_backend be
backend be
    server s1 {}
",
        be.cfg_addr()
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    let mut c = Client::connect(fe);
    let r = c.get("/two", "");
    assert_eq!(r.status, 103);
    let links: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(links, ["</style.css>; rel=preload"]);
    // A conditional `early-hint` starts another interim response.
    let r = c.read().expect("second 103");
    assert_eq!(r.status, 103);
    assert_eq!(r.header("link"), Some("</app.js>; rel=preload"));
    // ... and an unconditional one after it continues that response.
    let r = c.read().expect("third 103");
    assert_eq!(r.status, 103);
    let same: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-same"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(same, ["one", "two"]);
    let r = c.read().expect("final response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "app /two 0\n");
    // Before an answer of the proxy as well.
    let r = c.get("/ret", "");
    assert_eq!(r.status, 103);
    assert_eq!(r.header("link"), Some("</style.css>; rel=preload"));
    let r = c.read().expect("second 103");
    assert_eq!((r.status, r.header("x-same")), (103, Some("two")));
    let r = c.read().expect("final response");
    assert_eq!((r.status, r.body.as_str()), (200, "here"));
    // HTTP/1.0 clients get no interim response.
    let resp = raw(fe, "GET /one HTTP/1.0\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(!resp.contains("103"), "{resp}");
}

#[test]
fn option_forwarded_adds_the_rfc7239_header() {
    if skip_on_reference("HAProxy 2.6 has no 'option forwarded' (2.8+)") {
        return;
    }
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend fe
    bind ${{FE}}
    use_backend full if {{ path /full }}
    use_backend custom if {{ path /custom }}
    default_backend plain
backend plain
    option forwarded
    server s1 {b}
backend full
    option forwarded proto host by by_port for
    server s1 {b}
backend custom
    option forwarded host-expr str(h.example) by-expr str(_lb) for-expr str(abc) for_port-expr int(10)
    server s1 {b}
",
        b = be.cfg_addr()
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    for p in ["/plain", "/full", "/custom"] {
        assert_eq!(status_of(&get(fe, p)), 200);
    }
    let seen = be.seen();
    assert_eq!(
        seen[0].header("forwarded"),
        Some("proto=http;for=127.0.0.1")
    );
    assert_eq!(
        seen[1].header("forwarded"),
        Some(
            format!(
                "proto=http;host=\"test\";by=\"127.0.0.1:{}\";for=127.0.0.1",
                fe.port()
            )
            .as_str()
        )
    );
    assert_eq!(
        seen[2].header("forwarded"),
        Some("host=\"h.example\";by=_lb;for=\"_abc:10\"")
    );
}

#[test]
fn restrict_request_header_names() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let (fe1, fe2, fe3) = (free_addr(), free_addr(), free_addr());
    let cfg = format!(
        "{DEFAULTS}
frontend del
    bind ${{FE_1}}
    option http-restrict-req-hdr-names delete
    default_backend be
frontend rej
    bind ${{FE_2}}
    option http-restrict-req-hdr-names reject
    default_backend be
frontend keep
    bind ${{FE_3}}
    option http-restrict-req-hdr-names preserve
    default_backend be
backend be
    server s1 {}
",
        be.cfg_addr()
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE_1", haproxy_addr(fe1)),
            ("FE_2", haproxy_addr(fe2)),
            ("FE_3", haproxy_addr(fe3)),
        ],
    );
    let req = "GET / HTTP/1.1\r\nHost: test\r\nX_Under: 1\r\nX-Dash: 2\r\nX.Dot: 3\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&raw(fe1, req)), 200);
    let seen = be.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x_under"), None);
    assert_eq!(seen[0].header("x.dot"), None);
    assert_eq!(seen[0].header("x-dash"), Some("2"));
    assert_eq!(status_of(&raw(fe2, req)), 403);
    assert_eq!(be.seen().len(), 1);
    let clean = "GET / HTTP/1.1\r\nHost: test\r\nX-Dash: 2\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&raw(fe2, clean)), 200);
    assert_eq!(status_of(&raw(fe3, req)), 200);
    let seen = be.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].header("x_under"), Some("1"));
}

fn cookie_answers(path: &str) -> Vec<u8> {
    let extra = match path {
        "/cookie" => "Set-Cookie: sid=1\r\n",
        "/etag" | "/etag500" => "Set-Cookie: sid=1\r\nETag: \"x\"\r\n",
        "/expires" => "Set-Cookie: sid=1\r\nExpires: Thu, 01 Dec 2094 16:00:00 GMT\r\n",
        "/maxage" => "Set-Cookie: sid=1\r\nCache-Control: max-age=60\r\n",
        "/maxage0" => "Set-Cookie: sid=1\r\nCache-Control: max-age=0\r\n",
        "/private" => "Set-Cookie: sid=1\r\nETag: \"x\"\r\nCache-Control: private\r\n",
        "/nocache" => {
            "Set-Cookie: sid=1\r\nETag: \"x\"\r\nCache-Control: no-cache=\"set-cookie\"\r\n"
        }
        "/pragma" => "Set-Cookie: sid=1\r\nETag: \"x\"\r\nPragma: no-cache\r\n",
        _ => "ETag: \"x\"\r\n",
    };
    let status = if path.ends_with("500") {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok")
        .into_bytes()
}

#[test]
fn checkcache_blocks_cacheable_cookies() {
    let be = RawBackend::start(cookie_answers);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
listen app
    bind ${{FE}}
    option checkcache
    server s1 {}
",
        be.cfg_addr()
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    // Whether the server's response was blocked. The manual says 502; HAProxy 2.6 blocks it
    // but answers with its 200 page ("Service ready"), a bug of that version.
    let blocked = |method: &str, path: &str| -> bool {
        let resp = raw(
            fe,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        );
        let passed = resp.ends_with("\r\n\r\nok");
        if !passed && !is_reference_haproxy() {
            assert_eq!(status_of(&resp), 502, "{resp}");
        }
        !passed
    };
    for p in ["/etag", "/expires", "/maxage"] {
        assert!(blocked("GET", p), "{p}");
    }
    for p in [
        "/plain", "/cookie", "/maxage0", "/private", "/nocache", "/pragma", "/etag500",
    ] {
        assert!(!blocked("GET", p), "{p}");
    }
    // Not cacheable: a POST.
    assert!(!blocked("POST", "/etag"));
}

fn trailer_answers(_path: &str) -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\nX-Res-Trailer: 1\r\n\r\n"
        .to_vec()
}

#[test]
fn trailers_dropped_when_asked() {
    if skip_on_reference("the trailer options are HAProxy 3.x options") {
        return;
    }
    let be = RawBackend::start(trailer_answers);
    let (fe1, fe2) = (free_addr(), free_addr());
    let cfg = format!(
        "{DEFAULTS}
frontend drop
    bind ${{FE_1}}
    option http-drop-response-trailers
    default_backend drop_be
frontend keep
    bind ${{FE_2}}
    default_backend keep_be
backend drop_be
    option http-drop-request-trailers
    server s1 {b}
backend keep_be
    server s1 {b}
",
        b = be.cfg_addr()
    );
    let _h = Halo::start(
        &cfg,
        &[("FE_1", haproxy_addr(fe1)), ("FE_2", haproxy_addr(fe2))],
    );
    let req = "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Req-Trailer: 1\r\n\r\n";
    let dropped = raw(fe1, req);
    let kept = raw(fe2, req);
    assert!(dropped.starts_with("HTTP/1.1 200"), "{dropped:?} {kept:?}");
    assert!(!dropped.contains("X-Res-Trailer"), "{dropped}");
    // (the answer comes trimmed)
    assert!(dropped.ends_with("ok\r\n0"), "{dropped}");
    assert!(kept.contains("X-Res-Trailer: 1"), "{kept}");
    let seen = be.seen_text();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].contains("X-Req-Trailer"), "{}", seen[0]);
    assert!(seen[0].ends_with("0\r\n\r\n"), "{}", seen[0]);
    assert!(seen[1].contains("X-Req-Trailer: 1"), "{}", seen[1]);
}

#[test]
fn global_set_var_fills_process_variables() {
    let fe = free_addr();
    let cfg = format!(
        "global
    set-var proc.name str(primary)
    set-var proc.prio int(100)
    set-var proc.threshold int(300),sub(200)
    set-var-fmt proc.label \"node-%[var(proc.name)]\"
{DEFAULTS}
frontend fe
    bind ${{FE}}
    http-request set-var(proc.hits) var(proc.hits),add(1) if {{ var(proc.hits) -m found }}
    http-request set-var(proc.hits) int(1) unless {{ var(proc.hits) -m found }}
    http-request return status 200 content-type text/plain lf-string \"%[var(proc.label)] %[var(proc.threshold)] %[var(proc.hits)]\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    assert_eq!(body_of(&get(fe, "/")), "node-primary 100 1");
    assert_eq!(body_of(&get(fe, "/")), "node-primary 100 2");
}

#[test]
fn idle_close_on_response_and_proxy_options() {
    let be = HttpBackend::start("app", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}
userlist users
    user admin insecure-password secret
frontend fe
    bind ${{FE}}
    option idle-close-on-response
    option http-use-proxy-header
    option http-no-delay
    http-request auth if {{ path_beg /private }} !{{ http_auth(users) }}
    http-request auth if {{ path_beg http://test/private }} !{{ http_auth(users) }}
    default_backend be
backend be
    option http-no-delay
    server s1 {}
",
        be.cfg_addr()
    );
    let h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    // A request in proxy form is challenged for proxy authentication.
    let r = raw(
        fe,
        "GET http://test/private HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&r), 407, "{r}");
    assert!(
        r.to_ascii_lowercase().contains("proxy-authenticate:"),
        "{r}"
    );
    let r = get(fe, "/private");
    assert_eq!(status_of(&r), 401, "{r}");
    // As in HAProxy 2.6, the option changes authentication only: `Proxy-Connection` does
    // not end the client connection.
    let r = raw(
        fe,
        "GET http://test/a HTTP/1.1\r\nHost: test\r\nProxy-Connection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.matches("HTTP/1.1 200").count(), 2, "{r}");
    assert_eq!(be.seen().len(), 2);
    // An idle keep-alive connection survives a soft stop and gets one more response, which
    // says the connection closes.
    let mut c = Client::connect(fe);
    assert_eq!(c.get("/a", "").status, 200);
    assert!(h.signal(libc::SIGUSR1));
    assert!(wait_until(Duration::from_secs(5), || !anyone_listening(fe)));
    let r = c.get("/b", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("connection").map(str::to_ascii_lowercase),
        Some("close".into())
    );
    assert!(c.closed());
}
