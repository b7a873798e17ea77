//! Full transparent proxying (`source … usesrc client|clientip|hdr_ip(H)|ADDR`): servers see
//! the client's address. Tested as root in three network namespaces the test creates
//! (client, proxy, server, joined by veth pairs; the server routes back through the proxy,
//! which delivers the replies to its transparent sockets by a policy route), and a clear
//! start-up error when the process lacks CAP_NET_ADMIN.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::*;

/// Three namespaces wired client — proxy — server, removed on drop.
struct Net {
    names: [String; 3],
}

const CLIENT: &str = "10.77.1.1";
const PROXY_FRONT: &str = "10.77.1.2";
const SERVER: &str = "10.77.2.3";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Net {
    /// None when this process cannot build namespaces (not root, no `ip`).
    fn new(tag: &str) -> Option<Net> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let id = std::process::id();
        let names = [
            format!("halo-{tag}-c-{id}"),
            format!("halo-{tag}-p-{id}"),
            format!("halo-{tag}-s-{id}"),
        ];
        for n in &names {
            if !ip(&["netns", "add", n]) {
                return None;
            }
        }
        let net = Net { names };
        let [c, p, s] = [&net.names[0], &net.names[1], &net.names[2]];
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "p0", "netns", p,
            ],
            vec![
                "link", "add", "s0", "netns", s, "type", "veth", "peer", "name", "p1", "netns", p,
            ],
            vec!["-n", c, "addr", "add", "10.77.1.1/24", "dev", "c0"],
            vec!["-n", p, "addr", "add", "10.77.1.2/24", "dev", "p0"],
            vec!["-n", p, "addr", "add", "10.77.2.2/24", "dev", "p1"],
            vec!["-n", s, "addr", "add", "10.77.2.3/24", "dev", "s0"],
            vec!["-n", c, "link", "set", "c0", "up"],
            vec!["-n", c, "link", "set", "lo", "up"],
            vec!["-n", p, "link", "set", "p0", "up"],
            vec!["-n", p, "link", "set", "p1", "up"],
            vec!["-n", p, "link", "set", "lo", "up"],
            vec!["-n", s, "link", "set", "s0", "up"],
            vec!["-n", s, "link", "set", "lo", "up"],
            vec!["-n", c, "route", "add", "default", "via", "10.77.1.2"],
            vec!["-n", s, "route", "add", "default", "via", "10.77.2.2"],
            // Replies from the server side to client addresses belong to the proxy's
            // transparent sockets.
            vec!["-n", p, "rule", "add", "iif", "p1", "lookup", "177"],
            vec![
                "-n",
                p,
                "route",
                "add",
                "local",
                "10.77.1.0/24",
                "dev",
                "lo",
                "table",
                "177",
            ],
        ];
        for st in steps {
            if !ip(&st) {
                eprintln!("ip {} failed", st.join(" "));
                return None;
            }
        }
        Some(net)
    }

    /// Runs `f` on a thread inside namespace `i` (0 client, 2 server).
    fn in_ns<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.names[i]);
        thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            // SAFETY: a valid namespace fd; setns only changes this thread's namespace.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}");
            f()
        })
        .join()
        .unwrap()
    }

    /// Starts the proxy binary inside the proxy namespace.
    fn run_proxy(&self, cfg: &std::path::Path) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.names[1]])
            .arg(halo_bin())
            .arg("-db")
            .arg("-f")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in &self.names {
            ip(&["netns", "del", n]);
        }
    }
}

/// A server in the server namespace answering every connection with the peer address it
/// sees; the receiver yields those addresses.
fn start_server(net: &Net, http: bool) -> mpsc::Receiver<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    let path = format!("/var/run/netns/{}", net.names[2]);
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap();
        // SAFETY: as in `in_ns`.
        assert_eq!(
            unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let l = TcpListener::bind((SERVER, 8080)).unwrap();
        ready_tx.send(()).unwrap();
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let Ok(peer) = s.peer_addr() else { continue };
            let _ = tx.send(peer);
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            if http {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let body = peer.to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                let mut b = [0u8; 64];
                let _ = s.read(&mut b);
                let _ = s.write_all(peer.to_string().as_bytes());
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    rx
}

/// From the client namespace: sends `req` to the proxy, returns the answer and the client's
/// own address, retrying while the proxy starts.
fn exchange(net: &Net, req: &'static str) -> Option<(String, SocketAddr)> {
    net.in_ns(0, move || {
        for _ in 0..100 {
            if let Ok(mut s) = TcpStream::connect_timeout(
                &SocketAddr::new(PROXY_FRONT.parse().unwrap(), 8000),
                Duration::from_millis(500),
            ) {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let me = s.local_addr().ok()?;
                s.write_all(req.as_bytes()).ok()?;
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if !out.is_empty() {
                    return Some((out, me));
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        None
    })
}

fn proxy_cfg(dir: &std::path::Path, mode: &str, usesrc: &str) -> std::path::PathBuf {
    let p = dir.join("t.cfg");
    std::fs::write(
        &p,
        format!(
            "defaults\n    mode {mode}\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nlisten l\n    bind {PROXY_FRONT}:8000\n    source 0.0.0.0 usesrc {usesrc}\n    server s1 {SERVER}:8080\n"
        ),
    )
    .unwrap();
    p
}

fn run_case(
    tag: &str,
    mode: &str,
    usesrc: &str,
    req: &'static str,
) -> Option<(String, SocketAddr, SocketAddr)> {
    let Some(net) = Net::new(tag) else {
        eprintln!("skipped: needs root and `ip netns`");
        return None;
    };
    let seen = start_server(&net, mode == "http");
    let dir = tempfile::tempdir().unwrap();
    let cfg = proxy_cfg(dir.path(), mode, usesrc);
    let mut child = net.run_proxy(&cfg);
    let got = exchange(&net, req);
    let _ = child.kill();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    let (answer, me) = got.unwrap_or_else(|| panic!("no answer through the proxy: {err}"));
    let peer = seen.recv_timeout(Duration::from_secs(2)).unwrap();
    Some((answer, me, peer))
}

#[test]
fn usesrc_clientip_presents_the_client_address() {
    let Some((answer, me, peer)) = run_case("cip", "tcp", "clientip", "hello") else {
        return;
    };
    assert_eq!(peer.ip().to_string(), CLIENT, "{answer}");
    assert_eq!(answer, peer.to_string());
    // Any port: not necessarily the client's.
    let _ = me;
}

#[test]
fn usesrc_client_presents_the_client_address_and_port() {
    let Some((answer, me, peer)) = run_case("cli", "tcp", "client", "hello") else {
        return;
    };
    assert_eq!(peer, me, "{answer}");
}

#[test]
fn usesrc_hdr_ip_presents_the_address_in_the_header() {
    let req = "GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.7, 10.77.1.50\r\n\r\n";
    let Some((answer, _me, peer)) = run_case("hdr", "http", "hdr_ip(x-forwarded-for)", req) else {
        return;
    };
    assert_eq!(peer.ip().to_string(), "10.77.1.50", "{answer}");
}

#[test]
fn usesrc_without_cap_net_admin_is_refused_at_start() {
    if skip_on_reference("halo checks the capability at start-up; HAProxy fails each connection") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || which("setpriv").is_none() {
        eprintln!("skipped: needs root and setpriv to drop the capability");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("t.cfg");
    std::fs::write(
        &cfg,
        format!("defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nlisten l\n    bind 127.0.0.1:{port}\n    source 0.0.0.0 usesrc clientip\n    server s1 127.0.0.1:1\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(halo_bin())
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("'usesrc'") && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(err.contains("'l'"), "{err}");
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|f| f.is_file())
    })
}
