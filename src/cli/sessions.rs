//! `show sess [ID|all]` and `shutdown session ID`: the process's sessions (ids written
//! as HAProxy writes its stream pointers, `0x…`), where they come from, which frontend,
//! backend and server they use, and how old they are. HAProxy leaves the format of these
//! dumps undocumented; halo keeps the leading fields tools read (`src=`, `fe=`, `be=`,
//! `srv=`, `age=`).

use std::fmt::Write;
use std::sync::Arc;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::server::sessions::{self, KillReason, SessionHandle};

pub fn execute(rt: &Runtime, level: CliLevel, w: &[&str]) -> Option<String> {
    Some(match w {
        ["show", "sess", rest @ ..] => {
            if level == CliLevel::User {
                return Some("Permission denied\n".into());
            }
            match rest.first() {
                None => sessions::all().iter().map(|h| short(rt, h)).collect(),
                Some(&"all") => sessions::all().iter().map(|h| long(rt, h)).collect(),
                Some(id) => match parse_id(id).and_then(sessions::find) {
                    Some(h) => long(rt, &h),
                    None => "Session not found.\n".into(),
                },
            }
        }
        ["shutdown", "session", rest @ ..] => {
            if level != CliLevel::Admin {
                return Some("Permission denied\n".into());
            }
            match rest.first().and_then(|id| parse_id(id)) {
                None => "Session pointer expected (use 'show sess').\n".into(),
                Some(id) => match sessions::find(id) {
                    Some(h) => {
                        h.kill(KillReason::Killed);
                        String::new()
                    }
                    None => "No such session (use 'show sess').\n".into(),
                },
            }
        }
        _ => return None,
    })
}

fn parse_id(s: &str) -> Option<u64> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u64::from_str_radix(hex, 16).ok()
}

fn proto(h: &SessionHandle) -> &'static str {
    match h.origin {
        Some(o) if o.unix => "unix_stream",
        Some(o) if o.src.is_ipv6() => "tcpv6",
        _ => "tcpv4",
    }
}

fn src(h: &SessionHandle) -> String {
    match h.origin {
        Some(o) if o.unix => "unix:1".into(),
        Some(o) => o.src.to_string(),
        None => "?".into(),
    }
}

fn names(rt: &Runtime, h: &SessionHandle) -> (String, String, String) {
    let fe = h
        .origin
        .and_then(|o| rt.proxies.get(o.frontend))
        .map_or("?".to_string(), |p| p.name.clone());
    let srv = h.server.lock().ok().and_then(|s| s.clone());
    match srv {
        Some(s) => (fe, s.backend_name.to_string(), s.name.clone()),
        None => (fe, "<NONE>".into(), "<none>".into()),
    }
}

fn age(h: &SessionHandle) -> String {
    crate::stats::page::human_duration(h.started.0.elapsed().as_secs())
}

fn short(rt: &Runtime, h: &Arc<SessionHandle>) -> String {
    let (fe, be, srv) = names(rt, h);
    format!(
        "0x{:x}: proto={} src={} fe={fe} be={be} srv={srv} ts=00 age={}\n",
        h.id,
        proto(h),
        src(h),
        age(h)
    )
}

fn long(rt: &Runtime, h: &Arc<SessionHandle>) -> String {
    let (fe, be, srv) = names(rt, h);
    let mut started = Vec::new();
    crate::log::time::log_ms(&mut started, crate::log::time::of(h.started.1));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "0x{:x}: [{}] id={} proto={} source={}",
        h.id,
        String::from_utf8_lossy(&started),
        h.id,
        proto(h),
        src(h)
    );
    let (fe_id, mode) = h
        .origin
        .and_then(|o| rt.proxies.get(o.frontend))
        .map_or((0, "tcp"), |p| {
            (p.id, p.frontend.as_ref().map_or("tcp", |f| f.mode.name()))
        });
    let dst = h.origin.map_or("?".to_string(), |o| {
        if o.unix {
            "unix:1".into()
        } else {
            o.dst.to_string()
        }
    });
    let _ = writeln!(o, "  frontend={fe} (id={fe_id} mode={mode}) addr={dst}");
    let _ = writeln!(o, "  backend={be}");
    let _ = writeln!(o, "  server={srv}");
    let _ = writeln!(o, "  age={}", age(h));
    o
}
