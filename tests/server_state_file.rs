//! Server states across reloads: `show servers state` saved to a file, then a new process
//! started with `server-state-file` / `server-state-base` and `load-server-state-from-file
//! global|local|none` (`server-state-file-name`) takes over maintenance, drain, weights,
//! ports and addresses (`init-addr last`) and health-check DOWN states, with HAProxy
//! 2.6's warnings for files and lines it cannot use. Each test also runs against haproxy.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::http::*;
use support::*;

fn sock(h: &Halo) -> PathBuf {
    h.dir().join("admin.sock")
}

fn run(h: &Halo, cmd: &str) -> String {
    cli(&sock(h), cmd).unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// Starts a proxy with a stats socket, waiting for its frontend and its socket.
fn start(cfg: &str, env: &[(&str, String)]) -> Halo {
    let h = Halo::start(cfg, env);
    assert!(
        wait_cli(&sock(&h), Duration::from_secs(5)),
        "{}",
        h.stderr_text()
    );
    h
}

/// `show servers state` saved to `path`, as an operator does before a reload, then the
/// process stopped.
fn save_and_stop(mut h: Halo, cmd: &str, path: &Path) {
    let out = run(&h, cmd);
    assert!(out.starts_with("1\n# be_id "), "{out}");
    fs::write(path, out).unwrap();
    h.signal(libc::SIGTERM);
    assert!(h.wait_exit(Duration::from_secs(5)).is_some());
}

/// The `show servers state` fields of `be/srv`.
fn state(h: &Halo, be: &str, srv: &str) -> Vec<String> {
    let out = run(h, "show servers state");
    out.lines()
        .map(|l| l.split(' ').map(str::to_string).collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[1] == be && f[3] == srv)
        .unwrap_or_else(|| panic!("no {be}/{srv} in:\n{out}"))
}

/// Indexes of `show servers state` fields.
const ADDR: usize = 4;
const OP: usize = 5;
const ADMIN: usize = 6;
const UWEIGHT: usize = 7;
const PORT: usize = 18;

/// The `show stat` column `col` of row `px,sv`.
fn stat(h: &Halo, px: &str, sv: &str, col: &str) -> String {
    let out = run(h, "show stat");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|c| *c == col).expect("column");
    let prefix = format!("{px},{sv},");
    lines
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split(',').nth(i).map(str::to_string))
        .unwrap_or_else(|| panic!("no {px},{sv} in:\n{out}"))
}

/// Which backend answered each of `n` requests (one connection each).
fn spread(fe: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let r = Client::connect(fe).get("/", "");
        let who = if r.status == 200 {
            r.body.split(' ').next().unwrap_or("").to_string()
        } else {
            format!("status {}", r.status)
        };
        *m.entry(who).or_insert(0) += 1;
    }
    m
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

const HEAD: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
    GLOBAL
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    DEFAULTS
frontend f
    bind \"${FE}\"
    default_backend bk
";

/// A configuration: `HEAD` with lines added to `global` and `defaults`, then `rest`.
fn config(global: &str, defaults: &str, rest: &str) -> String {
    HEAD.replace("GLOBAL", global).replace("DEFAULTS", defaults) + rest
}

const LOAD_GLOBAL: &str = "load-server-state-from-file global";
const STATE_GLOBAL: &str = "server-state-file \"${STATE}\"";

#[test]
fn maint_drain_weight_and_port_survive_a_reload() {
    let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| HttpBackend::start(n, Duration::ZERO));
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let rest = "backend bk
    balance roundrobin
    server s1 \"${A}\" weight 10
    server s2 \"${B}\" weight 10
    server s3 \"${C}\" weight 10
    server s4 \"${D}\" weight 10
backend bk2
    server s5 \"${A}\" disabled
    server s6 \"${A}\" disabled
";
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("A", a.cfg_addr()),
        ("B", b.cfg_addr()),
        ("C", c.cfg_addr()),
        ("D", d.cfg_addr()),
        ("STATE", state_path.display().to_string()),
    ];
    let h1 = start(&config("", "", rest), &env);
    let ep = e.addr.port();
    for cmd in [
        "set server bk/s1 state maint",
        "set weight bk/s2 5",
        "set server bk/s3 state drain",
        &format!("set server bk/s4 addr 127.0.0.1 port {ep}"),
        "set server bk2/s5 state ready",
    ] {
        run(&h1, cmd);
    }
    assert_eq!(spread(fe, 30), counts(&[("b", 10), ("e", 20)]));
    save_and_stop(h1, "show servers state", &state_path);

    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let h2 = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env2);
    assert_eq!(state(&h2, "bk", "s1")[ADMIN], "1");
    assert_eq!(stat(&h2, "bk", "s1", "status"), "MAINT");
    assert_eq!(state(&h2, "bk", "s2")[UWEIGHT], "5");
    assert_eq!(stat(&h2, "bk", "s2", "weight"), "5");
    assert_eq!(state(&h2, "bk", "s3")[ADMIN], "8");
    assert_eq!(stat(&h2, "bk", "s3", "status"), "DRAIN");
    assert_eq!(state(&h2, "bk", "s4")[PORT], ep.to_string());
    // `disabled` in the configuration (0x4) then enabled at run time stays enabled;
    // the other one stays in maintenance.
    assert_eq!(state(&h2, "bk2", "s5")[ADMIN], "4");
    assert_eq!(state(&h2, "bk2", "s6")[ADMIN], "5");
    assert_eq!(stat(&h2, "bk2", "s6", "status"), "MAINT");
    assert_ne!(stat(&h2, "bk2", "s5", "status"), "MAINT");
    // The traffic goes where it went before the reload.
    assert_eq!(spread(fe, 30), counts(&[("b", 10), ("e", 20)]));
    let err = h2.stderr_text();
    assert!(
        err.contains("Server bk/s3 remains in forced drain mode."),
        "{err}"
    );
    assert!(
        err.contains("Server bk2/s5 is UP/READY (leaving forced maintenance)."),
        "{err}"
    );
    // Back to ready: s1 takes traffic again.
    run(&h2, "set server bk/s1 state ready");
    assert_eq!(stat(&h2, "bk", "s1", "status"), "no check");
    drop((a, b, c, d, e));
}

#[test]
fn init_addr_last_takes_the_saved_address() {
    let a = HttpBackend::start("a", Duration::ZERO);
    // The address set at run time, on another loopback address.
    let b = HttpBackend::start_at("b", "127.0.0.2:0", Duration::ZERO);
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let fe = free_addr();
    // A name that never resolves: the address comes from `init-addr`.
    let rest = |methods: &str| {
        format!(
            "backend bk
    server s1 halo-state-test.invalid:${{PA}} init-addr {methods}
"
        )
    };
    let env = [
        ("FE", haproxy_addr(fe)),
        ("PA", a.addr.port().to_string()),
        ("STATE", state_path.display().to_string()),
    ];
    let h1 = start(&config("", "", &rest("last,127.0.0.1")), &env);
    assert_eq!(spread(fe, 2), counts(&[("a", 2)]));
    run(
        &h1,
        &format!("set server bk/s1 addr 127.0.0.2 port {}", b.addr.port()),
    );
    assert_eq!(spread(fe, 2), counts(&[("b", 2)]));
    save_and_stop(h1, "show servers state", &state_path);

    // Without the file, `init-addr last` alone has nothing to start from.
    let cfg_last = config(STATE_GLOBAL, "", &rest("last"));
    let (code, _, err) = run_check(Cfg::Text(&cfg_last), &env);
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "'server bk/s1' : no method found to resolve address 'halo-state-test.invalid'."
        ),
        "{err}"
    );
    // With it, the saved address and port are used.
    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let h2 = start(&config(STATE_GLOBAL, LOAD_GLOBAL, &rest("last")), &env2);
    let st = state(&h2, "bk", "s1");
    assert_eq!(st[ADDR], "127.0.0.2");
    assert_eq!(st[PORT], b.addr.port().to_string());
    assert_eq!(spread(fe, 2), counts(&[("b", 2)]));
    drop(h2);
    // The default (`last,libc`) prefers the file too.
    let fe = free_addr();
    env2[0].1 = haproxy_addr(fe);
    let h3 = start(
        &config(
            STATE_GLOBAL,
            LOAD_GLOBAL,
            "backend bk\n    server s1 halo-state-test.invalid:${PA}\n",
        ),
        &env2,
    );
    assert_eq!(spread(fe, 2), counts(&[("b", 2)]));
    drop(h3);
}

#[test]
fn local_files_per_backend() {
    let [a, b] = ["a", "b"].map(|n| HttpBackend::start(n, Duration::ZERO));
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("states");
    fs::create_dir(&base).unwrap();
    let rest = |first: &str| {
        format!(
            "{first}backend bk
    server-state-file-name custom.state
    server s1 \"${{A}}\"
    server s2 \"${{B}}\"
backend bk2
    id 20
    server s1 \"${{A}}\" weight 10
    server s2 \"${{B}}\" weight 10
"
        )
    };
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("A", a.cfg_addr()),
        ("B", b.cfg_addr()),
        ("BASE", base.display().to_string()),
    ];
    let h1 = start(&config("", "", &rest("")), &env);
    run(&h1, "set server bk/s1 state maint");
    run(&h1, "set weight bk2/s2 3");
    let bk_file = run(&h1, "show servers state bk");
    fs::write(base.join("custom.state"), bk_file).unwrap();
    save_and_stop(h1, "show servers state bk2", &base.join("bk2"));
    // A server removed since, and a line about a renamed backend with bk2's id.
    let mut bk2 = fs::read_to_string(base.join("bk2")).unwrap();
    let s2_line = bk2
        .lines()
        .find(|l| l.contains(" bk2 2 s2 "))
        .unwrap()
        .to_string();
    bk2.push_str(&s2_line.replace(" s2 ", " gone "));
    bk2.push('\n');
    bk2.push_str(
        &s2_line
            .replacen(" bk2 ", " oldname ", 1)
            .replace(" s2 ", " s1 "),
    );
    bk2.push('\n');
    fs::write(base.join("bk2"), bk2).unwrap();

    // A new backend first: bk's id changes (a warning, the lines still apply).
    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let first = "backend newfirst\n    server n1 \"${A}\"\n";
    let h2 = start(
        &config(
            "server-state-base \"${BASE}\"",
            "load-server-state-from-file local",
            &rest(first),
        ),
        &env2,
    );
    assert_eq!(stat(&h2, "bk", "s1", "status"), "MAINT");
    assert_eq!(state(&h2, "bk2", "s2")[UWEIGHT], "3");
    assert_eq!(state(&h2, "bk2", "s1")[UWEIGHT], "10");
    assert_eq!(spread(fe, 4), counts(&[("b", 4)]));
    let err = h2.stderr_text();
    for w in [
        "Proxy 'bk': backend ID mismatch: from server state file: '",
        "Proxy 'bk2': can't find server 'gone' in backend 'bk2'",
        "Proxy 'bk2': backend name mismatch: from server state file: 'oldname', from running config 'bk2'",
    ] {
        assert!(err.contains(w), "{w}\n{err}");
    }
}

#[test]
fn none_or_unset_leaves_the_configuration_as_written() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let rest = "backend bk
    load-server-state-from-file none
    server s1 \"${A}\"
backend bk2
    server s1 \"${A}\"
";
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("A", a.cfg_addr()),
        ("STATE", state_path.display().to_string()),
    ];
    let h1 = start(&config("", "", rest), &env);
    run(&h1, "set server bk/s1 state maint");
    run(&h1, "set server bk2/s1 state maint");
    save_and_stop(h1, "show servers state", &state_path);
    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let h2 = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env2);
    assert_eq!(stat(&h2, "bk", "s1", "status"), "no check");
    assert_eq!(stat(&h2, "bk2", "s1", "status"), "MAINT");
    drop(h2);
    // Without `load-server-state-from-file`, the file is not read.
    let fe = free_addr();
    env2[0].1 = haproxy_addr(fe);
    let h3 = start(&config(STATE_GLOBAL, "", rest), &env2);
    assert_eq!(stat(&h3, "bk2", "s1", "status"), "no check");
}

#[test]
fn unknown_servers_and_bad_values() {
    let [a, b] = ["a", "b"].map(|n| HttpBackend::start(n, Duration::ZERO));
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let rest = "backend bk
    server s1 \"${A}\"
    server s2 \"${B}\"
";
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("A", a.cfg_addr()),
        ("B", b.cfg_addr()),
        ("STATE", state_path.display().to_string()),
    ];
    let h1 = start(&config("", "", rest), &env);
    run(&h1, "set server bk/s1 state maint");
    run(&h1, "set server bk/s2 state maint");
    save_and_stop(h1, "show servers state", &state_path);
    let text = fs::read_to_string(&state_path).unwrap();
    let s1 = text.lines().find(|l| l.contains(" bk 1 s1 ")).unwrap();
    let s2 = text.lines().find(|l| l.contains(" bk 2 s2 ")).unwrap();
    // s2's line with a bad operational state; servers and backends that are gone.
    let mut f: Vec<&str> = s2.split(' ').collect();
    f[5] = "9";
    let bad_s2 = f.join(" ");
    let fixed = format!(
        "1\n# header\n{s1}\n{bad_s2}\n{}\n{}\n",
        s1.replace(" s1 ", " gone "),
        s1.replace(" bk ", " nobk ")
    );
    fs::write(&state_path, fixed).unwrap();
    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let h2 = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env2);
    assert_eq!(stat(&h2, "bk", "s1", "status"), "MAINT");
    assert_eq!(stat(&h2, "bk", "s2", "status"), "no check");
    assert_eq!(spread(fe, 2), counts(&[("b", 2)]));
    let err = h2.stderr_text();
    assert!(
        err.contains(
            "server-state application failed for server 'bk/s2', invalid srv_op_state value '9'"
        ),
        "{err}"
    );
    // With the global file, servers that are gone are left out silently.
    assert!(!err.contains("gone"), "{err}");
}

#[test]
fn garbage_files_are_reported_and_ignored() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let rest = "backend bk
    server s1 \"${A}\" weight 10
";
    let good_line = |w: u32| {
        format!(
            "2 bk 1 s1 127.0.0.1 2 1 {w} 10 0 1 0 0 0 0 0 0 - {} - 0 0 - - 0",
            a.addr.port()
        )
    };
    let p = state_path.display().to_string();
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            b"hello\nworld\n".to_vec(),
            format!("Can't get version of the global server state file '{p}'."),
        ),
        (
            Vec::new(),
            format!("Can't get version of the global server state file '{p}'."),
        ),
        (
            vec![0xff, 0xfe, 0x00, 0x01, b'\n', 0x80],
            format!("Can't get version of the global server state file '{p}'."),
        ),
        (
            format!("2\n{}\n", good_line(3)).into_bytes(),
            format!("Can't get version of the global server state file '{p}'."),
        ),
        // A line with too few fields: the whole file is left out, as HAProxy does.
        (
            format!("1\n# header\n{}\n2 bk 1 s1 127.0.0.1 2 0\n", good_line(3)).into_bytes(),
            format!("corrupted global server state file '{p}' at line "),
        ),
    ];
    for (content, warning) in cases {
        fs::write(&state_path, &content).unwrap();
        let fe = free_addr();
        let env = [
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("STATE", p.clone()),
        ];
        let h = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env);
        assert_eq!(stat(&h, "bk", "s1", "status"), "no check");
        assert_eq!(state(&h, "bk", "s1")[UWEIGHT], "10");
        assert_eq!(spread(fe, 1), counts(&[("a", 1)]));
        let err = h.stderr_text();
        assert!(err.contains(&warning), "{warning}\n{err}");
    }
    // A missing file.
    fs::remove_file(&state_path).unwrap();
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("A", a.cfg_addr()),
        ("STATE", p.clone()),
    ];
    let h = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env);
    assert_eq!(spread(fe, 1), counts(&[("a", 1)]));
    let err = h.stderr_text();
    assert!(
        err.contains(&format!(
            "Can't open global server state file '{p}': No such file or directory"
        )),
        "{err}"
    );
    // And the same line in a well-formed file is applied.
    fs::write(&state_path, format!("1\n{}\n", good_line(3))).unwrap();
    let h = start(&config(STATE_GLOBAL, LOAD_GLOBAL, rest), &env);
    assert_eq!(stat(&h, "bk", "s1", "status"), "MAINT");
    assert_eq!(state(&h, "bk", "s1")[UWEIGHT], "3");
}

#[test]
fn a_server_down_by_its_checks_stays_down_until_they_pass() {
    let b = HttpBackend::start("b", Duration::ZERO);
    let work = tempfile::tempdir().unwrap();
    let state_path = work.path().join("state");
    let closed = free_addr();
    let rest = |s1: &str, opts: &str| {
        format!(
            "backend bk
    server s1 {s1} check {opts}
    server s2 \"${{B}}\"
"
        )
    };
    let fe = free_addr();
    let env = [
        ("FE", haproxy_addr(fe)),
        ("B", b.cfg_addr()),
        ("CLOSED", haproxy_addr(closed)),
        ("STATE", state_path.display().to_string()),
    ];
    let h1 = start(
        &config("", "", &rest("\"${CLOSED}\"", "inter 100ms fall 1")),
        &env,
    );
    assert!(wait_until(Duration::from_secs(5), || stat(
        &h1, "bk", "s1", "status"
    )
    .starts_with("DOWN")));
    save_and_stop(h1, "show servers state", &state_path);
    assert!(
        fs::read_to_string(&state_path)
            .unwrap()
            .contains(" bk 1 s1 127.0.0.1 0 0 ")
    );

    // The server is healthy again, but needs `rise` good checks to come back. (Its port
    // is the saved one in any case: HAProxy applies `srv_port` even to an address written
    // in the configuration.)
    let _a = HttpBackend::start_at("a", &closed.to_string(), Duration::ZERO);
    let fe = free_addr();
    let mut env2 = env.clone();
    env2[0].1 = haproxy_addr(fe);
    let h2 = start(
        &config(
            STATE_GLOBAL,
            LOAD_GLOBAL,
            &rest("\"${CLOSED}\"", "inter 500ms rise 5"),
        ),
        &env2,
    );
    assert!(stat(&h2, "bk", "s1", "status").starts_with("DOWN"));
    assert_eq!(state(&h2, "bk", "s1")[OP], "0");
    assert_eq!(spread(fe, 3), counts(&[("b", 3)]));
    assert!(
        h2.stderr_text()
            .contains("Server bk/s1 is DOWN, changed from server-state after a reload."),
        "{}",
        h2.stderr_text()
    );
    assert!(wait_until(Duration::from_secs(10), || stat(
        &h2, "bk", "s1", "status"
    ) == "UP"));
    assert_eq!(state(&h2, "bk", "s1")[OP], "2");
    assert!(spread(fe, 4).get("a").is_some_and(|n| *n == 2));
}
