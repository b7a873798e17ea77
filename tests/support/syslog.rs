//! A syslog collector for the logging tests: a UDP socket on 127.0.0.1 (port 0) or a UNIX
//! datagram socket in a scratch folder, with a thread that stores every datagram, and parsers
//! for what HAProxy sends: the syslog header of each `format` (`local`, `rfc3164`, `rfc5424`,
//! `short`, `timed`, `iso`, `priority`, `raw`) and the fields of the `httplog` and `tcplog`
//! messages.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Collector
// ---------------------------------------------------------------------------

enum Sock {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Sock {
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Sock::Udp(s) => s.recv(buf),
            Sock::Unix(s) => s.recv(buf),
        }
    }
}

/// Receives syslog datagrams until dropped. Every datagram is kept as received.
pub struct Syslog {
    target: String,
    addr: Option<SocketAddr>,
    _dir: Option<tempfile::TempDir>,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syslog {
    /// A UDP collector on `127.0.0.1:<port 0>`.
    pub fn udp() -> Syslog {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = s.local_addr().unwrap();
        Syslog::spawn(Sock::Udp(s), super::haproxy_addr(addr), Some(addr), None)
    }

    /// A UNIX datagram collector on `<tempdir>/log.sock` (`log /path/log.sock local0`).
    pub fn unix() -> Syslog {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let s = UnixDatagram::bind(&path).expect("bind unix datagram socket");
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        Syslog::spawn(
            Sock::Unix(s),
            path.to_string_lossy().into_owned(),
            None,
            Some(dir),
        )
    }

    fn spawn(
        sock: Sock,
        target: String,
        addr: Option<SocketAddr>,
        dir: Option<tempfile::TempDir>,
    ) -> Syslog {
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (got2, stop2) = (got.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 70000];
            while !stop2.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    got2.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        });
        Syslog {
            target,
            addr,
            _dir: dir,
            got,
            stop,
            thread: Some(thread),
        }
    }

    /// Where to send logs, as written in a configuration (`127.0.0.1:PORT` or the path).
    pub fn target(&self) -> String {
        self.target.clone()
    }

    /// The UDP address (None for a UNIX collector).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// `log TARGET REST`, e.g. `log_line("format rfc5424 local0")`.
    pub fn log_line(&self, rest: &str) -> String {
        format!("log {} {rest}", self.target)
    }

    /// Every datagram received so far, raw.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.got.lock().unwrap().clone()
    }

    /// Every datagram received so far as text, without the final `\n` HAProxy appends.
    pub fn lines(&self) -> Vec<String> {
        self.datagrams()
            .iter()
            .map(|d| {
                let t = String::from_utf8_lossy(d);
                t.strip_suffix('\n').unwrap_or(&t).to_string()
            })
            .collect()
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Polls until at least `n` datagrams arrived, at most `timeout`; returns the lines
    /// (possibly fewer than `n`: the caller asserts).
    pub fn wait_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        super::wait_until(timeout, || self.count() >= n);
        self.lines()
    }

    /// Like [`Syslog::wait_lines`], but panics with what arrived if fewer than `n` did.
    pub fn expect_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        let lines = self.wait_lines(n, timeout);
        assert!(
            lines.len() >= n,
            "expected {n} syslog lines on {} within {timeout:?}, got {}:\n{}",
            self.target,
            lines.len(),
            lines.join("\n")
        );
        lines
    }

    /// Waits until a line containing `needle` arrived (at most `timeout`) and returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let mut found = None;
        super::wait_until(timeout, || {
            found = self.lines().into_iter().find(|l| l.contains(needle));
            found.is_some()
        });
        found
    }

    /// True if no more than `n` lines arrived during `quiet` (for "this is not logged": a
    /// bounded wait, after a later line that is logged has been seen).
    pub fn stays_at(&self, n: usize, quiet: Duration) -> bool {
        let deadline = Instant::now() + quiet;
        while Instant::now() < deadline {
            if self.count() > n {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.count() <= n
    }

    /// Forgets what arrived so far.
    pub fn clear(&self) {
        self.got.lock().unwrap().clear();
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The UNIX socket path of a collector (for tests that need a `PathBuf`).
pub fn unix_path(s: &Syslog) -> PathBuf {
    PathBuf::from(s.target())
}

// ---------------------------------------------------------------------------
// Syslog headers
// ---------------------------------------------------------------------------

/// The `format` of a `log` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` (the default, `local`).
    Local,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`.
    Rfc3164,
    /// `<PRI>1 YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm HOST TAG PID - - MSG`.
    Rfc5424,
    /// `<SEV>MSG`.
    Short,
    /// `<SEV>YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm MSG`.
    Timed,
    /// `YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm MSG`.
    Iso,
    /// `<PRI>MSG`.
    Priority,
    /// `MSG`.
    Raw,
}

/// A syslog line split into its header fields and the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The number between `<` and `>` (PRI, or the severity alone for `short`/`timed`).
    pub pri: Option<u32>,
    /// `1` for RFC5424.
    pub version: Option<u32>,
    pub timestamp: Option<String>,
    pub host: Option<String>,
    pub tag: Option<String>,
    pub pid: Option<u32>,
    pub msg: String,
}

impl Line {
    /// Facility number (PRI / 8).
    pub fn facility(&self) -> Option<u32> {
        self.pri.map(|p| p / 8)
    }
    /// Severity number (PRI % 8).
    pub fn severity(&self) -> Option<u32> {
        self.pri.map(|p| p % 8)
    }
}

/// Syslog facility numbers by HAProxy's names.
pub fn facility(name: &str) -> u32 {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown facility {name}")) as u32
}

/// Severity numbers by HAProxy's names.
pub fn level(name: &str) -> u32 {
    const NAMES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown level {name}")) as u32
}

/// PRI for a facility and level name (`pri("local0", "info")` = 134).
pub fn pri(fac: &str, lvl: &str) -> u32 {
    facility(fac) * 8 + level(lvl)
}

fn take_pri(s: &str) -> Result<(u32, &str), String> {
    let rest = s
        .strip_prefix('<')
        .ok_or_else(|| format!("no <PRI> in {s:?}"))?;
    let (n, rest) = rest
        .split_once('>')
        .ok_or_else(|| format!("no closing > in {s:?}"))?;
    if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad PRI {n:?} in {s:?}"));
    }
    Ok((n.parse().unwrap(), rest))
}

fn take_word(s: &str) -> Result<(&str, &str), String> {
    s.split_once(' ')
        .ok_or_else(|| format!("expected a space-terminated word in {s:?}"))
}

/// `TAG[PID]:` → (TAG, PID).
fn tag_pid(w: &str) -> Result<(String, u32), String> {
    let inner = w
        .strip_suffix("]:")
        .ok_or_else(|| format!("expected TAG[PID]: got {w:?}"))?;
    let (tag, pid) = inner
        .rsplit_once('[')
        .ok_or_else(|| format!("expected TAG[PID]: got {w:?}"))?;
    let pid = pid.parse().map_err(|_| format!("bad pid in {w:?}"))?;
    Ok((tag.to_string(), pid))
}

/// True for `Mmm dd hh:mm:ss` with the day padded with a space (`Dec  4 18:22:15`).
pub fn is_rfc3164_date(s: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    s.len() == 15
        && MONTHS.contains(&&s[0..3])
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[4] != b'0'
        && b[6] == b' '
        && is_hms(&s[7..15])
}

fn is_hms(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for `YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm` (RFC5424 / ISO 8601 with microseconds and a
/// numeric offset, as HAProxy writes it).
pub fn is_iso_date(s: &str) -> bool {
    if s.len() != 32 {
        return false;
    }
    let b = s.as_bytes();
    digits(&s[0..4], 4)
        && b[4] == b'-'
        && digits(&s[5..7], 2)
        && b[7] == b'-'
        && digits(&s[8..10], 2)
        && b[10] == b'T'
        && is_hms(&s[11..19])
        && b[19] == b'.'
        && digits(&s[20..26], 6)
        && (b[26] == b'+' || b[26] == b'-')
        && digits(&s[27..29], 2)
        && b[29] == b':'
        && digits(&s[30..32], 2)
}

/// Splits a syslog line of format `f` into its header and message, checking the shape of
/// each header field (dates are checked for format, not value).
pub fn parse(f: Format, line: &str) -> Result<Line, String> {
    let mut out = Line::default();
    let rest = match f {
        Format::Raw => line,
        Format::Iso => {
            let (ts, rest) = take_word(line)?;
            if !is_iso_date(ts) {
                return Err(format!("bad ISO date {ts:?} in {line:?}"));
            }
            out.timestamp = Some(ts.to_string());
            rest
        }
        Format::Short | Format::Priority => {
            let (p, rest) = take_pri(line)?;
            out.pri = Some(p);
            rest
        }
        Format::Timed => {
            let (p, rest) = take_pri(line)?;
            out.pri = Some(p);
            let (ts, rest) = take_word(rest)?;
            if !is_iso_date(ts) {
                return Err(format!("bad ISO date {ts:?} in {line:?}"));
            }
            out.timestamp = Some(ts.to_string());
            rest
        }
        Format::Local | Format::Rfc3164 => {
            let (p, rest) = take_pri(line)?;
            out.pri = Some(p);
            if rest.len() < 16 || !is_rfc3164_date(&rest[..15]) || &rest[15..16] != " " {
                return Err(format!("bad RFC3164 date in {line:?}"));
            }
            out.timestamp = Some(rest[..15].to_string());
            let mut rest = &rest[16..];
            if f == Format::Rfc3164 {
                let (h, r) = take_word(rest)?;
                out.host = Some(h.to_string());
                rest = r;
            }
            let (tp, rest) = take_word(rest)?;
            let (tag, pid) = tag_pid(tp)?;
            out.tag = Some(tag);
            out.pid = Some(pid);
            rest
        }
        Format::Rfc5424 => {
            let (p, rest) = take_pri(line)?;
            out.pri = Some(p);
            let (v, rest) = take_word(rest)?;
            out.version = Some(v.parse().map_err(|_| format!("bad version in {line:?}"))?);
            let (ts, rest) = take_word(rest)?;
            if !is_iso_date(ts) {
                return Err(format!("bad RFC5424 date {ts:?} in {line:?}"));
            }
            out.timestamp = Some(ts.to_string());
            let (h, rest) = take_word(rest)?;
            out.host = Some(h.to_string());
            let (t, rest) = take_word(rest)?;
            out.tag = Some(t.to_string());
            let (pid, rest) = take_word(rest)?;
            out.pid = Some(pid.parse().map_err(|_| format!("bad pid in {line:?}"))?);
            // MSGID and STRUCTURED-DATA: HAProxy writes `-` for both.
            let (msgid, rest) = take_word(rest)?;
            let (sd, rest) = take_word(rest)?;
            if msgid != "-" || sd != "-" {
                return Err(format!("expected `- -` for MSGID and SD in {line:?}"));
            }
            rest
        }
    };
    out.msg = rest.to_string();
    Ok(out)
}

/// [`parse`], panicking with the line on error.
pub fn header(f: Format, line: &str) -> Line {
    parse(f, line).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------
// httplog / tcplog messages
// ---------------------------------------------------------------------------

/// True for `dd/Mmm/yyyy:hh:mm:ss.mmm` (the `%t`/`%tr` accept/request dates).
pub fn is_log_date_ms(s: &str) -> bool {
    s.len() == 24 && s.as_bytes()[20] == b'.' && digits(&s[21..24], 3) && is_log_date(&s[..20])
}

/// True for `dd/Mmm/yyyy:hh:mm:ss`.
pub fn is_log_date(s: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    s.len() == 20
        && digits(&s[0..2], 2)
        && b[2] == b'/'
        && MONTHS.contains(&&s[3..6])
        && b[6] == b'/'
        && digits(&s[7..11], 4)
        && b[11] == b':'
        && is_hms(&s[12..20])
}

/// True for `dd/Mmm/yyyy:hh:mm:ss +hhmm` (`%T`, `%Tl`, `%trg`, `%trl` and the CLF date).
pub fn is_log_date_tz(s: &str) -> bool {
    s.len() == 26
        && is_log_date(&s[..20])
        && s.as_bytes()[20] == b' '
        && (s.as_bytes()[21] == b'+' || s.as_bytes()[21] == b'-')
        && digits(&s[22..26], 4)
}

/// A timer as HAProxy logs it: a non-negative integer, or `-1` when `minus_one` is allowed.
pub fn is_timer(s: &str, minus_one: bool) -> bool {
    (minus_one && s == "-1") || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// A non-negative integer.
pub fn is_uint(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `ip:port` split at the last colon (`::1:35586` → `::1`, `35586`).
fn ip_port(s: &str) -> Result<(String, String), String> {
    let (ip, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("expected ip:port, got {s:?}"))?;
    Ok((ip.to_string(), port.to_string()))
}

fn bracketed(s: &str) -> Result<(String, &str), String> {
    let inner = s
        .strip_prefix('[')
        .ok_or_else(|| format!("expected [date] in {s:?}"))?;
    let (d, rest) = inner
        .split_once("] ")
        .ok_or_else(|| format!("expected [date] in {s:?}"))?;
    Ok((d.to_string(), rest))
}

fn slash_fields(s: &str, n: usize) -> Result<Vec<String>, String> {
    let v: Vec<String> = s.split('/').map(str::to_string).collect();
    if v.len() != n {
        return Err(format!("expected {n} fields separated by / in {s:?}"));
    }
    Ok(v)
}

/// The fields of an `option httplog` (or `httpslog`) message, as text.
#[derive(Clone, Debug, Default)]
pub struct HttpLog {
    pub client_ip: String,
    pub client_port: String,
    /// `dd/Mmm/yyyy:hh:mm:ss.mmm`.
    pub date: String,
    /// `%ft`: the frontend name, with `~` after it for TLS.
    pub frontend: String,
    pub backend: String,
    pub server: String,
    /// `TR/Tw/Tc/Tr/Ta`.
    pub timers: [String; 5],
    pub status: String,
    pub bytes: String,
    pub req_cookie: String,
    pub res_cookie: String,
    /// `%tsc`: four characters.
    pub term: String,
    /// `actconn/feconn/beconn/srv_conn/retries`.
    pub conns: [String; 5],
    /// `srv_queue/backend_queue`.
    pub queues: [String; 2],
    /// The `{…}` blocks (request captures, then response captures), without braces.
    pub captures: Vec<String>,
    /// The request line, without its quotes (`<BADREQ>` for a bad request).
    pub request: String,
    /// Anything after the request (the TLS fields of `httpslog`).
    pub extra: String,
}

/// Splits an `option httplog` message (what follows the syslog header) into fields.
pub fn parse_httplog(msg: &str) -> Result<HttpLog, String> {
    let err = |e: String| format!("{e}\n in httplog message {msg:?}");
    let mut l = HttpLog::default();
    let (cp, rest) = take_word(msg).map_err(err)?;
    (l.client_ip, l.client_port) = ip_port(cp).map_err(err)?;
    let (date, rest) = bracketed(rest).map_err(err)?;
    l.date = date;
    let mut words = rest.splitn(11, ' ');
    let mut next = || {
        words
            .next()
            .map(str::to_string)
            .ok_or_else(|| format!("message too short: {msg:?}"))
    };
    l.frontend = next()?;
    let bs = next()?;
    let (b, s) = bs
        .split_once('/')
        .ok_or_else(|| err(format!("expected backend/server, got {bs:?}")))?;
    (l.backend, l.server) = (b.to_string(), s.to_string());
    l.timers = slash_fields(&next()?, 5).map_err(err)?.try_into().unwrap();
    l.status = next()?;
    l.bytes = next()?;
    l.req_cookie = next()?;
    l.res_cookie = next()?;
    l.term = next()?;
    l.conns = slash_fields(&next()?, 5).map_err(err)?.try_into().unwrap();
    l.queues = slash_fields(&next()?, 2).map_err(err)?.try_into().unwrap();
    let mut rest = next()?;
    while let Some(r) = rest.strip_prefix('{') {
        let (cap, after) = r
            .split_once('}')
            .ok_or_else(|| err("unterminated {capture}".into()))?;
        l.captures.push(cap.to_string());
        rest = after.strip_prefix(' ').unwrap_or(after).to_string();
    }
    let r = rest
        .strip_prefix('"')
        .ok_or_else(|| err(format!("expected a quoted request in {rest:?}")))?;
    let (req, after) = r
        .split_once('"')
        .ok_or_else(|| err("unterminated request".into()))?;
    l.request = req.to_string();
    l.extra = after.strip_prefix(' ').unwrap_or(after).to_string();
    Ok(l)
}

/// [`parse_httplog`], panicking with the message on error.
pub fn httplog(msg: &str) -> HttpLog {
    parse_httplog(msg).unwrap_or_else(|e| panic!("{e}"))
}

/// The fields of an `option tcplog` message.
#[derive(Clone, Debug, Default)]
pub struct TcpLog {
    pub client_ip: String,
    pub client_port: String,
    pub date: String,
    pub frontend: String,
    pub backend: String,
    pub server: String,
    /// `Tw/Tc/Tt`.
    pub timers: [String; 3],
    pub bytes: String,
    /// `%ts`: two characters.
    pub term: String,
    pub conns: [String; 5],
    pub queues: [String; 2],
}

/// Splits an `option tcplog` message into fields.
pub fn parse_tcplog(msg: &str) -> Result<TcpLog, String> {
    let err = |e: String| format!("{e}\n in tcplog message {msg:?}");
    let mut l = TcpLog::default();
    let (cp, rest) = take_word(msg).map_err(err)?;
    (l.client_ip, l.client_port) = ip_port(cp).map_err(err)?;
    let (date, rest) = bracketed(rest).map_err(err)?;
    l.date = date;
    let w: Vec<&str> = rest.split(' ').collect();
    if w.len() != 7 {
        return Err(err(format!(
            "expected 7 fields after the date, got {}",
            w.len()
        )));
    }
    l.frontend = w[0].to_string();
    let (b, s) = w[1]
        .split_once('/')
        .ok_or_else(|| err(format!("expected backend/server, got {:?}", w[1])))?;
    (l.backend, l.server) = (b.to_string(), s.to_string());
    l.timers = slash_fields(w[2], 3).map_err(err)?.try_into().unwrap();
    l.bytes = w[3].to_string();
    l.term = w[4].to_string();
    l.conns = slash_fields(w[5], 5).map_err(err)?.try_into().unwrap();
    l.queues = slash_fields(w[6], 2).map_err(err)?.try_into().unwrap();
    Ok(l)
}

/// [`parse_tcplog`], panicking with the message on error.
pub fn tcplog(msg: &str) -> TcpLog {
    parse_tcplog(msg).unwrap_or_else(|e| panic!("{e}"))
}
