//! `server-template`: servers named <prefix><n> over a number or a range, sharing one
//! address and the line's settings (over `default-server`, or those of the server named
//! after `from`), numbered after the servers before them.

mod support;

use std::time::Duration;

use support::http::*;
use support::*;

#[test]
fn templates_declare_numbered_servers_that_take_traffic() {
    let app = HttpBackend::start("app", Duration::ZERO);
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
    default-server weight 5
    server base \"${S1}\" weight 7
    server-template web 2-4 \"${S1}\" weight 3
    server-template api 2 \"${S1}\"
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", app.cfg_addr())]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let state = cli(&sock, "show servers state be").unwrap();
    let rows: Vec<String> = state
        .lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            format!("{} {} {}", w[2], w[3], w[7])
        })
        .collect();
    assert_eq!(
        rows,
        [
            "1 base 7", "2 web2 3", "3 web3 3", "4 web4 3", "5 api1 5", "6 api2 5"
        ],
        "{state}"
    );
    for _ in 0..6 {
        let mut c = Client::connect(fe);
        assert_eq!(c.get("/", "").status, 200);
    }
    assert_eq!(app.seen().len(), 6);
}

#[test]
fn template_errors_name_the_line() {
    for (line, msg) in [
        (
            "server-template x 0 127.0.0.1:1",
            "Wrong server-template number or range arg '0'.",
        ),
        (
            "server-template x 3-1 127.0.0.1:1",
            "Wrong server-template number or range arg '3-1'.",
        ),
        (
            "server-template x",
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
        ),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten be\n    bind 127.0.0.1:{}\n    {line}\n",
            free_port()
        );
        let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
        assert_ne!(code, 0, "{line}");
        assert!(err.contains(":8]"), "{err}");
        assert!(err.contains(msg), "{line}: {err}");
    }
}
