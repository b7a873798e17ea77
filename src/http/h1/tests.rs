//! Unit tests of the HTTP/1 codec: the table of malformed messages (`cases.txt`, checked
//! against HAProxy 2.6 by `haproxy_lab.py`), size limits, round trips, edits, chunked bodies
//! split anywhere, pipelining, and random input that must never panic.

use super::*;

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            let n = b[i + 1];
            i += 2;
            match n {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&b[i..i + 2]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

struct Case {
    kind: char,
    halo: String,
    name: String,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    include_str!("cases.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.splitn(3, " | ");
            let head = parts.next().unwrap();
            let name = parts.next().unwrap().trim().to_string();
            let bytes = unescape(parts.next().unwrap());
            let mut hw = head.split_whitespace();
            let kind = hw.next().unwrap().chars().next().unwrap();
            let expect = hw.next().unwrap();
            let halo = expect.split('/').next().unwrap().to_string();
            Case {
                kind,
                halo,
                name,
                bytes,
            }
        })
        .collect()
}

fn limits(accept_invalid: bool) -> Limits {
    Limits {
        accept_invalid,
        ..Limits::default()
    }
}

/// What halo answers to a request: "ok" when the head and the body bytes present are
/// accepted, "408" when it waits for more, else the error status.
fn request_verdict(bytes: &[u8], accept_invalid: bool) -> String {
    let mut head = Head::new();
    match parse_request(bytes, &limits(accept_invalid), &mut head) {
        Err(e) => e.status.to_string(),
        Ok(None) => "408".into(),
        Ok(Some(n)) => {
            let framing = match request_framing(&head) {
                Ok(f) => f,
                Err(e) => return e.status.to_string(),
            };
            let mut body = BodyState::new(framing).with_limits(&limits(accept_invalid));
            match body.advance(&bytes[n..]) {
                Err(e) => e.status.to_string(),
                Ok(_) => "ok".into(),
            }
        }
    }
}

fn response_verdict(bytes: &[u8], accept_invalid: bool) -> String {
    let mut head = Head::new();
    match parse_response(bytes, &limits(accept_invalid), &mut head) {
        Err(e) => e.status.to_string(),
        Ok(None) => "502".into(),
        Ok(Some(n)) => {
            let framing = match response_framing(&head, b"GET") {
                Ok(f) => f,
                Err(e) => return e.status.to_string(),
            };
            let mut body = BodyState::new_response(framing).with_limits(&limits(accept_invalid));
            match body.advance(&bytes[n..]) {
                Err(e) => e.status.to_string(),
                Ok(_) => "ok".into(),
            }
        }
    }
}

/// Every line of `cases.txt`: halo answers what is recorded (HAProxy 2.6's answer, checked by
/// running `haproxy_lab.py` against Debian's haproxy 2.6.12, or halo's documented deviation).
#[test]
fn haproxy_table() {
    let all = cases();
    let malformed = all.iter().filter(|c| c.halo != "ok").count();
    assert!(malformed >= 40, "only {malformed} malformed cases");
    let mut failures = Vec::new();
    for c in &all {
        let got = match c.kind {
            'Q' => request_verdict(&c.bytes, false),
            'I' => request_verdict(&c.bytes, true),
            'R' | 'W' => response_verdict(&c.bytes, false),
            'J' => response_verdict(&c.bytes, true),
            k => panic!("unknown kind {k}"),
        };
        if got != c.halo {
            failures.push(format!(
                "{} {:?}: expected {}, got {}",
                c.kind, c.name, c.halo, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn parse_ok(bytes: &[u8]) -> (Head, usize) {
    let mut head = Head::new();
    let n = parse_request(bytes, &Limits::default(), &mut head)
        .unwrap()
        .unwrap();
    (head, n)
}

fn parse_err(bytes: &[u8]) -> ParseError {
    let mut head = Head::new();
    parse_request(bytes, &Limits::default(), &mut head).unwrap_err()
}

// ---- sizes (bisected against haproxy 2.6, bufsize 16384 / maxrewrite 1024, and
// bufsize 8192 / maxrewrite 2000: the boundaries below are HAProxy's to the byte) ----

/// `GET /uuu… HTTP/1.1`, `Host: a`, total `total` bytes.
fn long_uri(total: usize) -> Vec<u8> {
    let base = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".len();
    let mut v = b"GET /".to_vec();
    v.extend(std::iter::repeat_n(b'u', total - base));
    v.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    v
}

fn one_header(total: usize) -> Vec<u8> {
    let base = b"GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    v.extend(std::iter::repeat_n(b'v', total - base));
    v.extend_from_slice(b"\r\n\r\n");
    v
}

fn spaces_header(total: usize) -> Vec<u8> {
    let base = b"GET / HTTP/1.1\r\nHost: a\r\nX:v\r\n\r\n".len();
    let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX:".to_vec();
    v.extend(std::iter::repeat_n(b' ', total - base));
    v.extend_from_slice(b"v\r\n\r\n");
    v
}

#[test]
fn size_limits_match_haproxy() {
    // Long URI: 15277 bytes accepted, 15278 refused.
    assert_eq!(parse_ok(&long_uri(15277)).1, 15277);
    assert_eq!(parse_err(&long_uri(15278)).status, 400);
    // One long header: 15273 / 15274.
    parse_ok(&one_header(15273));
    assert_eq!(parse_err(&one_header(15274)).status, 400);
    // Whitespace is not stored, but the raw buffer holds 16320 bytes.
    parse_ok(&spaces_header(16320));
    assert_eq!(parse_err(&spaces_header(16321)).status, 400);
    // Never a 414 or 431: HAProxy answers 400 for every size problem.
}

#[test]
fn size_limit_with_many_headers() {
    // 90 headers of 3-char names: HAProxy accepts total=14957 of size.py's generator.
    let build = |total: usize| {
        let line = b"GET / HTTP/1.1\r\n";
        let per = (total - line.len() - 2) / 90;
        let mut v = line.to_vec();
        for i in 0..90 {
            v.extend_from_slice(format!("H{i:02}: ").as_bytes());
            v.extend(std::iter::repeat_n(b'v', per - 7));
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    parse_ok(&build(14957));
    assert_eq!(parse_err(&build(14958)).status, 400);
}

#[test]
fn size_limit_other_tunables() {
    // bufsize 8192, maxrewrite 2000: URI total 6109 accepted, spaces up to 8128.
    let l = Limits::from_tune(8192, 2000, 101, false);
    let mut h = Head::new();
    assert!(
        parse_request(&long_uri(6109), &l, &mut h)
            .unwrap()
            .is_some()
    );
    assert_eq!(
        parse_request(&long_uri(6110), &l, &mut h)
            .unwrap_err()
            .status,
        400
    );
    assert!(
        parse_request(&spaces_header(8128), &l, &mut h)
            .unwrap()
            .is_some()
    );
    assert_eq!(
        parse_request(&spaces_header(8129), &l, &mut h)
            .unwrap_err()
            .status,
        400
    );
    // maxrewrite above half the buffer is halved.
    assert_eq!(Limits::from_tune(16384, 10000, 101, false).max_head, 8192);
}

#[test]
fn leading_empty_lines_count_in_the_buffer() {
    let mut v = b"\r\n".repeat(8000);
    v.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let (h, n) = parse_ok(&v);
    assert_eq!(n, v.len());
    assert_eq!(h.to_vec(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut v = b"\r\n".repeat(8150);
    v.extend_from_slice(b"GET /xxxxxxxxxxxxxxxxxxxxxxxx HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(parse_err(&v).status, 400);
}

#[test]
fn incomplete_head_until_the_buffer_is_full() {
    let mut h = Head::new();
    let l = Limits::default();
    let partial = b"GET / HTTP/1.1\r\nHost: a\r\nX: ";
    assert_eq!(parse_request(partial, &l, &mut h), Ok(None));
    let mut big = partial.to_vec();
    big.extend(std::iter::repeat_n(b' ', 16320 - big.len() - 1));
    h.clear();
    assert_eq!(parse_request(&big, &l, &mut h), Ok(None));
    big.push(b' ');
    h.clear();
    let e = parse_request(&big, &l, &mut h).unwrap_err();
    assert_eq!((e.status, e.offset), (400, 16320));
}

#[test]
fn max_headers() {
    // tune.http.maxhdr 101 counts the start line: 100 fields accepted, 101 refused.
    let build = |n: usize| {
        let mut v = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            v.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    assert_eq!(parse_ok(&build(100)).0.len(), 100);
    assert_eq!(parse_err(&build(101)).status, 400);
    let mut h = Head::new();
    let l = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert!(parse_request(&build(2), &l, &mut h).unwrap().is_some());
    assert_eq!(
        parse_request(&build(3), &l, &mut h).unwrap_err().status,
        400
    );
    // Responses: 502.
    let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..101 {
        r.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    assert_eq!(
        parse_response(&r, &Limits::default(), &mut h)
            .unwrap_err()
            .status,
        502
    );
}

// ---- error details ----

#[test]
fn error_offsets_point_at_the_problem() {
    assert_eq!(parse_err(b"G(ET / HTTP/1.1\r\n\r\n").offset, 1);
    assert_eq!(parse_err(b"GET /a\x01 HTTP/1.1\r\n\r\n").offset, 6);
    assert_eq!(parse_err(b"\r\nGET / HTTP/1.1\r\nX : y\r\n\r\n").offset, 19);
    assert_eq!(parse_err(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n").offset, 20);
    let e = parse_err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!((e.status, e.offset), (400, 25));
    let e = parse_err(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert_eq!((e.status, e.offset), (400, 36));
    assert!(!e.to_string().is_empty());
}

// ---- round trips and normalizations ----

#[test]
fn round_trip_is_byte_identical() {
    let inputs: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /x?y=1 HTTP/1.0\r\nHoSt:   a  \r\nX-Foo:bar\r\nCookie: a=1; b=2\r\n\r\n",
        b"POST http://a/x HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX:\r\nY: \t\r\n\r\n",
    ];
    for &i in inputs {
        let (h, n) = parse_ok(i);
        assert_eq!(n, i.len());
        assert!(h.is_verbatim());
        assert_eq!(h.to_vec(), i, "{:?}", String::from_utf8_lossy(i));
    }
    let responses: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 404 \r\nX: y\r\n\r\n",
        b"HTTP/1.0 302 Moved Somewhere Else\r\nLocation: /x\r\n\r\n",
    ];
    for &r in responses {
        let mut h = Head::new();
        let n = parse_response(r, &Limits::default(), &mut h)
            .unwrap()
            .unwrap();
        assert_eq!(n, r.len());
        assert_eq!(h.to_vec(), r);
    }
}

#[test]
fn round_trip_normalizes_what_haproxy_normalizes() {
    let cases: &[(&[u8], &[u8])] = &[
        // bare LF → CRLF
        (
            b"GET / HTTP/1.1\nHost: a\nX: y\n\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n",
        ),
        // separators in the request line
        (b"GET \t /  HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"),
        // obs-fold → spaces (the line break becomes two spaces, like HAProxy)
        (
            b"GET / HTTP/1.1\r\nX:  a\r\n  b\r\nY: c\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a    b\r\nY: c\r\n\r\n",
        ),
        (
            b"GET / HTTP/1.1\r\nX:\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: b\r\n\r\n",
        ),
        // versions
        (b"GET / HTTP/2.0\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"),
        (b"GET / HTTP/0.9\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"),
        // duplicate Host / Content-Length merged into the first
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: A\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nX: 1\r\ncontent-length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nX: 1\r\n\r\n",
        ),
        // length beside chunked: dropped
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
        // leading empty lines are not part of the head
        (b"\r\n\nGET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"),
    ];
    for (input, want) in cases {
        let (h, n) = parse_ok(input);
        assert_eq!(n, input.len());
        assert_eq!(
            String::from_utf8_lossy(&h.to_vec()),
            String::from_utf8_lossy(want),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn length_and_chunked_forces_close() {
    let (h, _) =
        parse_ok(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(wants_close(&h));
    assert_eq!(h.count(b"content-length"), 0);
    assert_eq!(request_framing(&h), Ok(Framing::Chunked));
    let (h, _) = parse_ok(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(!wants_close(&h));
}

#[test]
fn response_normalizations() {
    let mut h = Head::new();
    let l = Limits::default();
    let r = b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX: y\r\n\r\n";
    parse_response(r, &l, &mut h).unwrap().unwrap();
    assert_eq!(h.to_vec(), b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n");
    let r = b"HTTP/2.0  200  OK\nContent-Length: 2\n\n";
    parse_response(r, &l, &mut h).unwrap().unwrap();
    assert_eq!(h.to_vec(), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(
        (h.status(), h.reason(), h.version()),
        (200, &b"OK"[..], Version::Http11)
    );
}

#[test]
fn accessors() {
    let (h, _) = parse_ok(
        b"POST http://a:80/p?q HTTP/1.0\r\nHost: a\r\nAccept: x\r\naccept: y\r\nX-Empty:\r\n\r\n",
    );
    assert_eq!(h.method(), b"POST");
    assert_eq!(h.uri(), b"http://a:80/p?q");
    assert_eq!(h.version(), Version::Http10);
    assert_eq!(h.kind(), Kind::Request);
    assert_eq!(authority(h.uri()), Some(&b"a:80"[..]));
    assert_eq!(h.get(b"ACCEPT"), Some(&b"x"[..]));
    assert_eq!(
        h.get_all(b"accept").collect::<Vec<_>>(),
        vec![&b"x"[..], &b"y"[..]]
    );
    assert_eq!(h.count(b"Accept"), 2);
    assert_eq!(h.get(b"x-empty"), Some(&b""[..]));
    assert_eq!(h.get(b"missing"), None);
    assert_eq!(h.len(), 4);
    let names: Vec<&[u8]> = h.headers().map(|(n, _)| n).collect();
    assert_eq!(names, vec![&b"Host"[..], b"Accept", b"accept", b"X-Empty"]);
    assert_eq!((h.status(), h.reason()), (0, &b""[..]));
    assert_eq!(authority(b"/x"), None);
    assert_eq!(authority(b"*"), None);
    assert_eq!(authority(b"a:443"), Some(&b"a:443"[..]));
    assert_eq!(authority(b"https://u@h:1/x"), Some(&b"u@h:1"[..]));
}

// ---- edits ----

#[test]
fn edits_serialize() {
    let (mut h, _) =
        parse_ok(b"GET /a HTTP/1.1\r\nHost: a\r\nX-A:  1 \r\nCookie: c\r\nx-a: 2\r\n\r\n");
    h.add(b"X-New", b"v");
    assert_eq!(
        h.to_vec(),
        b"GET /a HTTP/1.1\r\nHost: a\r\nX-A:  1 \r\nCookie: c\r\nx-a: 2\r\nX-New: v\r\n\r\n"
    );
    assert_eq!(h.remove(b"X-a"), 2);
    assert_eq!(
        h.to_vec(),
        b"GET /a HTTP/1.1\r\nHost: a\r\nCookie: c\r\nX-New: v\r\n\r\n"
    );
    h.set(b"cookie", b"d");
    assert_eq!(
        h.to_vec(),
        b"GET /a HTTP/1.1\r\nHost: a\r\nX-New: v\r\ncookie: d\r\n\r\n"
    );
    h.replace_value(0, b"b.example");
    assert_eq!(
        h.to_vec(),
        b"GET /a HTTP/1.1\r\nHost: b.example\r\nX-New: v\r\ncookie: d\r\n\r\n"
    );
    h.replace_value(99, b"ignored");
    h.retain(|n, _| !n.eq_ignore_ascii_case(b"x-new"));
    assert_eq!(
        h.to_vec(),
        b"GET /a HTTP/1.1\r\nHost: b.example\r\ncookie: d\r\n\r\n"
    );
    h.set_method(b"POST");
    h.set_uri(b"/b c#d");
    h.set_version(Version::Http10);
    assert_eq!(h.method(), b"POST");
    assert_eq!(
        h.to_vec(),
        b"POST /b%20c%23d HTTP/1.0\r\nHost: b.example\r\ncookie: d\r\n\r\n"
    );
    h.remove_at(0);
    assert_eq!(h.to_vec(), b"POST /b%20c%23d HTTP/1.0\r\ncookie: d\r\n\r\n");
    // Edits cannot inject lines.
    h.add(b"X\r\nEvil", b"a\r\nInjected: 1\x00");
    assert_eq!(h.get(b"X--Evil"), Some(&b"a  Injected: 1 "[..]));
    assert!(!h.to_vec().windows(10).any(|w| w == b"\r\nInjected"));
    h.add(b"", b"nameless");
    assert_eq!(h.get(b""), None);
}

#[test]
fn edit_status_line() {
    let mut h = Head::new();
    parse_response(
        b"HTTP/1.1 200 OK\r\nServer: s\r\n\r\n",
        &Limits::default(),
        &mut h,
    )
    .unwrap()
    .unwrap();
    h.set_status(503, None);
    assert_eq!(
        h.to_vec(),
        b"HTTP/1.1 503 Service Unavailable\r\nServer: s\r\n\r\n"
    );
    h.set_status(299, Some(b"Fine\r\nX: y"));
    assert_eq!(h.to_vec(), b"HTTP/1.1 299 Fine  X: y\r\nServer: s\r\n\r\n");
    assert_eq!(h.status(), 299);
    let built = Head::response(Version::Http11, 404, None);
    assert_eq!(built.to_vec(), b"HTTP/1.1 404 Not Found\r\n\r\n");
    let mut req = Head::request(b"GET", b"/", Version::Http11);
    req.add(b"Host", b"h");
    assert_eq!(req.to_vec(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    // Request edits on a response (and the reverse) are ignored.
    req.set_status(500, None);
    assert_eq!(req.status(), 0);
}

#[test]
fn clear_keeps_capacity() {
    let (mut h, _) = parse_ok(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n");
    let cap = h.buf.capacity();
    h.clear();
    assert_eq!(h.len(), 0);
    assert_eq!(h.buf.capacity(), cap);
    parse_request(b"GET /2 HTTP/1.1\r\n\r\n", &Limits::default(), &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(h.uri(), b"/2");
}

// ---- resumable parsing, pipelining ----

#[test]
fn byte_by_byte_parse_gives_the_same_head() {
    let input: &[u8] =
        b"\r\nPOST /x HTTP/1.1\r\nHost: a\r\nX: a\r\n b\nContent-Length: 2\r\n\r\nhi";
    let (whole, n) = parse_ok(input);
    let mut h = Head::new();
    let l = Limits::default();
    let mut got = None;
    for end in 0..=input.len() {
        match parse_request(&input[..end], &l, &mut h).unwrap() {
            None => continue,
            Some(k) => {
                got = Some((k, end));
                break;
            }
        }
    }
    let (k, end) = got.unwrap();
    assert_eq!((k, end), (n, n));
    assert_eq!(h.to_vec(), whole.to_vec());
    assert_eq!(h.get(b"x"), Some(&b"a   b"[..]));
}

#[test]
fn pipelined_requests() {
    let input: &[u8] =
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n\r\n";
    let l = Limits::default();
    let mut h = Head::new();
    let mut pos = 0;
    let mut uris = Vec::new();
    while pos < input.len() {
        let n = parse_request(&input[pos..], &l, &mut h).unwrap().unwrap();
        uris.push(h.uri().to_vec());
        pos += n;
        let mut body = BodyState::new(request_framing(&h).unwrap());
        let (used, done) = body.advance(&input[pos..]).unwrap();
        assert!(done);
        pos += used;
    }
    assert_eq!(uris, vec![b"/1".to_vec(), b"/2".to_vec(), b"/3".to_vec()]);
    // A chunked body then the next request.
    let input: &[u8] = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    let n = parse_request(input, &l, &mut h).unwrap().unwrap();
    let mut body = BodyState::new(request_framing(&h).unwrap());
    let (used, done) = body.advance(&input[n..]).unwrap();
    assert!(done && body.is_done());
    let rest = &input[n + used..];
    assert_eq!(rest, b"GET /next HTTP/1.1\r\n\r\n");
    // After a complete head, the next call starts over on the new buffer.
    assert!(parse_request(rest, &l, &mut h).unwrap().is_some());
    assert_eq!(h.uri(), b"/next");
}

// ---- framing helpers ----

fn resp(bytes: &[u8]) -> Head {
    let mut h = Head::new();
    parse_response(bytes, &Limits::default(), &mut h)
        .unwrap()
        .unwrap();
    h
}

#[test]
fn request_framing_values() {
    let f = |b: &[u8]| request_framing(&parse_ok(b).0).unwrap();
    assert_eq!(f(b"GET / HTTP/1.1\r\n\r\n"), Framing::None);
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        Framing::Length(0)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nContent-Length: 42, 42\r\n\r\n"),
        Framing::Length(42)
    );
    assert_eq!(
        f(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Framing::Chunked
    );
    // On heads built or edited by code, the same checks apply.
    let mut h = Head::request(b"POST", b"/", Version::Http11);
    h.add(b"Content-Length", b"1");
    h.add(b"Content-Length", b"2");
    assert_eq!(request_framing(&h).unwrap_err().status, 400);
    h.set(b"Content-Length", b"7");
    h.add(b"Transfer-Encoding", b"gzip, chunked");
    assert_eq!(request_framing(&h).unwrap_err().status, 422);
}

#[test]
fn response_framing_values() {
    let f = |b: &[u8], m: &[u8]| response_framing(&resp(b), m).unwrap();
    assert_eq!(
        f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"GET"),
        Framing::Length(5)
    );
    assert_eq!(
        f(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"HEAD"),
        Framing::None
    );
    assert_eq!(f(b"HTTP/1.1 200 OK\r\n\r\n", b"GET"), Framing::UntilClose);
    assert_eq!(
        f(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET"
        ),
        Framing::Chunked
    );
    assert_eq!(f(b"HTTP/1.1 204 No Content\r\n\r\n", b"GET"), Framing::None);
    assert_eq!(
        f(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            b"GET"
        ),
        Framing::None
    );
    assert_eq!(f(b"HTTP/1.1 100 Continue\r\n\r\n", b"POST"), Framing::None);
    assert_eq!(
        f(b"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n", b"GET"),
        Framing::None
    );
    assert_eq!(
        f(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
            b"GET"
        ),
        Framing::Tunnel
    );
    assert_eq!(
        f(b"HTTP/1.1 200 Connection established\r\n\r\n", b"CONNECT"),
        Framing::Tunnel
    );
    assert_eq!(
        f(
            b"HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n",
            b"CONNECT"
        ),
        Framing::Length(0)
    );
    let mut h = Head::response(Version::Http11, 200, None);
    h.add(b"Transfer-Encoding", b"gzip");
    assert_eq!(response_framing(&h, b"GET").unwrap_err().status, 502);
}

#[test]
fn connection_helpers() {
    let close = |b: &[u8]| wants_close(&parse_ok(b).0);
    assert!(!close(b"GET / HTTP/1.1\r\n\r\n"));
    assert!(close(b"GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n"));
    assert!(close(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(!close(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(wants_close(&resp(b"HTTP/1.1 200 OK\r\n\r\n")));
    assert!(!wants_close(&resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    )));
    assert!(!wants_close(&resp(b"HTTP/1.1 304 Not Modified\r\n\r\n")));
    assert!(!wants_close(&resp(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    )));
    assert!(wants_close(&resp(
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    )));

    let ws = b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    assert_eq!(upgrade(&parse_ok(ws).0), Some(&b"websocket"[..]));
    assert_eq!(
        upgrade(&parse_ok(b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n").0),
        None
    );

    assert!(expects_continue(
        &parse_ok(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").0
    ));
    assert!(!expects_continue(
        &parse_ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").0
    ));
    assert!(!expects_continue(
        &parse_ok(b"POST / HTTP/1.1\r\nExpect: foo\r\n\r\n").0
    ));
}

// ---- bodies ----

const CHUNKED: &[u8] =
    b"5;ext=\"q\"\r\nhello\r\na\nxxxxxxxxxx\n000\r\nX-T: v\r\n  w\nY: z\r\n\r\nNEXT";

/// Feeds `input` in pieces of the given sizes (cycled), as a reader would.
fn feed(body: &mut BodyState, input: &[u8], sizes: &[usize], normalize: bool) -> (usize, Vec<u8>) {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    // The reader's buffer: what arrived but was not consumed yet.
    let mut end = 0;
    while !body.is_done() && pos < input.len() {
        end = (end + sizes[k % sizes.len()]).min(input.len()).max(pos);
        k += 1;
        let chunk = &input[pos..end];
        let (n, _) = if normalize {
            body.advance_into(chunk, &mut out).unwrap()
        } else {
            let r = body.advance(chunk).unwrap();
            out.extend_from_slice(&chunk[..r.0]);
            r
        };
        pos += n;
    }
    (pos, out)
}

#[test]
fn chunked_any_split_gives_the_same_result() {
    let mut whole = BodyState::new(Framing::Chunked);
    let (n, done) = whole.advance(CHUNKED).unwrap();
    assert!(done);
    assert_eq!(&CHUNKED[n..], b"NEXT");
    let mut canon_whole = Vec::new();
    BodyState::new(Framing::Chunked)
        .advance_into(CHUNKED, &mut canon_whole)
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&canon_whole),
        "5\r\nhello\r\na\r\nxxxxxxxxxx\r\n0\r\nX-T: v w\r\nY: z\r\n\r\n"
    );
    for sizes in [&[1usize][..], &[2], &[3, 1], &[7], &[1, 13, 2]] {
        let mut b = BodyState::new(Framing::Chunked);
        let (used, out) = feed(&mut b, CHUNKED, sizes, false);
        assert!(b.is_done());
        assert_eq!(used, n);
        assert_eq!(out, &CHUNKED[..n]);
        let mut b = BodyState::new(Framing::Chunked);
        let (used, out) = feed(&mut b, CHUNKED, sizes, true);
        assert_eq!(used, n);
        assert_eq!(out, canon_whole, "sizes {sizes:?}");
    }
    // Every split point in two.
    for cut in 0..=n {
        let mut b = BodyState::new(Framing::Chunked);
        let (a, d1) = b.advance(&CHUNKED[..cut]).unwrap();
        assert_eq!(a, cut);
        assert!(!d1 || cut == n);
        let (c, d2) = b.advance(&CHUNKED[cut..]).unwrap();
        assert_eq!(a + c, n);
        assert!(d2);
    }
}

#[test]
fn chunked_errors_byte_by_byte_too() {
    let bad: &[&[u8]] = &[
        b"5\r\nhelloX\r\n0\r\n\r\n",
        b"10000000000000\r\n",
        b"2;a\rb\r\nhi\r\n0\r\n\r\n",
        b"\r\n",
        b"0\r\nBad Name: v\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
    ];
    for &input in bad {
        let whole = BodyState::new(Framing::Chunked).advance(input).unwrap_err();
        assert_eq!(whole.status, 400);
        let mut b = BodyState::new(Framing::Chunked);
        let mut err = None;
        for (i, byte) in input.iter().enumerate() {
            match b.advance(std::slice::from_ref(byte)) {
                Ok(_) => {}
                Err(e) => {
                    err = Some((i, e));
                    break;
                }
            }
        }
        let (_, e) = err.expect("error expected");
        assert_eq!(
            e.offset,
            whole.offset,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let e = BodyState::new_response(Framing::Chunked)
        .advance(b"zz\r\n")
        .unwrap_err();
    assert_eq!((e.status, e.offset), (502, 0));
}

#[test]
fn chunk_line_and_trailer_limits() {
    let mut line = b"5;".to_vec();
    line.extend(std::iter::repeat_n(b'a', 20000));
    assert!(BodyState::new(Framing::Chunked).advance(&line).is_err());
    let mut t = b"0\r\nX: ".to_vec();
    t.extend(std::iter::repeat_n(b'a', 20000));
    assert!(BodyState::new(Framing::Chunked).advance(&t).is_err());
    let small = Limits {
        max_raw: 10,
        ..Limits::default()
    };
    assert!(
        BodyState::new(Framing::Chunked)
            .with_limits(&small)
            .advance(b"5;abcdefghij\r\n")
            .is_err()
    );
}

#[test]
fn length_close_and_tunnel_bodies() {
    let mut b = BodyState::new(Framing::Length(5));
    assert_eq!(b.advance(b"he").unwrap(), (2, false));
    assert_eq!(b.advance(b"lloGET").unwrap(), (3, true));
    assert_eq!(b.advance(b"more").unwrap(), (0, true));
    assert_eq!(b.consumed(), 5);
    let mut b = BodyState::new(Framing::Length(5));
    b.advance(b"hel").unwrap();
    assert_eq!(b.eof().unwrap_err().status, 400);
    assert!(BodyState::new(Framing::Length(0)).is_done());
    assert!(BodyState::new(Framing::None).is_done());
    let mut b = BodyState::new_response(Framing::UntilClose);
    assert!(b.until_close());
    assert_eq!(b.advance(b"anything").unwrap(), (8, false));
    assert!(b.eof().is_ok() && b.is_done());
    let mut b = BodyState::new(Framing::Tunnel);
    let mut out = Vec::new();
    assert_eq!(b.advance_into(b"xyz", &mut out).unwrap(), (3, false));
    assert_eq!(out, b"xyz");
    let mut b = BodyState::new(Framing::Chunked);
    b.advance(b"5\r\nhel").unwrap();
    assert_eq!(b.eof().unwrap_err().status, 400);
}

// ---- robustness ----

/// xorshift, so the test needs no dependency.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn random_input_never_panics() {
    let alphabet: &[u8] = b"GET / HTTP/1.1\r\n: \t\x00\x7f\xff,;0a9Hhost-lengthchunked\r\n\n";
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let l = Limits {
        max_raw: 300,
        max_head: 400,
        max_headers: 8,
        ..Limits::default()
    };
    let mut head = Head::new();
    for round in 0..20000 {
        let len = (rng(&mut seed) % 120) as usize;
        let mut v: Vec<u8> = (0..len)
            .map(|_| alphabet[(rng(&mut seed) % alphabet.len() as u64) as usize])
            .collect();
        if round % 3 == 0 {
            // Start from a valid request so the deeper paths are reached.
            let mut base =
                b"POST http://h/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n".to_vec();
            base.append(&mut v);
            v = base;
        }
        let l = Limits {
            accept_invalid: round % 2 == 0,
            ..l
        };
        if let Ok(Some(n)) = parse_request(&v, &l, &mut head) {
            head.to_vec();
            if let Ok(f) = request_framing(&head) {
                let mut b = BodyState::new(f).with_limits(&l);
                let _ = b.advance(&v[n..]);
                let _ = wants_close(&head);
            }
        }
        head.clear();
        if let Ok(Some(_)) = parse_response(&v, &l, &mut head) {
            let _ = response_framing(&head, b"GET");
            head.to_vec();
        }
        head.clear();
        let mut b = BodyState::new(Framing::Chunked);
        let mut out = Vec::new();
        let _ = b.advance_into(&v, &mut out);
    }
}

// ---- incomplete lines: refused at once, like HAProxy ----

type Parsed = Result<Option<usize>, ParseError>;

/// Parses `bytes` one more byte at a time with the same head, as bytes trickle in: the first
/// answer that is not "incomplete", with the length it came at and the head written out.
fn trickle(bytes: &[u8], l: &Limits, response: bool) -> Option<(usize, Parsed, Vec<u8>)> {
    let mut h = Head::new();
    for end in 0..=bytes.len() {
        let r = if response {
            parse_response(&bytes[..end], l, &mut h)
        } else {
            parse_request(&bytes[..end], l, &mut h)
        };
        if r != Ok(None) {
            return Some((end, r, h.to_vec()));
        }
    }
    None
}

#[test]
fn trickled_bytes_give_the_whole_parse_result() {
    for c in cases() {
        let response = matches!(c.kind, 'R' | 'J' | 'W');
        let l = limits(matches!(c.kind, 'I' | 'J'));
        let mut h = Head::new();
        let whole = if response {
            parse_response(&c.bytes, &l, &mut h)
        } else {
            parse_request(&c.bytes, &l, &mut h)
        };
        let got = trickle(&c.bytes, &l, response);
        match (&whole, &got) {
            (Ok(Some(n)), Some((end, Ok(Some(m)), bytes))) => {
                assert_eq!((n, n), (end, m), "{}", c.name);
                assert_eq!(bytes, &h.to_vec(), "{}", c.name);
            }
            (Err(e), Some((_, Err(f), _))) => {
                assert_eq!((e.status, e.offset), (f.status, f.offset), "{}", c.name);
            }
            (Ok(None), None) => {}
            _ => panic!("{}: whole {:?}, trickled {:?}", c.name, whole, got),
        }
    }
}

#[test]
fn bad_bytes_refused_before_the_line_ends() {
    // HAProxy answers these at once, without waiting for the end of the line.
    let l = Limits::default();
    let partial: &[(&[u8], usize)] = &[
        (b"G(ET / HTTP/1.1", 1),
        (b" GET", 0),
        (b"GET /\x01", 5),
        (b"GET /a#", 6),
        (b"GET / HTTP/1.1 ", 6),
        (b"GET\r /", 3),
        (b"GET / HTTP/1.1\r\nX : y", 17),
        (b"GET / HTTP/1.1\r\n: y", 16),
        (b"GET / HTTP/1.1\r\n y", 16),
        (b"GET / HTTP/1.1\r\nX(", 17),
        (b"GET / HTTP/1.1\r\nX: a\x00", 20),
        (b"GET / HTTP/1.1\r\nX: a\rb", 20),
        (b"GET / HTTP/1.1\r\n\rX", 16),
    ];
    for &(input, offset) in partial {
        let mut h = Head::new();
        let e = parse_request(input, &l, &mut h).unwrap_err();
        assert_eq!(
            (e.status, e.offset),
            (400, offset),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let waiting: &[&[u8]] = &[
        b"\r",
        b"GET / HTTP/1.",
        b"GET / HTTPS",
        b"GET / HTTP/1.10",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1\r\nX: a\r",
        b"GET / HTTP/1.1\r\nX: a\r\n ",
        b"GET / HTTP/1.1\r\n\r",
    ];
    for &input in waiting {
        let mut h = Head::new();
        assert_eq!(
            parse_request(input, &l, &mut h),
            Ok(None),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mut h = Head::new();
    for (input, offset) in [
        (&b"HTTP/1.1 2x"[..], 9),
        (b"HTTP/1.1 2000", 9),
        (b"HTTP/1.1 200 OK\r\nX Y", 18),
    ] {
        let e = parse_response(input, &l, &mut h).unwrap_err();
        assert_eq!(
            (e.status, e.offset),
            (502, offset),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        h.clear();
    }
    assert_eq!(parse_response(b"HTTP/1.1 200 O", &l, &mut h), Ok(None));
    h.clear();
    assert_eq!(parse_response(b"HTTPS", &l, &mut h), Ok(None));
}

#[test]
fn random_prefixes_never_refuse_what_the_whole_accepts() {
    let alphabet: &[u8] = b"GET /HTP1.0\r\n: \t\x00#\x80,aX";
    let mut seed = 0x1234_5678_9abc_def1;
    let l = Limits::default();
    for round in 0..3000 {
        let mut v = if round % 2 == 0 {
            b"GET / HTTP/1.1\r\n".to_vec()
        } else {
            Vec::new()
        };
        let len = (rng(&mut seed) % 40) as usize;
        v.extend((0..len).map(|_| alphabet[(rng(&mut seed) % alphabet.len() as u64) as usize]));
        v.extend_from_slice(b"\r\n\r\n");
        let mut h = Head::new();
        let whole = parse_request(&v, &l, &mut h);
        let got = trickle(&v, &l, false).map(|(_, r, _)| r);
        match (whole, got) {
            (Ok(Some(_)), Some(Ok(Some(_)))) | (Ok(None), None) => {}
            (Err(e), Some(Err(f))) => assert_eq!(e.status, f.status),
            (w, g) => panic!(
                "{:?}: whole {w:?}, trickled {g:?}",
                String::from_utf8_lossy(&v)
            ),
        }
    }
}

#[test]
fn closed_before_the_end_of_the_head() {
    // haproxy 2.6: empty connection closed → 400 (nothing with http-ignore-probes), "\r\n"
    // only → 400 even with http-ignore-probes, partial request → 400; server → 502.
    assert_eq!(
        truncated_head(Kind::Request, 0, false).map(|e| e.status),
        Some(400)
    );
    assert_eq!(truncated_head(Kind::Request, 0, true), None);
    assert_eq!(
        truncated_head(Kind::Request, 2, true).map(|e| e.status),
        Some(400)
    );
    assert_eq!(
        truncated_head(Kind::Response, 0, true).map(|e| e.status),
        Some(502)
    );
}

#[test]
fn accept_invalid_requests() {
    let l = limits(true);
    let mut h = Head::new();
    // Invalid names are dropped (the manual's rule; HAProxy 2.6 forwards them lowercased).
    let input = b"GET / HTTP/1.1\r\nHost: a\r\nX\x00A: b\r\n  folded\r\nY: z\r\n\r\n";
    parse_request(input, &l, &mut h).unwrap().unwrap();
    assert_eq!(h.to_vec(), b"GET / HTTP/1.1\r\nHost: a\r\nY: z\r\n\r\n");
    // HTTP/0.9 GET goes on as HTTP/1.0, as HAProxy sends it.
    parse_request(b"GET /\r\n\r\n", &l, &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(h.to_vec(), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.version(), Version::Http10);
    // Other protocol names and long versions are kept as sent.
    parse_request(b"GET / HTTP/1.32\r\n\r\n", &l, &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.version(), h.version_bytes()),
        (Version::Http11, &b"HTTP/1.32"[..])
    );
    assert_eq!(h.to_vec(), b"GET / HTTP/1.32\r\n\r\n");
    parse_request(b"DESCRIBE / RTSP/1.0\r\n\r\n", &l, &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(h.version(), Version::Http10);
    // 8-bit and fragments in the URI, NUL in values.
    parse_request(b"GET /\xc3\xa9#x HTTP/1.1\r\nX: a\x00b\r\n\r\n", &l, &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(h.uri(), b"/\xc3\xa9#x");
    assert_eq!(h.get(b"x"), Some(&b"a\x00b"[..]));
    // Still refused: space in a name, bare CR.
    assert!(parse_request(b"GET / HTTP/1.1\r\nX Y: z\r\n\r\n", &l, &mut h).is_err());
    assert!(parse_request(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", &l, &mut h).is_err());
    // Responses: 4 and 5-digit statuses that fit 16 bits.
    assert!(
        parse_response(b"HTTP/1.1 2000 OK\r\n\r\n", &l, &mut h)
            .unwrap()
            .is_some()
    );
    assert_eq!(h.status(), 2000);
    assert!(parse_response(b"HTTP/1.1 65536 OK\r\n\r\n", &l, &mut h).is_err());
    assert!(parse_response(b"HTTP/1.1 200000 OK\r\n\r\n", &l, &mut h).is_err());
}

// ---- the body bytes that came with the head ----

#[test]
fn received_body_checked_before_any_server() {
    let l = Limits::default();
    let check = |bytes: &[u8]| {
        let mut h = Head::new();
        let n = parse_request(bytes, &l, &mut h).unwrap().unwrap();
        check_received(Kind::Request, request_framing(&h).unwrap(), &l, &bytes[n..])
    };
    let post = |body: &str| {
        format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
    };
    // Malformed within what arrived with the head: refused as HAProxy refuses the whole
    // request (nothing goes to a server), with the offset from the body start.
    for (body, offset) in [
        ("10000000000000000\r\nhello\r\n0\r\n\r\n", 13),
        ("0x5\r\nhello\r\n0\r\n\r\n", 1),
        (" 5\r\nhello\r\n0\r\n\r\n", 0),
        ("5\r\nhelloXX\r\n0\r\n\r\n", 8),
        ("5\r\nhello0\r\n\r\n", 8),
        ("5\r\nhello\r\n0\r\ngarbage\r\n\r\n", 13),
        ("zz\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    ] {
        let e = check(post(body).as_bytes()).unwrap_err();
        assert_eq!((e.status, e.offset), (400, offset), "{body:?}: {e}");
    }
    // Well formed, incomplete, or followed by anything (the next request is its own
    // business): nothing to say yet.
    for body in [
        "",
        "5",
        "5\r\nhel",
        "5;a=b\r\nhello\n0\n\n",
        "5\r\nhello\r\n0\r\n\r\nG(ET garbage",
        "0\r\n\r\n\x00\x01",
    ] {
        assert_eq!(check(post(body).as_bytes()), Ok(()), "{body:?}");
    }
    // Lengths and bodiless requests are plain bytes.
    assert_eq!(
        check(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nzzzGARBAGE\r\n\r\n"),
        Ok(())
    );
    assert_eq!(check(b"GET / HTTP/1.1\r\n\r\nzz\r\n"), Ok(()));
    // A response: 502, and the chunk limits of the buffer apply.
    let mut h = Head::new();
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let n = parse_response(r, &l, &mut h).unwrap().unwrap();
    let framing = response_framing(&h, b"GET").unwrap();
    assert_eq!(
        check_received(Kind::Response, framing, &l, &r[n..]).map_err(|e| e.status),
        Err(502)
    );
    assert_eq!(
        check_received(
            Kind::Response,
            response_framing(&h, b"HEAD").unwrap(),
            &l,
            &r[n..]
        ),
        Ok(())
    );
    let small = Limits::from_tune(1024, 512, 101, false);
    let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(1000));
    assert_eq!(
        check_received(Kind::Request, Framing::Chunked, &small, long_ext.as_bytes())
            .map_err(|e| e.status),
        Err(400)
    );
}
