//! Rings and log forwarding end to end: `ring` sections fed by `log ring@NAME`, their TCP
//! syslog servers (octet counting and legacy framing, reconnection, a dead server never
//! slowing requests), `show events` (list, dump, `-n`, `-w`, levels), the ring turning over
//! when full, and `log-forward` sections relaying UDP and TCP syslog to UDP targets with
//! each target's format.
//!
//! Every test also passes on HAProxy 2.6 (`HALO_BIN=/usr/sbin/haproxy`) except the parts
//! marked halo-only: `show events -0` and `option host` (3.x keywords), and the start
//! refusal of `backing-file`. Where 2.6 and the 3.5 manual differ, halo follows the manual:
//! 2.6 ignores a ring `size` below `tune.bufsize` (the tests use 16384), and its log-forward
//! keeps `localhost`/`-` for a message without host where 3.x's default `option host fill`
//! puts the sender's address.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::syslog::Syslog;
use support::*;

const WAIT: Duration = Duration::from_secs(5);

/// A TCP syslog server: keeps every byte received, per connection, and can drop the
/// current connections on demand.
struct TcpCollector {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl TcpCollector {
    fn start() -> TcpCollector {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, c, st) = (got.clone(), conns.clone(), stop.clone());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let idx = {
                            let mut g = g.lock().unwrap();
                            g.push(Vec::new());
                            g.len() - 1
                        };
                        c.lock().unwrap().push(s.try_clone().unwrap());
                        let g = g.clone();
                        thread::spawn(move || {
                            let mut s = s;
                            let mut buf = [0u8; 4096];
                            while let Ok(n) = s.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                                g.lock().unwrap()[idx].extend_from_slice(&buf[..n]);
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpCollector {
            addr,
            got,
            conns,
            stop,
        }
    }

    fn connections(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Everything received on connection `i`.
    fn text(&self, i: usize) -> String {
        let g = self.got.lock().unwrap();
        String::from_utf8_lossy(g.get(i).map(Vec::as_slice).unwrap_or(&[])).into_owned()
    }

    fn all_text(&self) -> String {
        let g = self.got.lock().unwrap();
        g.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    /// Closes the connections accepted so far.
    fn drop_connections(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.drop_connections();
    }
}

/// Splits an octet-counted stream into its messages, checking each length.
fn octet_frames(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (len, rest) = s.split_once(' ').expect("LEN SP");
        let len: usize = len.parse().expect("a length");
        assert!(rest.len() >= len, "short frame in {s:?}");
        out.push(rest[..len].to_string());
        s = &rest[len..];
    }
    out
}

fn http_get(fe: SocketAddr, path: &str) {
    let mut c = support::http::Client::connect(fe);
    let r = c.get(path, "Connection: close\r\n");
    assert_eq!(r.status, 200);
}

fn sock(h: &Halo, name: &str) -> PathBuf {
    h.dir().join(name)
}

const DEFAULTS: &str = "
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
";

#[test]
fn ring_servers_receive_octet_counted_and_legacy_lines() {
    let oc = TcpCollector::start();
    let legacy = TcpCollector::start();
    let fe = free_addr();
    let cfg = format!(
        "
global
    log-tag tst
    stats socket \"${{DIR}}/admin.sock\" level admin
ring oc
    format rfc5424
    timeout connect 2s
    timeout server 2s
    server s1 {oc} log-proto octet-count
ring legacy
    description \"short lines\"
    maxlen 16
    timeout connect 2s
    timeout server 2s
    server s2 {legacy}
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@oc local1 info
    log ring@legacy len 200 local1 info
    log-format \"hello %HU from-ring-test\"
    http-request return status 200 content-type text/plain string ok
",
        oc = oc.addr,
        legacy = legacy.addr
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    http_get(fe, "/a");
    http_get(fe, "/b");
    assert!(
        wait_until(WAIT, || oc.all_text().matches("from-ring-test").count()
            >= 2),
        "octet-count server got {:?}",
        oc.all_text()
    );
    let frames = octet_frames(&oc.text(0));
    assert_eq!(frames.len(), 2, "{frames:?}");
    let pid = h.pid();
    for (f, path) in frames.iter().zip(["/a", "/b"]) {
        // <local1.info>1 DATE HOST TAG PID MSGID SD MSG, host `-` without log-send-hostname.
        let w: Vec<&str> = f.splitn(8, ' ').collect();
        assert_eq!(w[0], "<142>1", "{f}");
        assert!(support::syslog::is_iso_date(w[1]), "{f}");
        assert_eq!(&w[2..7], ["-", "tst", &pid.to_string(), "-", "-"], "{f}");
        assert_eq!(w[7], format!("hello {path} from-ring-test"));
    }
    // Legacy framing: raw format (a ring's default), a line feed after each message, the
    // whole message cut at the ring's maxlen.
    assert!(
        wait_until(WAIT, || legacy.all_text().lines().count() >= 2),
        "{:?}",
        legacy.all_text()
    );
    assert_eq!(legacy.text(0), "hello /a from-ri\nhello /b from-ri\n");
    assert_eq!(oc.connections(), 1);
}

#[test]
fn ring_maxlen_and_log_len_cut_messages() {
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring cut
    maxlen 20
ring body
    format priority
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@cut local0
    log ring@body len 80 local0
    log-format \"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\"
    http-request return status 200 content-type text/plain string ok
"
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    http_get(fe, "/");
    let s = sock(&h, "admin.sock");
    let mut cut = String::new();
    assert!(wait_until(WAIT, || {
        cut = cli(&s, "show events cut").unwrap_or_default();
        !cut.trim().is_empty()
    }));
    // The whole message (header included) cut at maxlen.
    assert_eq!(cut, "0123456789abcdefghij\n\n");
    // `len` of the log line cuts the text before the ring's header is added.
    let body = cli(&s, "show events body").unwrap();
    let text = "0123456789abcdefghijklmnopqrstuvwxyz".repeat(3);
    assert_eq!(body, format!("<134>{}\n\n", &text[..80]));
}

#[test]
fn show_events_lists_sinks_and_dumps_rings() {
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
    stats socket \"${{DIR}}/user.sock\" level user
    log ring@r1 local0
ring r1
    description \"my ring\"
    format short
ring r2
{DEFAULTS}
frontend fe
    bind {fe}
    log global
    log ring@r2 local0
    log-format \"req %HU\"
    http-request return status 200 content-type text/plain string ok
"
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let admin = sock(&h, "admin.sock");
    let user = sock(&h, "user.sock");
    assert_eq!(
        cli(&admin, "show events").unwrap(),
        "Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop
    stdout     : type=fd, 0 dropped, standard output (fd#1)
    stderr     : type=fd, 0 dropped, standard output (fd#2)
    buf0       : type=buffer, 0 dropped, in-memory ring buffer
    r1         : type=buffer, 0 dropped, my ring
    r2         : type=buffer, 0 dropped, r2

"
    );
    assert_eq!(cli(&admin, "show events r1").unwrap(), "\n");
    http_get(fe, "/one");
    http_get(fe, "/two");
    assert!(wait_until(WAIT, || cli(&admin, "show events r2")
        .unwrap_or_default()
        .contains("/two")));
    assert_eq!(
        cli(&admin, "show events r1").unwrap(),
        "<6>req /one\n<6>req /two\n\n"
    );
    assert_eq!(
        cli(&admin, "show events r2").unwrap(),
        "req /one\nreq /two\n\n"
    );
    assert_eq!(cli(&admin, "show events r2 -n").unwrap(), "\n");
    assert_eq!(cli(&admin, "show events buf0").unwrap(), "\n");
    assert_eq!(
        cli(&admin, "show events nope").unwrap(),
        "No such event sink\n"
    );
    assert_eq!(
        cli(&admin, "show events stdout").unwrap(),
        "Nothing to report for this sink\n"
    );
    assert_eq!(
        cli(&admin, "show events r2 -x").unwrap(),
        "unknown option\n"
    );
    // The list at any level; the contents from the operator level on.
    assert!(cli(&user, "show events").unwrap().contains("    r2 "));
    assert_eq!(
        cli(&user, "show events r2").unwrap(),
        "Permission denied\n\n"
    );
    assert!(
        cli(&admin, "help")
            .unwrap()
            .contains("show events [<sink>] [-w] [-n]")
    );
    if skip_on_reference("show events -0 (3.x)") {
        return;
    }
    assert_eq!(
        cli(&admin, "show events r2 -0").unwrap(),
        "req /one\0req /two\0\n"
    );
}

#[test]
fn show_events_wait_streams_new_messages() {
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring r
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@r local0
    log-format \"req %HU\"
    http-request return status 200 content-type text/plain string ok
"
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    http_get(fe, "/before");
    let admin = sock(&h, "admin.sock");
    assert!(wait_until(WAIT, || cli(&admin, "show events r")
        .unwrap_or_default()
        .contains("/before")));
    let s = UnixStream::connect(&admin).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"show events r -w\n").unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "req /before\n");
    for p in ["/after1", "/after2"] {
        http_get(fe, p);
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, format!("req {p}\n"));
    }
    // `-n`: only what comes next.
    let s2 = UnixStream::connect(&admin).unwrap();
    s2.set_read_timeout(Some(WAIT)).unwrap();
    let mut w2 = s2.try_clone().unwrap();
    let mut r2 = BufReader::new(s2);
    w2.write_all(b"show events r -nw\n").unwrap();
    // Requests until the first one logged after the command was read comes through:
    // nothing older (`-n`).
    r2.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut i = 0;
    let mut got = String::new();
    assert!(wait_until(WAIT, || {
        i += 1;
        http_get(fe, &format!("/new{i}"));
        r2.read_line(&mut got).is_ok() && got.ends_with('\n')
    }));
    assert!(got.starts_with("req /new"), "{got:?}");
    // Any input ends the wait; the connection then ends (not interactive).
    w.write_all(b"\n").unwrap();
    let mut rest = String::new();
    let _ = r.read_to_string(&mut rest);
    assert!(
        rest.lines().all(|l| l.is_empty() || l.starts_with("req ")),
        "{rest:?}"
    );
}

#[test]
fn ring_turns_over_when_full() {
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring small
    size 16384
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@small local0
    log-format \"%HU ................................................................................................................................................................................\"
    http-request return status 200 content-type text/plain string ok
"
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let n = 150;
    for i in 0..n {
        http_get(fe, &format!("/req-{i:03}"));
    }
    let admin = sock(&h, "admin.sock");
    let mut out = String::new();
    assert!(wait_until(WAIT, || {
        out = cli(&admin, "show events small").unwrap_or_default();
        out.contains(&format!("/req-{:03} ", n - 1))
    }));
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    // ~190 bytes a message: 150 of them do not fit in 16 kB; the newest are kept, in order.
    assert!(lines.len() < n && lines.len() > 50, "{} lines", lines.len());
    assert!(out.len() <= 16384, "{} bytes", out.len());
    assert!(!out.contains("/req-000 "));
    let first: usize = lines[0][5..8].parse().unwrap();
    for (k, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("/req-{:03} ", first + k)), "{l}");
    }
    assert_eq!(first + lines.len(), n);
}

#[test]
fn dead_ring_servers_do_not_slow_requests() {
    // One address nobody listens on, one server that accepts and never reads.
    let dead = free_addr();
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring r1
    timeout connect 1s
    timeout server 1s
    server dead {dead}
ring r2
    timeout connect 1s
    timeout server 1s
    server mute {mute} log-proto octet-count
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@r1 local0
    log ring@r2 local0
    log-format \"%HU {pad}\"
    http-request return status 200 content-type text/plain string ok
",
        mute = mute.local_addr().unwrap(),
        pad = "x".repeat(900)
    );
    let h = Halo::builder(&cfg).wait_for(&[fe]).start();
    let t0 = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..300 {
        let t = Instant::now();
        http_get(fe, &format!("/r{i}"));
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "300 requests took {:?}",
        t0.elapsed()
    );
    assert!(slowest < Duration::from_millis(500), "slowest {slowest:?}");
    let admin = sock(&h, "admin.sock");
    assert!(wait_until(WAIT, || cli(&admin, "show events r1")
        .unwrap_or_default()
        .contains("/r299 ")));
}

#[test]
fn ring_server_reconnects_after_a_close() {
    let col = TcpCollector::start();
    let fe = free_addr();
    let cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring r
    timeout connect 1s
    timeout server 1s
    server s {col} log-proto octet-count
{DEFAULTS}
frontend fe
    bind {fe}
    log ring@r local0
    log-format \"req %HU\"
    http-request return status 200 content-type text/plain string ok
",
        col = col.addr
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe]).start();
    http_get(fe, "/first");
    assert!(
        wait_until(WAIT, || col.text(0) == "10 req /first"),
        "{:?}",
        col.all_text()
    );
    col.drop_connections();
    // Each message after the close reaches a new connection, once it is made.
    let mut i = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            i += 1;
            http_get(fe, &format!("/again{i}"));
            thread::sleep(Duration::from_millis(50));
            col.connections() >= 2 && col.text(col.connections() - 1).contains("req /again")
        }),
        "{} connections: {:?}",
        col.connections(),
        col.all_text()
    );
}

/// A log-forward section listening on UDP and TCP at `addr`, sending to `targets`.
fn forwarder(addr: SocketAddr, targets: &[String], extra: &str) -> Halo {
    let mut cfg = format!(
        "
global
    stats socket \"${{DIR}}/admin.sock\" level admin
ring fwd
log-forward lf
    dgram-bind {addr}
    bind {addr}
    timeout client 5s
{extra}
"
    );
    for t in targets {
        cfg.push_str(&format!("    {t}\n"));
    }
    cfg.push_str("    log ring@fwd local0\n");
    Halo::builder(&cfg).wait_for(&[addr]).start()
}

const IN_3164: &str = "<134>Dec  4 18:20:45 myhost app[123]: hello 3164";
const IN_5424: &str =
    "<134>1 2026-12-04T18:20:45.123456+01:00 myhost app 123 ID47 [ex@1 a=\"b\"] hello 5424";

#[test]
fn log_forward_relays_udp_with_each_target_format() {
    let keep = Syslog::udp();
    let rfc3164 = Syslog::udp();
    let rfc5424 = Syslog::udp();
    let raw = Syslog::udp();
    let short = Syslog::udp();
    let iso = Syslog::udp();
    let local = Syslog::udp();
    let addr = free_addr();
    let h = forwarder(
        addr,
        &[
            keep.log_line("local0"),
            rfc3164.log_line("format rfc3164 local0"),
            rfc5424.log_line("format rfc5424 local0"),
            raw.log_line("format raw local0"),
            short.log_line("format short local0"),
            iso.log_line("format iso local0"),
            local.log_line("format local local0"),
        ],
        "",
    );
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in [IN_3164, IN_5424, "<13>app: no time"] {
        let n = keep.count();
        u.send_to(m.as_bytes(), addr).unwrap();
        // One at a time, so that every collector sees them in order.
        assert!(wait_until(WAIT, || keep.count() > n && local.count() > n));
        assert!(wait_until(WAIT, || [
            &rfc3164, &rfc5424, &raw, &short, &iso
        ]
        .iter()
        .all(|s| s.count() > n)));
    }
    assert_eq!(keep.lines(), [IN_3164, IN_5424, "<13>app: no time"]);
    assert_eq!(
        rfc3164.lines()[..2],
        [
            "<134>Dec  4 18:20:45 myhost app[123]: hello 3164",
            "<134>Dec  4 18:20:45 myhost app[123]: hello 5424"
        ]
    );
    let year = rfc5424.lines()[0][7..11].to_string();
    assert_eq!(
        rfc5424.lines()[..2],
        [
            format!("<134>1 {year}-12-04T18:20:45-00:00 myhost app 123 - - hello 3164"),
            IN_5424.to_string()
        ]
    );
    assert_eq!(raw.lines(), ["hello 3164", "hello 5424", "app: no time"]);
    assert_eq!(
        short.lines(),
        ["<6>hello 3164", "<6>hello 5424", "<5>app: no time"]
    );
    assert_eq!(
        iso.lines()[..2],
        [
            format!("{year}-12-04T18:20:45-00:00 hello 3164"),
            "2026-12-04T18:20:45.123456+01:00 hello 5424".to_string()
        ]
    );
    assert_eq!(
        local.lines()[..2],
        [
            "<134>Dec  4 18:20:45 app[123]: hello 3164",
            "<134>Dec  4 18:20:45 app[123]: hello 5424"
        ]
    );
    // A message without header: its text, at level emerg of the target's facility.
    let n = raw.count();
    u.send_to(b"just text", addr).unwrap();
    assert!(wait_until(WAIT, || raw.count() > n
        && short.count() > n
        && keep.count() > n));
    assert_eq!(raw.lines()[n], "just text");
    assert_eq!(short.lines()[n], "<0>just text");
    assert_eq!(keep.lines()[n], "just text");
    // The ring target keeps the message in the ring's format (raw).
    let admin = sock(&h, "admin.sock");
    assert!(
        cli(&admin, "show events fwd")
            .unwrap()
            .starts_with("hello 3164\nhello 5424\n")
    );
}

#[test]
fn log_forward_relays_tcp_octet_counted_and_line_framed() {
    let out = Syslog::udp();
    let addr = free_addr();
    let _h = forwarder(addr, &[out.log_line("format rfc5424 local0")], "");
    let mut t = TcpStream::connect(addr).unwrap();
    let m1 = "<134>Dec  4 18:20:45 tcphost app[9]: tcp octet";
    let m2 = "<134>Dec  4 18:20:45 tcphost app[9]: tcp legacy";
    let m3 = "<14>1 2026-01-02T03:04:05Z h2 prog - - - split\nline";
    t.write_all(format!("{} {m1}", m1.len()).as_bytes())
        .unwrap();
    t.write_all(format!("{m2}\n").as_bytes()).unwrap();
    // An octet-counted message in two writes, with a line feed inside.
    let framed = format!("{} {m3}", m3.len());
    t.write_all(&framed.as_bytes()[..10]).unwrap();
    t.flush().unwrap();
    thread::sleep(Duration::from_millis(100));
    t.write_all(&framed.as_bytes()[10..]).unwrap();
    let lines = out.wait_lines(3, WAIT);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let year = &lines[0][7..11];
    assert_eq!(
        lines[..2],
        [
            format!("<134>1 {year}-12-04T18:20:45-00:00 tcphost app 9 - - tcp octet"),
            format!("<134>1 {year}-12-04T18:20:45-00:00 tcphost app 9 - - tcp legacy"),
        ]
    );
    assert_eq!(
        lines[2],
        "<14>1 2026-01-02T03:04:05Z h2 prog - - - split\nline"
    );
}

#[test]
fn log_forward_host_option() {
    if skip_on_reference("option host (3.x)") {
        return;
    }
    let fill = Syslog::udp();
    let addr = free_addr();
    let _h = forwarder(addr, &[fill.log_line("format rfc3164 local0")], "");
    let replace = Syslog::udp();
    let addr2 = free_addr();
    let _h2 = forwarder(
        addr2,
        &[replace.log_line("format rfc5424 local0")],
        "    option host append",
    );
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"<13>no header", addr).unwrap();
    u.send_to(IN_3164.as_bytes(), addr).unwrap();
    u.send_to(IN_3164.as_bytes(), addr2).unwrap();
    let l = fill.wait_lines(2, WAIT);
    // fill (the default): the sender's address where the message names no host.
    assert!(l[0].ends_with(" 127.0.0.1 no header"), "{l:?}");
    assert_eq!(l[1], IN_3164);
    let l = replace.wait_lines(1, WAIT);
    assert!(
        l[0].ends_with(" myhost,127.0.0.1 app 123 - - hello 3164"),
        "{l:?}"
    );
}

#[test]
fn ring_and_log_forward_configurations_check() {
    let cfg = "
global
    log ring@r local0
    log ring@buf0 local0
ring r
    description \"My local buffer\"
    format rfc5424
    maxlen 1200
    size 32764
    timeout connect 5s
    timeout server 10s
    server mysyslogsrv 127.0.0.1:6514 log-proto octet-count
    server other 127.0.0.1:6515 log-proto legacy
log-forward sylog-loadb
    dgram-bind 127.0.0.1:1514
    bind 127.0.0.1:1514
    maxconn 20
    backlog 10
    timeout client 10s
    log global
    log ring@r local0
    log 127.0.0.1:10001 sample 1:4 local0
    log 127.0.0.1:10002 sample 2:4 local0
";
    let (code, _out, err) = run_check(Cfg::Text(cfg), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_check(Cfg::Text("ring r\n    format bogus\n"), &[]);
    assert_ne!(code, 0);
    assert!(err.contains(":2]"), "{err}");
    if skip_on_reference("3.x keywords and halo's refusals") {
        return;
    }
    let (code, _, err) = run_check(
        Cfg::Text(
            "log-forward f\n    dgram-bind 127.0.0.1:1514\n    option dont-parse-log\n    option assume-rfc6587-ntf\n    option host replace\n    log 127.0.0.1:1515 format raw local0\n",
        ),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_check(Cfg::Text("global\n    log ring@nope local0\n"), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("nope"), "{err}");
    // backing-file is valid (checked) but not built: starting refuses it by name.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("b.cfg");
    std::fs::write(&p, "ring r\n    backing-file /tmp/halo-ring-test\n").unwrap();
    let out = run_bin(
        &["-f".into(), p.into_os_string()],
        &[],
        Duration::from_secs(10),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("backing-file"), "{}", out.stderr);
}
