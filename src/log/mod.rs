//! Traffic logs: the targets of `log` lines (UDP, UNIX datagram sockets, stdout/stderr),
//! the syslog framings of `format` (rfc3164, rfc5424, short, raw, iso, timed, priority),
//! `len`, `sample`, levels; a line is sent with one non-blocking system call and dropped
//! when the socket is full, so logging never makes a session wait. Rings (`ring@NAME`) are
//! in `ring.rs`, the syslog relay of `log-forward` sections in `forward.rs`.

pub mod forward;
pub mod record;
pub mod ring;
pub mod time;

use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use halo_config::logs::{LogFraming, LogSink, LogTarget};

/// Syslog levels used by the proxy.
pub const LOG_EMERG: u8 = 0;
pub const LOG_ALERT: u8 = 1;
pub const LOG_ERR: u8 = 3;
pub const LOG_NOTICE: u8 = 5;
pub const LOG_INFO: u8 = 6;

/// One target with its sampling counter.
#[derive(Debug)]
pub struct Target {
    pub conf: LogTarget,
    /// The ring of a `ring@NAME` target.
    pub ring: Option<Arc<ring::Ring>>,
    /// Lines seen by a `sample` target.
    seen: AtomicU32,
}

/// The targets of a proxy (its own lines and those of `log global`), with the tag and host
/// name of the process.
#[derive(Debug, Default)]
pub struct Loggers {
    targets: Vec<Arc<Target>>,
    tag: Arc<str>,
    hostname: Option<Arc<str>>,
    /// The `log-tag` of each target's `log-profile`, when one has (empty: none has).
    tags: Vec<Option<Arc<str>>>,
}

/// Lines dropped because a socket was full or gone (`show info`: `DroppedLogs`).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SOCKETS: RefCell<Sockets> = RefCell::new(Sockets::default());
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// The sockets a thread sends from (opened on first use): one UDP socket connected to
/// each syslog address (no route lookup per line), one UNIX datagram socket.
#[derive(Default)]
struct Sockets {
    udp: Vec<(SocketAddr, UdpSocket)>,
    unix: Option<UnixDatagram>,
}

impl Sockets {
    fn udp(&mut self, to: SocketAddr) -> Option<&UdpSocket> {
        let i = match self.udp.iter().position(|(a, _)| *a == to) {
            Some(i) => i,
            None => {
                let any = if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
                let s = UdpSocket::bind(any).ok()?;
                s.set_nonblocking(true).ok()?;
                s.connect(to).ok()?;
                self.udp.push((to, s));
                self.udp.len() - 1
            }
        };
        self.udp.get(i).map(|(_, s)| s)
    }

    fn unix(&mut self) -> Option<&UnixDatagram> {
        if self.unix.is_none() {
            let s = UnixDatagram::unbound().ok()?;
            s.set_nonblocking(true).ok()?;
            self.unix = Some(s);
        }
        self.unix.as_ref()
    }
}

impl Target {
    /// A target; `rings` are those of the configuration (a `ring@NAME` target names one of
    /// them, checked with the configuration).
    pub fn new(conf: LogTarget, rings: &[Arc<ring::Ring>]) -> Arc<Target> {
        let ring = match &conf.sink {
            LogSink::Ring(name) => rings.iter().find(|r| &r.name == name).cloned(),
            _ => None,
        };
        Arc::new(Target {
            conf,
            ring,
            seen: AtomicU32::new(0),
        })
    }

    /// Sends one message at `level` (None: the message had none, sent as `emerg`) with
    /// `facility` (None: the target's) and the header fields of `meta`, unless the target's
    /// level or `sample` leaves it out.
    pub fn send(&self, level: Option<u8>, facility: Option<u8>, meta: &Meta<'_>, msg: &[u8]) {
        let lv = level.unwrap_or(LOG_EMERG);
        if lv > self.conf.level || !self.sampled() {
            return;
        }
        self.send_taken(lv, facility, meta, msg);
    }

    /// Sends a message the target's level and `sample` already took.
    fn send_taken(&self, lv: u8, facility: Option<u8>, meta: &Meta<'_>, msg: &[u8]) {
        let c = &self.conf;
        let lv = lv.max(c.minlevel);
        let facility = facility.unwrap_or(c.facility);
        LINE.with_borrow_mut(|line| {
            line.clear();
            if let Some(r) = &self.ring {
                // A ring stores messages in its own format, cut at its `maxlen`; the
                // target's `len` cuts the text.
                let msg = &msg[..msg.len().min(c.maxlen)];
                frame(line, r.format, facility, lv, meta, msg, usize::MAX);
                line.pop();
                r.write(line);
                return;
            }
            frame(line, c.framing, facility, lv, meta, msg, c.maxlen);
            emit(&c.sink, line);
        });
    }

    /// Sends a message received by a log-forward section as it came (a target without
    /// `format`, not a ring), after the level and `sample` checks.
    pub fn send_verbatim(&self, level: Option<u8>, msg: &[u8]) {
        let c = &self.conf;
        if level.unwrap_or(LOG_EMERG) > c.level || !self.sampled() {
            return;
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            line.extend_from_slice(&msg[..msg.len().min(c.maxlen)]);
            line.push(b'\n');
            emit(&c.sink, line);
        });
    }

    /// Whether this line is one `sample` keeps.
    fn sampled(&self) -> bool {
        match &self.conf.sample {
            None => true,
            Some((ranges, size)) => {
                let rank = self.seen.fetch_add(1, Relaxed) % size + 1;
                ranges.iter().any(|(a, b)| (*a..=*b).contains(&rank))
            }
        }
    }
}

/// The host's name (`log-send-hostname` without an argument).
pub fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The program name: the last part of the path the binary was started with.
pub fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "halo".to_string())
}

impl Loggers {
    pub fn new(targets: Vec<Arc<Target>>, tag: Arc<str>, hostname: Option<Arc<str>>) -> Loggers {
        Loggers {
            targets,
            tag,
            hostname,
            tags: Vec::new(),
        }
    }

    /// The same, each target's tag replaced by the `log-tag` of its `log-profile`.
    fn with_profile_tags(mut self, profiles: &[halo_config::logs::LogProfile]) -> Loggers {
        let tags: Vec<Option<Arc<str>>> = self
            .targets
            .iter()
            .map(|t| {
                let name = t.conf.profile.as_deref()?;
                let p = profiles.iter().find(|p| p.name == name)?;
                p.tag.as_deref().map(Arc::from)
            })
            .collect();
        if tags.iter().any(Option::is_some) {
            self.tags = tags;
        }
        self
    }

    /// Whether target `i` takes a line at `level` (its level, then its `sample`).
    fn takes(&self, i: usize, level: u8) -> bool {
        let t = &self.targets[i];
        level <= t.conf.level && t.sampled()
    }

    /// The tag of target `i`'s lines: its profile's `log-tag`, else the proxy's.
    fn tag_of(&self, i: usize) -> &str {
        match self.tags.get(i) {
            Some(Some(t)) => t,
            _ => &self.tag,
        }
    }

    /// Frames and sends a line to target `i` (which `takes` it) with `tag`.
    fn send_to(&self, i: usize, level: u8, tag: &str, sd: &[u8], msg: &[u8]) {
        let pid = pid_text();
        let meta = Meta {
            time: None,
            host: self.hostname.as_deref().map(str::as_bytes),
            tag: tag.as_bytes(),
            pid: Some(pid.as_bytes()),
            msgid: b"",
            sd,
        };
        self.targets[i].send_taken(level, None, &meta, msg);
    }

    /// Whether any line would be sent.
    pub fn enabled(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Sends `msg` (without new line) at `level` to every target that takes it.
    pub fn send(&self, level: u8, msg: &[u8]) {
        self.send_sd(level, b"", msg);
    }

    /// Like `send`, with the structured data of RFC 5424 targets (`log-format-sd`; empty:
    /// `-`).
    pub fn send_sd(&self, level: u8, sd: &[u8], msg: &[u8]) {
        for i in 0..self.targets.len() {
            if self.takes(i, level) {
                self.send_to(i, level, self.tag_of(i), sd, msg);
            }
        }
    }
}

/// The process id as text, for the headers.
fn pid_text() -> &'static str {
    static PID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PID.get_or_init(|| std::process::id().to_string())
}

/// The header fields of a message: those of the process for its own lines, those parsed
/// from a received message for a log-forward section (empty when absent).
pub struct Meta<'a> {
    /// The date as received (`Dec  4 18:20:45` or ISO 8601); None: now.
    pub time: Option<&'a [u8]>,
    pub host: Option<&'a [u8]>,
    pub tag: &'a [u8],
    pub pid: Option<&'a [u8]>,
    pub msgid: &'a [u8],
    pub sd: &'a [u8],
}

fn or_dash(v: &[u8]) -> &[u8] {
    if v.is_empty() { b"-" } else { v }
}

/// Writes the header of `framing`, the message cut to fit `maxlen` with the final new
/// line, into `out`.
fn frame(
    out: &mut Vec<u8>,
    framing: LogFraming,
    facility: u8,
    level: u8,
    m: &Meta<'_>,
    msg: &[u8],
    maxlen: usize,
) {
    let pri = u32::from(facility) * 8 + u32::from(level);
    let date_3164 = |out: &mut Vec<u8>| {
        if !m.time.is_some_and(|t| time::received_as_rfc3164(out, t)) {
            time::rfc3164(out, time::now().0);
        }
    };
    let date_iso = |out: &mut Vec<u8>| {
        if !m.time.is_some_and(|t| time::received_as_iso(out, t)) {
            time::iso(out, time::now());
        }
    };
    match framing {
        LogFraming::Rfc3164 | LogFraming::Local | LogFraming::Auto => {
            let _ = write!(out, "<{pri}>");
            date_3164(out);
            out.push(b' ');
            // RFC 3164 always names a host (`localhost` without `log-send-hostname`);
            // `local` never does; no `format` does when `log-send-hostname` is set.
            match (framing, m.host) {
                (LogFraming::Rfc3164, h) => {
                    out.extend_from_slice(h.filter(|h| !h.is_empty()).unwrap_or(b"localhost"));
                    out.push(b' ');
                }
                (LogFraming::Auto, Some(h)) => {
                    out.extend_from_slice(h);
                    out.push(b' ');
                }
                _ => {}
            }
            if !m.tag.is_empty() {
                out.extend_from_slice(m.tag);
                if let Some(p) = m.pid.filter(|p| !p.is_empty()) {
                    out.push(b'[');
                    out.extend_from_slice(p);
                    out.push(b']');
                }
                out.extend_from_slice(b": ");
            }
        }
        LogFraming::Rfc5424 => {
            let _ = write!(out, "<{pri}>1 ");
            date_iso(out);
            for f in [
                m.host.unwrap_or(b""),
                m.tag,
                m.pid.unwrap_or(b""),
                m.msgid,
                m.sd,
            ] {
                out.push(b' ');
                out.extend_from_slice(or_dash(f));
            }
            out.push(b' ');
        }
        LogFraming::Short => {
            let _ = write!(out, "<{level}>");
        }
        LogFraming::Raw => {}
        LogFraming::Iso => {
            date_iso(out);
            out.push(b' ');
        }
        LogFraming::Timed => {
            let _ = write!(out, "<{level}>");
            date_iso(out);
            out.push(b' ');
        }
        LogFraming::Priority => {
            let _ = write!(out, "<{pri}>");
        }
    }
    // `len` cuts the line, header included; the new line comes after.
    let room = maxlen.saturating_sub(out.len());
    out.extend_from_slice(&msg[..msg.len().min(room)]);
    out.push(b'\n');
}

fn emit(sink: &LogSink, line: &[u8]) {
    let sent = match sink {
        // (A collector not listening yet only drops lines: a connected socket would
        // report the refusal on the next send, which is ignored the same way.)
        LogSink::Udp(addr) => {
            SOCKETS.with_borrow_mut(|s| s.udp(*addr).is_some_and(|u| u.send(line).is_ok()))
        }
        LogSink::Unix(path) => SOCKETS.with_borrow_mut(|s| {
            s.unix()
                .is_some_and(|u| u.send_to(&line[..line.len() - 1], path).is_ok())
        }),
        LogSink::Fd(fd) => {
            // SAFETY: writing a valid buffer to a descriptor; a closed one only errs.
            let n = unsafe { libc::write(*fd, line.as_ptr().cast(), line.len()) };
            n == line.len() as isize
        }
        // Ring targets are written by `Target::send`.
        LogSink::Ring(_) => false,
    };
    if !sent {
        DROPPED.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(framing: LogFraming, maxlen: usize) -> LogTarget {
        LogTarget {
            sink: LogSink::Fd(-1),
            maxlen,
            framing,
            sample: None,
            facility: 18,
            level: 7,
            minlevel: 0,
            profile: None,
            loc: halo_config::Loc::none(),
        }
    }

    fn framed(f: LogFraming, maxlen: usize, host: Option<&str>) -> String {
        let mut out = Vec::new();
        let c = target(f, maxlen);
        let pid = pid_text();
        let meta = Meta {
            time: None,
            host: host.map(str::as_bytes),
            tag: b"tag",
            pid: Some(pid.as_bytes()),
            msgid: b"",
            sd: b"",
        };
        frame(
            &mut out,
            c.framing,
            c.facility,
            6,
            &meta,
            b"hello world",
            c.maxlen,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn framings() {
        let pid = std::process::id();
        let l = framed(LogFraming::Auto, 1024, None);
        assert!(l.starts_with("<150>") && l.ends_with(&format!(" tag[{pid}]: hello world\n")));
        assert_eq!(
            l.len(),
            "<150>Dec  4 18:20:45 tag[]: hello world\n".len() + pid.to_string().len()
        );
        let l = framed(LogFraming::Rfc3164, 1024, None);
        assert!(
            l.ends_with(&format!(" localhost tag[{pid}]: hello world\n")),
            "{l}"
        );
        let l = framed(LogFraming::Auto, 1024, Some("h"));
        assert!(l.ends_with(&format!(" h tag[{pid}]: hello world\n")), "{l}");
        let l = framed(LogFraming::Rfc5424, 1024, None);
        assert!(
            l.starts_with("<150>1 2") && l.ends_with(&format!(" - tag {pid} - - hello world\n")),
            "{l}"
        );
        assert_eq!(framed(LogFraming::Short, 1024, None), "<6>hello world\n");
        assert_eq!(framed(LogFraming::Raw, 1024, None), "hello world\n");
        assert_eq!(
            framed(LogFraming::Priority, 1024, None),
            "<150>hello world\n"
        );
        let l = framed(LogFraming::Timed, 1024, None);
        assert!(
            l.starts_with("<6>2") && l.ends_with(" hello world\n"),
            "{l}"
        );
        // `len` cuts the line, header included; the new line comes after.
        assert_eq!(framed(LogFraming::Raw, 5, None), "hello\n");
    }
}

/// `option httplog`.
pub const HTTP_LOG_FMT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// `option httplog clf`.
pub const HTTP_CLF_FMT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// `option httpslog`.
pub const HTTPS_LOG_FMT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
/// `option tcplog`.
pub const TCP_LOG_FMT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
/// `option tcplog clf`.
pub const TCP_CLF_FMT: &str = "%{Q}o %{-Q}ci - - [%T] \"TCP \" 000 %B \"\" \"\" %cp %ms %ft %b %s %Th %Tw %Tc %Tt %U %ts-- %ac %fc %bc %sc %rc %sq %bq \"\" \"\" ";

/// The logging of a frontend: where its lines go and what they say.
pub struct ProxyLog {
    pub loggers: Loggers,
    /// The line at the end of a stream (or of each HTTP transaction); None: HAProxy's
    /// default, one `Connect from` line when a connection is accepted.
    pub format: Option<crate::sample::logfmt::LogFormat>,
    /// `option dontlognull`, `option dontlog-normal`, `option log-separate-errors`.
    pub dontlognull: bool,
    pub dontlog_normal: bool,
    pub separate_errors: bool,
    /// The number of request and response capture slots printed by `%hr`/`%hs`.
    pub req_caps: usize,
    pub res_caps: usize,
    /// Lines sent so far (`%lc`).
    pub counter: AtomicU64,
    /// The system's host name (`%H`).
    pub host: Arc<str>,
    /// The format prints the local address of the server connection (`%bi`, `%bp`).
    pub needs_backend_src: bool,
    /// `option logasap`: the line leaves once the response head is in (HTTP) or the
    /// server connected (TCP), with the total time and bytes so far marked `+`.
    pub logasap: bool,
    /// `log-format-sd`: the structured data of RFC 5424 lines.
    pub format_sd: Option<crate::sample::logfmt::LogFormat>,
    /// `log-steps`: the transaction steps sending a line (`STEP_*` bits); None: one line
    /// at the end (or with `option logasap`).
    pub steps: Option<u8>,
    /// The `log-profile` of each target, when one has (empty: none has).
    pub profiles: Vec<Option<Arc<Profile>>>,
    /// The profiles `do-log profile NAME` rules name.
    pub named_profiles: Vec<(String, Arc<Profile>)>,
    /// `error-log-format`: the line of a connection failing in its PROXY header or TLS
    /// handshake (None: HAProxy's short fixed line).
    pub error_format: Option<crate::sample::logfmt::LogFormat>,
}

impl ProxyLog {
    /// Sends the line describing `rec` (the sample context gives `%[…]` items), at `err`
    /// level when it ended in error and `option log-separate-errors` asks for it.
    /// A level set by `set-log-level` replaces both (`silent`: no line).
    pub fn emit(&self, ctx: &crate::sample::Ctx<'_>, rec: &mut record::LogRecord<'_>, error: bool) {
        self.emit_as(ctx, rec, error, None);
    }

    /// The line of a `do-log` rule: at its origin, through the profile it names (else
    /// each target's own).
    pub fn emit_do_log(
        &self,
        ctx: &crate::sample::Ctx<'_>,
        rec: &mut record::LogRecord<'_>,
        error: bool,
        d: &DoLog,
    ) {
        rec.origin = d.origin;
        let forced = d.profile.as_deref().and_then(|name| {
            self.named_profiles
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| &**p)
        });
        self.emit_as(ctx, rec, error, forced);
    }

    fn emit_as(
        &self,
        ctx: &crate::sample::Ctx<'_>,
        rec: &mut record::LogRecord<'_>,
        error: bool,
        forced: Option<&Profile>,
    ) {
        let Some(fmt) = &self.format else {
            return;
        };
        if self.dontlog_normal && !error {
            return;
        }
        let level = match rec.level {
            Some(record::LEVEL_SILENT) => return,
            Some(l) => l,
            None if error && self.separate_errors => LOG_ERR,
            None => LOG_INFO,
        };
        rec.log_counter = self.counter.fetch_add(1, Relaxed);
        self.render_send(fmt, ctx, rec, level, forced);
    }

    /// Whether `log-steps` asks for a line at `step` (a transaction step other than the
    /// end: never without `log-steps`).
    pub fn logs_step(&self, step: record::Origin) -> bool {
        self.steps.is_some_and(|m| m & step.step_bit() != 0)
    }

    /// Whether the line at the end of the stream is sent (`log-steps` may leave it out).
    pub fn logs_close(&self) -> bool {
        self.steps
            .is_none_or(|m| m & halo_config::logs::STEP_CLOSE != 0)
    }

    /// `option logasap`, which `log-steps` replaces.
    pub fn logs_asap(&self) -> bool {
        self.logasap && self.steps.is_none()
    }

    /// Renders `fmt` (and `log-format-sd`) for `rec` and sends it at `level`.
    fn render_send(
        &self,
        fmt: &crate::sample::logfmt::LogFormat,
        ctx: &crate::sample::Ctx<'_>,
        rec: &record::LogRecord<'_>,
        level: u8,
        forced: Option<&Profile>,
    ) {
        MSG.with_borrow_mut(|msg| {
            msg.clear();
            fmt.render_log(ctx, rec, msg);
            SD.with_borrow_mut(|sd| {
                sd.clear();
                if let Some(sdf) = &self.format_sd {
                    sdf.render_log(ctx, rec, sd);
                }
                if self.profiles.is_empty() && forced.is_none() {
                    self.loggers.send_sd(level, sd, msg);
                } else {
                    self.send_profiled(ctx, rec, level, (sd, msg), forced);
                }
            });
        });
    }

    /// Sends a line to each target, through the `on <step>` of its `log-profile`: no
    /// line (`drop`), or one built from the step's `format` and `sd`.
    fn send_profiled(
        &self,
        ctx: &crate::sample::Ctx<'_>,
        rec: &record::LogRecord<'_>,
        level: u8,
        (sd, msg): (&[u8], &[u8]),
        forced: Option<&Profile>,
    ) {
        for i in 0..self.loggers.targets.len() {
            if !self.loggers.takes(i, level) {
                continue;
            }
            // A `do-log profile NAME` line: that profile instead of the target's one.
            let (profile, tag) = match forced {
                Some(p) => (Some(p), p.tag.as_deref().unwrap_or(&self.loggers.tag)),
                None => (
                    self.profiles.get(i).and_then(|p| p.as_deref()),
                    self.loggers.tag_of(i),
                ),
            };
            let Some(step) = profile.and_then(|p| p.step(rec.origin)) else {
                self.loggers.send_to(i, level, tag, sd, msg);
                continue;
            };
            if step.drop {
                continue;
            }
            let mut own_msg = Vec::new();
            let mut own_sd = Vec::new();
            if let Some(f) = &step.format {
                f.render_log(ctx, rec, &mut own_msg);
                if own_msg.is_empty() {
                    continue;
                }
            }
            if let Some(f) = &step.sd {
                f.render_log(ctx, rec, &mut own_sd);
                // As HAProxy: the structured data without its trailing spaces.
                while own_sd.last() == Some(&b' ') {
                    own_sd.pop();
                }
            }
            self.loggers.send_to(
                i,
                level,
                tag,
                if step.sd.is_some() { &own_sd } else { sd },
                if step.format.is_some() { &own_msg } else { msg },
            );
        }
    }

    /// The `error-log-format` line of a connection that failed before its stream.
    pub fn emit_error(&self, ctx: &crate::sample::Ctx<'_>, rec: &mut record::LogRecord<'_>) {
        let Some(fmt) = &self.error_format else {
            return;
        };
        rec.log_counter = self.counter.fetch_add(1, Relaxed);
        let level = if self.separate_errors {
            LOG_ERR
        } else {
            LOG_INFO
        };
        rec.origin = record::Origin::Error;
        self.render_send(fmt, ctx, rec, level, None);
    }

    /// HAProxy's short line for a connection that failed before its stream (no
    /// `error-log-format`): `CLIENT:PORT [ACCEPT_DATE] FRONTEND/BIND: MESSAGE`.
    pub fn conn_error_line(
        &self,
        src: SocketAddr,
        accept: std::time::SystemTime,
        frontend: &str,
        bind: &str,
        message: &str,
    ) {
        let level = if self.separate_errors {
            LOG_ERR
        } else {
            LOG_INFO
        };
        MSG.with_borrow_mut(|msg| {
            msg.clear();
            let _ = write!(msg, "{}:{} [", src.ip(), src.port());
            time::log_ms(msg, time::of(accept));
            let _ = write!(msg, "] {frontend}/{bind}: {message}");
            self.loggers.send(level, msg);
        });
    }

    /// The `Connect from` line of a connection just accepted (no log format set).
    pub fn connect_line(&self, src: SocketAddr, dst: SocketAddr, frontend: &str, http: bool) {
        if self.format.is_some() {
            return;
        }
        MSG.with_borrow_mut(|msg| {
            msg.clear();
            let _ = write!(
                msg,
                "Connect from {}:{} to {}:{} ({frontend}/{})",
                src.ip(),
                src.port(),
                dst.ip(),
                dst.port(),
                if http { "HTTP" } else { "TCP" }
            );
            self.loggers.send(LOG_INFO, msg);
        });
    }
}

/// A `log-profile` section compiled for one proxy: its `on <step>` lines.
#[derive(Default)]
pub struct Profile {
    /// `log-tag`.
    tag: Option<Arc<str>>,
    steps: Vec<(&'static str, ProfileStep)>,
    any: Option<ProfileStep>,
}

struct ProfileStep {
    drop: bool,
    format: Option<crate::sample::logfmt::LogFormat>,
    sd: Option<crate::sample::logfmt::LogFormat>,
}

impl Profile {
    /// The override of the step a line is sent at: its own, else `any`.
    fn step(&self, origin: record::Origin) -> Option<&ProfileStep> {
        let name = origin.step();
        self.steps
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
            .or(self.any.as_ref())
    }

    /// Compiles `p`'s formats with the proxy's sample resolver (errors name the line).
    fn compile(
        p: &halo_config::logs::LogProfile,
        res: &dyn crate::sample::Resolver,
        diags: &mut halo_config::Diags,
    ) -> Profile {
        let fmt = |f: &Option<(String, halo_config::Loc)>, diags: &mut halo_config::Diags| {
            let (text, loc) = f.as_ref()?;
            match crate::sample::logfmt::LogFormat::parse_log(text, res) {
                Ok(f) => Some(f),
                Err(e) => {
                    diags.alert(loc, format!("'on' (log-profile '{}') : {e}.", p.name));
                    None
                }
            }
        };
        let mut out = Profile {
            tag: p.tag.as_deref().map(Arc::from),
            ..Profile::default()
        };
        for (name, s) in &p.steps {
            let step = ProfileStep {
                drop: s.drop,
                format: fmt(&s.format, diags),
                sd: fmt(&s.sd, diags),
            };
            if name == "any" {
                out.any = Some(step);
            } else {
                let all = [
                    record::Origin::Accept,
                    record::Origin::Request,
                    record::Origin::Connect,
                    record::Origin::Response,
                    record::Origin::Close,
                    record::Origin::Error,
                    record::Origin::TcpReqConn,
                    record::Origin::TcpReqSess,
                    record::Origin::TcpReqCont,
                    record::Origin::TcpResCont,
                    record::Origin::HttpReq,
                    record::Origin::HttpRes,
                    record::Origin::HttpAfterRes,
                ];
                // (`quic-init`: halo has no QUIC, so no line is sent at that step.)
                if let Some(o) = all.iter().find(|o| o.step() == name) {
                    out.steps.push((o.step(), step));
                }
            }
        }
        out
    }
}

/// The compiled `log-profile` of each of `targets` (empty when none has one).
fn compile_profiles(
    targets: &[Arc<Target>],
    profiles: &[halo_config::logs::LogProfile],
    res: &dyn crate::sample::Resolver,
    diags: &mut halo_config::Diags,
) -> Vec<Option<Arc<Profile>>> {
    if targets.iter().all(|t| t.conf.profile.is_none()) {
        return Vec::new();
    }
    targets
        .iter()
        .map(|t| {
            let name = t.conf.profile.as_deref()?;
            let p = profiles.iter().find(|p| p.name == name)?;
            Some(Arc::new(Profile::compile(p, res, diags)))
        })
        .collect()
}

thread_local! {
    static MSG: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    static SD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The targets of `global`'s `log` lines, shared by the proxies that say `log global`.
pub struct GlobalLogs {
    pub targets: Vec<Arc<Target>>,
    /// The rings of the configuration (`ring@NAME` targets).
    pub rings: Vec<Arc<ring::Ring>>,
    pub tag: Arc<str>,
    pub hostname: Option<Arc<str>>,
    pub system_host: Arc<str>,
    /// The `log-profile` sections.
    pub profiles: Vec<halo_config::logs::LogProfile>,
    /// The profiles named by `do-log profile NAME` rules.
    pub do_log_profiles: Vec<String>,
}

impl GlobalLogs {
    pub fn new(g: &halo_config::model::Global, rings: Vec<Arc<ring::Ring>>) -> GlobalLogs {
        GlobalLogs {
            targets: g
                .logs
                .iter()
                .map(|t| Target::new(t.clone(), &rings))
                .collect(),
            rings,
            tag: g.log_tag.clone().unwrap_or_else(program_name).into(),
            hostname: g
                .log_send_hostname
                .as_ref()
                .map(|h| h.clone().unwrap_or_else(system_hostname).into()),
            system_host: system_hostname().into(),
            profiles: Vec::new(),
            do_log_profiles: Vec::new(),
        }
    }
}

/// The targets of a proxy's `log` lines (`log global` brings the global ones).
fn proxy_targets(
    settings: &halo_config::model::ProxySettings,
    global: &GlobalLogs,
) -> Vec<Arc<Target>> {
    targets_of(&settings.logging.targets, global)
}

/// The targets of `log` lines (`log global` brings the global ones).
pub fn targets_of(lines: &[halo_config::logs::ProxyLog], global: &GlobalLogs) -> Vec<Arc<Target>> {
    use halo_config::logs::ProxyLog as Line;
    let mut targets = Vec::new();
    for t in lines {
        match t {
            Line::Global(_) => targets.extend(global.targets.iter().cloned()),
            Line::Target(t) => targets.push(Target::new(t.clone(), &global.rings)),
        }
    }
    targets
}

/// Where a proxy's events go (server state changes, health checks): its log targets,
/// whatever its log format. None without any.
pub fn proxy_events(
    settings: &halo_config::model::ProxySettings,
    global: &GlobalLogs,
) -> Option<Loggers> {
    let targets = proxy_targets(settings, global);
    if targets.is_empty() {
        return None;
    }
    let tag: Arc<str> = match &settings.logging.tag {
        Some(t) => t.as_str().into(),
        None => global.tag.clone(),
    };
    Some(Loggers::new(targets, tag, global.hostname.clone()).with_profile_tags(&global.profiles))
}

/// What compiling a proxy's logging needs to know about it.
pub struct ProxyLogSpec<'a> {
    pub name: &'a str,
    pub settings: &'a halo_config::model::ProxySettings,
    pub http: bool,
    pub req_caps: usize,
    pub res_caps: usize,
}

/// The logging of a frontend, None when it sends no line. Errors name the keyword.
pub fn compile_proxy(
    spec: &ProxyLogSpec<'_>,
    global: &GlobalLogs,
    res: &dyn crate::sample::Resolver,
    diags: &mut halo_config::Diags,
) -> Option<Box<ProxyLog>> {
    use halo_config::logs::LogFormatChoice;
    let l = &spec.settings.logging;
    let targets = proxy_targets(spec.settings, global);
    let format = match &l.format {
        None => None,
        Some((choice, loc)) => {
            let text = match choice {
                LogFormatChoice::Http { clf } | LogFormatChoice::Tcp { clf } if !spec.http => {
                    if matches!(choice, LogFormatChoice::Http { .. }) {
                        diags.warning(
                            loc,
                            format!(
                                "'option httplog' not usable with proxy '{}' (needs 'mode http'). Falling back to 'option tcplog'.",
                                spec.name
                            ),
                        );
                    }
                    if *clf { TCP_CLF_FMT } else { TCP_LOG_FMT }
                }
                LogFormatChoice::Http { clf: true } => HTTP_CLF_FMT,
                LogFormatChoice::Http { clf: false } => HTTP_LOG_FMT,
                LogFormatChoice::Https => HTTPS_LOG_FMT,
                LogFormatChoice::Tcp { clf: true } => TCP_CLF_FMT,
                LogFormatChoice::Tcp { clf: false } => TCP_LOG_FMT,
                LogFormatChoice::Custom(t) => t.as_str(),
            };
            match crate::sample::logfmt::LogFormat::parse_log(text, res) {
                Ok(f) => Some(f),
                Err(e) => {
                    diags.alert(loc, format!("'log-format' : {e}."));
                    None
                }
            }
        }
    };
    if targets.is_empty() {
        if let (Some((LogFormatChoice::Custom(_), loc)), Some(_)) = (&l.format, &format) {
            diags.warning(
                loc,
                format!(
                    "log format ignored for proxy '{}' since it has no log address.",
                    spec.name
                ),
            );
        }
        return None;
    }
    let tag: Arc<str> = match &l.tag {
        Some(t) => t.as_str().into(),
        None => global.tag.clone(),
    };
    let opt = |o: &str| spec.settings.option(o).unwrap_or(false);
    let extra =
        |f: &Option<(String, halo_config::Loc)>, kw: &str, diags: &mut halo_config::Diags| {
            let (text, loc) = f.as_ref()?;
            match crate::sample::logfmt::LogFormat::parse_log(text, res) {
                Ok(f) => Some(f),
                Err(e) => {
                    diags.alert(loc, format!("'{kw}' : {e}."));
                    None
                }
            }
        };
    let format_sd = extra(&l.format_sd, "log-format-sd", diags);
    let profiles = compile_profiles(&targets, &global.profiles, res, diags);
    let named_profiles = global
        .do_log_profiles
        .iter()
        .filter_map(|name| {
            let p = global.profiles.iter().find(|p| &p.name == name)?;
            Some((name.clone(), Arc::new(Profile::compile(p, res, diags))))
        })
        .collect();
    let error_format = extra(&l.error_format, "error-log-format", diags);
    Some(Box::new(ProxyLog {
        format_sd,
        error_format,
        loggers: Loggers::new(targets, tag, global.hostname.clone())
            .with_profile_tags(&global.profiles),
        steps: l.steps,
        profiles,
        named_profiles,
        dontlognull: opt("dontlognull"),
        dontlog_normal: opt("dontlog-normal"),
        separate_errors: opt("log-separate-errors"),
        logasap: opt("logasap"),
        req_caps: spec.req_caps,
        res_caps: spec.res_caps,
        counter: AtomicU64::new(0),
        host: global.system_host.clone(),
        needs_backend_src: format
            .as_ref()
            .is_some_and(|f| f.uses(&[record::LogVar::BackendIp, record::LogVar::BackendPort])),
        format,
    }))
}

/// A `do-log` rule that ran: where, and the `log-profile` it names.
#[derive(Debug, Clone)]
pub struct DoLog {
    pub origin: record::Origin,
    pub profile: Option<Arc<str>>,
}

/// `unique-id-format` and `unique-id-header` of a frontend.
pub struct UniqueId {
    pub format: crate::sample::logfmt::LogFormat,
    pub header: Option<Vec<u8>>,
}

/// The frontend's `unique-id-format`, compiled (errors name the keyword).
pub fn compile_unique_id(
    settings: &halo_config::model::ProxySettings,
    res: &dyn crate::sample::Resolver,
    diags: &mut halo_config::Diags,
) -> Option<Box<UniqueId>> {
    let (text, loc) = settings.logging.unique_id_format.as_ref()?;
    match crate::sample::logfmt::LogFormat::parse_log(text, res) {
        Ok(format) => Some(Box::new(UniqueId {
            format,
            header: settings
                .logging
                .unique_id_header
                .as_ref()
                .map(|h| h.as_bytes().to_vec()),
        })),
        Err(e) => {
            diags.alert(loc, format!("'unique-id-format' : {e}."));
            None
        }
    }
}

/// The process's stream counter (`%rt`).
static REQUEST_IDS: AtomicU64 = AtomicU64::new(0);

pub fn next_request_id() -> u64 {
    REQUEST_IDS.fetch_add(1, Relaxed)
}
