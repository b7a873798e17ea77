//! HTTP rules end to end: seed 06's legacy `reqidel`/`reqirep` and its content switching,
//! seed 09's `bk_xlb` (`set-header X-LB` then `balance hdr(X-LB)`), `deny`/`return`/
//! `redirect`/`tarpit` answers, header and URI rewrites, variables, `monitor-uri`,
//! `use_backend %[...]` and `http-response` rules, against the real binary.

mod support;

use std::io::BufRead;
use std::time::{Duration, Instant};

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// Seed 06 without its persistence (`cookie PHPSESSID prefix`, servers' `cookie`) and
/// health checks (`option httpchk`, `http-check`, servers' `check`), so that the backends
/// see only the traffic these tests send; tests/cookies.rs runs seed 06 unchanged.
/// Everything this test checks is kept as written: the ACLs, `use_backend`, `balance
/// uri`, `reqidel` and `reqirep`.
fn seed06_without_persistence_and_checks() -> String {
    seed_text("06-news-content-switching.cfg")
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("cookie ")
                || t.starts_with("option httpchk")
                || t.starts_with("http-check"))
        })
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("server ") {
                // `server APP1 "${S1}" cookie app1 check` → `server APP1 "${S1}"`
                let words: Vec<&str> = t.split_whitespace().take(3).collect();
                format!("    {}", words.join(" "))
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn seed06_content_switching_and_accept_encoding() {
    if skip_on_reference("reqidel/reqirep were removed in HAProxy 2.1") {
        return;
    }
    let app1 = HttpBackend::start("app1", Duration::ZERO);
    let app2 = HttpBackend::start("app2", Duration::ZERO);
    let cache1 = HttpBackend::start("cache1", Duration::ZERO);
    let cache2 = HttpBackend::start("cache2", Duration::ZERO);
    let fe = free_addr();
    let cfg = seed06_without_persistence_and_checks();
    assert!(cfg.contains("reqidel ^Accept-Encoding unless { hdr_sub(Accept-Encoding) gzip }"));
    assert!(cfg.contains("reqirep ^Accept-Encoding:\\ .*gzip.* Accept-Encoding:\\ gzip"));
    let h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", app1.cfg_addr()),
            ("S2", app2.cfg_addr()),
            ("S3", cache1.cfg_addr()),
            ("S4", cache2.cfg_addr()),
        ],
    );
    // The legacy keywords are accepted with a warning naming the modern ones.
    let err = h.stderr_text();
    assert!(
        err.contains("'reqidel' is the 1.x syntax; use 'http-request del-header'"),
        "{err}"
    );
    assert!(
        err.contains("'reqirep' is the 1.x syntax; use 'http-request replace-header'"),
        "{err}"
    );
    let mut c = Client::connect(fe);
    for (req, app) in [
        ("GET /user/42 HTTP/1.1\r\nHost: news\r\n\r\n", true),
        ("GET /profile HTTP/1.1\r\nHost: news\r\n\r\n", true),
        (
            "POST /articles/1 HTTP/1.1\r\nHost: news\r\nContent-Length: 3\r\n\r\nabc",
            true,
        ),
        ("GET /articles/1 HTTP/1.1\r\nHost: news\r\n\r\n", false),
        ("GET /users HTTP/1.1\r\nHost: news\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nHost: news\r\n\r\n", false),
        ("GET /img/a.png HTTP/1.1\r\nHost: news\r\n\r\n", false),
    ] {
        c.send(req.as_bytes());
        let r = c.read().expect("response");
        assert_eq!(r.status, 200);
        let server = r.header("x-server").unwrap_or_default().to_string();
        assert_eq!(server.starts_with("app"), app, "{req:?} went to {server}");
    }
    // CACHE: Accept-Encoding rewritten to exactly "gzip" when it names gzip, removed
    // otherwise; APPLICATION requests keep it.
    let cases = [
        ("/a1", "Accept-Encoding: gzip, deflate\r\n", Some("gzip")),
        (
            "/a2",
            "Accept-Encoding: deflate, gzip;q=0.5\r\n",
            Some("gzip"),
        ),
        ("/a3", "Accept-Encoding: deflate, br\r\n", None),
        ("/a4", "Accept-Encoding: identity\r\nX-Other: 1\r\n", None),
        ("/a5", "", None),
    ];
    for (path, extra, _) in &cases {
        let r = c.get(path, extra);
        assert_eq!(r.status, 200);
    }
    let r = c.get("/user/ae", "Accept-Encoding: deflate, br\r\n");
    assert!(r.header("x-server").unwrap_or_default().starts_with("app"));
    let mut cache_seen = cache1.seen();
    cache_seen.extend(cache2.seen());
    for (path, _, want) in &cases {
        let s = cache_seen
            .iter()
            .find(|s| s.target == *path)
            .unwrap_or_else(|| panic!("{path} never reached a cache"));
        let values: Vec<&str> = s
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v.as_str())
            .collect();
        match want {
            Some(w) => assert_eq!(values, vec![*w], "{path}"),
            None => assert!(values.is_empty(), "{path}: {values:?}"),
        }
        if *path == "/a4" {
            assert_eq!(s.header("x-other"), Some("1"));
        }
    }
    let mut app_seen = app1.seen();
    app_seen.extend(app2.seen());
    let s = app_seen
        .iter()
        .find(|s| s.target == "/user/ae")
        .expect("/user/ae");
    assert_eq!(s.header("accept-encoding"), Some("deflate, br"));
    // balance uri: one path always reaches the same cache.
    let first = c
        .get("/same/path", "")
        .header("x-server")
        .map(str::to_string);
    for _ in 0..4 {
        let mut c2 = Client::connect(fe);
        assert_eq!(
            c2.get("/same/path", "")
                .header("x-server")
                .map(str::to_string),
            first
        );
    }
}

#[test]
fn seed09_xlb_header_and_hash() {
    if skip_on_reference("req.uri is not a fetch of HAProxy 2.6") {
        return;
    }
    let v1 = HttpBackend::start("v1", Duration::ZERO);
    let v2 = HttpBackend::start("v2", Duration::ZERO);
    let v3 = HttpBackend::start("v3", Duration::ZERO);
    let xlb = free_addr();
    let _h = Halo::start(
        &seed_text("09-hash-balancing.cfg"),
        &[
            ("FE_URI", haproxy_addr(free_addr())),
            ("FE_WHOLE", haproxy_addr(free_addr())),
            ("FE_PARAM", haproxy_addr(free_addr())),
            ("FE_HOST", haproxy_addr(free_addr())),
            ("FE_XLB", haproxy_addr(xlb)),
            ("S1", v1.cfg_addr()),
            ("S2", v2.cfg_addr()),
            ("S3", v3.cfg_addr()),
        ],
    );
    let keys = [
        ("Www.Example.COM", "/Index.HTML?A=1"),
        ("static.example.com", "/img/logo.png"),
        ("a.b", "/"),
        ("A.B", "/X"),
        ("news.example.org", "/2024/10/Story"),
        ("shop.example.net", "/cart?id=7"),
    ];
    let mut chosen = Vec::new();
    for (host, uri) in keys {
        let mut servers = Vec::new();
        for _ in 0..3 {
            let mut c = Client::connect(xlb);
            c.send(format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
            let r = c.read().expect("response");
            assert_eq!(r.status, 200);
            servers.push(r.header("x-server").unwrap_or_default().to_string());
        }
        assert!(
            servers.iter().all(|s| *s == servers[0]),
            "{host}{uri}: {servers:?}"
        );
        chosen.push(servers[0].clone());
    }
    // Every server received X-LB = lower(Host) + lower(URI).
    let mut all = v1.seen();
    all.extend(v2.seen());
    all.extend(v3.seen());
    assert_eq!(all.len(), keys.len() * 3);
    for (host, uri) in keys {
        let want = format!("{}{}", host.to_lowercase(), uri.to_lowercase());
        let hits: Vec<&Seen> = all.iter().filter(|s| s.target == uri).collect();
        assert!(!hits.is_empty());
        for s in hits {
            assert_eq!(s.header("x-lb"), Some(want.as_str()), "{host}{uri}");
        }
    }
    // The same key on different requests reaches the same server: "a.b/" and "A.B/X"
    // differ, but "a.b" with "/" and "A.B" with "/" are the same key.
    let mut c = Client::connect(xlb);
    let r = c.get("/", "").header("x-server").map(str::to_string);
    c.send(b"GET / HTTP/1.1\r\nHost: A.B\r\n\r\n");
    let again = c.read().unwrap();
    let mut c3 = Client::connect(xlb);
    c3.send(b"GET / HTTP/1.1\r\nHost: a.b\r\n\r\n");
    let third = c3.read().unwrap();
    assert_eq!(again.header("x-server"), third.header("x-server"));
    assert_eq!(
        again.header("x-server").map(str::to_string),
        Some(chosen[2].clone())
    );
    let _ = r;
}

#[test]
fn deny_return_redirect_answers() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    acl blocked path_beg /admin\n    http-request deny if blocked\n    http-request deny deny_status 404 if {{ path /hidden }}\n    http-request deny status 429 content-type text/plain string \"slow down\" hdr Retry-After 10 if {{ path /busy }}\n    http-request return status 200 content-type \"text/plain\" lf-string \"pong from %[req.hdr(host)]\" hdr X-Path %[path] if {{ path /ping }}\n    http-request return status 204 if {{ path /empty }}\n    http-request redirect location https://example.com/new code 301 if {{ path /old }}\n    http-request redirect scheme https if {{ path_beg /secure }}\n    http-request redirect prefix /v2 drop-query if {{ path_beg /api }}\n    redirect location /moved if {{ path /legacy }}\n    http-request reject if {{ path /reject }}\n    default_backend b\nbackend b\n    timeout tarpit 300ms\n    http-request tarpit deny_status 403 if {{ path /slow }}\n    server s1 \"${{S1}}\"\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    let r = c.get("/admin/x", "");
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("Request forbidden by administrative rules.")
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = c.get("/hidden", "");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("The resource could not be found."));
    let r = c.get("/busy", "");
    assert_eq!((r.status, r.body.as_str()), (429, "slow down"));
    assert_eq!(r.header("retry-after"), Some("10"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = c.get("/ping", "");
    assert_eq!((r.status, r.body.as_str()), (200, "pong from test"));
    assert_eq!(r.header("x-path"), Some("/ping"));
    let r = c.get("/empty", "");
    assert_eq!((r.status, r.header("content-length")), (204, None));
    let r = c.get("/old", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://example.com/new"));
    assert_eq!(r.header("cache-control"), None);
    let r = c.get("/secure/page?x=1", "");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://test/secure/page?x=1"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let r = c.get("/api/users?id=3", "");
    assert_eq!(r.header("location"), Some("/v2/api/users"));
    let r = c.get("/legacy", "");
    assert_eq!((r.status, r.header("location")), (302, Some("/moved")));
    // The connection stayed open through all of this, and still reaches the server.
    let r = c.get("/fine", "");
    assert_eq!((r.status, r.body.as_str()), (200, "b /fine 0\n"));
    // A denied request with a body: the body is skipped, the next request is served.
    c.send(b"POST /admin HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(c.read().unwrap().status, 403);
    let r = c.get("/after-body", "");
    assert_eq!(r.body, "b /after-body 0\n");
    // HTTP/1.0 without keep-alive: the answer says close and the connection ends.
    let mut c10 = Client::connect(fe);
    c10.send(b"GET /admin HTTP/1.0\r\n\r\n");
    let r = c10.read().unwrap();
    assert_eq!((r.status, r.header("connection")), (403, Some("close")));
    assert!(c10.closed());
    // HEAD: the head of the answer only.
    let mut ch = Client::connect(fe);
    ch.send(b"HEAD /ping HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut line = String::new();
    ch.r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"));
    // reject: closed without an answer.
    let mut cr = Client::connect(fe);
    cr.send(b"GET /reject HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(cr.read().is_none());
    // tarpit (backend rule): answered after `timeout tarpit`, with the status asked.
    let mut ct = Client::connect(fe);
    let t0 = Instant::now();
    let r = ct.get("/slow", "");
    assert_eq!(r.status, 403);
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );
    // None of these reached the server.
    let targets: Vec<String> = be.seen().iter().map(|s| s.target.clone()).collect();
    assert_eq!(targets, vec!["/fine", "/after-body"]);
}

#[test]
fn header_and_uri_rewrites() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "global\n    expose-experimental-directives\n{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request set-header X-Forwarded-Proto http\n    http-request add-header X-Via halo-%[req.hdr(host)]\n    http-request del-header X-Secret\n    http-request del-header x-debug- -m beg\n    http-request replace-header User-Agent ^curl/(.*)$ agent-\\1\n    http-request replace-value X-List ^a(.*) b\\1\n    http-request set-path /app%[path] if {{ path_beg /p/ }}\n    http-request set-query lang=en if {{ path_beg /q }}\n    http-request set-uri /fixed?by=uri if {{ path /u }}\n    http-request set-method POST if {{ path /m }}\n    http-request normalize-uri path-merge-slashes\n    http-request normalize-uri path-strip-dotdot\n    default_backend b\nbackend b\n    http-request set-header X-Backend %[be_name]\n    server s1 \"${{S1}}\"\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    let r = c.get(
        "/p/one",
        "X-Forwarded-Proto: https\r\nX-Secret: s\r\nX-Debug-A: 1\r\nx-debug-b: 2\r\nUser-Agent: curl/8.1\r\nX-List: a1, c2,a3\r\n",
    );
    assert_eq!(r.status, 200);
    c.get("/q", "");
    c.get("/q2?x=1", "");
    c.get("/u", "");
    c.get("/m", "");
    c.get("//a//b/../c", "");
    let seen = be.seen();
    let s = &seen[0];
    assert_eq!(s.target, "/app/p/one");
    assert_eq!(s.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        s.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-proto"))
            .count(),
        1
    );
    assert_eq!(s.header("x-via"), Some("halo-test"));
    assert_eq!(s.header("x-secret"), None);
    assert_eq!(s.header("x-debug-a"), None);
    assert_eq!(s.header("x-debug-b"), None);
    assert_eq!(s.header("user-agent"), Some("agent-8.1"));
    assert_eq!(s.header("x-list"), Some("b1, c2,b3"));
    assert_eq!(s.header("x-backend"), Some("b"));
    assert_eq!(seen[1].target, "/q?lang=en");
    assert_eq!(seen[2].target, "/q2?lang=en");
    assert_eq!(seen[3].target, "/fixed?by=uri");
    assert_eq!(
        (seen[4].method.as_str(), seen[4].target.as_str()),
        ("POST", "/m")
    );
    assert_eq!(seen[5].target, "/a/c");
}

#[test]
fn variables_and_dynamic_backends() {
    let blue = HttpBackend::start("blue", Duration::ZERO);
    let green = HttpBackend::start("green", Duration::ZERO);
    let dflt = HttpBackend::start("default", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request set-var(txn.color) req.hdr(x-color),lower\n    http-request set-var(txn.color) str(none) unless {{ var(txn.color) -m found }}\n    http-request set-var-fmt(txn.tag) %[var(txn.color)]@%[path]\n    http-request set-var(sess.count) int(1) unless {{ var(sess.count) -m found }}\n    http-request set-header X-Tag %[var(txn.tag)]\n    http-request set-header X-Sess %[var(sess.count)]\n    http-request deny deny_status 403 if {{ var(txn.color) -m str red }}\n    use_backend bk_%[var(txn.color)] if {{ var(txn.color) -m found }}\n    default_backend bk_default\nbackend bk_blue\n    server s \"${{S1}}\"\nbackend bk_green\n    server s \"${{S2}}\"\nbackend bk_default\n    server s \"${{S3}}\"\n"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", blue.cfg_addr()),
            ("S2", green.cfg_addr()),
            ("S3", dflt.cfg_addr()),
        ],
    );
    let mut c = Client::connect(fe);
    assert_eq!(
        c.get("/a", "X-Color: BLUE\r\n").header("x-server"),
        Some("blue")
    );
    assert_eq!(
        c.get("/b", "X-Color: green\r\n").header("x-server"),
        Some("green")
    );
    // A name that is no backend falls back to default_backend, as in HAProxy.
    assert_eq!(
        c.get("/c", "X-Color: purple\r\n").header("x-server"),
        Some("default")
    );
    assert_eq!(c.get("/d", "").header("x-server"), Some("default"));
    assert_eq!(c.get("/e", "X-Color: red\r\n").status, 403);
    let s = blue.seen();
    assert_eq!(s[0].header("x-tag"), Some("blue@/a"));
    assert_eq!(s[0].header("x-sess"), Some("1"));
    // txn variables do not survive the transaction: /d has no color.
    let d = dflt.seen();
    assert_eq!(d[0].header("x-tag"), Some("purple@/c"));
    assert_eq!(d[1].header("x-tag"), Some("none@/d"));
    assert_eq!(d[1].header("x-sess"), Some("1"));
}

#[test]
fn monitor_uri_and_monitor_fail() {
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let fe2 = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    monitor-uri /health\n    monitor fail if {{ nbsrv(b_dead) eq 0 }} {{ req.hdr(x-check-dead) -m found }}\n    http-request deny\n    default_backend b\nfrontend f2\n    bind \"${{FE_2}}\"\n    monitor-uri /haproxycheck\n    monitor fail if {{ nbsrv(b_dead) eq 0 }}\n    default_backend b\nbackend b\n    server s1 \"${{S1}}\"\nbackend b_dead\n    server s1 \"${{S1}}\" disabled\n"
    );
    let _h = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_2", haproxy_addr(fe2)),
            ("S1", be.cfg_addr()),
        ],
    );
    let mut c = Client::connect(fe);
    // Answered before the http-request rules (which deny everything else).
    let r = c.get("/health", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
    );
    let r = c.get("/health", "X-Check-Dead: 1\r\n");
    assert_eq!(r.status, 503);
    assert!(r.body.contains("503 Service Unavailable"));
    assert_eq!(c.get("/other", "").status, 403);
    let mut c2 = Client::connect(fe2);
    assert_eq!(c2.get("/haproxycheck", "").status, 503);
    assert_eq!(c2.get("/page", "").status, 200);
    // Only /page was forwarded.
    let targets: Vec<String> = be.seen().iter().map(|s| s.target.clone()).collect();
    assert_eq!(targets, vec!["/page"]);
}

#[test]
fn http_response_rules() {
    let be = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request set-var(txn.path) path\n    http-response set-header X-Frontend seen-%[res.hdr(x-backend-rule)]\n    default_backend b\nbackend b\n    http-response set-header X-Backend-Rule yes\n    http-response del-header X-Server\n    http-response set-header X-Req-Path %[var(txn.path)]\n    http-response set-status 418 if {{ var(txn.path) -m str /teapot }}\n    http-response deny if {{ var(txn.path) -m str /secret }}\n    http-response redirect location /login if {{ var(txn.path) -m str /private }}\n    server s1 \"${{S1}}\"\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    let r = c.get("/x", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-server"), None);
    assert_eq!(r.header("x-req-path"), Some("/x"));
    // Backend rules run first: the frontend sees what they added.
    assert_eq!(r.header("x-frontend"), Some("seen-yes"));
    assert_eq!(r.body, "srv /x 0\n");
    let r = c.get("/teapot", "");
    assert_eq!(r.status, 418);
    let r = c.get("/secret", "");
    assert_eq!(r.status, 502);
    assert!(r.body.contains("502 Bad Gateway"));
    let r = c.get("/private", "");
    assert_eq!((r.status, r.header("location")), (302, Some("/login")));
    // The client connection survived the replaced responses.
    let r = c.get("/again", "");
    assert_eq!((r.status, r.body.as_str()), (200, "srv /again 0\n"));
}

#[test]
fn unimplemented_actions_are_refused_at_start() {
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request set-mark 1\n    default_backend b\nbackend b\n    server s1 127.0.0.1:1\n"
    );
    if skip_on_reference("halo's own refusal message") {
        return;
    }
    // `-c` accepts it (valid HAProxy), starting refuses it with a clear message.
    let (code, _, _) = run_check(Cfg::Text(&cfg), &[("FE", haproxy_addr(fe))]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.cfg");
    std::fs::write(&p, &cfg).unwrap();
    let out = run_bin(
        &["-db".into(), "-f".into(), p.into_os_string()],
        &[("FE", haproxy_addr(fe))],
        Duration::from_secs(10),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("'http-request set-mark' is valid HAProxy configuration but halo does not implement it yet"), "{}", out.stderr);
}

#[test]
fn rules_cannot_change_how_a_body_is_framed() {
    if skip_on_reference("halo keeps the framing of messages whatever rules do") {
        return;
    }
    let be = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-request del-header Content-Length\n    http-request set-header Transfer-Encoding gzip if {{ path /te }}\n    default_backend b\nbackend b\n    server s1 \"${{S1}}\"\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let mut c = Client::connect(fe);
    c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(c.read().unwrap().body, "b /up 5\n");
    c.send(b"POST /te HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(c.read().unwrap().body, "b /te 3\n");
    let r = c.get("/next", "");
    assert_eq!(r.body, "b /next 0\n");
    let seen = be.seen();
    assert_eq!(seen[0].header("content-length"), Some("5"));
    assert_eq!(seen[1].header("transfer-encoding"), None);
}

#[test]
fn header_captures_fill_the_frontend_slots() {
    let s = HttpBackend::start("srv", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend fe
    bind \"${{FE}}\"
    capture request header Host len 5
    declare capture request len 4
    http-request capture path id 1
    capture response header X-Server len 2
    capture cookie SESS len 9
    http-response set-header X-Cap \"%[capture.req.hdr(0)]|%[capture.req.hdr(1)]|%[capture.res.hdr(0)]\"
    default_backend be
backend be
    server s \"${{S1}}\"
"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let mut c = Client::connect(fe);
    // The Host value is captured, cut to 5 characters.
    c.send(b"GET /abcdef HTTP/1.1\r\nHost: example.org\r\nCookie: a=1; SESSION=xyz123\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cap"), Some("examp|/abc|sr"));
    // Slots are per transaction: a request without Host leaves slot 0 empty.
    c.send(b"GET /z HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read().expect("response");
    assert_eq!(r.header("x-cap"), Some("|/z|sr"));
}

/// A `disabled` or `be-unpublished` backend is skipped by content switching (the next rule
/// or the default backend answers) unless a `force-be-switch` condition holds;
/// `publish backend` / `unpublish backend` on the runtime API switch it on and off.
#[test]
fn unpublished_and_disabled_backends_are_skipped_unless_forced() {
    if skip_on_reference("be-unpublished, force-be-switch and skipping disabled backends are 3.x") {
        return;
    }
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n{DEFAULTS}frontend fe\n    bind \"${{FE}}\"\n    force-be-switch if {{ req.hdr(x-force) 1 }}\n    use_backend hidden if {{ path_beg /h }}\n    use_backend off if {{ path_beg /o }}\n    default_backend main\nbackend hidden\n    be-unpublished\n    http-request return status 200 content-type text/plain string \"hidden\"\nbackend off\n    disabled\n    http-request return status 200 content-type text/plain string \"off\"\nbackend main\n    http-request return status 200 content-type text/plain string \"main\"\n"
    );
    let h = Halo::builder(&cfg).env("FE", haproxy_addr(fe)).start();
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let body = |path: &str, extra: &str| {
        let mut c = Client::connect(fe);
        c.get(path, extra).body
    };
    assert_eq!(body("/h", ""), "main");
    assert_eq!(body("/o", ""), "main");
    assert_eq!(body("/h", "x-force: 1\r\n"), "hidden");
    assert_eq!(body("/o", "x-force: 1\r\n"), "off");
    assert_eq!(cli(&sock, "publish backend hidden").unwrap(), "\n");
    assert_eq!(body("/h", ""), "hidden");
    assert_eq!(cli(&sock, "unpublish backend hidden").unwrap(), "\n");
    assert_eq!(body("/h", ""), "main");
    assert_eq!(
        cli(&sock, "publish backend nope").unwrap(),
        "No such backend.\n\n"
    );
    // Every backend skipped: 503.
    let fe2 = free_addr();
    let _h2 = Halo::start(
        &format!(
            "{DEFAULTS}frontend fe\n    bind \"${{FE}}\"\n    default_backend hidden\nbackend hidden\n    be-unpublished\n    http-request return status 200 content-type text/plain string \"hidden\"\n"
        ),
        &[("FE", haproxy_addr(fe2))],
    );
    let mut c = Client::connect(fe2);
    assert_eq!(c.get("/", "").status, 503);
}
