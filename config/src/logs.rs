//! The `log` lines (section 3.1 / 4.2 `log`): where a log line goes (UDP address, UNIX
//! datagram socket, stdout/stderr, ring), its framing (`format`), `len`, `sample`, facility
//! and levels; `log global` and `no log` in proxies; and the proxies' log format choice
//! (`option httplog [clf]`, `option httpslog`, `option tcplog [clf]`, `log-format`).

use crate::diag::Loc;

/// Syslog facilities, by their number.
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog levels, by their number.
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Where log lines are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSink {
    /// `ip:port`, `udp@…`, `ipv4@…`, `ipv6@…` (port 514 when not given).
    Udp(std::net::SocketAddr),
    /// `/path` or `unix@/path`: a UNIX datagram socket such as `/dev/log`.
    Unix(String),
    /// `stdout`, `stderr`, `fd@N`.
    Fd(i32),
    /// `ring@NAME`.
    Ring(String),
}

/// The framing of a line (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFraming {
    /// No `format`: as `local` (no host name), or RFC 3164 with `log-send-hostname`.
    #[default]
    Auto,
    Rfc3164,
    Rfc5424,
    Short,
    Raw,
    Iso,
    Timed,
    Priority,
    Local,
}

/// One `log` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub sink: LogSink,
    /// Longest line sent, header and final new line included (`len`, default 1024).
    pub maxlen: usize,
    pub framing: LogFraming,
    /// `sample RANGES:SIZE`: only the lines whose rank modulo SIZE is in RANGES.
    pub sample: Option<(Vec<(u32, u32)>, u32)>,
    pub facility: u8,
    /// Lines above this level are not sent.
    pub level: u8,
    /// The level given to lines below it (more important) is raised to it.
    pub minlevel: u8,
    /// `profile NAME`: the `log-profile` section adjusting this target's lines.
    pub profile: Option<String>,
    pub loc: Loc,
}

/// A `log` line of a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyLog {
    /// `log global`: the global section's targets.
    Global(Loc),
    Target(LogTarget),
}

/// The log format a proxy chose (the last of these lines wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormatChoice {
    Http { clf: bool },
    Https,
    Tcp { clf: bool },
    Custom(String),
}

/// The logging settings of a proxy (passed on by `defaults`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyLogging {
    pub targets: Vec<ProxyLog>,
    pub format: Option<(LogFormatChoice, Loc)>,
    pub format_sd: Option<(String, Loc)>,
    pub error_format: Option<(String, Loc)>,
    pub tag: Option<String>,
    pub unique_id_format: Option<(String, Loc)>,
    pub unique_id_header: Option<String>,
    /// `log-steps`: the steps of a transaction that send a line (`STEP_*` bits; `STEP_ALL`
    /// for `all`). None: HAProxy's single line at the end (or `option logasap`).
    pub steps: Option<u8>,
}

/// The logging steps of `log-steps` and of `on <step>` in `log-profile` sections.
pub const STEP_ACCEPT: u8 = 1;
pub const STEP_REQUEST: u8 = 2;
pub const STEP_CONNECT: u8 = 4;
pub const STEP_RESPONSE: u8 = 8;
pub const STEP_CLOSE: u8 = 16;
pub const STEP_ALL: u8 = 31;

/// The log origins of the `do-log` action (manual 4.4 `do-log`), usable after `on` in
/// `log-profile` sections and in `log-steps`.
pub const DO_LOG_ORIGINS: [&str; 8] = [
    "quic-init",
    "tcp-req-conn",
    "tcp-req-sess",
    "tcp-req-cont",
    "tcp-res-cont",
    "http-req",
    "http-res",
    "http-after-res",
];

/// Parses the argument of `log-steps`: `all`, or step names separated by commas.
pub fn parse_log_steps(arg: &str) -> Result<u8, String> {
    let mut mask = 0;
    for w in arg.split(',').map(str::trim) {
        mask |= match w {
            "all" => STEP_ALL,
            "accept" => STEP_ACCEPT,
            "request" => STEP_REQUEST,
            "connect" => STEP_CONNECT,
            "response" => STEP_RESPONSE,
            "close" => STEP_CLOSE,
            // The origins of `do-log`: their lines are sent whatever `log-steps` says.
            w if DO_LOG_ORIGINS.contains(&w) => 0,
            _ => {
                return Err(format!(
                    "unknown log step '{w}' (expected 'all' or a comma-separated list of accept, request, connect, response, close)"
                ));
            }
        };
    }
    Ok(mask)
}

/// One `on <step> [drop] [format <fmt>] [sd <sd_fmt>]` line of a `log-profile` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileStep {
    pub drop: bool,
    pub format: Option<(String, Loc)>,
    pub sd: Option<(String, Loc)>,
}

/// A `log-profile` section (manual 8.3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProfile {
    pub name: String,
    pub loc: Loc,
    /// `log-tag`.
    pub tag: Option<String>,
    /// `on <step> …` lines by step name (`accept`…`close`, `error`, `any`, or a `do-log`
    /// origin), the last line for a step completing the previous ones.
    pub steps: Vec<(String, ProfileStep)>,
}

impl LogProfile {
    /// The step override for `name`, if any.
    pub fn step(&self, name: &str) -> Option<&ProfileStep> {
        self.steps.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// The step names `on` accepts.
fn profile_step_known(w: &str) -> bool {
    matches!(
        w,
        "accept" | "request" | "connect" | "response" | "close" | "error" | "any"
    ) || DO_LOG_ORIGINS.contains(&w)
}

/// Parses the words of an `on` line after the keyword into `prof`.
pub fn parse_profile_on(words: &[String], loc: &Loc, prof: &mut LogProfile) -> Result<(), String> {
    let Some(step) = words.first() else {
        return Err("'on' expects a logging step".into());
    };
    if !profile_step_known(step) {
        return Err(format!(
            "'on' : unknown logging step '{step}' (expected accept, request, connect, response, close, error, any, or a do-log origin: {})",
            DO_LOG_ORIGINS.join(", ")
        ));
    }
    let mut s = prof.step(step).cloned().unwrap_or_default();
    let mut it = words[1..].iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "drop" => s.drop = true,
            "format" | "sd" => {
                let Some(v) = it.next() else {
                    return Err(format!("'on {step} {w}' expects a log-format string"));
                };
                let v = Some((v.clone(), loc.clone()));
                if w == "format" {
                    s.format = v;
                } else {
                    s.sd = v;
                }
            }
            other => {
                return Err(format!(
                    "'on {step}' : unexpected '{other}' (expected 'drop', 'format' or 'sd')"
                ));
            }
        }
    }
    match prof.steps.iter_mut().find(|(n, _)| n == step) {
        Some((_, old)) => *old = s,
        None => prof.steps.push((step.clone(), s)),
    }
    Ok(())
}

fn find(list: &[&str], w: &str) -> Option<u8> {
    list.iter().position(|x| *x == w).map(|i| i as u8)
}

/// Parses the address of a log target.
fn parse_sink(w: &str) -> Result<LogSink, String> {
    match w {
        "stdout" => return Ok(LogSink::Fd(1)),
        "stderr" => return Ok(LogSink::Fd(2)),
        _ => {}
    }
    if let Some(n) = w.strip_prefix("fd@") {
        return n
            .parse()
            .map(LogSink::Fd)
            .map_err(|_| format!("invalid file descriptor in '{w}'"));
    }
    if let Some(r) = w.strip_prefix("ring@") {
        return Ok(LogSink::Ring(r.to_string()));
    }
    if let Some(p) = w.strip_prefix("unix@") {
        return Ok(LogSink::Unix(p.to_string()));
    }
    if w.starts_with('/') {
        return Ok(LogSink::Unix(w.to_string()));
    }
    let (v6_only, rest) = match w.split_once('@') {
        Some(("udp" | "udp4" | "ipv4" | "udp6" | "ipv6", r)) => {
            (w.starts_with("udp6") || w.starts_with("ipv6"), r)
        }
        Some((p, _)) => return Err(format!("unsupported address family '{p}@' in '{w}'")),
        None => (false, w),
    };
    // `ip:port`, `[v6]:port`, `v6` alone, or `ip` alone (port 514).
    let parsed = rest
        .parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| {
            let (host, port) = rest.rsplit_once(':')?;
            let ip = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?;
            Some(std::net::SocketAddr::new(ip, port.parse().ok()?))
        })
        .or_else(|| {
            rest.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| std::net::SocketAddr::new(ip, 514))
        });
    match parsed {
        Some(a) if v6_only && a.is_ipv4() => Err(format!("'{w}' is not an IPv6 address")),
        Some(a) => Ok(LogSink::Udp(a)),
        None => Err(format!("unknown log target '{w}'")),
    }
}

/// Parses the name of a framing (`log … format F`, a ring's `format F`).
pub fn parse_framing(v: &str) -> Result<LogFraming, String> {
    Ok(match v {
        "rfc3164" => LogFraming::Rfc3164,
        "rfc5424" => LogFraming::Rfc5424,
        "short" => LogFraming::Short,
        "raw" => LogFraming::Raw,
        "iso" => LogFraming::Iso,
        "timed" => LogFraming::Timed,
        "priority" => LogFraming::Priority,
        "local" => LogFraming::Local,
        _ => return Err(format!("unknown log format '{v}'")),
    })
}

/// Parses `sample RANGES:SIZE`.
fn parse_sampling(w: &str) -> Result<(Vec<(u32, u32)>, u32), String> {
    let (ranges, size) = w
        .rsplit_once(':')
        .ok_or_else(|| format!("'sample' expects 'ranges:size', not '{w}'"))?;
    let size: u32 = size
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("invalid sample size '{size}'"))?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (a, b): (u32, u32) = match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) if a >= 1 && a <= b && b <= size => (a, b),
            _ => return Err(format!("invalid sample range '{r}' (1 to {size})")),
        };
        out.push((a, b));
    }
    Ok((out, size))
}

/// Parses the arguments of `log` after the keyword: `TARGET [len N] [format F]
/// [sample R:S] FACILITY [LEVEL [MINLEVEL]]`.
pub fn parse_log_target(args: &[String], loc: &Loc) -> Result<LogTarget, String> {
    let mut it = args.iter().map(String::as_str).peekable();
    let target = it
        .next()
        .filter(|w| !w.is_empty())
        .ok_or("'log' expects either <address[:port]> and <facility> or 'global' as arguments.")?;
    let sink = parse_sink(target)?;
    let mut t = LogTarget {
        sink,
        maxlen: 1024,
        framing: LogFraming::Auto,
        sample: None,
        facility: 0,
        level: 7,
        minlevel: 0,
        profile: None,
        loc: loc.clone(),
    };
    loop {
        match it.peek().copied() {
            Some("len") => {
                it.next();
                let v = it.next().unwrap_or("");
                t.maxlen = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 80 && *n <= 65535)
                    .ok_or_else(|| {
                        format!("invalid log length '{v}', must be between 80 and 65535.")
                    })?;
            }
            Some("format") => {
                it.next();
                let v = it.next().unwrap_or("");
                t.framing = parse_framing(v)?;
            }
            Some("sample") => {
                it.next();
                t.sample = Some(parse_sampling(it.next().unwrap_or(""))?);
            }
            Some("profile") => {
                it.next();
                let v = it.next().filter(|v| !v.is_empty());
                t.profile = Some(v.ok_or("'profile' expects a log-profile name")?.to_string());
            }
            _ => break,
        }
    }
    let fac = it.next().ok_or("missing facility after the log target")?;
    t.facility = find(&FACILITIES, fac).ok_or_else(|| format!("unknown log facility '{fac}'"))?;
    if let Some(l) = it.next() {
        t.level = find(&LEVELS, l).ok_or_else(|| format!("unknown optional log level '{l}'"))?;
    }
    if let Some(l) = it.next() {
        t.minlevel =
            find(&LEVELS, l).ok_or_else(|| format!("unknown optional minimum log level '{l}'"))?;
    }
    if let Some(extra) = it.next() {
        return Err(format!(
            "unexpected argument '{extra}' after the log levels"
        ));
    }
    Ok(t)
}

/// A `log-profile NAME` section: `log-tag` and `on` lines.
pub fn parse_log_profile(
    sec: &crate::reader::Section,
    cfg: &mut crate::model::Config,
    diags: &mut crate::diag::Diags,
) {
    let Some(name) = sec.name().filter(|n| !n.is_empty()) else {
        diags.alert(&sec.header.loc, "'log-profile' expects <name> as argument.");
        return;
    };
    if let Some(extra) = sec.header.words.get(2) {
        diags.alert(
            &sec.header.loc,
            format!("'log-profile' : unexpected argument '{extra}'."),
        );
    }
    if let Some(prev) = cfg.log_profiles.iter().find(|p| p.name == name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "log-profile '{name}' has the same name as another log-profile declared at {}.",
                prev.loc
            ),
        );
        return;
    }
    let mut prof = LogProfile {
        name: name.to_string(),
        loc: sec.header.loc.clone(),
        tag: None,
        steps: Vec::new(),
    };
    for line in &sec.lines {
        let Some((kw, n, _)) = crate::parse::lookup(sec.kind, line, diags) else {
            continue;
        };
        let args = &line.words[n..];
        match kw.name {
            "log-tag" => match args {
                [t] => prof.tag = Some(t.clone()),
                _ => diags.alert(&line.loc, "'log-tag' expects exactly one argument."),
            },
            _ => {
                if let Err(e) = parse_profile_on(args, &line.loc, &mut prof) {
                    diags.alert(&line.loc, format!("{e}."));
                }
            }
        }
    }
    cfg.log_profiles.push(prof);
}

/// Every `log … profile NAME` names a `log-profile` section.
pub fn check_profiles(cfg: &crate::model::Config, diags: &mut crate::diag::Diags) {
    let proxies = cfg.proxies.iter().flat_map(|p| {
        p.settings.logging.targets.iter().filter_map(|t| match t {
            ProxyLog::Target(t) => Some(t),
            ProxyLog::Global(_) => None,
        })
    });
    for p in &cfg.proxies {
        for r in &p.rules {
            if let [a, kw, name, ..] = r.args.as_slice()
                && a == "do-log"
                && kw == "profile"
                && !cfg.log_profiles.iter().any(|p| &p.name == name)
            {
                diags.alert(
                    &r.loc,
                    format!(
                        "'{} do-log' : unable to find log-profile '{name}'.",
                        r.keyword
                    ),
                );
            }
        }
    }
    for t in cfg.global.logs.iter().chain(proxies) {
        if let Some(name) = &t.profile
            && !cfg.log_profiles.iter().any(|p| &p.name == name)
        {
            diags.alert(
                &t.loc,
                format!("'log' : unable to find log-profile '{name}'."),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LogTarget, String> {
        let args: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        parse_log_target(&args, &Loc::none())
    }

    #[test]
    fn targets() {
        let t = p("127.0.0.1:514 local2").unwrap();
        assert_eq!(t.sink, LogSink::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!((t.facility, t.level, t.minlevel), (18, 7, 0));
        let t = p("10.0.0.1 len 200 format rfc5424 local0 info notice").unwrap();
        assert_eq!(t.sink, LogSink::Udp("10.0.0.1:514".parse().unwrap()));
        assert_eq!((t.maxlen, t.framing), (200, LogFraming::Rfc5424));
        assert_eq!((t.facility, t.level, t.minlevel), (16, 6, 5));
        assert_eq!(
            p("/dev/log daemon").unwrap().sink,
            LogSink::Unix("/dev/log".into())
        );
        assert_eq!(p("stdout format raw local0").unwrap().sink, LogSink::Fd(1));
        assert_eq!(
            p("udp6@[::1]:5140 local0").unwrap().sink,
            LogSink::Udp("[::1]:5140".parse().unwrap())
        );
        assert_eq!(
            p("127.0.0.1 sample 1-2,5:10 user").unwrap().sample,
            Some((vec![(1, 2), (5, 5)], 10))
        );
        assert!(p("127.0.0.1 local9").is_err());
        assert!(p("127.0.0.1").is_err());
        assert!(p("127.0.0.1 len 10 local0").is_err());
        assert!(p("127.0.0.1 local0 info bogus").is_err());
        assert!(p("nowhere local0").is_err());
        let t = p("127.0.0.1 format rfc5424 profile prof local0 info").unwrap();
        assert_eq!((t.profile.as_deref(), t.level), (Some("prof"), 6));
        assert!(p("127.0.0.1 profile").is_err());
    }

    #[test]
    fn steps_and_profiles() {
        assert_eq!(parse_log_steps("all"), Ok(STEP_ALL));
        assert_eq!(
            parse_log_steps("accept,close"),
            Ok(STEP_ACCEPT | STEP_CLOSE)
        );
        assert_eq!(parse_log_steps("http-req"), Ok(0));
        assert!(parse_log_steps("accept,bogus").is_err());
        let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let mut prof = LogProfile {
            name: "p".into(),
            loc: Loc::none(),
            tag: None,
            steps: Vec::new(),
        };
        parse_profile_on(&w("error format err"), &Loc::none(), &mut prof).unwrap();
        parse_profile_on(&w("connect drop"), &Loc::none(), &mut prof).unwrap();
        parse_profile_on(&w("error sd x"), &Loc::none(), &mut prof).unwrap();
        let e = prof.step("error").unwrap();
        assert_eq!(
            (
                e.format.as_ref().unwrap().0.as_str(),
                e.sd.as_ref().unwrap().0.as_str()
            ),
            ("err", "x")
        );
        assert!(prof.step("connect").unwrap().drop);
        assert!(parse_profile_on(&w("nowhere drop"), &Loc::none(), &mut prof).is_err());
        assert!(parse_profile_on(&w("close format"), &Loc::none(), &mut prof).is_err());
    }
}
