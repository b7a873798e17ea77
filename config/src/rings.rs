//! `ring` sections (manual 12.5: `description`, `format`, `maxlen`, `size`, `timeout
//! connect/server`, `server … log-proto`) and `log-forward` sections (12.6: `bind`,
//! `dgram-bind`, `log`, `maxconn`, `backlog`, `timeout client`, their options).

use crate::addr::{Address, PortSpec, Usage, parse_address};
use crate::diag::{Diags, Loc};
use crate::keywords::{SectionKind, Support};
use crate::logs::{LogFraming, ProxyLog, parse_framing, parse_log_target};
use crate::model::Config;
use crate::reader::{Line, Section};
use crate::units::{parse_size, parse_time_ms};

/// How messages are delimited on a TCP syslog connection (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogProto {
    /// Non-transparent framing: each message followed by a line feed (the default).
    #[default]
    Legacy,
    /// Octet counting: `LEN SP MSG`.
    OctetCount,
}

/// A `server` of a ring: a TCP syslog server receiving the ring's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingServer {
    pub name: String,
    /// `host:port` as written, without its `tcp@`/`ipv4@`… prefix.
    pub addr: String,
    pub proto: LogProto,
    pub loc: Loc,
}

/// A `ring` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingSection {
    pub name: String,
    pub loc: Loc,
    /// Shown by `show events` (the name when not set).
    pub description: Option<String>,
    /// How the messages are stored (`raw` by default, as HAProxy).
    pub format: LogFraming,
    /// Longest message stored, header included (None: `tune.bufsize`).
    pub maxlen: Option<usize>,
    /// Bytes the ring holds (None: `tune.bufsize`).
    pub size: Option<usize>,
    pub servers: Vec<RingServer>,
    pub timeout_connect: Option<u64>,
    pub timeout_server: Option<u64>,
}

/// `option host` of a log-forward section: what becomes of the host name of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMode {
    Replace,
    #[default]
    Fill,
    Keep,
    Append,
}

/// A listening address of a log-forward section (`bind`: TCP, `dgram-bind`: UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardBind {
    pub addr: std::net::SocketAddr,
    pub loc: Loc,
}

/// A `log-forward` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogForwardSection {
    pub name: String,
    pub loc: Loc,
    pub binds: Vec<ForwardBind>,
    pub dgram_binds: Vec<ForwardBind>,
    pub logs: Vec<ProxyLog>,
    /// Concurrent TCP connections (10 by default).
    pub maxconn: u32,
    pub backlog: Option<u32>,
    pub timeout_client: Option<u64>,
    pub dont_parse_log: bool,
    pub assume_rfc6587_ntf: bool,
    pub host: HostMode,
}

/// The address of a ring server: `[tcp@|tcp4@|tcp6@|ipv4@|ipv6@]host:port`.
fn server_addr(w: &str) -> Result<String, String> {
    let rest = match w.split_once('@') {
        Some(("tcp" | "tcp4" | "tcp6" | "ipv4" | "ipv6", r)) => r,
        Some((p, _)) => return Err(format!("unsupported address family '{p}@' in '{w}'")),
        None => w,
    };
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(rest.to_string())
        }
        _ => Err(format!("'{w}' : expects <host>:<port>")),
    }
}

/// A listening address of a log-forward section (one fixed port; `udp@` prefixes for
/// `dgram-bind`), expanded to one address per port of a range.
fn bind_addrs(w: &str, dgram: bool) -> Result<Vec<std::net::SocketAddr>, String> {
    let text = match w.split_once('@') {
        Some(("udp" | "udp4", r)) if dgram => format!("ipv4@{r}"),
        Some(("udp6", r)) if dgram => format!("ipv6@{r}"),
        _ => w.to_string(),
    };
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match parse_address(part, Usage::Bind)? {
            Address::Inet { ip, port, .. } => {
                let ip = ip.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let (a, b) = match port {
                    PortSpec::Fixed(p) => (p, p),
                    PortSpec::Range(a, b) => (a, b),
                    _ => return Err(format!("'{w}' : a port is expected")),
                };
                for p in a..=b {
                    out.push(std::net::SocketAddr::new(ip, p));
                }
            }
            _ => {
                return Err(format!(
                    "'{w}' : only IPv4 and IPv6 addresses are supported"
                ));
            }
        }
    }
    Ok(out)
}

fn one_arg<'a>(
    line: &'a Line,
    n: usize,
    kw: &str,
    what: &str,
    diags: &mut Diags,
) -> Option<&'a str> {
    match line.words.get(n) {
        Some(v) if !v.is_empty() => Some(v.as_str()),
        _ => {
            diags.alert(&line.loc, format!("'{kw}' expects {what} as argument."));
            None
        }
    }
}

fn time_arg(line: &Line, n: usize, kw: &str, diags: &mut Diags) -> Option<u64> {
    let v = one_arg(line, n, kw, "<time>", diags)?;
    match parse_time_ms(v) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.alert(&line.loc, format!("'{kw}' : {e}."));
            None
        }
    }
}

/// Parses a `ring` section into `cfg.rings`.
pub fn parse_ring(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let Some(name) = sec.name().map(str::to_string) else {
        diags.alert(&sec.header.loc, "'ring' expects <name> as argument.");
        return;
    };
    if matches!(name.as_str(), "buf0" | "stdout" | "stderr") {
        diags.alert(
            &sec.header.loc,
            format!("sink named '{name}' already exists."),
        );
        return;
    }
    if let Some(prev) = cfg.rings.iter().find(|r| r.name == name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "ring '{name}' has the same name as another ring declared at {}.",
                prev.loc
            ),
        );
        return;
    }
    let mut r = RingSection {
        name: name.clone(),
        loc: sec.header.loc.clone(),
        description: None,
        format: LogFraming::Raw,
        maxlen: None,
        size: None,
        servers: Vec::new(),
        timeout_connect: None,
        timeout_server: None,
    };
    for line in &sec.lines {
        let Some((kw, n, _)) = crate::parse::lookup(SectionKind::Ring, line, diags) else {
            continue;
        };
        if let Support::Planned(issue) = kw.support {
            crate::parse::pending(cfg, line, &format!("ring … {}", kw.name), issue);
            continue;
        }
        let k = kw.name;
        match k {
            "description" => {
                if line.words.len() > n {
                    r.description = Some(line.words[n..].join(" "));
                } else {
                    diags.alert(&line.loc, "'description' expects a string argument.");
                }
            }
            "format" => {
                if let Some(v) = one_arg(line, n, k, "a format", diags) {
                    match parse_framing(v) {
                        Ok(f) => r.format = f,
                        Err(e) => diags.alert(&line.loc, format!("'format' : {e}.")),
                    }
                }
            }
            "maxlen" | "size" => {
                let Some(v) = one_arg(line, n, k, "<length>", diags) else {
                    continue;
                };
                match parse_size(v) {
                    Ok(s) if s > 0 && s < (1 << 31) => {
                        if k == "maxlen" {
                            r.maxlen = Some(s as usize);
                        } else {
                            r.size = Some(s as usize);
                        }
                    }
                    Ok(_) => diags.alert(
                        &line.loc,
                        format!("'{k}' : invalid value '{v}' (from 1 to 2147483647)."),
                    ),
                    Err(e) => diags.alert(&line.loc, format!("'{k}' : {e}.")),
                }
            }
            "timeout connect" => r.timeout_connect = time_arg(line, n, k, diags),
            "timeout server" => r.timeout_server = time_arg(line, n, k, diags),
            "server" => {
                if let Some(s) = ring_server(line, n, &name, cfg, diags) {
                    if r.servers.iter().any(|o| o.name == s.name) {
                        diags.alert(
                            &line.loc,
                            format!(
                                "'server' : server '{}' is already declared in ring '{name}'.",
                                s.name
                            ),
                        );
                        continue;
                    }
                    r.servers.push(s);
                }
            }
            _ => {}
        }
    }
    cfg.rings.push(r);
}

/// A `server NAME ADDR [options]` line of a ring.
fn ring_server(
    line: &Line,
    n: usize,
    ring: &str,
    cfg: &mut Config,
    diags: &mut Diags,
) -> Option<RingServer> {
    let (Some(sname), Some(addr)) = (line.words.get(n), line.words.get(n + 1)) else {
        diags.alert(
            &line.loc,
            format!("'server' expects <name> and <addr> as arguments in ring '{ring}'."),
        );
        return None;
    };
    let addr = match server_addr(addr) {
        Ok(a) => a,
        Err(e) => {
            diags.alert(&line.loc, format!("'server' : {e} for server '{sname}'."));
            return None;
        }
    };
    let mut s = RingServer {
        name: sname.clone(),
        addr,
        proto: LogProto::Legacy,
        loc: line.loc.clone(),
    };
    let opts = &line.words[n + 2..];
    let mut i = 0;
    while i < opts.len() {
        let o = opts[i].as_str();
        let Some(kw) = crate::keywords::server_option(o) else {
            diags.alert(
                &line.loc,
                format!("'server' : unknown option '{o}' for server '{sname}' in ring '{ring}'."),
            );
            return None;
        };
        let arity = crate::keywords::option_arity(kw, &opts[i + 1..]);
        match o {
            "log-proto" => match opts.get(i + 1).map(String::as_str) {
                Some("legacy") => s.proto = LogProto::Legacy,
                Some("octet-count") => s.proto = LogProto::OctetCount,
                v => {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'log-proto' expects one of 'legacy' or 'octet-count', not '{}'.",
                            v.unwrap_or("")
                        ),
                    );
                    return None;
                }
            },
            // Options that change what is sent or how: not built for ring servers.
            "ssl"
            | "send-proxy"
            | "send-proxy-v2"
            | "send-proxy-v2-ssl"
            | "send-proxy-v2-ssl-cn"
            | "source"
            | "namespace"
            | "resolvers"
            | "init-addr" => {
                crate::parse::pending(cfg, line, &format!("ring server … {o}"), 7);
            }
            _ => diags.warning(
                &line.loc,
                format!(
                    "'server' : option '{o}' has no effect on the servers of a ring and is ignored."
                ),
            ),
        }
        i += 1 + arity;
    }
    Some(s)
}

/// Parses a `log-forward` section into `cfg.log_forwards`.
pub fn parse_log_forward(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let Some(name) = sec.name().map(str::to_string) else {
        diags.alert(&sec.header.loc, "'log-forward' expects <name> as argument.");
        return;
    };
    if let Some(prev) = cfg.log_forwards.iter().find(|r| r.name == name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "log-forward '{name}' has the same name as another log-forward declared at {}.",
                prev.loc
            ),
        );
        return;
    }
    let mut f = LogForwardSection {
        name: name.clone(),
        loc: sec.header.loc.clone(),
        binds: Vec::new(),
        dgram_binds: Vec::new(),
        logs: Vec::new(),
        maxconn: 10,
        backlog: None,
        timeout_client: None,
        dont_parse_log: false,
        assume_rfc6587_ntf: false,
        host: HostMode::Fill,
    };
    for line in &sec.lines {
        let Some((kw, n, prefix)) = crate::parse::lookup(SectionKind::LogForward, line, diags)
        else {
            continue;
        };
        if let Support::Planned(issue) = kw.support {
            crate::parse::pending(cfg, line, &format!("log-forward … {}", kw.name), issue);
            continue;
        }
        let on = prefix != crate::parse::Prefix::No;
        let k = kw.name;
        match k {
            "bind" | "dgram-bind" => {
                let dgram = k == "dgram-bind";
                let Some(a) = one_arg(line, n, k, "<addr>", diags) else {
                    continue;
                };
                match bind_addrs(a, dgram) {
                    Ok(list) => {
                        let to = if dgram {
                            &mut f.dgram_binds
                        } else {
                            &mut f.binds
                        };
                        to.extend(list.into_iter().map(|addr| ForwardBind {
                            addr,
                            loc: line.loc.clone(),
                        }));
                    }
                    Err(e) => {
                        diags.alert(&line.loc, format!("'{k}' : {e}."));
                        continue;
                    }
                }
                bind_options(line, n + 1, k, cfg, diags);
            }
            "log" => match line.words.get(n).map(String::as_str) {
                Some("global") if line.words.len() == n + 1 => {
                    f.logs.push(ProxyLog::Global(line.loc.clone()))
                }
                _ => match parse_log_target(&line.words[n..], &line.loc) {
                    Ok(t) => f.logs.push(ProxyLog::Target(t)),
                    Err(e) => diags.alert(&line.loc, format!("'log' : {e}.")),
                },
            },
            "maxconn" | "backlog" => {
                let Some(v) = one_arg(line, n, k, "<number>", diags) else {
                    continue;
                };
                match v.parse::<u32>() {
                    Ok(x) if k == "maxconn" => f.maxconn = x,
                    Ok(x) => f.backlog = Some(x),
                    Err(_) => diags.alert(
                        &line.loc,
                        format!("'{k}' expects an integer argument, got '{v}'."),
                    ),
                }
            }
            "timeout client" => f.timeout_client = time_arg(line, n, k, diags),
            "option dont-parse-log" => f.dont_parse_log = on,
            "option assume-rfc6587-ntf" => f.assume_rfc6587_ntf = on,
            "option host" => match line.words.get(n).map(String::as_str) {
                Some("replace") => f.host = HostMode::Replace,
                Some("fill") => f.host = HostMode::Fill,
                Some("keep") => f.host = HostMode::Keep,
                Some("append") => f.host = HostMode::Append,
                _ => diags.alert(
                    &line.loc,
                    "'option host' requires one of 'replace', 'fill', 'keep', 'append'.",
                ),
            },
            _ => {}
        }
    }
    if f.binds.is_empty() && f.dgram_binds.is_empty() {
        diags.warning(
            &sec.header.loc,
            format!(
                "log-forward '{name}' has no 'bind' nor 'dgram-bind' line: it receives nothing."
            ),
        );
    }
    cfg.log_forwards.push(f);
}

/// The options after the address of a log-forward `bind`/`dgram-bind` line.
fn bind_options(line: &Line, from: usize, kw: &str, cfg: &mut Config, diags: &mut Diags) {
    let opts = line.words.get(from..).unwrap_or(&[]);
    let mut i = 0;
    while i < opts.len() {
        let o = opts[i].as_str();
        let Some(k) = crate::keywords::bind_option(o) else {
            diags.alert(&line.loc, format!("'{kw}' : unknown option '{o}'."));
            return;
        };
        let arity = crate::keywords::option_arity(k, &opts[i + 1..]);
        match o {
            "name" | "id" => {}
            "ssl" | "crt" | "crt-list" | "accept-proxy" | "interface" | "namespace"
            | "transparent" => {
                crate::parse::pending(cfg, line, &format!("log-forward {kw} … {o}"), 7);
            }
            _ => diags.warning(
                &line.loc,
                format!(
                    "'{kw}' : option '{o}' has no effect on a log-forward listener and is ignored."
                ),
            ),
        }
        i += 1 + arity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Config, Diags) {
        let opts = crate::ReadOptions {
            version: "3.5.0",
            features: &[],
            diag_mode: false,
        };
        crate::load_text("t.cfg", text, &opts)
    }

    #[test]
    fn ring_section() {
        let (cfg, d) = load(
            "ring r\n description \"my ring\"\n format rfc5424\n maxlen 1200\n size 32764\n timeout connect 5s\n timeout server 10s\n server s 127.0.0.1:6514 log-proto octet-count\n server t tcp@localhost:514\n",
        );
        assert!(!d.has_alerts(), "{d:?}");
        let r = &cfg.rings[0];
        assert_eq!(r.description.as_deref(), Some("my ring"));
        assert_eq!(r.format, LogFraming::Rfc5424);
        assert_eq!((r.maxlen, r.size), (Some(1200), Some(32764)));
        assert_eq!(
            (r.timeout_connect, r.timeout_server),
            (Some(5000), Some(10000))
        );
        assert_eq!(r.servers[0].proto, LogProto::OctetCount);
        assert_eq!(r.servers[1].addr, "localhost:514");
        assert_eq!(r.servers[1].proto, LogProto::Legacy);
        assert!(cfg.pending.is_empty());
        let (_, d) = load("ring r\n server s 127.0.0.1\n");
        assert!(d.has_alerts());
        let (_, d) = load("ring r\n format bogus\n");
        assert!(d.has_alerts());
        let (cfg, d) = load("ring r\n backing-file /tmp/x\n");
        assert!(!d.has_alerts());
        assert_eq!(cfg.pending.len(), 1);
    }

    #[test]
    fn log_forward_section() {
        let (cfg, d) = load(
            "ring r\nlog-forward lf\n dgram-bind 127.0.0.1:1514\n bind 127.0.0.1:1514\n log global\n log ring@r local0\n log 127.0.0.1:10001 sample 1:4 local0\n maxconn 20\n backlog 5\n timeout client 3s\n option dont-parse-log\n option assume-rfc6587-ntf\n option host replace\n",
        );
        assert!(!d.has_alerts(), "{d:?}");
        let f = &cfg.log_forwards[0];
        assert_eq!(f.binds.len(), 1);
        assert_eq!(f.dgram_binds.len(), 1);
        assert_eq!(f.logs.len(), 3);
        assert_eq!(
            (f.maxconn, f.backlog, f.timeout_client),
            (20, Some(5), Some(3000))
        );
        assert!(f.dont_parse_log && f.assume_rfc6587_ntf);
        assert_eq!(f.host, HostMode::Replace);
        let (_, d) = load("log-forward lf\n option host bogus\n");
        assert!(d.has_alerts());
    }
}
