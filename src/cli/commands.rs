//! The runtime API's dispatcher (to `info`, `process`, `map`, `table`, `servers`, `ssl`) and
//! the commands on servers and backends: `help`, `show stat`, `show servers state`, `set
//! server …`, `set maxconn server`, `set rate-limit`, `publish backend`… in HAProxy's words.

use std::sync::atomic::Ordering::Relaxed;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::server::{Admin, report_state_change};
use crate::stats::now_sec;

const HELP: &str = "The following commands are valid at this level:
  help                                    : this message
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
  show info [desc|json|typed|float]*      : report information about the running process
  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server
  show errors [<iid>|<proxy>] [request|response] : report last request and/or response errors for each proxy
  show env [var]                          : dump environment variables known to the process
  show activity                           : show per-thread activity stats (for support/developers)
  show pools                              : report information about the memory pools usage
  show cli level                          : display the level of the current CLI session
  operator                                : lower the level of the current CLI session to operator
  user                                    : lower the level of the current CLI session to user
  set timeout [cli] <delay>               : change a timeout setting
  clear counters [all]                    : clear max statistics counters (or all counters)
  set maxconn frontend <frontend> <value> : change a frontend's maxconn setting
  set maxconn global <value>              : change the per-process maxconn setting
  disable frontend <frontend>             : temporarily disable specific frontend
  enable frontend <frontend>              : re-enable specific frontend
  shutdown frontend <frontend>            : stop a specific frontend
  show servers state [<backend>]          : dump volatile server information
  disable server <bk>/<srv>               : disable a server for maintenance (use 'set server' instead)
  enable server <bk>/<srv>                : enable a disabled server (use 'set server' instead)
  set server <bk>/<srv> state <st>        : change a server's administrative state (ready|drain|maint)
  set server <bk>/<srv> weight <w>        : change a server's weight
  set rate-limit <setting> <value>        : change a rate limiting value
  set maxconn server <bk>/<srv> <n>       : change a server's maxconn setting
  set server <bk>/<srv> addr <ip> [port <p>] : change a server's address
  set server <bk>/<srv> health <st>       : force a server's health (up|stopping|down)
  set server <bk>/<srv> check-port <port> : change the port of a server's health checks
  enable|disable health <bk>/<srv>        : resume or pause a server's health checks
  show backend                            : list backends in the current running config
  publish backend <bk>                    : let content switching select a backend
  unpublish backend <bk>                  : make content switching skip a backend
  shutdown sessions server <bk>/<srv>     : kill sessions on a server
  show sess [<id>|all]                    : report the list of current sessions or dump this exact session
  shutdown session [id]                   : kill a specific session
  add server <bk>/<srv> <addr> [args]*    : create a new server (see 'add server help')
  del server <bk>/<srv>                   : remove a server in maintenance
  abort ssl cert <certfile>               : abort a transaction for a certificate file
  add ssl crt-list <list> <cert> [opts]*  : add to crt-list file <list> a line <cert> or a payload
  commit ssl cert <certfile>              : commit a certificate file
  del ssl cert <certfile>                 : delete an unused certificate file
  del ssl crt-list <list> <cert[:line]>   : delete a line <cert> from crt-list file <list>
  new ssl cert <certfile>                 : create a new certificate file to be used in a crt-list or a directory
  set ssl cert <certfile> <payload>       : replace a certificate file
  show ssl cert [<certfile>]              : display the SSL certificates used in memory, or the details of a file
  show ssl crt-list [-n] [<list>]         : show the list of crt-lists or the content of a crt-list file <list>
";

/// The help text: these commands, then the map and ACL ones (cli/map.rs).
fn help() -> String {
    format!(
        "{HELP}{}{}{}",
        super::events::HELP,
        super::map::HELP,
        super::table::HELP
    )
}

/// Runs one command; `payload` holds the lines sent after a line ending with `<<`.
pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str], payload: Option<&[String]>) -> String {
    if let Some(out) = super::map::execute(rt, level, w, payload) {
        return out;
    }
    if let Some(out) = super::table::execute(rt, level, w) {
        return out;
    }
    if let Some(out) = super::servers::execute(rt, level, w) {
        return out;
    }
    if let Some(out) = super::sessions::execute(rt, level, w) {
        return out;
    }
    if let Some(out) = super::ssl::execute(rt, level, w, payload) {
        return out;
    }
    if let Some(out) = super::process::execute(rt, level, w) {
        return out;
    }
    match w {
        ["help", ..] => help(),
        ["show", "info", rest @ ..] => super::info::show_info(rt, rest),
        ["show", "env", rest @ ..] => super::info::show_env(level, rest),
        ["show", "activity", ..] => super::info::show_activity(rt),
        ["show", "pools", ..] => super::info::show_pools(),
        ["show", "events", rest @ ..] => match super::events::show(rt, level, rest) {
            super::events::Show::Done(s) => s,
            // Waiting is the connection's business (`serve`); here, what is there.
            super::events::Show::Wait { ring, from, sep } => {
                let mut out = Vec::new();
                super::events::dump(&ring, from, sep, &mut out);
                String::from_utf8_lossy(&out).into_owned()
            }
        },
        ["show", "stat", rest @ ..] => show_stat(rt, rest),
        ["show", "errors", rest @ ..] => {
            if level == CliLevel::User {
                return "Permission denied\n".into();
            }
            crate::stats::errors::show(rt, rest)
        }
        ["show", "servers", "state", rest @ ..] => show_servers_state(rt, rest.first().copied()),
        ["disable", "server", target] => admin_cmd(rt, level, target, Some(Admin::Maint)),
        ["enable", "server", target] => admin_cmd(rt, level, target, Some(Admin::Ready)),
        ["set", "server", target, "state", st] => {
            let a = match *st {
                "ready" => Admin::Ready,
                "drain" => Admin::Drain,
                "maint" => Admin::Maint,
                _ => {
                    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                        .into();
                }
            };
            admin_cmd(rt, level, target, Some(a))
        }
        ["set", "rate-limit", rest @ ..] => set_rate_limit(rt, level, rest),
        ["show", "backend", ..] => {
            let mut o = String::from("# name\n");
            for px in rt.proxies.iter().filter(|p| p.backend.is_some()) {
                o.push_str(&px.name);
                o.push('\n');
            }
            o
        }
        ["set", "maxconn", "server", rest @ ..] => set_maxconn_server(rt, level, rest),
        ["publish", "backend", name] => publish(rt, level, name, true),
        ["unpublish", "backend", name] => publish(rt, level, name, false),
        ["set", "server", target, "addr", rest @ ..] => set_server_addr(rt, level, target, rest),
        ["set", "server", target, "health", rest @ ..] => {
            set_health(rt, level, target, rest.first().copied())
        }
        ["set", "server", target, "agent", rest @ ..] => {
            set_agent(rt, level, target, rest.first().copied())
        }
        ["set", "server", target, "agent-addr", rest @ ..] => {
            with_server(rt, level, target, |be, idx| {
                let a = &be.servers[idx].agent;
                if !a.active() {
                    return "agent checks are not enabled on this server".into();
                }
                let Some(v) = rest.first() else {
                    return "set server <b>/<s> agent-addr requires an address and optionally a port.\n".into();
                };
                let Ok(ip) = v.parse::<std::net::IpAddr>() else {
                    return format!("invalid addr '{v}'");
                };
                if let Ok(mut g) = a.addr.lock() {
                    *g = Some(ip);
                }
                String::new()
            })
        }
        ["set", "server", target, "agent-port", rest @ ..] => {
            with_server(rt, level, target, |be, idx| {
                let a = &be.servers[idx].agent;
                if !a.active() {
                    return "agent checks are not enabled on this server".into();
                }
                let Some(v) = rest.first() else {
                    return "set server <b>/<s> agent-port requires a port.\n".into();
                };
                let Ok(p) = v.parse::<i64>() else {
                    return "provided port is not an integer".into();
                };
                let Ok(p) = u16::try_from(p) else {
                    return "provided port is invalid".into();
                };
                a.port.store(u32::from(p), Relaxed);
                String::new()
            })
        }
        ["set", "server", target, "agent-send", rest @ ..] => {
            with_server(rt, level, target, |be, idx| {
                let a = &be.servers[idx].agent;
                if !a.active() {
                    return "agent checks are not enabled on this server.\n".into();
                }
                if let Ok(mut g) = a.send.lock() {
                    *g = rest
                        .first()
                        .map(|s| s.as_bytes().to_vec())
                        .unwrap_or_default();
                }
                String::new()
            })
        }
        ["set", "server", target, "check-port", rest @ ..] => {
            let port = rest.first().copied();
            with_server(rt, level, target, |be, idx| {
                let srv = &be.servers[idx];
                if !srv.checked() {
                    return "health checks are not enabled on this server".into();
                }
                let Some(p) = port.and_then(|p| p.parse::<i64>().ok()) else {
                    return "provided port is not an integer".into();
                };
                let Ok(p) = u16::try_from(p) else {
                    return "provided port is invalid".into();
                };
                srv.check_port_rt.store(u32::from(p), Relaxed);
                String::new()
            })
        }
        ["enable" | "disable", "health", target] => {
            let on = w[0] == "enable";
            with_server(rt, level, target, |be, idx| {
                let srv = &be.servers[idx];
                if !srv.cfg.check {
                    return if on {
                        "Health check was not configured on this server, cannot enable.\n".into()
                    } else {
                        String::new()
                    };
                }
                srv.check_off.store(!on, Relaxed);
                String::new()
            })
        }
        ["enable" | "disable", "agent", target] => {
            let on = w[0] == "enable";
            with_server(rt, level, target, |be, idx| {
                let a = &be.servers[idx].agent;
                if !a.configured {
                    return if on {
                        "Agent was not configured on this server, cannot enable.\n".into()
                    } else {
                        String::new()
                    };
                }
                a.enabled.store(on, Relaxed);
                String::new()
            })
        }
        ["shutdown", "sessions", "server", rest @ ..] => {
            shutdown_server_sessions(rt, level, rest.first().copied().unwrap_or(""))
        }
        ["set", "server", target, "weight", wt] | ["set", "weight", target, wt] => {
            set_weight(rt, level, target, wt)
        }
        _ => format!("Unknown command: '{}'\n{}", w.join(" "), help()),
    }
}

fn need_admin(level: CliLevel) -> Option<String> {
    if level == CliLevel::Admin {
        None
    } else {
        Some("Permission denied\n".into())
    }
}

/// `publish backend` / `unpublish backend` (operator or admin level).
fn publish(rt: &Runtime, level: CliLevel, name: &str, on: bool) -> String {
    if !matches!(level, CliLevel::Admin | CliLevel::Operator) {
        return "Permission denied\n".into();
    }
    match rt.backend(name) {
        Some(be) => {
            be.published.store(on, Relaxed);
            String::new()
        }
        None => "No such backend.\n".into(),
    }
}

fn find<'a>(
    rt: &'a Runtime,
    target: &str,
) -> Result<(&'a std::sync::Arc<crate::server::Backend>, usize), String> {
    let Some((b, s)) = target.split_once('/') else {
        return Err("Require 'backend/server'.\n".into());
    };
    let Some(be) = rt.backend(b) else {
        return Err("No such backend.\n".into());
    };
    match be.find_server(s) {
        Some((i, _)) => Ok((be, i)),
        None => Err("No such server.\n".into()),
    }
}

/// `shutdown sessions server B/S` (admin level): ends every session the server serves.
fn shutdown_server_sessions(rt: &Runtime, level: CliLevel, target: &str) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    match find(rt, target) {
        Ok((be, idx)) => {
            be.servers[idx]
                .sessions
                .kill_all(crate::server::sessions::KillReason::Killed);
            String::new()
        }
        Err(e) => e,
    }
}

fn admin_cmd(rt: &Runtime, level: CliLevel, target: &str, a: Option<Admin>) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    let (be, idx) = match find(rt, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(a) = a else { return String::new() };
    let srv = &be.servers[idx];
    let before = srv.own_admin();
    if before == a {
        return String::new();
    }
    crate::server::check::agent::set_admin(be, idx, a, rt.quiet);
    if a == Admin::Maint {
        crate::server::note_availability(be, rt.quiet);
    } else if before == Admin::Maint {
        srv.start_ramp();
        crate::server::note_availability(be, rt.quiet);
    }
    // `track`: the servers tracking this one enter or leave maintenance with it.
    crate::server::propagate_maint(be, idx, rt.quiet);
    String::new()
}

/// `set server B/S addr IP [port P]` (admin level), answered as HAProxy does. New
/// connections (and health checks without their own `addr`) go to the new address; idle
/// connections to the old one are closed.
fn set_server_addr(rt: &Runtime, level: CliLevel, target: &str, args: &[&str]) -> String {
    use halo_config::addr::PortSpec;
    if let Some(e) = need_admin(level) {
        return e;
    }
    let (be, idx) = match find(rt, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(ip) = args.first() else {
        return "set server <b>/<s> addr requires an address and optionally a port.\n".into();
    };
    const BY: &str = " by 'stats socket command'\n";
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return format!("Invalid addr '{ip}'{BY}");
    };
    let srv = &be.servers[idx];
    let old = srv.addr.get();
    let mut new = old.clone();
    let mut parts = Vec::new();
    if ip == old.ip {
        parts.push("no need to change the addr".to_string());
    } else {
        parts.push(format!("IP changed from '{}' to '{ip}'", old.ip));
        new.ip = ip;
    }
    let port_text = |p: &PortSpec| match p {
        PortSpec::Fixed(p) => p.to_string(),
        PortSpec::Plus(n) => format!("+{n}"),
        PortSpec::Minus(n) => format!("-{n}"),
        PortSpec::None | PortSpec::Range(..) => "0".into(),
    };
    if let (Some(&"port"), Some(p)) = (args.get(1), args.get(2)) {
        let spec = if let Some(n) = p.strip_prefix('+').and_then(|n| n.parse().ok()) {
            Some(PortSpec::Plus(n))
        } else if let Some(n) = p.strip_prefix('-').and_then(|n| n.parse().ok()) {
            Some(PortSpec::Minus(n))
        } else {
            p.parse::<u16>().ok().map(|n| {
                if n == 0 {
                    PortSpec::None
                } else {
                    PortSpec::Fixed(n)
                }
            })
        };
        match spec {
            None => parts.push(format!("problem converting port '{p}' to an int")),
            Some(PortSpec::Plus(_) | PortSpec::Minus(_)) if srv.cfg.check_port.is_none() => {
                parts.push("can't change <port> to port map because it is incompatible with current health check port configuration (use 'port' statement from the 'server' directive.".into())
            }
            Some(s) if port_text(&s) == port_text(&old.port) => {
                parts.push("no need to change the port".into())
            }
            Some(s) => {
                parts.push(format!(
                    "port changed from '{}' to '{}'",
                    port_text(&old.port),
                    port_text(&s)
                ));
                new.port = s;
            }
        }
    }
    if new.ip != old.ip || port_text(&new.port) != port_text(&old.port) {
        srv.addr.set(new);
        srv.idle.purge(true, u64::from(srv.cur.load(Relaxed)));
    }
    // A server that had no address yet (a dynamic server named by a host name, `init-addr
    // none`) leaves its resolution maintenance with the one given here.
    if srv.addr_none.load(Relaxed) && !srv.addr.get().ip.is_unspecified() {
        srv.addr_none.store(false, Relaxed);
        if srv.rmaint.swap(false, Relaxed) {
            srv.last_change.store(now_sec(), Relaxed);
            srv.start_ramp();
            be.weights_changed();
            crate::server::note_availability(be, rt.quiet);
        }
    }
    format!("{}{BY}", parts.join(", "))
}

/// Runs `f` on the server `B/S` (admin level), or answers why not.
fn with_server(
    rt: &Runtime,
    level: CliLevel,
    target: &str,
    f: impl FnOnce(&std::sync::Arc<crate::server::Backend>, usize) -> String,
) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    match find(rt, target) {
        Ok((be, idx)) => f(be, idx),
        Err(e) => e,
    }
}

/// `set server B/S agent up|down`: forces the agent's verdict ("…, changed from CLI").
fn set_agent(rt: &Runtime, level: CliLevel, target: &str, st: Option<&str>) -> String {
    with_server(rt, level, target, |be, idx| {
        let srv = &be.servers[idx];
        if !srv.agent.active() {
            return "agent checks are not enabled on this server.\n".into();
        }
        let up = match st {
            Some("up") => true,
            Some("down") => false,
            _ => return "'set server <srv> agent' expects 'up' or 'down'.\n".into(),
        };
        let agent = crate::server::check::agent::RISE + crate::server::check::agent::FALL - 1;
        srv.agent.health.store(if up { agent } else { 0 }, Relaxed);
        let show = srv.admin() != Admin::Maint;
        let reason = ", changed from CLI";
        if up
            && !srv.up.load(Relaxed)
            && (!srv.checked() || srv.health.load(Relaxed) >= srv.cfg.rise)
        {
            crate::server::set_operational(be, idx, true);
            if show {
                report_state_change(be, idx, true, reason, rt.quiet);
            }
        } else if !up && srv.up.load(Relaxed) {
            srv.nolb.store(false, Relaxed);
            crate::server::set_operational(be, idx, false);
            if show {
                report_state_change(be, idx, false, reason, rt.quiet);
            }
        }
        String::new()
    })
}

/// `set server B/S health up|stopping|down`: forces the state checks would reach, with
/// HAProxy's messages ("…, changed from CLI"); also on servers without checks.
fn set_health(rt: &Runtime, level: CliLevel, target: &str, st: Option<&str>) -> String {
    with_server(rt, level, target, |be, idx| {
        let srv = &be.servers[idx];
        let full = srv.cfg.rise + srv.cfg.fall - 1;
        let quiet = rt.quiet;
        let reason = ", changed from CLI";
        let show = srv.admin() != Admin::Maint;
        match st {
            Some("up") => {
                srv.health.store(full, Relaxed);
                let was_nolb = srv.nolb.swap(false, Relaxed);
                if !srv.up.load(Relaxed) {
                    crate::server::set_operational(be, idx, true);
                    if show {
                        report_state_change(be, idx, true, reason, quiet);
                    }
                } else if was_nolb {
                    be.weights_changed();
                    if show {
                        report_state_change(be, idx, true, reason, quiet);
                    }
                }
            }
            Some("stopping") => {
                srv.health.store(full, Relaxed);
                if !srv.up.load(Relaxed) {
                    srv.nolb.store(true, Relaxed);
                    crate::server::set_operational(be, idx, true);
                    if show {
                        crate::server::report_stopping(be, idx, reason, quiet);
                    }
                } else if !srv.nolb.swap(true, Relaxed) {
                    be.weights_changed();
                    if show {
                        crate::server::report_stopping(be, idx, reason, quiet);
                    }
                }
            }
            Some("down") => {
                srv.health.store(0, Relaxed);
                srv.nolb.store(false, Relaxed);
                if srv.up.load(Relaxed) {
                    crate::server::set_operational(be, idx, false);
                    if show {
                        report_state_change(be, idx, false, reason, quiet);
                    }
                }
            }
            _ => {
                return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into();
            }
        }
        crate::server::propagate(be, idx, quiet);
        String::new()
    })
}

/// `set maxconn server B/S N` (admin level): queued connections the new limit lets in go
/// to the server at once.
fn set_maxconn_server(rt: &Runtime, level: CliLevel, args: &[&str]) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    let Some(target) = args.first() else {
        return "Require 'backend/server'.\n".into();
    };
    let (be, idx) = match find(rt, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(v) = args.get(1) else {
        return "Require <maxconn>.\n".into();
    };
    let Ok(v) = v.parse::<u32>() else {
        return "maxconn string empty or preceded by garbage".into();
    };
    be.servers[idx].maxconn.store(v, Relaxed);
    be.process_queue();
    String::new()
}

/// `set rate-limit connections|sessions global N` (admin level), HAProxy's answers.
fn set_rate_limit(rt: &Runtime, level: CliLevel, args: &[&str]) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    let rate = match args {
        ["connections", "global", ..] => &rt.conn_rate,
        ["sessions", "global", ..] => &rt.sess_rate,
        _ => {
            return "'set rate-limit' only supports :\n   - 'connections global' to set the per-process maximum connection rate\n   - 'sessions global' to set the per-process maximum session rate\n   - 'ssl-sessions global' to set the per-process maximum SSL session rate\n".into();
        }
    };
    let Some(v) = args.get(2) else {
        return "Expects an integer value.\n".into();
    };
    // As HAProxy's atoi: leading digits, anything else is 0 (no limit).
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    rate.set_limit(digits.parse().unwrap_or(0));
    String::new()
}

fn set_weight(rt: &Runtime, level: CliLevel, target: &str, wt: &str) -> String {
    if let Some(e) = need_admin(level) {
        return e;
    }
    let (be, idx) = match find(rt, target) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let srv = &be.servers[idx];
    let cfg = srv.cfg.weight;
    let v = if let Some(p) = wt.strip_suffix('%') {
        match p.parse::<u32>() {
            Ok(p) => cfg * p / 100,
            Err(_) => return "Require <weight> or <weight%>.\n".into(),
        }
    } else {
        match wt.parse::<u32>() {
            Ok(v) => v,
            Err(_) => return "Require <weight> or <weight%>.\n".into(),
        }
    };
    if v > 256 {
        return "Absolute weight can only be between 0 and 256 inclusive.\n".into();
    }
    srv.uweight.store(v, Relaxed);
    be.weights_changed();
    String::new()
}

fn show_servers_state(rt: &Runtime, only: Option<&str>) -> String {
    let mut o = String::from(
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n",
    );
    let now = now_sec();
    if let Some(b) = only
        && rt.backend(b).is_none()
    {
        return "Can't find backend.\n".into();
    }
    for px in &rt.proxies {
        let Some(be) = &px.backend else { continue };
        if only.map(|b| b != px.name).unwrap_or(false) {
            continue;
        }
        for s in be.servers.iter() {
            // As HAProxy: a server in maintenance is stopped, its check health at 0.
            let maint = s.admin() == Admin::Maint;
            let op = if !s.up.load(Relaxed) || maint {
                0
            } else if s.nolb.load(Relaxed) {
                3
            } else {
                2
            };
            let op = if s.rmaint.load(Relaxed) { 0 } else { op };
            // The name resolved at run time (`resolvers`), else "-".
            // An SRV label: the target its record gave, and the label as `srvrecord`.
            let target = s.srv_target.lock().ok().and_then(|t| t.clone());
            let (fqdn, srvrecord) = match (&s.cfg.resolvers, &s.cfg.address) {
                (Some(_), Some(halo_config::addr::Address::Inet { host, ip: None, .. }))
                    if host.starts_with('_') =>
                {
                    (target.clone().unwrap_or_else(|| "-".into()), host.clone())
                }
                (Some(_), Some(halo_config::addr::Address::Inet { host, ip: None, .. })) => {
                    (host.clone(), "-".to_string())
                }
                _ => ("-".to_string(), "-".to_string()),
            };
            // HAProxy's flags: 0x1 forced maintenance, 0x4 `disabled` in the configuration
            // (kept after `set server … state ready`, so a reload tells both apart), 0x8
            // drain, 0x20 resolution.
            // Maintenance inherited through `track` is 0x2, not forced.
            let admin = match s.own_admin() {
                Admin::Ready => 0,
                Admin::Maint => 1,
                Admin::Drain => 8,
            } | if s.links.maint_via.load(Relaxed) {
                2
            } else {
                0
            } | if s.cfg.disabled { 4 } else { 0 }
                | if s.rmaint.load(Relaxed) { 32 } else { 0 }
                | if target.is_some() { 64 } else { 0 };
            let (chk_status, chk_result, chk_state) = if s.cfg.check {
                let enabled = if s.checked() { 4 } else { 0 };
                let (st, busy) = s
                    .check
                    .lock()
                    .map(|c| (c.status, c.in_progress))
                    .unwrap_or(("", false));
                let result = if busy {
                    0
                } else if st == "L7OKC" {
                    4
                } else if s.up.load(Relaxed) {
                    3
                } else {
                    2
                };
                let paused = if s.admin() == Admin::Maint { 8 } else { 0 };
                (
                    crate::server::check::status_number(st),
                    result,
                    2 | enabled | paused | u8::from(busy),
                )
            } else {
                (1, 0, 0)
            };
            let port = s.addr.target(0).port();
            o.push_str(&format!(
                "{} {} {} {} {} {op} {admin} {} {} {} {chk_status} {chk_result} {} {chk_state} {} {} {} {fqdn} {port} {srvrecord} 0 {} {} {} {}\n",
                px.id,
                px.name,
                s.id,
                s.name,
                if s.addr_none.load(Relaxed) {
                    "-".to_string()
                } else {
                    s.addr.get().ip.to_string()
                },
                s.uweight.load(Relaxed),
                s.cfg.weight,
                now.saturating_sub(s.last_change.load(Relaxed)),
                if maint || !s.cfg.check {
                    0
                } else {
                    s.health.load(Relaxed)
                },
                s.agent.state_number(),
                0,
                u8::from(s.cfg.id.is_some()),
                s.check_port().unwrap_or(0),
                s.cfg.check_addr.clone().unwrap_or_else(|| "-".into()),
                s.agent
                    .addr
                    .lock()
                    .ok()
                    .and_then(|a| a.map(|ip| ip.to_string()))
                    .unwrap_or_else(|| "-".into()),
                if s.agent.configured {
                    s.agent.port.load(Relaxed)
                } else {
                    0
                },
            ));
        }
    }
    o
}

/// `show stat [{IID|PROXY} TYPE SID] [typed|json] [up] [no-maint] [desc]`: CSV by default.
fn show_stat(rt: &Runtime, args: &[&str]) -> String {
    let mut filter = crate::stats::csv::Filter::default();
    let (mut typed, mut json) = (false, false);
    let mut pos = Vec::new();
    for a in args {
        match *a {
            "typed" => typed = true,
            "json" => json = true,
            "up" => filter.up_only = true,
            "no-maint" => filter.no_maint = true,
            "desc" => {}
            other => pos.push(other),
        }
    }
    if let [iid, kinds, sid, ..] = pos[..] {
        if iid != "-1" {
            let px = match iid.parse::<u32>() {
                Ok(id) => rt.proxies.iter().find(|p| p.id == id),
                Err(_) => rt.proxies.iter().find(|p| p.name == iid),
            };
            match px {
                Some(p) => filter.iid = Some(p.id),
                None => return "No such proxy.\n".to_string(),
            }
        }
        filter.kinds = match kinds.parse::<i32>() {
            Ok(-1) => 15,
            Ok(k) if k >= 0 => k as u8 & 15,
            _ => return "Invalid type.\n".to_string(),
        };
        if sid != "-1" {
            match sid.parse::<u32>() {
                Ok(s) => filter.sid = Some(s),
                Err(_) => return "Invalid server id.\n".to_string(),
            }
        }
    }
    let mut rows = crate::stats::csv::rows(rt, &|_| true);
    live_frontend_columns(rt, &mut rows);
    let rows: Vec<_> = rows.into_iter().filter(|r| filter.keeps(r)).collect();
    if json {
        crate::stats::typed::render_json(&rows)
    } else if typed {
        crate::stats::typed::render_typed(&rows)
    } else {
        let mut out = String::from(crate::stats::csv::HEADER);
        out.push('\n');
        for r in &rows {
            r.write(&mut out);
        }
        out
    }
}

/// The frontends' columns the runtime API changes: `slim` (`set maxconn frontend`) and
/// `status` (`PAUSED` after `disable frontend`, `STOP` after `shutdown frontend`).
fn live_frontend_columns(rt: &Runtime, rows: &mut [crate::stats::csv::Row]) {
    use crate::runtime::control;
    for r in rows
        .iter_mut()
        .filter(|r| r.obj == crate::stats::csv::Obj::Frontend)
    {
        let Some((i, px)) = rt.proxies.iter().enumerate().find(|(_, p)| p.id == r.iid) else {
            continue;
        };
        if let Some(max) = control::frontend_maxconn(i) {
            r.set("slim", max);
        }
        match px.frontend.as_ref().map(|f| f.state.load(Relaxed)) {
            Some(control::FE_PAUSED) => r.set("status", "PAUSED"),
            Some(control::FE_STOPPED) => r.set("status", "STOP"),
            _ => {}
        }
    }
}
