//! How `http-request`/`http-response`, `redirect`, `monitor-uri`/`monitor fail` and the 1.x
//! header rules are read: actions checked against manual 4.3, actions halo has not built
//! kept as pending, HAProxy's warnings about rule order and about non-HTTP proxies.

use halo_config::{Config, ReadOptions, Severity, load_text};

fn opts() -> ReadOptions<'static> {
    ReadOptions {
        version: "3.5.0",
        features: &[],
        diag_mode: false,
    }
}

const HEAD: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";

fn load(body: &str) -> (Config, Vec<(Severity, String)>) {
    let (cfg, d) = load_text("t.cfg", &format!("{HEAD}{body}"), &opts());
    let items = d
        .items
        .iter()
        .map(|i| (i.severity, i.to_string()))
        .collect();
    (cfg, items)
}

fn with(items: &[(Severity, String)], sev: Severity) -> Vec<String> {
    items
        .iter()
        .filter(|(s, _)| *s == sev)
        .map(|(_, m)| m.clone())
        .collect()
}

#[test]
fn implemented_rules_are_kept_and_not_pending() {
    let (cfg, items) = load(
        "frontend f\n    bind :80\n    monitor-uri /health\n    monitor fail if { nbsrv(b) eq 0 }\n    http-request set-header X-A %[src] if { path /a }\n    http-response del-header Server\n    redirect scheme https code 301 if { path /b }\n    use_backend %[req.hdr(host),lower]\n    default_backend b\nbackend b\n    reqirep ^Host:\\ (.*) Host:\\ \\1\n    rspdel ^X-Powered-By\n    block if { path /c }\n    server s 127.0.0.1:80\n",
    );
    assert!(with(&items, Severity::Alert).is_empty(), "{items:?}");
    assert!(cfg.pending.is_empty(), "{:?}", cfg.pending);
    let f = &cfg.proxies[0];
    assert_eq!(f.settings.monitor_uri.as_deref(), Some("/health"));
    let kws: Vec<&str> = f.rules.iter().map(|r| r.keyword.as_str()).collect();
    assert_eq!(
        kws,
        ["monitor fail", "http-request", "http-response", "redirect"]
    );
    assert_eq!(f.rules[1].args, ["set-header", "X-A", "%[src]"]);
    assert!(f.rules[1].cond.is_some());
    let b = &cfg.proxies[1];
    let kws: Vec<&str> = b.rules.iter().map(|r| r.keyword.as_str()).collect();
    assert_eq!(kws, ["reqirep", "rspdel", "block"]);
    assert_eq!(b.rules[0].args, ["^Host: (.*)", "Host: \\1"]);
    // The 1.x keywords still name their modern equivalent.
    let w = with(&items, Severity::Warning);
    assert!(
        w.iter().any(|m| m
            .contains("'reqirep' is the 1.x syntax; use 'http-request replace-header' instead.")),
        "{w:?}"
    );
}

#[test]
fn actions_not_built_yet_are_pending() {
    let (cfg, items) = load(
        "frontend f\n    bind :80\n    http-request set-mark 1\n    http-request lua.hello\n    http-response set-fc-mark 1\n    default_backend b\nbackend b\n    reqsetbe ^Host:\\ x b\n    server s 127.0.0.1:80\n",
    );
    assert!(with(&items, Severity::Alert).is_empty(), "{items:?}");
    let names: Vec<&str> = cfg.pending.iter().map(|p| p.keyword.as_str()).collect();
    assert_eq!(
        names,
        [
            "http-request set-mark",
            "http-request lua.*",
            "http-response set-fc-mark",
            "reqsetbe"
        ]
    );
}

#[test]
fn unknown_or_misplaced_actions_are_errors() {
    let (_, items) = load(
        "frontend f\n    bind :80\n    http-request set-hedaer X 1\n    http-response set-path /x\n    http-request\n    monitor fail\n    default_backend b\nbackend b\n    reqrep ^a\n    block\n    server s 127.0.0.1:80\n",
    );
    let a = with(&items, Severity::Alert);
    assert_eq!(a.len(), 6, "{a:?}");
    assert!(
        a[0].contains("unknown action 'set-hedaer'; did you mean 'set-header' maybe ?"),
        "{}",
        a[0]
    );
    assert!(
        a[1].contains("not usable in 'http-response' rules"),
        "{}",
        a[1]
    );
    assert!(
        a[2].contains("'http-request' expects an action"),
        "{}",
        a[2]
    );
    assert!(
        a[3].contains("'monitor fail' expects a condition"),
        "{}",
        a[3]
    );
    assert!(
        a[4].contains("'reqrep' expects exactly two arguments"),
        "{}",
        a[4]
    );
    assert!(a[5].contains("'block' expects a condition"), "{}", a[5]);
}

#[test]
fn rules_in_defaults_sections() {
    let (_, d) = load_text(
        "t.cfg",
        "defaults\n    mode http\n    http-request set-header X 1\n",
        &opts(),
    );
    assert!(d.items.iter().any(|i| {
        i.severity == Severity::Alert
            && i.message
                .contains("'http-request' not allowed in anonymous 'defaults' section.")
    }));
    let (cfg, d) = load_text(
        "t.cfg",
        "defaults named\n    mode http\n    http-request set-header X 1\n",
        &opts(),
    );
    assert!(!d.has_alerts());
    assert_eq!(cfg.pending.len(), 1);
    assert!(cfg.pending[0].keyword.contains("defaults"));
}

#[test]
fn order_warnings_like_haproxy() {
    let (_, items) = load(
        "frontend f\n    bind :80\n    redirect location /r if { path /x }\n    http-request deny if { path /y }\n    monitor fail if { path /z }\n    default_backend b\nbackend b\n    server s 127.0.0.1:80\n",
    );
    let w = with(&items, Severity::Warning);
    assert!(
        w.iter()
            .any(|m| m.contains("a 'http-request' rule placed after a 'redirect' rule")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("a 'monitor fail' rule placed after an 'http-request' rule")),
        "{w:?}"
    );
}

#[test]
fn http_rules_in_tcp_proxies_are_ignored_with_a_warning() {
    let (_, items) = load(
        "frontend f\n    mode tcp\n    bind :80\n    monitor-uri /x\n    http-request deny\n    http-response deny\n    redirect location /y\n    default_backend b\nbackend b\n    mode tcp\n    server s 127.0.0.1:80\n",
    );
    let w = with(&items, Severity::Warning);
    for m in [
        "monitor-uri will be ignored for frontend 'f' (needs 'mode http').",
        "'http-request' rules ignored for frontend 'f' as they require HTTP mode.",
        "'http-response' rules ignored for frontend 'f' as they require HTTP mode.",
        "'redirect' rules ignored for frontend 'f' as they require HTTP mode.",
    ] {
        assert!(w.iter().any(|x| x.ends_with(m)), "{m} not in {w:?}");
    }
}
