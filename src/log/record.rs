//! What one log line describes (a stream, or one HTTP transaction of it): dates, timers,
//! status, byte counts, termination state, names, addresses, counters, captures, the
//! request line; and the `%X` variables of manual 8.2.6 rendered from it as HAProxy
//! prints them (`-` for what is unknown, `#XX` for bytes a log must not carry).

use std::io::Write;
use std::net::SocketAddr;

use super::time::{self, Stamp};
use crate::sample::{CaptureSlots, Received};

/// A `%X` log variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogVar {
    /// `%o`: flags for every item that follows.
    AllFlags,
    AcceptUtc,
    AcceptLocal,
    AcceptUnix,
    AcceptMs,
    AcceptMsOnly,
    ReqMs,
    ReqUtc,
    ReqLocal,
    Ta,
    Tc,
    Td,
    Th,
    Ti,
    Tq,
    TR,
    Tr,
    Tt,
    Tu,
    Tw,
    BytesOut,
    CookieReq,
    CookieRes,
    Hostname,
    Method,
    PathQ,
    PathOnly,
    Query,
    Uri,
    Version,
    UniqueId,
    Status,
    BytesIn,
    ActConn,
    Backend,
    BeConn,
    BackendIp,
    BackendPort,
    BeQueue,
    ClientIp,
    ClientPort,
    Frontend,
    FeConn,
    FrontendIp,
    FrontendPort,
    FrontendTransport,
    LogCounter,
    ReqHeaders,
    ReqHeadersClf,
    ResHeaders,
    ResHeadersClf,
    Origin,
    Pid,
    Request,
    Retries,
    ReqCounter,
    Server,
    SrvConn,
    ServerIp,
    ServerPort,
    SrvQueue,
    SslCipher,
    SslVersion,
    TermState,
    TermStateCookie,
}

impl LogVar {
    pub fn parse(name: &str) -> Option<LogVar> {
        use LogVar::*;
        Some(match name {
            "o" => AllFlags,
            "T" => AcceptUtc,
            "Tl" => AcceptLocal,
            "Ts" => AcceptUnix,
            "t" => AcceptMs,
            "ms" => AcceptMsOnly,
            "tr" => ReqMs,
            "trg" => ReqUtc,
            "trl" => ReqLocal,
            "Ta" => Ta,
            "Tc" => Tc,
            "Td" => Td,
            "Th" => Th,
            "Ti" => Ti,
            "Tq" => Tq,
            "TR" => TR,
            "Tr" => Tr,
            "Tt" => Tt,
            "Tu" => Tu,
            "Tw" => Tw,
            "B" => BytesOut,
            "CC" => CookieReq,
            "CS" => CookieRes,
            "H" => Hostname,
            "HM" => Method,
            "HP" => PathQ,
            "HPO" => PathOnly,
            "HQ" => Query,
            "HU" => Uri,
            "HV" => Version,
            "ID" => UniqueId,
            "ST" => Status,
            "U" => BytesIn,
            "ac" => ActConn,
            "b" => Backend,
            "bc" => BeConn,
            "bi" => BackendIp,
            "bp" => BackendPort,
            "bq" => BeQueue,
            "ci" => ClientIp,
            "cp" => ClientPort,
            "f" => Frontend,
            "fc" => FeConn,
            "fi" => FrontendIp,
            "fp" => FrontendPort,
            "ft" => FrontendTransport,
            "lc" => LogCounter,
            "hr" => ReqHeaders,
            "hrl" => ReqHeadersClf,
            "hs" => ResHeaders,
            "hsl" => ResHeadersClf,
            "OG" => Origin,
            "pid" => Pid,
            "r" => Request,
            "rc" => Retries,
            "rt" => ReqCounter,
            "s" => Server,
            "sc" => SrvConn,
            "si" => ServerIp,
            "sp" => ServerPort,
            "sq" => SrvQueue,
            "sslc" => SslCipher,
            "sslv" => SslVersion,
            "ts" => TermState,
            "tsc" => TermStateCookie,
            _ => return None,
        })
    }

    /// Whether the value is a number (quoting does not apply).
    pub fn numeric(self) -> bool {
        use LogVar::*;
        matches!(
            self,
            AcceptUnix
                | AcceptMsOnly
                | Ta
                | Tc
                | Td
                | Th
                | Ti
                | Tq
                | TR
                | Tr
                | Tt
                | Tu
                | Tw
                | BytesOut
                | Status
                | BytesIn
                | ActConn
                | BeConn
                | BackendPort
                | BeQueue
                | ClientPort
                | FeConn
                | FrontendPort
                | LogCounter
                | Pid
                | Retries
                | ReqCounter
                | SrvConn
                | ServerPort
                | SrvQueue
        )
    }
}

/// The flags of an item (`%{+Q,+X,+E}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub quote: bool,
    pub hex: bool,
    pub escape: bool,
}

/// Timers of manual 8.4, in milliseconds (`-1`: the step was not reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Th: handshakes (PROXY, TLS) on the first request of a connection.
    pub handshake: i64,
    /// Ti: idle time before the request.
    pub idle: i64,
    /// TR: the request head, from its first byte.
    pub request: i64,
    /// Tw: time spent in queues.
    pub queue: i64,
    /// Tc: the connection to the server.
    pub connect: i64,
    /// Tr: the server's response head, once connected.
    pub response: i64,
    /// Ta: the request's active time, from its first byte to the response's end.
    pub active: i64,
    /// Tt: since the connection was accepted.
    pub total: i64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            handshake: 0,
            idle: 0,
            request: -1,
            queue: -1,
            connect: -1,
            response: -1,
            active: -1,
            total: -1,
        }
    }
}

/// When a line is sent (`%OG`, the `on <step>` of log profiles): a step of the
/// transaction, an error before the stream, or a `do-log` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    Accept,
    Request,
    Connect,
    Response,
    #[default]
    Close,
    /// A connection failing before its stream (`error-log-format`).
    Error,
    /// `do-log` in `tcp-request connection`, `session`, `content`, `tcp-response content`,
    /// `http-request`, `http-response`, `http-after-response` rules.
    TcpReqConn,
    TcpReqSess,
    TcpReqCont,
    TcpResCont,
    HttpReq,
    HttpRes,
    HttpAfterRes,
}

impl Origin {
    /// As `%OG` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Accept => "txn_accept",
            Origin::Request => "txn_request",
            Origin::Connect => "txn_connect",
            Origin::Response => "txn_response",
            Origin::Close => "txn_close",
            Origin::Error => "sess_error",
            o => o.step(),
        }
    }

    /// The step name of `on <step>` in `log-profile` sections.
    pub fn step(self) -> &'static str {
        match self {
            Origin::Accept => "accept",
            Origin::Request => "request",
            Origin::Connect => "connect",
            Origin::Response => "response",
            Origin::Close => "close",
            Origin::Error => "error",
            Origin::TcpReqConn => "tcp-req-conn",
            Origin::TcpReqSess => "tcp-req-sess",
            Origin::TcpReqCont => "tcp-req-cont",
            Origin::TcpResCont => "tcp-res-cont",
            Origin::HttpReq => "http-req",
            Origin::HttpRes => "http-res",
            Origin::HttpAfterRes => "http-after-res",
        }
    }

    /// The `log-steps` bit of a transaction step (0 for the others).
    pub fn step_bit(self) -> u8 {
        use halo_config::logs::*;
        match self {
            Origin::Accept => STEP_ACCEPT,
            Origin::Request => STEP_REQUEST,
            Origin::Connect => STEP_CONNECT,
            Origin::Response => STEP_RESPONSE,
            Origin::Close => STEP_CLOSE,
            _ => 0,
        }
    }
}

/// `set-log-level silent`: the stream sends no line.
pub const LEVEL_SILENT: u8 = 8;

/// What one log line describes.
pub struct LogRecord<'a> {
    /// When the line is sent.
    pub origin: Origin,
    /// The level `set-log-level` chose for the stream (`LEVEL_SILENT`: no line).
    pub level: Option<u8>,
    pub accept: Stamp,
    pub request_date: Stamp,
    pub timers: Timers,
    /// `true` once the log line is emitted before the end (`option logasap`): `+` before
    /// the total time and the bytes.
    pub partial: bool,
    pub http: bool,
    pub status: Option<u16>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Termination state: who ended the stream, and at which step (`--` normally).
    pub term: [u8; 2],
    /// Persistence cookie state, client side then server side (`--` without cookie).
    pub cookie: [u8; 2],
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    pub server: Option<&'a str>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub backend_src: Option<SocketAddr>,
    pub server_addr: Option<SocketAddr>,
    pub actconn: u64,
    pub feconn: u64,
    pub beconn: u64,
    pub srvconn: u64,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u64,
    pub be_queue: u64,
    pub req_caps: Option<(&'a CaptureSlots, usize)>,
    pub res_caps: Option<(&'a CaptureSlots, usize)>,
    pub cookie_req: Option<&'a [u8]>,
    pub cookie_res: Option<&'a [u8]>,
    /// The request line as received; None with `bad_request`: `<BADREQ>`.
    pub received: Option<&'a Received>,
    pub bad_request: bool,
    pub unique_id: Option<&'a [u8]>,
    pub tls: Option<&'a crate::tls::TlsInfo>,
    pub req_counter: u64,
    pub log_counter: u64,
    pub hostname: Option<&'a str>,
}

/// `#XX` for control bytes, bytes above 126, and `extra` (HAProxy's log encoding maps).
fn encoded(out: &mut Vec<u8>, v: &[u8], extra: &[u8]) {
    for &c in v {
        if !(32..127).contains(&c) || extra.contains(&c) {
            let _ = write!(out, "#{c:02X}");
        } else {
            out.push(c);
        }
    }
}

/// The path of a request target, without the scheme and authority of an absolute URI.
fn path_of(target: &[u8]) -> &[u8] {
    match target.windows(3).position(|w| w == b"://") {
        Some(i) if target[..i].iter().all(u8::is_ascii_alphabetic) => {
            let rest = &target[i + 3..];
            match rest.iter().position(|&c| c == b'/') {
                Some(j) => &rest[j..],
                None => b"/",
            }
        }
        _ => target,
    }
}

/// The characters encoded in captured headers.
const HDR_ENCODE: &[u8] = b"\"#{|}";
/// The characters encoded in the request line.
const URL_ENCODE: &[u8] = b"\"#";

impl LogRecord<'_> {
    fn timer(out: &mut Vec<u8>, v: i64, plus: bool) {
        if plus && v >= 0 {
            out.push(b'+');
        }
        let _ = write!(out, "{v}");
    }

    fn text(out: &mut Vec<u8>, v: Option<&[u8]>, f: Flags) {
        match v {
            Some(v) => {
                if f.quote {
                    out.push(b'"');
                }
                for &c in v {
                    if f.escape && matches!(c, b'"' | b'\\' | b']') {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                if f.quote {
                    out.push(b'"');
                }
            }
            // Unknown: `-`, or an empty quoted string.
            None if f.quote => out.extend_from_slice(b"\"\""),
            None => out.push(b'-'),
        }
    }

    fn number(out: &mut Vec<u8>, v: i64, f: Flags) {
        if f.hex {
            let _ = write!(out, "{:X}", v as u64);
        } else {
            let _ = write!(out, "{v}");
        }
    }

    /// Ports and the stream counter: 4 hexadecimal digits at least under `+X`.
    fn number4(out: &mut Vec<u8>, v: i64, f: Flags) {
        if f.hex {
            let _ = write!(out, "{:04X}", v as u64);
        } else {
            let _ = write!(out, "{v}");
        }
    }

    fn ip(out: &mut Vec<u8>, a: Option<SocketAddr>, f: Flags) {
        match a {
            Some(a) if f.hex => match a.ip() {
                std::net::IpAddr::V4(v4) => {
                    for b in v4.octets() {
                        let _ = write!(out, "{b:02X}");
                    }
                }
                std::net::IpAddr::V6(v6) => {
                    for b in v6.octets() {
                        let _ = write!(out, "{b:02X}");
                    }
                }
            },
            Some(a) => {
                if f.quote {
                    out.push(b'"');
                }
                let _ = write!(out, "{}", a.ip());
                if f.quote {
                    out.push(b'"');
                }
            }
            None => out.push(b'-'),
        }
    }

    fn captures(out: &mut Vec<u8>, caps: Option<(&CaptureSlots, usize)>, clf: bool, f: Flags) {
        let Some((slots, n)) = caps.filter(|(_, n)| *n > 0) else {
            return;
        };
        if !clf {
            out.push(b'{');
        }
        for i in 0..n {
            if i > 0 {
                out.push(if clf { b' ' } else { b'|' });
            }
            let v = slots.get(i);
            if clf {
                if f.quote {
                    out.push(b'"');
                }
                match &v {
                    Some(v) => encoded(out, v, HDR_ENCODE),
                    None => out.push(b'-'),
                }
                if f.quote {
                    out.push(b'"');
                }
            } else {
                if f.quote {
                    out.push(b'"');
                }
                if let Some(v) = &v {
                    encoded(out, v, HDR_ENCODE);
                }
                if f.quote {
                    out.push(b'"');
                }
            }
        }
        if !clf {
            out.push(b'}');
        }
    }

    fn version(&self) -> Option<&'static [u8]> {
        self.received?.req_version().map(|v| match v {
            crate::http::h1::Version::Http10 => &b"HTTP/1.0"[..],
            crate::http::h1::Version::Http11 => &b"HTTP/1.1"[..],
        })
    }

    /// Appends variable `v` with flags `f`.
    pub fn render(&self, v: LogVar, f: Flags, out: &mut Vec<u8>) {
        use LogVar::*;
        let t = &self.timers;
        let f = if v.numeric() {
            Flags { quote: false, ..f }
        } else {
            f
        };
        let q = |out: &mut Vec<u8>| {
            if f.quote {
                out.push(b'"');
            }
        };
        match v {
            AllFlags => {}
            // Dates and termination states are never quoted.
            AcceptUtc | AcceptLocal => time::log_zone(out, self.accept.0, v == AcceptLocal),
            AcceptUnix => Self::number(out, self.accept.0, f),
            AcceptMs => time::log_ms(out, self.accept),
            AcceptMsOnly => {
                let _ = write!(out, "{:03}", self.accept.1 / 1000);
            }
            ReqMs => time::log_ms(out, self.request_date),
            ReqUtc | ReqLocal => time::log_zone(out, self.request_date.0, v == ReqLocal),
            Ta => Self::timer(out, t.active, self.partial),
            Tc => Self::timer(out, t.connect, false),
            Td => {
                let tq = t.handshake + t.idle + t.request.max(0);
                let d = if t.total < 0 || t.response < 0 {
                    -1
                } else {
                    t.total - (tq + t.queue.max(0) + t.connect.max(0) + t.response)
                };
                Self::timer(out, d, false)
            }
            Th => Self::timer(out, t.handshake, false),
            Ti => Self::timer(out, t.idle, false),
            Tq => {
                let tq = if t.request < 0 {
                    -1
                } else {
                    t.handshake + t.idle + t.request
                };
                Self::timer(out, tq, false)
            }
            TR => Self::timer(out, t.request, false),
            Tr => Self::timer(out, t.response, false),
            Tt => Self::timer(out, t.total, self.partial),
            Tu => {
                let u = if t.active < 0 {
                    -1
                } else {
                    t.active - t.response.max(0) - t.connect.max(0) - t.queue.max(0)
                };
                Self::timer(out, u, false)
            }
            Tw => Self::timer(out, t.queue, false),
            BytesOut => {
                if self.partial {
                    out.push(b'+');
                }
                Self::number(out, self.bytes_out as i64, f)
            }
            BytesIn => Self::number(out, self.bytes_in as i64, f),
            CookieReq => Self::text(out, self.cookie_req, f),
            CookieRes => Self::text(out, self.cookie_res, f),
            Hostname => Self::text(out, self.hostname.map(str::as_bytes), f),
            Method => Self::text(out, self.received.and_then(|r| r.method()), f),
            Uri => Self::text(out, self.received.and_then(|r| r.uri()), f),
            PathQ | PathOnly | Query => {
                let uri = self.received.and_then(|r| r.uri());
                let part = uri.map(|u| {
                    let (path, query) = match u.iter().position(|&c| c == b'?') {
                        Some(i) => (&u[..i], &u[i..]),
                        None => (u, &b""[..]),
                    };
                    match v {
                        Query => query,
                        PathOnly => path_of(path),
                        _ => path,
                    }
                });
                Self::text(out, part, f)
            }
            Version => Self::text(out, self.version(), f),
            UniqueId => Self::text(out, self.unique_id, f),
            Status => match self.status {
                Some(s) => Self::number(out, i64::from(s), f),
                None => out.extend_from_slice(b"-1"),
            },
            ActConn => Self::number(out, self.actconn as i64, f),
            Backend => Self::text(
                out,
                Some(self.backend.unwrap_or(self.frontend).as_bytes()),
                f,
            ),
            BeConn => Self::number(out, self.beconn as i64, f),
            BackendIp => Self::ip(out, self.backend_src, f),
            BackendPort => match self.backend_src {
                Some(a) => Self::number4(out, i64::from(a.port()), f),
                None => out.push(b'-'),
            },
            BeQueue => Self::number(out, self.be_queue as i64, f),
            ClientIp => Self::ip(out, Some(self.src), f),
            ClientPort => Self::number4(out, i64::from(self.src.port()), f),
            Frontend => Self::text(out, Some(self.frontend.as_bytes()), f),
            FeConn => Self::number(out, self.feconn as i64, f),
            FrontendIp => Self::ip(out, Some(self.dst), f),
            FrontendPort => Self::number4(out, i64::from(self.dst.port()), f),
            FrontendTransport => {
                q(out);
                out.extend_from_slice(self.frontend.as_bytes());
                if self.tls.is_some() {
                    out.push(b'~');
                }
                q(out);
            }
            LogCounter => Self::number(out, self.log_counter as i64, f),
            ReqHeaders => Self::captures(out, self.req_caps, false, f),
            ReqHeadersClf => Self::captures(out, self.req_caps, true, f),
            ResHeaders => Self::captures(out, self.res_caps, false, f),
            ResHeadersClf => Self::captures(out, self.res_caps, true, f),
            Origin => Self::text(out, Some(self.origin.name().as_bytes()), f),
            Pid => Self::number(out, i64::from(std::process::id()), f),
            Request => {
                q(out);
                match self.received.and_then(|r| Some((r.method()?, r.uri()?))) {
                    Some((m, u)) if !self.bad_request => {
                        // As HAProxy keeps it: the line cut to `tune.http.logurilen`
                        // bytes, then encoded.
                        let mut room = URI_MAX.load(std::sync::atomic::Ordering::Relaxed);
                        let mut part = |out: &mut Vec<u8>, sep: bool, p: &[u8]| {
                            if sep && room > 0 {
                                out.push(b' ');
                                room -= 1;
                            }
                            let n = p.len().min(room);
                            encoded(out, &p[..n], URL_ENCODE);
                            room -= n;
                        };
                        part(out, false, m);
                        part(out, true, u);
                        if let Some(ver) = self.version() {
                            part(out, true, ver);
                        }
                    }
                    _ => out.extend_from_slice(b"<BADREQ>"),
                }
                q(out);
            }
            Retries => {
                if self.redispatched {
                    out.push(b'+');
                }
                Self::number(out, i64::from(self.retries), f)
            }
            ReqCounter => Self::number4(out, self.req_counter as i64, f),
            Server => Self::text(out, Some(self.server.unwrap_or("<NOSRV>").as_bytes()), f),
            SrvConn => Self::number(out, self.srvconn as i64, f),
            ServerIp => Self::ip(out, self.server_addr, f),
            ServerPort => match self.server_addr {
                Some(a) => Self::number4(out, i64::from(a.port()), f),
                None => out.push(b'-'),
            },
            SrvQueue => Self::number(out, self.srv_queue as i64, f),
            SslCipher => Self::text(out, self.tls.map(|t| t.cipher.as_bytes()), f),
            SslVersion => Self::text(out, self.tls.map(|t| t.protocol.as_bytes()), f),
            TermState => out.extend_from_slice(&self.term),
            TermStateCookie => {
                out.extend_from_slice(&self.term);
                out.extend_from_slice(&self.cookie);
            }
        }
    }
}

/// What an HTTP transaction notes for its log line as it runs.
#[derive(Default)]
pub struct Marks {
    /// When the stream started: the connection's accept for the first request, the end
    /// of the previous transaction for the next ones.
    pub stream_start: Option<(std::time::Instant, std::time::SystemTime)>,
    /// Th: the handshakes of the connection (first request only).
    pub handshake_ms: u64,
    /// The first byte of the request, and its complete head.
    pub req_start: Option<std::time::Instant>,
    pub req_ready: Option<std::time::Instant>,
    /// The server connection: queue, connect, retries, failure.
    pub connect: crate::proxy::stream::ConnectReport,
    /// When the request went to the server, and when the response head came back.
    pub sent: Option<std::time::Instant>,
    pub res_head: Option<std::time::Instant>,
    /// The status sent to the client.
    pub status: Option<u16>,
    /// Bytes sent to the client, and of the request body (and tunnel) received from it.
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// The stream added its bytes to the counters itself (a tunnel).
    pub counted: bool,
    /// The cookie letters of `%tsc` (`--` when the backend has no `cookie`).
    pub cookie: [u8; 2],
    /// Termination state (`--` when it ended normally).
    pub term: Option<[u8; 2]>,
    /// The local address of the server connection.
    pub backend_src: Option<SocketAddr>,
    /// The backend and server that served it.
    pub backend: Option<usize>,
    pub server: Option<std::sync::Arc<crate::server::Server>>,
    /// The request could not be parsed (`<BADREQ>`).
    pub bad_request: bool,
    /// The stream's number (`%rt`).
    pub req_id: u64,
    /// `option logasap`: the line is being sent early, or was.
    pub logging_early: bool,
    pub logged: bool,
    /// The transaction failed before its stream had a request (HAProxy 3.x logs such
    /// errors as session errors: `%OG` `sess_error`, the `error` step of log profiles).
    pub early_error: bool,
}

impl std::fmt::Debug for Marks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marks")
            .field("status", &self.status)
            .field("term", &self.term)
            .finish_non_exhaustive()
    }
}

impl Marks {
    /// A new transaction starting at `start`.
    pub fn restart(
        &mut self,
        start: (std::time::Instant, std::time::SystemTime),
        handshake_ms: u64,
    ) {
        *self = Marks {
            stream_start: Some(start),
            handshake_ms,
            cookie: *b"--",
            req_id: super::next_request_id(),
            ..Marks::default()
        };
    }

    /// Forgets the previous transaction without noting anything (no log, no unique id).
    pub fn clear(&mut self) {
        self.status = None;
        self.term = None;
        self.bytes_out = 0;
        self.bytes_in = 0;
        self.counted = false;
        self.cookie = *b"--";
        self.bad_request = false;
        self.early_error = false;
        // What the backend's and server's counters read at the end of each transaction.
        self.backend = None;
        self.server = None;
        self.sent = None;
        self.res_head = None;
        self.connect = Default::default();
    }

    /// Sets the termination state unless one is set already (the first cause wins).
    pub fn end(&mut self, term: [u8; 2]) {
        if self.term.is_none() {
            self.term = Some(term);
        }
    }
}

/// `tune.http.logurilen`: the bytes of the request line `%r` keeps.
pub static URI_MAX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1024);

/// The size HAProxy counts for an HTTP message in `%B`/`%U` (its internal HTX form): 20
/// for the start line plus its three words, each header's name and value (`Connection`
/// without its `close`/`keep-alive`, which belong to the connection), 1 for the end of
/// headers, then the body. `raw` is a whole message as written (an error page, an answer
/// of a rule).
pub fn htx_size(raw: &[u8]) -> u64 {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return raw.len() as u64;
    };
    let mut lines = raw[..end].split(|&c| c == b'\n');
    let start = lines.next().unwrap_or_default();
    let words: usize = start
        .trim_ascii()
        .splitn(3, |&c| c == b' ')
        .map(<[u8]>::len)
        .sum();
    let mut size = 20 + words + 1;
    for l in lines {
        let Some(colon) = l.iter().position(|&c| c == b':') else {
            continue;
        };
        size += field_htx_len(l[..colon].trim_ascii(), l[colon + 1..].trim_ascii());
    }
    (size + raw.len() - (end + 4)) as u64
}

/// `htx_size` of a parsed head (the body not included).
pub fn htx_head_size(head: &crate::http::h1::Head) -> u64 {
    let start = if head.is_request() {
        head.method().len() + head.uri().len() + 8
    } else {
        8 + 3 + head.reason().len()
    };
    let fields: usize = head.headers().map(|(n, v)| field_htx_len(n, v)).sum();
    (20 + start + fields + 1) as u64
}

/// A header field's size in HTX: name and value, except `Connection`, which keeps only
/// its tokens other than `close` and `keep-alive` (joined by ", ") and is gone without
/// them — HAProxy's parser takes those two for itself (a WebSocket `Connection: Upgrade`
/// stays).
fn field_htx_len(name: &[u8], value: &[u8]) -> usize {
    if !name.eq_ignore_ascii_case(b"connection") {
        return name.len() + value.len();
    }
    let (mut n, mut len) = (0, 0);
    for t in value.split(|&c| c == b',').map(<[u8]>::trim_ascii) {
        if !t.is_empty()
            && !t.eq_ignore_ascii_case(b"close")
            && !t.eq_ignore_ascii_case(b"keep-alive")
        {
            n += 1;
            len += t.len();
        }
    }
    if n == 0 {
        0
    } else {
        name.len() + len + 2 * (n - 1)
    }
}
