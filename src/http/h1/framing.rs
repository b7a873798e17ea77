//! Message framing from the head: `Content-Length` and `Transfer-Encoding` checked as HAProxy
//! 2.6 checks them (statuses included), the normalizations it applies (merged lengths, length
//! dropped beside chunked), and the connection questions: close, upgrade, 100-continue.

use super::head::{Head, Kind};
use super::parse::{has_token, trim};
use super::{Limits, ParseError, Version};

/// How the body of a message is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes (responses only).
    UntilClose,
    /// The connection becomes a tunnel (CONNECT 2xx, 101 Switching Protocols): bytes flow both
    /// ways until either side closes.
    Tunnel,
}

fn error(status: u16, reason: &'static str, offset: usize) -> ParseError {
    ParseError {
        status,
        reason,
        offset,
    }
}

/// What the `Transfer-Encoding` fields say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Te {
    /// No such field.
    Absent,
    /// Fields present but holding no coding at all.
    Empty,
    /// `chunked` last and alone.
    Chunked,
    /// `chunked` last, after other codings (HAProxy answers 422 to such a request).
    ChunkedAfterOthers,
    /// `chunked` missing, not last, or repeated.
    Invalid,
}

/// Reads the codings of every `Transfer-Encoding` field in order, word by word as HAProxy
/// does: whitespace is skipped before a word, a word runs to the next comma and is trimmed,
/// so `,chunked` has an empty coding before `chunked` but `chunked,` has nothing after it.
/// Returns the verdict and the offset of the field that decided it.
fn transfer_encoding(head: &Head) -> (Te, usize) {
    let mut seen = false;
    let mut chunked = false;
    let mut others = false;
    let mut offset = 0;
    for f in &head.fields {
        if !head
            .slice(f.name)
            .eq_ignore_ascii_case(b"transfer-encoding")
        {
            continue;
        }
        if !seen {
            offset = head.input_offset(f.name.start);
        }
        seen = true;
        let v = head.slice(f.value);
        let mut i = 0;
        loop {
            while v.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
                i += 1;
            }
            if i >= v.len() {
                break;
            }
            let start = i;
            while v.get(i).is_some_and(|&b| b != b',') {
                i += 1;
            }
            let word = trim(v.get(start..i).unwrap_or_default());
            if word.eq_ignore_ascii_case(b"chunked") {
                if chunked {
                    return (Te::Invalid, head.input_offset(f.name.start));
                }
                chunked = true;
            } else {
                if chunked {
                    return (Te::Invalid, head.input_offset(f.name.start));
                }
                others = true;
            }
            if i >= v.len() {
                break;
            }
            i += 1;
        }
    }
    let te = match (seen, chunked, others) {
        (false, _, _) => Te::Absent,
        (true, false, false) => Te::Empty,
        (true, false, true) => Te::Invalid,
        (true, true, false) => Te::Chunked,
        (true, true, true) => Te::ChunkedAfterOthers,
    };
    (te, offset)
}

/// The `Content-Length` fields: every element of every field (comma-separated lists
/// included) must be a plain decimal up to 2^63-1 and all must be equal.
/// Returns the length and whether there was more than one element (to merge).
fn content_length(head: &Head, status: u16) -> Result<Option<(u64, bool)>, ParseError> {
    let mut found: Option<u64> = None;
    let mut elements = 0usize;
    for f in &head.fields {
        if !head.slice(f.name).eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let off = head.input_offset(f.name.start);
        for elem in head.slice(f.value).split(|&b| b == b',') {
            elements += 1;
            let Some(n) = parse_decimal(trim(elem)) else {
                return Err(error(status, "invalid Content-Length", off));
            };
            match found {
                Some(prev) if prev != n => {
                    return Err(error(status, "conflicting Content-Length", off));
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found.map(|n| (n, elements > 1)))
}

/// A non-empty run of decimal digits worth at most `i64::MAX` (HAProxy's limit).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if n > i64::MAX as u64 {
        return None;
    }
    Some(n)
}

/// Framing checks of a request head: 400 for a bad `Content-Length` or `Transfer-Encoding`,
/// 422 when `chunked` follows other codings, 413 for a body on an HTTP/1.0 GET, HEAD or
/// DELETE (HAProxy 2.6 as patched by Debian). Does not modify the head.
pub(crate) fn check_request(head: &Head, limits: &Limits) -> Result<Framing, ParseError> {
    let (te, te_off) = transfer_encoding(head);
    let cl = content_length(head, 400)?;
    let framing = match te {
        Te::Absent => match cl {
            Some((n, _)) => Framing::Length(n),
            None => Framing::None,
        },
        Te::Chunked => Framing::Chunked,
        Te::ChunkedAfterOthers => {
            return Err(error(422, "transfer coding other than chunked", te_off));
        }
        Te::Empty | Te::Invalid => {
            return Err(error(400, "invalid Transfer-Encoding", te_off));
        }
    };
    let has_body =
        matches!(framing, Framing::Chunked) || matches!(framing, Framing::Length(n) if n > 0);
    let method = head.method();
    if has_body
        && !limits.payload_any_method
        && head.version == Version::Http10
        && (method == b"GET" || method == b"HEAD" || method == b"DELETE")
    {
        return Err(error(413, "body on an HTTP/1.0 GET, HEAD or DELETE", 0));
    }
    Ok(framing)
}

/// Framing checks of a response head (502 on error): `Transfer-Encoding` must be exactly
/// `chunked`; an empty one is refused unless `accept_invalid`.
/// Returns Chunked, Length or None (no framing field).
pub(crate) fn check_response(head: &Head, accept_invalid: bool) -> Result<Framing, ParseError> {
    let (te, te_off) = transfer_encoding(head);
    let cl = content_length(head, 502)?;
    match te {
        Te::Chunked => Ok(Framing::Chunked),
        Te::Empty if accept_invalid => Ok(match cl {
            Some((n, _)) => Framing::Length(n),
            None => Framing::None,
        }),
        Te::Absent => Ok(match cl {
            Some((n, _)) => Framing::Length(n),
            None => Framing::None,
        }),
        Te::Empty | Te::Invalid | Te::ChunkedAfterOthers => {
            Err(error(502, "invalid Transfer-Encoding", te_off))
        }
    }
}

/// HAProxy's normalizations of a checked head: beside chunked, every `Content-Length` is
/// removed and the connection will close; several lengths become the first field alone,
/// holding the number once.
pub(crate) fn normalize(head: &mut Head, framing: Framing, limits: &Limits) {
    let has_cl = head.count(b"content-length") > 0;
    if framing == Framing::Chunked {
        if has_cl {
            head.remove(b"content-length");
            head.close = !limits.keep_on_te_with_cl;
        }
        return;
    }
    if let Framing::Length(n) = framing {
        let merge = head.count(b"content-length") > 1
            || head
                .get(b"content-length")
                .is_some_and(|v| v.contains(&b','));
        if merge {
            let first = head
                .fields
                .iter()
                .position(|f| head.slice(f.name).eq_ignore_ascii_case(b"content-length"));
            if let Some(first) = first {
                head.replace_value(first, n.to_string().as_bytes());
                let mut i = 0;
                let buf = &head.buf;
                head.fields.retain(|f| {
                    i += 1;
                    i - 1 == first
                        || !buf
                            .get(f.name.start..f.name.end)
                            .unwrap_or_default()
                            .eq_ignore_ascii_case(b"content-length")
                });
                head.verbatim = None;
            }
        }
    }
}

/// Request body framing, with HAProxy's strictness (see `check_request`): differing or
/// malformed lengths → 400, a `Transfer-Encoding` whose last coding is not `chunked` → 400,
/// other codings before `chunked` → 422. A head that went through `parse_request` has
/// already been checked and normalized (never both length and chunked).
/// The HTTP/1.0 body policy (413) is `parse_request`'s alone: it knows the global options.
pub fn request_framing(head: &Head) -> Result<Framing, ParseError> {
    let framing_only = Limits {
        payload_any_method: true,
        ..Limits::default()
    };
    check_request(head, &framing_only)
}

/// Response body framing for a request made with `request_method`: 1xx (except 101), 204,
/// 304 and answers to HEAD have none; 101 and 2xx to CONNECT become tunnels; otherwise
/// chunked, a length, or until the server closes. Errors are 502.
/// The proxy must itself refuse a 101 to a request that did not ask for an upgrade.
pub fn response_framing(head: &Head, request_method: &[u8]) -> Result<Framing, ParseError> {
    let checked = check_response(head, false)?;
    let status = head.status;
    if status == 101 {
        return Ok(Framing::Tunnel);
    }
    if (100..200).contains(&status) || status == 204 || status == 304 || request_method == b"HEAD" {
        return Ok(Framing::None);
    }
    if request_method == b"CONNECT" && (200..300).contains(&status) {
        return Ok(Framing::Tunnel);
    }
    Ok(match checked {
        Framing::None => Framing::UntilClose,
        other => other,
    })
}

/// Whether the connection must close after this message: `Connection: close`, HTTP/1.0
/// without `Connection: keep-alive`, a request that had both a length and chunked, and for
/// responses a body delimited by the close (no length, not chunked, and a status that has a
/// body; an answer to HEAD is counted as such, to be safe).
pub fn wants_close(head: &Head) -> bool {
    if head.close || has_token(head, b"connection", b"close") {
        return true;
    }
    if head.version == Version::Http10 && !has_token(head, b"connection", b"keep-alive") {
        return true;
    }
    if head.kind == Kind::Response {
        let status = head.status;
        let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
        if !bodiless && head.get(b"content-length").is_none() {
            let chunked = matches!(transfer_encoding(head).0, Te::Chunked);
            return !chunked;
        }
    }
    false
}

/// The protocol asked for by `Connection: upgrade` + `Upgrade: …` (request or 101 response).
pub fn upgrade(head: &Head) -> Option<&[u8]> {
    if !has_token(head, b"connection", b"upgrade") {
        return None;
    }
    head.get(b"upgrade").filter(|v| !v.is_empty())
}

/// Whether an HTTP/1.1 request carries `Expect: 100-continue`.
pub fn expects_continue(head: &Head) -> bool {
    head.version == Version::Http11
        && head
            .get_all(b"expect")
            .any(|v| v.eq_ignore_ascii_case(b"100-continue"))
}
