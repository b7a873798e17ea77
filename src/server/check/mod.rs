//! Health checks: one task per checked server, run at `inter` (`fastinter` while the
//! state is changing, `downinter` while DOWN), with HAProxy's rise/fall health counter.
//! Each check runs the backend's rule list (`rules`: plain connect, `option httpchk`,
//! `tcp-check`, built-in checks) through `run`.

pub mod agent;
pub mod external;
pub mod rules;
pub mod run;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{Backend, CheckResult, propagate, report_state_change, set_operational};

/// HAProxy's description of a check status (`check_desc`, state-change reasons).
pub fn status_desc(status: &str) -> &'static str {
    match status {
        "L4OK" => "Layer4 check passed",
        "L4TOUT" => "Layer4 timeout",
        "L4CON" => "Layer4 connection problem",
        "L6OK" => "Layer6 check passed",
        "L6TOUT" => "Layer6 timeout",
        "L6RSP" => "Layer6 invalid response",
        "L7OK" => "Layer7 check passed",
        "L7OKC" => "Layer7 check conditionally passed",
        "L7TOUT" => "Layer7 timeout",
        "L7RSP" => "Layer7 invalid response",
        "L7STS" => "Layer7 wrong status",
        "SOCKERR" => "Socket error",
        "INI" => "Initializing",
        "HANA" => "Health analyze",
        "PROCERR" => "External check error",
        "PROCTOUT" => "External check timeout",
        "PROCOK" => "External check passed",
        "CHECKED" => "No status change",
        _ => "Unknown",
    }
}

/// HAProxy's number for a check status (`show servers state` srv_check_status).
pub fn status_number(status: &str) -> u32 {
    match status {
        "INI" => 2,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "HANA" => 14,
        "PROCERR" => 18,
        "PROCTOUT" => 19,
        "PROCOK" => 20,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        _ => 0,
    }
}

/// Starts the check tasks of every checked server of a backend.
/// Process-wide settings of the check scheduler.
#[derive(Clone)]
pub struct CheckSettings {
    /// `spread-checks` (percent of random spread of each interval).
    pub spread_pct: u32,
    /// `max-spread-checks`: the longest delay before a first check (ms).
    pub max_spread: Option<u64>,
    /// `tune.max-checks-per-thread` × threads: checks running at once (None: no limit).
    pub running: Option<Arc<tokio::sync::Semaphore>>,
}

pub fn spawn_checks(be: &Arc<Backend>, settings: &CheckSettings, quiet: bool) {
    agent::spawn_agents(be, settings.spread_pct, quiet);
    // As HAProxy: the first checks are spread evenly over the shortest interval, the k-th
    // of n checked servers starting after inter·k/n (the first one at once).
    let checked: Vec<usize> = (0..be.servers.slots())
        .filter(|&i| be.servers[i].cfg.check)
        .collect();
    let min_inter = checked
        .iter()
        .map(|&i| be.servers[i].cfg.inter)
        .min()
        .unwrap_or(0);
    for (pos, &idx) in checked.iter().enumerate() {
        let mut first = min_inter * pos as u64 / checked.len() as u64;
        if let Some(max) = settings.max_spread {
            // `max-spread-checks` bounds the delay between the first and the last start.
            first = first.min(max * pos as u64 / checked.len() as u64);
        }
        spawn_check(be, idx, first, settings, quiet);
    }
}

/// Starts the check task of one server (and its agent's): `first` ms before the first
/// check. The task ends when the server is deleted (`del server`).
pub fn spawn_check(
    be: &Arc<Backend>,
    idx: usize,
    first: u64,
    settings: &CheckSettings,
    quiet: bool,
) {
    let be = be.clone();
    let spread_pct = settings.spread_pct;
    let running = settings.running.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(first)).await;
        loop {
            let srv = &be.servers[idx];
            if srv.deleted.load(Relaxed) {
                return;
            }
            if srv.check_off.load(Relaxed) {
                // `disable health`: the state stays as it is until checks resume.
                tokio::time::sleep(Duration::from_millis(srv.cfg.inter.max(1))).await;
                continue;
            }
            // `tune.max-checks-per-thread`: wait for a slot among the running checks.
            let permit = match &running {
                Some(s) => s.clone().acquire_owned().await.ok(),
                None => None,
            };
            let ok = run_one(&be, idx).await;
            drop(permit);
            if srv.deleted.load(Relaxed) {
                return;
            }
            apply_result(&be, idx, ok, quiet);
            let full = srv.cfg.rise + srv.cfg.fall - 1;
            let h = srv.health.load(Relaxed);
            let up = srv.up.load(Relaxed);
            let fast = srv.force_fastinter.swap(false, Relaxed);
            let mut wait = if fast {
                srv.cfg.fastinter.unwrap_or(srv.cfg.inter)
            } else if !up && h == 0 {
                srv.cfg.downinter.unwrap_or(srv.cfg.inter)
            } else if up && h >= full {
                srv.cfg.inter
            } else {
                srv.cfg.fastinter.unwrap_or(srv.cfg.inter)
            };
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

/// Runs one check; records its result; returns whether it passed.
async fn run_one(be: &Backend, idx: usize) -> bool {
    let srv = &be.servers[idx];
    if let Ok(mut c) = srv.check.lock() {
        c.in_progress = true;
    }
    let start = Instant::now();
    let o = if let Some(x) = &be.settings.external_check {
        // The program's time: `timeout check`, else `inter`.
        let limit = be.settings.check_timeout.unwrap_or(srv.cfg.inter);
        let (status, code, info) = external::run(be, idx, x, limit).await;
        run::Outcome { status, code, info }
    } else {
        let plan = be.settings.checks.clone();
        run::run(be, idx, &plan).await
    };
    let dur = start.elapsed().as_millis() as u64;
    let ok = run::passed(o.status) || o.status == "PROCOK";
    if let Ok(mut c) = srv.check.lock() {
        *c = CheckResult {
            status: o.status,
            code: o.code,
            duration_ms: Some(dur),
            desc: status_desc(o.status).into(),
            info: o.info,
            in_progress: false,
            reported: c.reported,
        };
    }
    ok
}

/// The `, reason: …, code: …, info: "…", check duration: …ms` part of a message.
fn reason(srv: &super::Server) -> String {
    let Ok(c) = srv.check.lock() else {
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

/// A traffic error `observe` counts, in HAProxy's words (the `info` of the DOWN message).
#[derive(Clone, Copy, Debug)]
pub enum Observed {
    /// The connection to the server was established (resets the count in `layer4` mode).
    L4Ok,
    /// A valid response head (resets the count).
    L7Ok,
    /// The connection to the server failed.
    L4Error,
    /// The server closed before a response head.
    HttpClosed,
    /// The response head was not valid HTTP.
    HttpInvalid,
    /// No response head within `timeout server`.
    HttpTimeout,
    /// A status outside 100-499, 501 and 505.
    HttpStatus,
}

impl Observed {
    fn text(self) -> &'static str {
        match self {
            Observed::L4Ok => "L4 successful connection",
            Observed::L7Ok => "Correct http response",
            Observed::L4Error => "L4 unsuccessful connection",
            Observed::HttpClosed => "Close from server (http)",
            Observed::HttpInvalid => "Invalid http response (headers)",
            Observed::HttpTimeout => "Read timeout (http)",
            Observed::HttpStatus => "Wrong http response",
        }
    }

    /// Whether an HTTP status is a valid answer for `observe layer7`.
    pub fn status_ok(status: u16) -> bool {
        (100..=499).contains(&status) || status == 501 || status == 505
    }
}

/// `observe`: one exchange with a server went well (`None`) or failed. After `error-limit`
/// consecutive failures, `on-error` acts on the server's health as a failed check would.
pub fn observe(be: &Backend, srv: &super::Server, what: Observed, quiet: bool) {
    use halo_config::model::{Observe, OnError};
    let mode = srv.cfg.observe;
    if mode == Observe::None || !srv.cfg.check {
        return;
    }
    match what {
        // As HAProxy: a connection is a success for `layer4`, says nothing for `layer7`.
        Observed::L4Ok if mode == Observe::Layer4 => {
            srv.observed_errors.store(0, Relaxed);
            return;
        }
        Observed::L4Ok => return,
        Observed::L7Ok => {
            srv.observed_errors.store(0, Relaxed);
            return;
        }
        Observed::L4Error => {}
        _ if mode == Observe::Layer4 => return,
        _ => {}
    }
    let n = srv.observed_errors.fetch_add(1, Relaxed) + 1;
    if n < srv.cfg.error_limit {
        return;
    }
    srv.observed_errors.store(0, Relaxed);
    srv.force_fastinter.store(true, Relaxed);
    let Some(idx) = be.index_of(srv) else {
        return;
    };
    let rise = srv.cfg.rise;
    let h = srv.health.load(Relaxed);
    match srv.cfg.on_error {
        OnError::FastInter => return,
        OnError::FailCheck => {}
        // One more failure marks the server down.
        OnError::SuddenDeath => srv.health.store(h.min(rise + 1), Relaxed),
        // Down at once.
        OnError::MarkDown => srv.health.store(h.min(rise), Relaxed),
    }
    if let Ok(mut c) = srv.check.lock() {
        c.status = "HANA";
        c.code = None;
        c.duration_ms = None;
        c.desc = status_desc("HANA").into();
        c.info = format!(
            "Detected {n} consecutive errors, last one was: {}",
            what.text()
        );
    }
    apply_result(be, idx, false, quiet);
}

/// Applies a check result to the rise/fall counter and changes the state when due.
pub fn apply_result(be: &Backend, idx: usize, ok: bool, quiet: bool) {
    let srv = &be.servers[idx];
    let rise = srv.cfg.rise;
    let fall = srv.cfg.fall;
    let full = rise + fall - 1;
    let up = srv.up.load(Relaxed);
    let h = srv.health.load(Relaxed);
    let (nolb, status_changed) = srv
        .check
        .lock()
        .map(|mut c| {
            let changed = c.status != c.reported;
            c.reported = c.status;
            (c.status == "L7OKC", changed)
        })
        .unwrap_or((false, false));
    // The health counter after this result (HAProxy's model), and whether it moved.
    let nh = if ok {
        // As HAProxy: once at `rise`, one success restores the full health.
        if h + 1 >= rise { full } else { h + 1 }
    } else if h > 0 {
        if h <= rise { 0 } else { h - 1 }
    } else {
        0
    };
    let log_checks = be.settings.log_health_checks;
    if log_checks && (status_changed || nh != h) {
        log_check(be, idx, ok, nolb, nh, quiet);
    }
    // With `option log-health-checks`, the state-change messages leave the check's
    // details to the line above.
    let why = |srv: &super::Server| {
        if log_checks {
            String::new()
        } else {
            reason(srv)
        }
    };
    let show = srv.admin() != super::Admin::Maint;
    if ok {
        srv.health.store(nh, Relaxed);
        if !up && h + 1 >= rise && srv.agent.allows_up() {
            srv.nolb.store(nolb, Relaxed);
            set_operational(be, idx, true);
            if show {
                report_state_change(be, idx, true, &why(srv), quiet);
            }
            propagate(be, idx, quiet);
        } else if up {
            // `disable-on-404`: a running server answering 404 only takes persistent
            // traffic (NOLB) until it answers 2xx/3xx again.
            let was = srv.nolb.swap(nolb, Relaxed);
            if was != nolb {
                be.weights_changed();
                if show {
                    if nolb {
                        super::report_stopping(be, idx, &why(srv), quiet);
                    } else {
                        report_state_change(be, idx, true, &why(srv), quiet);
                    }
                }
                propagate(be, idx, quiet);
            }
        }
    } else {
        // As HAProxy: a failure counts while it still lowers the health (not once the
        // server is down and stays down).
        if h > 0 {
            srv.chkfail.fetch_add(1, Relaxed);
        }
        srv.health.store(nh, Relaxed);
        if up && h <= rise {
            srv.nolb.store(false, Relaxed);
            set_operational(be, idx, false);
            if show {
                report_state_change(be, idx, false, &why(srv), quiet);
            }
            propagate(be, idx, quiet);
        }
    }
}

/// `option log-health-checks`: one line per change of check status or health, in
/// HAProxy's words ("Health check for server B/S failed, reason: …, status: 1/3 UP.").
fn log_check(be: &Backend, idx: usize, ok: bool, cond: bool, nh: u32, quiet: bool) {
    let srv = &be.servers[idx];
    let rise = srv.cfg.rise;
    let fall = srv.cfg.fall;
    let (a, b, word) = if nh >= rise {
        let w = if srv.uweight.load(Relaxed) > 0 {
            "UP"
        } else {
            "DRAIN"
        };
        (nh - rise + 1, fall, w)
    } else {
        (nh, rise, "DOWN")
    };
    let msg = format!(
        "Health check for {}server {}/{} {}{}{}, status: {a}/{b} {word}.",
        if srv.backup { "backup " } else { "" },
        be.name,
        srv.name,
        if ok && cond { "conditionally " } else { "" },
        if ok { "succeeded" } else { "failed" },
        reason(srv)
    );
    crate::server::announce(be, crate::log::LOG_NOTICE, false, &msg, quiet);
}
