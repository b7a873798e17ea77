//! Health checks: one task per checked server, run at `inter` (`fastinter` while the
//! state is changing, `downinter` while DOWN), with HAProxy's rise/fall health counter.
//! This issue brings the layer-4 check (a TCP connect); HTTP and scripted checks come
//! with their own issue and plug in at `run_one`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{Backend, CheckResult, report_state_change, set_operational};

/// Starts the check tasks of every checked server of a backend.
pub fn spawn_checks(be: &Arc<Backend>, spread_pct: u32, quiet: bool) {
    for (idx, srv) in be.servers.iter().enumerate() {
        if !srv.cfg.check {
            continue;
        }
        let be = be.clone();
        // Spread the first checks over one interval so they do not all fire at once.
        let first = fastrand::u64(0..=srv.cfg.inter.max(1));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(first)).await;
            loop {
                let ok = run_one(&be, idx).await;
                apply_result(&be, idx, ok, quiet);
                let srv = &be.servers[idx];
                let full = srv.cfg.rise + srv.cfg.fall - 1;
                let h = srv.health.load(Relaxed);
                let up = srv.up.load(Relaxed);
                let mut wait = if !up && h == 0 {
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
}

/// Runs one check; records its result; returns whether it passed.
async fn run_one(be: &Backend, idx: usize) -> bool {
    let srv = &be.servers[idx];
    let mut target = srv.addr.target(0);
    if let Some(a) = &srv.cfg.check_addr
        && let Ok(ip) = a.parse()
    {
        target.set_ip(ip);
    }
    if let Some(p) = srv.cfg.check_port {
        target.set_port(p);
    }
    // The connect part of a check is bounded by `timeout connect`, or `inter` if unset;
    // `timeout check`, when set, bounds it further.
    let mut limit = be.settings.connect_timeout.unwrap_or(srv.cfg.inter);
    if let Some(t) = be.settings.check_timeout {
        limit = limit.min(t.max(1));
    }
    let start = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_millis(limit.max(1)),
        TcpStream::connect(target),
    )
    .await;
    let dur = start.elapsed().as_millis() as u64;
    let (ok, result) = match res {
        Ok(Ok(_stream)) => (
            true,
            CheckResult {
                status: "L4OK",
                code: None,
                duration_ms: Some(dur),
                desc: "Layer4 check passed".into(),
            },
        ),
        Ok(Err(e)) => (
            false,
            CheckResult {
                status: "L4CON",
                code: None,
                duration_ms: Some(dur),
                desc: format!("Layer4 connection problem, info: \"{}\"", io_reason(&e)),
            },
        ),
        Err(_) => (
            false,
            CheckResult {
                status: "L4TOUT",
                code: None,
                duration_ms: Some(dur),
                desc: "Layer4 timeout".into(),
            },
        ),
    };
    if let Ok(mut c) = srv.check.lock() {
        *c = result;
    }
    ok
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "Connection reset by peer".into(),
        std::io::ErrorKind::TimedOut => "Connection timed out".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Applies a check result to the rise/fall counter and changes the state when due.
pub fn apply_result(be: &Backend, idx: usize, ok: bool, quiet: bool) {
    let srv = &be.servers[idx];
    let rise = srv.cfg.rise;
    let fall = srv.cfg.fall;
    let full = rise + fall - 1;
    let up = srv.up.load(Relaxed);
    let h = srv.health.load(Relaxed);
    let (desc, dur) = match srv.check.lock() {
        Ok(c) => (c.desc.clone(), c.duration_ms.unwrap_or(0)),
        Err(_) => (String::new(), 0),
    };
    if ok {
        if h < full {
            let nh = if !up && h + 1 >= rise { full } else { h + 1 };
            srv.health.store(nh, Relaxed);
            if !up && h + 1 >= rise {
                set_operational(be, idx, true);
                if srv.admin() != super::Admin::Maint {
                    report_state_change(
                        be,
                        idx,
                        true,
                        &format!(", reason: {desc}, check duration: {dur}ms"),
                        quiet,
                    );
                }
            }
        }
    } else {
        srv.chkfail.fetch_add(1, Relaxed);
        if up {
            if h <= rise {
                srv.health.store(0, Relaxed);
                set_operational(be, idx, false);
                if srv.admin() != super::Admin::Maint {
                    report_state_change(
                        be,
                        idx,
                        false,
                        &format!(", reason: {desc}, check duration: {dur}ms"),
                        quiet,
                    );
                }
            } else {
                srv.health.store(h - 1, Relaxed);
            }
        } else if h > 0 {
            srv.health.store(h - 1, Relaxed);
        }
    }
}
