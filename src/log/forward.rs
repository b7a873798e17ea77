//! `log-forward` sections: a syslog relay. Messages received over UDP (`dgram-bind`) or TCP
//! (`bind`: octet counting or new-line framing, RFC 6587) are parsed as RFC 5424 or RFC 3164
//! as HAProxy does, then sent again to the section's `log` targets in their own `format`.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use halo_config::logs::LogFraming;
use halo_config::rings::{HostMode, LogForwardSection};
use tokio::io::AsyncReadExt;

use super::{GlobalLogs, Meta, Target, targets_of};

/// Longest message accepted on a TCP connection (a longer one closes it).
const MAX_MESSAGE: usize = 64 * 1024;

/// A log-forward section, ready to start.
pub struct Forward {
    pub name: String,
    conf: LogForwardSection,
    targets: Vec<Arc<Target>>,
}

/// The header fields of a received message (empty when absent) and its text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub level: Option<u8>,
    pub facility: Option<u8>,
    pub time: Option<&'a [u8]>,
    pub host: &'a [u8],
    pub tag: &'a [u8],
    pub pid: &'a [u8],
    pub msgid: &'a [u8],
    pub sd: &'a [u8],
    pub msg: &'a [u8],
}

/// The next word of `s` up to a space, and what follows the space; None without a space
/// or for an empty word.
fn word(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&c| c == b' ')?;
    (i > 0).then(|| (&s[..i], &s[i + 1..]))
}

fn nil(w: &[u8]) -> &[u8] {
    if w == b"-" { b"" } else { w }
}

/// The structured data of an RFC 5424 message (`-` or `[id k="v"]…`) and the rest.
fn structured_data(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.first() == Some(&b'-') {
        return match s.get(1) {
            None => Some((b"", b"")),
            Some(b' ') => Some((b"", &s[2..])),
            _ => None,
        };
    }
    let mut i = 0;
    while s.get(i) == Some(&b'[') {
        let mut quoted = false;
        i += 1;
        loop {
            match *s.get(i)? {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    match s.get(i) {
        None => Some((s, b"")),
        Some(b' ') => Some((&s[..i], &s[i + 1..])),
        _ => None,
    }
}

/// The header of an RFC 5424 message after `<PRI>1 `.
fn parse_5424<'a>(s: &'a [u8], p: &mut Parsed<'a>) -> Option<()> {
    let (time, s) = word(s)?;
    if time != b"-" && !(time.len() >= 20 && time[10] == b'T') {
        return None;
    }
    let (host, s) = word(s)?;
    let (tag, s) = word(s)?;
    let (pid, s) = word(s)?;
    let (msgid, s) = word(s)?;
    let (sd, msg) = structured_data(s)?;
    p.time = (time != b"-").then_some(time);
    p.host = nil(host);
    p.tag = nil(tag);
    p.pid = nil(pid);
    p.msgid = nil(msgid);
    p.sd = sd;
    p.msg = msg;
    Some(())
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The header of an RFC 3164 message after `<PRI>`: `Mmm dd hh:mm:ss HOST [TAG[PID]: ]`.
fn parse_3164<'a>(s: &'a [u8], p: &mut Parsed<'a>) -> Option<()> {
    if s.len() <= 16 || !MONTHS.iter().any(|m| s.starts_with(m)) || s[15] != b' ' {
        return None;
    }
    let (host, rest) = word(&s[16..])?;
    p.time = Some(&s[..15]);
    p.host = host;
    p.msg = rest;
    // The tag: letters up to `[PID]:` or `:`.
    let end = rest
        .iter()
        .position(|&c| c == b' ' || c == b':' || c == b'[')
        .unwrap_or(rest.len());
    let after = match rest.get(end) {
        Some(b'[') => {
            let close = end + 1 + rest[end + 1..].iter().position(|&c| c == b']')?;
            p.tag = &rest[..end];
            p.pid = &rest[end + 1..close];
            close + 1
        }
        Some(b':') => {
            p.tag = &rest[..end];
            end
        }
        _ => return Some(()),
    };
    let mut m = &rest[after..];
    if let Some(r) = m.strip_prefix(b":") {
        m = r.strip_prefix(b" ").unwrap_or(r);
    }
    p.msg = m;
    Some(())
}

/// Parses a received message as HAProxy does: `<PRI>` (else the whole text is the
/// message, without level nor facility), then an RFC 5424 header (`1 ` first) or an RFC
/// 3164 one; a header that does not parse leaves the text after `<PRI>` as the message.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let mut p = Parsed {
        msg: buf,
        ..Parsed::default()
    };
    if buf.len() < 3 || buf[0] != b'<' {
        return p;
    }
    let Some(close) = buf.iter().take(5).position(|&c| c == b'>') else {
        return p;
    };
    let digits = &buf[1..close];
    let pri = match std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u8>().ok())
    {
        Some(v) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) && v <= 191 => v,
        _ => return p,
    };
    p.facility = Some(pri >> 3);
    p.level = Some(pri & 7);
    let rest = &buf[close + 1..];
    p.msg = rest;
    let mut h = Parsed {
        level: p.level,
        facility: p.facility,
        msg: rest,
        ..Parsed::default()
    };
    let ok = match rest.strip_prefix(b"1 ") {
        Some(r) => parse_5424(r, &mut h),
        None => parse_3164(rest, &mut h),
    };
    if ok.is_some() { h } else { p }
}

impl Forward {
    pub fn new(f: &LogForwardSection, global: &GlobalLogs) -> Forward {
        Forward {
            name: f.name.clone(),
            conf: f.clone(),
            targets: targets_of(&f.logs, global),
        }
    }

    /// Sends one received message to the targets; `src` is the sender's address.
    pub fn relay(&self, data: &[u8], src: Option<IpAddr>) {
        let mut data = data;
        while let Some((b'\n' | b'\r' | 0, rest)) = data.split_last() {
            data = rest;
        }
        if data.is_empty() {
            return;
        }
        let p = if self.conf.dont_parse_log {
            Parsed {
                msg: data,
                ..Parsed::default()
            }
        } else {
            parse(data)
        };
        let ip = src.map(|a| a.to_string());
        let host: Cow<'_, [u8]> = match (self.conf.host, ip.as_deref(), p.host.is_empty()) {
            (_, None, _) | (HostMode::Keep, ..) | (HostMode::Fill, _, false) => {
                Cow::Borrowed(p.host)
            }
            (HostMode::Replace | HostMode::Fill, Some(ip), _)
            | (HostMode::Append, Some(ip), true) => Cow::Owned(ip.as_bytes().to_vec()),
            (HostMode::Append, Some(ip), false) => {
                let mut h = p.host.to_vec();
                h.push(b',');
                h.extend_from_slice(ip.as_bytes());
                Cow::Owned(h)
            }
        };
        let meta = Meta {
            time: p.time,
            host: (!host.is_empty()).then_some(&host[..]),
            tag: p.tag,
            pid: Some(p.pid),
            msgid: p.msgid,
            sd: p.sd,
        };
        for t in &self.targets {
            // A ring stores messages in its own format, whatever the target's.
            if t.conf.framing == LogFraming::Auto && t.ring.is_none() {
                t.send_verbatim(p.level, data);
            } else {
                t.send(p.level, p.facility, &meta, p.msg);
            }
        }
    }

    /// Binds the section's listeners and starts serving them. Errors name the address.
    pub fn start(self: &Arc<Forward>) -> Result<(), String> {
        for b in &self.conf.dgram_binds {
            let sock = std::net::UdpSocket::bind(b.addr)
                .and_then(|s| s.set_nonblocking(true).map(|_| s))
                .and_then(tokio::net::UdpSocket::from_std)
                .map_err(|e| {
                    format!(
                        "log-forward '{}' : cannot bind UDP socket [{}] ({}): {e}",
                        self.name, b.addr, b.loc
                    )
                })?;
            tokio::spawn(serve_udp(self.clone(), sock));
        }
        for b in &self.conf.binds {
            let l = tcp_listener(b.addr, self.conf.backlog).map_err(|e| {
                format!(
                    "log-forward '{}' : cannot bind socket [{}] ({}): {e}",
                    self.name, b.addr, b.loc
                )
            })?;
            tokio::spawn(serve_tcp(self.clone(), l));
        }
        Ok(())
    }
}

fn tcp_listener(
    addr: SocketAddr,
    backlog: Option<u32>,
) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog.map_or(1024, |b| b.min(i32::MAX as u32) as i32))?;
    s.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(s.into())
}

async fn serve_udp(f: Arc<Forward>, sock: tokio::net::UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => f.relay(&buf[..n], Some(from.ip())),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_tcp(f: Arc<Forward>, l: tokio::net::TcpListener) {
    // `maxconn`: connections wait in the backlog while as many are served.
    let slots = Arc::new(tokio::sync::Semaphore::new(f.conf.maxconn.max(1) as usize));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((s, from)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let f = f.clone();
        tokio::spawn(async move {
            serve_conn(&f, s, from.ip()).await;
            drop(permit);
        });
    }
}

/// The next complete message at the start of `buf` and the bytes it takes: octet counting
/// (`LEN SP MSG`) when it starts with a digit (unless `ntf_only`), else up to a line feed.
/// `Ok(None)`: more bytes are needed; `Err`: broken framing.
fn next_frame(buf: &[u8], ntf_only: bool) -> Result<Option<(std::ops::Range<usize>, usize)>, ()> {
    if !ntf_only && buf.first().is_some_and(u8::is_ascii_digit) {
        let Some(sp) = buf.iter().position(|&c| c == b' ') else {
            return if buf.len() > 10 || !buf.iter().all(u8::is_ascii_digit) {
                Err(())
            } else {
                Ok(None)
            };
        };
        let len: usize = std::str::from_utf8(&buf[..sp])
            .ok()
            .and_then(|d| d.parse().ok())
            .filter(|&l| l <= MAX_MESSAGE)
            .ok_or(())?;
        let end = sp + 1 + len;
        return Ok((buf.len() >= end).then_some((sp + 1..end, end)));
    }
    match buf.iter().position(|&c| c == b'\n') {
        Some(i) => Ok(Some((0..i, i + 1))),
        None if buf.len() > MAX_MESSAGE => Err(()),
        None => Ok(None),
    }
}

async fn serve_conn(f: &Forward, mut s: tokio::net::TcpStream, from: IpAddr) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16384];
    loop {
        // Every complete message in the buffer, then read more.
        let mut used = 0;
        loop {
            match next_frame(&buf[used..], f.conf.assume_rfc6587_ntf) {
                Ok(Some((r, n))) => {
                    f.relay(&buf[used + r.start..used + r.end], Some(from));
                    used += n;
                }
                Ok(None) => break,
                Err(()) => return,
            }
        }
        buf.drain(..used);
        let read = s.read(&mut chunk);
        let n = match f.conf.timeout_client {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms.max(1)), read).await {
                Ok(r) => r,
                Err(_) => return,
            },
            None => read.await,
        };
        match n {
            Ok(0) | Err(_) => {
                // A last message without its line feed still counts.
                if !buf.is_empty() && !buf[0].is_ascii_digit() {
                    f.relay(&buf, Some(from));
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_haproxy() {
        let p = parse(b"<134>Dec  4 18:20:45 myhost app[123]: hello 3164");
        assert_eq!((p.facility, p.level), (Some(16), Some(6)));
        assert_eq!(p.time, Some(&b"Dec  4 18:20:45"[..]));
        assert_eq!(
            (p.host, p.tag, p.pid),
            (&b"myhost"[..], &b"app"[..], &b"123"[..])
        );
        assert_eq!(p.msg, b"hello 3164");
        let p = parse(b"<134>1 2026-12-04T18:20:45.123456+01:00 myhost app 123 ID47 [ex@1 a=\"b c]\"] hello 5424");
        assert_eq!(p.time, Some(&b"2026-12-04T18:20:45.123456+01:00"[..]));
        assert_eq!(
            (p.host, p.tag, p.pid, p.msgid),
            (&b"myhost"[..], &b"app"[..], &b"123"[..], &b"ID47"[..])
        );
        assert_eq!(p.sd, b"[ex@1 a=\"b c]\"]");
        assert_eq!(p.msg, b"hello 5424");
        let p = parse(b"<13>1 - - - - - - x");
        assert_eq!(
            (p.time, p.host, p.sd, p.msg),
            (None, &b""[..], &b""[..], &b"x"[..])
        );
        let p = parse(b"just text");
        assert_eq!((p.level, p.msg), (None, &b"just text"[..]));
        let p = parse(b"<13>app: no time");
        assert_eq!(
            (p.level, p.tag, p.msg),
            (Some(5), &b""[..], &b"app: no time"[..])
        );
        let p = parse(b"<13>Dec  4 18:20:45 host tag: m");
        assert_eq!((p.tag, p.pid, p.msg), (&b"tag"[..], &b""[..], &b"m"[..]));
    }

    #[test]
    fn frames() {
        assert_eq!(next_frame(b"5 hello6 world!", false), Ok(Some((2..7, 7))));
        assert_eq!(next_frame(b"12 hel", false), Ok(None));
        assert_eq!(next_frame(b"<1>a\nb", false), Ok(Some((0..4, 5))));
        assert_eq!(next_frame(b"5 hello\n", true), Ok(Some((0..7, 8))));
        assert_eq!(next_frame(b"5x", false), Err(()));
    }
}
