//! Custom error pages end to end, byte for byte: `errorfile` (503 without a server, 400 on
//! a malformed request), `errorloc302`/`errorloc303`, inheritance from `defaults`,
//! `http-errors` sections with `errorfiles`, `http-error`, and the backend's page winning
//! over the frontend's. Every test also passes against HAProxy 2.6 (`HALO_BIN`).

mod support;

use std::io::{BufRead, Read};
use std::time::Duration;

use support::http::*;
use support::*;

const DEFAULTS: &str = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n";

/// A scratch folder (`DIR` in the configurations) with the error files of a test.
fn files(list: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in list {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn start(cfg: &str, dir: tempfile::TempDir, env: &[(&str, String)]) -> Halo {
    Halo::builder(cfg).dir(dir).envs(env).start()
}

/// One answer as it came: the head with its line ends, then the body (Content-Length
/// bytes, or everything up to the close). Empty when the connection closed at once.
fn raw_answer(c: &mut Client) -> String {
    read_answer(c, true)
}

fn read_answer(c: &mut Client, with_body: bool) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if c.r.read_line(&mut line).unwrap_or(0) == 0 {
            return head;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = Vec::new();
    match length {
        _ if !with_body => {}
        Some(n) => {
            body.resize(n, 0);
            c.r.read_exact(&mut body).unwrap();
        }
        None => {
            let _ = c.r.read_to_end(&mut body);
        }
    }
    head + &String::from_utf8_lossy(&body)
}

fn ask(fe: std::net::SocketAddr, request: &str) -> String {
    let mut c = Client::connect(fe);
    c.send(request.as_bytes());
    read_answer(&mut c, !request.starts_with("HEAD "))
}

const PAGE_503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Mixed-Case: Yes\r\n\r\nsorry";

#[test]
fn errorfile_for_503_without_a_server() {
    let dir = files(&[("503.http", PAGE_503)]);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    default_backend b\nbackend b\n    errorfile 503 \"${{DIR}}/503.http\"\n"
    );
    let _h = start(&cfg, dir, &[("FE", haproxy_addr(fe))]);
    // The file as HAProxy sends it: field names in lower case, values and body as written.
    let want = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nx-mixed-case: Yes\r\n\r\nsorry";
    assert_eq!(ask(fe, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), want);
    // No body for a HEAD; an HTTP/1.0 client is told the connection closes.
    assert_eq!(
        ask(fe, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"),
        want.trim_end_matches("sorry")
    );
    assert_eq!(
        ask(fe, "GET / HTTP/1.0\r\n\r\n"),
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nx-mixed-case: Yes\r\nconnection: close\r\n\r\nsorry"
    );
}

#[test]
fn page_without_length_ends_with_the_connection() {
    let dir = files(&[(
        "503.http",
        "HTTP/1.0 503 Nope\nContent-Type: text/plain\n\nno length body",
    )]);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    default_backend b\nbackend b\n    errorfile 503 \"${{DIR}}/503.http\"\n"
    );
    let _h = start(&cfg, dir, &[("FE", haproxy_addr(fe))]);
    assert_eq!(
        ask(fe, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.0 503 Nope\r\ncontent-type: text/plain\r\n\r\nno length body"
    );
}

/// HAProxy 2.6 answers a malformed request head in its HTTP/1 layer, with its built-in
/// page whatever `errorfile 400` says; an empty file there silences it (the manual's
/// `errorfile 408 /dev/null`).
#[test]
fn errors_of_the_request_head() {
    let dir = files(&[
        (
            "400.http",
            "HTTP/1.1 400 Custom\r\nContent-Length: 4\r\n\r\nbad!",
        ),
        ("empty.http", ""),
    ]);
    let fe = free_addr();
    let fe_quiet = free_addr();
    let cfg = format!(
        "{DEFAULTS}    timeout http-request 300ms\nfrontend f\n    bind \"${{FE}}\"\n    errorfile 400 \"${{DIR}}/400.http\"\n    default_backend b\nfrontend quiet\n    bind \"${{FE_QUIET}}\"\n    errorfile 400 \"${{DIR}}/empty.http\"\n    errorfile 408 \"${{DIR}}/empty.http\"\n    default_backend b\nbackend b\n"
    );
    let _h = start(
        &cfg,
        dir,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_QUIET", haproxy_addr(fe_quiet)),
        ],
    );
    let builtin_400 = "HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
    let mut c = Client::connect(fe);
    c.send(b"GET  HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(raw_answer(&mut c), builtin_400);
    assert!(c.closed());
    // The quiet frontend closes without a word, on a bad head and on a late one.
    let mut c = Client::connect(fe_quiet);
    c.send(b"GET  HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(raw_answer(&mut c), "");
    let mut c = Client::connect(fe_quiet);
    c.send(b"GET / HTTP/1.1\r\n");
    assert_eq!(raw_answer(&mut c), "");
    let mut c = Client::connect(fe);
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(
        raw_answer(&mut c).starts_with("HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\n")
    );
}

#[test]
fn errorloc302_and_errorloc303() {
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    errorloc302 403 /denied?from=halo\n    http-request deny if {{ path /deny }}\n    default_backend b\nbackend b\n    errorloc303 503 http://errors.example/busy\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    assert_eq!(
        ask(fe, "GET /deny HTTP/1.1\r\nHost: t\r\n\r\n"),
        "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /denied?from=halo\r\n\r\n"
    );
    assert_eq!(
        ask(
            fe,
            "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        ),
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://errors.example/busy\r\n\r\n"
    );
    // The redirect keeps the connection like any answer of the rules.
    let mut c = Client::connect(fe);
    c.send(b"GET /deny HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        raw_answer(&mut c),
        "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /denied?from=halo\r\nconnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn pages_inherited_from_defaults() {
    let dir = files(&[
        (
            "a.http",
            "HTTP/1.1 503 From Defaults\r\nContent-Length: 1\r\n\r\nA",
        ),
        (
            "b.http",
            "HTTP/1.1 503 Own Page\r\nContent-Length: 1\r\n\r\nB",
        ),
        ("m.http", "HTTP/1.1 200 Up\r\nContent-Length: 2\r\n\r\nup"),
    ]);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}    errorfile 503 \"${{DIR}}/a.http\"\n    errorfile 200 \"${{DIR}}/m.http\"\nfrontend f\n    bind \"${{FE}}\"\n    monitor-uri /alive\n    use_backend own if {{ path_beg /own }}\n    default_backend plain\nbackend plain\nbackend own\n    errorfile 503 \"${{DIR}}/b.http\"\n"
    );
    let _h = start(&cfg, dir, &[("FE", haproxy_addr(fe))]);
    let get = |p: &str| ask(fe, &format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(
        get("/"),
        "HTTP/1.1 503 From Defaults\r\ncontent-length: 1\r\n\r\nA"
    );
    assert_eq!(
        get("/own"),
        "HTTP/1.1 503 Own Page\r\ncontent-length: 1\r\n\r\nB"
    );
    assert_eq!(
        get("/alive"),
        "HTTP/1.1 200 Up\r\ncontent-length: 2\r\n\r\nup"
    );
}

#[test]
fn http_errors_sections_and_errorfiles() {
    let dir = files(&[
        (
            "404.http",
            "HTTP/1.1 404 Site One\r\nContent-Length: 3\r\n\r\nnf1",
        ),
        (
            "503.http",
            "HTTP/1.1 503 Site One\r\nContent-Length: 3\r\n\r\nsu1",
        ),
        (
            "403.http",
            "HTTP/1.1 403 Site One\r\nContent-Length: 3\r\n\r\nfb1",
        ),
    ]);
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    errorfiles site1 403\n    http-request deny if {{ path /deny }}\n    http-request deny deny_status 404 if {{ path /gone }}\n    http-request return status 404 errorfiles site1 if {{ path /ret }}\n    use_backend one if {{ path_beg /one }}\n    default_backend all\nbackend all\n    errorfiles site1\nbackend one\n    http-error status 503 errorfiles site1\nhttp-errors site1\n    errorfile 404 \"${{DIR}}/404.http\"\n    errorfile 503 \"${{DIR}}/503.http\"\n    errorfile 403 \"${{DIR}}/403.http\"\n"
    );
    let _h = start(&cfg, dir, &[("FE", haproxy_addr(fe))]);
    let get = |p: &str| ask(fe, &format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(
        get("/x"),
        "HTTP/1.1 503 Site One\r\ncontent-length: 3\r\n\r\nsu1"
    );
    assert_eq!(
        get("/one"),
        "HTTP/1.1 503 Site One\r\ncontent-length: 3\r\n\r\nsu1"
    );
    assert_eq!(
        get("/deny"),
        "HTTP/1.1 403 Site One\r\ncontent-length: 3\r\n\r\nfb1"
    );
    assert_eq!(
        get("/ret"),
        "HTTP/1.1 404 Site One\r\ncontent-length: 3\r\n\r\nnf1"
    );
    // The frontend imported 403 only: its 404 is HAProxy's.
    assert!(get("/gone").starts_with("HTTP/1.1 404 Not Found\r\ncontent-length: 83\r\n"));
}

#[test]
fn http_error_directive() {
    let fe = free_addr();
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    http-error status 403 content-type text/plain string \"go away\" hdr X-Why policy\n    http-request deny if {{ path /deny }}\n    default_backend b\nbackend b\n    http-error status 503 content-type text/plain lf-string \"host=%[req.hdr(host)]\" hdr X-Path \"%[path]\"\n"
    );
    let _h = Halo::start(&cfg, &[("FE", haproxy_addr(fe))]);
    assert_eq!(
        ask(fe, "GET /busy HTTP/1.1\r\nHost: shop\r\n\r\n"),
        "HTTP/1.1 503 Service Unavailable\r\nx-path: /busy\r\ncontent-length: 9\r\ncontent-type: text/plain\r\n\r\nhost=shop"
    );
    assert_eq!(
        ask(fe, "GET /deny HTTP/1.1\r\nHost: shop\r\n\r\n"),
        "HTTP/1.1 403 Forbidden\r\nx-why: policy\r\ncontent-length: 7\r\ncontent-type: text/plain\r\n\r\ngo away"
    );
}

#[test]
fn backend_page_wins_over_frontend_page() {
    let dir = files(&[
        (
            "fe503.http",
            "HTTP/1.1 503 Frontend\r\nContent-Length: 2\r\n\r\nfe",
        ),
        (
            "be503.http",
            "HTTP/1.1 503 Backend\r\nContent-Length: 2\r\n\r\nbe",
        ),
        (
            "fe403.http",
            "HTTP/1.1 403 Frontend\r\nContent-Length: 2\r\n\r\nfe",
        ),
        ("empty.http", ""),
    ]);
    let fe = free_addr();
    let srv = HttpBackend::start("srv", Duration::ZERO);
    let cfg = format!(
        "{DEFAULTS}frontend f\n    bind \"${{FE}}\"\n    errorfile 503 \"${{DIR}}/fe503.http\"\n    errorfile 403 \"${{DIR}}/fe403.http\"\n    http-request deny if {{ path /fdeny }}\n    use_backend own if {{ path_beg /own }}\n    use_backend quiet if {{ path_beg /quiet }}\n    use_backend up if {{ path_beg /up }}\n    default_backend plain\nbackend own\n    errorfile 503 \"${{DIR}}/be503.http\"\nbackend plain\n    http-request deny if {{ path /plain/deny }}\nbackend quiet\n    errorfile 403 \"${{DIR}}/empty.http\"\n    http-request deny if {{ path /quiet/deny }}\nbackend up\n    errorfile 503 \"${{DIR}}/be503.http\"\n    server s1 \"${{S1}}\"\n"
    );
    let _h = start(
        &cfg,
        dir,
        &[("FE", haproxy_addr(fe)), ("S1", srv.cfg_addr())],
    );
    let get = |p: &str| ask(fe, &format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert_eq!(
        get("/own"),
        "HTTP/1.1 503 Backend\r\ncontent-length: 2\r\n\r\nbe"
    );
    // A backend without a page of its own falls back on the frontend's.
    assert_eq!(
        get("/plain"),
        "HTTP/1.1 503 Frontend\r\ncontent-length: 2\r\n\r\nfe"
    );
    assert_eq!(
        get("/plain/deny"),
        "HTTP/1.1 403 Frontend\r\ncontent-length: 2\r\n\r\nfe"
    );
    assert_eq!(
        get("/fdeny"),
        "HTTP/1.1 403 Frontend\r\ncontent-length: 2\r\n\r\nfe"
    );
    // An empty page closes without an answer.
    let mut c = Client::connect(fe);
    c.send(b"GET /quiet/deny HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(raw_answer(&mut c), "");
    // Pages never replace what a server answers.
    let r = Client::connect(fe).get("/up", "");
    assert_eq!((r.status, r.body.as_str()), (200, "srv /up 0\n"));
}
