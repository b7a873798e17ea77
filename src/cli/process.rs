//! Runtime API commands on the process and its frontends: `set maxconn global|frontend`,
//! `disable|enable|shutdown frontend`, `clear counters [all]`. Answers and levels are HAProxy
//! 2.6's (these need `admin`, but `clear counters` is `operator`'s).

use std::sync::atomic::Ordering::Relaxed;

use halo_config::model::CliLevel;

use super::PERMISSION_DENIED;
use crate::compile::{ProxyRt, Runtime};
use crate::runtime::control::{self, FE_PAUSED, FE_READY, FE_STOPPED};
use crate::runtime::log;

/// Runs a command of this family (None: not one).
pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str]) -> Option<String> {
    Some(match w {
        ["set", "maxconn", "frontend", rest @ ..] => admin(level, || set_maxconn_fe(rt, rest)),
        ["set", "maxconn", "global", rest @ ..] => admin(level, || set_maxconn_global(rest)),
        ["disable", "frontend", rest @ ..] => admin(level, || disable(rt, rest)),
        ["enable", "frontend", rest @ ..] => admin(level, || enable(rt, rest)),
        ["shutdown", "frontend", rest @ ..] => admin(level, || shutdown(rt, rest)),
        ["clear", "counters", rest @ ..] => clear_counters(rt, level, rest.first() == Some(&"all")),
        _ => return None,
    })
}

fn admin(level: CliLevel, f: impl FnOnce() -> String) -> String {
    if level < CliLevel::Admin {
        PERMISSION_DENIED.into()
    } else {
        f()
    }
}

/// C's `atoi`: an optional sign and the leading digits, 0 without any.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = rest
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, b| {
            v.saturating_mul(10).saturating_add(i64::from(b - b'0'))
        });
    if neg { -v } else { v }
}

/// The frontend named by the first argument (or `#ID`), with its controls.
fn find_frontend<'a>(
    rt: &'a Runtime,
    args: &[&str],
) -> Result<(usize, &'a ProxyRt, &'a control::FrontendCtl), String> {
    let Some(name) = args.first() else {
        return Err("A frontend name is expected.\n".into());
    };
    let by_id = name.strip_prefix('#').and_then(|id| id.parse::<u32>().ok());
    let found = rt.proxies.iter().enumerate().find(|(_, p)| {
        p.frontend.is_some()
            && match by_id {
                Some(id) => p.id == id,
                None => p.name == *name,
            }
    });
    let ctl = control::get();
    match found {
        Some((i, p)) => match ctl.and_then(|c| c.frontend(i)) {
            Some(f) => Ok((i, p, f)),
            None => Err("No such frontend.\n".into()),
        },
        None => Err("No such frontend.\n".into()),
    }
}

/// `set maxconn frontend <fe> <n>`: the frontend's limit, effective at once (connections
/// waiting in the kernel's queue are accepted when it is raised).
fn set_maxconn_fe(rt: &Runtime, args: &[&str]) -> String {
    let (_, _, f) = match find_frontend(rt, args) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(v) = args.get(1) else {
        return "Integer value expected.\n".into();
    };
    let v = atoi(v);
    if v < 0 {
        return "Value out of range.\n".into();
    }
    f.limit.set(v.min(i64::from(u32::MAX)) as u32);
    String::new()
}

/// `set maxconn global <n>`: the process's limit, up to the one it started with (0 or less:
/// that one).
fn set_maxconn_global(args: &[&str]) -> String {
    let Some(v) = args.first() else {
        return "Expects an integer value.\n".into();
    };
    let Some(c) = control::get() else {
        return String::new();
    };
    let v = atoi(v);
    if v > i64::from(c.hard_maxconn) {
        return "Value out of range.\n".into();
    }
    c.global.set(if v <= 0 { c.hard_maxconn } else { v as u32 });
    String::new()
}

fn state_of(p: &ProxyRt) -> Option<&std::sync::atomic::AtomicU8> {
    p.frontend.as_ref().map(|f| &f.state)
}

/// `disable frontend <fe>`: its listeners stop accepting; TCP ones refuse connections
/// (HAProxy's pause on Linux) but keep their port.
fn disable(rt: &Runtime, args: &[&str]) -> String {
    let (_, p, f) = match find_frontend(rt, args) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(state) = state_of(p) else {
        return "No such frontend.\n".into();
    };
    match state.load(Relaxed) {
        FE_STOPPED => return "Frontend was previously shut down, cannot disable.\n".into(),
        FE_PAUSED => return "All sockets are already disabled.\n".into(),
        _ => {}
    }
    f.switch(state, FE_PAUSED);
    if let Some(fe) = &p.frontend {
        fe.paused.store(true, Relaxed);
    }
    log::warning(&format!("Paused {} {}.", p.kind.name(), p.name), rt.quiet);
    String::new()
}

/// `enable frontend <fe>`: accepting again.
fn enable(rt: &Runtime, args: &[&str]) -> String {
    let (_, p, f) = match find_frontend(rt, args) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(state) = state_of(p) else {
        return "No such frontend.\n".into();
    };
    match state.load(Relaxed) {
        FE_STOPPED => return "Frontend was previously shut down, cannot enable.\n".into(),
        FE_READY => return "All sockets are already enabled.\n".into(),
        _ => {}
    }
    if let Some(fe) = &p.frontend {
        fe.paused.store(false, Relaxed);
    }
    f.switch(state, FE_READY);
    log::warning(&format!("Resumed {} {}.", p.kind.name(), p.name), rt.quiet);
    String::new()
}

/// `shutdown frontend <fe>`: its listeners close for good (sessions in progress go on).
fn shutdown(rt: &Runtime, args: &[&str]) -> String {
    let (_, p, f) = match find_frontend(rt, args) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(state) = state_of(p) else {
        return "No such frontend.\n".into();
    };
    if state.load(Relaxed) == FE_STOPPED {
        return "Frontend was already shut down.\n".into();
    }
    f.switch(state, FE_STOPPED);
    if let Some(fe) = &p.frontend {
        fe.paused.store(true, Relaxed);
    }
    if let Some(c) = control::get() {
        let _ = c
            .listeners
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(f.listeners)));
    }
    let fe_conns = p
        .frontend
        .as_ref()
        .map_or(0, |f| f.counters.stot.load(Relaxed));
    let be_conns = p
        .backend
        .as_ref()
        .map_or(0, |b| b.counters.stot.load(Relaxed));
    log::warning(
        &format!(
            "Proxy {} stopped (cumulated conns: FE: {fe_conns}, BE: {be_conns}).",
            p.name
        ),
        rt.quiet,
    );
    String::new()
}

/// `clear counters` (operator): the maxima of every proxy, server and of the process, and
/// the activity counters; `clear counters all` (admin): every counter.
fn clear_counters(rt: &Runtime, level: CliLevel, all: bool) -> String {
    if level < CliLevel::Operator || (all && level < CliLevel::Admin) {
        return PERMISSION_DENIED.into();
    }
    let clear = |c: &crate::stats::Counters| {
        if all {
            c.clear_all();
        } else {
            c.clear_max();
        }
    };
    for p in &rt.proxies {
        if let Some(fe) = &p.frontend {
            clear(&fe.counters);
        }
        if let Some(be) = &p.backend {
            clear(&be.counters);
            for s in be.servers.iter() {
                clear(&s.counters);
                if all {
                    for c in [&s.chkfail, &s.chkdown, &s.idle.connects, &s.idle.reuses] {
                        c.store(0, Relaxed);
                    }
                }
            }
        }
    }
    for r in [&rt.conn_rate, &rt.sess_rate, &rt.ssl_rate] {
        r.clear_max();
    }
    if let Some(c) = control::get() {
        c.clear_activity();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_as_c() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi("12x"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-5"), -5);
        assert_eq!(atoi("+7"), 7);
    }
}
