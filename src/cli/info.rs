//! Process figures on the runtime API: `show info [desc|json|typed|float]` with HAProxy
//! 2.6's fields in its order (position, name, tags, type, description), `show env [NAME]`,
//! `show activity` and `show pools`.

// Fields of features halo does not have (memory pools, pipes, compression, SSL keys and
// cache, busy polling, debug commands, log forwarding) read 0, as in a HAProxy that does
// not use them; `ZlibMemUsage`/`MaxZlibMemUsage` are left out as by Debian's build (no
// zlib). Not measured yet: peers (`ActivePeers`, `ConnectedPeers`), `FailedResolutions`,
// backend TLS connections (`*SslConns` count the frontends' only). `Idle_pct` is the idle
// share of all worker threads over the last second, `Tasks`/`Run_queue` the runtime's
// live tasks and global queue.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use halo_config::model::CliLevel;

use crate::compile::Runtime;
use crate::runtime::control;
use crate::stats::now_sec;

/// Every field of 2.6's `show info`: position, name, tags (origin, nature, scope letters as
/// in `show stat typed`), type and description.
#[rustfmt::skip]
const FIELDS: &[(usize, &str, &str, &str, &str)] = &[
    (0, "Name", "POS", "str", "Product name"),
    (1, "Version", "POS", "str", "Product version"),
    (2, "Release_date", "POS", "str", "Date of latest source code update"),
    (3, "Nbthread", "CGS", "u32", "Number of started threads (global.nbthread)"),
    (4, "Nbproc", "CGS", "u32", "Number of started worker processes (historical, always 1)"),
    (5, "Process_num", "KGP", "u32", "Relative worker process number (1)"),
    (6, "Pid", "SGP", "u32", "This worker process identifier for the system"),
    (7, "Uptime", "MDP", "str", "How long ago this worker process was started (days+hours+minutes+seconds)"),
    (8, "Uptime_sec", "MDP", "u32", "How long ago this worker process was started (seconds)"),
    (9, "Memmax_MB", "CLP", "u32", "Worker process's hard limit on memory usage in MB (-m on command line)"),
    (10, "PoolAlloc_MB", "MGP", "u32", "Amount of memory allocated in pools (in MB)"),
    (11, "PoolUsed_MB", "MGP", "u32", "Amount of pool memory currently used (in MB)"),
    (12, "PoolFailed", "MCP", "u32", "Number of failed pool allocations since this worker was started"),
    (13, "Ulimit-n", "CLP", "u32", "Hard limit on the number of per-process file descriptors"),
    (14, "Maxsock", "CLP", "u32", "Hard limit on the number of per-process sockets"),
    (15, "Maxconn", "CLP", "u32", "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)"),
    (16, "Hard_maxconn", "CLP", "u32", "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)"),
    (17, "CurrConns", "MGP", "u32", "Current number of connections on this worker process"),
    (18, "CumConns", "MCP", "u32", "Total number of connections on this worker process since started"),
    (19, "CumReq", "MCP", "u32", "Total number of requests on this worker process since started"),
    (20, "MaxSslConns", "MMP", "u32", "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited"),
    (21, "CurrSslConns", "MGP", "u32", "Current number of SSL endpoints on this worker process (front+back)"),
    (22, "CumSslConns", "MCP", "u32", "Total number of SSL endpoints on this worker process since started (front+back)"),
    (23, "Maxpipes", "CLP", "u32", "Hard limit on the number of pipes for splicing, 0=unlimited"),
    (24, "PipesUsed", "MGP", "u32", "Current number of pipes in use in this worker process"),
    (25, "PipesFree", "MGP", "u32", "Current number of allocated and available pipes in this worker process"),
    (26, "ConnRate", "MRP", "u32", "Number of front connections created on this worker process over the last second"),
    (27, "ConnRateLimit", "CLP", "u32", "Hard limit for ConnRate (global.maxconnrate)"),
    (28, "MaxConnRate", "MMP", "u32", "Highest ConnRate reached on this worker process since started (in connections per second)"),
    (29, "SessRate", "MRP", "u32", "Number of sessions created on this worker process over the last second"),
    (30, "SessRateLimit", "CLP", "u32", "Hard limit for SessRate (global.maxsessrate)"),
    (31, "MaxSessRate", "MRP", "u32", "Highest SessRate reached on this worker process since started (in sessions per second)"),
    (32, "SslRate", "MRP", "u32", "Number of SSL connections created on this worker process over the last second"),
    (33, "SslRateLimit", "CLP", "u32", "Hard limit for SslRate (global.maxsslrate)"),
    (34, "MaxSslRate", "MMP", "u32", "Highest SslRate reached on this worker process since started (in connections per second)"),
    (35, "SslFrontendKeyRate", "MGP", "u32", "Number of SSL keys created on frontends in this worker process over the last second"),
    (36, "SslFrontendMaxKeyRate", "MMP", "u32", "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)"),
    (37, "SslFrontendSessionReuse_pct", "MGP", "u32", "Percent of frontend SSL connections which did not require a new key"),
    (38, "SslBackendKeyRate", "MRP", "u32", "Number of SSL keys created on backends in this worker process over the last second"),
    (39, "SslBackendMaxKeyRate", "MMP", "u32", "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)"),
    (40, "SslCacheLookups", "MCP", "u32", "Total number of SSL session ID lookups in the SSL session cache on this worker since started"),
    (41, "SslCacheMisses", "MCP", "u32", "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started"),
    (42, "CompressBpsIn", "MRP", "u32", "Number of bytes submitted to the HTTP compressor in this worker process over the last second"),
    (43, "CompressBpsOut", "MRP", "u32", "Number of bytes emitted by the HTTP compressor in this worker process over the last second"),
    (44, "CompressBpsRateLim", "CLP", "u32", "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled"),
    (47, "Tasks", "MGP", "u32", "Total number of tasks in the current worker process (active + sleeping)"),
    (48, "Run_queue", "MGP", "u32", "Total number of active tasks+tasklets in the current worker process"),
    (49, "Idle_pct", "MaP", "u32", "Percentage of last second spent waiting in the current worker thread"),
    (50, "node", "COS", "str", "Node name (global.node)"),
    (51, "description", "COS", "str", "Node description (global.description)"),
    (52, "Stopping", "MGP", "u32", "1 if the worker process is currently stopping, otherwise zero"),
    (53, "Jobs", "MGP", "u32", "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)"),
    (54, "Unstoppable Jobs", "MGP", "u32", "Current number of unstoppable jobs on the current worker process (master connections)"),
    (55, "Listeners", "MGP", "u32", "Current number of active listeners on the current worker process"),
    (56, "ActivePeers", "MGP", "u32", "Current number of verified active peers connections on the current worker process"),
    (57, "ConnectedPeers", "MGP", "u32", "Current number of peers having passed the connection step on the current worker process"),
    (58, "DroppedLogs", "MGP", "u32", "Total number of dropped logs for current worker process since started"),
    (59, "BusyPolling", "MGP", "u32", "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)"),
    (60, "FailedResolutions", "MGP", "u32", "Total number of failed DNS resolutions in current worker process since started"),
    (61, "TotalBytesOut", "MGP", "u64", "Total number of bytes emitted by current worker process since started"),
    (62, "TotalSplicdedBytesOut", "MGP", "u64", "Total number of bytes emitted by current worker process through a kernel pipe since started"),
    (63, "BytesOutRate", "MRP", "u64", "Number of bytes emitted by current worker process over the last second"),
    (64, "DebugCommandsIssued", "MGP", "u32", "Number of debug commands issued on this process (anything > 0 is unsafe)"),
    (65, "CumRecvLogs", "MCP", "u32", "Total number of log messages received by log-forwarding listeners on this worker process since started"),
    (66, "Build info", "POS", "str", "Build info"),
    (67, "Memmax_bytes", "CLP", "u32", "Worker process's hard limit on memory usage in byes (-m on command line)"),
    (68, "PoolAlloc_bytes", "MGP", "u64", "Amount of memory allocated in pools (in bytes)"),
    (69, "PoolUsed_bytes", "MGP", "u64", "Amount of pool memory currently used (in bytes)"),
    (70, "Start_time_sec", "MDP", "u32", "Start time in seconds"),
    (71, "Tainted", "SGP", "str", "Experimental features used"),
];

/// With `float`, these fields are reported as floats (`flt`), two of them with other tags,
/// as HAProxy 2.6 does.
fn float_tags(name: &str) -> Option<&'static str> {
    Some(match name {
        "Uptime_sec" | "Start_time_sec" => "MDP",
        "ConnRate"
        | "SessRate"
        | "SslRate"
        | "SslFrontendKeyRate"
        | "SslFrontendSessionReuse_pct"
        | "SslBackendKeyRate"
        | "CompressBpsIn"
        | "CompressBpsOut" => "MRP",
        _ => return None,
    })
}

/// A float as HAProxy prints it: six decimals, trailing zeros (and dot) trimmed.
fn flt(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// The value of every field, by position (empty: not shown).
fn values(rt: &Runtime, float: bool) -> Vec<String> {
    let ctl = control::get();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let up = now_sec().saturating_sub(rt.start_sec);
    let (d, h, m, s) = (up / 86400, (up / 3600) % 24, (up / 60) % 60, up % 60);
    let cli_conns = u64::from(crate::cli::CLI_CONNS.load(Relaxed));
    let cli_total = crate::cli::CLI_CONNS_TOTAL.load(Relaxed);
    let cur = u64::from(rt.cur_conns.load(Relaxed));
    let listeners = ctl.map_or(0, |c| c.listeners.load(Relaxed));
    // Requests: HTTP requests, plus one per TCP session and per CLI connection (HAProxy
    // counts its streams).
    let req: u64 = rt
        .proxies
        .iter()
        .filter_map(|p| p.frontend.as_ref())
        .map(|f| {
            if f.mode == halo_config::model::Mode::Http {
                f.counters.req_tot.load(Relaxed)
            } else {
                f.counters.stot.load(Relaxed)
            }
        })
        .sum::<u64>()
        + cli_total;
    let metrics = tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.metrics());
    let rate = |r: &crate::runtime::rate::AcceptRate| {
        if float {
            flt(f64::from(r.rate()))
        } else {
            r.rate().to_string()
        }
    };
    let zero_rate = || if float { flt(0.0) } else { "0".to_string() };
    let memmax = ctl.map_or(0, |c| c.memmax_mb);
    let threads = rt.global.nbthread.unwrap_or(1);
    let mut v = vec![String::new(); 72];
    let mut set = |pos: usize, val: String| v[pos] = val;
    set(0, "halo".into());
    set(1, crate::VERSION.into());
    set(2, crate::RELEASE_DATE.into());
    set(3, threads.to_string());
    set(4, "1".into());
    set(5, "1".into());
    set(6, std::process::id().to_string());
    set(7, format!("{d}d {h}h{m:02}m{s:02}s"));
    set(
        8,
        if float {
            flt((now - rt.start_sec as f64).max(0.0))
        } else {
            up.to_string()
        },
    );
    set(9, memmax.to_string());
    for pos in [10, 11, 12, 23, 24, 25] {
        set(pos, "0".into());
    }
    set(13, crate::runtime::fd_limit().to_string());
    set(14, crate::runtime::fd_limit().to_string());
    set(15, ctl.map_or(rt.maxconn, |c| c.global.get()).to_string());
    set(16, rt.maxconn.to_string());
    set(17, cur.to_string());
    set(18, (rt.cum_conns.load(Relaxed) + cli_total).to_string());
    set(19, req.to_string());
    set(20, rt.global.maxsslconn.unwrap_or(0).to_string());
    set(21, ctl.map_or(0, |c| c.ssl_cur.load(Relaxed)).to_string());
    set(22, ctl.map_or(0, |c| c.ssl_cum.load(Relaxed)).to_string());
    set(26, rate(&rt.conn_rate));
    set(27, rt.conn_rate.limit().to_string());
    set(28, rt.conn_rate.max().to_string());
    set(29, rate(&rt.sess_rate));
    set(30, rt.sess_rate.limit().to_string());
    set(31, rt.sess_rate.max().to_string());
    set(32, rate(&rt.ssl_rate));
    set(33, rt.ssl_rate.limit().to_string());
    set(34, rt.ssl_rate.max().to_string());
    for pos in [35, 37, 38, 42, 43] {
        set(pos, zero_rate());
    }
    for pos in [36, 39, 40, 41, 44] {
        set(pos, "0".into());
    }
    set(
        47,
        metrics
            .as_ref()
            .map_or(0, |m| m.num_alive_tasks())
            .to_string(),
    );
    set(
        48,
        metrics
            .as_ref()
            .map_or(0, |m| m.global_queue_depth())
            .to_string(),
    );
    set(
        49,
        ctl.map_or(100, |c| c.idle_pct.load(Relaxed)).to_string(),
    );
    set(
        50,
        rt.global
            .node
            .clone()
            .unwrap_or_else(crate::runtime::hostname),
    );
    set(51, rt.global.description.clone().unwrap_or_default());
    set(52, u8::from(rt.stopping.load(Relaxed)).to_string());
    set(53, (cur + u64::from(listeners) + cli_conns).to_string());
    set(54, "0".into());
    set(55, listeners.to_string());
    for pos in [56, 57, 59, 60, 62, 64, 65, 68, 69] {
        set(pos, "0".into());
    }
    set(58, crate::log::DROPPED.load(Relaxed).to_string());
    set(61, control::total_bytes_out(rt).to_string());
    set(
        63,
        ctl.map_or(0, |c| c.bytes_out_rate.load(Relaxed))
            .to_string(),
    );
    set(66, crate::VERSION.into());
    set(67, memmax.saturating_mul(1024 * 1024).to_string());
    set(
        70,
        if float {
            flt(rt.start_sec as f64)
        } else {
            rt.start_sec.to_string()
        },
    );
    set(71, "0".into());
    v
}

/// `show info [desc|json|typed|float]*` (other words are ignored, as by HAProxy).
pub fn show_info(rt: &Runtime, args: &[&str]) -> String {
    let has = |w: &str| args.contains(&w);
    let (json, typed, desc, float) = (has("json"), has("typed"), has("desc"), has("float"));
    let vals = values(rt, float);
    let fields = FIELDS.iter().filter_map(|&(pos, name, tags, ty, d)| {
        let v = vals.get(pos).filter(|v| !v.is_empty())?;
        let (tags, ty) = match float_tags(name) {
            Some(t) if float => (t, "flt"),
            _ => (tags, ty),
        };
        Some((pos, name, tags, ty, v.as_str(), d))
    });
    let mut out = String::with_capacity(4096);
    if json {
        out.push('[');
        for (i, (pos, name, tags, ty, v, _)) in fields.enumerate() {
            if i > 0 {
                out.push(',');
            }
            let [o, n, s] = crate::stats::typed::tag_words(tags);
            let _ = write!(out, "{{\"field\":{{\"pos\":{pos},\"name\":");
            crate::stats::typed::json_str(&mut out, name);
            let _ = write!(
                out,
                "}},\"processNum\":1,\"tags\":{{\"origin\":\"{o}\",\"nature\":\"{n}\",\"scope\":\"{s}\"}},\"value\":{{\"type\":\"{ty}\",\"value\":"
            );
            if ty == "str" {
                crate::stats::typed::json_str(&mut out, v);
            } else {
                out.push_str(v);
            }
            out.push_str("}}");
        }
        out.push_str("]\n");
    } else {
        for (pos, name, tags, ty, v, d) in fields {
            if typed {
                let _ = write!(out, "{pos}.{name}.1:{tags}:{ty}:{v}");
            } else {
                let _ = write!(out, "{name}: {v}");
            }
            if desc {
                let _ = write!(out, ":\"{d}\"");
            }
            out.push('\n');
        }
    }
    out
}

/// `show env [NAME]` (operator level): the process's environment, or one variable.
pub fn show_env(level: CliLevel, args: &[&str]) -> String {
    if level < CliLevel::Operator {
        return super::PERMISSION_DENIED.into();
    }
    let mut out = String::new();
    match args.first() {
        Some(name) => match std::env::var_os(name) {
            Some(v) => {
                let _ = writeln!(out, "{name}={}", v.to_string_lossy());
            }
            None => return "Variable not found\n".into(),
        },
        None => {
            for (k, v) in std::env::vars_os() {
                let _ = writeln!(out, "{}={}", k.to_string_lossy(), v.to_string_lossy());
            }
        }
    }
    out
}

/// `show activity`: the subset of HAProxy's per-thread activity halo measures, with its
/// names and layout (the total, then each thread's value when there are several):
/// `thread_id` (this CLI's thread and the range), `date_now`, `accepted`. HAProxy's
/// scheduler and poller counters (`ctxsw`, `tasksw`, `loops`, `poll_*`, `stream_calls`,
/// `cpust_*`, `avg_loop_us`, accept queues…) have no equivalent in halo's runtime and are
/// not shown.
pub fn show_activity(rt: &Runtime) -> String {
    let threads = rt.global.nbthread.unwrap_or(1).max(1);
    let tid = control::thread_index()
        .filter(|&i| i < threads)
        .unwrap_or(0)
        + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!(
        "thread_id: {tid} (1..{threads})\ndate_now: {}.{:06}\n",
        now.as_secs(),
        now.subsec_micros()
    );
    let per: Vec<u64> = match control::get() {
        Some(c) => c.accepted.iter().map(|a| a.load(Relaxed)).collect(),
        None => vec![0; threads],
    };
    let _ = write!(out, "accepted: {}", per.iter().sum::<u64>());
    if threads > 1 {
        out.push_str(" [");
        for v in &per {
            let _ = write!(out, " {v}");
        }
        out.push_str(" ]");
    }
    out.push('\n');
    out
}

/// `show pools`: halo allocates from the system allocator and keeps no pools, so the
/// answer is HAProxy's header and a total of none.
pub fn show_pools() -> String {
    "Dumping pools usage. Use SIGQUIT to flush them.\nTotal: 0 pools, 0 bytes allocated, 0 used (~0 by thread caches).\n".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_haproxy() {
        assert_eq!(flt(0.0), "0");
        assert_eq!(flt(132.21731), "132.21731");
        assert_eq!(flt(126.5), "126.5");
        assert_eq!(flt(1796419662.0), "1796419662");
    }

    #[test]
    fn positions_increase() {
        assert!(FIELDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(FIELDS.len(), 70);
    }
}
