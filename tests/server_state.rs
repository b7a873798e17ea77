//! Server state propagation and ramp-up: `track` (chains, refused loops, "via" messages,
//! inherited maintenance), `slowstart` (a server back UP gets a growing share) and
//! `option log-health-checks`. Each test also runs against haproxy 2.6.

mod support;

use std::time::{Duration, Instant};

use support::*;

fn sock(h: &Halo) -> std::path::PathBuf {
    h.dir().join("admin.sock")
}

/// The `show stat` field `col` (0-based) of row `px,sv`.
fn stat(h: &Halo, px: &str, sv: &str, col: usize) -> String {
    let out = cli(&sock(h), "show stat").unwrap_or_default();
    let prefix = format!("{px},{sv},");
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split(',').nth(col).map(str::to_string))
        .unwrap_or_default()
}

const STATUS: usize = 17;
const THROTTLE: usize = 29;
const TRACKED: usize = 31;
const CHECK_STATUS: usize = 36;

fn wait_log(h: &Halo, text: &str) {
    assert!(
        wait_until(Duration::from_secs(8), || h.stderr_text().contains(text)),
        "missing {text:?} in:\n{}",
        h.stderr_text()
    );
}

fn tracking_setup(s1: &TcpBackend, extra: &str) -> (Halo, std::net::SocketAddr) {
    let fe = free_addr();
    let cfg = format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend f
    bind \"${{FE}}\"
    default_backend b3
backend b1
{extra}
    server s1 \"${{S1}}\" check inter 100 rise 2 fall 2
backend b2
    server s1 \"${{S1}}\" track b1/s1
backend b3
    server s1 \"${{S1}}\" track b2/s1
"
    );
    let h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s1.cfg_addr())]);
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    (h, fe)
}

#[test]
fn tracking_chain_follows_the_checked_server() {
    let s1 = TcpBackend::echo_named("s1");
    let (h, fe) = tracking_setup(&s1, "");
    assert_eq!(request(fe).unwrap(), "s1");
    assert_eq!(stat(&h, "b2", "s1", TRACKED), "b1/s1");
    assert_eq!(stat(&h, "b3", "s1", TRACKED), "b2/s1");
    assert_eq!(stat(&h, "b1", "s1", TRACKED), "");
    assert_eq!(stat(&h, "b3", "s1", STATUS), "UP");
    // Tracking servers run no checks of their own.
    assert_eq!(stat(&h, "b2", "s1", CHECK_STATUS), "");

    s1.stop();
    wait_log(
        &h,
        "Server b2/s1 is DOWN via b1/s1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
    );
    wait_log(
        &h,
        "Server b3/s1 is DOWN via b2/s1. 0 active and 0 backup servers left.",
    );
    wait_log(&h, "backend 'b3' has no server available!");
    assert_eq!(stat(&h, "b3", "s1", STATUS), "DOWN");
    assert!(request(fe).is_err(), "a DOWN tracking server took traffic");
    // The checked server's reason is in its own message, not the tracking ones.
    let err = h.stderr_text();
    let down = err.find("Server b1/s1 is DOWN, reason: Layer4 connection problem");
    let via = err.find("Server b2/s1 is DOWN via b1/s1.");
    assert!(down.is_some() && down < via, "{err}");

    s1.restart();
    wait_log(
        &h,
        "Server b2/s1 is UP via b1/s1. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
    );
    wait_log(&h, "Server b3/s1 is UP via b2/s1.");
    assert!(wait_until(Duration::from_secs(5), || request(fe).is_ok()));
}

#[test]
fn maintenance_is_inherited_by_tracking_servers() {
    let s1 = TcpBackend::echo_named("s1");
    let (h, fe) = tracking_setup(&s1, "");
    assert_eq!(cli(&sock(&h), "disable server b1/s1").unwrap().trim(), "");
    wait_log(
        &h,
        "Server b2/s1 is going DOWN for maintenance via b1/s1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
    );
    wait_log(&h, "Server b3/s1 is going DOWN for maintenance via b2/s1.");
    assert_eq!(stat(&h, "b1", "s1", STATUS), "MAINT");
    assert_eq!(stat(&h, "b2", "s1", STATUS), "MAINT (via b1/s1)");
    assert_eq!(stat(&h, "b3", "s1", STATUS), "MAINT (via b2/s1)");
    assert!(request(fe).is_err());

    cli(&sock(&h), "enable server b1/s1").unwrap();
    wait_log(&h, "Server b1/s1 is UP/READY (leaving forced maintenance).");
    wait_log(&h, "Server b2/s1 is UP/READY (leaving maintenance).");
    wait_log(&h, "Server b3/s1 is UP/READY (leaving maintenance).");
    assert_eq!(request(fe).unwrap(), "s1");
}

#[test]
fn tracking_errors_are_refused() {
    let cfg = "defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend b1
    server s1 127.0.0.1:9 track b2/s1
    server s2 127.0.0.1:9 track b1/s1
    server s3 127.0.0.1:9 check
    server s4 127.0.0.1:9 track s3
    server s5 127.0.0.1:9 track s4
backend b2
    server s1 127.0.0.1:9 track b1/s2
backend b3
    server s1 127.0.0.1:9 track b3/s2
    server s2 127.0.0.1:9
    server s3 127.0.0.1:9 track s3
    server s4 127.0.0.1:9 track nob/s1
    server s5 127.0.0.1:9 track b1/nos
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0, "{err}");
    for m in [
        "'server b2/s1' : unable to track b1/s2 as it belongs to a tracking chain looping back to b1/s1.",
        "'server b3/s1' : unable to use b3/s2 for tracking as it does not have any check nor agent enabled.",
        "'server b3/s3' : unable to track b3/s3 as it belongs to a tracking chain looping back to b3/s3.",
        "'server b3/s4' : unable to find required proxy 'nob' for tracking.",
        "'server b3/s5' : unable to find required server 'nos' for tracking.",
    ] {
        assert!(err.contains(m), "missing {m:?} in:\n{err}");
    }
    // Chains ending on a checked server are fine.
    assert!(!err.contains("'server b1/s4'"), "{err}");
    assert!(!err.contains("'server b1/s5'"), "{err}");

    // A server does not both check and track.
    let cfg = "defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend b1
    server s1 127.0.0.1:9 check
    server s2 127.0.0.1:9 check track s1
";
    let (code, _, err) = run_check(Cfg::Text(cfg), &[]);
    assert_ne!(code, 0, "{err}");
    let m = "'server b1/s2' : unable to enable checks and tracking at the same time!";
    assert!(err.contains(m), "missing {m:?} in:\n{err}");
}

#[test]
fn log_health_checks_logs_every_change() {
    let s1 = TcpBackend::echo_named("s1");
    let (h, _fe) = tracking_setup(&s1, "    option log-health-checks");
    wait_log(
        &h,
        "Health check for server b1/s1 succeeded, reason: Layer4 check passed, check duration: ",
    );
    wait_log(&h, "ms, status: 2/2 UP.");
    s1.stop();
    wait_log(
        &h,
        "Health check for server b1/s1 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: ",
    );
    wait_log(&h, "ms, status: 1/2 UP.");
    wait_log(&h, "ms, status: 0/2 DOWN.");
    // The state change leaves the details to the check lines.
    wait_log(
        &h,
        "Server b1/s1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
    );
    s1.restart();
    wait_log(&h, "ms, status: 1/2 DOWN.");
    wait_log(
        &h,
        "Server b1/s1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
    );
    // Without status or health change, nothing more is logged.
    let n = h.stderr_text().matches("Health check for server").count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        h.stderr_text().matches("Health check for server").count(),
        n
    );
}

#[test]
fn slowstart_gives_a_growing_share() {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    server a \"${A}\" check inter 100 rise 1 fall 1 weight 10
    server b \"${B}\" check inter 100 rise 1 fall 1 weight 10 slowstart 4s
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    // No ramp at start-up: both share evenly at once.
    let first: Vec<String> = (0..20).map(|_| request(fe).unwrap()).collect();
    assert_eq!(
        tally(&first).get("b").copied().unwrap_or(0),
        10,
        "{first:?}"
    );
    assert_eq!(stat(&h, "be", "b", THROTTLE), "");

    b.stop();
    wait_log(&h, "Server be/b is DOWN");
    b.restart();
    wait_log(&h, "Server be/b is UP");
    let up = Instant::now();
    // Shares of b over windows of the ramp, then after it.
    let mut windows: Vec<(usize, usize)> = vec![(0, 0); 3];
    let mut throttles = Vec::new();
    while up.elapsed() < Duration::from_millis(5500) {
        let t = up.elapsed().as_millis();
        let w = if t <= 1200 {
            0
        } else if t <= 4300 {
            // The middle of the ramp: only the `throttle` column is read.
            if throttles.len() < 3 && t > 2000 {
                throttles.push(stat(&h, "be", "b", THROTTLE));
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        } else {
            2
        };
        for _ in 0..10 {
            let who = request(fe).unwrap();
            windows[w].0 += 1;
            if who == "b" {
                windows[w].1 += 1;
            }
        }
    }
    let share = |w: (usize, usize)| w.1 as f64 / w.0.max(1) as f64;
    let (early, late) = (share(windows[0]), share(windows[2]));
    assert!(windows[0].0 >= 20 && windows[2].0 >= 20, "{windows:?}");
    assert!(early < 0.25, "early share {early} {windows:?}");
    assert!(late > 0.4, "late share {late} {windows:?}");
    // While ramping, `throttle` shows the percentage reached.
    let t: Vec<u32> = throttles.iter().filter_map(|t| t.parse().ok()).collect();
    assert!(
        !t.is_empty() && t.iter().all(|&p| p > 0 && p < 100),
        "{throttles:?}"
    );
    assert_eq!(stat(&h, "be", "b", THROTTLE), "");
}

/// Seed 16 without what needs root (`usesrc`): the url_param backend's servers track the
/// uri backend's. (As written,
/// `/images.php` also matches `pseudo_static`, so the url_param backend gets no traffic:
/// its state is seen in `show stat` and the messages.)
#[test]
fn seed16_url_param_servers_track_the_varnish_checks() {
    use support::http::*;
    let text: String = seed_text("16-varnish-single-hostname.cfg")
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.contains("usesrc")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let (s1, s2) = (
        HttpBackend::start("s1", Duration::ZERO),
        HttpBackend::start("s2", Duration::ZERO),
    );
    let (v1, v2) = (
        HttpBackend::start("v1", Duration::ZERO),
        HttpBackend::start("v2", Duration::ZERO),
    );
    let fe = free_addr();
    let sys = support::syslog::Syslog::udp();
    let h = Halo::start(
        &text,
        &[
            ("SYSLOG", sys.target()),
            ("FE", haproxy_addr(fe)),
            ("FE_STATS", haproxy_addr(free_addr())),
            ("FE_STATIC", haproxy_addr(free_addr())),
            ("S1", s1.cfg_addr()),
            ("S2", s2.cfg_addr()),
            ("V1", v1.cfg_addr()),
            ("V2", v2.cfg_addr()),
        ],
    );
    assert!(
        wait_cli(&sock(&h), Duration::from_secs(5)),
        "{}",
        h.stderr_text()
    );
    let names = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let mut c = Client::connect(fe);
                c.get(&format!("/img{i}.css"), "")
                    .body
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let before = tally(&names(40));
    assert!(
        before.contains_key("v1") && before.contains_key("v2"),
        "{before:?}"
    );
    let (p, v) = ("bk_varnish_url_param", "varnish1");
    assert_eq!(stat(&h, p, v, TRACKED), "bk_varnish_uri/varnish1");

    cli(&sock(&h), "set server bk_varnish_uri/varnish1 health down").unwrap();
    wait_log(
        &h,
        "Server bk_varnish_url_param/varnish1 is DOWN via bk_varnish_uri/varnish1. 1 active and 0 backup servers left.",
    );
    assert_eq!(stat(&h, p, v, STATUS), "DOWN");
    // A tracking server shows the health of the checked one ("UP 1/2" before its first
    // check, as haproxy).
    assert_eq!(
        stat(&h, p, "varnish2", STATUS),
        stat(&h, "bk_varnish_uri", "varnish2", STATUS)
    );
    let during = tally(&names(20));
    assert_eq!(during.get("v2"), Some(&20), "{during:?}");

    cli(&sock(&h), "set server bk_varnish_uri/varnish1 health up").unwrap();
    wait_log(
        &h,
        "Server bk_varnish_url_param/varnish1 is UP via bk_varnish_uri/varnish1. 2 active and 0 backup servers online.",
    );
    // `default-server … slowstart 60s`: both ramp up again.
    let t: u32 = stat(&h, p, v, THROTTLE).parse().unwrap_or(0);
    assert!(t > 0 && t < 100, "throttle {t}");
    assert!(tally(&names(40)).contains_key("v1"));
}

/// `balance first` fills b up to its (ramping) limit before a: the weight plays no part,
/// only the maxconn ramp is measured.
#[test]
fn slowstart_ramps_the_maxconn() {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance first
    server b \"${B}\" check inter 100 rise 1 fall 1 maxconn 10 slowstart 3s
    server a \"${A}\" check inter 100 rise 1 fall 1
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("A", a.cfg_addr()),
            ("B", b.cfg_addr()),
        ],
    );
    assert!(wait_cli(&sock(&h), Duration::from_secs(5)));
    let held_on_b = |n: usize| {
        let held: Vec<HeldConn> = (0..n).map(|_| hold(fe).unwrap()).collect();
        let on_b = held.iter().filter(|c| c.name == "b").count();
        for c in held {
            c.close();
        }
        on_b
    };
    // At start-up the whole limit is there at once.
    assert_eq!(held_on_b(30), 10);
    assert!(wait_until(Duration::from_secs(5), || b.current() == 0));

    b.stop();
    wait_log(&h, "Server be/b is DOWN");
    b.restart();
    wait_log(&h, "Server be/b is UP");
    // Just after coming back, only a small part of the limit: the rest goes to a.
    let early = held_on_b(30);
    assert!((1..=4).contains(&early), "{early} connections on b");
    assert!(wait_until(Duration::from_secs(5), || b.current() == 0));
    // After the ramp, the whole limit again.
    std::thread::sleep(Duration::from_millis(3200));
    assert_eq!(held_on_b(30), 10);
}
