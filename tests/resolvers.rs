//! `resolvers` sections: a server named by a host name is resolved again at run time
//! through a name server (here a small DNS server of the test); a new address takes the
//! traffic, an NXDOMAIN held past `hold nx` puts the server in maintenance
//! ("MAINT (resolution)") until the name resolves again, with HAProxy's messages.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::http::*;
use support::*;

/// A DNS server answering every A query with the address in `ip` (None: NXDOMAIN), and
/// AAAA queries with no record.
fn dns_server(ip: Arc<Mutex<Option<[u8; 4]>>>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    thread::spawn(move || {
        let mut b = [0u8; 1500];
        loop {
            let Ok((n, from)) = s.recv_from(&mut b) else {
                return;
            };
            let q = &b[..n];
            if n < 12 {
                continue;
            }
            let mut i = 12;
            while i < n && q[i] != 0 {
                i += q[i] as usize + 1;
            }
            if i + 5 > n {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let question = &q[12..i + 5];
            let mut r = q[..2].to_vec();
            match *ip.lock().unwrap() {
                None => r.extend_from_slice(&[0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]),
                Some(a) if qtype == 1 => {
                    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                    r.extend_from_slice(question);
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    r.extend_from_slice(&a);
                    let _ = s.send_to(&r, from);
                    continue;
                }
                Some(_) => r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]),
            }
            r.extend_from_slice(question);
            let _ = s.send_to(&r, from);
        }
    });
    addr
}

fn status(sock: &std::path::Path) -> (String, String) {
    let out = cli(sock, "show stat").unwrap_or_default();
    let row = out.lines().find(|l| l.starts_with("be,s1,")).unwrap_or("");
    let f: Vec<&str> = row.split(',').collect();
    (
        f.get(17).unwrap_or(&"").to_string(),
        f.get(73).unwrap_or(&"").to_string(),
    )
}

#[test]
fn servers_follow_the_dns() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let port = a.addr.port();
    // A second server on 127.0.0.2, same port: where the DNS moves s1.
    let b = std::net::TcpListener::bind(("127.0.0.2", port)).ok();
    if let Some(l) = b.as_ref().and_then(|l| l.try_clone().ok()) {
        thread::spawn(move || {
            use std::io::{Read, Write};
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nb2",
                );
            }
        });
    }
    let ip = Arc::new(Mutex::new(None));
    let ns = dns_server(ip.clone());
    let fe = free_addr();
    let cfg = format!(
        "global
    stats socket \"${{DIR}}/admin.sock\" level admin
resolvers dns
    nameserver ns1 \"${{NS}}\"
    timeout resolve 200ms
    timeout retry 200ms
    resolve_retries 1
    hold nx 500ms
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    server s1 app.example:{port} resolvers dns init-addr none resolve-prefer ipv4
"
    );
    let h = Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("NS", haproxy_addr(ns))]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    // Nothing resolves yet: in maintenance, no address, and clients get 503.
    assert_eq!(status(&sock).0, "MAINT (resolution)");
    let state = cli(&sock, "show servers state be").unwrap();
    assert!(state.contains(" s1 - 0 32 "), "{state}");
    assert!(state.contains(&format!(" app.example {port} ")), "{state}");
    assert_eq!(Client::connect(fe).get("/", "").status, 503);
    // The name resolves: the server takes traffic.
    *ip.lock().unwrap() = Some([127, 0, 0, 1]);
    assert!(wait_until(Duration::from_secs(5), || status(&sock).0 == "no check"));
    assert_eq!(status(&sock).1, format!("127.0.0.1:{port}"));
    let r = Client::connect(fe).get("/", "");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("a "), "{}", r.body);
    assert!(
        h.stderr_text()
            .contains("be/s1 changed its IP from (none) to 127.0.0.1 by dns/ns1.")
    );
    assert!(
        h.stderr_text()
            .contains("Server be/s1 ('app.example') is UP/READY (resolves again).")
    );
    // A new address.
    *ip.lock().unwrap() = Some([127, 0, 0, 2]);
    assert!(wait_until(Duration::from_secs(5), || status(&sock).1
        == format!("127.0.0.2:{port}")));
    assert!(
        h.stderr_text()
            .contains("be/s1 changed its IP from 127.0.0.1 to 127.0.0.2 by dns/ns1.")
    );
    if b.is_some() {
        assert_eq!(Client::connect(fe).get("/", "").body, "b2");
    }
    // NXDOMAIN past `hold nx`: maintenance again.
    *ip.lock().unwrap() = None;
    assert!(wait_until(Duration::from_secs(5), || status(&sock).0
        == "MAINT (resolution)"));
    assert!(
        wait_until(Duration::from_secs(2), || {
            h.stderr_text().contains(
        "Server be/s1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    )
        }),
        "{}",
        h.stderr_text()
    );
    assert!(
        h.stderr_text()
            .contains("backend 'be' has no server available!")
    );
}

#[test]
fn resolvers_are_checked() {
    let cfg = format!(
        "resolvers dns\n    nameserver ns1 127.0.0.1:53\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten be\n    bind 127.0.0.1:{}\n    server s1 app.example:80 resolvers nope init-addr none\n",
        free_port()
    );
    let (code, _, err) = run_check(Cfg::Text(&cfg), &[]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("proxy 'be', server 's1': unable to find required resolvers 'nope'"),
        "{err}"
    );
}

#[test]
fn dns_accept_family_limits_the_queries() {
    if skip_on_reference("dns-accept-family is a 3.x keyword") {
        return;
    }
    // The test DNS server only has an IPv4 address for the name.
    let ip = Arc::new(Mutex::new(Some([127, 0, 0, 1])));
    let ns = dns_server(ip);
    let start = |family: &str| {
        let fe = free_addr();
        let cfg = format!(
            "global
    stats socket \"${{DIR}}/admin.sock\" level admin
    dns-accept-family {family}
resolvers dns
    nameserver ns1 \"${{NS}}\"
    timeout resolve 100ms
    timeout retry 100ms
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${{FE}}\"
    default_backend be
backend be
    server s1 app.example:80 resolvers dns init-addr none
"
        );
        Halo::start(&cfg, &[("FE", haproxy_addr(fe)), ("NS", haproxy_addr(ns))])
    };
    let v4 = start("ipv4");
    let v6 = start("ipv6");
    let (s4, s6) = (v4.dir().join("admin.sock"), v6.dir().join("admin.sock"));
    assert!(wait_cli(&s4, Duration::from_secs(5)) && wait_cli(&s6, Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(5), || status(&s4).0 == "no check"));
    // IPv6 only: the A record is never asked for; the server stays in maintenance.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&s6).0, "MAINT (resolution)");
}

/// A DNS server answering SRV queries with `records` (port, target, IPv4 address in the
/// additional section), NXDOMAIN otherwise.
/// SRV records: port, target, the target's IPv4 address.
type Records = Arc<Mutex<Vec<(u16, String, [u8; 4])>>>;

fn srv_server(records: Records) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let name = |n: &str| {
        let mut out = Vec::new();
        for l in n.split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
        out
    };
    thread::spawn(move || {
        let mut b = [0u8; 1500];
        loop {
            let Ok((n, from)) = s.recv_from(&mut b) else {
                return;
            };
            let q = &b[..n];
            let mut i = 12;
            while i < n && q[i] != 0 {
                i += q[i] as usize + 1;
            }
            if n < 12 || i + 5 > n {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let question = &q[12..i + 5];
            let recs = records.lock().unwrap().clone();
            let mut r = q[..2].to_vec();
            if qtype != 33 {
                r.extend_from_slice(&[0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]);
                r.extend_from_slice(question);
                let _ = s.send_to(&r, from);
                continue;
            }
            let c = recs.len() as u8;
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, c, 0, 0, 0, c]);
            r.extend_from_slice(question);
            for (port, target, _) in &recs {
                let mut rd = vec![0, 0, 0, 10];
                rd.extend_from_slice(&port.to_be_bytes());
                rd.extend_from_slice(&name(target));
                r.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
                r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
                r.extend_from_slice(&rd);
            }
            for (_, target, ip) in &recs {
                r.extend_from_slice(&name(target));
                r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(ip);
            }
            let _ = s.send_to(&r, from);
        }
    });
    addr
}

#[test]
fn server_template_follows_srv_records() {
    let a = HttpBackend::start("a", Duration::ZERO);
    let b = HttpBackend::start("b", Duration::ZERO);
    let records = Arc::new(Mutex::new(vec![
        (a.addr.port(), "a.example".to_string(), [127, 0, 0, 1]),
        (b.addr.port(), "b.example".to_string(), [127, 0, 0, 1]),
    ]));
    let ns = srv_server(records.clone());
    let fe = free_addr();
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
resolvers dns
    nameserver ns1 \"${NS}\"
    timeout resolve 200ms
    timeout retry 200ms
    hold obsolete 300ms
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend f
    bind \"${FE}\"
    default_backend be
backend be
    balance roundrobin
    server-template web 3 _http._tcp.app.example resolvers dns init-addr none
";
    let h = Halo::start(cfg, &[("FE", haproxy_addr(fe)), ("NS", haproxy_addr(ns))]);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let state = || cli(&sock, "show servers state be").unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(5), || state()
            .contains(" web2 127.0.0.1 2 64 ")),
        "{}",
        state()
    );
    let st = state();
    assert!(
        st.contains(&format!(
            " a.example {} _http._tcp.app.example ",
            a.addr.port()
        )),
        "{st}"
    );
    assert!(
        st.contains(&format!(
            " b.example {} _http._tcp.app.example ",
            b.addr.port()
        )),
        "{st}"
    );
    assert!(st.contains(" web3 - 0 32 "), "{st}");
    // Both instances take traffic.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let r = Client::connect(fe).get("/", "");
        assert_eq!(r.status, 200);
        seen.insert(r.body[..1].to_string());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let log = h.stderr_text();
    assert!(
        log.contains("be/web1 changed its IP from (none) to 127.0.0.1 by DNS additional record."),
        "{log}"
    );
    assert!(
        log.contains("Server be/web1 ('a.example') is UP/READY (resolves again)."),
        "{log}"
    );
    // b leaves the record: its server goes to maintenance after `hold obsolete`.
    records.lock().unwrap().truncate(1);
    assert!(
        wait_until(Duration::from_secs(5), || {
            h.stderr_text().contains(
        "Server be/web2 is going DOWN for maintenance (entry removed from SRV record). 1 active and 0 backup servers left."
    )
        }),
        "{}",
        h.stderr_text()
    );
    for _ in 0..4 {
        assert!(Client::connect(fe).get("/", "").body.starts_with("a "));
    }
}
