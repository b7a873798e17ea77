//! Sections → typed model: one function per section kind, dispatching on the keyword
//! tables, applying `defaults` (named, `from`) and `default-server` inheritance, translating
//! legacy keywords with a warning, and recording keywords whose behaviour is still pending.

use std::collections::HashMap;

use crate::addr::{Address, Usage, parse_address, parse_address_list};
use crate::diag::{Diags, Loc};
use crate::keywords::{self, Keyword, SectionKind, Support};
use crate::logs::{LogFormatChoice, ProxyLog};
use crate::model::*;
use crate::reader::{Line, Section};
use crate::units::{parse_size, parse_time_ms};

/// The ACLs HAProxy predefines (manual 7.4).
pub const PREDEFINED_ACLS: &[&str] = &[
    "FALSE",
    "HTTP",
    "HTTP_1.0",
    "HTTP_1.1",
    "HTTP_2.0",
    "HTTP_3.0",
    "HTTP_CONTENT",
    "HTTP_URL_ABS",
    "HTTP_URL_SLASH",
    "HTTP_URL_STAR",
    "LOCALHOST",
    "METH_CONNECT",
    "METH_DELETE",
    "METH_GET",
    "METH_HEAD",
    "METH_OPTIONS",
    "METH_POST",
    "METH_PUT",
    "METH_TRACE",
    "RDP_COOKIE",
    "REQ_CONTENT",
    "TRUE",
    "WAIT_END",
];

/// Builds the model from the sections read. Every problem found goes to `diags`.
pub fn build(sections: Vec<Section>, diags: &mut Diags) -> Config {
    let mut cfg = Config::default();
    let mut defaults_by_name: HashMap<String, ProxySettings> = HashMap::new();
    let mut last_defaults = ProxySettings::default();
    let mut seen_proxy: HashMap<(bool, String), Loc> = HashMap::new();
    for sec in sections {
        match sec.kind {
            SectionKind::Global => parse_global(&sec, &mut cfg, diags),
            SectionKind::Defaults => {
                let mut base = ProxySettings::default();
                let name = header_name_and_from(&sec, diags, &defaults_by_name, &mut base);
                base.checks.inherited = true;
                base.checks.httpchk_inherited = true;
                // Named after the section (empty when anonymous), for the rules' messages.
                let mut dummy = Proxy::new(
                    ProxyKind::Backend,
                    name.clone().unwrap_or_default(),
                    sec.header.loc.clone(),
                );
                dummy.settings = base;
                for line in &sec.lines {
                    parse_proxy_line(SectionKind::Defaults, line, &mut dummy, &mut cfg, diags);
                }
                if let Some(n) = name {
                    defaults_by_name.insert(n, dummy.settings.clone());
                }
                last_defaults = dummy.settings;
            }
            SectionKind::Frontend | SectionKind::Backend | SectionKind::Listen => {
                let kind = match sec.kind {
                    SectionKind::Frontend => ProxyKind::Frontend,
                    SectionKind::Backend => ProxyKind::Backend,
                    _ => ProxyKind::Listen,
                };
                let Some(name) = sec.name().map(str::to_string) else {
                    diags.alert(
                        &sec.header.loc,
                        format!("'{}' expects <name> as argument.", sec.kind.name()),
                    );
                    continue;
                };
                if let Some(bad) = name
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
                {
                    diags.alert(
                        &sec.header.loc,
                        format!(
                            "character '{bad}' is not permitted in '{}' name '{name}'.",
                            sec.kind.name()
                        ),
                    );
                }
                let mut proxy = Proxy::new(kind, name.clone(), sec.header.loc.clone());
                proxy.settings = last_defaults.clone();
                proxy.settings.checks.inherited = true;
                proxy.settings.checks.httpchk_inherited = true;
                parse_proxy_header(&sec, &mut proxy, &defaults_by_name, diags);
                // A name is shared by one frontend-capable and one backend-capable proxy at most.
                for role in [true, false] {
                    let has = if role {
                        kind.is_frontend()
                    } else {
                        kind.is_backend()
                    };
                    if !has {
                        continue;
                    }
                    if let Some(prev) = seen_proxy.get(&(role, name.clone())) {
                        diags.alert(
                            &sec.header.loc,
                            format!(
                                "{} '{name}' has the same name as another {} declared at {prev}.",
                                kind.name(),
                                if role { "frontend" } else { "backend" }
                            ),
                        );
                    } else {
                        seen_proxy.insert((role, name.clone()), sec.header.loc.clone());
                    }
                }
                for line in &sec.lines {
                    parse_proxy_line(sec.kind, line, &mut proxy, &mut cfg, diags);
                }
                warn_http_only(&proxy, diags);
                check_stats(&proxy, diags);
                // `write-to` (2.9+): not yet.
                if let Some((words, loc)) = &proxy.stick_table {
                    for opt in ["write-to"] {
                        if words.iter().any(|w| w == opt) {
                            cfg.pending.push(Pending {
                                loc: loc.clone(),
                                keyword: format!("stick-table … {opt}"),
                                issue: 4,
                            });
                        }
                    }
                }
                cfg.proxies.push(proxy);
            }
            SectionKind::Userlist => {
                for line in &sec.lines {
                    lookup(sec.kind, line, diags);
                }
                crate::userlist::parse_userlist(&sec, &mut cfg, diags);
            }
            SectionKind::HttpErrors => parse_http_errors(&sec, &mut cfg, diags),
            SectionKind::Peers => crate::peers::parse_peers(&sec, &mut cfg, diags),
            SectionKind::Resolvers => crate::resolvers::parse_resolvers(&sec, &mut cfg, diags),
            SectionKind::Ring => crate::rings::parse_ring(&sec, &mut cfg, diags),
            SectionKind::LogForward => crate::rings::parse_log_forward(&sec, &mut cfg, diags),
            SectionKind::LogProfile => crate::logs::parse_log_profile(&sec, &mut cfg, diags),
            _ => {
                check_other_section(&sec, &mut cfg, diags);
                cfg.other_sections.push(sec);
            }
        }
    }
    crate::userlist::resolve(&mut cfg, diags);
    crate::logs::check_profiles(&cfg, diags);
    cfg
}

impl Proxy {
    pub fn new(kind: ProxyKind, name: String, loc: Loc) -> Proxy {
        Proxy {
            kind,
            name,
            loc,
            id: None,
            settings: ProxySettings::default(),
            binds: Vec::new(),
            servers: Vec::new(),
            dispatch: None,
            acls: Vec::new(),
            use_backends: Vec::new(),
            use_servers: Vec::new(),
            force_be_switch: Vec::new(),
            persist_rules: Vec::new(),
            rules: Vec::new(),
            stick_table: None,
            appsession: None,
            peers_table: false,
        }
    }
}

fn header_name_and_from(
    sec: &Section,
    diags: &mut Diags,
    named: &HashMap<String, ProxySettings>,
    base: &mut ProxySettings,
) -> Option<String> {
    let w = &sec.header.words;
    let mut name = None;
    let mut i = 1;
    if let Some(n) = w.get(1)
        && n != "from"
    {
        name = Some(n.clone());
        i = 2;
    }
    if w.get(i).map(String::as_str) == Some("from") {
        match w.get(i + 1) {
            Some(f) => match named.get(f) {
                Some(s) => *base = s.clone(),
                None => diags.alert(
                    &sec.header.loc,
                    format!(
                        "defaults section '{f}' not found for 'from' (it must be declared before)."
                    ),
                ),
            },
            None => diags.alert(&sec.header.loc, "'from' expects a defaults section name."),
        }
        i += 2;
    }
    if let Some(extra) = w.get(i) {
        diags.alert(
            &sec.header.loc,
            format!(
                "unexpected argument '{extra}' in '{}' section header.",
                sec.kind.name()
            ),
        );
    }
    name
}

fn parse_proxy_header(
    sec: &Section,
    proxy: &mut Proxy,
    named: &HashMap<String, ProxySettings>,
    diags: &mut Diags,
) {
    let w = &sec.header.words;
    let mut i = 2;
    while i < w.len() {
        if w[i] == "from" {
            match w.get(i + 1).and_then(|f| named.get(f).map(|s| (f, s))) {
                Some((_, s)) => proxy.settings = s.clone(),
                None => diags.alert(
                    &sec.header.loc,
                    format!(
                        "defaults section '{}' not found for 'from' (named defaults must be declared before).",
                        w.get(i + 1).map(String::as_str).unwrap_or("")
                    ),
                ),
            }
            i += 2;
            continue;
        }
        if proxy.kind == ProxyKind::Listen || proxy.kind == ProxyKind::Frontend {
            // 1.x syntax: the address on the section line.
            diags.warning(
                &sec.header.loc,
                format!(
                    "the address on the '{}' line is the 1.x syntax; write 'bind {}' inside the section instead.",
                    proxy.kind.name(),
                    w[i]
                ),
            );
            match parse_address_list(&w[i], Usage::Bind) {
                Ok(addrs) => proxy.binds.push(Bind::new(sec.header.loc.clone(), addrs)),
                Err(e) => diags.alert(&sec.header.loc, format!("invalid address '{}': {e}.", w[i])),
            }
        } else {
            diags.alert(
                &sec.header.loc,
                format!(
                    "unexpected argument '{}' in 'backend' section header.",
                    w[i]
                ),
            );
        }
        i += 1;
    }
}

fn unknown_keyword(section: SectionKind, line: &Line, diags: &mut Diags) {
    let word = &line.words[0];
    let msg = match keywords::suggest(section, word) {
        Some(s) => format!(
            "unknown keyword '{word}' in '{}' section; did you mean '{s}' maybe ?",
            section.name()
        ),
        None => format!("unknown keyword '{word}' in '{}' section", section.name()),
    };
    diags.alert(&line.loc, msg);
}

pub(crate) fn pending(cfg: &mut Config, line: &Line, name: &str, issue: u8) {
    cfg.pending.push(Pending {
        loc: line.loc.clone(),
        keyword: name.to_string(),
        issue,
    });
}

/// Looks a line up in a section's table, with the `no`/`default` prefixes.
pub(crate) fn lookup(
    section: SectionKind,
    line: &Line,
    diags: &mut Diags,
) -> Option<(&'static Keyword, usize, Prefix)> {
    let (prefix, start) = match line.words[0].as_str() {
        "no" if line.words.len() > 1 => (Prefix::No, 1),
        "default" if line.words.len() > 1 => (Prefix::Default, 1),
        _ => (Prefix::None, 0),
    };
    match keywords::lookup(section, &line.words[start..]) {
        Some((kw, n)) => Some((kw, start + n, prefix)),
        None => {
            if let Some((kw, n)) = keywords::lookup(section, &line.words) {
                return Some((kw, n, Prefix::None));
            }
            unknown_keyword(section, line, diags);
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    None,
    No,
    Default,
}

fn parse_u32(line: &Line, i: usize, what: &str, diags: &mut Diags) -> Option<u32> {
    match line.words.get(i).map(|s| s.parse::<u32>()) {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            diags.alert(
                &line.loc,
                format!(
                    "'{what}' expects an integer argument, got '{}'.",
                    line.words[i]
                ),
            );
            None
        }
        None => {
            diags.alert(&line.loc, format!("'{what}' expects an integer argument."));
            None
        }
    }
}

fn parse_time_arg(line: &Line, i: usize, what: &str, diags: &mut Diags) -> Option<u64> {
    match line.words.get(i) {
        Some(s) => match parse_time_ms(s) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.alert(
                    &line.loc,
                    format!("'{what}' : invalid time value '{s}': {e}."),
                );
                None
            }
        },
        None => {
            diags.alert(&line.loc, format!("'{what}' expects a time value."));
            None
        }
    }
}

fn kw_full(line: &Line, n: usize) -> String {
    line.words[..n.min(line.words.len())].join(" ")
}

// ---------------------------------------------------------------- global

/// The words of `ssl-default-bind-options` / `ssl-default-server-options` as options with
/// their arguments (`lookup` knows each option's arity); options not built yet are pending.
fn default_options(
    line: &Line,
    n: usize,
    name: &str,
    lookup: fn(&str) -> Option<&'static keywords::Keyword>,
    cfg: &mut Config,
    diags: &mut Diags,
) -> Vec<(String, Vec<String>)> {
    let words = &line.words[n..];
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let Some(k) = lookup(w) else {
            diags.alert(&line.loc, format!("'{name}' : unknown option '{w}'."));
            break;
        };
        let nargs = k.args as usize;
        if i + nargs >= words.len() && nargs > 0 {
            diags.alert(&line.loc, format!("'{name}' : '{w}' expects an argument."));
            break;
        }
        if let Support::Planned(issue) = k.support {
            pending(cfg, line, &format!("{name} '{w}'"), issue);
        }
        out.push((w.to_string(), words[i + 1..i + 1 + nargs].to_vec()));
        i += 1 + nargs;
    }
    out
}

fn parse_global(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    if sec.header.words.len() > 1 {
        diags.alert(&sec.header.loc, "'global' section takes no argument.");
    }
    for line in &sec.lines {
        let Some((kw, n, prefix)) = lookup(SectionKind::Global, line, diags) else {
            continue;
        };
        let name = kw_full(line, n);
        match kw.support {
            Support::Planned(issue) => {
                pending(cfg, line, &name, issue);
                continue;
            }
            Support::Legacy(modern) => {
                diags.warning(
                    &line.loc,
                    format!("'{}' is deprecated; use '{modern}' instead.", kw.name),
                );
                continue;
            }
            Support::Ignored(why) => {
                diags.notice(
                    &line.loc,
                    format!("'{}' has no effect in halo: {why}.", kw.name),
                );
                continue;
            }
            Support::Done => {}
        }
        let g = &mut cfg.global;
        let arg = |i: usize| line.words.get(n + i).cloned();
        match kw.name {
            "daemon" => g.daemon = prefix != Prefix::No,
            "external-check" => {
                g.external_check =
                    Some(line.words.get(n).map(String::as_str) == Some("preserve-env"))
            }
            "insecure-fork-wanted" => g.insecure_fork_wanted = prefix != Prefix::No,
            "master-worker" => g.master_worker = prefix != Prefix::No,
            "quiet" => g.quiet = true,
            "pidfile" => g.pidfile = need_arg(line, n, diags),
            "chroot" => g.chroot = need_arg(line, n, diags),
            "user" => g.user = need_arg(line, n, diags),
            "group" => g.group = need_arg(line, n, diags),
            "node" => g.node = need_arg(line, n, diags),
            "description" => g.description = Some(line.words[n..].join(" ")),
            "uid" => g.uid = parse_u32(line, n, "uid", diags),
            "gid" => g.gid = parse_u32(line, n, "gid", diags),
            "maxconn" => g.maxconn = parse_u32(line, n, "maxconn", diags),
            "maxconnrate" => g.maxconnrate = parse_u32(line, n, "maxconnrate", diags),
            "maxsessrate" => g.maxsessrate = parse_u32(line, n, "maxsessrate", diags),
            "maxsslconn" => g.maxsslconn = parse_u32(line, n, "maxsslconn", diags),
            "ssl-skip-self-issued-ca" => g.ssl_skip_self_issued_ca = true,
            "maxsslrate" => g.maxsslrate = parse_u32(line, n, "maxsslrate", diags),
            "localpeer" => match line.words.get(n) {
                Some(v) if cfg.peers.is_empty() => g.localpeer = Some(v.clone()),
                Some(_) => diags.warning(
                    &line.loc,
                    "'localpeer' ignored: it must come before the 'peers' sections.",
                ),
                None => diags.alert(&line.loc, "'localpeer' expects a name as argument."),
            },
            "tune.peers.max-updates-at-once" => {
                if let Some(v) = parse_u32(line, n, "tune.peers.max-updates-at-once", diags) {
                    if v == 0 {
                        diags.alert(
                            &line.loc,
                            "'tune.peers.max-updates-at-once' expects a strictly positive number.",
                        );
                    } else {
                        g.tune_peers_max_updates = Some(v);
                    }
                }
            }
            "nbthread" => {
                if let Some(v) = parse_u32(line, n, "nbthread", diags) {
                    if v == 0 || v > 4096 {
                        diags.alert(&line.loc, "'nbthread' must be between 1 and 4096.");
                    } else {
                        g.nbthread = Some(v as usize);
                    }
                }
            }
            "ulimit-n" => g.ulimit_n = parse_u32(line, n, "ulimit-n", diags).map(u64::from),
            "set-var" | "set-var-fmt" => {
                let (Some(var), Some(value)) = (line.words.get(n), line.words.get(n + 1)) else {
                    diags.alert(
                        &line.loc,
                        format!("'{}' expects a variable name and a value.", kw.name),
                    );
                    continue;
                };
                if line.words.len() > n + 2 {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{}' : unexpected argument '{}' (quote the value).",
                            kw.name,
                            line.words[n + 2]
                        ),
                    );
                    continue;
                }
                if !var.starts_with("proc.") {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{}' : variable '{var}' must be a process-wide variable ('proc.' prefix).",
                            kw.name
                        ),
                    );
                    continue;
                }
                g.set_vars.push(GlobalVar {
                    loc: line.loc.clone(),
                    name: var.clone(),
                    value: value.clone(),
                    fmt: kw.name == "set-var-fmt",
                });
            }
            "spread-checks" => {
                g.spread_checks = parse_u32(line, n, "spread-checks", diags).unwrap_or(0)
            }
            "max-spread-checks" => {
                g.max_spread_checks = parse_time_arg(line, n, "max-spread-checks", diags)
            }
            "tune.max-checks-per-thread" => {
                g.max_checks_per_thread =
                    parse_u32(line, n, "tune.max-checks-per-thread", diags).unwrap_or(0)
            }
            "dns-accept-family" => {
                let mut acc = (false, false, false);
                for f in line
                    .words
                    .get(n)
                    .map(String::as_str)
                    .unwrap_or("")
                    .split(',')
                {
                    match f {
                        "ipv4" => acc.0 = true,
                        "ipv6" => acc.1 = true,
                        "auto" => {
                            acc.0 = true;
                            acc.2 = true;
                        }
                        other => diags.alert(
                            &line.loc,
                            format!("'dns-accept-family' : unknown family '{other}', expects 'ipv4', 'ipv6' or 'auto'."),
                        ),
                    }
                }
                g.dns_accept = acc;
            }
            "hard-stop-after" => {
                g.hard_stop_after = parse_time_arg(line, n, "hard-stop-after", diags)
            }
            "grace" => g.grace = parse_time_arg(line, n, "grace", diags),
            "stats timeout" => {
                if let Some(t) = parse_time_arg(line, n, "stats timeout", diags) {
                    g.stats_timeout = t;
                }
            }
            "stats maxconn" => {
                g.stats_maxconn = parse_u32(line, n, "stats maxconn", diags).unwrap_or(10)
            }
            "stats calculate-max-counters" => match arg(0).as_deref() {
                None | Some("on") => g.stats_no_max = false,
                Some("off") => g.stats_no_max = true,
                Some(other) => diags.alert(
                    &line.loc,
                    format!(
                        "'stats calculate-max-counters' expects 'on' or 'off' (got '{other}')."
                    ),
                ),
            },
            "http-err-codes" | "http-fail-codes" => {
                let set = if kw.name == "http-err-codes" {
                    &mut g.http_err_codes
                } else {
                    &mut g.http_fail_codes
                };
                if n >= line.words.len() {
                    diags.alert(
                        &line.loc,
                        format!("'{}' expects status code ranges.", kw.name),
                    );
                } else if let Err(e) = set.apply(&line.words[n..]) {
                    diags.alert(&line.loc, format!("'{}' : {e}.", kw.name));
                }
            }
            "stats socket" => {
                if let Some(s) = parse_stats_socket(line, n, diags) {
                    g.stats_sockets.push(s);
                }
            }
            "tune.bufsize" | "tune.maxrewrite" => match arg(0).map(|s| parse_size(&s)) {
                Some(Ok(v)) => {
                    if kw.name == "tune.bufsize" {
                        g.tune_bufsize = v as usize;
                    } else {
                        g.tune_maxrewrite = v as usize;
                    }
                }
                _ => diags.alert(&line.loc, format!("'{}' expects a size.", kw.name)),
            },
            "tune.pool-low-fd-ratio" | "tune.pool-high-fd-ratio" => {
                match parse_u32(line, n, kw.name, diags) {
                    Some(v) if v <= 100 => {
                        if kw.name == "tune.pool-low-fd-ratio" {
                            g.tune_pool_low_fd_ratio = v;
                        } else {
                            g.tune_pool_high_fd_ratio = v;
                        }
                    }
                    Some(_) => diags.alert(
                        &line.loc,
                        format!("'{}' expects a percentage between 0 and 100.", kw.name),
                    ),
                    None => {}
                }
            }
            "tune.stick-counters" => match parse_u32(line, n, kw.name, diags) {
                Some(v) if v <= 100 => g.tune_stick_counters = v as usize,
                Some(v) => diags.alert(
                    &line.loc,
                    format!("'tune.stick-counters' : value {v} out of range (max 100)."),
                ),
                None => {}
            },
            "tune.http.maxhdr" => {
                if let Some(v) = parse_u32(line, n, "tune.http.maxhdr", diags) {
                    g.tune_http_maxhdr = v as usize;
                }
            }
            "tune.h1.fe.glitches-threshold" | "tune.h1.be.glitches-threshold" => {
                if let Some(v) = parse_u32(line, n, kw.name, diags) {
                    if kw.name.contains(".fe.") {
                        g.tune_h1_fe_glitches = v;
                    } else {
                        g.tune_h1_be_glitches = v;
                    }
                }
            }
            "h1-accept-payload-with-any-method" => g.h1_payload_any_method = true,
            "h1-do-not-close-on-insecure-transfer-encoding" => g.h1_keep_on_te_with_cl = true,
            "h1-case-adjust" => match (line.words.get(n), line.words.get(n + 1)) {
                (Some(from), Some(to)) => {
                    if let Err(e) = check_case_adjust(from, to, &g.h1_case_adjust) {
                        diags.alert(&line.loc, format!("h1-case-adjust: {e}"));
                    } else {
                        g.h1_case_adjust.push((from.clone(), to.clone()));
                    }
                }
                _ => diags.alert(
                    &line.loc,
                    "'h1-case-adjust' expects <from-case> and <to-case> as arguments.",
                ),
            },
            "h1-case-adjust-file" => match line.words.get(n) {
                // Only the last file counts; its pairs come after the `h1-case-adjust` lines.
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(text) => {
                        let mut pairs: Vec<(String, String)> = Vec::new();
                        for (i, l) in text.lines().enumerate() {
                            let l = l.trim_matches([' ', '\t']);
                            if l.is_empty() || l.starts_with('#') {
                                continue;
                            }
                            let words: Vec<&str> = l.split_whitespace().collect();
                            let res = match words.as_slice() {
                                [from, to] => check_case_adjust(from, to, &pairs)
                                    .map(|_| pairs.push((from.to_string(), to.to_string()))),
                                _ => Err("expects <from-case> and <to-case>".to_string()),
                            };
                            if let Err(e) = res {
                                diags.alert(
                                    &line.loc,
                                    format!("h1-case-adjust-file '{path}' line {}: {e}.", i + 1),
                                );
                            }
                        }
                        g.h1_case_adjust_file = pairs;
                    }
                    Err(e) => diags.alert(
                        &line.loc,
                        format!("h1-case-adjust-file: cannot read '{path}': {e}."),
                    ),
                },
                None => diags.alert(&line.loc, "'h1-case-adjust-file' expects a file path."),
            },
            "tune.vars.global-max-size"
            | "tune.vars.proc-max-size"
            | "tune.vars.reqres-max-size"
            | "tune.vars.sess-max-size"
            | "tune.vars.txn-max-size" => {
                // HAProxy 2.6 reads a plain decimal number (no unit); an empty or negative
                // one means no limit.
                let i = match kw.name {
                    "tune.vars.global-max-size" => 0,
                    "tune.vars.proc-max-size" => 1,
                    "tune.vars.reqres-max-size" => 2,
                    "tune.vars.sess-max-size" => 3,
                    _ => 4,
                };
                let v = arg(0).unwrap_or_default();
                match parse_c_long(&v) {
                    Some(n) => g.tune_vars_max_size[i] = usize::try_from(n).unwrap_or(0),
                    None => {
                        diags.alert(&line.loc, format!("{}: '{v}' is an invalid size", kw.name))
                    }
                }
            }
            "tune.http.cookielen" => match arg(0) {
                // `atol`, as HAProxy: a word that is not a number counts as 0.
                Some(v) => {
                    g.tune_http_cookielen = usize::try_from(parse_c_long_prefix(&v)).unwrap_or(0);
                }
                None => diags.alert(
                    &line.loc,
                    "'tune.http.cookielen' expects an integer argument.",
                ),
            },
            "tune.http.logurilen" => match arg(0) {
                // `atol`, as HAProxy.
                Some(v) => {
                    g.tune_http_logurilen = usize::try_from(parse_c_long_prefix(&v)).unwrap_or(0);
                }
                None => diags.alert(
                    &line.loc,
                    "'tune.http.logurilen' expects an integer argument.",
                ),
            },
            "tune.pattern.cache-size" => {
                // `strtoll`, as HAProxy: only an empty word or a negative number is refused.
                match arg(0)
                    .filter(|v| !v.is_empty())
                    .map(|v| parse_c_long_prefix(&v))
                {
                    Some(n) if n >= 0 => g.tune_pattern_cache_size = n as usize,
                    _ => diags.alert(
                        &line.loc,
                        "'tune.pattern.cache-size' expects a positive numeric value",
                    ),
                }
            }
            // Applied by the reader as the lines were read.
            "setenv" | "presetenv" | "unsetenv" | "resetenv" => {}
            "crt-base" => g.crt_base = need_arg(line, n, diags),
            "ca-base" => g.ca_base = need_arg(line, n, diags),
            "server-state-base" => match line.words.get(n) {
                Some(d) => g.server_state_base = Some(d.clone()),
                None => diags.alert(
                    &line.loc,
                    "'server-state-base' expects one argument: a directory path.",
                ),
            },
            "server-state-file" => match line.words.get(n) {
                Some(f) => g.server_state_file = Some(f.clone()),
                None => diags.alert(
                    &line.loc,
                    "'server-state-file' expect one argument: a file path.",
                ),
            },
            "tune.ssl.maxrecord" | "tune.ssl.hard-maxrecord" => {
                if let Some(v) = parse_u32(line, n, kw.name, diags) {
                    // rustls sends records of at least 32 bytes and at most 16 kB.
                    g.tune_ssl_maxrecord = (v > 0).then_some(v.clamp(32, 16384));
                }
            }
            "log" => match crate::logs::parse_log_target(&line.words[n..], &line.loc) {
                Ok(t) => g.logs.push(t),
                Err(e) => diags.alert(&line.loc, format!("'log' : {e}.")),
            },
            "log-tag" => g.log_tag = need_arg(line, n, diags),
            "log-send-hostname" => g.log_send_hostname = Some(arg(0).filter(|h| !h.is_empty())),
            "tune.ssl.lifetime" => match arg(0) {
                Some(v) => match crate::units::parse_time_with_default(&v, 1000) {
                    Ok(ms) => g.tune_ssl_lifetime = Some(ms / 1000),
                    Err(e) => diags.alert(
                        &line.loc,
                        format!("'tune.ssl.lifetime' : invalid time value '{v}': {e}."),
                    ),
                },
                None => diags.alert(&line.loc, "'tune.ssl.lifetime' expects a time value."),
            },
            "tune.ssl.cachesize" => {
                g.tune_ssl_cachesize = parse_u32(line, n, "tune.ssl.cachesize", diags)
            }
            "ssl-default-bind-ciphers"
            | "ssl-default-bind-ciphersuites"
            | "ssl-default-bind-curves" => {
                let opt = kw.name.trim_start_matches("ssl-default-bind-");
                match arg(0) {
                    Some(v) => g.ssl_default_bind.push((opt.to_string(), vec![v])),
                    None => diags.alert(&line.loc, format!("'{}' expects an argument.", kw.name)),
                }
            }
            "ssl-default-server-ciphers"
            | "ssl-default-server-ciphersuites"
            | "ssl-default-server-curves" => {
                let opt = kw.name.trim_start_matches("ssl-default-server-");
                match arg(0) {
                    Some(v) => g.ssl_default_server.push((opt.to_string(), vec![v])),
                    None => diags.alert(&line.loc, format!("'{}' expects an argument.", kw.name)),
                }
            }
            "ssl-server-verify" => match arg(0).as_deref() {
                Some("none") => g.ssl_server_verify = false,
                Some("required") => g.ssl_server_verify = true,
                _ => diags.alert(
                    &line.loc,
                    "'ssl-server-verify' expects 'none' or 'required' as argument.",
                ),
            },
            "ssl-default-server-options" => {
                let opts = default_options(line, n, kw.name, keywords::server_option, cfg, diags);
                cfg.global.ssl_default_server.extend(opts);
            }
            "ssl-default-bind-options" => {
                let opts = default_options(line, n, kw.name, keywords::bind_option, cfg, diags);
                cfg.global.ssl_default_bind.extend(opts);
            }
            _ => {}
        }
    }
}

/// `h1-case-adjust` rules: FROM in lower case, TO the same name in another case, once.
fn check_case_adjust(from: &str, to: &str, known: &[(String, String)]) -> Result<(), String> {
    if from.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("'{from}' must be in lower case"));
    }
    if !from.eq_ignore_ascii_case(to) {
        return Err(format!(
            "'{from}' and '{to}' must only differ by their case"
        ));
    }
    if known.iter().any(|(f, _)| f == from) {
        return Err(format!("duplicate entry for '{from}'"));
    }
    Ok(())
}

/// `strtol(s, &end, 10)` with `*end == 0` required: an optional sign and decimal digits
/// filling the word (an empty word is 0, as in C).
fn parse_c_long(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let t = s.trim_start();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(t.parse::<i64>().unwrap_or(if t.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// `atol(s)`: the leading decimal number of the word, 0 when there is none.
fn parse_c_long_prefix(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut v: i64 = 0;
    for b in rest.bytes().take_while(|b| b.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}

fn need_arg(line: &Line, n: usize, diags: &mut Diags) -> Option<String> {
    match line.words.get(n) {
        Some(v) => Some(v.clone()),
        None => {
            diags.alert(
                &line.loc,
                format!("'{}' expects an argument.", kw_full(line, n)),
            );
            None
        }
    }
}

fn parse_stats_socket(line: &Line, n: usize, diags: &mut Diags) -> Option<StatsSocket> {
    let Some(addr) = line.words.get(n) else {
        diags.alert(&line.loc, "'stats socket' expects an address or a path.");
        return None;
    };
    let address = match parse_address(addr, Usage::Other) {
        Ok(a) => a,
        Err(e) => {
            diags.alert(&line.loc, format!("'stats socket' : {e}."));
            return None;
        }
    };
    let mut s = StatsSocket {
        loc: line.loc.clone(),
        address,
        level: CliLevel::Operator,
        mode: None,
        uid: None,
        gid: None,
        user: None,
        group: None,
        expose_fd_listeners: false,
    };
    let mut i = n + 1;
    while i < line.words.len() {
        let opt = line.words[i].as_str();
        let val = line.words.get(i + 1).map(String::as_str);
        match opt {
            "level" => {
                s.level = match val {
                    Some("user") => CliLevel::User,
                    Some("operator") => CliLevel::Operator,
                    Some("admin") => CliLevel::Admin,
                    other => {
                        diags.alert(
                            &line.loc,
                            format!(
                                "'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got '{}')'",
                                other.unwrap_or("")
                            ),
                        );
                        CliLevel::Operator
                    }
                };
                i += 2;
            }
            "mode" => {
                // An octal mode, as HAProxy's strtol(…, 8): digits 0 to 7 only.
                s.mode = val
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                    .and_then(|v| u32::from_str_radix(v, 8).ok());
                if s.mode.is_none() {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'stats socket' : ''mode' : missing or invalid mode '{}' (octal integer expected)'",
                            val.unwrap_or("")
                        ),
                    );
                }
                i += 2;
            }
            "uid" | "gid" => {
                // As HAProxy's atol: the leading number, 0 when there is none.
                match val.filter(|v| !v.is_empty()) {
                    Some(v) => {
                        let id = parse_c_long_prefix(v) as u32;
                        if opt == "uid" {
                            s.uid = Some(id);
                        } else {
                            s.gid = Some(id);
                        }
                    }
                    None => diags.alert(
                        &line.loc,
                        format!("'stats socket' : ''{opt}' : missing value'"),
                    ),
                }
                i += 2;
            }
            "user" | "group" => {
                // Resolved to ids when the socket is bound (the configuration crate does
                // not read the system's user database).
                match val.filter(|v| !v.is_empty()) {
                    Some(v) if opt == "user" => s.user = Some(v.to_string()),
                    Some(v) => s.group = Some(v.to_string()),
                    None => diags.alert(
                        &line.loc,
                        format!("'stats socket' : ''{opt}' : missing {opt} name'"),
                    ),
                }
                i += 2;
            }
            "expose-fd" => {
                s.expose_fd_listeners = val == Some("listeners");
                i += 2;
            }
            _ => match keywords::bind_option(opt) {
                Some(k) => i += 1 + k.args as usize,
                None => {
                    bad_option(line, opt, "bind", keywords::suggest_bind_option(opt), diags);
                    i += 1;
                }
            },
        }
    }
    Some(s)
}

fn bad_option(line: &Line, opt: &str, what: &str, suggestion: Option<&str>, diags: &mut Diags) {
    let msg = match suggestion {
        Some(s) => format!("unknown {what} option '{opt}'; did you mean '{s}' maybe ?"),
        None => format!("unknown {what} option '{opt}'."),
    };
    diags.alert(&line.loc, msg);
}

// ---------------------------------------------------------------- proxies

/// A health-check line (`option httpchk`, `http-check …`, `tcp-check …`, built-in checks):
/// parsed by `checks`; connection options halo cannot honour yet stay pending.
fn parse_check_line(
    name: &str,
    line: &Line,
    n: usize,
    prefix: Prefix,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    let before = proxy.settings.checks.rules.len();
    let inherited = proxy.settings.checks.inherited;
    crate::checks::parse_line(
        name,
        line,
        n,
        prefix != Prefix::None,
        &mut proxy.settings.checks,
        diags,
    );
    if let Some(opt) = name.strip_prefix("option ") {
        proxy
            .settings
            .options
            .push((opt.to_string(), prefix == Prefix::None, line.loc.clone()));
    }
    let grew = proxy.settings.checks.rules.len() > before
        || (inherited && !proxy.settings.checks.inherited);
    // A user `status-code` expression is not evaluated yet (built-in checks have theirs).
    if grew
        && let Some(crate::checks::CheckRule {
            action: crate::checks::CheckAction::Expect(e),
            ..
        }) = proxy.settings.checks.rules.last()
        && e.status_code.is_some()
    {
        pending(cfg, line, &format!("{} status-code", kw_full(line, n)), 5);
    }
    if grew
        && let Some(crate::checks::CheckRule {
            action: crate::checks::CheckAction::Connect(c),
            ..
        }) = proxy.settings.checks.rules.last()
    {
        for (on, what, issue) in [
            (c.via_socks4, "via-socks4", 5),
            (c.proto.is_some(), "proto", 5),
        ] {
            if on {
                pending(cfg, line, &format!("{} {what}", kw_full(line, n)), issue);
            }
        }
    }
}

fn parse_proxy_line(
    section: SectionKind,
    line: &Line,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    let Some((kw, n, prefix)) = lookup(section, line, diags) else {
        return;
    };
    if !kw.sections.contains(&section) {
        // HAProxy refuses structural keywords in the wrong section and ignores the others
        // with a warning (e.g. `option httplog` in a backend).
        let structural = matches!(
            kw.name,
            "bind"
                | "server"
                | "default-server"
                | "server-template"
                | "dispatch"
                | "use_backend"
                | "default_backend"
        );
        let msg = format!(
            "'{}' is not allowed in '{}' sections{}",
            kw_full(line, n),
            section.name(),
            if structural { "." } else { "; ignored." }
        );
        if structural || section == SectionKind::Defaults {
            diags.alert(&line.loc, msg);
        } else {
            diags.warning(&line.loc, msg);
        }
        return;
    }
    let name = kw.name;
    match kw.support {
        Support::Legacy(modern) => {
            diags.warning(
                &line.loc,
                format!(
                    "'{}' is the 1.x syntax; use '{modern}' instead.",
                    kw_full(line, n)
                ),
            );
            apply_legacy(line, n, name, proxy, cfg, diags);
            return;
        }
        Support::Planned(issue) => {
            // Turning off a feature halo does not have yet changes nothing.
            let disabling = prefix == Prefix::No && name.starts_with("option ");
            if !disabling {
                pending(cfg, line, &kw_full(line, n), issue);
            }
            if let Some(opt) = name.strip_prefix("option ") {
                proxy
                    .settings
                    .options
                    .push((opt.to_string(), !disabling, line.loc.clone()));
            }
            record_planned(line, n, name, proxy, cfg, diags);
            return;
        }
        Support::Ignored(why) => {
            diags.notice(&line.loc, format!("'{name}' has no effect in halo: {why}."));
            return;
        }
        Support::Done => {}
    }
    if crate::checks::handles(name) {
        parse_check_line(name, line, n, prefix, proxy, cfg, diags);
        return;
    }
    let s = &mut proxy.settings;
    if let Some(opt) = name.strip_prefix("option ") {
        if prefix == Prefix::Default {
            // `default option X`: back to the built-in setting, whatever `defaults` said.
            let d = ProxySettings::default();
            match opt {
                "redispatch" => s.redispatch = d.redispatch,
                "persist" => s.persist = d.persist,
                "allbackups" => s.allbackups = d.allbackups,
                "forwardfor" => s.forwardfor = d.forwardfor,
                "originalto" => s.originalto = d.originalto,
                "forwarded" => s.forwarded = d.forwarded,
                "http-restrict-req-hdr-names" => {
                    s.restrict_req_hdr_names = d.restrict_req_hdr_names
                }
                "http-keep-alive" | "http-server-close" | "httpclose" => s.http_mode = d.http_mode,
                _ => {}
            }
            s.options.retain(|(o, _, _)| o != opt);
            return;
        }
        let on = prefix != Prefix::No;
        match opt {
            "httplog" | "httpslog" | "tcplog" => {
                let clf = line.words.get(n).map(String::as_str) == Some("clf");
                if let Some(w) = line.words.get(n).filter(|w| !w.is_empty() && *w != "clf") {
                    diags.alert(
                        &line.loc,
                        format!("'option {opt}' only supports the 'clf' argument, not '{w}'."),
                    );
                }
                s.logging.format = on.then(|| {
                    let f = match opt {
                        "httplog" => LogFormatChoice::Http { clf },
                        "httpslog" => LogFormatChoice::Https,
                        _ => LogFormatChoice::Tcp { clf },
                    };
                    (f, line.loc.clone())
                });
            }
            "redispatch" => {
                s.redispatch = if on {
                    match line.words.get(n) {
                        Some(v) => match v.parse::<i32>() {
                            Ok(i) => Some(i),
                            Err(_) => {
                                diags.alert(
                                    &line.loc,
                                    "'option redispatch' expects an integer interval.",
                                );
                                None
                            }
                        },
                        None => Some(-1),
                    }
                } else {
                    None
                }
            }
            "persist" => s.persist = on,
            "allbackups" => s.allbackups = on,
            "forwardfor" | "originalto" => {
                let value = if on {
                    let mut f = ForwardFor {
                        except: None,
                        header: if opt == "forwardfor" {
                            "X-Forwarded-For".into()
                        } else {
                            "X-Original-To".into()
                        },
                        if_none: false,
                    };
                    let mut i = n;
                    while i < line.words.len() {
                        match line.words[i].as_str() {
                            "except" | "header" => {
                                let Some(v) = line.words.get(i + 1) else {
                                    diags.alert(
                                        &line.loc,
                                        format!(
                                            "'option {opt} {}' expects an argument.",
                                            line.words[i]
                                        ),
                                    );
                                    break;
                                };
                                if line.words[i] == "except" {
                                    f.except = Some(v.clone());
                                } else {
                                    f.header = v.clone();
                                }
                                i += 2;
                            }
                            "if-none" if opt == "forwardfor" => {
                                f.if_none = true;
                                i += 1;
                            }
                            other => {
                                diags.alert(
                                    &line.loc,
                                    format!("'option {opt}' : unknown argument '{other}'."),
                                );
                                break;
                            }
                        }
                    }
                    Some(f)
                } else {
                    None
                };
                if opt == "forwardfor" {
                    s.forwardfor = value;
                } else {
                    s.originalto = value;
                }
            }
            "forwarded" => {
                s.forwarded = None;
                if on {
                    match parse_forwarded(&line.words[n..]) {
                        Ok(f) => s.forwarded = Some(f),
                        Err(e) => {
                            diags.alert(&line.loc, format!("'option forwarded' : {e}."));
                            return;
                        }
                    }
                }
            }
            "http-restrict-req-hdr-names" => match line.words.get(n).map(String::as_str) {
                Some(m @ ("preserve" | "delete" | "reject")) if line.words.len() == n + 1 => {
                    s.restrict_req_hdr_names = Some(m.to_string());
                }
                _ => {
                    diags.alert(
                        &line.loc,
                        "'option http-restrict-req-hdr-names' expects exactly one argument: 'preserve', 'delete' or 'reject'.",
                    );
                    return;
                }
            },
            "http-keep-alive" if on => s.http_mode = HttpConnMode::KeepAlive,
            "http-server-close" => {
                s.http_mode = if on {
                    HttpConnMode::ServerClose
                } else {
                    HttpConnMode::KeepAlive
                }
            }
            "httpclose" => {
                s.http_mode = if on {
                    HttpConnMode::Close
                } else {
                    HttpConnMode::KeepAlive
                }
            }
            _ => {}
        }
        s.options.push((opt.to_string(), on, line.loc.clone()));
        return;
    }
    if let Some(t) = name.strip_prefix("timeout ") {
        let Some(v) = parse_time_arg(line, n, name, diags) else {
            return;
        };
        set_timeout(&mut s.timeouts, t, v);
        return;
    }
    match name {
        "mode" => match line.words.get(n).map(String::as_str) {
            Some("tcp") => s.mode = Mode::Tcp,
            Some("http") => s.mode = Mode::Http,
            Some("log") => {
                s.mode = Mode::Log;
                pending(cfg, line, "mode log", 0);
            }
            Some("spop") => {
                s.mode = Mode::Spop;
                pending(cfg, line, "mode spop", 0);
            }
            Some("health") => diags.alert(
                &line.loc,
                "'mode health' was removed from HAProxy 2.x; use 'monitor-uri' or a 'tcp-request connection reject' rule.",
            ),
            other => diags.alert(
                &line.loc,
                format!(
                    "unknown proxy mode '{}', expected 'tcp' or 'http'.",
                    other.unwrap_or("")
                ),
            ),
        },
        "bind" => parse_bind(line, n, proxy, cfg, diags),
        "server" => parse_server(line, n, proxy, cfg, diags),
        "server-template" => parse_server_template(line, n, proxy, cfg, diags),
        "default-server" => {
            let mut t = s
                .default_server
                .clone()
                .unwrap_or_else(|| Server::template(line.loc.clone()));
            let mut start = n;
            if line.words.get(n).map(String::as_str) == Some("from") {
                start += 2;
                match line.words.get(n + 1).map(|o| server_origin(o, proxy, cfg)) {
                    Some(Ok(o)) => t = o.unwrap_or_else(|| Server::template(line.loc.clone())),
                    Some(Err(e)) => diags.alert(&line.loc, format!("'default-server' : {e}")),
                    None => diags.alert(&line.loc, "'from' expects an origin."),
                }
            }
            parse_server_options(line, start, &mut t, &proxy.name, cfg, diags, true);
            proxy.settings.default_server = Some(t);
        }
        "balance" => parse_balance(line, n, s, diags),
        "hash-type" => parse_hash_type(line, n, s, diags),
        "hash-balance-factor" => {
            s.hash_balance_factor = parse_u32(line, n, name, diags).unwrap_or(0);
        }
        "maxconn" => s.maxconn = parse_u32(line, n, name, diags),
        "fullconn" => s.fullconn = parse_u32(line, n, name, diags),
        "backlog" => s.backlog = parse_u32(line, n, name, diags),
        "retries" => s.retries = parse_u32(line, n, name, diags),
        "rate-limit sessions" => s.rate_limit_sessions = parse_u32(line, n, name, diags),
        "hash-preserve-affinity" => match line.words.get(n).map(String::as_str) {
            Some("always") => s.hash_preserve_affinity = None,
            Some(v @ ("maxconn" | "maxqueue")) => s.hash_preserve_affinity = Some(v.to_string()),
            other => diags.alert(
                &line.loc,
                format!(
                    "'hash-preserve-affinity' expects 'always', 'maxconn' or 'maxqueue', not '{}'.",
                    other.unwrap_or("")
                ),
            ),
        },
        "retry-on" => match RetryOn::parse(&line.words[n..]) {
            Ok(r) => s.retry_on = Some(r),
            Err(e) => diags.alert(&line.loc, e),
        },
        "default_backend" => match line.words.get(n) {
            Some(b) => s.default_backend = Some((b.clone(), line.loc.clone())),
            None => diags.alert(&line.loc, "'default_backend' expects a backend name."),
        },
        "use_backend" => {
            let Some(b) = line.words.get(n) else {
                diags.alert(&line.loc, "'use_backend' expects a backend name.");
                return;
            };
            let cond = parse_condition_tail(line, n + 1, proxy, diags);
            proxy.use_backends.push(UseBackend {
                loc: line.loc.clone(),
                backend: b.clone(),
                cond,
            });
        }
        "use-server" => {
            let Some(srv) = line.words.get(n).filter(|w| !w.is_empty()) else {
                diags.alert(&line.loc, "'use-server' expects a server name.");
                return;
            };
            if !matches!(
                line.words.get(n + 1).map(String::as_str),
                Some("if" | "unless")
            ) {
                diags.alert(
                    &line.loc,
                    "'use-server' requires either 'if' or 'unless' followed by a condition.",
                );
                return;
            }
            if let Some(cond) = parse_condition_tail(line, n + 1, proxy, diags) {
                proxy.use_servers.push(UseServer {
                    loc: line.loc.clone(),
                    server: srv.clone(),
                    cond,
                });
            }
        }
        "force-be-switch" => {
            if line.words.get(n).is_none() {
                diags.alert(&line.loc, "'force-be-switch' expects 'if' or 'unless' and a condition.");
                return;
            }
            if let Some(cond) = parse_condition_tail(line, n, proxy, diags) {
                proxy.force_be_switch.push((cond, line.loc.clone()));
            }
        }
        "be-unpublished" => s.unpublished = true,
        "persist rdp-cookie" => {
            let w = line.words.get(n - 1).map(String::as_str).unwrap_or("");
            match w.strip_prefix("rdp-cookie") {
                Some("") => s.persist_rdp_cookie = Some("msts".into()),
                Some(a) if a.len() > 2 && a.starts_with('(') && a.ends_with(')') => {
                    s.persist_rdp_cookie = Some(a[1..a.len() - 1].to_string());
                }
                _ => diags.alert(
                    &line.loc,
                    format!("'persist' : unknown persistence method '{w}'."),
                ),
            }
        }
        "force-persist" | "ignore-persist" => {
            if !matches!(line.words.get(n).map(String::as_str), Some("if" | "unless")) {
                diags.alert(
                    &line.loc,
                    format!("'{name}' requires either 'if' or 'unless' followed by a condition."),
                );
                return;
            }
            if let Some(cond) = parse_condition_tail(line, n, proxy, diags) {
                proxy
                    .persist_rules
                    .push((name == "force-persist", cond, line.loc.clone()));
            }
        }
        "cookie" => {
            if let Some(c) = parse_cookie(line, n, cfg, diags) {
                s.cookie = Some(c);
            }
        }
        "load-server-state-from-file" => {
            let v = line.words.get(n).map(String::as_str).unwrap_or("");
            s.load_server_state = match v {
                "global" => Some(LoadServerState::Global),
                "local" => Some(LoadServerState::Local),
                "none" => Some(LoadServerState::None),
                _ => {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got '{v}'"
                        ),
                    );
                    s.load_server_state
                }
            };
        }
        "server-state-file-name" => match line.words.get(n).map(String::as_str) {
            None | Some("use-backend-name") => s.server_state_file_name = None,
            Some(f) => {
                if let Some(extra) = line.words.get(n + 1) {
                    diags.alert(
                        &line.loc,
                        format!("'server-state-file-name' cannot handle unexpected argument '{extra}'."),
                    );
                }
                s.server_state_file_name = Some(f.to_string());
            }
        },
        "dynamic-cookie-key" => match line.words.get(n) {
            Some(k) => s.dynamic_cookie_key = Some(k.clone()),
            None => diags.alert(&line.loc, "'dynamic-cookie-key' expects <string> as argument."),
        },
        "dispatch" => match line.words.get(n).map(|a| parse_address(a, Usage::Server)) {
            Some(Ok(a)) => proxy.dispatch = Some((a, line.loc.clone())),
            Some(Err(e)) => diags.alert(&line.loc, format!("'dispatch' : {e}.")),
            None => diags.alert(&line.loc, "'dispatch' expects an address."),
        },
        "source" => {
            if let Some(src) = parse_source(line, n, line.words.len(), diags) {
                s.source = Some(src);
            }
        }
        "acl" | "stick-table" | "stick on" | "stick match" | "stick store-request"
        | "stick store-response" => record_planned(line, n, name, proxy, cfg, diags),
        "http-request" | "http-response" | "http-after-response" | "redirect" | "monitor fail" => {
            record_http_rule(section, line, n, name, proxy, cfg, diags)
        }
        "tcp-request inspect-delay" => {
            if let Some(t) = parse_time_arg(line, n, name, diags) {
                s.tcp_req_inspect_delay = Some(t);
            }
        }
        "tcp-response inspect-delay" => {
            if let Some(t) = parse_time_arg(line, n, name, diags) {
                s.tcp_res_inspect_delay = Some(t);
            }
        }
        "tcp-request connection" | "tcp-request session" | "tcp-request content"
        | "tcp-response content" => record_tcp_rule(section, line, n, name, proxy, cfg, diags),
        "capture request header" | "capture response header" | "capture cookie"
        | "declare capture" => {
            let args: Vec<String> = line.words[n..].to_vec();
            let usage = if name == "declare capture" {
                "'declare capture' expects 'request' or 'response', then 'len' and a length"
            } else {
                "expects a name, then 'len' and a length"
            };
            let ok_first = if name == "declare capture" {
                matches!(args.first().map(String::as_str), Some("request" | "response"))
            } else {
                args.first().is_some_and(|a| !a.is_empty())
            };
            let len_ok = args.get(1).map(String::as_str) == Some("len")
                && args.get(2).is_some_and(|v| v.parse::<u32>().is_ok_and(|l| l > 0));
            if !ok_first || !len_ok || args.len() != 3 {
                diags.alert(&line.loc, format!("'{name}' {usage}."));
                return;
            }
            if name == "capture cookie" && proxy.rules.iter().any(|r| r.keyword == name) {
                diags.alert(
                    &line.loc,
                    "only one 'capture cookie' is allowed in a proxy.",
                );
                return;
            }
            proxy.rules.push(Rule {
                loc: line.loc.clone(),
                keyword: name.to_string(),
                args,
                cond: None,
            });
        }
        "errorfile" | "errorfiles" | "errorloc" | "errorloc302" | "errorloc303" | "http-error" => {
            let bufsize = cfg.global.tune_bufsize;
            if let Some(d) = parse_error_page(line, n, name, bufsize, diags) {
                proxy.settings.error_pages.push(d);
            }
        }
        "no log" => s.logging.targets.clear(),
        "log" if prefix == Prefix::No => s.logging.targets.clear(),
        "log" => match line.words.get(n).map(String::as_str) {
            Some("global") if line.words.len() == n + 1 => s
                .logging
                .targets
                .push(ProxyLog::Global(line.loc.clone())),
            _ => match crate::logs::parse_log_target(&line.words[n..], &line.loc) {
                Ok(t) => s.logging.targets.push(ProxyLog::Target(t)),
                Err(e) => diags.alert(&line.loc, format!("'log' : {e}.")),
            },
        },
        "log-tag" => s.logging.tag = need_arg(line, n, diags),
        "log-steps" => {
            if let Some(v) = need_arg(line, n, diags) {
                match crate::logs::parse_log_steps(&v) {
                    Ok(m) => s.logging.steps = Some(m),
                    Err(e) => diags.alert(&line.loc, format!("'log-steps' : {e}.")),
                }
            }
        }
        "unique-id-header" => s.logging.unique_id_header = need_arg(line, n, diags),
        "log-format" | "log-format-sd" | "error-log-format" | "unique-id-format" => {
            let Some(v) = line.words.get(n).cloned() else {
                diags.alert(&line.loc, format!("'{name}' expects an argument."));
                return;
            };
            if line.words.len() > n + 1 {
                diags.alert(
                    &line.loc,
                    format!(
                        "'{name}' expects only one argument, don't forget to escape spaces!"
                    ),
                );
                return;
            }
            let v = (v, line.loc.clone());
            match name {
                "log-format" => s.logging.format = Some((LogFormatChoice::Custom(v.0), v.1)),
                "log-format-sd" => s.logging.format_sd = Some(v),
                "error-log-format" => s.logging.error_format = Some(v),
                _ => s.logging.unique_id_format = Some(v),
            }
        }
        "stats enable" | "stats uri" | "stats realm" | "stats auth" | "stats refresh"
        | "stats scope" | "stats hide-version" | "stats show-version" | "stats show-node"
        | "stats show-desc" | "stats show-legends" | "stats show-modules" => {
            parse_stats(line, n, name, &proxy.name, s, diags)
        }
        "stats admin" | "stats http-request" => {
            if section == SectionKind::Defaults {
                let what = if name == "stats admin" { name } else { "stats" };
                diags.alert(
                    &line.loc,
                    format!("'{what}' not allowed in 'defaults' section."),
                );
                return;
            }
            let (args, cond) = split_condition(line, n, proxy, diags);
            if name == "stats admin" && (cond.is_none() || !args.is_empty()) {
                diags.alert(
                    &line.loc,
                    "'stats admin' requires either 'if' or 'unless' followed by a condition.",
                );
                return;
            }
            if name == "stats http-request" && args.is_empty() {
                diags.alert(&line.loc, "'stats http-request' expects an action.");
                return;
            }
            proxy
                .settings
                .stats
                .get_or_insert_with(|| StatsPage::new(line.loc.clone()));
            proxy.rules.push(Rule {
                loc: line.loc.clone(),
                keyword: name.to_string(),
                args,
                cond,
            });
        }
        "monitor-uri" => match line.words.get(n) {
            Some(uri) if !uri.is_empty() => s.monitor_uri = Some(uri.clone()),
            _ => diags.alert(&line.loc, "'monitor-uri' expects an URI."),
        },
        "http-reuse" => match line.words.get(n).map(String::as_str) {
            Some("never") => s.http_reuse = HttpReuse::Never,
            Some("safe") => s.http_reuse = HttpReuse::Safe,
            Some("aggressive") => s.http_reuse = HttpReuse::Aggressive,
            Some("always") => s.http_reuse = HttpReuse::Always,
            other => diags.alert(
                &line.loc,
                format!(
                    "'http-reuse' expects one of 'never', 'safe', 'aggressive', 'always', not '{}'.",
                    other.unwrap_or("")
                ),
            ),
        },
        "max-session-srv-conns" => match line.words.get(n).map(|v| v.parse::<u32>()) {
            Some(Ok(v)) => s.max_session_srv_conns = Some(v),
            _ => diags.alert(
                &line.loc,
                "'max-session-srv-conns' expects a positive integer.",
            ),
        },
        "max-keep-alive-queue" => match line.words.get(n).map(|v| v.parse::<i64>()) {
            Some(Ok(v)) if v >= -1 => s.max_keep_alive_queue = u32::try_from(v).ok(),
            _ => diags.alert(
                &line.loc,
                "'max-keep-alive-queue' expects -1 or a positive integer.",
            ),
        },
        "external-check command" => match line.words.get(n) {
            Some(c) => s.external_check_command = Some(c.clone()),
            None => diags.alert(&line.loc, "'external-check command' expects a command."),
        },
        "external-check path" => match line.words.get(n) {
            Some(c) => s.external_check_path = Some(c.clone()),
            None => diags.alert(&line.loc, "'external-check path' expects a path."),
        },
        "http-send-name-header" => {
            let h = line
                .words
                .get(n)
                .cloned()
                .unwrap_or_else(|| "X-Server-Name".to_string());
            if ["host", "content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|f| h.eq_ignore_ascii_case(f))
            {
                diags.alert(
                    &line.loc,
                    format!("'http-send-name-header' : the header name '{h}' is not allowed."),
                );
            } else {
                s.send_name_header = Some(h);
            }
        }
        "id" => proxy.id = parse_u32(line, n, name, diags),
        "description" => s.description = Some(line.words[n..].join(" ")),
        "disabled" => s.disabled = true,
        "enabled" => s.disabled = false,
        _ => {}
    }
}

/// A status code as HAProxy reads it (`atol`: leading digits, 0 when there are none).
fn status_word(w: &str) -> u16 {
    let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse::<u32>()
        .map(|v| v.min(u16::MAX as u32) as u16)
        .unwrap_or(0)
}

/// `errorfile`, `errorloc`, `errorloc302`, `errorloc303`, `errorfiles` and `http-error`
/// (manual 4.2): checked and, for files, read now, as HAProxy does.
fn parse_error_page(
    line: &Line,
    n: usize,
    name: &str,
    bufsize: usize,
    diags: &mut Diags,
) -> Option<ErrorPageDecl> {
    let arg = |i: usize| line.words.get(n + i).filter(|w| !w.is_empty());
    let not_handled = |diags: &mut Diags, code: u16| {
        diags.alert(
            &line.loc,
            format!("{name} : status code '{code}' not handled."),
        );
    };
    let what = match name {
        "errorfile" | "errorloc" | "errorloc302" | "errorloc303" => {
            let (Some(code), Some(target)) = (arg(0), arg(1)) else {
                let second = if name == "errorfile" { "file" } else { "url" };
                diags.alert(
                    &line.loc,
                    format!("{name} : expects <status_code> and <{second}> as arguments."),
                );
                return None;
            };
            let code = status_word(code);
            if !crate::errorfile::is_error_code(code) {
                not_handled(diags, code);
                return None;
            }
            let page = if name == "errorfile" {
                crate::errorfile::load(target, bufsize)
            } else {
                crate::errorfile::redirect(if name == "errorloc303" { 303 } else { 302 }, target)
            };
            match page {
                Ok(p) => ErrorPageKind::Page(code, p),
                Err(e) => {
                    diags.alert(&line.loc, format!("{name} : {e}"));
                    return None;
                }
            }
        }
        "errorfiles" => {
            let Some(section) = arg(0) else {
                diags.alert(&line.loc, "errorfiles : expects <name> as argument.");
                return None;
            };
            let mut codes = Vec::new();
            for w in line.words.get(n + 1..).unwrap_or_default() {
                let code = status_word(w);
                if !crate::errorfile::is_error_code(code) {
                    not_handled(diags, code);
                    return None;
                }
                codes.push(code);
            }
            ErrorPageKind::Import {
                section: section.clone(),
                codes,
            }
        }
        _ => parse_http_error(line, n, bufsize, diags)?,
    };
    Some(ErrorPageDecl {
        loc: line.loc.clone(),
        what,
    })
}

/// `http-error status <code> [content-type <type>] [default-errorfiles | errorfile <file>
/// | errorfiles <name> | file <file> | lf-file <file> | string <str> | lf-string <fmt>]
/// [hdr <name> <fmt>]*`.
fn parse_http_error(
    line: &Line,
    n: usize,
    bufsize: usize,
    diags: &mut Diags,
) -> Option<ErrorPageKind> {
    let words = line.words.get(n..).unwrap_or_default();
    let fail = |diags: &mut Diags, msg: String| {
        diags.alert(&line.loc, format!("http-error : {msg}"));
        None
    };
    let mut status: Option<u16> = None;
    let mut ctype: Option<&str> = None;
    let mut source: Option<(&str, &str)> = None;
    let mut hdrs = false;
    let mut i = 0;
    while let Some(w) = words.get(i).map(String::as_str) {
        let val = words
            .get(i + 1)
            .map(String::as_str)
            .filter(|v| !v.is_empty());
        match w {
            "status" => {
                let Some(v) = val else {
                    return fail(diags, "'status' expects <status_code> as argument".into());
                };
                let code = status_word(v);
                if !(200..=599).contains(&code) {
                    return fail(diags, format!("Unexpected status code '{code}'"));
                }
                status = Some(code);
                i += 2;
            }
            "content-type" => {
                let Some(v) = val else {
                    return fail(diags, "'content-type' expects <ctype> as argument".into());
                };
                ctype = Some(v);
                i += 2;
            }
            "default-errorfiles" | "errorfile" | "errorfiles" | "file" | "lf-file" | "string"
            | "lf-string" => {
                if let Some((prev, _)) = source {
                    return fail(
                        diags,
                        format!("unexpected '{w}' argument, '{prev}' already defined"),
                    );
                }
                if w == "default-errorfiles" {
                    source = Some((w, ""));
                    i += 1;
                    continue;
                }
                let Some(v) = val else {
                    let what = match w {
                        "errorfiles" => "<name>",
                        "string" => "<str>",
                        "lf-string" => "<fmt>",
                        _ => "<file>",
                    };
                    return fail(diags, format!("'{w}' expects {what} as argument"));
                };
                source = Some((w, v));
                i += 2;
            }
            "hdr" => {
                let (Some(h), Some(_)) = (val, words.get(i + 2).filter(|v| !v.is_empty())) else {
                    return fail(
                        diags,
                        "'hdr' expects <name> and <value> as arguments".into(),
                    );
                };
                if ["content-length", "transfer-encoding", "content-type"]
                    .iter()
                    .any(|x| h.eq_ignore_ascii_case(x))
                {
                    diags.warning(
                        &line.loc,
                        format!("header '{h}' always ignored by the http reply."),
                    );
                } else {
                    hdrs = true;
                }
                i += 3;
            }
            other => return fail(diags, format!("unknown keyword '{other}'.")),
        }
    }
    if source.is_none()
        && let Some(t) = ctype
    {
        diags.warning(
            &line.loc,
            format!(
                "content-type '{t}' ignored by the http reply because neither errorfile nor payload defined."
            ),
        );
    }
    let Some(code) = status else {
        return fail(diags, "expects at least a <status> as arguments.".into());
    };
    if !crate::errorfile::is_error_code(code) {
        diags.alert(
            &line.loc,
            format!("http-error: status code '{code}' not handled."),
        );
        return None;
    }
    let kind = source.map(|(k, _)| k).unwrap_or("");
    if matches!(kind, "default-errorfiles" | "errorfile" | "errorfiles") {
        if let Some(t) = ctype {
            diags.warning(
                &line.loc,
                format!(
                    "content-type '{t}' ignored by the http reply when used with an errorfile."
                ),
            );
        }
        if hdrs {
            diags.warning(
                &line.loc,
                "hdr parameters ignored by the http reply when used with an errorfile.",
            );
        }
    }
    Some(match source {
        Some(("default-errorfiles", _)) => ErrorPageKind::Default(code),
        Some(("errorfile", path)) => match crate::errorfile::load(path, bufsize) {
            Ok(p) => ErrorPageKind::Page(code, p),
            Err(e) => return fail(diags, e),
        },
        Some(("errorfiles", section)) => ErrorPageKind::Import {
            section: section.to_string(),
            codes: vec![code],
        },
        Some(("string", _)) if ctype.is_none() => {
            return fail(
                diags,
                "a content type must be defined when non-empty payload is configured".into(),
            );
        }
        Some(("lf-string", _)) if ctype.is_none() => {
            return fail(
                diags,
                "a content type must be defined with a log-format payload".into(),
            );
        }
        _ => ErrorPageKind::Reply(code, words.to_vec()),
    })
}

/// An `http-errors` section (manual 12.4): `errorfile <code> <file>` lines, read now.
fn parse_http_errors(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    let Some(name) = sec.name().filter(|n| !n.is_empty()) else {
        diags.alert(&sec.header.loc, "missing name for http-errors section.");
        return;
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
    {
        diags.alert(
            &sec.header.loc,
            format!("character '{bad}' is not permitted in 'http-errors' name '{name}'."),
        );
    }
    if let Some(prev) = cfg.http_errors(name) {
        diags.alert(
            &sec.header.loc,
            format!(
                "http-errors section '{name}' already exists (declared at {}).",
                prev.loc
            ),
        );
    }
    let mut section = HttpErrors {
        name: name.to_string(),
        loc: sec.header.loc.clone(),
        pages: Vec::new(),
    };
    for line in &sec.lines {
        if lookup(SectionKind::HttpErrors, line, diags).is_none() {
            continue;
        }
        let (Some(code), Some(file)) = (
            line.words.get(1).filter(|w| !w.is_empty()),
            line.words.get(2).filter(|w| !w.is_empty()),
        ) else {
            diags.alert(
                &line.loc,
                "errorfile : expects <status_code> and <file> as arguments.",
            );
            continue;
        };
        let code = status_word(code);
        if !crate::errorfile::is_error_code(code) {
            diags.alert(
                &line.loc,
                format!("errorfile : status code '{code}' not handled."),
            );
            continue;
        }
        match crate::errorfile::load(file, cfg.global.tune_bufsize) {
            Ok(p) => section.pages.push((code, p)),
            Err(e) => diags.alert(&line.loc, format!("errorfile : {e}")),
        }
    }
    cfg.http_errors.push(section);
}

fn set_timeout(t: &mut Timeouts, which: &str, v: u64) {
    match which {
        "connect" => t.connect = Some(v),
        "client" => t.client = Some(v),
        "server" => t.server = Some(v),
        "queue" => t.queue = Some(v),
        "tunnel" => t.tunnel = Some(v),
        "client-fin" => t.client_fin = Some(v),
        "client-hs" => t.client_hs = Some(v),
        "server-fin" => t.server_fin = Some(v),
        "check" => t.check = Some(v),
        "http-request" => t.http_request = Some(v),
        "http-keep-alive" => t.http_keep_alive = Some(v),
        "tarpit" => t.tarpit = Some(v),
        _ => {}
    }
}

/// Legacy keywords: translated onto their modern meaning where halo has it.
fn apply_legacy(
    line: &Line,
    n: usize,
    name: &str,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    let s = &mut proxy.settings;
    match name {
        "contimeout" | "clitimeout" | "srvtimeout" => {
            if let Some(v) = parse_time_arg(line, n, name, diags) {
                let which = match name {
                    "contimeout" => "connect",
                    "clitimeout" => "client",
                    _ => "server",
                };
                set_timeout(&mut s.timeouts, which, v);
            }
        }
        "redispatch" => s.redispatch = Some(-1),
        "appsession" => parse_appsession(line, n, proxy, diags),
        "grace" => s.grace = parse_time_arg(line, n, name, diags),
        "monitor-net" => match line.words.get(n) {
            Some(net) => s.monitor_net.push((net.clone(), line.loc.clone())),
            None => diags.alert(&line.loc, "'monitor-net' expects a network."),
        },
        "option forceclose" => {
            // Removed in HAProxy 2.0, where it was already the same as `httpclose`.
            s.http_mode = HttpConnMode::Close;
            s.options.push(("httpclose".into(), true, line.loc.clone()));
        }
        "option accept-invalid-http-request"
        | "option accept-invalid-http-response"
        | "no option accept-invalid-http-request"
        | "no option accept-invalid-http-response" => {
            let on = !name.starts_with("no ");
            let side = if name.ends_with("request") {
                "accept-unsafe-violations-in-http-request"
            } else {
                "accept-unsafe-violations-in-http-response"
            };
            s.options.push((side.into(), on, line.loc.clone()));
        }
        "block" | "reqadd" | "reqallow" | "reqdel" | "reqdeny" | "reqiallow" | "reqidel"
        | "reqideny" | "reqipass" | "reqirep" | "reqitarpit" | "reqpass" | "reqrep"
        | "reqtarpit" | "rspadd" | "rspdel" | "rspdeny" | "rspidel" | "rspideny" | "rspirep"
        | "rsprep" => record_legacy_rule(line, n, name, proxy, diags),
        _ => {
            // reqsetbe, appsession...: semantics arrive with their issue.
            record_planned(line, n, name, proxy, cfg, diags);
            let issue = if name == "appsession" { 4 } else { 0 };
            pending(cfg, line, &kw_full(line, n), issue);
        }
    }
}

/// `appsession NAME len N timeout T [request-learn] [prefix] [mode path-parameters|
/// query-string]`, as HAProxy 1.5 parsed it.
fn parse_appsession(line: &Line, n: usize, proxy: &mut Proxy, diags: &mut Diags) {
    let w = &line.words;
    let Some(cookie) = w.get(n).filter(|c| !c.is_empty()) else {
        diags.alert(&line.loc, "'appsession' requires a cookie name.");
        return;
    };
    let (mut len, mut timeout) = (None, None);
    let (mut request_learn, mut query_string, mut prefix) = (false, false, false);
    let mut i = n + 1;
    while i < w.len() {
        match w[i].as_str() {
            "len" => {
                match w.get(i + 1).and_then(|v| v.parse::<usize>().ok()) {
                    Some(l) if l > 0 => len = Some(l),
                    _ => {
                        diags.alert(&line.loc, "'appsession' : 'len' expects a positive number.");
                        return;
                    }
                }
                i += 1;
            }
            "timeout" => {
                timeout = Some(parse_time_arg(line, i + 1, "appsession timeout", diags));
                i += 1;
            }
            "request-learn" => request_learn = true,
            "prefix" => prefix = true,
            "mode" => {
                match w.get(i + 1).map(String::as_str) {
                    Some("path-parameters") => query_string = false,
                    Some("query-string") => query_string = true,
                    _ => {
                        diags.alert(
                            &line.loc,
                            "'appsession' : 'mode' expects 'path-parameters' or 'query-string'.",
                        );
                        return;
                    }
                }
                i += 1;
            }
            other => {
                diags.alert(
                    &line.loc,
                    format!("'appsession' : unknown argument '{other}'."),
                );
                return;
            }
        }
        i += 1;
    }
    let (Some(len), Some(Some(timeout))) = (len, timeout) else {
        diags.alert(
            &line.loc,
            "'appsession' expects 'len' and 'timeout' (appsession <cookie> len <length> timeout <holdtime>).",
        );
        return;
    };
    if proxy.appsession.is_some() {
        diags.warning(&line.loc, "'appsession' : only the last one is used.");
    }
    proxy.appsession = Some(AppSession {
        cookie: cookie.clone(),
        len,
        timeout,
        request_learn,
        query_string,
        prefix,
        loc: line.loc.clone(),
    });
}

/// `stats auth`/`stats realm` make an implicit `stats http-request auth` rule: HAProxy
/// refuses them together with explicit `stats http-request` rules.
fn check_stats(proxy: &Proxy, diags: &mut Diags) {
    let Some(st) = &proxy.settings.stats else {
        return;
    };
    if (st.realm_set || !st.users.is_empty())
        && proxy
            .rules
            .iter()
            .any(|r| r.keyword == "stats http-request")
    {
        diags.global_alert(format!(
            "proxy '{}': stats 'auth'/'realm' and 'http-request' can't be used at the same time.",
            proxy.name
        ));
    }
}

/// HTTP rules in a proxy that is not in HTTP mode are ignored, as HAProxy says.
fn warn_http_only(proxy: &Proxy, diags: &mut Diags) {
    if proxy.settings.mode == Mode::Http {
        return;
    }
    let what = format!("{} '{}'", proxy.kind.name(), proxy.name);
    if proxy.settings.monitor_uri.is_some() && proxy.kind.is_frontend() {
        diags.global_warning(format!(
            "monitor-uri will be ignored for {what} (needs 'mode http')."
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for r in &proxy.rules {
        let kw = match r.keyword.as_str() {
            k @ ("http-request"
            | "http-response"
            | "http-after-response"
            | "redirect"
            | "monitor fail") => k,
            k if k == "block" || k.starts_with("req") || k.starts_with("rsp") => k,
            _ => continue,
        };
        if !seen.contains(&kw) {
            seen.push(kw);
            diags.global_warning(format!(
                "'{kw}' rules ignored for {what} as they require HTTP mode."
            ));
        }
    }
}

/// The 1.x header rules (`reqrep`, `rspidel`, `block`...): kept as rules with their words,
/// checked for their number of arguments; the `halo` crate compiles the regexes.
fn record_legacy_rule(line: &Line, n: usize, name: &str, proxy: &mut Proxy, diags: &mut Diags) {
    let (args, cond) = split_condition(line, n, proxy, diags);
    let want = match name {
        "block" => 0,
        "reqrep" | "reqirep" | "rsprep" | "rspirep" => 2,
        _ => 1,
    };
    if args.len() != want {
        let what = match want {
            0 => "no argument besides its condition",
            1 if name.ends_with("add") => "exactly one argument: the header line to add",
            1 => "exactly one argument: a regular expression",
            _ => "exactly two arguments: a regular expression and a replacement line",
        };
        diags.alert(&line.loc, format!("'{name}' expects {what}."));
        return;
    }
    if name == "block" && cond.is_none() {
        diags.alert(&line.loc, "'block' expects a condition ('if' or 'unless').");
        return;
    }
    if name == "block"
        && let Some(prev) = proxy.rules.iter().find(|r| r.keyword == "http-request")
    {
        diags.warning(
            &line.loc,
            format!(
                "a 'block' rule placed after an 'http-request' rule (at {}) will still be processed before.",
                prev.loc
            ),
        );
    }
    proxy.rules.push(Rule {
        loc: line.loc.clone(),
        keyword: name.to_string(),
        args,
        cond,
    });
}

/// `http-request`, `http-response`, `redirect` and `monitor fail` rules: the action is
/// looked up in the table of section 4.3 (unknown → alert; valid but not built yet →
/// pending), and HAProxy's warnings about rules that run in another order than written.
/// `tcp-request connection|session|content` and `tcp-response content` rules: the
/// action is checked against the matrix of 4.3, then the rule is kept for `src/tcp`.
fn record_tcp_rule(
    section: SectionKind,
    line: &Line,
    n: usize,
    name: &str,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    if section == SectionKind::Defaults {
        if proxy.name.is_empty() {
            diags.alert(
                &line.loc,
                format!("'{name}' not allowed in anonymous 'defaults' section."),
            );
        } else {
            pending(
                cfg,
                line,
                &format!("'{name}' rules in a 'defaults' section"),
                0,
            );
        }
        return;
    }
    let set = match name {
        "tcp-request connection" => keywords::TcpRuleSet::Connection,
        "tcp-request session" => keywords::TcpRuleSet::Session,
        "tcp-request content" => keywords::TcpRuleSet::Content,
        _ => keywords::TcpRuleSet::Response,
    };
    let (args, cond) = split_condition(line, n, proxy, diags);
    let Some(action) = args.first() else {
        diags.alert(&line.loc, format!("'{name}' expects an action."));
        return;
    };
    match keywords::tcp_action(action) {
        None => {
            let hint = keywords::suggest_tcp_action(action)
                .map(|s| format!("; did you mean '{s}' maybe ?"))
                .unwrap_or_default();
            diags.alert(
                &line.loc,
                format!("'{name}' : unknown action '{action}'{hint}"),
            );
            return;
        }
        Some(a) if !a.usable_in(set) => {
            diags.alert(
                &line.loc,
                format!(
                    "'{name} {}' : this action is not usable in '{name}' rules (manual 4.3).",
                    a.name
                ),
            );
            return;
        }
        Some(a) => {
            if a.name == "expect-proxy" && args.get(1).map(String::as_str) != Some("layer4") {
                diags.alert(
                    &line.loc,
                    format!("'{name} expect-proxy' : expects 'layer4'."),
                );
                return;
            }
            if !track_sc_in_range(name, action, cfg, line, diags) {
                return;
            }
            if a.name == "capture" {
                // `tcp-request content capture <sample> len <length>`: a new request
                // capture slot of the frontend.
                if !matches!(section, SectionKind::Frontend | SectionKind::Listen) {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{name} capture' : proxy '{}' has no frontend capability",
                            proxy.name
                        ),
                    );
                    return;
                }
                let len = match args.get(2).map(String::as_str) {
                    Some("len") => args.get(3).and_then(|l| l.parse::<u32>().ok()),
                    _ => None,
                };
                if args.len() != 4 || len.is_none_or(|l| l == 0) {
                    diags.alert(
                        &line.loc,
                        format!("'{name} capture' : a positive 'len' argument is mandatory"),
                    );
                    return;
                }
            }
            if let Support::Planned(issue) = a.support {
                pending(cfg, line, &format!("{name} {}", a.name), issue);
            }
        }
    }
    proxy.rules.push(Rule {
        loc: line.loc.clone(),
        keyword: name.to_string(),
        args,
        cond,
    });
}

fn record_http_rule(
    section: SectionKind,
    line: &Line,
    n: usize,
    name: &str,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    if section == SectionKind::Defaults {
        if proxy.name.is_empty() {
            diags.alert(
                &line.loc,
                format!("'{name}' not allowed in anonymous 'defaults' section."),
            );
        } else {
            pending(
                cfg,
                line,
                &format!("'{name}' rules in a 'defaults' section"),
                0,
            );
        }
        return;
    }
    let (args, cond) = split_condition(line, n, proxy, diags);
    match name {
        "http-after-response" => {
            let Some(action) = args.first() else {
                diags.alert(&line.loc, format!("'{name}' expects an action."));
                return;
            };
            match keywords::http_action(action) {
                Some(a) if keywords::after_response_action(a) => {
                    if let Support::Planned(issue) = a.support {
                        pending(cfg, line, &format!("{name} {}", a.name), issue);
                    }
                }
                Some(a) => {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{name} {}' : this action is not usable in '{name}' rules (manual 4.3).",
                            a.name
                        ),
                    );
                    return;
                }
                None => {
                    let hint = keywords::suggest_http_action(action)
                        .map(|s| format!("; did you mean '{s}' maybe ?"))
                        .unwrap_or_default();
                    diags.alert(
                        &line.loc,
                        format!("'{name}' : unknown action '{action}'{hint}"),
                    );
                    return;
                }
            }
        }
        "http-request" | "http-response" => {
            let Some(action) = args.first() else {
                diags.alert(&line.loc, format!("'{name}' expects an action."));
                return;
            };
            let req = name == "http-request";
            match keywords::http_action(action) {
                None => {
                    let hint = keywords::suggest_http_action(action)
                        .map(|s| format!("; did you mean '{s}' maybe ?"))
                        .unwrap_or_default();
                    diags.alert(
                        &line.loc,
                        format!("'{name}' : unknown action '{action}'{hint}"),
                    );
                    return;
                }
                Some(a) if (req && !a.req) || (!req && !a.res) => {
                    diags.alert(
                        &line.loc,
                        format!(
                            "'{name} {}' : this action is not usable in '{name}' rules (manual 4.3).",
                            a.name
                        ),
                    );
                    return;
                }
                Some(a) => {
                    // Of the services, halo has HAProxy's Prometheus exporter.
                    let built = a.name == "use-service"
                        && args.get(1).map(String::as_str) == Some("prometheus-exporter");
                    if let Support::Planned(issue) = a.support
                        && !built
                    {
                        pending(cfg, line, &format!("{name} {}", a.name), issue);
                    }
                }
            }
            if !track_sc_in_range(name, action, cfg, line, diags) {
                return;
            }
            if req && let Some(prev) = proxy.rules.iter().find(|r| r.keyword == "redirect") {
                diags.warning(
                    &line.loc,
                    format!(
                        "a 'http-request' rule placed after a 'redirect' rule (at {}) will still be processed before.",
                        prev.loc
                    ),
                );
            }
        }
        "monitor fail" => {
            if cond.is_none() {
                diags.alert(
                    &line.loc,
                    "'monitor fail' expects a condition ('if' or 'unless').",
                );
                return;
            }
            if !args.is_empty() {
                diags.alert(
                    &line.loc,
                    format!(
                        "'monitor fail' : unexpected '{}'; expected 'if' or 'unless'.",
                        args[0]
                    ),
                );
                return;
            }
            if let Some(prev) = proxy.rules.iter().find(|r| r.keyword == "http-request") {
                diags.warning(
                    &line.loc,
                    format!(
                        "a 'monitor fail' rule placed after an 'http-request' rule (at {}) will still be processed before.",
                        prev.loc
                    ),
                );
            }
        }
        _ => {}
    }
    proxy.rules.push(Rule {
        loc: line.loc.clone(),
        keyword: name.to_string(),
        args,
        cond,
    });
}

/// Keeps what the checker needs from a keyword whose behaviour is still to come.
/// One `stats` keyword of a proxy (any of them enables the page, with the manual's
/// defaults for the rest).
fn parse_stats(
    line: &Line,
    n: usize,
    name: &str,
    proxy_name: &str,
    s: &mut ProxySettings,
    diags: &mut Diags,
) {
    let arg = line.words.get(n).filter(|a| !a.is_empty()).cloned();
    let rest = (line.words.len() > n).then(|| line.words[n..].join(" "));
    let page = s
        .stats
        .get_or_insert_with(|| StatsPage::new(line.loc.clone()));
    let need = |what: &str, diags: &mut Diags| {
        diags.alert(&line.loc, format!("'{}' needs {what}.", &name[6..]));
    };
    match name {
        "stats uri" => match arg {
            Some(u) => page.uri = u,
            None => need("an URI prefix", diags),
        },
        "stats realm" => match arg {
            Some(r) => {
                page.realm = r;
                page.realm_set = true;
            }
            None => need("an realm name", diags),
        },
        "stats auth" => match arg {
            Some(a) => {
                // As HAProxy: what follows the first ':' is the password (none: empty).
                let (u, p) = a.split_once(':').unwrap_or((a.as_str(), ""));
                page.users.push((u.to_string(), p.to_string()));
            }
            None => need("a user:password account", diags),
        },
        "stats scope" => match arg {
            Some(p) if p == "." => page.scope.push(proxy_name.to_string()),
            Some(p) => page.scope.push(p),
            None => need("a proxy name", diags),
        },
        "stats refresh" => match line.words.get(n).map(|w| parse_time_ms(w)) {
            Some(Ok(ms)) => page.refresh = Some(ms.div_ceil(1000).max(u64::from(ms > 0))),
            Some(Err(e)) => diags.alert(
                &line.loc,
                format!("{e} in argument to stats refresh interval."),
            ),
            None => diags.alert(&line.loc, "'refresh' needs a refresh interval."),
        },
        "stats hide-version" => page.show_version = false,
        "stats show-version" => page.show_version = true,
        "stats show-legends" => page.show_legends = true,
        "stats show-modules" => page.show_modules = true,
        "stats show-node" => page.show_node = Some(arg),
        "stats show-desc" => page.show_desc = Some(rest),
        _ => {}
    }
}

fn record_planned(
    line: &Line,
    n: usize,
    name: &str,
    proxy: &mut Proxy,
    _cfg: &mut Config,
    diags: &mut Diags,
) {
    match name {
        "acl" => {
            let Some(acl) = line.words.get(n) else {
                diags.alert(&line.loc, "'acl' expects an ACL name and a criterion.");
                return;
            };
            if let Some(bad) = acl
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
            {
                diags.alert(
                    &line.loc,
                    format!("character '{bad}' is not permitted in acl name '{acl}'."),
                );
            }
            if line.words.len() < n + 2 {
                diags.alert(
                    &line.loc,
                    format!("missing fetch method in ACL expression '{acl}'."),
                );
                return;
            }
            proxy.acls.push(AclDecl {
                loc: line.loc.clone(),
                name: acl.clone(),
                words: line.words[n + 1..].to_vec(),
            });
        }
        "stick-table" => {
            if let Err(e) = crate::stick::TableConf::parse(&line.words[n..]) {
                diags.alert(&line.loc, format!("'stick-table' : {e}."));
            }
            proxy.stick_table = Some((line.words[n..].to_vec(), line.loc.clone()));
        }
        _ => {
            let (args, cond) = split_condition(line, n, proxy, diags);
            proxy.rules.push(Rule {
                loc: line.loc.clone(),
                keyword: kw_full(line, n),
                args,
                cond,
            });
        }
    }
}

/// `track-scN` must name a counter below `tune.stick-counters` (a `global` setting, so
/// read before any proxy).
fn track_sc_in_range(
    name: &str,
    action: &str,
    cfg: &Config,
    line: &Line,
    diags: &mut Diags,
) -> bool {
    let Some(n) = keywords::track_sc_number(action) else {
        return true;
    };
    let max = cfg.global.tune_stick_counters;
    if n < max {
        return true;
    }
    diags.alert(
        &line.loc,
        format!(
            "error detected while parsing '{name} {action}' rule : {n} track-sc number exceeding {} (tune.stick-counters-1) value.",
            max as i64 - 1
        ),
    );
    false
}

/// Splits `ARGS [if|unless COND]`.
fn split_condition(
    line: &Line,
    n: usize,
    proxy: &Proxy,
    diags: &mut Diags,
) -> (Vec<String>, Option<Condition>) {
    let mut depth = 0i32;
    for i in n..line.words.len() {
        match line.words[i].as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "if" | "unless" if depth == 0 => {
                let cond = parse_condition_tail(line, i, proxy, diags);
                return (line.words[n..i].to_vec(), cond);
            }
            _ => {}
        }
    }
    (line.words[n..].to_vec(), None)
}

/// Parses `if|unless TERMS` starting at word `i` (nothing there = no condition).
/// Named ACLs must have been declared earlier in the same proxy, as in HAProxy.
/// `cookie NAME [options]` (manual 4.2, "cookie").
fn parse_cookie(line: &Line, n: usize, cfg: &mut Config, diags: &mut Diags) -> Option<Cookie> {
    let Some(name) = line.words.get(n).filter(|w| !w.is_empty()) else {
        diags.alert(&line.loc, "'cookie' expects <cookie_name> as argument.");
        return None;
    };
    let mut c = Cookie {
        name: name.clone(),
        ..Cookie::default()
    };
    let mut modes = 0;
    let mut i = n + 1;
    while let Some(w) = line.words.get(i) {
        let val = line.words.get(i + 1);
        let mut takes = 0;
        match w.as_str() {
            "rewrite" | "insert" | "prefix" => {
                modes += 1;
                c.mode = match w.as_str() {
                    "rewrite" => CookieMode::Rewrite,
                    "insert" => CookieMode::Insert,
                    _ => CookieMode::Prefix,
                };
            }
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "dynamic" => {
                c.dynamic = true;
            }
            "domain" => {
                let Some(d) = val.filter(|v| !v.is_empty()) else {
                    diags.alert(
                        &line.loc,
                        "'cookie' 'domain' option requires a domain name.",
                    );
                    return None;
                };
                if !d.contains('.') {
                    diags.warning(
                        &line.loc,
                        format!("domain '{d}' contains no embedded dot, this configuration may not work properly (see RFC 2109)."),
                    );
                }
                c.domains.push(d.clone());
                takes = 1;
            }
            "maxidle" | "maxlife" => {
                let Some(v) = val else {
                    diags.alert(&line.loc, format!("'cookie' '{w}' option requires a time."));
                    return None;
                };
                match crate::units::parse_time_with_default(v, 1000) {
                    Ok(ms) => {
                        let secs = ms.div_ceil(1000);
                        if w == "maxidle" {
                            c.maxidle = secs;
                        } else {
                            c.maxlife = secs;
                        }
                    }
                    Err(e) => {
                        diags.alert(&line.loc, format!("'cookie' '{w}' : {e}."));
                        return None;
                    }
                }
                takes = 1;
            }
            "attr" => {
                let Some(a) = val else {
                    diags.alert(&line.loc, "'cookie' 'attr' option requires a value.");
                    return None;
                };
                if a.bytes().any(|b| b == b';' || b.is_ascii_control()) {
                    diags.alert(
                        &line.loc,
                        "'cookie' 'attr' option does not accept control characters nor ';'.",
                    );
                    return None;
                }
                c.attrs.push(a.clone());
                takes = 1;
            }
            other => {
                diags.alert(
                    &line.loc,
                    format!("'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options, not '{other}'."),
                );
                return None;
            }
        }
        i += 1 + takes;
    }
    if modes > 1 {
        diags.alert(
            &line.loc,
            "'cookie' 'rewrite', 'insert' and 'prefix' modes are mutually exclusive.",
        );
        return None;
    }
    if c.preserve && c.mode != CookieMode::Insert && !c.indirect {
        diags.alert(
            &line.loc,
            "'cookie' 'preserve' may only be used with 'insert' or 'indirect'.",
        );
        return None;
    }
    let _ = cfg;
    Some(c)
}

fn parse_condition_tail(
    line: &Line,
    i: usize,
    proxy: &Proxy,
    diags: &mut Diags,
) -> Option<Condition> {
    let kw = line.words.get(i)?;
    let unless = match kw.as_str() {
        "if" => false,
        "unless" => true,
        other => {
            diags.alert(
                &line.loc,
                format!("unexpected '{other}' where 'if' or 'unless' was expected."),
            );
            return None;
        }
    };
    let words = &line.words[i + 1..];
    if words.is_empty() {
        diags.alert(&line.loc, format!("missing condition after '{kw}'."));
        return None;
    }
    let mut alternatives = vec![Vec::new()];
    let mut j = 0;
    while j < words.len() {
        let w = words[j].as_str();
        if w == "or" || w == "||" {
            if alternatives.last().map(Vec::is_empty).unwrap_or(true) {
                diags.alert(&line.loc, format!("missing ACL before '{w}'."));
            }
            alternatives.push(Vec::new());
            j += 1;
            continue;
        }
        let mut negated = false;
        let mut w = w;
        while let Some(rest) = w.strip_prefix('!') {
            negated = !negated;
            if rest.is_empty() {
                j += 1;
                match words.get(j) {
                    Some(next) => w = next.as_str(),
                    None => {
                        diags.alert(&line.loc, "missing ACL after '!'.");
                        return None;
                    }
                }
            } else {
                w = rest;
            }
        }
        let acl = if w == "{" {
            let start = j + 1;
            let mut end = start;
            while end < words.len() && words[end] != "}" {
                end += 1;
            }
            if end >= words.len() {
                diags.alert(&line.loc, "missing closing '}' in anonymous ACL.");
                return None;
            }
            if end == start {
                diags.alert(&line.loc, "empty anonymous ACL '{ }'.");
            }
            j = end;
            AclRef::Anonymous(words[start..end].to_vec())
        } else {
            if !PREDEFINED_ACLS.contains(&w) && !proxy.acls.iter().any(|a| a.name == w) {
                diags.alert(
                    &line.loc,
                    format!(
                        "unknown ACL '{w}' in the condition of '{}': no 'acl {w} ...' is declared before this line in {} '{}'.",
                        line.words[0],
                        proxy.kind.name(),
                        proxy.name
                    ),
                );
            }
            AclRef::Named(w.to_string())
        };
        if let Some(last) = alternatives.last_mut() {
            last.push(CondTerm { negated, acl });
        }
        j += 1;
    }
    if alternatives.last().map(Vec::is_empty).unwrap_or(false) {
        diags.alert(&line.loc, "missing ACL after 'or'.");
    }
    Some(Condition {
        unless,
        alternatives,
    })
}

fn parse_balance(line: &Line, n: usize, s: &mut ProxySettings, diags: &mut Diags) {
    let Some(algo) = line.words.get(n) else {
        diags.alert(&line.loc, "'balance' expects an algorithm.");
        return;
    };
    let rest = &line.words[n + 1..];
    s.balance = match algo.as_str() {
        "roundrobin" => Balance::RoundRobin,
        "static-rr" => Balance::StaticRr,
        "leastconn" => Balance::LeastConn,
        "first" => Balance::First,
        "source" => Balance::Source,
        "random" => Balance::Random(rest.first().and_then(|d| d.parse().ok()).unwrap_or(2)),
        "uri" => {
            let (mut whole, mut len, mut depth, mut path_only) = (false, 0, 0, false);
            let mut i = 0;
            while i < rest.len() {
                match rest[i].as_str() {
                    "whole" => whole = true,
                    "path-only" => path_only = true,
                    "len" | "depth" => {
                        let v = rest.get(i + 1).and_then(|v| v.parse::<u32>().ok());
                        match v {
                            Some(v) if rest[i] == "len" => len = v,
                            Some(v) => depth = v,
                            None => diags.alert(
                                &line.loc,
                                format!("'balance uri {}' expects a positive integer.", rest[i]),
                            ),
                        }
                        i += 1;
                    }
                    other => diags.alert(
                        &line.loc,
                        format!("'balance uri' only accepts 'whole', 'len', 'depth' and 'path-only', not '{other}'."),
                    ),
                }
                i += 1;
            }
            Balance::Uri {
                whole,
                len,
                depth,
                path_only,
            }
        }
        "url_param" => match rest.first() {
            Some(p) => Balance::UrlParam {
                name: p.clone(),
                check_post: rest.get(1).map(|w| w == "check_post").unwrap_or(false),
            },
            None => {
                diags.alert(&line.loc, "'balance url_param' expects a parameter name.");
                return;
            }
        },
        "hash" => match rest.first() {
            Some(e) => Balance::Hash(e.clone()),
            None => {
                diags.alert(&line.loc, "'balance hash' expects a sample expression.");
                return;
            }
        },
        a if a.starts_with("hdr(") && a.ends_with(')') => Balance::Hdr {
            name: a[4..a.len() - 1].to_string(),
            use_domain_only: rest
                .first()
                .map(|w| w == "use_domain_only")
                .unwrap_or(false),
        },
        a if a == "rdp-cookie" || (a.starts_with("rdp-cookie(") && a.ends_with(')')) => {
            let name = if a == "rdp-cookie" {
                "mstshash".to_string()
            } else {
                a[11..a.len() - 1].to_string()
            };
            Balance::RdpCookie(name)
        }
        other => {
            diags.alert(
                &line.loc,
                format!(
                    "unknown load balancing algorithm '{other}'; expected one of 'roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'uri', 'url_param', 'hdr(name)', 'rdp-cookie', 'random', 'hash'."
                ),
            );
            return;
        }
    };
}

fn parse_hash_type(line: &Line, n: usize, s: &mut ProxySettings, diags: &mut Diags) {
    let mut ht = HashType::default();
    match line.words.get(n).map(String::as_str) {
        Some("map-based") => ht.method = HashMethod::MapBased,
        Some("consistent") => ht.method = HashMethod::Consistent,
        other => {
            diags.alert(
                &line.loc,
                format!(
                    "'hash-type' expects 'map-based' or 'consistent', not '{}'.",
                    other.unwrap_or("")
                ),
            );
            return;
        }
    }
    for w in &line.words[n + 1..] {
        match w.as_str() {
            "sdbm" => ht.function = HashFunction::Sdbm,
            "djb2" => ht.function = HashFunction::Djb2,
            "wt6" => ht.function = HashFunction::Wt6,
            "crc32" => ht.function = HashFunction::Crc32,
            "none" => ht.function = HashFunction::None,
            "avalanche" => ht.avalanche = true,
            other => diags.alert(
                &line.loc,
                format!("'hash-type' : unknown hash function or modifier '{other}'."),
            ),
        }
    }
    s.hash_type = ht;
}

fn parse_source(line: &Line, n: usize, end: usize, diags: &mut Diags) -> Option<Source> {
    let Some(a) = line.words.get(n) else {
        diags.alert(&line.loc, "'source' expects an address.");
        return None;
    };
    let address = match parse_address(a, Usage::Source) {
        Ok(a) => a,
        Err(e) => {
            diags.alert(&line.loc, format!("'source' : {e}."));
            return None;
        }
    };
    let mut src = Source {
        address,
        usesrc: None,
        interface: None,
    };
    let mut i = n + 1;
    while i < end {
        match line.words[i].as_str() {
            "usesrc" => {
                match line.words.get(i + 1).map(|v| UseSrc::parse(v)) {
                    Some(Ok(u)) => src.usesrc = Some(u),
                    Some(Err(e)) => diags.alert(&line.loc, e),
                    None => diags.alert(&line.loc, "'usesrc' expects an argument."),
                }
                i += 2;
            }
            "interface" => {
                src.interface = line.words.get(i + 1).cloned();
                i += 2;
            }
            _ => break,
        }
    }
    Some(src)
}

/// Where a `source` option ends on a server line (it may take `usesrc X` and `interface X`).
fn source_span(words: &[String], i: usize) -> usize {
    let mut j = i + 2;
    while j < words.len() && (words[j] == "usesrc" || words[j] == "interface") {
        j += 2;
    }
    j.min(words.len())
}

fn parse_bind(line: &Line, n: usize, proxy: &mut Proxy, cfg: &mut Config, diags: &mut Diags) {
    let Some(addr) = line.words.get(n) else {
        diags.alert(
            &line.loc,
            "'bind' expects [addr1]:port1[-end1]{,[addr]:port[-end]}... as arguments.",
        );
        return;
    };
    let addresses = match parse_address_list(addr, Usage::Bind) {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => {
            diags.alert(&line.loc, "'bind' : missing address.");
            return;
        }
        Err(e) => {
            diags.alert(&line.loc, format!("'bind' : {e}."));
            return;
        }
    };
    let mut b = Bind::new(line.loc.clone(), addresses);
    b.text = addr.clone();
    let mut i = n + 1;
    while i < line.words.len() {
        let opt = line.words[i].as_str();
        let Some(k) = keywords::bind_option(opt) else {
            bad_option(line, opt, "bind", keywords::suggest_bind_option(opt), diags);
            i += 1;
            continue;
        };
        let nargs = k.args as usize;
        if i + nargs >= line.words.len() + usize::from(nargs == 0) && nargs > 0 {
            match keywords::missing_argument(opt) {
                Some(m) => diags.alert(&line.loc, format!("'bind {addr}' : '{opt}' : {m}.")),
                None => diags.alert(&line.loc, format!("'{opt}' expects an argument.")),
            }
            return;
        }
        let val = line.words.get(i + 1).map(String::as_str).unwrap_or("");
        let num = |diags: &mut Diags| -> Option<u32> {
            match val.parse::<u32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    diags.alert(
                        &line.loc,
                        format!("'{opt}' expects an integer, not '{val}'."),
                    );
                    None
                }
            }
        };
        match k.support {
            Support::Done => match opt {
                "name" => b.name = Some(val.to_string()),
                "id" => b.id = num(diags),
                "maxconn" => b.maxconn = num(diags),
                "backlog" => b.backlog = num(diags),
                "v4v6" => b.v4v6 = true,
                "v6only" => b.v6only = true,
                "defer-accept" => b.defer_accept = true,
                "interface" => b.interface = Some(val.to_string()),
                "tfo" => b.tfo = true,
                "accept-proxy" => b.accept_proxy = true,
                "transparent" => b.transparent = true,
                "mss" => b.mss = val.parse().ok(),
                "mode" => b.mode = u32::from_str_radix(val, 8).ok(),
                "uid" => b.uid = num(diags),
                "gid" => b.gid = num(diags),
                "user" => b.user = Some(val.to_string()),
                "group" => b.group = Some(val.to_string()),
                "ssl" => b.ssl = true,
                // The TLS options, interpreted with the certificates (halo's src/tls).
                _ => b.other.push((
                    opt.to_string(),
                    line.words[i + 1..(i + 1 + nargs).min(line.words.len())].to_vec(),
                )),
            },
            Support::Planned(issue) => {
                pending(cfg, line, &format!("bind option '{opt}'"), issue);
                b.other.push((
                    opt.to_string(),
                    line.words[i + 1..(i + 1 + nargs).min(line.words.len())].to_vec(),
                ));
            }
            Support::Legacy(modern) => diags.warning(
                &line.loc,
                format!("bind option '{opt}' is deprecated; use '{modern}' instead."),
            ),
            Support::Ignored(why) => diags.notice(
                &line.loc,
                format!("bind option '{opt}' has no effect in halo: {why}."),
            ),
        }
        i += 1 + nargs;
    }
    proxy.binds.push(b);
}

fn parse_server(line: &Line, n: usize, proxy: &mut Proxy, cfg: &mut Config, diags: &mut Diags) {
    let (Some(name), Some(addr)) = (line.words.get(n), line.words.get(n + 1)) else {
        diags.alert(
            &line.loc,
            "'server' expects <name> and <addr>[:<port>] as arguments.",
        );
        return;
    };
    if let Some(prev) = proxy.servers.iter().find(|s| &s.name == name) {
        diags.alert(
            &line.loc,
            format!(
                "'server' : {} '{}' has two servers named '{name}' (the other one is at {}).",
                proxy.kind.name(),
                proxy.name,
                prev.loc
            ),
        );
    }
    let address = match parse_address(addr, Usage::Server) {
        Ok(a) => a,
        Err(e) => {
            diags.alert(&line.loc, format!("'server {name}' : {e}."));
            return;
        }
    };
    let Some((mut srv, start)) =
        starting_settings(line, n + 2, proxy, cfg, diags, &format!("server {name}"))
    else {
        return;
    };
    srv.loc = line.loc.clone();
    srv.name = name.clone();
    srv.address = Some(address);
    srv.id = None;
    parse_server_options(line, start, &mut srv, &proxy.name, cfg, diags, false);
    if let Some(id) = srv.id
        && let Some(other) = proxy.servers.iter().find(|s| s.id == Some(id))
    {
        diags.alert(
            &line.loc,
            format!(
                "server '{name}' uses id {id}, already used by server '{}' at {}.",
                other.name, other.loc
            ),
        );
    }
    proxy.servers.push(srv);
}

/// `server-template <prefix> <num | low-high> <addr>[:<port>] [from <origin>] [params*]`:
/// the servers <prefix><i>, one per number of the range, all with the same address and
/// settings (those of `default-server`, or of the server named after `from`).
fn parse_server_template(
    line: &Line,
    n: usize,
    proxy: &mut Proxy,
    cfg: &mut Config,
    diags: &mut Diags,
) {
    let (Some(prefix), Some(range), Some(addr)) = (
        line.words.get(n),
        line.words.get(n + 1),
        line.words.get(n + 2),
    ) else {
        diags.alert(
            &line.loc,
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
        );
        return;
    };
    let bounds = match range.split_once('-') {
        Some((lo, hi)) => lo.parse::<u32>().ok().zip(hi.parse::<u32>().ok()),
        None => range.parse::<u32>().ok().map(|n| (1, n)),
    };
    let Some((lo, hi)) = bounds.filter(|(lo, hi)| *lo >= 1 && lo <= hi) else {
        diags.alert(
            &line.loc,
            format!("Wrong server-template number or range arg '{range}'."),
        );
        return;
    };
    if hi - lo >= 100_000 {
        diags.alert(
            &line.loc,
            format!("'server-template' : range '{range}' declares too many servers."),
        );
        return;
    }
    let address = match parse_address(addr, Usage::Server) {
        Ok(a) => a,
        Err(e) => {
            diags.alert(&line.loc, format!("'server-template {prefix}' : {e}."));
            return;
        }
    };
    let Some((mut srv, start)) =
        starting_settings(line, n + 3, proxy, cfg, diags, "server-template")
    else {
        return;
    };
    srv.loc = line.loc.clone();
    srv.address = Some(address);
    srv.id = None;
    parse_server_options(line, start, &mut srv, &proxy.name, cfg, diags, false);
    for i in lo..=hi {
        let name = format!("{prefix}{i}");
        if let Some(prev) = proxy.servers.iter().find(|s| s.name == name) {
            diags.alert(
                &line.loc,
                format!(
                    "'server-template' : {} '{}' has two servers named '{name}' (the other one is at {}).",
                    proxy.kind.name(),
                    proxy.name,
                    prev.loc
                ),
            );
            return;
        }
        let mut s = srv.clone();
        s.name = name;
        proxy.servers.push(s);
    }
}

/// The settings a `server`/`server-template` line starts from, and where its options
/// begin: those of a leading `from <origin>` at `at`, else the proxy's `default-server`.
fn starting_settings(
    line: &Line,
    at: usize,
    proxy: &Proxy,
    cfg: &Config,
    diags: &mut Diags,
    what: &str,
) -> Option<(Server, usize)> {
    if line.words.get(at).map(String::as_str) != Some("from") {
        let srv = proxy
            .settings
            .default_server
            .clone()
            .unwrap_or_else(|| Server::template(line.loc.clone()));
        return Some((srv, at));
    }
    let Some(origin) = line.words.get(at + 1) else {
        diags.alert(&line.loc, format!("'{what}' : 'from' expects an origin."));
        return None;
    };
    match server_origin(origin, proxy, cfg) {
        Ok(t) => Some((
            t.unwrap_or_else(|| Server::template(line.loc.clone())),
            at + 2,
        )),
        Err(e) => {
            diags.alert(&line.loc, format!("'{what}' : {e}"));
            None
        }
    }
}

/// What `from <origin>` names on a `server`, `server-template` or `default-server` line and
/// in `add server`: `none` (the documented defaults), `be:[B]` (backend B's
/// `default-server`), `srv:[B/]S` or plain `S` (server S's settings); an empty backend name
/// means the server's own backend.
pub enum Origin<'a> {
    Defaults,
    DefaultServer(&'a str),
    Server(&'a str, &'a str),
}

impl<'a> Origin<'a> {
    pub fn parse(origin: &'a str) -> Origin<'a> {
        if origin == "none" {
            return Origin::Defaults;
        }
        if let Some(b) = origin.strip_prefix("be:") {
            return Origin::DefaultServer(b);
        }
        match origin.strip_prefix("srv:") {
            Some(rest) => {
                let (b, s) = rest.split_once('/').unwrap_or(("", rest));
                Origin::Server(b, s)
            }
            None => Origin::Server("", origin),
        }
    }
}

/// `from <origin>` on a configuration line: the settings to start from (None: the
/// documented defaults), looked up among this proxy and those declared before it.
fn server_origin(origin: &str, proxy: &Proxy, cfg: &Config) -> Result<Option<Server>, String> {
    let proxy_named = |b: &str| -> Result<&Proxy, String> {
        if b.is_empty() || b == proxy.name {
            return Ok(proxy);
        }
        cfg.proxies
            .iter()
            .find(|p| p.name == b)
            .ok_or_else(|| format!("'from' : no backend '{b}' (it must be declared before)."))
    };
    match Origin::parse(origin) {
        Origin::Defaults => Ok(None),
        Origin::DefaultServer(b) => Ok(proxy_named(b)?.settings.default_server.clone()),
        Origin::Server(b, name) => {
            let px = proxy_named(b)?;
            match px.servers.iter().find(|s| s.name == name) {
                Some(s) => Ok(Some(s.clone())),
                None => Err(format!(
                    "'from' : no server '{name}' in '{}' to copy settings from.",
                    px.name
                )),
            }
        }
    }
}

/// Server options `add server` refuses, as HAProxy does: they only make sense at start-up.
pub const NOT_DYNAMIC: &[&str] = &[
    "init-addr",
    "resolvers",
    "resolve-opts",
    "resolve-prefer",
    "resolve-net",
    "redir",
    "pool-conn-name",
];

/// The runtime API's `add server <backend>/<name> <addr>[:<port>] [options]`: `words` are
/// the address and options. `base` is the server the settings start from (the backend's
/// `default-server`, or what a leading `from <origin>` named, resolved by `origin`).
/// Returns the server, or the error line to answer.
pub fn parse_dynamic_server(
    proxy_name: &str,
    name: &str,
    words: &[String],
    base: Option<Server>,
    origin: &dyn Fn(&str) -> Result<Option<Server>, String>,
) -> Result<Server, String> {
    let Some(addr) = words.first() else {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments.".into());
    };
    let address = parse_address(addr, Usage::Server).map_err(|e| format!("{e}."))?;
    if !matches!(address, Address::Inet { .. }) {
        return Err(format!(
            "'{addr}' : only IP addresses and host names are supported as server addresses."
        ));
    }
    let mut start = 3;
    let mut srv = if words.get(1).map(String::as_str) == Some("from") {
        let o = words
            .get(2)
            .ok_or_else(|| "'from' expects an origin.".to_string())?;
        start = 5;
        origin(o)?
    } else {
        base
    }
    .unwrap_or_else(|| Server::template(Loc::none()));
    if let Some(bad) = words[start - 2..]
        .iter()
        .find(|w| NOT_DYNAMIC.contains(&w.as_str()))
    {
        return Err(format!("'{bad}' option is not accepted for dynamic server"));
    }
    let mut line_words = vec!["server".to_string(), name.to_string()];
    line_words.extend(words.iter().cloned());
    let line = Line {
        loc: Loc::none(),
        words: line_words,
    };
    srv.loc = Loc::none();
    srv.name = name.to_string();
    srv.address = Some(address);
    srv.id = None;
    let mut cfg = Config::default();
    let mut diags = Diags::default();
    parse_server_options(
        &line, start, &mut srv, proxy_name, &mut cfg, &mut diags, false,
    );
    if let Some(d) = diags
        .items
        .iter()
        .find(|d| d.severity == crate::diag::Severity::Alert)
    {
        return Err(d.message.clone());
    }
    if let Some(p) = cfg.pending.first() {
        return Err(format!(
            "{} is not supported by halo yet{}.",
            p.keyword,
            match p.issue {
                0 => String::new(),
                n => format!(" (issue {n})"),
            }
        ));
    }
    Ok(srv)
}

fn parse_server_options(
    line: &Line,
    start: usize,
    srv: &mut Server,
    proxy_name: &str,
    cfg: &mut Config,
    diags: &mut Diags,
    template: bool,
) {
    parse_server_options_inner(line, start, srv, proxy_name, cfg, diags, template);
    if !template && srv.agent.enabled && srv.agent.port.is_none() {
        diags.alert(
            &line.loc,
            format!(
                "'server {proxy_name}/{}' : server {} does not have agent port. Agent check has been disabled.",
                srv.name, srv.name
            ),
        );
        srv.agent.enabled = false;
    }
}

fn parse_server_options_inner(
    line: &Line,
    start: usize,
    srv: &mut Server,
    proxy_name: &str,
    cfg: &mut Config,
    diags: &mut Diags,
    template: bool,
) {
    let w = &line.words;
    let mut i = start;
    while i < w.len() {
        let opt = w[i].as_str();
        let Some(k) = keywords::server_option(opt) else {
            bad_option(
                line,
                opt,
                "server",
                keywords::suggest_server_option(opt),
                diags,
            );
            i += 1;
            continue;
        };
        let mut next = i + 1 + k.args as usize;
        if opt == "source" {
            next = source_span(w, i);
        }
        if next > w.len() {
            match keywords::missing_argument(opt) {
                Some(m) => diags.alert(
                    &line.loc,
                    format!("'server {}/{}' : '{opt}' : {m}.", proxy_name, srv.name),
                ),
                None => diags.alert(&line.loc, format!("'{opt}' expects an argument.")),
            }
            return;
        }
        let val = w.get(i + 1).map(String::as_str).unwrap_or("");
        let num = |diags: &mut Diags| -> Option<u32> {
            match val.parse::<u32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    diags.alert(
                        &line.loc,
                        format!("'{opt}' expects an integer, not '{val}'."),
                    );
                    None
                }
            }
        };
        let time = |diags: &mut Diags| -> Option<u64> {
            match parse_time_ms(val) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.alert(
                        &line.loc,
                        format!("'{opt}' : invalid time value '{val}': {e}."),
                    );
                    None
                }
            }
        };
        match k.support {
            Support::Done => match opt {
                "weight" => {
                    if let Some(v) = num(diags) {
                        if v > 256 {
                            diags.alert(
                                &line.loc,
                                format!(
                                    "weight of server '{}' must be between 0 and 256, not {v}.",
                                    srv.name
                                ),
                            );
                        } else {
                            srv.weight = v;
                        }
                    }
                }
                "backup" => srv.backup = true,
                "no-backup" => srv.backup = false,
                "disabled" => srv.disabled = true,
                "enabled" => srv.disabled = false,
                "id" => {
                    if template {
                        diags.alert(&line.loc, "'id' is not allowed on 'default-server'.");
                    } else {
                        srv.id = num(diags);
                    }
                }
                "maxconn" => srv.maxconn = num(diags).unwrap_or(0),
                "minconn" => srv.minconn = num(diags).unwrap_or(0),
                "maxqueue" => srv.maxqueue = num(diags).unwrap_or(0),
                "send-proxy" => srv.send_proxy = Some(ProxyProtocol::V1),
                "send-proxy-v2" => srv.send_proxy = Some(ProxyProtocol::V2),
                "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => {
                    srv.send_proxy = Some(ProxyProtocol::V2);
                    srv.send_proxy_ssl = if opt.ends_with("-cn") { 2 } else { 1 };
                }
                "no-send-proxy" | "no-send-proxy-v2" => srv.send_proxy = None,
                "no-send-proxy-v2-ssl" | "no-send-proxy-v2-ssl-cn" => {
                    srv.send_proxy = None;
                    srv.send_proxy_ssl = 0;
                }
                "check" => srv.check = true,
                "no-check" => srv.check = false,
                // Intervals and thresholds of 0 are refused, as by HAProxy.
                "inter" | "fastinter" | "downinter" | "agent-inter" => match time(diags) {
                    Some(0) => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : invalid value 0 for argument '{opt}' of server {}.",
                            srv.name, srv.name
                        ),
                    ),
                    Some(t) => match opt {
                        "inter" => srv.inter = t,
                        "fastinter" => srv.fastinter = Some(t),
                        "downinter" => srv.downinter = Some(t),
                        _ => srv.agent.inter = Some(t),
                    },
                    None => {}
                },
                "rise" | "fall" => match num(diags) {
                    Some(0) => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : '{opt}' has to be > 0.",
                            srv.name
                        ),
                    ),
                    Some(v) if opt == "rise" => srv.rise = v,
                    Some(v) => srv.fall = v,
                    None => {}
                },
                "port" => match val.parse::<u16>() {
                    Ok(p) if p > 0 => srv.check_port = Some(p),
                    _ => diags.alert(
                        &line.loc,
                        format!("'port' expects a valid port, not '{val}'."),
                    ),
                },
                "addr" => srv.check_addr = Some(val.to_string()),
                "check-send-proxy" => srv.check_send_proxy = true,
                "resolvers" => srv.resolvers = Some(val.to_string()),
                "init-state" => match val {
                    "fully-up" | "up" | "down" | "fully-down" => {
                        srv.init_state = Some(val.to_string())
                    }
                    "none" => srv.init_state = None,
                    _ => diags.alert(
                        &line.loc,
                        format!("'init-state' : unknown state '{val}', expects 'fully-up', 'up', 'down', 'fully-down' or 'none'."),
                    ),
                },
                "resolve-prefer" => match val {
                    "ipv4" => srv.resolve_prefer_v4 = true,
                    "ipv6" => srv.resolve_prefer_v4 = false,
                    _ => diags.alert(
                        &line.loc,
                        format!("'resolve-prefer' : unsupported value '{val}', supported values are 'ipv4' and 'ipv6'."),
                    ),
                },
                "init-addr" => {
                    let mut list = Vec::new();
                    for m in val.split(',') {
                        if matches!(m, "last" | "libc" | "none") || m.parse::<std::net::IpAddr>().is_ok() {
                            list.push(m.to_string());
                        } else {
                            diags.alert(
                                &line.loc,
                                format!("'init-addr' : unknown method '{m}', supported methods are 'libc', 'last', 'none'."),
                            );
                        }
                    }
                    srv.init_addr = list;
                }
                "resolve-opts" => {
                    for o in val.split(',') {
                        match o {
                            "allow-dup-ip" => srv.prevent_dup_ip = false,
                            "prevent-dup-ip" => srv.prevent_dup_ip = true,
                            "ignore-weight" => srv.ignore_srv_weight = true,
                            _ => diags.alert(
                                &line.loc,
                                format!("'resolve-opts' : unknown option '{o}', supported options are 'allow-dup-ip', 'ignore-weight' and 'prevent-dup-ip'."),
                            ),
                        }
                    }
                }
                "resolve-net" => {
                    srv.resolve_net = val.split(',').map(str::to_string).collect();
                }
                "agent-check" => srv.agent.enabled = true,
                "no-agent-check" => srv.agent.enabled = false,
                "agent-port" => match val.parse::<u16>() {
                    Ok(p) => srv.agent.port = (p > 0).then_some(p),
                    _ => diags.alert(
                        &line.loc,
                        format!("'agent-port' expects a valid port, not '{val}'."),
                    ),
                },
                "agent-send" => srv.agent.send = Some(val.to_string()),
                "agent-addr" => {
                    use std::net::ToSocketAddrs;
                    let ip = val.parse::<std::net::IpAddr>().ok().or_else(|| {
                        (val, 0u16)
                            .to_socket_addrs()
                            .ok()
                            .and_then(|mut a| a.next())
                            .map(|a| a.ip())
                    });
                    match ip {
                        Some(ip) => srv.agent.addr = Some(ip),
                        None => diags.alert(
                            &line.loc,
                            format!(
                                "'server {proxy_name}/{}' : parsing agent-addr failed. Check if '{val}' is correct address..",
                                srv.name
                            ),
                        ),
                    }
                }
                "observe" => match val {
                    "none" => srv.observe = Observe::None,
                    "layer4" => srv.observe = Observe::Layer4,
                    "layer7" => srv.observe = Observe::Layer7,
                    _ => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : 'observe' expects one of 'none', 'layer4', 'layer7' but got '{val}'.",
                            srv.name
                        ),
                    ),
                },
                "error-limit" => match val.parse::<u32>() {
                    Ok(v) if v > 0 => srv.error_limit = v,
                    _ => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : error-limit has to be > 0.",
                            srv.name
                        ),
                    ),
                },
                "on-error" => match val {
                    "fastinter" => srv.on_error = OnError::FastInter,
                    "fail-check" => srv.on_error = OnError::FailCheck,
                    "sudden-death" => srv.on_error = OnError::SuddenDeath,
                    "mark-down" => srv.on_error = OnError::MarkDown,
                    _ => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{val}'.",
                            srv.name
                        ),
                    ),
                },
                "on-marked-down" => match val {
                    "shutdown-sessions" => srv.on_marked_down_shutdown = true,
                    _ => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : 'on-marked-down' expects 'shutdown-sessions' but got '{val}'.",
                            srv.name
                        ),
                    ),
                },
                "on-marked-up" => match val {
                    "shutdown-backup-sessions" => srv.on_marked_up_shutdown_backup = true,
                    _ => diags.alert(
                        &line.loc,
                        format!(
                            "'server {proxy_name}/{}' : 'on-marked-up' expects 'shutdown-backup-sessions' but got '{val}'.",
                            srv.name
                        ),
                    ),
                },
                "pool-max-conn" | "max-reuse" => match val.parse::<i64>() {
                    Ok(v) if v >= -1 => {
                        if opt == "max-reuse" {
                            srv.max_reuse = v
                        } else {
                            srv.pool_max_conn = v
                        }
                    }
                    _ => diags.alert(
                        &line.loc,
                        format!("'{opt}' expects -1 or a positive integer, not '{val}'."),
                    ),
                },
                "pool-low-conn" => srv.pool_low_conn = num(diags).unwrap_or(0),
                "from" => diags.alert(
                    &line.loc,
                    "'from' must be specified before any other server settings.",
                ),
                "non-stick" => srv.non_stick = true,
                "stick" => srv.non_stick = false,
                "redir" => srv.redir = Some(val.to_string()),
                "pool-conn-name" => srv.pool_conn_name = Some(val.to_string()),
                "track" => {
                    srv.track = Some(match val.split_once('/') {
                        Some((b, s)) => (Some(b.to_string()), s.to_string()),
                        None => (None, val.to_string()),
                    })
                }
                "slowstart" => srv.slowstart = time(diags).unwrap_or(0),
                // Servers are reached over HTTP/1.1, where WebSocket needs nothing more:
                // `auto` and `h1` are what halo does; `h2` needs HTTP/2 towards servers.
                "ws" => match val {
                    "auto" | "h1" => {}
                    "h2" => pending(cfg, line, "server option 'ws h2'", 0),
                    _ => diags.alert(
                        &line.loc,
                        format!("'ws' expects 'auto', 'h1' or 'h2', not '{val}'."),
                    ),
                },
                "cookie" => srv.cookie = Some(val.to_string()),
                "pool-purge-delay" => {
                    srv.pool_purge_delay = time(diags).unwrap_or(srv.pool_purge_delay)
                }
                "source" => {
                    if let Some(src) = parse_source(line, i + 1, next, diags) {
                        srv.source = Some(src);
                    }
                }
                // The TLS options, interpreted with the server's TLS settings (src/tls).
                _ if keywords::is_server_tls_option(opt) => {
                    srv.other.push((opt.to_string(), w[i + 1..next].to_vec()))
                }
                _ => {}
            },
            Support::Planned(issue) => {
                if opt == "cookie" {
                    srv.cookie = Some(val.to_string());
                }
                pending(cfg, line, &format!("server option '{opt}'"), issue);
                srv.other.push((opt.to_string(), w[i + 1..next].to_vec()));
            }
            Support::Legacy(modern) => diags.warning(
                &line.loc,
                format!("server option '{opt}' is deprecated; use '{modern}' instead."),
            ),
            Support::Ignored(why) => diags.notice(
                &line.loc,
                format!("server option '{opt}' has no effect in halo: {why}."),
            ),
        }
        i = next;
    }
}

fn check_other_section(sec: &Section, cfg: &mut Config, diags: &mut Diags) {
    // Parse-level skeleton: every keyword must be known to its section; the semantics
    // come with the issue that owns the section.
    let mut recorded = false;
    for line in &sec.lines {
        if let Some((kw, n, _)) = lookup(sec.kind, line, diags)
            && let Support::Planned(issue) = kw.support
        {
            if !recorded {
                pending(
                    cfg,
                    &sec.header,
                    &format!("'{}' section", sec.kind.name()),
                    issue,
                );
                recorded = true;
            }
            let _ = n;
        }
    }
    if !recorded {
        pending(
            cfg,
            &sec.header,
            &format!("'{}' section", sec.kind.name()),
            0,
        );
    }
}

/// The words after `option forwarded`: which RFC 7239 parameters to send and how.
fn parse_forwarded(words: &[String]) -> Result<Forwarded, String> {
    let mut f = Forwarded::default();
    if words.is_empty() {
        f.proto = true;
        f.for_ = Some(None);
        return Ok(f);
    }
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let expr = || -> Result<Option<String>, String> {
            match words.get(i + 1) {
                Some(e) => Ok(Some(e.clone())),
                None => Err(format!("'{w}' expects a sample expression")),
            }
        };
        let (slot, value, step) = match w {
            "proto" => {
                f.proto = true;
                i += 1;
                continue;
            }
            "host" => (&mut f.host, None, 1),
            "host-expr" => (&mut f.host, expr()?, 2),
            "by" => (&mut f.by, None, 1),
            "by-expr" => (&mut f.by, expr()?, 2),
            "by_port" => (&mut f.by_port, None, 1),
            "by_port-expr" => (&mut f.by_port, expr()?, 2),
            "for" => (&mut f.for_, None, 1),
            "for-expr" => (&mut f.for_, expr()?, 2),
            "for_port" => (&mut f.for_port, None, 1),
            "for_port-expr" => (&mut f.for_port, expr()?, 2),
            other => {
                return Err(format!(
                    "unknown parameter '{other}' (expected proto, host, host-expr, by, by-expr, by_port, by_port-expr, for, for-expr, for_port or for_port-expr)"
                ));
            }
        };
        *slot = Some(value);
        i += step;
    }
    Ok(f)
}
