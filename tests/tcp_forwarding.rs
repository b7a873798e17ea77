//! TCP-mode forwarding details: half-close, `timeout client` / `timeout tunnel`,
//! `monitor-net`, and listeners inherited as `fd@N` or fed through `sockpair@N`.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use support::*;

fn cfg(extra_defaults: &str, listen_extra: &str) -> String {
    format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n{extra_defaults}\nlisten l\n    bind \"${{FE}}\"\n{listen_extra}    server s1 \"${{S1}}\"\n"
    )
}

/// A server that reads until the client's FIN, then answers how many bytes it got.
fn counting_server() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            let _ = s.write_all(format!("got {}\n", buf.len()).as_bytes());
        }
    });
    (addr, h)
}

#[test]
fn half_close_reaches_the_server_and_the_answer_comes_back() {
    let (srv, h) = counting_server();
    let fe = free_addr();
    let _halo = Halo::start(
        &cfg("", ""),
        &[("FE", haproxy_addr(fe)), ("S1", haproxy_addr(srv))],
    );
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&[b'x'; 100_000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "got 100000\n");
    h.join().unwrap();
}

#[test]
fn idle_client_is_closed_after_timeout_client() {
    let be = TcpBackend::echo_named("a");
    let fe = free_addr();
    let _halo = Halo::start(
        &cfg("    timeout client 400ms\n", ""),
        &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())],
    );
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"HOLD\n").unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a\n");
    let t = Instant::now();
    let n = c.read(&mut buf).unwrap_or(0);
    let idle = t.elapsed();
    assert_eq!(n, 0, "expected the connection to be closed");
    assert!(
        idle >= Duration::from_millis(300) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
}

#[test]
fn timeout_tunnel_overrides_timeout_client() {
    let be = TcpBackend::echo_named("a");
    let fe = free_addr();
    let _halo = Halo::start(
        &cfg("    timeout client 300ms\n    timeout tunnel 5s\n", ""),
        &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())],
    );
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"HOLD\n").unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a\n");
    std::thread::sleep(Duration::from_millis(900));
    c.write_all(b"ping").unwrap();
    let n = c.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"ping",
        "the tunnel was closed by timeout client"
    );
}

#[test]
fn monitor_net_connections_are_closed_without_forwarding() {
    if skip_on_reference("1.x syntax (`monitor-net`, address on `listen`) was removed from HAProxy")
    {
        return;
    }
    let be = TcpBackend::echo_named("a");
    let fe = free_addr();
    let _halo = Halo::start(
        &cfg("", "    monitor-net 127.0.0.250/31\n"),
        &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())],
    );
    for src in ["127.0.0.250", "127.0.0.251"] {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(src.parse().unwrap(), 0).into())
            .unwrap();
        sock.connect(&fe.into()).unwrap();
        let mut c: TcpStream = sock.into();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let _ = c.write_all(b"x\n");
        let mut buf = [0u8; 16];
        let n = c.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "monitor-net connection from {src} got data");
    }
    // Another address is served normally.
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(b"x\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a\n");
    assert_eq!(be.served(), 1, "monitor-net connections reached the server");
}

fn inheritable(fd: i32) {
    // SAFETY: clearing FD_CLOEXEC on a descriptor this test owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
    }
}

#[test]
fn inherited_fd_and_sockpair_listeners() {
    if skip_on_reference("fd@ passing from the test harness") {
        return;
    }
    let be = TcpBackend::echo_named("a");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let laddr = l.local_addr().unwrap();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    inheritable(l.as_raw_fd());
    inheritable(theirs.as_raw_fd());
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nfrontend f1\n    bind fd@{}\n    default_backend b\nfrontend f2\n    bind sockpair@{}\n    default_backend b\nbackend b\n    server s1 \"${{S1}}\"\n",
        l.as_raw_fd(),
        theirs.as_raw_fd()
    );
    let _halo = Halo::builder(&text)
        .env("S1", be.cfg_addr())
        .wait_for(&[laddr])
        .start();
    drop(theirs);
    // fd@: the inherited listener accepts.
    let mut c = TcpStream::connect(laddr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(b"x\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a\n");
    // sockpair@: a connection passed as a file descriptor is served.
    let (mut mine, passed) = std::os::unix::net::UnixStream::pair().unwrap();
    send_fd(&ours, passed.as_raw_fd());
    drop(passed);
    mine.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    mine.write_all(b"y\n").unwrap();
    let mut out = String::new();
    mine.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a\n");
    assert_eq!(be.served(), 2);
}

fn send_fd(sock: &std::os::unix::net::UnixStream, fd: i32) {
    let mut data = [b'x'];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: building one SCM_RIGHTS message in local buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = libc::CMSG_SPACE(4) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd);
        assert!(libc::sendmsg(sock.as_raw_fd(), &msg, 0) > 0);
    }
}

#[test]
fn dispatch_sends_everything_to_one_address() {
    if skip_on_reference("the 1.x address on the `listen` line was removed from HAProxy") {
        return;
    }
    let be = TcpBackend::echo_named("d");
    let fe = free_addr();
    let text = "listen checks \"${FE}\"\n    mode tcp\n    dispatch \"${S1}\"\n    contimeout 1000\n    clitimeout 10000\n    srvtimeout 10000\n";
    let _halo = Halo::start(text, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    for _ in 0..3 {
        let mut c = TcpStream::connect(fe).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c.write_all(b"x\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert_eq!(out, "d\n");
    }
    assert_eq!(be.served(), 3);
}

#[test]
fn maxconn_beyond_the_fd_limit_starts_with_a_warning() {
    if skip_on_reference("HAProxy refuses to start here") {
        return;
    }
    let be = TcpBackend::echo_named("a");
    let fe = free_addr();
    let text = "global\n    maxconn 1000000\n".to_string() + &cfg("", "");
    let h = Halo::start(&text, &[("FE", haproxy_addr(fe)), ("S1", be.cfg_addr())]);
    let err = h.stderr_text();
    assert!(
        err.contains("[WARNING]") && err.contains("maxconn 1000000"),
        "{err}"
    );
    let mut c = TcpStream::connect(fe).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(b"x\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a\n");
}
