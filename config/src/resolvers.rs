//! `resolvers` sections: name servers (UDP), `resolve_retries`, `timeout resolve|retry`,
//! `hold <status> <period>`, `accepted_payload_size`, `parse-resolv-conf`. The servers using
//! them (`resolvers`, `resolve-prefer`, `init-addr`, `resolve-opts`, `resolve-net`) are
//! parsed with the server options.

use std::net::SocketAddr;

use crate::diag::{Diags, Loc};
use crate::keywords::{SectionKind, Support};
use crate::model::Config;
use crate::reader::Section;
use crate::units::parse_time_ms;

/// A `resolvers` section.
#[derive(Debug, Clone)]
pub struct ResolversSection {
    pub name: String,
    pub loc: Loc,
    /// Name servers by name, queried over UDP.
    pub nameservers: Vec<(String, SocketAddr)>,
    pub resolve_retries: u32,
    /// `timeout resolve` (between resolutions) and `timeout retry` (before asking again
    /// after no valid answer), in ms.
    pub timeout_resolve: u64,
    pub timeout_retry: u64,
    /// `hold nx|refused|timeout|other|valid|obsolete`, in ms.
    pub hold_nx: u64,
    pub hold_refused: u64,
    pub hold_timeout: u64,
    pub hold_other: u64,
    pub hold_valid: u64,
    pub hold_obsolete: u64,
    pub accepted_payload_size: u16,
}

/// The name servers of /etc/resolv.conf (`parse-resolv-conf`).
fn resolv_conf() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Parses a `resolvers` section into `cfg.resolvers`.
pub fn parse_resolvers(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let Some(name) = sec.name().map(str::to_string) else {
        diags.alert(&sec.header.loc, "'resolvers' expects <name> as argument.");
        return;
    };
    if let Some(prev) = cfg.resolvers.iter().find(|r| r.name == name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "resolvers section '{name}' has the same name as another resolvers section declared at {}.",
                prev.loc
            ),
        );
        return;
    }
    let mut r = ResolversSection {
        name: name.clone(),
        loc: sec.header.loc.clone(),
        nameservers: Vec::new(),
        resolve_retries: 3,
        timeout_resolve: 1000,
        timeout_retry: 1000,
        hold_nx: 30_000,
        hold_refused: 30_000,
        hold_timeout: 30_000,
        hold_other: 30_000,
        hold_valid: 10_000,
        hold_obsolete: 0,
        accepted_payload_size: 512,
    };
    for line in &sec.lines {
        let Some((kw, n, _)) = crate::parse::lookup(SectionKind::Resolvers, line, diags) else {
            continue;
        };
        if let Support::Planned(issue) = kw.support {
            crate::parse::pending(cfg, line, kw.name, issue);
            continue;
        }
        let args = &line.words[n..];
        let time = |v: Option<&String>, diags: &mut Diags| -> Option<u64> {
            match v.map(|v| parse_time_ms(v)) {
                Some(Ok(t)) => Some(t),
                _ => {
                    diags.alert(&line.loc, format!("'{}' expects a time value.", kw.name));
                    None
                }
            }
        };
        match kw.name {
            "nameserver" => {
                let (Some(ns), Some(addr)) = (args.first(), args.get(1)) else {
                    diags.alert(
                        &line.loc,
                        "'nameserver' expects <name> and <addr>[:<port>].",
                    );
                    continue;
                };
                if r.nameservers.iter().any(|(n, _)| n == ns) {
                    diags.alert(
                        &line.loc,
                        format!("'nameserver' : nameserver '{ns}' is already declared in resolvers section '{name}'."),
                    );
                    continue;
                }
                let plain = addr
                    .strip_prefix("udp@")
                    .or_else(|| addr.strip_prefix("ipv4@"))
                    .or_else(|| addr.strip_prefix("ipv6@"))
                    .unwrap_or(addr);
                if addr.starts_with("tcp@")
                    || addr.starts_with("tcp4@")
                    || addr.starts_with("tcp6@")
                {
                    crate::parse::pending(cfg, line, "nameserver over TCP (tcp@)", 5);
                    continue;
                }
                let parsed = plain
                    .parse::<SocketAddr>()
                    .ok()
                    .or_else(|| {
                        plain
                            .parse::<std::net::IpAddr>()
                            .ok()
                            .map(|ip| SocketAddr::new(ip, 53))
                    })
                    .or_else(|| {
                        let (h, p) = plain.rsplit_once(':')?;
                        let ip: std::net::IpAddr = h.trim_matches(['[', ']']).parse().ok()?;
                        Some(SocketAddr::new(ip, p.parse().ok()?))
                    });
                match parsed {
                    Some(a) => r.nameservers.push((ns.clone(), a)),
                    None => diags.alert(
                        &line.loc,
                        format!("'nameserver' : invalid address '{addr}' for nameserver '{ns}'."),
                    ),
                }
            }
            "parse-resolv-conf" => {
                for (i, a) in resolv_conf().into_iter().enumerate() {
                    r.nameservers.push((format!("resolv.conf:{}", i + 1), a));
                }
            }
            "resolve_retries" => match args.first().map(|v| v.parse::<u32>()) {
                Some(Ok(v)) if v > 0 => r.resolve_retries = v,
                _ => diags.alert(&line.loc, "'resolve_retries' expects a positive integer."),
            },
            "timeout resolve" => {
                if let Some(t) = time(args.first(), diags) {
                    r.timeout_resolve = t.max(1);
                }
            }
            "timeout retry" => {
                if let Some(t) = time(args.first(), diags) {
                    r.timeout_retry = t.max(1);
                }
            }
            "hold" => {
                let Some(t) = time(args.get(1), diags) else {
                    continue;
                };
                match args.first().map(String::as_str) {
                    Some("nx") => r.hold_nx = t,
                    Some("refused") => r.hold_refused = t,
                    Some("timeout") => r.hold_timeout = t,
                    Some("other") => r.hold_other = t,
                    Some("valid") => r.hold_valid = t,
                    Some("obsolete") => r.hold_obsolete = t,
                    other => diags.alert(
                        &line.loc,
                        format!(
                            "'hold' : '{}' unknown status, expects 'nx', 'refused', 'timeout', 'other', 'valid' or 'obsolete'.",
                            other.unwrap_or("")
                        ),
                    ),
                }
            }
            "accepted_payload_size" => match args.first().map(|v| v.parse::<u32>()) {
                Some(Ok(v)) if (512..=65535).contains(&v) => r.accepted_payload_size = v as u16,
                _ => diags.alert(
                    &line.loc,
                    "'accepted_payload_size' expects a size between 512 and 65535.",
                ),
            },
            _ => {}
        }
    }
    cfg.resolvers.push(r);
}
