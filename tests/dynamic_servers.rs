//! Dynamic servers through the runtime API: `add server B/S ADDR [options]` (takes traffic
//! at once, inherits `default-server`, `from`, checks, `track`) and `del server B/S` (only
//! in maintenance, unreferenced and without connections), with HAProxy's answers.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

const CFG: &str = "global
    stats socket \"${DIR}/admin.sock\" level admin
    stats socket \"${DIR}/oper.sock\" level operator
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    retries 3
    option redispatch
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    default-server weight 3 maxconn 20
    server s1 \"${S1}\"
backend hashed
    balance source
    server h1 \"${S1}\"
backend chash
    balance source
    hash-type consistent
    server c1 \"${S1}\"
backend used
    use-server u1 if { always_true }
    server u1 \"${S1}\"
";

fn start(s1: &HttpBackend) -> (Halo, SocketAddr, std::path::PathBuf) {
    let fe = free_addr();
    let h = Halo::start(CFG, &[("FE", haproxy_addr(fe)), ("S1", s1.cfg_addr())]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    (h, fe, sock)
}

fn c(sock: &std::path::Path, cmd: &str) -> String {
    cli(sock, cmd).unwrap()
}

/// The `show servers state` line of `be/name`, split in fields.
fn state_line(sock: &std::path::Path, be: &str, name: &str) -> Option<Vec<String>> {
    c(sock, &format!("show servers state {be}"))
        .lines()
        .map(|l| l.split(' ').map(String::from).collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[1] == be && f[3] == name)
}

/// Which server answered `n` requests (the body starts with the backend's name).
fn answers(fe: SocketAddr, n: usize) -> Vec<String> {
    let mut c = Client::connect(fe);
    (0..n)
        .map(|_| {
            let r = c.get("/", "");
            assert_eq!(r.status, 200, "{}", r.body);
            r.body.split(' ').next().unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn added_server_takes_traffic_at_once_with_default_server_settings() {
    if skip_on_reference(
        "haproxy 2.6 creates dynamic servers in maintenance, ignoring default-server",
    ) {
        return;
    }
    let a = HttpBackend::start("A", Duration::ZERO);
    let b = HttpBackend::start("B", Duration::ZERO);
    let (_h, fe, sock) = start(&a);
    assert_eq!(
        c(&sock, &format!("add server be/s2 {}", b.cfg_addr())),
        "New server registered.\n\n"
    );
    // No `enable server` needed: the next requests are shared by weight (3 and 3).
    let got = answers(fe, 6);
    assert_eq!(got.iter().filter(|n| *n == "B").count(), 3, "{got:?}");
    // default-server's weight and maxconn.
    let f = state_line(&sock, "be", "s2").expect("s2 listed");
    assert_eq!((f[7].as_str(), f[8].as_str()), ("3", "3"), "{f:?}");
    let stat = c(&sock, "show stat");
    let row = stat
        .lines()
        .find(|l| l.starts_with("be,s2,"))
        .expect("s2 in show stat");
    let cols: Vec<&str> = row.split(',').collect();
    assert_eq!(cols[6], "20", "slim: {row}");
    // The new server's id follows the configured ones.
    assert_eq!(f[2], "2");
    // `from none`: the documented defaults (weight 1), and options on the line.
    let c3 = HttpBackend::start("C", Duration::ZERO);
    assert_eq!(
        c(
            &sock,
            &format!("add server be/s3 {} from none", c3.cfg_addr())
        ),
        "New server registered.\n\n"
    );
    let f = state_line(&sock, "be", "s3").unwrap();
    assert_eq!(f[7], "1");
    assert_eq!(
        c(
            &sock,
            &format!("add server be/s4 {} weight 9 id 40", c3.cfg_addr())
        ),
        "New server registered.\n\n"
    );
    let f = state_line(&sock, "be", "s4").unwrap();
    assert_eq!((f[2].as_str(), f[7].as_str()), ("40", "9"));
    // `from srv:be/s4` copies its settings (not its id).
    assert_eq!(
        c(
            &sock,
            &format!("add server be/s5 {} from srv:be/s4", c3.cfg_addr())
        ),
        "New server registered.\n\n"
    );
    let f = state_line(&sock, "be", "s5").unwrap();
    assert_eq!((f[2].as_str(), f[7].as_str()), ("41", "9"));
    // A consistent-hash backend accepts new servers.
    assert_eq!(
        c(&sock, &format!("add server chash/c2 {}", b.cfg_addr())),
        "New server registered.\n\n"
    );
}

#[test]
fn add_server_refusals_use_haproxy_words() {
    let a = HttpBackend::start("A", Duration::ZERO);
    let (_h, _fe, sock) = start(&a);
    let addr = a.cfg_addr();
    let cases = [
        (format!("add server nob/x {addr}"), "No such backend.\n"),
        (
            format!("add server be {addr}"),
            "Require 'backend/server'.\n",
        ),
        (
            format!("add server be/s1 {addr}"),
            "Already exists a server with the same name in backend.\n\n",
        ),
        (
            format!("add server hashed/h2 {addr}"),
            "Backend must use a dynamic load balancing to support dynamic servers.\n",
        ),
        (
            "add server be/s9".to_string(),
            "'server' expects <name> and <addr>[:<port>] as arguments.\n\n",
        ),
        (
            format!("add server be/s9 {addr} id 1"),
            "'id' : custom id 1 already used at ",
        ),
        (
            format!("add server be/s9 {addr} init-addr none"),
            "'init-addr' option is not accepted for dynamic server\n\n",
        ),
    ];
    for (cmd, want) in cases {
        let got = c(&sock, &cmd);
        assert!(got.starts_with(want), "{cmd}: {got:?}");
    }
    if is_reference_haproxy() {
        return;
    }
    // An unknown option names itself; a bad value is refused; nothing was added.
    let got = c(&sock, &format!("add server be/s9 {addr} foo"));
    assert!(got.contains("'foo'"), "{got}");
    let got = c(&sock, &format!("add server be/s9 {addr} weight x"));
    assert!(got.contains("weight"), "{got}");
    assert!(state_line(&sock, "be", "s9").is_none());
    // Operator level may not add servers.
    let oper = sock.with_file_name("oper.sock");
    assert_eq!(
        c(&oper, &format!("add server be/s9 {addr}")),
        "Permission denied\n\n"
    );
}

#[test]
fn del_server_only_in_maintenance_and_without_connections() {
    let a = HttpBackend::start("A", Duration::ZERO);
    let slow = HttpBackend::start("S", Duration::from_millis(1500));
    let (_h, fe, sock) = start(&a);
    let add = c(&sock, &format!("add server be/s2 {}", slow.cfg_addr()));
    assert_eq!(add, "New server registered.\n\n");
    c(&sock, "enable server be/s2");
    assert_eq!(
        c(&sock, "del server be/s2"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    // A request in progress on s2 keeps it.
    c(&sock, "set server be/s1 state maint");
    let busy = thread::spawn(move || {
        let mut cl = Client::connect(fe);
        cl.get("/", "").status
    });
    assert!(wait_until(Duration::from_secs(5), || slow
        .current
        .load(Ordering::Relaxed)
        == 1));
    c(&sock, "disable server be/s2");
    assert_eq!(
        c(&sock, "del server be/s2"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    assert_eq!(busy.join().unwrap(), 200);
    assert!(wait_until(Duration::from_secs(5), || c(
        &sock,
        "del server be/s2"
    ) == "Server deleted.\n"));
    assert_eq!(c(&sock, "del server be/s2"), "No such server.\n");
    assert!(state_line(&sock, "be", "s2").is_none());
    assert!(!c(&sock, "show stat").contains("be,s2,"));
    // Servers named elsewhere in the configuration stay.
    c(&sock, "disable server used/u1");
    assert_eq!(
        c(&sock, "del server used/u1"),
        "This server cannot be removed at runtime due to other configuration elements pointing to it.\n"
    );
    // A configured server can be deleted too; its name can be used again.
    assert_eq!(c(&sock, "del server be/s1"), "Server deleted.\n");
    if is_reference_haproxy() {
        return;
    }
    assert_eq!(
        c(&sock, &format!("add server be/s1 {}", a.cfg_addr())),
        "New server registered.\n\n"
    );
    assert_eq!(answers(fe, 2), ["A", "A"]);
}

#[test]
fn tracking_and_checks_of_added_servers() {
    if skip_on_reference("haproxy 2.6 creates dynamic servers in maintenance") {
        return;
    }
    let a = HttpBackend::start("A", Duration::ZERO);
    let (_h, fe, sock) = start(&a);
    // A server whose check fails goes DOWN, traffic stays on s1 without an error.
    let dead = free_addr();
    assert_eq!(
        c(
            &sock,
            &format!(
                "add server be/d1 {} check inter 100ms fall 1 rise 1",
                haproxy_addr(dead)
            )
        ),
        "New server registered.\n\n"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        c(&sock, "show stat")
            .lines()
            .any(|l| l.starts_with("be,d1,") && l.contains(",DOWN,"))
    }));
    assert_eq!(answers(fe, 4), ["A", "A", "A", "A"]);
    // `track` follows a configured server's state, and keeps it from being deleted.
    let b = HttpBackend::start("B", Duration::ZERO);
    assert_eq!(
        c(
            &sock,
            &format!("add server be/t1 {} track be/s1", b.cfg_addr())
        ),
        "New server registered.\n\n"
    );
    assert_eq!(
        c(
            &sock,
            &format!("add server be/t2 {} track be/t1", b.cfg_addr())
        ),
        "unable to use be/t1 for tracking as it is a dynamic server.\n\n"
    );
    c(&sock, "disable server be/s1");
    let stat = c(&sock, "show stat");
    assert!(
        stat.lines()
            .any(|l| l.starts_with("be,t1,") && l.contains("MAINT (via be/s1)")),
        "{stat}"
    );
    assert_eq!(
        c(&sock, "del server be/s1"),
        "This server cannot be removed at runtime due to other configuration elements pointing to it.\n"
    );
    // Once the tracker is gone, the tracked server can go.
    assert_eq!(c(&sock, "del server be/t1"), "Server deleted.\n");
    assert_eq!(c(&sock, "del server be/s1"), "Server deleted.\n");
    // d1 is checked and DOWN: no server left, 503.
    let mut cl = Client::connect(fe);
    assert_eq!(cl.get("/", "").status, 503);
}

/// Servers added and deleted while clients keep sending requests: no request fails.
#[test]
fn servers_come_and_go_under_load_without_errors() {
    if skip_on_reference("haproxy 2.6 creates dynamic servers in maintenance") {
        return;
    }
    let apps: Vec<HttpBackend> = (0..4)
        .map(|i| HttpBackend::start(&format!("N{i}"), Duration::from_millis(2)))
        .collect();
    let (_h, fe, sock) = start(&apps[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (stop, failed, done) = (stop.clone(), failed.clone(), done.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // One request per connection, so every one is balanced anew.
                    let ok = (|| -> std::io::Result<bool> {
                        let mut s = TcpStream::connect(fe)?;
                        s.set_read_timeout(Some(Duration::from_secs(5)))?;
                        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
                        let mut out = Vec::new();
                        s.read_to_end(&mut out)?;
                        Ok(out.starts_with(b"HTTP/1.1 200"))
                    })()
                    .unwrap_or(false);
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for round in 0..5 {
        for (i, app) in apps.iter().enumerate().skip(1) {
            let r = c(
                &sock,
                &format!("add server be/n{round}_{i} {}", app.cfg_addr()),
            );
            assert_eq!(r, "New server registered.\n\n");
        }
        thread::sleep(Duration::from_millis(100));
        for i in 1..apps.len() {
            let name = format!("be/n{round}_{i}");
            c(&sock, &format!("disable server {name}"));
            assert!(
                wait_until(Duration::from_secs(5), || c(
                    &sock,
                    &format!("del server {name}")
                ) == "Server deleted.\n"),
                "{name} never removable"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "{}",
        done.load(Ordering::Relaxed)
    );
    // Every added server got traffic.
    for app in apps.iter().skip(1) {
        assert!(!app.seen().is_empty(), "{} never used", app.name);
    }
    let stat = c(&sock, "show stat");
    let servers: Vec<&str> = stat
        .lines()
        .filter(|l| l.starts_with("be,") && !l.starts_with("be,BACKEND"))
        .collect();
    assert_eq!(servers.len(), 1, "{stat}");
}

/// `from <origin>` on configuration lines: `server … from S`, `from srv:B/S`, `from none`,
/// `default-server from be:B`.
#[test]
fn from_on_server_lines_presets_settings() {
    if skip_on_reference("haproxy 2.6 has no 'from' on server lines") {
        return;
    }
    let a = HttpBackend::start("A", Duration::ZERO);
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
backend tpl
    default-server weight 5 maxconn 7
    server t1 \"${S1}\" weight 9
backend be
    default-server from be:tpl
    server s1 \"${S1}\"
    server s2 \"${S1}\" from srv:tpl/t1
    server s3 \"${S1}\" from none
    server s4 \"${S1}\" from s2 weight 2
";
    let h = Halo::start(cfg, &[("S1", a.cfg_addr())]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let w = |s: &str| state_line(&sock, "be", s).unwrap()[7].clone();
    assert_eq!([w("s1"), w("s2"), w("s3"), w("s4")], ["5", "9", "1", "2"]);
    // A `from` after other settings is refused with its line.
    let bad = cfg.replace("from none", "weight 3 from none");
    let (code, _out, err) = run_check(
        Cfg::Text(&bad),
        &[("S1", a.cfg_addr()), ("DIR", "/tmp".into())],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("'from' must be specified before any other server settings"),
        "{err}"
    );
}

/// A server added with a host name is not resolved (as HAProxy: `init-addr none`); it
/// waits in resolution maintenance until `set server B/S addr` gives it an address.
#[test]
fn added_host_name_waits_for_an_address() {
    if skip_on_reference("haproxy 2.6 cannot set the address of such a server") {
        return;
    }
    let a = HttpBackend::start("A", Duration::ZERO);
    let b = HttpBackend::start("B", Duration::ZERO);
    let (_h, fe, sock) = start(&a);
    c(&sock, "set server be/s1 state maint");
    assert_eq!(
        c(
            &sock,
            &format!("add server be/f1 app.invalid:{}", b.addr.port())
        ),
        "New server registered.\n\n"
    );
    let stat = c(&sock, "show stat");
    assert!(
        stat.lines()
            .any(|l| l.starts_with("be,f1,") && l.contains(",MAINT (resolution),")),
        "{stat}"
    );
    let mut cl = Client::connect(fe);
    assert_eq!(cl.get("/", "").status, 503);
    let r = c(&sock, "set server be/f1 addr 127.0.0.1");
    assert!(
        r.starts_with("IP changed from '0.0.0.0' to '127.0.0.1'"),
        "{r}"
    );
    assert_eq!(answers(fe, 2), ["B", "B"]);
}
