//! Runtime API: `show sess`, `shutdown session` and `show errors`, end to end. Each test
//! also runs against Debian's HAProxy 2.6 (`HALO_BIN=/usr/sbin/haproxy`): the fields read
//! here (`src=`, `fe=`, `be=`, `srv=`; the capture's header lines, error position and
//! escaped dump) are the same on both.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use support::*;

fn sock(h: &Halo) -> std::path::PathBuf {
    h.dir().join("admin.sock")
}

/// A TCP session through an echo server shows in `show sess` with its addresses and
/// names, and `shutdown session` ends it (the client sees its connection closed).
#[test]
fn show_sess_lists_a_session_and_shutdown_session_ends_it() {
    // An echo server, until the client side closes.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut b = [0u8; 1024];
            while let Ok(n) = s.read(&mut b) {
                if n == 0 || s.write_all(&b[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n    stats socket \"${{DIR}}/user.sock\" level user\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n\
         listen relay\n    bind {}\n    server e1 {}\n",
        haproxy_addr(fe),
        haproxy_addr(echo)
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let mut c = TcpStream::connect(fe).expect("connect");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).expect("echo");
    let me = c.local_addr().unwrap();
    let mut line = String::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            line = cli(&sock(&h), "show sess")
                .unwrap_or_default()
                .lines()
                .find(|l| l.contains(&format!("src={me} ")))
                .unwrap_or_default()
                .to_string();
            !line.is_empty()
        }),
        "no session from {me}"
    );
    assert!(line.starts_with("0x"), "{line}");
    assert!(line.contains(" proto=tcpv4 "), "{line}");
    assert!(line.contains(" fe=relay be=relay srv=e1 "), "{line}");
    let id = line.split(':').next().unwrap().to_string();
    // The detailed form names the same session.
    let long = cli(&sock(&h), &format!("show sess {id}")).unwrap();
    assert!(long.starts_with(&format!("{id}: [")), "{long}");
    assert!(long.contains("frontend=relay"), "{long}");
    // A user-level socket may not see sessions; unknown ids are refused in HAProxy's words.
    assert!(
        cli(&h.dir().join("user.sock"), "show sess")
            .unwrap()
            .contains("Permission denied")
    );
    assert_eq!(
        cli(&sock(&h), "shutdown session 0x1234abcd")
            .unwrap()
            .trim_end(),
        "No such session (use 'show sess')."
    );
    assert_eq!(
        cli(&sock(&h), "shutdown session").unwrap().trim_end(),
        "Session pointer expected (use 'show sess')."
    );
    assert_eq!(
        cli(&sock(&h), &format!("shutdown session {id}"))
            .unwrap()
            .trim_end(),
        ""
    );
    // The client's connection is closed.
    let mut rest = Vec::new();
    let r = c.read_to_end(&mut rest);
    assert!(
        matches!(r, Ok(0)) || r.is_err(),
        "the connection stayed open: {r:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        !cli(&sock(&h), "show sess")
            .unwrap_or_default()
            .contains(&format!("src={me} "))
    }));
}

/// A server answering garbage once, on every connection.
fn garbage_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (a, t)
}

/// `show errors`: the last invalid request of a frontend and the last invalid response of
/// a backend, with the error position and the bytes as received.
#[test]
fn show_errors_keeps_the_last_invalid_request_and_response() {
    let (srv, t) = garbage_server();
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend web\n    bind {}\n    default_backend app\n\
         backend app\n    server junk {}\n",
        haproxy_addr(fe),
        haproxy_addr(srv)
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    // Nothing captured yet.
    let none = cli(&sock(&h), "show errors").unwrap();
    assert!(none.starts_with("Total events captured on ["), "{none}");
    assert!(!none.contains("invalid"), "{none}");

    let send = |raw: &[u8]| -> String {
        let mut c = TcpStream::connect(fe).unwrap();
        c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        c.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let r = send(b"GET / HTTP/1.1\r\nHo st: x\r\nFoo: \x01bar\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 502"), "{r}");
    t.join().unwrap();

    let out = cli(&sock(&h), "show errors").unwrap();
    assert!(
        out.contains("] frontend web (#2): invalid request\n"),
        "{out}"
    );
    assert!(
        out.contains("  backend <NONE> (#-1), server <NONE> (#-1), event #"),
        "{out}"
    );
    assert!(out.contains("error at position 18\n"), "{out}");
    assert!(out.contains("  00000  GET / HTTP/1.1\\r\\n\n"), "{out}");
    assert!(out.contains("  00016  Ho st: x\\r\\n\n"), "{out}");
    assert!(out.contains("  00026  Foo: \\x01bar\\r\\n\n"), "{out}");
    assert!(
        out.contains("] backend app (#3): invalid response\n"),
        "{out}"
    );
    assert!(
        out.contains("  frontend web (#2), server junk (#1), event #"),
        "{out}"
    );
    assert!(out.contains("  00017  Bad Header: x\\r\\n\n"), "{out}");
    // Filters: one proxy, one direction.
    let req = cli(&sock(&h), "show errors web request").unwrap();
    assert!(
        req.contains("invalid request") && !req.contains("invalid response"),
        "{req}"
    );
    let res = cli(&sock(&h), "show errors -1 response").unwrap();
    assert!(
        !res.contains("invalid request") && res.contains("invalid response"),
        "{res}"
    );
    assert_eq!(
        cli(&sock(&h), "show errors nosuch").unwrap().trim_end(),
        "No such proxy."
    );
}
