//! Cookie persistence (`cookie` keyword, server `cookie VALUE`): finding the persistence
//! cookie in the request's `Cookie` fields (and stripping or un-prefixing it), then, on the
//! response, deleting, rewriting or prefixing the server's `Set-Cookie` and inserting ours,
//! byte for byte as HAProxy 2.6 does (`http_manage_client/server_side_cookies`).

use halo_config::model::{Cookie, CookieMode};

use crate::http::h1::Head;
use crate::server::Server;

/// Separates the server's value from the application's in prefix mode.
const DELIM: u8 = b'~';
/// Separates the dates in insert mode (`SRV|LAST|FIRST`).
const DATE_DELIM: u8 = b'|';
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn is_sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// What the request's cookie said.
#[derive(Debug, Default, Clone)]
pub struct ReqCookie {
    /// The server the cookie designates (index in the backend), usable or forced.
    pub server: Option<usize>,
    /// Dates carried by an insert-mode cookie (seconds, 0: none).
    pub last_date: u64,
    pub first_date: u64,
    /// The third letter of `%tsc`: `N` no cookie, `I` invalid, `D` server down, `V` valid,
    /// `E` expired (maxidle), `O` too old (maxlife), `U` unused (another rule chose).
    pub flag: u8,
}

/// The end of a cookie value starting at `i`: the first `;` or `,` outside double quotes.
fn value_end(v: &[u8], mut i: usize, end: usize) -> usize {
    let mut quoted = false;
    while i < end {
        let c = v[i];
        if quoted {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b';' || c == b',' {
            break;
        }
        i += 1;
    }
    i.min(end)
}

/// Removes the value between the delimiter at `*from` (or the start) and the one at `next`
/// (or the end) from `v[..*end]`, HAProxy's way: the following delimiter replaces the
/// previous one, with one space after it when there is room. Returns the displacement.
fn del_value(v: &mut Vec<u8>, end: &mut usize, from: &mut usize, next: usize) -> isize {
    let mut prev = *from;
    let mut next = next;
    if prev == 0 {
        if next != *end {
            next += 1;
        }
        while next < *end && is_sp(v[next]) {
            next += 1;
        }
    } else {
        while prev > 0 && is_sp(v[prev - 1]) {
            prev -= 1;
        }
        *from = prev;
        if next < *end {
            v[prev] = v[next];
            prev += 1;
            next += 1;
            if prev + 1 < next {
                v[prev] = b' ';
                prev += 1;
            }
            while next < *end && is_sp(v[next]) {
                next += 1;
            }
        }
    }
    v.drain(prev..next);
    let delta = prev as isize - next as isize;
    *end = (*end as isize + delta) as usize;
    delta
}

fn shift(p: usize, d: isize) -> usize {
    (p as isize + d) as usize
}

/// Decodes 5 base64 characters into a 30-bit value.
fn b64_to_s30(s: &[u8]) -> Option<u64> {
    let mut out = 0u64;
    for &c in s.get(..5)? {
        let v = B64.iter().position(|&b| b == c)? as u64;
        out = (out << 6) | v;
    }
    Some(out)
}

fn s30_to_b64(mut v: u64, out: &mut Vec<u8>) {
    let mut b = [0u8; 5];
    for i in (0..5).rev() {
        b[i] = B64[(v & 0x3f) as usize];
        v >>= 6;
    }
    out.extend_from_slice(&b);
}

/// The request side: looks for the persistence cookie in every `Cookie` field, chooses the
/// first server with its value that is up (or any with `option persist`/`force-persist`),
/// and rewrites the fields (insert+indirect: the cookie is removed; prefix: `SRV~` is).
/// `skip`: persistence ignored (`ignore-persist`), the cookie is still cleaned.
pub fn on_request(
    ck: &Cookie,
    head: &mut Head,
    servers: &crate::server::list::ServerList,
    skip: bool,
    persist: bool,
    now: u64,
) -> ReqCookie {
    let mut out = ReqCookie {
        flag: b'N',
        ..ReqCookie::default()
    };
    let name = ck.name.as_bytes();
    let strip = ck.mode == CookieMode::Insert && ck.indirect;
    let prefix = ck.mode == CookieMode::Prefix;
    let idx: Vec<usize> = head
        .headers()
        .enumerate()
        .filter(|(_, (n, _))| n.eq_ignore_ascii_case(b"cookie"))
        .map(|(i, _)| i)
        .collect();
    let mut assigned = false;
    let mut edits: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    for &fi in &idx {
        let Some((_, value)) = head.headers().nth(fi) else {
            continue;
        };
        let orig = value.to_vec();
        let mut v = orig.clone();
        let mut end = v.len();
        let mut del_from: Option<usize> = None;
        let mut preserve = false;
        let mut prev = 0usize;
        let mut first = true;
        while prev < end {
            let mut att_beg = prev;
            if !first {
                att_beg += 1;
            }
            first = false;
            while att_beg < end && is_sp(v[att_beg]) {
                att_beg += 1;
            }
            let mut equal = att_beg;
            let mut att_end = att_beg;
            while equal < end {
                let c = v[equal];
                if c == b'=' || c == b',' || c == b';' {
                    break;
                }
                equal += 1;
                if !is_sp(c) {
                    att_end = equal;
                }
            }
            let (mut val_beg, mut val_end, mut next);
            if equal < end && v[equal] == b'=' {
                val_beg = equal + 1;
                while val_beg < end && is_sp(v[val_beg]) {
                    val_beg += 1;
                }
                next = value_end(&v, val_beg, end);
                val_end = next;
                while val_end > val_beg && is_sp(v[val_end - 1]) {
                    val_end -= 1;
                }
            } else {
                val_beg = equal;
                val_end = equal;
                next = equal;
            }
            if att_beg < end && v[att_beg] == b'$' {
                prev = next;
                continue;
            }
            if equal == next {
                // No equal sign: not ours, kept.
                preserve = true;
                if let Some(mut from) = del_from.take() {
                    let d = del_value(&mut v, &mut end, &mut from, prev);
                    next = shift(next, d);
                    prev = from;
                    let _ = prev;
                }
                prev = next;
                continue;
            }
            // Spaces around the equal sign are removed.
            if att_end != equal || val_beg > equal + 1 {
                let mut d: isize = 0;
                if att_end != equal {
                    let n = equal - att_end;
                    v.drain(att_end..equal);
                    d -= n as isize;
                    equal = att_end;
                    val_beg -= n;
                }
                if val_beg > equal + 1 {
                    let n = val_beg - (equal + 1);
                    v.drain(equal + 1..val_beg);
                    d -= n as isize;
                    val_beg = equal + 1;
                }
                val_end = shift(val_end, d);
                next = shift(next, d);
                end = shift(end, d);
            }
            if &v[att_beg..att_end] == name {
                let mut delim = val_end;
                if prefix {
                    delim = v[val_beg..val_end]
                        .iter()
                        .position(|&c| c == DELIM)
                        .map_or(val_end, |p| val_beg + p);
                } else if let Some(p) = v[val_beg..val_end].iter().position(|&c| c == DATE_DELIM) {
                    delim = val_beg + p;
                    let bar = delim + 1;
                    if val_end >= bar + 5
                        && let Some(d) = b64_to_s30(&v[bar..])
                        && d > 0
                    {
                        out.last_date = d << 2;
                    }
                    if let Some(p2) = v[bar..val_end].iter().position(|&c| c == DATE_DELIM) {
                        let bar2 = bar + p2;
                        if val_end > bar2 + 5
                            && let Some(d) = b64_to_s30(&v[bar2 + 1..])
                            && d > 0
                        {
                            out.first_date = d << 2;
                        }
                    }
                }
                // Too old (maxlife) or idle too long (maxidle), or dated more than a day
                // ahead: the cookie is ignored.
                let diff = |a: u64, b: u64| a as i64 - b as i64;
                let too_old = out.first_date > 0
                    && ck.maxlife > 0
                    && (diff(now, out.first_date) > ck.maxlife as i64
                        || diff(out.first_date, now) > 86400);
                let too_idle = out.last_date > 0
                    && ck.maxidle > 0
                    && (diff(now, out.last_date) > ck.maxidle as i64
                        || diff(out.last_date, now) > 86400);
                let expired = too_old || too_idle;
                if expired {
                    out.flag = if too_old { b'O' } else { b'E' };
                    delim = val_beg;
                    out.first_date = 0;
                    out.last_date = 0;
                }
                if delim != val_beg && !skip && !assigned {
                    let want = &v[val_beg..delim];
                    let mut matched = false;
                    for s in servers.iter() {
                        if s.cfg.cookie.as_deref().map(str::as_bytes) != Some(want) {
                            continue;
                        }
                        matched = true;
                        out.flag = if s.is_up() { b'V' } else { b'D' };
                        if s.is_up() || persist {
                            out.server = Some(s.index);
                            assigned = true;
                            break;
                        }
                    }
                    if !matched && !matches!(out.flag, b'D' | b'E' | b'O') {
                        out.flag = b'I';
                    }
                } else if delim != val_beg && !matches!(out.flag, b'V' | b'D') {
                    // Persistence ignored, or the server chosen by another rule.
                    out.flag = b'U';
                }
                if prefix && delim != val_end {
                    let n = delim + 1 - val_beg;
                    v.drain(val_beg..delim + 1);
                    next -= n;
                    end -= n;
                    del_from = None;
                    preserve = true;
                } else if del_from.is_none() && strip {
                    del_from = Some(prev);
                }
            } else {
                preserve = true;
                if let Some(mut from) = del_from.take() {
                    let d = del_value(&mut v, &mut end, &mut from, prev);
                    next = shift(next, d);
                    prev = from;
                    let _ = prev;
                }
            }
            let _ = val_end;
            prev = next;
        }
        if let Some(from) = del_from {
            end = if preserve { from } else { 0 };
        }
        v.truncate(end);
        if v != orig {
            edits.push((fi, if v.is_empty() { None } else { Some(v) }));
        }
    }
    for (fi, v) in edits.into_iter().rev() {
        match v {
            Some(v) => head.replace_value(fi, &v),
            None => head.remove_at(fi),
        }
    }
    out
}

/// The first comma outside double quotes from `i` (the end of a Set-Cookie2 cookie).
fn comma_end(v: &[u8], mut i: usize, end: usize) -> usize {
    let mut quoted = false;
    while i < end {
        match v[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => break,
            _ => {}
        }
        i += 1;
    }
    i.min(end)
}

/// One `Set-Cookie` (`is2`: `Set-Cookie2`, several cookies separated by commas) value:
/// spaces around `=` removed, then our cookie deleted, rewritten or prefixed. True when the
/// whole field must go.
fn server_cookies(
    ck: &Cookie,
    v: &mut Vec<u8>,
    is2: bool,
    st: &ResState<'_>,
    found: &mut u8,
) -> bool {
    let name = ck.name.as_bytes();
    let mut end = v.len();
    let mut prev = 0usize;
    let mut first = true;
    while prev < end {
        let mut att_beg = prev;
        if !first {
            att_beg += 1;
        }
        first = false;
        while att_beg < end && is_sp(v[att_beg]) {
            att_beg += 1;
        }
        let mut equal = att_beg;
        let mut att_end = att_beg;
        while equal < end {
            let c = v[equal];
            if c == b'=' || c == b';' || (is2 && c == b',') {
                break;
            }
            equal += 1;
            if !is_sp(c) {
                att_end = equal;
            }
        }
        let (mut val_beg, mut val_end, mut next);
        if equal < end && v[equal] == b'=' {
            val_beg = equal + 1;
            while val_beg < end && is_sp(v[val_beg]) {
                val_beg += 1;
            }
            next = value_end(v, val_beg, end);
            val_end = next;
            while val_end > val_beg && is_sp(v[val_end - 1]) {
                val_end -= 1;
            }
        } else {
            val_beg = equal;
            val_end = equal;
            next = equal;
        }
        if next < end {
            next = if is2 { comma_end(v, next, end) } else { end };
        }
        if equal == val_end {
            prev = next;
            continue;
        }
        if att_end != equal || val_beg > equal + 1 {
            let mut d = 0usize;
            if att_end != equal {
                let n = equal - att_end;
                v.drain(att_end..equal);
                d += n;
                equal = att_end;
                val_beg -= n;
            }
            if val_beg > equal + 1 {
                let n = val_beg - (equal + 1);
                v.drain(equal + 1..val_beg);
                d += n;
                val_beg = equal + 1;
            }
            val_end -= d;
            next -= d;
            end -= d;
        }
        if !st.ignored && &v[att_beg..att_end] == name {
            *found = b'P';
            if ck.preserve {
                // The server's own cookie is left untouched.
            } else if (st.server.is_some() && ck.mode == CookieMode::Insert)
                || (st.direct && ck.indirect)
            {
                *found = b'D';
                if prev == 0 && next == end {
                    return true;
                }
                let mut from = prev;
                del_value(v, &mut end, &mut from, next);
                next = from;
            } else if let Some(sv) = st.server.and_then(|s| s.cfg.cookie.as_deref())
                && ck.mode == CookieMode::Rewrite
            {
                *found = b'R';
                let n = val_end - val_beg;
                v.splice(val_beg..val_end, sv.bytes());
                next = next + sv.len() - n;
                end = end + sv.len() - n;
            } else if let Some(sv) = st.server.and_then(|s| s.cfg.cookie.as_deref())
                && ck.mode == CookieMode::Prefix
            {
                *found = b'R';
                let mut ins = sv.as_bytes().to_vec();
                ins.push(DELIM);
                let n = ins.len();
                v.splice(val_beg..val_beg, ins);
                next += n;
                end += n;
            }
        }
        prev = next;
    }
    v.truncate(end);
    false
}

/// What the request side decided, for the response.
pub struct ResState<'a> {
    pub server: Option<&'a Server>,
    /// The server was the one the cookie designated (HAProxy's `SF_DIRECT`).
    pub direct: bool,
    /// `ignore-persist` matched.
    pub ignored: bool,
    pub post: bool,
    pub cookie: &'a ReqCookie,
    pub now: u64,
}

/// The response side: the server's `Set-Cookie` with our name is removed (insert mode, or
/// indirect on a direct hit, unless `preserve`), rewritten (rewrite) or prefixed (prefix);
/// then ours is inserted when the client lacks a valid one. `cacheable` says whether the
/// response may be stored by a cache (for `nocache`). Returns the fourth letter of `%tsc`:
/// `N` none, `P` the server's passed on, `D` deleted, `R` rewritten, `I` inserted, `U` the
/// dates of the client's updated.
pub fn on_response(ck: &Cookie, res: &mut Head, st: &ResState<'_>, cacheable: bool) -> u8 {
    let mut found = b'N';
    // Every Set-Cookie first, then every Set-Cookie2, as HAProxy walks them.
    let mut idx: Vec<(usize, bool)> = Vec::new();
    for (want, is2) in [(&b"set-cookie"[..], false), (&b"set-cookie2"[..], true)] {
        idx.extend(
            res.headers()
                .enumerate()
                .filter(|(_, (n, _))| n.eq_ignore_ascii_case(want))
                .map(|(i, _)| (i, is2)),
        );
    }
    let mut edits: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    for &(fi, is2) in &idx {
        let Some((_, value)) = res.headers().nth(fi) else {
            continue;
        };
        let orig = value.to_vec();
        let mut v = orig.clone();
        let whole = server_cookies(ck, &mut v, is2, st, &mut found);
        if whole || v.is_empty() {
            edits.push((fi, None));
        } else if v != orig {
            edits.push((fi, Some(v)));
        }
    }
    edits.sort_by_key(|e| e.0);
    for (fi, v) in edits.into_iter().rev() {
        match v {
            Some(v) => res.replace_value(fi, &v),
            None => res.remove_at(fi),
        }
    }
    // Insertion.
    let name = ck.name.as_bytes();
    let Some(srv) = st.server else { return found };
    let c = st.cookie;
    let now = st.now as i64;
    let needed = !st.direct
        || ((ck.maxidle > 0 || c.last_date > 0)
            && (c.last_date == 0 || (c.last_date as i64 - now) < 0))
        || (ck.maxlife > 0 && c.first_date == 0)
        || (ck.maxlife == 0 && c.first_date > 0);
    if ck.mode != CookieMode::Insert
        || (found != b'N' && ck.preserve)
        || !needed
        || (ck.postonly && !st.post)
        || st.ignored
    {
        return found;
    }
    let mut val = Vec::with_capacity(64);
    match srv.cfg.cookie.as_deref() {
        None => {
            val.extend_from_slice(name);
            val.extend_from_slice(b"=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/");
        }
        Some(sv) => {
            val.extend_from_slice(name);
            val.push(b'=');
            val.extend_from_slice(sv.as_bytes());
            if ck.maxidle > 0 || ck.maxlife > 0 {
                val.push(DATE_DELIM);
                s30_to_b64((st.now + 3) >> 2, &mut val);
                if ck.maxlife > 0 {
                    val.push(DATE_DELIM);
                    let first = if c.first_date > 0 {
                        c.first_date >> 2
                    } else {
                        (st.now + 3) >> 2
                    };
                    s30_to_b64(first, &mut val);
                }
            }
            val.extend_from_slice(b"; path=/");
        }
    }
    for d in &ck.domains {
        val.extend_from_slice(b"; domain=");
        val.extend_from_slice(d.as_bytes());
    }
    if ck.httponly {
        val.extend_from_slice(b"; HttpOnly");
    }
    if ck.secure {
        val.extend_from_slice(b"; Secure");
    }
    if !ck.attrs.is_empty() {
        val.extend_from_slice(b"; ");
        val.extend_from_slice(ck.attrs.join("; ").as_bytes());
    }
    res.add(b"set-cookie", &val);
    if ck.nocache && cacheable {
        res.add(b"cache-control", b"private");
    }
    if st.direct && srv.cfg.cookie.is_some() {
        b'U'
    } else {
        b'I'
    }
}

/// `cookie ... dynamic`: the value of a server without its own, from the backend's
/// `dynamic-cookie-key`, the server's address and port (XXH64, as HAProxy).
pub fn dynamic_value(key: &str, ip: std::net::IpAddr, port: u16) -> String {
    let mut buf = key.as_bytes().to_vec();
    match ip {
        std::net::IpAddr::V4(a) => buf.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => buf.extend_from_slice(&a.octets()),
    }
    buf.extend_from_slice(&u32::from(port).to_be_bytes());
    format!("{:016x}", xxhash_rust::xxh64::xxh64(&buf, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let mut v = Vec::new();
        s30_to_b64(449_123_456, &mut v);
        assert_eq!(v.len(), 5);
        assert_eq!(b64_to_s30(&v), Some(449_123_456));
    }

    #[test]
    fn deleting_values() {
        let mut v = b"a=1; SRV=x; b=2".to_vec();
        let mut end = v.len();
        let mut from = 3; // the ";" before SRV
        del_value(&mut v, &mut end, &mut from, 10);
        assert_eq!(&v[..end], b"a=1; b=2");
    }
}
