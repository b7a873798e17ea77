//! Runtime API commands on backends and servers (issue 5 part): `show backend`, `set
//! maxconn server`, with HAProxy's answers.

mod support;

use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

fn start(app: &HttpBackend) -> (Halo, std::net::SocketAddr, std::path::PathBuf) {
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    server s1 \"${S1}\" maxconn 1
backend other
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", app.cfg_addr())]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    (h, fe, sock)
}

/// Sends `n` requests at once; returns when all are answered.
fn concurrent(fe: std::net::SocketAddr, n: usize) {
    let hs: Vec<_> = (0..n)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(fe);
                assert_eq!(c.get("/", "").status, 200);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn show_backend_lists_backends() {
    let app = HttpBackend::start("app", Duration::ZERO);
    let (_h, _fe, sock) = start(&app);
    assert_eq!(cli(&sock, "show backend").unwrap(), "# name\nbe\nother\n\n");
}

#[test]
fn set_maxconn_server_changes_the_limit_at_once() {
    let app = HttpBackend::start("app", Duration::from_millis(300));
    let (_h, fe, sock) = start(&app);
    concurrent(fe, 3);
    assert_eq!(app.max_current.load(Ordering::Relaxed), 1);
    // The two others waited in the queue: qmax, and the queue times (qtime averages the
    // last 1024 requests, qtime_max is the longest wait, ~300 then ~600 ms).
    let stat = cli(&sock, "show stat").unwrap();
    let header: Vec<&str> = stat
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |row: &str, name: &str| -> u64 {
        let i = header.iter().position(|h| *h == name).unwrap();
        row.split(',').nth(i).unwrap().parse().unwrap_or(0)
    };
    let be_row = stat.lines().find(|l| l.starts_with("be,BACKEND,")).unwrap();
    assert!(col(be_row, "qmax") >= 1, "{be_row}");
    assert!(col(be_row, "qtime") >= 1, "{be_row}");
    assert!(col(be_row, "qtime_max") >= 250, "{be_row}");
    assert_eq!(cli(&sock, "set maxconn server be/s1 3").unwrap(), "\n");
    let stat = cli(&sock, "show stat").unwrap();
    let s1 = stat.lines().find(|l| l.starts_with("be,s1,")).unwrap();
    assert_eq!(s1.split(',').nth(6), Some("3"), "slim: {s1}");
    concurrent(fe, 3);
    assert_eq!(app.max_current.load(Ordering::Relaxed), 3);
    for (cmd, answer) in [
        (
            "set maxconn server be/s1 x",
            "maxconn string empty or preceded by garbage\n",
        ),
        ("set maxconn server be/nope 1", "No such server.\n\n"),
        ("set maxconn server be/s1", "Require <maxconn>.\n\n"),
    ] {
        assert_eq!(cli(&sock, cmd).unwrap(), answer, "{cmd}");
    }
}

#[test]
fn set_server_addr_moves_new_traffic() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let (_h, fe, sock) = start(&a);
    let get = || {
        let mut c = Client::connect(fe);
        // The backend answers "<name> <path> <body length>".
        c.get("/x", "")
            .body
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(get(), "a");
    let (pa, pb) = (a.addr.port(), b.addr.port());
    assert_eq!(
        cli(&sock, &format!("set server be/s1 addr 127.0.0.1 port {pb}")).unwrap(),
        format!(
            "no need to change the addr, port changed from '{pa}' to '{pb}' by 'stats socket command'\n\n"
        )
    );
    assert_eq!(get(), "b");
    let state = cli(&sock, "show servers state be").unwrap();
    assert!(state.contains(" s1 127.0.0.1 "), "{state}");
    assert!(state.contains(&format!(" - {pb} - ")), "{state}");
    for (cmd, answer) in [
        (
            format!("set server be/s1 addr 127.0.0.1 port {pb}"),
            "no need to change the addr, no need to change the port by 'stats socket command'\n\n".to_string(),
        ),
        (
            "set server be/s1 addr bogus".to_string(),
            "Invalid addr 'bogus' by 'stats socket command'\n\n".to_string(),
        ),
        (
            "set server be/s1 addr".to_string(),
            "set server <b>/<s> addr requires an address and optionally a port.\n\n".to_string(),
        ),
        (
            "set server be/s1 addr 127.0.0.2 port x".to_string(),
            "IP changed from '127.0.0.1' to '127.0.0.2', problem converting port 'x' to an int by 'stats socket command'\n\n".to_string(),
        ),
    ] {
        assert_eq!(cli(&sock, &cmd).unwrap(), answer, "{cmd}");
    }
}

fn two_servers() -> (
    Halo,
    std::net::SocketAddr,
    std::path::PathBuf,
    HttpBackend,
    HttpBackend,
) {
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    server s1 \"${S1}\" check inter 200ms
    server s2 \"${S2}\"
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    (h, fe, sock, a, b)
}

/// The first letters of the backends that answered `n` requests.
fn who(fe: std::net::SocketAddr, n: usize) -> String {
    let mut v: Vec<String> = (0..n)
        .map(|_| {
            let mut c = Client::connect(fe);
            c.get("/", "").body[..1].to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v.concat()
}

fn status_of(sock: &std::path::Path, srv: &str) -> String {
    let stat = cli(sock, "show stat").unwrap();
    let row = stat
        .lines()
        .find(|l| l.starts_with(&format!("be,{srv},")))
        .unwrap()
        .to_string();
    row.split(',').nth(17).unwrap().to_string()
}

#[test]
fn set_server_health_forces_the_state() {
    let (h, fe, sock, _a, _b) = two_servers();
    assert!(wait_until(Duration::from_secs(5), || status_of(
        &sock, "s1"
    ) == "UP"));
    assert_eq!(who(fe, 4), "ab");
    assert_eq!(cli(&sock, "set server be/s2 health down").unwrap(), "\n");
    assert_eq!(status_of(&sock, "s2"), "DOWN");
    assert_eq!(who(fe, 4), "a");
    assert!(
        wait_until(Duration::from_secs(5), || {
            h.stderr_text().contains(
        "Server be/s2 is DOWN, changed from CLI. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )
        }),
        "{}",
        h.stderr_text()
    );
    assert_eq!(cli(&sock, "set server be/s2 health up").unwrap(), "\n");
    assert_eq!(status_of(&sock, "s2"), "no check");
    assert_eq!(who(fe, 4), "ab");
    assert_eq!(
        cli(&sock, "set server be/s1 health stopping").unwrap(),
        "\n"
    );
    assert_eq!(status_of(&sock, "s1"), "NOLB");
    assert_eq!(who(fe, 4), "b");
    assert!(
        wait_until(Duration::from_secs(5), || {
            h.stderr_text().contains(
        "Server be/s1 is stopping, changed from CLI. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    )
        }),
        "{}",
        h.stderr_text()
    );
    assert_eq!(
        cli(&sock, "set server be/s1 health bogus").unwrap(),
        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"
    );
}

#[test]
fn health_checks_can_be_paused_and_moved() {
    let (_h, _fe, sock, _a, _b) = two_servers();
    assert!(wait_until(Duration::from_secs(5), || status_of(
        &sock, "s1"
    ) == "UP"));
    for (cmd, answer) in [
        ("disable health be/s1", "\n"),
        ("disable health be/s2", "\n"),
        ("disable health be/nope", "No such server.\n\n"),
        (
            "enable health be/s2",
            "Health check was not configured on this server, cannot enable.\n\n",
        ),
        (
            "enable agent be/s1",
            "Agent was not configured on this server, cannot enable.\n\n",
        ),
        ("disable agent be/s1", "\n"),
        (
            "set server be/s1 agent up",
            "agent checks are not enabled on this server.\n\n",
        ),
        (
            "set server be/s2 check-port 99",
            "health checks are not enabled on this server\n",
        ),
        // Paused checks take no port either.
        (
            "set server be/s1 check-port 99",
            "health checks are not enabled on this server\n",
        ),
    ] {
        assert_eq!(cli(&sock, cmd).unwrap(), answer, "{cmd}");
    }
    // Paused checks: the server keeps its state, shown without check.
    assert_eq!(status_of(&sock, "s1"), "no check");
    let state = cli(&sock, "show servers state be").unwrap();
    let s1: Vec<&str> = state
        .lines()
        .find(|l| l.contains(" s1 "))
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(
        s1[13], "2",
        "srv_check_state: configured, not enabled: {state}"
    );
    // A check port where nothing listens: once resumed, the check fails and s1 goes DOWN.
    let dead = free_port();
    assert_eq!(cli(&sock, "enable health be/s1").unwrap(), "\n");
    assert_eq!(
        cli(&sock, "set server be/s1 check-port 70000").unwrap(),
        "provided port is invalid\n"
    );
    assert_eq!(
        cli(&sock, "set server be/s1 check-port x").unwrap(),
        "provided port is not an integer\n"
    );
    assert_eq!(
        cli(&sock, &format!("set server be/s1 check-port {dead}")).unwrap(),
        "\n"
    );
    assert!(wait_until(Duration::from_secs(8), || status_of(
        &sock, "s1"
    ) == "DOWN"));
    let state = cli(&sock, "show servers state be").unwrap();
    assert!(state.contains(&format!(" 0 {dead} - ")), "{state}");
}

#[test]
fn priority_classes_order_the_queue() {
    let app = HttpBackend::start("app", Duration::from_millis(300));
    let fe = free_addr();
    let cfg = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    http-request set-priority-class req.hdr(x-class),word(1,/)
    http-request set-priority-offset int(0)
    server s1 \"${S1}\" maxconn 1
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", app.cfg_addr())]);
    let send = |path: &'static str, class: &'static str| {
        thread::spawn(move || {
            let mut c = Client::connect(fe);
            assert_eq!(c.get(path, &format!("X-Class: {class}\r\n")).status, 200);
        })
    };
    // The first request holds the server; then a low priority one queues, then a high
    // priority one, which is served first.
    let a = send("/a", "0");
    thread::sleep(Duration::from_millis(80));
    let b = send("/low", "10");
    thread::sleep(Duration::from_millis(80));
    let c = send("/high", "-10");
    for t in [a, b, c] {
        t.join().unwrap();
    }
    let order: Vec<String> = app.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(order, ["/a", "/high", "/low"]);
}

/// `hash-preserve-affinity maxconn`: a request whose hashed server is full goes to the
/// next server of the hash ring instead of waiting (`always`, the default, waits).
#[test]
fn hash_preserve_affinity_skips_saturated_servers() {
    if skip_on_reference("hash-preserve-affinity is a 3.x keyword") {
        return;
    }
    for (mode, spread) in [("always", false), ("maxconn", true)] {
        let a = HttpBackend::start("a", Duration::from_millis(400));
        let b = HttpBackend::start("b", Duration::from_millis(400));
        let fe = free_addr();
        let cfg = format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 5s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    balance hdr(x-k)
    hash-type consistent
    hash-preserve-affinity {mode}
    server s1 \"${{S1}}\" maxconn 1
    server s2 \"${{S2}}\" maxconn 1
"
        );
        let _h = Halo::start(
            &cfg,
            &[
                ("FE", haproxy_addr(fe)),
                ("S1", a.cfg_addr()),
                ("S2", b.cfg_addr()),
            ],
        );
        let hs: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    let mut c = Client::connect(fe);
                    assert_eq!(c.get("/", "X-K: same\r\n").status, 200);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let (na, nb) = (a.seen().len(), b.seen().len());
        assert_eq!(na + nb, 2);
        assert_eq!(na == 1 && nb == 1, spread, "{mode}: a {na}, b {nb}");
    }
}

/// `tcp-request content set-priority-class` orders a TCP backend's queue too.
#[test]
fn tcp_priority_classes_order_the_queue() {
    let app = TcpBackend::echo_named_with_delay("app", Duration::from_millis(300));
    let fe = free_addr();
    let cfg = "defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    tcp-request inspect-delay 2s
    tcp-request content set-priority-class req.payload(0,0),word(1,/) if { req.len gt 0 }
    server s1 \"${S1}\" maxconn 1
";
    let _h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", app.cfg_addr())]);
    let send = |line: &'static str| {
        thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(fe).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(format!("{line}\n").as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            assert_eq!(out, "app\n");
        })
    };
    let a = send("0/a");
    thread::sleep(Duration::from_millis(80));
    let b = send("10/low");
    thread::sleep(Duration::from_millis(80));
    let c = send("-10/high");
    for t in [a, b, c] {
        t.join().unwrap();
    }
    let order: Vec<String> = app.records().into_iter().map(|r| r.request).collect();
    assert_eq!(order, ["0/a", "-10/high", "10/low"]);
}
