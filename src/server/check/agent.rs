//! Agent checks (`agent-check`): a periodic TCP exchange, beside the health check, whose
//! one-line ASCII answer sets the server's weight, maxconn, administrative state and
//! agent health, in HAProxy 2.6's words; also administrative state changes with their
//! messages (shared by the agent and the runtime API).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use halo_config::model::{self, Balance, HashMethod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::status_desc;
use crate::server::{Admin, Backend, CheckResult, Server, report_state_change, set_operational};
use crate::stats::now_sec;

/// The agent of one server: configuration (changeable at runtime) and last result.
#[derive(Debug, Default)]
pub struct Agent {
    /// `agent-check` with a port.
    pub configured: bool,
    /// Not paused by `disable agent`.
    pub enabled: AtomicBool,
    /// Agent health, 0..=rise+fall-1 (HAProxy: rise = fall = 1).
    pub health: AtomicU32,
    pub inter: u64,
    pub addr: Mutex<Option<IpAddr>>,
    pub port: AtomicU32,
    pub send: Mutex<Vec<u8>>,
    pub result: Mutex<CheckResult>,
}

pub const RISE: u32 = 1;
pub const FALL: u32 = 1;

impl Agent {
    pub fn new(cfg: &model::Server) -> Agent {
        let a = &cfg.agent;
        let configured = a.enabled && a.port.is_some();
        Agent {
            configured,
            enabled: AtomicBool::new(configured),
            health: AtomicU32::new(RISE),
            inter: a.inter.unwrap_or(cfg.inter).max(1),
            addr: Mutex::new(a.addr),
            port: AtomicU32::new(u32::from(a.port.unwrap_or(0))),
            send: Mutex::new(a.send.clone().unwrap_or_default().into_bytes()),
            result: Mutex::new(CheckResult::default()),
        }
    }

    /// Whether the agent runs (configured and not disabled).
    pub fn active(&self) -> bool {
        self.configured && self.enabled.load(Relaxed)
    }

    /// Whether the agent lets the server be up (no agent, or its health reached rise).
    pub fn allows_up(&self) -> bool {
        !self.active() || self.health.load(Relaxed) >= RISE
    }

    /// `srv_agent_state` of `show servers state`.
    pub fn state_number(&self) -> u32 {
        if !self.configured {
            return 0;
        }
        let busy = self.result.lock().map(|r| r.in_progress).unwrap_or(false);
        16 | 2 | if self.enabled.load(Relaxed) { 4 } else { 0 } | u32::from(busy)
    }
}

/// Starts the agent task of every server with an agent.
pub fn spawn_agents(be: &Arc<Backend>, spread_pct: u32, quiet: bool) {
    let with: Vec<usize> = (0..be.servers.slots())
        .filter(|&i| be.servers[i].agent.configured)
        .collect();
    let min_inter = with
        .iter()
        .map(|&i| be.servers[i].agent.inter)
        .min()
        .unwrap_or(0);
    for (pos, &idx) in with.iter().enumerate() {
        let first = min_inter * pos as u64 / with.len() as u64;
        spawn_agent(be, idx, first, spread_pct, quiet);
    }
}

/// Starts the agent task of one server, `first` ms before its first exchange; the task
/// ends when the server is deleted.
pub fn spawn_agent(be: &Arc<Backend>, idx: usize, first: u64, spread_pct: u32, quiet: bool) {
    let be = be.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(first)).await;
        loop {
            let srv = be.servers[idx].clone();
            if srv.deleted.load(Relaxed) {
                return;
            }
            let inter = srv.agent.inter;
            if srv.agent.enabled.load(Relaxed) {
                run_one(&be, idx, quiet).await;
            }
            let mut wait = inter;
            if spread_pct > 0 {
                let delta = wait * spread_pct as u64 / 100;
                if delta > 0 {
                    wait = wait - delta + fastrand::u64(0..=2 * delta);
                }
            }
            tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
        }
    });
}

/// What one exchange with the agent gave.
enum Exchange {
    /// The connection or the read failed: status and info, no effect on the server.
    Failed(&'static str, String),
    /// A complete line.
    Line(String),
}

async fn exchange(be: &Backend, srv: &Server) -> Exchange {
    let a = &srv.agent;
    let inter = a.inter;
    let start = Instant::now();
    let mut target = srv.addr.target(0);
    let addr = a.addr.lock().ok().and_then(|g| *g).or_else(|| {
        srv.cfg
            .check_addr
            .as_deref()
            .and_then(|s| s.parse::<IpAddr>().ok())
    });
    if let Some(ip) = addr {
        target = SocketAddr::new(ip, target.port());
    }
    target.set_port(a.port.load(Relaxed) as u16);
    let check_to = be.settings.check_timeout;
    let mut ct = inter;
    if check_to.is_some()
        && let Some(t) = be.settings.connect_timeout
    {
        ct = ct.min(t.max(1));
    }
    let res = tokio::time::timeout(
        Duration::from_millis(ct),
        crate::proxy::connect::connect(target, srv.source.as_ref(), Some(srv), None, None),
    )
    .await;
    let mut stream = match res {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Exchange::Failed("L4CON", super::run::io_reason(&e)),
        Err(_) => return Exchange::Failed("L4TOUT", String::new()),
    };
    let deadline = match check_to {
        Some(t) => Instant::now() + Duration::from_millis(t.max(1)),
        None => start + Duration::from_millis(inter),
    };
    let send = a.send.lock().map(|s| s.clone()).unwrap_or_default();
    // HAProxy 2.6 names the reading rule step 2, with or without `agent-send`.
    let step = 2;
    if !send.is_empty() {
        match tokio::time::timeout_at(deadline.into(), stream.write_all(&send)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Exchange::Failed("L4CON", super::run::io_reason(&e)),
            Err(_) => return Exchange::Failed("L7TOUT", String::new()),
        }
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.iter().position(|&c| c == b'\r' || c == b'\n') {
            buf.truncate(end);
            return Exchange::Line(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() >= 16384 {
            return Exchange::Failed("L7RSP", "Ignoring incomplete line from agent".into());
        }
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return if buf.is_empty() {
                    Exchange::Failed(
                        "L7RSP",
                        format!("TCPCHK got an empty response at step {step}"),
                    )
                } else {
                    Exchange::Failed("L7RSP", "Ignoring incomplete line from agent".into())
                };
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Exchange::Failed("L7TOUT", String::new()),
        }
    }
}

async fn run_one(be: &Backend, idx: usize, quiet: bool) {
    let srv = be.servers[idx].clone();
    if let Ok(mut r) = srv.agent.result.lock() {
        r.in_progress = true;
    }
    let start = Instant::now();
    let ex = exchange(be, &srv).await;
    let dur = Some(start.elapsed().as_millis() as u64);
    match ex {
        Exchange::Failed(status, info) => {
            // As HAProxy: failing to reach the agent says nothing about the server.
            record(&srv, status, None, dur, info);
        }
        Exchange::Line(line) => apply_line(be, idx, &line, dur, quiet),
    }
}

fn record(srv: &Server, status: &'static str, code: Option<u32>, dur: Option<u64>, info: String) {
    if let Ok(mut r) = srv.agent.result.lock() {
        let reported = r.reported;
        *r = CheckResult {
            status,
            code,
            duration_ms: dur,
            desc: status_desc(status).into(),
            info,
            in_progress: false,
            reported,
        };
    }
}

/// Applies the agent's answer, word by word as HAProxy 2.6 reads it.
pub fn apply_line(be: &Backend, idx: usize, line: &str, dur: Option<u64>, quiet: bool) {
    let srv = &be.servers[idx];
    let mut hs: Option<String> = None;
    let mut as_: Option<Admin> = None;
    let mut ps: Option<String> = None;
    let mut cs: Option<String> = None;
    let mut err: Option<String> = None;
    let mut desc = "";
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        if let Some(d) = rest.strip_prefix('#') {
            desc = d.trim_start_matches([' ', '\t']);
            break;
        }
        let end = rest.find([' ', '\t', ',']).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        let lw = word.to_ascii_lowercase();
        match lw.as_str() {
            "up" | "down" | "stopped" | "fail" => hs = Some(word.to_string()),
            "ready" => as_ = Some(Admin::Ready),
            "drain" => as_ = Some(Admin::Drain),
            "maint" => as_ = Some(Admin::Maint),
            _ if word.as_bytes()[0].is_ascii_digit() && word.contains('%') => {
                ps = Some(word.to_string())
            }
            _ if lw.starts_with("maxconn:") => cs = Some(word["maxconn:".len()..].to_string()),
            _ => {
                if err.is_none() {
                    err = Some(word.to_string());
                }
            }
        }
    }
    let desc = desc.trim_start_matches([' ', '\n']);
    if let Some(a) = as_ {
        set_admin(be, idx, a, quiet);
    }
    let mut wrn: Option<&'static str> = None;
    if let Some(p) = &ps {
        wrn = change_weight(be, idx, p);
    }
    if let Some(c) = &cs {
        let m = change_maxconn(be, idx, c);
        if wrn.is_none() {
            wrn = m;
        }
    }
    if let Some(h) = &hs {
        let up = h.eq_ignore_ascii_case("up");
        let (status, health) = if up {
            ("L7OK", RISE + FALL - 1)
        } else {
            ("L7STS", 0)
        };
        let mut msg = desc.to_string();
        if msg.is_empty() || up {
            if let Some(e) = &err {
                msg = e.clone();
            } else if let Some(w) = wrn {
                msg = w.to_string();
            }
        }
        let info = if msg.is_empty() {
            format!("via agent : {h}")
        } else {
            format!("via agent : {h} ({msg})")
        };
        srv.agent.health.store(health, Relaxed);
        record(srv, status, Some(0), dur, info);
        let reason = reason(srv);
        let is_up = srv.up.load(Relaxed);
        let show = srv.admin() != Admin::Maint;
        if up && !is_up && check_allows_up(srv) {
            set_operational(be, idx, true);
            if show {
                report_state_change(be, idx, true, &reason, quiet);
            }
        } else if !up && is_up {
            srv.nolb.store(false, Relaxed);
            set_operational(be, idx, false);
            if show {
                report_state_change(be, idx, false, &reason, quiet);
            }
        }
    } else if let Some(e) = err {
        record(
            srv,
            "CHECKED",
            None,
            dur,
            format!("agent reports an error : {e}"),
        );
    } else if let Some(w) = wrn {
        record(srv, "CHECKED", None, dur, format!("agent warns : {w}"));
    } else {
        record(srv, "CHECKED", None, dur, String::new());
    }
}

/// The health check lets the server be up (no check, or its health reached rise).
fn check_allows_up(srv: &Server) -> bool {
    !srv.checked() || srv.health.load(Relaxed) >= srv.cfg.rise
}

/// `, reason: …, code: …, info: "…", check duration: …ms` of the agent's last result.
fn reason(srv: &Server) -> String {
    let Ok(c) = srv.agent.result.lock() else {
        return String::new();
    };
    let mut s = format!(", reason: {}", c.desc);
    if let Some(code) = c.code {
        s.push_str(&format!(", code: {code}"));
    }
    if !c.info.is_empty() {
        s.push_str(&format!(", info: \"{}\"", c.info));
    }
    if let Some(d) = c.duration_ms {
        s.push_str(&format!(", check duration: {d}ms"));
    }
    s
}

/// Whether the backend's algorithm cannot change weights on the fly (HAProxy: only 0
/// and the initial weight are accepted then).
pub fn static_lb(be: &Backend) -> bool {
    match be.settings.balance {
        Balance::StaticRr => true,
        Balance::RoundRobin | Balance::LeastConn | Balance::First | Balance::Random(_) => false,
        _ => be.settings.hash_type.method == HashMethod::MapBased,
    }
}

/// A weight change (`N%` from the agent), HAProxy's warning when refused.
pub fn change_weight(be: &Backend, idx: usize, text: &str) -> Option<&'static str> {
    let srv = &be.servers[idx];
    let digits = text.bytes().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return Some("Empty weight string empty or preceded by garbage");
    }
    let mut w: u64 = text[..digits].parse().unwrap_or(u64::MAX);
    let end = &text[digits..];
    let iw = u64::from(srv.cfg.weight);
    if end == "%" {
        w = (w.min(25600) * iw / 100).min(256);
    } else if w > 256 {
        return Some("Absolute weight can only be between 0 and 256 inclusive.\n");
    } else if !end.is_empty() {
        return Some("Trailing garbage in weight string");
    }
    if w != 0 && w != iw && static_lb(be) {
        return Some(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
        );
    }
    srv.uweight.store(w as u32, Relaxed);
    be.weights_changed();
    None
}

/// A maxconn change (`maxconn:N` from the agent), HAProxy's warning when refused.
pub fn change_maxconn(be: &Backend, idx: usize, text: &str) -> Option<&'static str> {
    let digits = text
        .bytes()
        .enumerate()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == b'-' || c == b'+')))
        .count();
    if digits == 0 || text[..digits].parse::<i64>().is_err() {
        return Some("maxconn string empty or preceded by garbage");
    }
    if digits != text.len() {
        return Some("Trailing garbage in maxconn string");
    }
    let v = text
        .parse::<i64>()
        .unwrap_or(0)
        .clamp(0, i64::from(u32::MAX));
    be.servers[idx].maxconn.store(v as u32, Relaxed);
    be.process_queue();
    None
}

/// Changes a server's administrative state (runtime API, agent) with HAProxy's messages.
pub fn set_admin(be: &Backend, idx: usize, a: Admin, quiet: bool) {
    let srv = &be.servers[idx];
    let before = srv.own_admin();
    if before == a {
        return;
    }
    srv.admin.store(a as u8, Relaxed);
    srv.last_change.store(now_sec(), Relaxed);
    let (act, bck) = be.usable_counts();
    let (qlen, squeues) = be.queue_lengths();
    let inq = qlen + squeues.iter().sum::<usize>();
    let name = format!("{}/{}", be.name, srv.name);
    match a {
        Admin::Maint => {
            crate::server::announce(
                be,
                crate::log::LOG_ALERT,
                false,
                &format!(
                    "Server {name} is going DOWN for maintenance. {act} active and {bck} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                    srv.cur.load(Relaxed)
                ),
                quiet,
            );
            // As HAProxy 2.6: maintenance is a way down for `on-marked-down`.
            if srv.cfg.on_marked_down_shutdown {
                srv.sessions
                    .kill_all(crate::server::sessions::KillReason::Down);
            }
            be.requeue_from(idx);
        }
        Admin::Drain if before == Admin::Ready && srv.is_up() => {
            crate::server::announce(
                be,
                crate::log::LOG_NOTICE,
                false,
                &format!(
                    "Server {name} enters drain state. {act} active and {bck} backup servers online. 0 sessions requeued, {inq} total in queue."
                ),
                quiet,
            );
        }
        Admin::Ready if before == Admin::Drain && srv.is_up() => {
            crate::server::announce(
                be,
                crate::log::LOG_NOTICE,
                false,
                &format!("Server {name} is UP (leaving forced drain)."),
                quiet,
            );
        }
        _ if before == Admin::Maint && srv.up.load(Relaxed) => {
            let word = if a == Admin::Drain { "DRAIN" } else { "READY" };
            crate::server::announce(
                be,
                crate::log::LOG_NOTICE,
                false,
                &format!("Server {name} is UP/{word} (leaving forced maintenance)."),
                quiet,
            );
        }
        _ => {}
    }
    // Leaving maintenance is a way up for `on-marked-up`.
    if before == Admin::Maint && srv.is_up() {
        crate::server::on_marked_up(be, idx);
    }
    be.weights_changed();
}
