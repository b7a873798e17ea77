//! Head parsing (requests and responses) with HAProxy 2.6's rules and status codes, line by
//! line and resumable. Written by hand, not with `httparse`: HAProxy accepts what httparse
//! refuses (tabs and repeated spaces between request-line words, `HTTP/2.0` or `HTTP/0.9`, DEL in
//! URIs, control bytes in values, obs-fold in requests, any number of fields), refuses what it
//! accepts (`#` and 8-bit bytes in URIs), and measures its size limit on its internal form.

use super::framing;
use super::head::{Field, Head, Kind, LinePos, Partial, Phase, Span, is_tchar};
use super::{Limits, ParseError, Version};

/// HAProxy stores a parsed head as blocks (HTX): each block (start line, field, end of
/// headers) costs 8 bytes beside its data, the start line and field separators are not
/// stored, and 69 bytes of the room are taken by fixed structures. A head fits when
/// `start-line words + 8 + Σ(name + value + 8) + 8 <= max_head - 69`. Measured against
/// HAProxy 2.6 with bufsize 16384/8192 and maxrewrite 1024/2000, to the byte.
const HTX_BLOCK: usize = 8;
const HTX_RESERVE: usize = 69;

/// Parses a request head at the start of `input` into `head`.
///
/// `Ok(None)`: incomplete, call again with the same buffer grown (parsing resumes where it
/// stopped; `head.clear()` first to parse another buffer). `Ok(Some(n))`: a complete head of
/// `n` bytes (leading empty lines included), the body or next message starts at `n`.
/// `Err`: what HAProxy would answer (400, 413, 422). A head longer than `limits.max_raw`
/// bytes or larger than `limits.max_head` once stored is an error, as is too many fields.
pub fn parse_request(
    input: &[u8],
    limits: &Limits,
    head: &mut Head,
) -> Result<Option<usize>, ParseError> {
    parse(input, limits, head, Kind::Request)
}

/// Parses a response head; errors are 502 (what HAProxy answers the client).
pub fn parse_response(
    input: &[u8],
    limits: &Limits,
    head: &mut Head,
) -> Result<Option<usize>, ParseError> {
    parse(input, limits, head, Kind::Response)
}

fn err(kind: Kind, reason: &'static str, offset: usize) -> ParseError {
    let status = match kind {
        Kind::Request => 400,
        Kind::Response => 502,
    };
    ParseError {
        status,
        reason,
        offset,
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn parse(
    input: &[u8],
    limits: &Limits,
    head: &mut Head,
    kind: Kind,
) -> Result<Option<usize>, ParseError> {
    let r = parse_lines(input, limits, head, kind);
    if r.is_err() {
        head.progress.phase = Phase::Idle;
    }
    r
}

fn parse_lines(
    input: &[u8],
    limits: &Limits,
    head: &mut Head,
    kind: Kind,
) -> Result<Option<usize>, ParseError> {
    let resuming = head.progress.phase != Phase::Idle
        && head.kind == kind
        && head.progress.next <= input.len();
    if !resuming {
        head.clear();
        head.kind = kind;
        head.progress.phase = Phase::Start;
    }
    let mut pos = head.progress.next;
    // Only the first `max_raw` bytes can hold the head (HAProxy's input buffer).
    let window = input
        .get(..limits.max_raw.min(input.len()))
        .unwrap_or_default();
    loop {
        // The bytes of this line checked by an earlier call hold no LF.
        let from = pos + head.progress.partial.checked;
        let Some(lf) = window
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map(|i| from + i)
        else {
            head.progress.next = pos;
            check_partial(head, window.get(pos..).unwrap_or_default(), pos, limits)?;
            if input.len() >= limits.max_raw {
                return Err(err(kind, "head too large", limits.max_raw));
            }
            return Ok(None);
        };
        head.progress.partial = Partial::default();
        let crlf = lf > pos && window.get(lf - 1) == Some(&b'\r');
        let content_end = if crlf { lf - 1 } else { lf };
        let line = window.get(pos..content_end).unwrap_or_default();
        let next = lf + 1;
        if head.progress.phase == Phase::Start {
            if line.is_empty() {
                // Empty lines before the start line are skipped (RFC 9112 section 2.2).
                pos = next;
                head.base = pos;
                continue;
            }
            head.buf
                .extend_from_slice(window.get(pos..next).unwrap_or_default());
            head.progress.irregular |= !crlf;
            match kind {
                Kind::Request => request_line(head, line, pos, limits)?,
                Kind::Response => status_line(head, line, pos, limits)?,
            }
            head.progress.phase = Phase::Headers;
        } else {
            head.buf
                .extend_from_slice(window.get(pos..next).unwrap_or_default());
            head.progress.irregular |= !crlf;
            if line.is_empty() {
                head.progress.cost += HTX_BLOCK;
                check_cost(head, limits, kind, pos)?;
                head.progress.phase = Phase::Idle;
                head.progress.next = 0;
                finish(head, limits, next)?;
                return Ok(Some(next));
            }
            let first = line.first().copied().unwrap_or(0);
            if is_ows(first) {
                fold(head, line, pos, limits)?;
            } else {
                field(head, line, pos, limits)?;
            }
        }
        check_cost(head, limits, kind, pos)?;
        pos = next;
    }
}

fn check_cost(head: &Head, limits: &Limits, kind: Kind, pos: usize) -> Result<(), ParseError> {
    if head.progress.cost > limits.max_head.saturating_sub(HTX_RESERVE) {
        return Err(err(kind, "head too large", pos));
    }
    Ok(())
}

/// `HTTP/d.d` exactly: (major, minor).
fn strict_version(v: &[u8]) -> Option<(u32, u32)> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', maj, b'.', min]
            if maj.is_ascii_digit() && min.is_ascii_digit() =>
        {
            Some((u32::from(maj - b'0'), u32::from(min - b'0')))
        }
        _ => None,
    }
}

/// `token/digits.digits`: what `accept-invalid-http-*` lets through (RTSP/1.0, HTTP/1.32).
fn loose_version(v: &[u8]) -> Option<(u32, u32)> {
    let slash = v.iter().position(|&b| b == b'/')?;
    let (name, nums) = v.split_at(slash);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let nums = nums.get(1..)?;
    let dot = nums.iter().position(|&b| b == b'.')?;
    let (maj, min) = nums.split_at(dot);
    let min = min.get(1..)?;
    let num = |d: &[u8]| -> Option<u32> {
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0u32, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u32::from(b - b'0'))
        }))
    };
    Some((num(maj)?, num(min)?))
}

fn version_of(major: u32, minor: u32) -> Version {
    if (major, minor) >= (1, 1) {
        Version::Http11
    } else {
        Version::Http10
    }
}

/// Version token → (version, needs rewriting as HTTP/1.0 or HTTP/1.1).
fn parse_version(v: &[u8], limits: &Limits) -> Option<(Version, bool)> {
    if let Some((maj, min)) = strict_version(v) {
        let version = version_of(maj, min);
        return Some((version, v != version.as_bytes()));
    }
    if limits.accept_invalid {
        let (maj, min) = loose_version(v)?;
        return Some((version_of(maj, min), false));
    }
    None
}

/// Splits a start line in up to three words separated by spaces or tabs; the third word is
/// the rest of the line. Returns the word spans relative to the line.
fn split3(line: &[u8]) -> [(usize, usize); 3] {
    let mut words = [(line.len(), line.len()); 3];
    let mut i = 0;
    for (n, w) in words.iter_mut().enumerate() {
        while n > 0 && i < line.len() && line.get(i).copied().is_some_and(is_ows) {
            i += 1;
        }
        let start = i;
        if n == 2 {
            i = line.len();
        } else {
            while i < line.len() && !line.get(i).copied().is_some_and(is_ows) {
                i += 1;
            }
        }
        *w = (start, i);
    }
    words
}

fn request_line(
    head: &mut Head,
    line: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<(), ParseError> {
    let k = Kind::Request;
    let [m, u, v] = split3(line);
    let word = |(a, b): (usize, usize)| line.get(a..b).unwrap_or_default();
    let (method, uri, version) = (word(m), word(u), word(v));
    if method.is_empty() {
        return Err(err(k, "empty method", pos));
    }
    if let Some(i) = method.iter().position(|&b| !is_tchar(b)) {
        return Err(err(k, "invalid character in method", pos + i));
    }
    if uri.is_empty() {
        return Err(err(k, "missing request target", pos + u.0));
    }
    for (i, &b) in uri.iter().enumerate() {
        let bad = match b {
            0..=0x1f => true,
            b'#' | 0x80..=0xff => !limits.accept_invalid,
            _ => false,
        };
        if bad {
            return Err(err(k, "invalid character in request target", pos + u.0 + i));
        }
    }
    if let Some(i) = line.iter().position(|&b| b == b'\r') {
        return Err(err(k, "bare CR in request line", pos + i));
    }
    let (ver, fix) = if version.is_empty() {
        // HTTP/0.9 form: only `GET uri`, and only when invalid requests are accepted.
        if limits.accept_invalid && method == b"GET" {
            (Version::Http10, true)
        } else {
            return Err(err(k, "missing version", pos + v.0));
        }
    } else {
        match parse_version(version, limits) {
            Some(x) => x,
            None => return Err(err(k, "invalid version", pos + v.0)),
        }
    };
    if method == b"PRI" && uri == b"*" && version == b"HTTP/2.0" {
        // The HTTP/2 connection preface: halo does not upgrade HTTP/1 listeners to HTTP/2,
        // and HAProxy answers 400 to it when the upgrade is off.
        return Err(err(k, "HTTP/2 preface on an HTTP/1 listener", pos));
    }
    if method == b"CONNECT" && !limits.accept_invalid && !connect_target_ok(uri) {
        return Err(err(k, "invalid CONNECT target", pos + u.0));
    }
    let lstart = pos - head.base;
    head.start = [
        Span::new(lstart + m.0, lstart + m.1),
        Span::new(lstart + u.0, lstart + u.1),
        Span::new(lstart + v.0, lstart + v.1),
    ];
    head.version = ver;
    head.progress.fix_version = fix;
    let canonical = !fix && m.1 + 1 == u.0 && u.1 + 1 == v.0 && v.1 == line.len();
    let canonical = canonical && line.get(m.1) == Some(&b' ') && line.get(u.1) == Some(&b' ');
    head.start_line = if canonical {
        Some(Span::new(lstart, lstart + line.len()))
    } else {
        head.progress.irregular = true;
        None
    };
    head.progress.cost = method.len() + uri.len() + version.len() + HTX_BLOCK;
    Ok(())
}

fn status_line(
    head: &mut Head,
    line: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<(), ParseError> {
    let k = Kind::Response;
    let [v, s, r] = split3(line);
    let word = |(a, b): (usize, usize)| line.get(a..b).unwrap_or_default();
    let (version, code, reason) = (word(v), word(s), word(r));
    let (ver, fix) = match parse_version(version, limits) {
        Some(x) => x,
        None => return Err(err(k, "invalid version", pos)),
    };
    let digits_ok = code.iter().all(u8::is_ascii_digit);
    let len_ok = code.len() == 3 || (limits.accept_invalid && (3..=5).contains(&code.len()));
    let value = code.iter().fold(0u32, |acc, &b| {
        acc.saturating_mul(10)
            .saturating_add(u32::from(b.wrapping_sub(b'0')))
    });
    let status = match u16::try_from(value) {
        Ok(st) if digits_ok && len_ok && st >= 100 => st,
        _ => return Err(err(k, "invalid status code", pos + s.0)),
    };
    if let Some(i) = line.iter().position(|&b| b == b'\r') {
        return Err(err(k, "bare CR in status line", pos + i));
    }
    let lstart = pos - head.base;
    head.start = [
        Span::new(lstart + v.0, lstart + v.1),
        Span::new(lstart + s.0, lstart + s.1),
        Span::new(lstart + r.0, lstart + r.1),
    ];
    head.version = ver;
    head.status = status;
    head.progress.fix_version = fix;
    let sep_ok = |a: usize, b: usize| a + 1 == b && line.get(a) == Some(&b' ');
    let canonical =
        !fix && sep_ok(v.1, s.0) && (s.1 == line.len() || (sep_ok(s.1, r.0) && r.1 == line.len()));
    head.start_line = if canonical {
        Some(Span::new(lstart, lstart + line.len()))
    } else {
        head.progress.irregular = true;
        None
    };
    head.progress.cost = version.len() + code.len() + reason.len() + HTX_BLOCK;
    Ok(())
}

/// Checks the bytes of a field value: a CR not ending the line is refused, so is NUL unless
/// invalid messages are accepted. Returns the offset of the bad byte in `v`.
fn bad_value_byte(v: &[u8], limits: &Limits) -> Option<(usize, &'static str)> {
    for (i, &b) in v.iter().enumerate() {
        if b == b'\r' {
            return Some((i, "bare CR in header"));
        }
        if b == 0 && !limits.accept_invalid {
            return Some((i, "NUL in header value"));
        }
    }
    None
}

/// The span of `line[from..]` without the whitespace around it, relative to `line`.
fn trimmed(line: &[u8], from: usize) -> (usize, usize) {
    let mut a = from;
    let mut b = line.len();
    while a < b && line.get(a).copied().is_some_and(is_ows) {
        a += 1;
    }
    while b > a && line.get(b - 1).copied().is_some_and(is_ows) {
        b -= 1;
    }
    (a, b)
}

fn field(head: &mut Head, line: &[u8], pos: usize, limits: &Limits) -> Result<(), ParseError> {
    let k = head.kind;
    let mut colon = None;
    let mut invalid_name = false;
    for (i, &b) in line.iter().enumerate() {
        if b == b':' {
            colon = Some(i);
            break;
        }
        if is_tchar(b) {
            continue;
        }
        if is_ows(b) || b == b'\r' || !limits.accept_invalid {
            return Err(err(k, "invalid character in header name", pos + i));
        }
        invalid_name = true;
    }
    let Some(colon) = colon else {
        return Err(err(k, "header line without colon", pos));
    };
    if colon == 0 {
        return Err(err(k, "empty header name", pos));
    }
    let value_bytes = line.get(colon + 1..).unwrap_or_default();
    if let Some((i, reason)) = bad_value_byte(value_bytes, limits) {
        return Err(err(k, reason, pos + colon + 1 + i));
    }
    head.progress.count += 1;
    if head.progress.count + 1 > limits.max_headers {
        return Err(err(k, "too many headers", pos));
    }
    if invalid_name {
        // Accepted invalid name: the field is dropped (the manual's rule for the option).
        head.progress.last_dropped = true;
        head.progress.irregular = true;
        return Ok(());
    }
    head.progress.last_dropped = false;
    let (va, vb) = trimmed(line, colon + 1);
    let lstart = pos - head.base;
    head.fields.push(Field {
        name: Span::new(lstart, lstart + colon),
        value: Span::new(lstart + va, lstart + vb),
        line: Some(Span::new(lstart, lstart + line.len())),
    });
    head.progress.cost += colon + (vb - va) + HTX_BLOCK;
    Ok(())
}

/// A line starting with a space or tab continues the previous field (obs-fold): like HAProxy,
/// the line break is replaced by spaces and the value runs on.
fn fold(head: &mut Head, line: &[u8], pos: usize, limits: &Limits) -> Result<(), ParseError> {
    let k = head.kind;
    if head.fields.is_empty() && !head.progress.last_dropped {
        return Err(err(k, "folded line without header", pos));
    }
    if let Some((i, reason)) = bad_value_byte(line, limits) {
        return Err(err(k, reason, pos + i));
    }
    head.progress.irregular = true;
    if head.progress.last_dropped {
        return Ok(());
    }
    let (a, b) = trimmed(line, 0);
    if a == b {
        return Ok(());
    }
    let lstart = pos - head.base;
    let (na, nb) = (lstart + a, lstart + b);
    let Some(last) = head.fields.last_mut() else {
        return Ok(());
    };
    let old = last.value.len();
    if last.value.start == last.value.end {
        last.value = Span::new(na, nb);
    } else {
        let from = last.value.end;
        if let Some(gap) = head.buf.get_mut(from..na) {
            for byte in gap {
                if *byte == b'\r' || *byte == b'\n' {
                    *byte = b' ';
                }
            }
        }
        last.value.end = nb;
    }
    last.line = None;
    head.progress.cost += last.value.len().saturating_sub(old);
    Ok(())
}

/// After the empty line: message-level checks and HAProxy's normalizations.
fn finish(head: &mut Head, limits: &Limits, end: usize) -> Result<(), ParseError> {
    if head.progress.fix_version {
        let i = if head.kind == Kind::Request { 2 } else { 0 };
        let start = head.buf.len();
        head.buf.extend_from_slice(head.version.as_bytes());
        head.start[i] = Span::new(start, head.buf.len());
        head.start_line = None;
    }
    let raw_len = end - head.base;
    let clean = !head.progress.irregular && head.start_line.is_some();
    head.verbatim = if clean {
        Some(Span::new(0, raw_len))
    } else {
        None
    };
    match head.kind {
        Kind::Request => {
            check_host(head, limits)?;
            check_websocket_request(head, limits)?;
            let framing = framing::check_request(head, limits)?;
            framing::normalize(head, framing, limits);
        }
        Kind::Response => {
            check_websocket_response(head, limits)?;
            let framing = framing::check_response(head, limits.accept_invalid)?;
            if framing != framing::Framing::Chunked && head.count(b"transfer-encoding") > 0 {
                // An empty Transfer-Encoding accepted by `accept-invalid-http-response`: it
                // says nothing, so it goes (the body then runs until the close).
                head.remove(b"transfer-encoding");
            }
            framing::normalize(head, framing, limits);
            if head.status == 204 {
                // HAProxy drops the length of a 204: it has no body whatever it says.
                head.remove(b"content-length");
            }
        }
    }
    Ok(())
}

fn field_offset(head: &Head, f: &Field) -> usize {
    head.input_offset(f.name.start)
}

/// Several `Host` fields must all carry the same value (they are merged into the first);
/// the authority of an absolute-form or CONNECT target must match `Host`.
fn check_host(head: &mut Head, limits: &Limits) -> Result<(), ParseError> {
    let hosts: Vec<usize> = head
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| head.slice(f.name).eq_ignore_ascii_case(b"host"))
        .map(|(i, _)| i)
        .collect();
    if let Some((&first, rest)) = hosts.split_first() {
        let first_value = head.fields.get(first).map(|f| f.value).unwrap_or_default();
        for &i in rest {
            let Some(f) = head.fields.get(i) else {
                continue;
            };
            if !head
                .slice(f.value)
                .eq_ignore_ascii_case(head.slice(first_value))
            {
                return Err(err(
                    Kind::Request,
                    "conflicting Host headers",
                    field_offset(head, f),
                ));
            }
        }
        if !rest.is_empty() {
            let mut n = 0;
            head.fields.retain(|_| {
                n += 1;
                !rest.contains(&(n - 1))
            });
            head.verbatim = None;
        }
    }
    if limits.accept_invalid {
        return Ok(());
    }
    let uri = head.uri();
    let connect = head.method() == b"CONNECT";
    let Some(auth) = authority(uri) else {
        return Ok(());
    };
    let auth = strip_userinfo(auth);
    if auth.is_empty() {
        return Ok(());
    }
    let Some(host) = head.get(b"host") else {
        return Ok(());
    };
    let defaults: &[&[u8]] = if connect {
        &[b"80", b"443"]
    } else {
        match scheme(uri) {
            Some(s) if s.eq_ignore_ascii_case(b"http") => &[b"80", b""],
            Some(s) if s.eq_ignore_ascii_case(b"https") => &[b"443", b""],
            _ => &[],
        }
    };
    let same = auth.eq_ignore_ascii_case(host)
        || strip_port(auth, defaults).eq_ignore_ascii_case(host)
        || auth.eq_ignore_ascii_case(strip_port(host, defaults));
    if !same {
        let off = head
            .fields
            .iter()
            .find(|f| head.slice(f.name).eq_ignore_ascii_case(b"host"))
            .map(|f| field_offset(head, f))
            .unwrap_or(0);
        return Err(err(
            Kind::Request,
            "Host does not match the target's authority",
            off,
        ));
    }
    Ok(())
}

/// The scheme of an absolute-form target (`http` in `http://a/`).
fn scheme(uri: &[u8]) -> Option<&[u8]> {
    let first = uri.first()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let colon = uri.iter().position(|&b| b == b':')?;
    let s = uri.get(..colon)?;
    if !s
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        return None;
    }
    if uri.get(colon + 1..colon + 3) != Some(b"//") {
        return None;
    }
    Some(s)
}

/// The authority of a request target as HAProxy sees it: after `scheme://` up to the next
/// `/` for absolute-form, the target up to its first `/` for anything else not starting with
/// `/` or `*` (authority-form). `None` for origin-form and `*`. Userinfo is included.
pub fn authority(uri: &[u8]) -> Option<&[u8]> {
    match uri.first() {
        None | Some(b'/') | Some(b'*') => return None,
        _ => {}
    }
    let rest = match scheme(uri) {
        Some(s) => uri.get(s.len() + 3..).unwrap_or_default(),
        None => uri,
    };
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    rest.get(..end)
}

fn strip_userinfo(auth: &[u8]) -> &[u8] {
    match auth.iter().rposition(|&b| b == b'@') {
        Some(i) => auth.get(i + 1..).unwrap_or_default(),
        None => auth,
    }
}

/// `host:port` without the port when the port is one of `defaults` (`b""` = empty port).
fn strip_port<'a>(hostport: &'a [u8], defaults: &[&[u8]]) -> &'a [u8] {
    let close = hostport.iter().rposition(|&b| b == b']').unwrap_or(0);
    let Some(colon) = hostport.iter().rposition(|&b| b == b':') else {
        return hostport;
    };
    if colon < close {
        return hostport;
    }
    let port = hostport.get(colon + 1..).unwrap_or_default();
    if defaults.contains(&port) {
        hostport.get(..colon).unwrap_or(hostport)
    } else {
        hostport
    }
}

/// CONNECT needs `host:port` with a numeric port and no userinfo.
fn connect_target_ok(uri: &[u8]) -> bool {
    let Some(auth) = authority(uri) else {
        return false;
    };
    if auth.contains(&b'@') {
        return false;
    }
    let Some(colon) = auth.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let port = auth.get(colon + 1..).unwrap_or_default();
    !port.is_empty() && port.iter().all(u8::is_ascii_digit)
}

/// Whether a comma-separated header (all its fields) lists `token` (case-insensitively).
pub(crate) fn has_token(head: &Head, name: &[u8], token: &[u8]) -> bool {
    head.get_all(name).any(|v| {
        v.split(|&b| b == b',')
            .any(|t| trim(t).eq_ignore_ascii_case(token))
    })
}

pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let (a, b) = trimmed(v, 0);
    v.get(a..b).unwrap_or_default()
}

fn is_websocket_upgrade(head: &Head) -> bool {
    has_token(head, b"connection", b"upgrade") && has_token(head, b"upgrade", b"websocket")
}

/// A WebSocket upgrade request needs a `Sec-WebSocket-Key` of 24 characters.
fn check_websocket_request(head: &Head, limits: &Limits) -> Result<(), ParseError> {
    if limits.accept_invalid || !is_websocket_upgrade(head) {
        return Ok(());
    }
    match head.get(b"sec-websocket-key") {
        Some(k) if k.len() == 24 => Ok(()),
        _ => Err(err(
            Kind::Request,
            "WebSocket upgrade without a valid key",
            0,
        )),
    }
}

/// A 101 switching to WebSocket needs a `Sec-WebSocket-Accept`.
fn check_websocket_response(head: &Head, limits: &Limits) -> Result<(), ParseError> {
    if limits.accept_invalid || head.status != 101 || !has_token(head, b"upgrade", b"websocket") {
        return Ok(());
    }
    if head.get(b"sec-websocket-accept").is_none() {
        return Err(err(
            Kind::Response,
            "WebSocket 101 without Sec-WebSocket-Accept",
            0,
        ));
    }
    Ok(())
}

/// Checks the bytes of an incomplete line that earlier calls did not check, so that what
/// HAProxy refuses before the line ends (it parses byte by byte) is refused at once, not after
/// `timeout http-request`. Only errors that no further byte could repair are reported; the
/// complete line is parsed again by the line parsers, which have the last word.
fn check_partial(
    head: &mut Head,
    line: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<(), ParseError> {
    let kind = head.kind;
    let strict = !limits.accept_invalid;
    let fold_ok = !head.fields.is_empty() || head.progress.last_dropped;
    let start = head.progress.phase == Phase::Start;
    let mut p = head.progress.partial;
    let mut i = p.checked;
    while let Some(&b) = line.get(i) {
        let off = pos + i;
        if p.cr {
            let cr_at = off - 1;
            return Err(err(kind, "bare CR", cr_at));
        }
        if b == b'\r' {
            p.cr = true;
            i += 1;
            continue;
        }
        let ows = is_ows(b);
        let fail = |reason| Err(err(kind, reason, off));
        match p.at {
            LinePos::Fresh if start && kind == Kind::Request => {
                if !is_tchar(b) {
                    return fail("invalid character in method");
                }
                p.at = LinePos::Method;
            }
            LinePos::Fresh if start => {
                if ows {
                    return fail("invalid version");
                }
                p.at = LinePos::StatusVersion;
                p.word_start = i;
            }
            LinePos::Fresh => {
                if ows {
                    if !fold_ok {
                        return Err(err(kind, "folded line without header", pos));
                    }
                    p.at = LinePos::Fold;
                } else if b == b':' {
                    return Err(err(kind, "empty header name", pos));
                } else if is_tchar(b) || !strict {
                    p.at = LinePos::Name;
                } else {
                    return fail("invalid character in header name");
                }
            }
            LinePos::Method => {
                if ows {
                    p.at = LinePos::AfterMethod;
                } else if !is_tchar(b) {
                    return fail("invalid character in method");
                }
            }
            LinePos::AfterMethod | LinePos::Uri => {
                if ows {
                    if p.at == LinePos::Uri {
                        p.at = LinePos::AfterUri;
                    }
                } else {
                    p.at = LinePos::Uri;
                    let bad = match b {
                        0..=0x1f => true,
                        b'#' | 0x80..=0xff => strict,
                        _ => false,
                    };
                    if bad {
                        return fail("invalid character in request target");
                    }
                }
            }
            LinePos::AfterUri | LinePos::Version => {
                if p.at == LinePos::AfterUri {
                    if ows {
                        i += 1;
                        continue;
                    }
                    p.at = LinePos::Version;
                    p.word_start = i;
                }
                // HAProxy checks the version itself at the end of the line, but refuses a
                // space after it at once.
                if ows {
                    return Err(err(kind, "invalid version", pos + p.word_start));
                }
            }
            LinePos::StatusVersion => {
                if ows {
                    p.at = LinePos::AfterStatusVersion;
                }
            }
            LinePos::AfterStatusVersion | LinePos::Status => {
                if p.at == LinePos::AfterStatusVersion {
                    if ows {
                        i += 1;
                        continue;
                    }
                    p.at = LinePos::Status;
                    p.word_start = i;
                }
                // Digits so far, this byte excluded.
                let n = i - p.word_start;
                let max = if strict { 3 } else { 5 };
                let ok = if ows {
                    n == 3 || (!strict && (3..=5).contains(&n))
                } else {
                    b.is_ascii_digit() && n < max
                };
                if !ok {
                    return Err(err(kind, "invalid status code", pos + p.word_start));
                }
                if ows {
                    p.at = LinePos::Reason;
                }
            }
            LinePos::Reason => {}
            LinePos::Name => {
                if b == b':' {
                    p.at = LinePos::Value;
                } else if ows || (strict && !is_tchar(b)) {
                    return fail("invalid character in header name");
                }
            }
            LinePos::Value | LinePos::Fold => {
                if b == 0 && strict {
                    return fail("NUL in header value");
                }
            }
        }
        i += 1;
    }
    p.checked = i;
    head.progress.partial = p;
    Ok(())
}

/// What HAProxy answers when the peer closes before a complete head (after `received`
/// bytes): 400 to a client, even one that sent only empty lines or nothing at all, 502 for a
/// server. With `option http-ignore-probes`, a client that sent no byte gets no answer
/// (`None`: close silently, log nothing). A `timeout http-request` is the proxy's 408.
pub fn truncated_head(kind: Kind, received: usize, ignore_probes: bool) -> Option<ParseError> {
    if kind == Kind::Request && received == 0 && ignore_probes {
        return None;
    }
    Some(err(
        kind,
        "connection closed before the end of the head",
        received,
    ))
}
