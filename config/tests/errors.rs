//! Each configuration error halo reports: its file:line, its wording, and that every
//! error of a file is reported (not only the first).

use halo_config::{ReadOptions, Severity, load_text};

fn opts() -> ReadOptions<'static> {
    ReadOptions {
        version: "3.5.0",
        features: &["THREAD"],
        diag_mode: false,
    }
}

/// Loads a snippet and returns its diagnostics as printed.
fn diags(text: &str) -> Vec<String> {
    let (_, d) = load_text("t.cfg", text, &opts());
    d.items.iter().map(|i| i.to_string()).collect()
}

fn alerts(text: &str) -> Vec<String> {
    let (_, d) = load_text("t.cfg", text, &opts());
    d.items
        .iter()
        .filter(|i| i.severity == Severity::Alert)
        .map(|i| i.to_string())
        .collect()
}

const HEAD: &str =
    "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";

#[test]
fn valid_tcp_config_has_no_alert() {
    let t = format!(
        "{HEAD}frontend f\n    bind 127.0.0.1:8080\n    default_backend b\nbackend b\n    server s1 127.0.0.1:80 check\n"
    );
    assert!(alerts(&t).is_empty(), "{:?}", diags(&t));
}

#[test]
fn misspelt_keyword_suggests() {
    let t = format!("{HEAD}frontend f\n    bind :8080\n    defualt_backend b\nbackend b\n");
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        a[0],
        "[ALERT] parsing [t.cfg:7] : unknown keyword 'defualt_backend' in 'frontend' section; did you mean 'default_backend' maybe ?"
    );
}

#[test]
fn missing_backend_names_the_reference_line() {
    let t = format!("{HEAD}frontend f\n    bind :8080\n    default_backend nope\n");
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].starts_with("[ALERT] parsing [t.cfg:7] :"), "{}", a[0]);
    assert!(a[0].contains("'nope'"));
}

#[test]
fn use_backend_to_a_frontend() {
    let t = format!(
        "{HEAD}frontend f\n    bind :8080\n    use_backend g\nfrontend g\n    bind :8081\n    default_backend b\nbackend b\n"
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("[t.cfg:7]") && a[0].contains("is a frontend (declared at t.cfg:8)"));
}

#[test]
fn bad_time_unit() {
    let t = "defaults\n    timeout client 10q\n";
    let a = alerts(t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].starts_with("[ALERT] parsing [t.cfg:2] : 'timeout client' : invalid time value '10q'")
    );
}

#[test]
fn duplicate_server_names_both_lines() {
    let t = format!("{HEAD}backend b\n    server s 127.0.0.1:1\n    server s 127.0.0.1:2\n");
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].contains("[t.cfg:7]") && a[0].contains("t.cfg:6"),
        "{}",
        a[0]
    );
}

#[test]
fn unclosed_quote() {
    let t = "global\n    pidfile \"/tmp/x\n";
    let a = alerts(t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].starts_with("[ALERT] parsing [t.cfg:2] :"), "{}", a[0]);
    assert!(a[0].contains("quote"), "{}", a[0]);
}

#[test]
fn unknown_acl() {
    let t =
        format!("{HEAD}frontend f\n    bind :8080\n    use_backend b if is_static\nbackend b\n");
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("[t.cfg:7]") && a[0].contains("unknown ACL 'is_static'"));
}

#[test]
fn acl_must_be_declared_before_use() {
    let t = format!(
        "{HEAD}frontend f\n    bind :8080\n    use_backend b if x\n    acl x path_beg /x\nbackend b\n"
    );
    assert_eq!(alerts(&t).len(), 1);
    let ok = format!(
        "{HEAD}frontend f\n    bind :8080\n    acl x path_beg /x\n    use_backend b if x or !TRUE {{ path /y }}\nbackend b\n"
    );
    assert!(alerts(&ok).is_empty(), "{:?}", alerts(&ok));
}

#[test]
fn bad_track() {
    let t = format!(
        "{HEAD}backend a\n    server s1 127.0.0.1:1 check\nbackend b\n    server s1 127.0.0.1:2 track a/nosuch\n    server s2 127.0.0.1:2 track nob/s1\n    server s3 127.0.0.1:2 track a/s1\n"
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a[0].contains("[t.cfg:8]") && a[0].contains("'nosuch'"));
    assert!(a[1].contains("[t.cfg:9]") && a[1].contains("'nob'"));
}

#[test]
fn unknown_section_keyword_and_outside_section() {
    let a = alerts("frontnd f\n");
    assert_eq!(a.len(), 1);
    assert!(a[0].contains("[t.cfg:1]") && a[0].contains("'frontnd'"));
}

#[test]
fn all_errors_are_reported() {
    let t = format!(
        "{HEAD}frontend f\n    bind :8080\n    defualt_backend b\n    timeout client 5x\n    use_backend nope\n"
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(a[0].contains(":7]") && a[1].contains(":8]") && a[2].contains(":9]"));
}

#[test]
fn bind_errors() {
    let a = alerts(&format!("{HEAD}frontend f\n    bind 127.0.0.1\n"));
    assert!(
        a.iter()
            .any(|m| m.contains("[t.cfg:6]") && m.contains("port")),
        "{a:?}"
    );
    let a = alerts(&format!("{HEAD}frontend f\n    bind :80 maxconn\n"));
    assert!(a.iter().any(|m| m.contains("expects")), "{a:?}");
    let a = alerts(&format!("{HEAD}frontend f\n    bind :80 acept-proxy\n"));
    assert!(
        a.iter().any(|m| m.contains("did you mean 'accept-proxy'")),
        "{a:?}"
    );
}

#[test]
fn server_option_errors() {
    let a = alerts(&format!(
        "{HEAD}backend b\n    server s 127.0.0.1:1 wieght 3\n"
    ));
    assert!(
        a.iter().any(|m| m.contains("did you mean 'weight'")),
        "{a:?}"
    );
    let a = alerts(&format!(
        "{HEAD}backend b\n    server s 127.0.0.1:1 weight 300\n"
    ));
    assert!(a.iter().any(|m| m.contains("between 0 and 256")), "{a:?}");
    let a = alerts(&format!(
        "{HEAD}backend b\n    server s 127.0.0.1:1 inter 2x\n"
    ));
    assert!(
        a.iter()
            .any(|m| m.contains("[t.cfg:6]") && m.contains("inter")),
        "{a:?}"
    );
}

#[test]
fn legacy_syntax_warns_with_modern_name() {
    let t = "listen l 127.0.0.1:8080\n    contimeout 5000\n    clitimeout 5000\n    srvtimeout 5000\n    redispatch\n    server s 127.0.0.1:1\n";
    let (cfg, d) = load_text("t.cfg", t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    let w: Vec<String> = d.items.iter().map(|i| i.to_string()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("[t.cfg:1]") && m.contains("bind 127.0.0.1:8080"))
    );
    assert!(
        w.iter()
            .any(|m| m.contains("'contimeout'") && m.contains("timeout connect"))
    );
    assert!(
        w.iter()
            .any(|m| m.contains("'redispatch'") && m.contains("option redispatch"))
    );
    let p = &cfg.proxies[0];
    assert_eq!(p.settings.timeouts.connect, Some(5000));
    assert_eq!(p.settings.redispatch, Some(-1));
    assert_eq!(p.binds.len(), 1);
}

#[test]
fn defaults_inheritance_and_from() {
    let t = "defaults base\n    mode tcp\n    timeout connect 7s\n    balance leastconn\ndefaults other\n    timeout connect 1s\nbackend a from base\n    server s 127.0.0.1:1\nbackend b\n    server s 127.0.0.1:1\n";
    let (cfg, d) = load_text("t.cfg", t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    assert_eq!(cfg.proxies[0].settings.timeouts.connect, Some(7000));
    assert_eq!(
        cfg.proxies[0].settings.balance,
        halo_config::model::Balance::LeastConn
    );
    assert_eq!(cfg.proxies[1].settings.timeouts.connect, Some(1000));
}

#[test]
fn default_server_applies() {
    let t = format!(
        "{HEAD}backend b\n    default-server inter 1s fall 5 maxconn 7\n    server s 127.0.0.1:1 check\n    server t 127.0.0.1:1 maxconn 9\n"
    );
    let (cfg, d) = load_text("t.cfg", &t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    let s = &cfg.proxies[0].servers;
    assert_eq!((s[0].inter, s[0].fall, s[0].maxconn), (1000, 5, 7));
    assert_eq!(s[1].maxconn, 9);
}

#[test]
fn env_and_setenv_are_expanded() {
    let t = "global\n    setenv HALO_T_PORT 9999\nfrontend f\n    bind \"127.0.0.1:${HALO_T_PORT}\"\n    timeout client 1s\n";
    let (cfg, d) = load_text("t.cfg", t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    assert_eq!(cfg.proxies[0].binds[0].addresses[0].port(), Some(9999));
}

#[test]
fn conditional_blocks() {
    let t = ".if version_atleast(2.4)\nglobal\n    maxconn 10\n.else\nglobal\n    maxconn 20\n.endif\n.if feature(NOPE)\n    .alert \"never\"\n.endif\n";
    let (cfg, d) = load_text("t.cfg", t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    assert_eq!(cfg.global.maxconn, Some(10));
    let a = alerts(".if 1\n.alert \"stop here\"\n.endif\n");
    assert_eq!(a, vec!["[ALERT] parsing [t.cfg:2] : stop here".to_string()]);
    let a = alerts(".if 1\nglobal\n");
    assert!(a.iter().any(|m| m.contains(".endif")), "{a:?}");
}

#[test]
fn pending_keywords_are_listed_not_silent() {
    let t = format!(
        "{HEAD}frontend f\n    bind :8080\n    mode http\n    no option http-server-close\n    default_backend b\nbackend b\n    mode http\n    option transparent\n"
    );
    let (cfg, d) = load_text("t.cfg", &t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    let kws: Vec<&str> = cfg.pending.iter().map(|p| p.keyword.as_str()).collect();
    assert!(!kws.contains(&"mode http"), "{kws:?}");
    assert!(kws.contains(&"option transparent"), "{kws:?}");
    // Disabling something halo does not do yet is no reason to refuse the file.
    assert!(
        !kws.iter().any(|k| k.contains("http-server-close")),
        "{kws:?}"
    );
    let mut d = halo_config::Diags::default();
    halo_config::refuse_pending(&cfg, &mut d);
    assert!(d.items.iter().all(|i| i.to_string().contains("t.cfg:")));
}

#[test]
fn missing_timeouts_warn() {
    let w = diags("frontend f\n    bind :8080\n    default_backend b\nbackend b\n");
    assert!(
        w.iter()
            .any(|m| m.starts_with("[WARNING]") && m.contains("missing timeouts"))
    );
}

#[test]
fn no_and_default_prefixes() {
    let t = "defaults\n    option redispatch\n    option persist\n    timeout connect 1s\n    timeout server 1s\nbackend a\n    no option redispatch\n    server s 127.0.0.1:1\nbackend b\n    default option persist\n    server s 127.0.0.1:1\nbackend c\n    server s 127.0.0.1:1\n";
    let (cfg, d) = load_text("t.cfg", t, &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    assert_eq!(cfg.proxies[0].settings.redispatch, None);
    assert!(cfg.proxies[0].settings.persist);
    assert!(!cfg.proxies[1].settings.persist);
    assert_eq!(cfg.proxies[1].settings.redispatch, Some(-1));
    assert_eq!(cfg.proxies[2].settings.redispatch, Some(-1));
}

#[test]
fn files_and_folders_are_read_in_order() {
    let dir = std::env::temp_dir().join(format!("halo-cfgdir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("20-b.cfg"),
        "backend b\n    server s 127.0.0.1:1\n",
    )
    .unwrap();
    std::fs::write(dir.join("10-a.cfg"), "global\n    maxconn 77\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a config\n").unwrap();
    let (cfg, d) = halo_config::load(std::slice::from_ref(&dir), &opts());
    assert!(!d.has_alerts(), "{:?}", d.items);
    assert_eq!(cfg.global.maxconn, Some(77));
    assert_eq!(cfg.proxies.len(), 1);
    assert!(cfg.files[0].ends_with("10-a.cfg") && cfg.files[1].ends_with("20-b.cfg"));
    let _ = std::fs::remove_dir_all(&dir);
}

const USERLIST: &str = "userlist L1\n    group G1\n    group G2 users b\n    user a insecure-password x groups G1\n    user b password $6$salt$hash\n";

#[test]
fn userlist_is_modelled_not_pending() {
    let t = format!(
        "{HEAD}{USERLIST}frontend f\n    mode http\n    bind :8080\n    http-request auth realm Gimme unless {{ http_auth_group(L1) G1 G2 }}\n"
    );
    let (cfg, d) = load_text("t.cfg", &t, &opts());
    assert!(d.items.is_empty(), "{:?}", d.items);
    assert!(cfg.pending.is_empty(), "{:?}", cfg.pending);
    assert!(cfg.other_sections.is_empty());
    let ul = cfg.userlist("L1").unwrap();
    assert_eq!(ul.loc.line, 5);
    assert_eq!(ul.user("b").unwrap().groups, vec![1]);
}

#[test]
fn unknown_userlists_name_the_reference_line() {
    let t = format!(
        "{HEAD}{USERLIST}frontend f\n    mode http\n    bind :8080\n    acl ok http_auth(L2)\n    acl grp http_auth_group(nope) G1\n    http-request set-header X %[http_auth_group(L3)]\n    http-request deny if {{ http_auth }}\n    use_backend b if {{ http_auth(L4) }}\n    default_backend b\nbackend b\n    mode http\n"
    );
    assert_eq!(
        alerts(&t),
        vec![
            "[ALERT] parsing [t.cfg:13] : unable to find userlist 'L2' referenced in arg 1 of 'http_auth' in frontend 'f'.",
            "[ALERT] parsing [t.cfg:14] : unable to find userlist 'nope' referenced in arg 1 of 'http_auth_group' in frontend 'f'.",
            "[ALERT] parsing [t.cfg:15] : unable to find userlist 'L3' referenced in arg 1 of 'http_auth_group' in frontend 'f'.",
            "[ALERT] parsing [t.cfg:16] : missing userlist name in arg 1 of 'http_auth' in frontend 'f'.",
            "[ALERT] parsing [t.cfg:17] : unable to find userlist 'L4' referenced in arg 1 of 'http_auth' in frontend 'f'.",
        ]
    );
}

#[test]
fn auth_group_acls_match_known_groups() {
    let t = format!(
        "{HEAD}{USERLIST}frontend f\n    mode http\n    bind :8080\n    acl a http_auth_group(L1) G1 G9\n    acl b http_auth_group(L1)\n    acl c http_auth_group(L1),lower g1\n    acl d http_auth_group(L1) -m str G1\n    acl e http_auth_group(L1) -i G2\n    http-request deny if a || b || c || d || e\n"
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 4, "{a:#?}");
    assert!(
        a[0].starts_with(
            "[ALERT] parsing [t.cfg:13] : acl 'a' : http_auth_group(L1) : invalid group 'G9'"
        ),
        "{}",
        a[0]
    );
    assert!(a[0].contains("(userlist 'L1' declared at t.cfg:5)"));
    assert_eq!(
        a[1],
        "[ALERT] parsing [t.cfg:14] : acl 'b' : http_auth_group(L1) : no groups specified."
    );
    assert!(a[2].starts_with("[ALERT] parsing [t.cfg:15] : acl 'c' :"));
    assert!(a[3].starts_with("[ALERT] parsing [t.cfg:16] : acl 'd' :"));
}

#[test]
fn auth_action_arguments() {
    let t = format!(
        "{HEAD}frontend f\n    mode http\n    bind :8080\n    http-request auth\n    http-request auth realm 'a b'\n    http-response auth\n"
    );
    let a = alerts(&t);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("t.cfg:10") && a[0].contains("not usable in 'http-response'"));
}
