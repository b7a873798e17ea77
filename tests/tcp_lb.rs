//! TCP load balancing end to end: balance algorithms, weights, maxconn and
//! queues, retries and redispatch, backup servers, source address and port
//! ranges, PROXY protocol v1/v2 sent and accepted.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread;
use std::time::Duration;
use support::*;

const DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout queue 10s
";

/// A frontend on `${FE}` in front of backend `bk` whose body is `backend`.
fn lb_config(backend: &str) -> String {
    format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    default_backend bk

backend bk
{backend}"
    )
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `n` sequential requests through `fe`, tallied by server name.
fn spread(fe: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let names: Vec<String> = (0..n)
        .map(|i| request(fe).unwrap_or_else(|e| panic!("request {i} failed: {e}")))
        .collect();
    tally(&names)
}

fn weighted_shares(balance: &str) {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let fe = free_addr();
    let cfg = lb_config(&format!(
        "    balance {balance}
    server a \"${{S1}}\" weight 1
    server b \"${{S2}}\" weight 3
"
    ));
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
        ],
    );
    let counts = spread(fe, 400);
    let share_a = *counts.get("a").unwrap_or(&0) as f64 / 400.0;
    let share_b = *counts.get("b").unwrap_or(&0) as f64 / 400.0;
    assert!(
        (share_a - 0.25).abs() <= 0.05 && (share_b - 0.75).abs() <= 0.05,
        "{balance}: expected 25/75 %, got {counts:?}"
    );
}

#[test]
fn roundrobin_follows_weights() {
    weighted_shares("roundrobin");
}

#[test]
fn static_rr_follows_weights() {
    weighted_shares("static-rr");
}

#[test]
fn leastconn_avoids_the_busy_server() {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let fe = free_addr();
    let cfg = lb_config(
        "    balance leastconn
    server a \"${S1}\"
    server b \"${S2}\"
",
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
        ],
    );
    // Three long-lived connections: leastconn puts the second on the other
    // server, the third on either, so one server ("busy") holds two.
    let mut held: Vec<HeldConn> = (0..3)
        .map(|_| hold(fe).expect("long-lived connection"))
        .collect();
    let counts = tally(held.iter().map(|h| &h.name));
    let mut loads: Vec<usize> = counts.values().copied().collect();
    loads.sort();
    assert_eq!(loads, [1, 2], "long-lived connections: {counts:?}");
    let busy = counts.iter().find(|(_, n)| **n == 2).unwrap().0.clone();
    // Close the one on the other server: 2 against 0. With 1 against 0, a
    // short session that the proxy releases a moment after its client saw
    // it end would make a tie (1 against 1), free to go either way; 2
    // against at most 1 is never a tie.
    let i = held.iter().position(|h| h.name != busy).unwrap();
    held.remove(i).close();
    // Each session is over for the proxy once the servers saw their side close: wait
    // for that (2 long-lived left) before the next one, so that no tie can arise.
    let settled = |what: &str| {
        assert!(
            wait_until(Duration::from_secs(5), || a.current() + b.current() == 2),
            "{what}: the proxy did not close the server side"
        );
    };
    settled("closed long-lived connection");
    for i in 0..10 {
        let got = request(fe).unwrap();
        assert_ne!(got, busy, "short connection {i} went to the busy server");
        settled("short connection");
    }
    // The long-lived sessions still work.
    for h in &mut held {
        assert_eq!(h.echo("ping").unwrap(), "ping");
    }
}

#[test]
fn balance_source_sticks_to_one_server() {
    let backends: Vec<_> = ["a", "b", "c"].map(TcpBackend::echo_named).into();
    let fe = free_addr();
    let cfg = lb_config(
        "    balance source
    server a \"${S1}\"
    server b \"${S2}\"
    server c \"${S3}\"
",
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", backends[0].cfg_addr()),
            ("S2", backends[1].cfg_addr()),
            ("S3", backends[2].cfg_addr()),
        ],
    );
    let counts = spread(fe, 20);
    assert_eq!(
        counts.len(),
        1,
        "127.0.0.1 reached several servers: {counts:?}"
    );
    // Other sources spread over the servers too (the hash is not constant).
    let names: Vec<String> = (10..40)
        .map(|i| request_from(loopback(i), fe).unwrap())
        .collect();
    assert!(tally(&names).len() > 1, "30 sources all on one server");
}

#[test]
fn consistent_source_hash_moves_only_the_dead_servers_keys() {
    let backends: Vec<_> = ["a", "b", "c"].map(TcpBackend::echo_named).into();
    let fe = free_addr();
    let cfg = lb_config(
        "    balance source
    hash-type consistent
    default-server check inter 200 fall 1 rise 1
    server a \"${S1}\"
    server b \"${S2}\"
    server c \"${S3}\"
",
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", backends[0].cfg_addr()),
            ("S2", backends[1].cfg_addr()),
            ("S3", backends[2].cfg_addr()),
        ],
    );
    let keys: Vec<IpAddr> = (10..60).map(loopback).collect();
    let map = |keys: &[IpAddr]| -> Vec<String> {
        keys.iter()
            .map(|&k| request_from(k, fe).unwrap_or_else(|e| panic!("from {k}: {e}")))
            .collect()
    };
    let before = map(&keys);
    assert_eq!(map(&keys), before, "the mapping is not stable");
    let counts = tally(&before);
    assert!(counts.len() >= 2, "50 keys on one server: {counts:?}");
    // Stop the server that holds the most keys.
    let (victim, _) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    let victim_be = backends.iter().find(|b| b.name() == victim).unwrap();
    let probe = keys[before.iter().position(|n| n == victim).unwrap()];
    victim_be.stop();
    assert!(
        wait_until(Duration::from_secs(10), || request_from(probe, fe)
            .is_ok_and(|n| n != *victim)),
        "{victim} was not seen DOWN"
    );
    let after = map(&keys);
    for (i, k) in keys.iter().enumerate() {
        if before[i] == *victim {
            assert_ne!(after[i], *victim, "{k} still on the stopped server");
        } else {
            assert_eq!(after[i], before[i], "{k} moved although its server is up");
        }
    }
    // Back up: every key returns to its first server.
    victim_be.restart();
    assert!(
        wait_until(Duration::from_secs(10), || request_from(probe, fe)
            .is_ok_and(|n| n == *victim)),
        "{victim} was not seen UP again"
    );
    assert_eq!(map(&keys), before, "the mapping did not come back");
}

#[test]
fn maxconn_queues_instead_of_refusing() {
    let s = TcpBackend::echo_named_with_delay("s", Duration::from_millis(300));
    let fe = free_addr();
    let cfg = lb_config(
        "    server s \"${S1}\" maxconn 2
",
    );
    let _halo = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let clients: Vec<_> = (0..10)
        .map(|_| thread::spawn(move || request(fe)))
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_deref().ok(), Some("s"), "client {i}: {r:?}");
    }
    assert_eq!(s.served(), 10);
    assert!(
        s.max_concurrent() <= 2,
        "server saw {} concurrent connections with maxconn 2",
        s.max_concurrent()
    );
    assert_eq!(s.max_concurrent(), 2, "the queue was never needed");
}

#[test]
fn retries_and_redispatch_avoid_a_refusing_server() {
    let live = TcpBackend::echo_named("live");
    let dead = free_addr(); // nobody listens there
    let fe = free_addr();
    let cfg = lb_config(
        "    balance roundrobin
    retries 3
    option redispatch
    server dead \"${S1}\"
    server live \"${S2}\"
",
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", haproxy_addr(dead)),
            ("S2", live.cfg_addr()),
        ],
    );
    // With "option redispatch", a non-hash algorithm and more than one
    // active server, HAProxy retries a refused connection on another server
    // at once (every retry, not only the last, and without the turn-around
    // delay it applies before retrying the same server): each connection
    // here takes a few milliseconds there.
    let t0 = std::time::Instant::now();
    for i in 0..20 {
        let t = std::time::Instant::now();
        match request(fe) {
            Ok(n) => assert_eq!(n, "live"),
            Err(e) => panic!("connection {i} failed: {e}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "connection {i} took {:?}: the retries waited instead of redispatching",
            t.elapsed()
        );
    }
    assert_eq!(live.served(), 20);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn backup_server_only_while_the_active_one_is_down() {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let fe = free_addr();
    let cfg = lb_config(
        "    default-server inter 200 fall 1 rise 1
    server a \"${S1}\" check
    server b \"${S2}\" check backup
",
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
        ],
    );
    assert_eq!(spread(fe, 10), BTreeMap::from([("a".to_string(), 10)]));
    a.stop();
    assert!(
        wait_until(Duration::from_secs(10), || request(fe)
            .is_ok_and(|n| n == "b")),
        "traffic never went to the backup"
    );
    assert_eq!(spread(fe, 10), BTreeMap::from([("b".to_string(), 10)]));
    a.restart();
    assert!(
        wait_until(Duration::from_secs(10), || request(fe)
            .is_ok_and(|n| n == "a")),
        "traffic never came back to a"
    );
    assert_eq!(spread(fe, 10), BTreeMap::from([("a".to_string(), 10)]));
}

#[test]
fn seed13_source_address_and_port_range() {
    let s = TcpBackend::echo_named("mysql");
    let fe = free_addr();
    let _halo = Halo::start(
        &seed_text("13-source-port-range.cfg"),
        &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())],
    );
    for _ in 0..20 {
        assert_eq!(request(fe).unwrap(), "mysql");
    }
    let recs = s.records();
    assert_eq!(recs.len(), 20);
    let mut ips = std::collections::BTreeSet::new();
    for r in &recs {
        assert!(
            r.peer.ip() == loopback(2) || r.peer.ip() == loopback(3),
            "connection from {}",
            r.peer
        );
        assert!(
            (20000..=20999).contains(&r.peer.port()),
            "source port {} outside 20000-20999",
            r.peer.port()
        );
        ips.insert(r.peer.ip());
    }
    assert_eq!(
        ips.len(),
        2,
        "both servers (sources) should be used: {ips:?}"
    );
}

/// Sends `HELLO\n` from `src` through `fe`; returns (client address, answer).
fn hello_from(src: Option<IpAddr>, fe: SocketAddr) -> (SocketAddr, String) {
    let mut s = connect_from(src, fe).expect("connect");
    let local = s.local_addr().unwrap();
    s.write_all(b"HELLO\n").unwrap();
    let answer = read_to_close(&mut s, IO_TIMEOUT).expect("answer");
    (local, String::from_utf8_lossy(&answer).trim().to_string())
}

fn check_proxy_v1(cfg: &str) {
    let s = TcpBackend::echo_named("postfix");
    let fe = free_addr();
    let _halo = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let (client, answer) = hello_from(None, fe);
    assert_eq!(answer, "postfix");
    let recs = s.records();
    assert_eq!(recs.len(), 1);
    let expected = format!(
        "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\nHELLO\n",
        client.port(),
        fe.port()
    );
    assert_eq!(String::from_utf8_lossy(&recs[0].received), expected);
}

/// Seed 18 unchanged (its `log global`/`option tcplog` lines included).
#[test]
fn seed18_send_proxy_v1() {
    check_proxy_v1(&seed_text("18-proxy-protocol-smtp.cfg"));
}

#[test]
fn send_proxy_v2_binary_header() {
    let s = TcpBackend::echo_named("s");
    let fe = free_addr();
    let cfg = lb_config(
        "    server s \"${S1}\" send-proxy-v2
",
    );
    let _halo = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("S1", s.cfg_addr())]);
    let (client, answer) = hello_from(None, fe);
    assert_eq!(answer, "s");
    let recs = s.records();
    assert_eq!(recs.len(), 1);
    let mut expected = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    expected.extend([0x21, 0x11, 0, 12]); // v2 PROXY, TCP over IPv4, 12 bytes
    expected.extend([127, 0, 0, 1, 127, 0, 0, 1]);
    expected.extend(client.port().to_be_bytes());
    expected.extend(fe.port().to_be_bytes());
    expected.extend(b"HELLO\n");
    assert_eq!(recs[0].received, expected);
}

#[test]
fn accept_proxy_passes_the_original_client_on() {
    // client (127.0.0.7) -> ft1 -> send-proxy -> ft2 accept-proxy -> send-proxy -> server
    let s = TcpBackend::echo_named("app");
    let fe = free_addr();
    let fe_lb = free_addr();
    let cfg = format!(
        "{DEFAULTS}
frontend dmz
    bind \"${{FE}}\"
    default_backend to_lan

backend to_lan
    server lb1 \"${{FE_LB}}\" send-proxy

frontend lan
    bind \"${{FE_LB}}\" accept-proxy
    default_backend app

backend app
    server s1 \"${{S1}}\" send-proxy
"
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_LB", haproxy_addr(fe_lb)),
            ("S1", s.cfg_addr()),
        ],
    );
    let (client, answer) = hello_from(Some(loopback(7)), fe);
    assert_eq!(answer, "app");
    let recs = s.records();
    assert_eq!(recs.len(), 1);
    let expected = format!(
        "PROXY TCP4 127.0.0.7 127.0.0.1 {} {}\r\nHELLO\n",
        client.port(),
        fe.port()
    );
    assert_eq!(String::from_utf8_lossy(&recs[0].received), expected);

    // Straight to the accept-proxy bind, without a header: closed, and the
    // server never sees it.
    let before = s.accepted();
    let r = exchange(None, fe_lb, b"HELLO\n");
    assert!(r.is_err(), "answered without a PROXY header: {r:?}");
    // A negative check: give a forwarded connection time to show up.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(s.accepted(), before, "the server got a connection");
}

#[test]
fn rdp_cookie_hashes_the_cookie_the_client_sent() {
    let a = TcpBackend::echo_named("a");
    let b = TcpBackend::echo_named("b");
    let c = TcpBackend::echo_named("c");
    let fe = free_addr();
    // The manual's setup: content inspection waits for the cookie of the RDP connection
    // request before the server is chosen.
    let cfg = format!(
        "{DEFAULTS}
frontend ft
    bind \"${{FE}}\"
    default_backend bk

backend bk
    balance rdp-cookie
    tcp-request inspect-delay 5s
    tcp-request content accept if RDP_COOKIE
    server a \"${{S1}}\"
    server b \"${{S2}}\"
    server c \"${{S3}}\"
"
    );
    let _halo = Halo::start(
        &cfg,
        &[
            ("FE", haproxy_addr(fe)),
            ("S1", a.cfg_addr()),
            ("S2", b.cfg_addr()),
            ("S3", c.cfg_addr()),
        ],
    );
    let send = |user: &str| {
        // TPKT and X.224 headers (11 bytes), then the cookie line.
        let mut msg = vec![3, 0, 0, 0x2b, 0x26, 0xe0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(format!("Cookie: mstshash={user}\r\n").as_bytes());
        exchange(None, fe, &msg).unwrap()
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..12 {
        let user = format!("user{i}");
        let first = send(&user);
        for _ in 0..3 {
            assert_eq!(send(&user), first, "{user} stays on its server");
        }
        seen.insert(first);
    }
    assert!(seen.len() > 1, "users spread over the servers: {seen:?}");
}
