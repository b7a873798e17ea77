//! Custom error pages as HAProxy reads them: which status codes a proxy may customise, an
//! `errorfile` turned into the response HAProxy sends for it (checked as HAProxy checks it,
//! field names in lower case, `connection` left to the sender), and `errorloc` redirects.

use std::sync::Arc;

use crate::model::Page;

/// The codes HAProxy answers by itself and lets a proxy customise (`errorfile`,
/// `errorloc`, `errorfiles`, `http-error`): HAProxy 2.6's list, with 414 and 431 of 3.x.
pub const ERROR_CODES: [u16; 21] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 421, 422, 425, 429, 431, 500, 501, 502,
    503, 504,
];

/// Whether `code` is one of [`ERROR_CODES`].
pub fn is_error_code(code: u16) -> bool {
    ERROR_CODES.contains(&code)
}

/// The code whose page answers `status`: itself when it has one, else 500 (as in HAProxy).
pub fn page_code(status: u16) -> u16 {
    if is_error_code(status) { status } else { 500 }
}

/// Reads an `errorfile`. Files larger than `bufsize` are refused (HAProxy truncates them
/// with a warning, which leaves a page it then refuses or sends cut).
pub fn load(path: &str, bufsize: usize) -> Result<Arc<Page>, String> {
    let raw = std::fs::read(path).map_err(|_| format!("error opening file '{path}'."))?;
    if raw.len() > bufsize {
        return Err(format!(
            "'{path}': the file is larger than the buffer size ({} > {bufsize} bytes, see 'tune.bufsize')",
            raw.len()
        ));
    }
    parse(&raw)
        .map(Arc::new)
        .map_err(|e| format!("'{path}': {e}"))
}

/// The page of `errorloc302`/`errorloc303`: HAProxy's redirect to `url`, without a body.
pub fn redirect(code: u16, url: &str) -> Result<Arc<Page>, String> {
    let line = if code == 303 {
        "HTTP/1.1 303 See Other"
    } else {
        "HTTP/1.1 302 Found"
    };
    let raw = format!(
        "{line}\r\nCache-Control: no-cache\r\nContent-length: 0\r\nLocation: {url}\r\n\r\n"
    );
    parse(raw.as_bytes())
        .map(Arc::new)
        .map_err(|e| format!("invalid error message: {e}"))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_lws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_lws(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v
        && is_lws(*first)
    {
        v = rest;
    }
    while let [rest @ .., last] = v
        && is_lws(*last)
    {
        v = rest;
    }
    v
}

fn bad_head(offset: isize) -> String {
    format!("unable to parse headers (error offset: {offset})")
}

/// One line of the head: its bytes (without CR LF), its offset, and how many end-of-line
/// bytes follow it (1 or 2). `None` when no LF ends it (the head is incomplete).
fn line_at(raw: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = raw.get(pos..)?;
    let lf = rest.iter().position(|&c| c == b'\n')?;
    let line = &rest[..lf];
    match line.strip_suffix(b"\r") {
        Some(l) => Some((l, 2)),
        None => Some((line, 1)),
    }
}

/// Parses a whole HTTP response the way HAProxy loads an error file. An empty input gives
/// the empty page (nothing is sent, the connection is closed).
pub fn parse(raw: &[u8]) -> Result<Page, String> {
    if raw.is_empty() {
        return Ok(Page {
            status: 0,
            head: Vec::new(),
            body: Vec::new(),
        });
    }
    let incomplete = || bad_head(-2);
    // Status line: HTTP/x.y, code, reason.
    // (Checked before looking for its end, as HAProxy's parser does.)
    let (line, eol) = line_at(raw, 0).unwrap_or((raw, 0));
    let sp = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
    let version = &line[..sp];
    if !version.starts_with(b"HTTP/") || !version.iter().all(|&c| c.is_ascii_graphic()) {
        return Err(bad_head(0));
    }
    if version.len() != 8 {
        return Err(format!(
            "invalid http version ({})",
            String::from_utf8_lossy(version)
        ));
    }
    let v = version;
    if !(v[5].is_ascii_digit() && v[6] == b'.' && v[7].is_ascii_digit()) {
        return Err(bad_head(0));
    }
    let v11 = v[5] > b'1' || (v[5] == b'1' && v[7] >= b'1');
    let mut i = sp;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let code = line.get(i..i + 3).unwrap_or_default();
    if code.len() != 3
        || !code.iter().all(u8::is_ascii_digit)
        || line.get(i + 3).is_some_and(|&c| c != b' ')
    {
        return Err(bad_head(i as isize));
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    i += 3;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let reason = line.get(i..).unwrap_or_default();
    if let Some(p) = reason.iter().position(|&c| c < 0x20 && c != b'\t') {
        return Err(bad_head((i + p) as isize));
    }
    if eol == 0 {
        return Err(incomplete());
    }
    if status < 200 && status != 101 {
        return Err(format!(
            "invalid http status code for an error message ({status})"
        ));
    }
    // Header fields, obs-fold joined with spaces as HAProxy does.
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut pos = line.len() + eol;
    let mut prev_eol = eol;
    let body_at = loop {
        let (line, eol) = line_at(raw, pos).ok_or_else(incomplete)?;
        if line.is_empty() {
            break pos + eol;
        }
        if let Some(p) = line.iter().position(|&c| c < 0x20 && c != b'\t') {
            return Err(bad_head((pos + p) as isize));
        }
        if is_lws(line[0]) {
            let Some((_, value)) = fields.last_mut() else {
                return Err(bad_head(pos as isize));
            };
            value.extend(std::iter::repeat_n(b' ', prev_eol));
            value.extend_from_slice(line);
            let t = trim_lws(value).to_vec();
            *value = t;
        } else {
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                return Err(bad_head(pos as isize));
            };
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
                return Err(bad_head(pos as isize));
            }
            fields.push((
                name.to_ascii_lowercase(),
                trim_lws(&line[colon + 1..]).to_vec(),
            ));
        }
        pos += line.len() + eol;
        prev_eol = eol;
    };
    let body = &raw[body_at..];
    // Length: every Content-Length says the same; chunked payloads are not supported.
    let mut length: Option<u64> = None;
    for (n, v) in &fields {
        if n == b"transfer-encoding"
            && v.split(|&c| c == b',')
                .any(|t| trim_lws(t).eq_ignore_ascii_case(b"chunked"))
        {
            return Err("chunk-encoded payload not supported".into());
        }
        if n == b"content-length" {
            for part in v.split(|&c| c == b',') {
                let part = trim_lws(part);
                let n = std::str::from_utf8(part)
                    .ok()
                    .filter(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|p| p.parse::<u64>().ok())
                    .ok_or_else(|| bad_head(0))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad_head(0));
                }
                length = Some(n);
            }
        }
    }
    let bodiless = status == 204 || status == 304 || status < 200;
    if bodiless || length == Some(0) {
        if !body.is_empty() {
            return Err("message payload not expected".into());
        }
    } else if let Some(n) = length
        && n != body.len() as u64
    {
        return Err(format!(
            "payload size does not match the announced content-length ({} != {n})",
            body.len()
        ));
    }
    // `connection`: close and keep-alive are the sender's business; other tokens stay.
    let mut closes = false;
    let mut head = Vec::with_capacity(raw.len().min(body_at) + 32);
    head.extend_from_slice(version);
    head.push(b' ');
    head.extend_from_slice(code);
    head.push(b' ');
    head.extend_from_slice(reason);
    head.extend_from_slice(b"\r\n");
    let mut length_written = false;
    for (n, v) in &fields {
        let mut value = v.clone();
        if n == b"connection" {
            let mut kept: Vec<&[u8]> = Vec::new();
            for t in v.split(|&c| c == b',').map(trim_lws) {
                if t.eq_ignore_ascii_case(b"close") {
                    closes = true;
                } else if !t.is_empty() && !t.eq_ignore_ascii_case(b"keep-alive") {
                    kept.push(t);
                }
            }
            if kept.is_empty() {
                continue;
            }
            value = kept.join(&b", "[..]);
        } else if n == b"content-length" {
            // Repeated lengths (all equal) go out once.
            if length_written {
                continue;
            }
            length_written = true;
            if !bodiless && let Some(l) = length {
                value = l.to_string().into_bytes();
            }
        }
        head.extend_from_slice(n);
        head.extend_from_slice(b": ");
        head.extend_from_slice(&value);
        head.extend_from_slice(b"\r\n");
    }
    // A page that must close says so last (HAProxy's HTTP/1.1 sender does), as does an
    // HTTP/1.1 page whose body ends with the connection.
    if closes || (v11 && length.is_none() && !bodiless) {
        head.extend_from_slice(b"connection: close\r\n");
    }
    Ok(Page {
        status,
        head,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(raw: &str) -> String {
        let p = parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut out = String::from_utf8(p.head).unwrap();
        out.push_str("\r\n");
        out.push_str(&String::from_utf8(p.body).unwrap());
        out
    }

    fn err(raw: &str) -> String {
        parse(raw.as_bytes()).err().unwrap_or_default()
    }

    #[test]
    fn pages_as_haproxy_2_6_sends_them() {
        assert_eq!(
            page(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Mixed-Case: Yes\r\n\r\nsorry"
            ),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nx-mixed-case: Yes\r\n\r\nsorry"
        );
        // Bare LF, HTTP/1.0, no length: sent as is, the connection ends the body.
        assert_eq!(
            page("HTTP/1.0 503 Nope\nContent-Type: text/plain\n\nno length body"),
            "HTTP/1.0 503 Nope\r\ncontent-type: text/plain\r\n\r\nno length body"
        );
        assert_eq!(
            page("HTTP/1.1 503 No Len\r\nX-A: 1\r\n\r\nbody here"),
            "HTTP/1.1 503 No Len\r\nx-a: 1\r\nconnection: close\r\n\r\nbody here"
        );
        assert_eq!(
            page("HTTP/1.1 503\r\nX-A:   spaced   \r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 503 \r\nx-a: spaced\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            page("HTTP/1.1  503   Two  Spaces \r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 503 Two  Spaces \r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            page("HTTP/1.1 503 X\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
            "HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\nok"
        );
        assert_eq!(
            page("HTTP/1.1 503 X\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
            "HTTP/1.1 503 X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
        );
        assert_eq!(
            page("HTTP/1.1 503 X\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
            "HTTP/1.1 503 X\r\ncontent-length: 2\r\n\r\nok"
        );
        assert_eq!(
            page("HTTP/1.1 503 X\r\nContent-Length: 0\r\nX-Folded: a\r\n b\r\n\r\n"),
            "HTTP/1.1 503 X\r\ncontent-length: 0\r\nx-folded: a   b\r\n\r\n"
        );
        assert_eq!(page("HTTP/1.1 204 X\r\n\r\n"), "HTTP/1.1 204 X\r\n\r\n");
        assert_eq!(
            page("HTTP/1.1 304 X\r\nContent-Length: 5\r\n\r\n"),
            "HTTP/1.1 304 X\r\ncontent-length: 5\r\n\r\n"
        );
        let p = parse(b"").unwrap();
        assert!(p.head.is_empty() && p.body.is_empty());
    }

    #[test]
    fn refused_as_haproxy_2_6_refuses_them() {
        assert_eq!(
            err("HTTP/1.1 503 X\r\nContent-Length: 10\r\n\r\nshort"),
            "payload size does not match the announced content-length (5 != 10)"
        );
        assert_eq!(
            err("HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            "chunk-encoded payload not supported"
        );
        assert_eq!(
            err("hello world"),
            "unable to parse headers (error offset: 0)"
        );
        assert_eq!(
            err("HTTP/1.1 503 X\r\nContent-Length: 2\r\n"),
            "unable to parse headers (error offset: -2)"
        );
        assert_eq!(
            err("HTTP/1.1 204 X\r\n\r\nbody"),
            "message payload not expected"
        );
        assert_eq!(
            err("HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\nbody"),
            "message payload not expected"
        );
        assert_eq!(
            err("HTTP/1.1 100 Continue\r\n\r\n"),
            "invalid http status code for an error message (100)"
        );
        assert_eq!(
            err("HTTP/1.10 503 X\r\n\r\n"),
            "invalid http version (HTTP/1.10)"
        );
        assert!(err("HTTP/1.1 503 X\r\nBad Name: x\r\n\r\n").starts_with("unable to parse"));
        assert!(err("HTTP/1.1 503 X\r\n folded-first\r\n\r\n").starts_with("unable to parse"));
        assert!(err("HTTP/1.1 5x3 X\r\n\r\n").starts_with("unable to parse"));
    }

    #[test]
    fn redirects_and_codes() {
        let p = redirect(302, "/err?x=1").unwrap();
        assert_eq!(
            String::from_utf8(p.head.clone()).unwrap(),
            "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /err?x=1\r\n"
        );
        assert_eq!(p.status, 302);
        let p = redirect(303, "http://e.x/y").unwrap();
        assert!(p.head.starts_with(b"HTTP/1.1 303 See Other\r\n"));
        assert!(is_error_code(421) && is_error_code(422) && !is_error_code(418));
        assert_eq!((page_code(503), page_code(418)), (503, 500));
        assert!(
            load("/nonexistent/x.http", 16384).unwrap_err()
                == "error opening file '/nonexistent/x.http'."
        );
    }
}
