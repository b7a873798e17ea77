//! `http-request use-service prometheus-exporter`, end to end: a scrape parsed by a real
//! Prometheus text-format parser (the `prometheus-parse` crate), HAProxy's metric names,
//! labels and types with values that follow the traffic sent, server states, and the
//! `?scope=` / `?no-maint` filters. Runs against Debian's HAProxy 2.6 too (built with its
//! exporter), which proves the names and values expected here.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use support::http::{Client, HttpBackend};
use support::stats::get;
use support::*;

struct Setup {
    h: Halo,
    fe: SocketAddr,
    _app: HttpBackend,
}

fn start() -> Setup {
    let app = HttpBackend::start("app", Duration::ZERO);
    let dead = free_addr();
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe_main\n    bind {fe}\n\
         \x20   http-request use-service prometheus-exporter if {{ path /metrics }}\n\
         \x20   http-request deny if {{ path /deny }}\n\
         \x20   default_backend bk_app\n\
         backend bk_app\n    balance roundrobin\n\
         \x20   server live {live} check inter 200ms fall 1 rise 1\n\
         \x20   server dead {dead} check inter 200ms fall 1 rise 1\n\
         \x20   server spare {live}\n",
        fe = haproxy_addr(fe),
        live = app.cfg_addr(),
        dead = haproxy_addr(dead),
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let sock = h.dir().join("admin.sock");
    assert!(
        wait_until(Duration::from_secs(10), || {
            cli(&sock, "show stat")
                .map(|s| {
                    s.lines()
                        .any(|l| l.starts_with("bk_app,dead,") && l.contains(",DOWN,"))
                })
                .unwrap_or(false)
        }),
        "the dead server never went DOWN"
    );
    Setup { h, fe, _app: app }
}

fn scrape(fe: SocketAddr, target: &str) -> Scrape {
    let a = get(fe, target);
    assert_eq!(a.status, 200, "{target}: {}", a.body);
    assert!(
        a.content_type().starts_with("text/plain"),
        "{target}: content-type {}",
        a.content_type()
    );
    let lines = a.body.lines().map(|l| Ok(l.to_string()));
    Scrape::parse(lines).unwrap_or_else(|e| panic!("{target}: not the Prometheus text format: {e}"))
}

fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

fn kind(s: &Scrape, metric: &str) -> &'static str {
    match s
        .samples
        .iter()
        .find(|x| x.metric == metric)
        .map(|x| &x.value)
    {
        Some(Value::Counter(_)) => "counter",
        Some(Value::Gauge(_)) => "gauge",
        Some(Value::Untyped(_)) => "untyped",
        Some(_) => "other",
        None => "absent",
    }
}

#[test]
fn scrape_parses_with_haproxys_names_labels_and_values() {
    let st = start();
    // Traffic: 6 requests served, 2 denied, on one keep-alive connection.
    let mut c = Client::connect(st.fe);
    for _ in 0..6 {
        assert_eq!(c.get("/x", "").status, 200);
    }
    for _ in 0..2 {
        assert_eq!(c.get("/deny", "").status, 403);
    }
    drop(c);
    let s = scrape(st.fe, "/metrics");
    // Every metric of the names dashboards use, typed as HAProxy types them.
    for (m, k) in [
        ("haproxy_process_uptime_seconds", "gauge"),
        ("haproxy_process_max_connections", "gauge"),
        ("haproxy_process_requests_total", "counter"),
        ("haproxy_frontend_current_sessions", "gauge"),
        ("haproxy_frontend_sessions_total", "counter"),
        ("haproxy_frontend_bytes_in_total", "counter"),
        ("haproxy_frontend_http_requests_total", "counter"),
        ("haproxy_frontend_http_responses_total", "counter"),
        ("haproxy_frontend_requests_denied_total", "counter"),
        ("haproxy_frontend_status", "gauge"),
        ("haproxy_backend_status", "gauge"),
        ("haproxy_backend_active_servers", "gauge"),
        ("haproxy_backend_http_responses_total", "counter"),
        ("haproxy_backend_response_time_average_seconds", "gauge"),
        ("haproxy_server_status", "gauge"),
        ("haproxy_server_check_status", "gauge"),
        ("haproxy_server_sessions_total", "counter"),
        ("haproxy_server_http_responses_total", "counter"),
        ("haproxy_server_weight", "gauge"),
    ] {
        assert_eq!(kind(&s, m), k, "{m}");
    }
    let fe = [("proxy", "fe_main")];
    // The scrape itself is the 9th request; the 6 served and the 2 denied came before.
    let req = value(&s, "haproxy_frontend_http_requests_total", &fe).unwrap_or(-1.0);
    assert!((8.0..=9.0).contains(&req), "frontend requests {req}");
    assert_eq!(
        value(&s, "haproxy_frontend_requests_denied_total", &fe),
        Some(2.0)
    );
    assert_eq!(
        value(
            &s,
            "haproxy_frontend_http_responses_total",
            &[("proxy", "fe_main"), ("code", "4xx")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &s,
            "haproxy_backend_http_responses_total",
            &[("proxy", "bk_app"), ("code", "2xx")]
        ),
        Some(6.0)
    );
    assert_eq!(
        value(
            &s,
            "haproxy_frontend_status",
            &[("proxy", "fe_main"), ("state", "UP")]
        ),
        Some(1.0)
    );
    // Server states, one line per state.
    let st_of = |srv: &str, state: &str| {
        value(
            &s,
            "haproxy_server_status",
            &[("proxy", "bk_app"), ("server", srv), ("state", state)],
        )
    };
    assert_eq!(st_of("live", "UP"), Some(1.0));
    assert_eq!(st_of("live", "DOWN"), Some(0.0));
    assert_eq!(st_of("dead", "DOWN"), Some(1.0));
    assert_eq!(st_of("dead", "UP"), Some(0.0));
    // The last check's result; a server without checks has none.
    assert_eq!(
        value(
            &s,
            "haproxy_server_check_status",
            &[("proxy", "bk_app"), ("server", "dead"), ("state", "L4CON")]
        ),
        Some(1.0)
    );
    assert!(
        value(
            &s,
            "haproxy_server_check_status",
            &[("proxy", "bk_app"), ("server", "spare")]
        )
        .is_none()
    );
    // Live and spare share the 6 requests (roundrobin over the UP servers).
    let served = |srv: &str| {
        value(
            &s,
            "haproxy_server_http_responses_total",
            &[("proxy", "bk_app"), ("server", srv), ("code", "2xx")],
        )
        .unwrap_or(-1.0)
    };
    assert_eq!(served("live") + served("spare"), 6.0);
    assert_eq!(served("dead"), 0.0);
    assert_eq!(
        value(&s, "haproxy_backend_active_servers", &[("proxy", "bk_app")]),
        Some(2.0)
    );
    // No maxconn: no limit (NaN), as HAProxy writes it.
    assert!(
        value(
            &s,
            "haproxy_server_limit_sessions",
            &[("proxy", "bk_app"), ("server", "live")]
        )
        .is_some_and(f64::is_nan)
    );
    // Each sample of each metric appears once.
    let mut seen = HashSet::new();
    for x in &s.samples {
        let mut l: Vec<_> = x.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        assert!(
            seen.insert((x.metric.clone(), l.join(","))),
            "{} {:?} twice",
            x.metric,
            x.labels
        );
    }
}

#[test]
fn scope_and_no_maint_filter_the_scrape() {
    let st = start();
    let prefixes = |s: &Scrape| -> HashSet<String> {
        s.samples
            .iter()
            .map(|x| x.metric.split('_').take(2).collect::<Vec<_>>().join("_"))
            .collect()
    };
    let all = scrape(st.fe, "/metrics");
    assert_eq!(
        prefixes(&all),
        [
            "haproxy_process",
            "haproxy_frontend",
            "haproxy_backend",
            "haproxy_server"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let one = scrape(st.fe, "/metrics?scope=frontend");
    assert_eq!(
        prefixes(&one),
        HashSet::from(["haproxy_frontend".to_string()])
    );
    let two = scrape(st.fe, "/metrics?scope=server&scope=global");
    assert_eq!(
        prefixes(&two),
        HashSet::from(["haproxy_server".to_string(), "haproxy_process".to_string()])
    );
    // A server in maintenance is left out with no-maint only.
    let sock = st.h.dir().join("admin.sock");
    cli(&sock, "set server bk_app/spare state maint").expect("cli");
    let has_spare = |s: &Scrape| {
        s.samples
            .iter()
            .any(|x| x.labels.get("server") == Some("spare"))
    };
    assert!(has_spare(&scrape(st.fe, "/metrics?scope=server")));
    assert!(!has_spare(&scrape(st.fe, "/metrics?scope=server&no-maint")));
    let maint = scrape(st.fe, "/metrics?scope=server");
    assert_eq!(
        value(
            &maint,
            "haproxy_server_status",
            &[("proxy", "bk_app"), ("server", "spare"), ("state", "MAINT")]
        ),
        Some(1.0)
    );
}
