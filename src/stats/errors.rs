//! `show errors`: the last invalid request each frontend received and the last invalid
//! response each backend received, kept with the offending bytes and where the parser
//! stopped, and printed as HAProxy prints them (escaped dump, offsets in the margin).

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::compile::Runtime;

/// Error events captured since the start (HAProxy's `error_snapshot_id`).
static EVENTS: AtomicU64 = AtomicU64::new(0);

/// One captured message.
#[derive(Debug, Clone)]
pub struct Capture {
    when: std::time::SystemTime,
    event: u64,
    src: SocketAddr,
    /// The proxy on the other side (the backend of a request, the frontend of a
    /// response) and the server: names and ids.
    peer: Option<(String, u32)>,
    server: Option<(String, u32)>,
    buf: Vec<u8>,
    error_at: usize,
}

/// The captures of one proxy.
#[derive(Debug, Default)]
pub struct Captures {
    request: Mutex<Option<Capture>>,
    response: Mutex<Option<Capture>>,
}

/// How much of a message is kept (HAProxy keeps its buffer).
fn kept(buf: &[u8], bufsize: usize) -> Vec<u8> {
    buf[..buf.len().min(bufsize)].to_vec()
}

/// An invalid request received by frontend `fe`.
pub fn capture_request(rt: &Runtime, fe: usize, src: SocketAddr, buf: &[u8], error_at: usize) {
    let Some(px) = rt.proxies.get(fe) else {
        return;
    };
    let c = Capture {
        when: std::time::SystemTime::now(),
        event: EVENTS.fetch_add(1, Relaxed),
        src,
        peer: None,
        server: None,
        buf: kept(buf, rt.global.tune_bufsize),
        error_at,
    };
    if let Ok(mut r) = px.errors.request.lock() {
        *r = Some(c);
    }
}

/// An invalid response received by backend `be` from `server` for frontend `fe`.
pub fn capture_response(
    rt: &Runtime,
    (fe, be): (usize, usize),
    server: Option<&crate::server::Server>,
    src: SocketAddr,
    buf: &[u8],
    error_at: usize,
) {
    let (Some(f), Some(b)) = (rt.proxies.get(fe), rt.proxies.get(be)) else {
        return;
    };
    let c = Capture {
        when: std::time::SystemTime::now(),
        event: EVENTS.fetch_add(1, Relaxed),
        src,
        peer: Some((f.name.clone(), f.id)),
        server: server.map(|s| (s.name.clone(), s.id)),
        buf: kept(buf, rt.global.tune_bufsize),
        error_at,
    };
    if let Ok(mut r) = b.errors.response.lock() {
        *r = Some(c);
    }
}

fn stamp(t: std::time::SystemTime) -> String {
    let mut v = Vec::new();
    crate::log::time::log_ms(&mut v, crate::log::time::of(t));
    String::from_utf8_lossy(&v).into_owned()
}

/// `show errors [IID|PROXY] [request|response]`.
pub fn show(rt: &Runtime, args: &[&str]) -> String {
    let mut only: Option<u32> = None;
    let (mut req, mut res) = (true, true);
    for a in args {
        match *a {
            "request" => res = false,
            "response" => req = false,
            "-1" => {}
            p => match p.parse::<u32>() {
                Ok(id) => only = Some(id),
                Err(_) => match rt.proxies.iter().find(|x| x.name == p) {
                    Some(x) => only = Some(x.id),
                    None => return "No such proxy.\n".into(),
                },
            },
        }
    }
    let mut o = format!(
        "Total events captured on [{}] : {}\n \n",
        stamp(std::time::SystemTime::now()),
        EVENTS.load(Relaxed)
    );
    let mut first = true;
    for px in rt.proxies.iter().filter(|p| only.is_none_or(|i| i == p.id)) {
        for (on, slot, side, what) in [
            (req, &px.errors.request, "frontend", "request"),
            (res, &px.errors.response, "backend", "response"),
        ] {
            if !on {
                continue;
            }
            let Some(c) = slot.lock().ok().and_then(|c| c.clone()) else {
                continue;
            };
            if !first {
                o.push('\n');
            }
            first = false;
            let _ = writeln!(
                o,
                "[{}] {side} {} (#{}): invalid {what}",
                stamp(c.when),
                px.name,
                px.id
            );
            let named = |x: &Option<(String, u32)>| match x {
                Some((n, i)) => format!("{n} (#{i})"),
                None => "<NONE> (#-1)".into(),
            };
            let (other, other_side) = if what == "request" {
                (named(&c.peer), "backend")
            } else {
                (named(&c.peer), "frontend")
            };
            let _ = writeln!(
                o,
                "  {other_side} {other}, server {}, event #{}, src {}",
                named(&c.server),
                c.event,
                c.src
            );
            let _ = writeln!(
                o,
                "  buffer starts at 0 (including 0 out), {} free,\n  len {}, wraps at {}, error at position {}",
                rt.global.tune_bufsize.saturating_sub(c.buf.len()),
                c.buf.len(),
                rt.global.tune_bufsize.saturating_sub(48),
                c.error_at
            );
            o.push_str("  \n");
            dump(&mut o, &c.buf);
        }
    }
    o
}

/// HAProxy's dump: one line per input line (cut every 64 output characters), the offset
/// of its first byte in the margin, control and non-ASCII bytes as `\r`, `\n`, `\t`,
/// `\xNN`.
fn dump(o: &mut String, buf: &[u8]) {
    let mut i = 0;
    while i < buf.len() {
        let _ = write!(o, "  {i:05}  ");
        let mut width = 0;
        while i < buf.len() {
            let b = buf[i];
            let s = match b {
                b'\r' => "\\r".to_string(),
                b'\n' => "\\n".to_string(),
                b'\t' => "\\t".to_string(),
                b'\\' => "\\\\".to_string(),
                0x20..=0x7e => (b as char).to_string(),
                _ => format!("\\x{b:02x}"),
            };
            width += s.len();
            o.push_str(&s);
            i += 1;
            if b == b'\n' || width >= 64 {
                break;
            }
        }
        o.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_escapes_and_splits_lines() {
        let mut o = String::new();
        dump(&mut o, b"GET / HTTP/1.1\r\nFoo: \x01bar\r\n\r\n");
        assert_eq!(
            o,
            "  00000  GET / HTTP/1.1\\r\\n\n  00016  Foo: \\x01bar\\r\\n\n  00027  \\r\\n\n"
        );
    }
}
