//! Runtime API commands of this issue: `help`, `show info`, `show stat`, `show servers
//! state`, `disable/enable server`, `set server B/S state|weight`, `publish/unpublish
//! backend`. Answers and error lines
//! follow HAProxy's wording.

use std::sync::atomic::Ordering::Relaxed;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::server::{Admin, report_state_change};
use crate::stats::{csv, now_sec};

const HELP: &str = "The following commands are valid at this level:
  help                                    : this message
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
  show info                               : report information about the running process
  show stat                               : report counters for each proxy and server
  show servers state [<backend>]          : dump volatile server information
  disable server <bk>/<srv>               : disable a server for maintenance (use 'set server' instead)
  enable server <bk>/<srv>                : enable a disabled server (use 'set server' instead)
  set server <bk>/<srv> state <st>        : change a server's administrative state (ready|drain|maint)
  set server <bk>/<srv> weight <w>        : change a server's weight
  publish backend <bk>                    : let content switching select a backend
  unpublish backend <bk>                  : make content switching skip a backend
";

/// The help text: these commands, then the map and ACL ones (cli/map.rs).
fn help() -> String {
    format!("{HELP}{}{}", super::map::HELP, super::table::HELP)
}

/// Runs one command; `payload` holds the lines sent after a line ending with `<<`.
pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str], payload: Option<&[String]>) -> String {
    if let Some(out) = super::map::execute(rt, level, w, payload) {
        return out;
    }
    if let Some(out) = super::table::execute(rt, level, w) {
        return out;
    }
    match w {
        ["help", ..] => help(),
        ["show", "info", ..] => show_info(rt),
        ["show", "stat", ..] => csv::render(rt),
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
        ["publish", "backend", name] => publish(rt, level, name, true),
        ["unpublish", "backend", name] => publish(rt, level, name, false),
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
    let before = srv.admin();
    if before == a {
        return String::new();
    }
    let was_usable = srv.usable();
    srv.admin.store(a as u8, Relaxed);
    srv.last_change.store(now_sec(), Relaxed);
    if a == Admin::Maint {
        crate::runtime::log::warning(
            &format!(
                "Server {}/{} is going DOWN for maintenance. {} active and {} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                be.name,
                srv.name,
                be.usable_counts().0,
                be.usable_counts().1,
                srv.cur.load(Relaxed)
            ),
            rt.quiet,
        );
        be.requeue_from(idx);
    } else if before == Admin::Maint && srv.usable() && !was_usable {
        report_state_change(be, idx, true, " (leaving forced maintenance)", rt.quiet);
    }
    be.weights_changed();
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

fn show_info(rt: &Runtime) -> String {
    let up = now_sec().saturating_sub(rt.start_sec);
    let (d, h, m, s) = (up / 86400, (up / 3600) % 24, (up / 60) % 60, up % 60);
    let threads = rt.global.nbthread.unwrap_or(1);
    let mut o = String::new();
    let mut kv = |k: &str, v: String| {
        o.push_str(k);
        o.push_str(": ");
        o.push_str(&v);
        o.push('\n');
    };
    kv("Name", "halo".into());
    kv("Version", crate::VERSION.into());
    kv("Release_date", crate::RELEASE_DATE.into());
    kv("Nbthread", threads.to_string());
    kv("Nbproc", "1".into());
    kv("Process_num", "1".into());
    kv("Pid", std::process::id().to_string());
    kv("Uptime", format!("{d}d {h}h{m:02}m{s:02}s"));
    kv("Uptime_sec", up.to_string());
    kv("Memmax_MB", "0".into());
    kv("Ulimit-n", crate::runtime::fd_limit().to_string());
    kv("Maxsock", crate::runtime::fd_limit().to_string());
    kv("Maxconn", rt.maxconn.to_string());
    kv("Hard_maxconn", rt.maxconn.to_string());
    kv("CurrConns", rt.cur_conns.load(Relaxed).to_string());
    kv("CumConns", rt.cum_conns.load(Relaxed).to_string());
    kv("CumReq", "0".into());
    kv("ConnRate", "0".into());
    kv("Stopping", u8::from(rt.stopping.load(Relaxed)).to_string());
    kv(
        "node",
        rt.global
            .node
            .clone()
            .unwrap_or_else(crate::runtime::hostname),
    );
    if let Some(desc) = &rt.global.description {
        kv("description", desc.clone());
    }
    kv("Jobs", rt.cur_conns.load(Relaxed).to_string());
    kv("Start_time_sec", rt.start_sec.to_string());
    o
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
        for s in &be.servers {
            let op = if !s.up.load(Relaxed) {
                0
            } else if s.nolb.load(Relaxed) {
                3
            } else {
                2
            };
            let admin = match s.admin() {
                Admin::Ready => 0,
                Admin::Maint => 1,
                Admin::Drain => 8,
            };
            let (chk_status, chk_result, chk_state) = if s.cfg.check {
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
                (
                    crate::server::check::status_number(st),
                    result,
                    if busy { 7 } else { 6 },
                )
            } else {
                (1, 0, 0)
            };
            let port = s.addr.target(0).port();
            o.push_str(&format!(
                "{} {} {} {} {} {op} {admin} {} {} {} {chk_status} {chk_result} {} {chk_state} 0 {} {} - {port} - 0 {} {} - 0\n",
                px.id,
                px.name,
                s.id,
                s.name,
                s.addr.ip,
                s.uweight.load(Relaxed),
                s.cfg.weight,
                now.saturating_sub(s.last_change.load(Relaxed)),
                s.health.load(Relaxed),
                0,
                u8::from(s.cfg.id.is_some()),
                s.cfg.check_port.unwrap_or(0),
                s.cfg.check_addr.clone().unwrap_or_else(|| "-".into()),
            ));
        }
    }
    o
}
