//! `http-request use-service prometheus-exporter`: the counters of `show stat` and `show
//! info` in the Prometheus text format, under HAProxy's metric names and labels
//! (`haproxy_process_*`, `haproxy_frontend_*`, `haproxy_backend_*`, `haproxy_server_*`,
//! labels `proxy`, `server`, `state`, `code`), so existing dashboards and alerts work
//! unchanged; `?scope=` and `?no-maint` as HAProxy's exporter reads them.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use crate::compile::Runtime;
use crate::http::h1::Head;
use crate::http::rules::Answer;
use crate::stats::csv::{self, Obj, Row};
use crate::stats::now_sec;

/// How a metric's value is read from its `show stat` column.
#[derive(Clone, Copy)]
enum Kind {
    /// The number as written; `NaN` when the column is empty.
    Plain,
    /// Milliseconds in the column, seconds in the metric.
    Secs,
    /// One line per state of the `status` column (`state` label).
    Status,
    /// One line per check result (`state` label), servers with checks only.
    CheckStatus,
    /// `check_code`/`check_duration`: servers with checks only.
    CheckOnly(bool),
    /// `hrsp_*`, one line per class (`code` label).
    Responses,
}

/// One metric: name after `haproxy_<object>_`, the column it reads, counter or gauge,
/// help text.
struct Metric {
    name: &'static str,
    col: &'static str,
    counter: bool,
    kind: Kind,
    help: &'static str,
}

const fn m(
    name: &'static str,
    col: &'static str,
    counter: bool,
    kind: Kind,
    help: &'static str,
) -> Metric {
    Metric {
        name,
        col,
        counter,
        kind,
        help,
    }
}

use Kind::*;

const FRONTEND: &[Metric] = &[
    m(
        "current_sessions",
        "scur",
        false,
        Plain,
        "Sessions in progress.",
    ),
    m(
        "max_sessions",
        "smax",
        false,
        Plain,
        "Most sessions in progress at once.",
    ),
    m(
        "limit_sessions",
        "slim",
        false,
        Plain,
        "Session limit (maxconn).",
    ),
    m(
        "sessions_total",
        "stot",
        true,
        Plain,
        "Sessions since the start.",
    ),
    m(
        "bytes_in_total",
        "bin",
        true,
        Plain,
        "Bytes received from clients.",
    ),
    m(
        "bytes_out_total",
        "bout",
        true,
        Plain,
        "Bytes sent to clients.",
    ),
    m(
        "requests_denied_total",
        "dreq",
        true,
        Plain,
        "Requests denied by rules.",
    ),
    m(
        "responses_denied_total",
        "dresp",
        true,
        Plain,
        "Responses denied by rules.",
    ),
    m(
        "request_errors_total",
        "ereq",
        true,
        Plain,
        "Invalid requests.",
    ),
    m("status", "status", false, Status, "State of the frontend."),
    m(
        "limit_session_rate",
        "rate_lim",
        false,
        Plain,
        "Session rate limit (rate-limit sessions).",
    ),
    m(
        "max_session_rate",
        "rate_max",
        false,
        Plain,
        "Highest sessions per second.",
    ),
    m(
        "http_responses_total",
        "",
        true,
        Responses,
        "HTTP responses by status class.",
    ),
    m(
        "http_requests_rate_max",
        "req_rate_max",
        false,
        Plain,
        "Highest HTTP requests per second.",
    ),
    m(
        "http_requests_total",
        "req_tot",
        true,
        Plain,
        "HTTP requests received.",
    ),
    m(
        "http_comp_bytes_in_total",
        "comp_in",
        true,
        Plain,
        "Bytes given to the compressor.",
    ),
    m(
        "http_comp_bytes_out_total",
        "comp_out",
        true,
        Plain,
        "Bytes out of the compressor.",
    ),
    m(
        "http_comp_bytes_bypassed_total",
        "comp_byp",
        true,
        Plain,
        "Bytes not compressed for lack of resources.",
    ),
    m(
        "http_comp_responses_total",
        "comp_rsp",
        true,
        Plain,
        "Responses compressed.",
    ),
    m(
        "connections_rate_max",
        "conn_rate_max",
        false,
        Plain,
        "Highest connections per second.",
    ),
    m(
        "connections_total",
        "conn_tot",
        true,
        Plain,
        "Connections accepted.",
    ),
    m(
        "intercepted_requests_total",
        "intercepted",
        true,
        Plain,
        "Requests answered by the proxy itself (stats, redirects, return).",
    ),
    m(
        "denied_connections_total",
        "dcon",
        true,
        Plain,
        "Connections refused by tcp-request connection rules.",
    ),
    m(
        "denied_sessions_total",
        "dses",
        true,
        Plain,
        "Sessions refused by tcp-request session rules.",
    ),
    m(
        "failed_header_rewriting_total",
        "wrew",
        true,
        Plain,
        "Header rewrites that failed.",
    ),
    m(
        "http_cache_lookups_total",
        "cache_lookups",
        true,
        Plain,
        "Cache lookups.",
    ),
    m(
        "http_cache_hits_total",
        "cache_hits",
        true,
        Plain,
        "Cache hits.",
    ),
    m(
        "internal_errors_total",
        "eint",
        true,
        Plain,
        "Internal errors.",
    ),
];

const BACKEND: &[Metric] = &[
    m(
        "current_queue",
        "qcur",
        false,
        Plain,
        "Requests waiting in the queue.",
    ),
    m("max_queue", "qmax", false, Plain, "Longest queue seen."),
    m(
        "current_sessions",
        "scur",
        false,
        Plain,
        "Sessions in progress.",
    ),
    m(
        "max_sessions",
        "smax",
        false,
        Plain,
        "Most sessions in progress at once.",
    ),
    m(
        "limit_sessions",
        "slim",
        false,
        Plain,
        "Session limit (fullconn).",
    ),
    m(
        "sessions_total",
        "stot",
        true,
        Plain,
        "Sessions since the start.",
    ),
    m(
        "bytes_in_total",
        "bin",
        true,
        Plain,
        "Bytes received from clients.",
    ),
    m(
        "bytes_out_total",
        "bout",
        true,
        Plain,
        "Bytes sent to clients.",
    ),
    m(
        "requests_denied_total",
        "dreq",
        true,
        Plain,
        "Requests denied by rules.",
    ),
    m(
        "responses_denied_total",
        "dresp",
        true,
        Plain,
        "Responses denied by rules.",
    ),
    m(
        "connection_errors_total",
        "econ",
        true,
        Plain,
        "Failed connections to servers.",
    ),
    m(
        "response_errors_total",
        "eresp",
        true,
        Plain,
        "Invalid or aborted responses.",
    ),
    m(
        "retry_warnings_total",
        "wretr",
        true,
        Plain,
        "Connection retries.",
    ),
    m(
        "redispatch_warnings_total",
        "wredis",
        true,
        Plain,
        "Redispatches to another server.",
    ),
    m("status", "status", false, Status, "State of the backend."),
    m(
        "weight",
        "weight",
        false,
        Plain,
        "Sum of the usable servers' effective weights.",
    ),
    m("active_servers", "act", false, Plain, "Active servers up."),
    m("backup_servers", "bck", false, Plain, "Backup servers up."),
    m(
        "check_up_down_total",
        "chkdown",
        true,
        Plain,
        "Transitions from UP to DOWN.",
    ),
    m(
        "check_last_change_seconds",
        "lastchg",
        false,
        Plain,
        "Seconds since the last change of state.",
    ),
    m(
        "downtime_seconds_total",
        "downtime",
        true,
        Plain,
        "Seconds spent DOWN.",
    ),
    m(
        "loadbalanced_total",
        "lbtot",
        true,
        Plain,
        "Times a server was chosen by the balancer.",
    ),
    m(
        "max_session_rate",
        "rate_max",
        false,
        Plain,
        "Highest sessions per second.",
    ),
    m(
        "http_responses_total",
        "",
        true,
        Responses,
        "HTTP responses by status class.",
    ),
    m(
        "http_requests_total",
        "req_tot",
        true,
        Plain,
        "HTTP requests sent.",
    ),
    m(
        "client_aborts_total",
        "cli_abrt",
        true,
        Plain,
        "Transfers aborted by the client.",
    ),
    m(
        "server_aborts_total",
        "srv_abrt",
        true,
        Plain,
        "Transfers aborted by the server.",
    ),
    m(
        "http_comp_bytes_in_total",
        "comp_in",
        true,
        Plain,
        "Bytes given to the compressor.",
    ),
    m(
        "http_comp_bytes_out_total",
        "comp_out",
        true,
        Plain,
        "Bytes out of the compressor.",
    ),
    m(
        "http_comp_bytes_bypassed_total",
        "comp_byp",
        true,
        Plain,
        "Bytes not compressed for lack of resources.",
    ),
    m(
        "http_comp_responses_total",
        "comp_rsp",
        true,
        Plain,
        "Responses compressed.",
    ),
    m(
        "last_session_seconds",
        "lastsess",
        false,
        Plain,
        "Seconds since the last session (-1: never).",
    ),
    m(
        "queue_time_average_seconds",
        "qtime",
        false,
        Secs,
        "Average time in the queue, last 1024 requests.",
    ),
    m(
        "connect_time_average_seconds",
        "ctime",
        false,
        Secs,
        "Average connect time, last 1024 requests.",
    ),
    m(
        "response_time_average_seconds",
        "rtime",
        false,
        Secs,
        "Average response time, last 1024 requests.",
    ),
    m(
        "total_time_average_seconds",
        "ttime",
        false,
        Secs,
        "Average total time, last 1024 requests.",
    ),
    m(
        "failed_header_rewriting_total",
        "wrew",
        true,
        Plain,
        "Header rewrites that failed.",
    ),
    m(
        "connection_attempts_total",
        "connect",
        true,
        Plain,
        "Connections opened to servers.",
    ),
    m(
        "connection_reuses_total",
        "reuse",
        true,
        Plain,
        "Idle connections reused.",
    ),
    m(
        "http_cache_lookups_total",
        "cache_lookups",
        true,
        Plain,
        "Cache lookups.",
    ),
    m(
        "http_cache_hits_total",
        "cache_hits",
        true,
        Plain,
        "Cache hits.",
    ),
    m(
        "max_queue_time_seconds",
        "qtime_max",
        false,
        Secs,
        "Longest time in the queue.",
    ),
    m(
        "max_connect_time_seconds",
        "ctime_max",
        false,
        Secs,
        "Longest connect time.",
    ),
    m(
        "max_response_time_seconds",
        "rtime_max",
        false,
        Secs,
        "Longest response time.",
    ),
    m(
        "max_total_time_seconds",
        "ttime_max",
        false,
        Secs,
        "Longest total time.",
    ),
    m(
        "internal_errors_total",
        "eint",
        true,
        Plain,
        "Internal errors.",
    ),
    m(
        "uweight",
        "uweight",
        false,
        Plain,
        "Sum of the usable servers' user weights.",
    ),
];

const SERVER: &[Metric] = &[
    m(
        "current_queue",
        "qcur",
        false,
        Plain,
        "Requests waiting in the queue.",
    ),
    m("max_queue", "qmax", false, Plain, "Longest queue seen."),
    m(
        "current_sessions",
        "scur",
        false,
        Plain,
        "Sessions in progress.",
    ),
    m(
        "max_sessions",
        "smax",
        false,
        Plain,
        "Most sessions in progress at once.",
    ),
    m(
        "limit_sessions",
        "slim",
        false,
        Plain,
        "Session limit (maxconn).",
    ),
    m(
        "sessions_total",
        "stot",
        true,
        Plain,
        "Sessions since the start.",
    ),
    m(
        "bytes_in_total",
        "bin",
        true,
        Plain,
        "Bytes received from clients.",
    ),
    m(
        "bytes_out_total",
        "bout",
        true,
        Plain,
        "Bytes sent to clients.",
    ),
    m(
        "responses_denied_total",
        "dresp",
        true,
        Plain,
        "Responses denied by rules.",
    ),
    m(
        "connection_errors_total",
        "econ",
        true,
        Plain,
        "Failed connections.",
    ),
    m(
        "response_errors_total",
        "eresp",
        true,
        Plain,
        "Invalid or aborted responses.",
    ),
    m(
        "retry_warnings_total",
        "wretr",
        true,
        Plain,
        "Connection retries.",
    ),
    m(
        "redispatch_warnings_total",
        "wredis",
        true,
        Plain,
        "Redispatches to another server.",
    ),
    m("status", "status", false, Status, "State of the server."),
    m("weight", "weight", false, Plain, "Effective weight."),
    m(
        "check_failures_total",
        "chkfail",
        true,
        Plain,
        "Failed health checks.",
    ),
    m(
        "check_up_down_total",
        "chkdown",
        true,
        Plain,
        "Transitions from UP to DOWN.",
    ),
    m(
        "check_last_change_seconds",
        "lastchg",
        false,
        Plain,
        "Seconds since the last change of state.",
    ),
    m(
        "downtime_seconds_total",
        "downtime",
        true,
        Plain,
        "Seconds spent DOWN.",
    ),
    m(
        "queue_limit",
        "qlimit",
        false,
        Plain,
        "Queue limit (maxqueue).",
    ),
    m(
        "current_throttle",
        "throttle",
        false,
        Plain,
        "Slow-start throttle, percent.",
    ),
    m(
        "loadbalanced_total",
        "lbtot",
        true,
        Plain,
        "Times chosen by the balancer.",
    ),
    m(
        "max_session_rate",
        "rate_max",
        false,
        Plain,
        "Highest sessions per second.",
    ),
    m(
        "check_status",
        "check_status",
        false,
        CheckStatus,
        "Result of the last health check.",
    ),
    m(
        "check_code",
        "check_code",
        false,
        CheckOnly(false),
        "Layer 5-7 code of the last health check.",
    ),
    m(
        "check_duration_seconds",
        "check_duration",
        false,
        CheckOnly(true),
        "Duration of the last health check.",
    ),
    m(
        "http_responses_total",
        "",
        true,
        Responses,
        "HTTP responses by status class.",
    ),
    m(
        "client_aborts_total",
        "cli_abrt",
        true,
        Plain,
        "Transfers aborted by the client.",
    ),
    m(
        "server_aborts_total",
        "srv_abrt",
        true,
        Plain,
        "Transfers aborted by the server.",
    ),
    m(
        "last_session_seconds",
        "lastsess",
        false,
        Plain,
        "Seconds since the last session (-1: never).",
    ),
    m(
        "queue_time_average_seconds",
        "qtime",
        false,
        Secs,
        "Average time in the queue, last 1024 requests.",
    ),
    m(
        "connect_time_average_seconds",
        "ctime",
        false,
        Secs,
        "Average connect time, last 1024 requests.",
    ),
    m(
        "response_time_average_seconds",
        "rtime",
        false,
        Secs,
        "Average response time, last 1024 requests.",
    ),
    m(
        "total_time_average_seconds",
        "ttime",
        false,
        Secs,
        "Average total time, last 1024 requests.",
    ),
    m(
        "failed_header_rewriting_total",
        "wrew",
        true,
        Plain,
        "Header rewrites that failed.",
    ),
    m(
        "connection_attempts_total",
        "connect",
        true,
        Plain,
        "Connections opened.",
    ),
    m(
        "connection_reuses_total",
        "reuse",
        true,
        Plain,
        "Idle connections reused.",
    ),
    m(
        "idle_connections_current",
        "srv_icur",
        false,
        Plain,
        "Idle connections ready for reuse.",
    ),
    m(
        "idle_connections_limit",
        "src_ilim",
        false,
        Plain,
        "Limit of idle connections (pool-max-conn).",
    ),
    m(
        "max_queue_time_seconds",
        "qtime_max",
        false,
        Secs,
        "Longest time in the queue.",
    ),
    m(
        "max_connect_time_seconds",
        "ctime_max",
        false,
        Secs,
        "Longest connect time.",
    ),
    m(
        "max_response_time_seconds",
        "rtime_max",
        false,
        Secs,
        "Longest response time.",
    ),
    m(
        "max_total_time_seconds",
        "ttime_max",
        false,
        Secs,
        "Longest total time.",
    ),
    m(
        "internal_errors_total",
        "eint",
        true,
        Plain,
        "Internal errors.",
    ),
    m(
        "unsafe_idle_connections_current",
        "idle_conn_cur",
        false,
        Plain,
        "Idle connections not safe for a first request.",
    ),
    m(
        "safe_idle_connections_current",
        "safe_conn_cur",
        false,
        Plain,
        "Idle connections safe for any request.",
    ),
    m(
        "used_connections_current",
        "used_conn_cur",
        false,
        Plain,
        "Connections in use.",
    ),
    m(
        "need_connections_current",
        "need_conn_est",
        false,
        Plain,
        "Estimated connections needed.",
    ),
    m("uweight", "uweight", false, Plain, "User weight."),
];

const SERVER_STATES: &[&str] = &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
const CHECK_STATES: &[&str] = &[
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];
const CODES: &[(&str, &str)] = &[
    ("1xx", "hrsp_1xx"),
    ("2xx", "hrsp_2xx"),
    ("3xx", "hrsp_3xx"),
    ("4xx", "hrsp_4xx"),
    ("5xx", "hrsp_5xx"),
    ("other", "hrsp_other"),
];

/// What a scrape asks for (`?scope=global|frontend|backend|server|*`, repeatable; none:
/// everything; `?no-maint`: no server in maintenance).
struct Scope {
    global: bool,
    frontend: bool,
    backend: bool,
    server: bool,
    no_maint: bool,
}

fn scope(head: &Head) -> Scope {
    let uri = head.uri();
    let query = uri
        .iter()
        .position(|&c| c == b'?')
        .map_or(&b""[..], |i| &uri[i + 1..]);
    let mut s = Scope {
        global: true,
        frontend: true,
        backend: true,
        server: true,
        no_maint: false,
    };
    let mut first = true;
    for p in query.split(|&c| c == b'&') {
        if p == b"no-maint" {
            s.no_maint = true;
            continue;
        }
        let Some(v) = p.strip_prefix(b"scope=") else {
            continue;
        };
        if first {
            (s.global, s.frontend, s.backend, s.server) = (false, false, false, false);
            first = false;
        }
        match v {
            b"global" => s.global = true,
            b"frontend" => s.frontend = true,
            b"backend" => s.backend = true,
            b"server" => s.server = true,
            b"*" => (s.global, s.frontend, s.backend, s.server) = (true, true, true, true),
            _ => {}
        }
    }
    s
}

/// The answer of the exporter to `head`.
pub fn serve(rt: &Runtime, head: &Head) -> Answer {
    let sc = scope(head);
    let body = render(rt, &sc);
    let h = format!(
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n",
        body.len()
    );
    Answer {
        status: 200,
        head: h.into_bytes(),
        body: body.into_bytes(),
    }
}

fn render(rt: &Runtime, sc: &Scope) -> String {
    let mut out = String::with_capacity(64 * 1024);
    if sc.global {
        process(rt, &mut out);
    }
    let rows = csv::rows(rt, &|_| true);
    let http_px = |r: &Row| r.get("mode") == "http";
    let pick = |o: Obj| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.obj == o)
            .filter(|r| !(sc.no_maint && o == Obj::Server && r.get("status").starts_with("MAINT")))
            .collect()
    };
    if sc.frontend {
        section(
            &mut out,
            "frontend",
            FRONTEND,
            &pick(Obj::Frontend),
            &http_px,
        );
    }
    if sc.backend {
        section(&mut out, "backend", BACKEND, &pick(Obj::Backend), &http_px);
    }
    if sc.server {
        section(&mut out, "server", SERVER, &pick(Obj::Server), &http_px);
    }
    out
}

fn section(
    out: &mut String,
    obj: &str,
    metrics: &[Metric],
    rows: &[&Row],
    http: &dyn Fn(&Row) -> bool,
) {
    for mt in metrics {
        let mut body = String::new();
        for r in rows {
            let labels = if obj == "server" {
                format!(
                    "proxy=\"{}\",server=\"{}\"",
                    label(r.get("pxname")),
                    label(r.get("svname"))
                )
            } else {
                format!("proxy=\"{}\"", label(r.get("pxname")))
            };
            let name = format!("haproxy_{obj}_{}", mt.name);
            match mt.kind {
                Plain => {
                    let v = r.get(mt.col);
                    let v = if v.is_empty() { "NaN" } else { v };
                    let _ = writeln!(body, "{name}{{{labels}}} {v}");
                }
                Secs => {
                    let v = r
                        .get(mt.col)
                        .parse::<f64>()
                        .map_or("NaN".to_string(), |ms| format!("{:.6}", ms / 1000.0));
                    let _ = writeln!(body, "{name}{{{labels}}} {v}");
                }
                Status => {
                    let st = r.get("status");
                    if obj == "server" {
                        let word = st.split(' ').next().unwrap_or_default();
                        // `no check` counts as UP.
                        let word = if st == "no check" { "UP" } else { word };
                        for s in SERVER_STATES {
                            let _ = writeln!(
                                body,
                                "{name}{{{labels},state=\"{s}\"}} {}",
                                u8::from(*s == word)
                            );
                        }
                    } else {
                        let up = st != "DOWN" && st != "STOP";
                        let _ =
                            writeln!(body, "{name}{{{labels},state=\"DOWN\"}} {}", u8::from(!up));
                        let _ = writeln!(body, "{name}{{{labels},state=\"UP\"}} {}", u8::from(up));
                    }
                }
                CheckStatus => {
                    let st = r.get("check_status");
                    if st.is_empty() {
                        continue;
                    }
                    let st = st.trim_start_matches("* ");
                    for s in CHECK_STATES {
                        let _ = writeln!(
                            body,
                            "{name}{{{labels},state=\"{s}\"}} {}",
                            u8::from(*s == st)
                        );
                    }
                }
                CheckOnly(secs) => {
                    if r.get("check_status").is_empty() {
                        continue;
                    }
                    let v = r.get(mt.col);
                    let v = match (v.parse::<f64>(), secs) {
                        (Ok(ms), true) => format!("{:.6}", ms / 1000.0),
                        (Ok(_), false) => v.to_string(),
                        _ => "NaN".to_string(),
                    };
                    let _ = writeln!(body, "{name}{{{labels}}} {v}");
                }
                Responses => {
                    if !http(r) {
                        continue;
                    }
                    for (code, col) in CODES {
                        let v = r.get(col);
                        let v = if v.is_empty() { "0" } else { v };
                        let _ = writeln!(body, "{name}{{{labels},code=\"{code}\"}} {v}");
                    }
                }
            }
        }
        if body.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP haproxy_{obj}_{} {}", mt.name, mt.help);
        let _ = writeln!(
            out,
            "# TYPE haproxy_{obj}_{} {}",
            mt.name,
            if mt.counter { "counter" } else { "gauge" }
        );
        out.push_str(&body);
    }
}

/// A label value with `\`, `"` and line breaks escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn process(rt: &Runtime, out: &mut String) {
    let up = now_sec().saturating_sub(rt.start_sec);
    let fds = crate::runtime::fd_limit() as u64;
    let threads = rt.global.nbthread.unwrap_or(1) as u64;
    let req_tot: u64 = rt
        .proxies
        .iter()
        .filter_map(|p| p.frontend.as_ref())
        .map(|f| f.counters.req_tot.load(Relaxed))
        .sum();
    let conn_tot: u64 = rt
        .proxies
        .iter()
        .filter_map(|p| p.frontend.as_ref())
        .map(|f| f.counters.stot.load(Relaxed))
        .sum();
    let listeners = rt.proxies.iter().filter(|p| p.frontend.is_some()).count() as u64;
    let stopping = u64::from(rt.stopping.load(Relaxed));
    let cur = rt.cur_conns.load(Relaxed) as u64;
    // In HAProxy's order; what halo has no counter for (TLS rates, compression, pipes,
    // peers) is 0, as HAProxy reports an unused feature.
    let gauges: &[(&str, bool, u64, &str)] = &[
        ("nbthread", false, threads, "Threads started (nbthread)."),
        ("nbproc", false, 1, "Worker processes (always 1)."),
        ("relative_process_id", false, 1, "Process number (1)."),
        (
            "uptime_seconds",
            false,
            up,
            "Seconds since the process started.",
        ),
        ("pool_failures_total", true, 0, "Failed pool allocations."),
        ("max_fds", false, fds, "File descriptor limit."),
        ("max_sockets", false, fds, "Socket limit."),
        (
            "max_connections",
            false,
            rt.maxconn as u64,
            "Connection limit (maxconn).",
        ),
        (
            "hard_max_connections",
            false,
            rt.maxconn as u64,
            "Hard connection limit.",
        ),
        (
            "current_connections",
            false,
            cur,
            "Connections in progress.",
        ),
        ("connections_total", true, conn_tot, "Connections accepted."),
        ("requests_total", true, req_tot, "HTTP requests received."),
        ("max_ssl_connections", false, 0, "TLS connection limit."),
        (
            "current_ssl_connections",
            false,
            0,
            "TLS connections in progress.",
        ),
        ("ssl_connections_total", true, 0, "TLS connections."),
        ("max_pipes", false, 0, "Pipe limit."),
        ("pipes_used_total", true, 0, "Pipes in use."),
        ("pipes_free_total", true, 0, "Pipes free."),
        (
            "current_connection_rate",
            false,
            rt.conn_rate.rate() as u64,
            "Connections in the last second.",
        ),
        (
            "limit_connection_rate",
            false,
            rt.conn_rate.limit() as u64,
            "Connection rate limit.",
        ),
        (
            "max_connection_rate",
            false,
            rt.conn_rate.max() as u64,
            "Highest connections per second.",
        ),
        (
            "current_session_rate",
            false,
            rt.sess_rate.rate() as u64,
            "Sessions in the last second.",
        ),
        (
            "limit_session_rate",
            false,
            rt.sess_rate.limit() as u64,
            "Session rate limit.",
        ),
        (
            "max_session_rate",
            false,
            rt.sess_rate.max() as u64,
            "Highest sessions per second.",
        ),
        (
            "current_ssl_rate",
            false,
            0,
            "TLS sessions in the last second.",
        ),
        ("limit_ssl_rate", false, 0, "TLS session rate limit."),
        ("max_ssl_rate", false, 0, "Highest TLS sessions per second."),
        (
            "current_frontend_ssl_key_rate",
            false,
            0,
            "Frontend TLS key computations per second.",
        ),
        (
            "max_frontend_ssl_key_rate",
            false,
            0,
            "Highest frontend TLS key computations per second.",
        ),
        (
            "frontend_ssl_reuse",
            false,
            0,
            "Frontend TLS session reuse, percent.",
        ),
        (
            "current_backend_ssl_key_rate",
            false,
            0,
            "Backend TLS key computations per second.",
        ),
        (
            "max_backend_ssl_key_rate",
            false,
            0,
            "Highest backend TLS key computations per second.",
        ),
        (
            "ssl_cache_lookups_total",
            true,
            0,
            "TLS session cache lookups.",
        ),
        (
            "ssl_cache_misses_total",
            true,
            0,
            "TLS session cache misses.",
        ),
        (
            "http_comp_bytes_in_total",
            true,
            0,
            "Bytes given to the compressor.",
        ),
        (
            "http_comp_bytes_out_total",
            true,
            0,
            "Bytes out of the compressor.",
        ),
        ("limit_http_comp", false, 0, "Compression rate limit."),
    ];
    let later: &[(&str, bool, u64, &str)] = &[
        ("current_tasks", false, 0, "Tasks."),
        ("current_run_queue", false, 0, "Tasks in the run queue."),
        ("idle_time_percent", false, 100, "Idle time, percent."),
        (
            "stopping",
            false,
            stopping,
            "Whether the process is stopping.",
        ),
        ("jobs", false, cur, "Jobs (connections and listeners)."),
        (
            "unstoppable_jobs",
            false,
            0,
            "Jobs that a stop does not interrupt.",
        ),
        ("listeners", false, listeners, "Listeners."),
        ("active_peers", false, 0, "Active peers."),
        ("connected_peers", false, 0, "Connected peers."),
        (
            "dropped_logs_total",
            true,
            crate::log::DROPPED.load(Relaxed),
            "Log lines dropped.",
        ),
        (
            "busy_polling_enabled",
            false,
            0,
            "Whether busy polling is on.",
        ),
        ("failed_resolutions", true, 0, "Failed DNS resolutions."),
        ("bytes_out_total", true, 0, "Bytes sent."),
        (
            "spliced_bytes_out_total",
            true,
            0,
            "Bytes sent by splicing.",
        ),
        ("bytes_out_rate", false, 0, "Bytes sent per second."),
        (
            "recv_logs_total",
            true,
            0,
            "Log lines received (log-forward).",
        ),
    ];
    let put = |out: &mut String, list: &[(&str, bool, u64, &str)]| {
        for (name, counter, v, help) in list {
            let _ = write!(
                out,
                "# HELP haproxy_process_{name} {help}\n# TYPE haproxy_process_{name} {}\nhaproxy_process_{name} {v}\n",
                if *counter { "counter" } else { "gauge" }
            );
        }
    };
    put(out, gauges);
    out.push_str("# HELP haproxy_process_current_zlib_memory Memory used by zlib.\n# TYPE haproxy_process_current_zlib_memory gauge\nhaproxy_process_current_zlib_memory NaN\n# HELP haproxy_process_max_zlib_memory Memory limit of zlib.\n# TYPE haproxy_process_max_zlib_memory gauge\nhaproxy_process_max_zlib_memory NaN\n");
    put(out, later);
    let _ = write!(
        out,
        "# HELP haproxy_process_build_info Build information.\n# TYPE haproxy_process_build_info gauge\nhaproxy_process_build_info{{version=\"{}\"}} 1\n# HELP haproxy_process_max_memory_bytes Memory limit.\n# TYPE haproxy_process_max_memory_bytes gauge\nhaproxy_process_max_memory_bytes 0\n# HELP haproxy_process_start_time_seconds Start time (Unix seconds).\n# TYPE haproxy_process_start_time_seconds gauge\nhaproxy_process_start_time_seconds {}\n",
        crate::VERSION,
        rt.start_sec
    );
}
