//! Built-in protocol checks against scripted servers replaying each protocol's answers
//! (`smtpchk`, `mysql-check`, `pgsql-check`, `ldap-check`) and real `openssl s_server`s
//! (`ssl-hello-chk`, seed 23): the bytes HAProxy 2.6 sends, and the statuses, codes and
//! infos `show stat` reports.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

/// A scripted SMTP server; records what the checks sent.
fn smtp(mode: &'static str, got: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let got = got.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 512];
                let mut read = |c: &mut std::net::TcpStream| {
                    let n = c.read(&mut buf).unwrap_or(0);
                    got.lock().unwrap().extend_from_slice(&buf[..n]);
                };
                match mode {
                    "banner554" => {
                        let _ = c.write_all(b"554 go away\r\n");
                    }
                    "garbage" => {
                        let _ = c.write_all(b"hello there\r\n");
                    }
                    _ => {
                        let _ = c.write_all(b"220 mail.example ESMTP ready\r\n");
                        read(&mut c);
                        if mode == "ok" {
                            let _ = c.write_all(b"250-mail.example hello\r\n250 SIZE 1000\r\n");
                            read(&mut c);
                            let _ = c.write_all(b"221 2.0.0 bye\r\n");
                        } else {
                            let _ = c.write_all(b"550 5.7.1 not allowed here\r\n");
                        }
                    }
                }
            });
        }
    });
    addr
}

fn stat_of(sock: &std::path::Path, srv: &str) -> Vec<String> {
    px_stat(sock, "fe", srv)
}

fn px_stat(sock: &std::path::Path, px: &str, srv: &str) -> Vec<String> {
    let out = cli(sock, "show stat").unwrap_or_default();
    out.lines()
        .find(|l| l.starts_with(&format!("{px},{srv},")))
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect()
}

#[test]
fn smtpchk_banner_ehlo_quit() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let ok = smtp("ok", got.clone());
    let fail = smtp("fail", got.clone());
    let b554 = smtp("banner554", got.clone());
    let garb = smtp("garbage", got.clone());
    let cfg = "global
    stats socket \"${DIR}/admin.sock\" level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind \"${FE}\"
    option smtpchk EHLO halo.test
    server ok \"${OK}\" check inter 200
    server fail \"${FAIL}\" check inter 200
    server b554 \"${B554}\" check inter 200
    server garb \"${GARB}\" check inter 200
";
    let h = Halo::start(
        cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("OK", haproxy_addr(ok)),
            ("FAIL", haproxy_addr(fail)),
            ("B554", haproxy_addr(b554)),
            ("GARB", haproxy_addr(garb)),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    // status(17), check_status(36), check_code(37), last_chk(56), check_desc(65)
    let want = [
        ("ok", ["L7OK", "221", "2.0.0 bye", "Layer7 check passed"]),
        (
            "fail",
            [
                "L7STS",
                "550",
                "5.7.1 not allowed here",
                "Layer7 wrong status",
            ],
        ),
        ("b554", ["L7STS", "554", "go away", "Layer7 wrong status"]),
        (
            "garb",
            ["L7RSP", "", "hello there", "Layer7 invalid response"],
        ),
    ];
    for (srv, w) in want {
        let ok = wait_until(Duration::from_secs(5), || {
            let s = stat_of(&sock, srv);
            s.len() > 65 && [&*s[36], &*s[37], &*s[56], &*s[65]] == w
        });
        assert!(ok, "{srv}: {:?}", stat_of(&sock, srv));
    }
    let text = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
    assert!(text.contains("EHLO halo.test\r\n"), "{text:?}");
    assert!(text.contains("QUIT\r\n"), "{text:?}");
}

/// One connection to a scripted server: what it reads is appended to the transcript,
/// what it sends is marked there as `<S>`.
struct Peer {
    s: TcpStream,
    log: Vec<u8>,
}

impl Peer {
    /// Reads what is there within `ms` (nothing if the peer is silent or gone).
    fn read(&mut self, ms: u64) -> usize {
        let _ = self.s.set_read_timeout(Some(Duration::from_millis(ms)));
        let mut buf = [0u8; 1024];
        let n = self.s.read(&mut buf).unwrap_or(0);
        self.log.extend_from_slice(&buf[..n]);
        n
    }
    fn send(&mut self, b: &[u8]) {
        self.log.extend_from_slice(b"<S>");
        let _ = self.s.write_all(b);
    }
}

/// A server running `script` on every connection; keeps each connection's transcript.
struct Scripted {
    addr: SocketAddr,
    logs: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Scripted {
    fn start(script: fn(&mut Peer)) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let all = logs.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(s) = c else { continue };
                let all = all.clone();
                std::thread::spawn(move || {
                    let mut p = Peer { s, log: Vec::new() };
                    script(&mut p);
                    all.lock().unwrap().push(p.log);
                });
            }
        });
        Scripted { addr, logs }
    }
    fn cfg(&self) -> String {
        haproxy_addr(self.addr)
    }
    /// The transcripts of the finished connections.
    fn logs(&self) -> Vec<Vec<u8>> {
        self.logs.lock().unwrap().clone()
    }
}

/// Waits until every (proxy, server) of `want` shows check_status(36), check_code(37),
/// last_chk(56) and check_desc(65) as given (a running check's `* ` ignored).
fn expect_stats(sock: &std::path::Path, want: &[(&str, &str, [&str; 4])]) {
    for (px, srv, w) in want {
        let ok = wait_until(Duration::from_secs(6), || {
            let s = px_stat(sock, px, srv);
            s.len() > 65 && [s[36].trim_start_matches("* "), &*s[37], &*s[56], &*s[65]] == *w
        });
        assert!(ok, "{px}/{srv}: {:?}", px_stat(sock, px, srv));
    }
}

fn start_with_sock(cfg: &str, env: &[(&str, String)]) -> (Halo, std::path::PathBuf) {
    let cfg = format!("global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n{cfg}");
    let h = Halo::start(&cfg, env);
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    (h, sock)
}

const DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
";

// ---------------------------------------------------------------------------
// option smtpchk: a 550 to EHLO on a connection kept open
// ---------------------------------------------------------------------------

#[test]
fn smtpchk_refused_ehlo_on_open_connection_times_out() {
    let srv = Scripted::start(|p| {
        p.send(b"220 mail.example ESMTP\r\n");
        p.read(1000);
        p.send(b"550 5.7.1 go away\r\n");
        // Keeps the connection open until the check gives up.
        p.read(3000);
    });
    let cfg = format!(
        "{DEFAULTS}listen fe
    bind \"${{FE}}\"
    option smtpchk
    server s \"${{S}}\" check inter 300
"
    );
    let (_h, sock) = start_with_sock(&cfg, &[("FE", haproxy_addr(free_addr())), ("S", srv.cfg())]);
    // HAProxy 2.6 waits for a 2xx answer and gives up at `timeout check`.
    expect_stats(&sock, &[("fe", "s", ["L7TOUT", "", "", "Layer7 timeout"])]);
    // The transcript is there once the server side of that connection has finished.
    let helo = |logs: &[Vec<u8>]| {
        logs.iter()
            .any(|l| l.starts_with(b"<S>HELO localhost\r\n<S>"))
    };
    wait_until(Duration::from_secs(5), || helo(&srv.logs()));
    let logs = srv.logs();
    assert!(helo(&logs), "{logs:?}");
}

// ---------------------------------------------------------------------------
// option mysql-check
// ---------------------------------------------------------------------------

fn mysql_packet(seq: u8, body: &[u8]) -> Vec<u8> {
    let mut p = (body.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(body);
    p
}

fn mysql_greeting() -> Vec<u8> {
    let mut b = vec![0x0a];
    b.extend_from_slice(b"5.7.99-test\0");
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(b"abcdefgh\0");
    b.extend_from_slice(&[0xff, 0xf7, 0x21, 0x02, 0x00, 0xff, 0x81, 0x15]);
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    mysql_packet(0, &b)
}

fn mysql_error(seq: u8, code: u16, msg: &str) -> Vec<u8> {
    let mut b = vec![0xff];
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(b"#28000");
    b.extend_from_slice(msg.as_bytes());
    mysql_packet(seq, &b)
}

#[test]
fn mysql_check_login_and_answers() {
    // A server that waits a little for the client before greeting, as a slow server may.
    let ok = Scripted::start(|p| {
        let logged_in = p.read(300) > 0;
        p.send(&mysql_greeting());
        if logged_in {
            p.send(&mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0]));
        }
        p.read(1000);
    });
    let host_denied = Scripted::start(|p| {
        p.send(&mysql_error(0, 1130, "Host 'x' is not allowed"));
        p.read(1000);
    });
    let auth_denied = Scripted::start(|p| {
        p.read(300);
        p.send(&mysql_greeting());
        p.send(&mysql_error(2, 1045, "Access denied for user 'haproxy'"));
        p.read(1000);
    });
    // MySQL 8 asks to switch the authentication method: not an error packet, so it passes.
    let switch = Scripted::start(|p| {
        p.read(300);
        p.send(&mysql_greeting());
        p.send(&mysql_packet(
            2,
            b"\xfecaching_sha2_password\0abcdefghijklmnopqrst\0",
        ));
        p.read(1000);
    });
    // A greeting cut short by the server closing.
    let cut = Scripted::start(|p| {
        p.read(300);
        p.send(&mysql_greeting()[..20]);
    });
    let cfg = format!(
        "{DEFAULTS}listen my
    bind \"${{FE}}\"
    option mysql-check user haproxy
    server ok \"${{OK}}\" check inter 300
    server switch \"${{SWITCH}}\" check inter 300
    server cut \"${{CUT}}\" check inter 300
    server host \"${{HOST}}\" check inter 300
    server auth \"${{AUTH}}\" check inter 300
listen old
    bind \"${{FE_OLD}}\"
    option mysql-check user old pre-41
    server ok \"${{OK}}\" check inter 300
listen nouser
    bind \"${{FE_NOUSER}}\"
    option mysql-check
    server ok \"${{OK}}\" check inter 300
    server host \"${{HOST}}\" check inter 300
"
    );
    let (_h, sock) = start_with_sock(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("FE_OLD", haproxy_addr(free_addr())),
            ("FE_NOUSER", haproxy_addr(free_addr())),
            ("OK", ok.cfg()),
            ("HOST", host_denied.cfg()),
            ("AUTH", auth_denied.cfg()),
            ("SWITCH", switch.cfg()),
            ("CUT", cut.cfg()),
        ],
    );
    let host = "#28000Host 'x' is not allowed";
    expect_stats(
        &sock,
        &[
            ("my", "ok", ["L7OK", "0", "", "Layer7 check passed"]),
            ("my", "host", ["L7STS", "1130", host, "Layer7 wrong status"]),
            (
                "my",
                "auth",
                [
                    "L7STS",
                    "1045",
                    "#28000Access denied for user 'haproxy'",
                    "Layer7 wrong status",
                ],
            ),
            ("my", "switch", ["L7OK", "0", "", "Layer7 check passed"]),
            ("my", "cut", ["L7RSP", "", "", "Layer7 invalid response"]),
            ("old", "ok", ["L7OK", "0", "", "Layer7 check passed"]),
            ("nouser", "ok", ["L7OK", "0", "", "Layer7 check passed"]),
            (
                "nouser",
                "host",
                ["L7STS", "1130", host, "Layer7 wrong status"],
            ),
        ],
    );
    // The login goes right after connecting (before the greeting), COM_QUIT with it.
    let mut login41 = vec![0x29, 0, 0, 1, 0x00, 0x82, 0, 0, 0, 0x80, 0, 1, 0x21];
    login41.extend_from_slice(&[0; 23]);
    login41.extend_from_slice(b"haproxy\0\0\x01\0\0\0\x01<S>");
    let login40 = b"\x0a\0\0\x01\x00\x80\0\0\x01old\0\0\x01\0\0\0\x01<S>".to_vec();
    let logs = ok.logs();
    assert!(logs.iter().any(|l| l.starts_with(&login41)), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with(&login40)), "{logs:?}");
    // Without a user, nothing is sent.
    assert!(logs.iter().any(|l| l.starts_with(b"<S>")), "{logs:?}");
    let logs = host_denied.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with(b"<S>") && l[3..].starts_with(&login41[..login41.len() - 3])),
        "{logs:?}"
    );
}

// ---------------------------------------------------------------------------
// option pgsql-check
// ---------------------------------------------------------------------------

#[test]
fn pgsql_check_startup_and_answers() {
    let trust = Scripted::start(|p| {
        p.read(1000);
        p.send(b"R\0\0\0\x08\0\0\0\0");
        p.read(1000);
    });
    let md5 = Scripted::start(|p| {
        p.read(1000);
        p.send(b"R\0\0\0\x0c\0\0\0\x05salt");
        p.read(1000);
    });
    let sasl = Scripted::start(|p| {
        p.read(1000);
        p.send(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0");
        p.read(1000);
    });
    let refused = Scripted::start(|p| {
        p.read(1000);
        let m = b"SFATAL\0C28000\0Mno pg_hba.conf entry\0\0";
        let mut e = b"E".to_vec();
        e.extend_from_slice(&(m.len() as u32 + 4).to_be_bytes());
        e.extend_from_slice(m);
        p.send(&e);
        p.read(1000);
    });
    // Authentication type 1 (Kerberos V4) is not one HAProxy knows.
    let unknown = Scripted::start(|p| {
        p.read(1000);
        p.send(b"R\0\0\0\x08\0\0\0\x01");
        p.read(1000);
    });
    let cfg = format!(
        "{DEFAULTS}listen pg
    bind \"${{FE}}\"
    option pgsql-check user pguser
    server trust \"${{TRUST}}\" check inter 300
    server md5 \"${{MD5}}\" check inter 300
    server sasl \"${{SASL}}\" check inter 300
    server refused \"${{REFUSED}}\" check inter 300
    server unknown \"${{UNKNOWN}}\" check inter 300
"
    );
    let (_h, sock) = start_with_sock(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("TRUST", trust.cfg()),
            ("MD5", md5.cfg()),
            ("SASL", sasl.cfg()),
            ("REFUSED", refused.cfg()),
            ("UNKNOWN", unknown.cfg()),
        ],
    );
    let ok = [
        "L7OK",
        "0",
        "PostgreSQL server is ok",
        "Layer7 check passed",
    ];
    expect_stats(
        &sock,
        &[
            ("pg", "trust", ok),
            ("pg", "md5", ok),
            ("pg", "sasl", ok),
            (
                "pg",
                "refused",
                ["L7RSP", "", "FATAL", "Layer7 invalid response"],
            ),
            (
                "pg",
                "unknown",
                [
                    "L7STS",
                    "0",
                    "PostgreSQL unknown error",
                    "Layer7 wrong status",
                ],
            ),
        ],
    );
    let startup = b"\0\0\0\x15\0\x03\0\0user\0pguser\0\0<S>";
    let logs = trust.logs();
    assert!(logs.iter().any(|l| l.starts_with(startup)), "{logs:?}");
}

// ---------------------------------------------------------------------------
// option ldap-check
// ---------------------------------------------------------------------------

#[test]
fn ldap_check_bind_and_answers() {
    let ok = Scripted::start(|p| {
        p.read(1000);
        p.send(b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00");
        p.read(1000);
    });
    let bad_creds = Scripted::start(|p| {
        p.read(1000);
        p.send(b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x31\x04\x00\x04\x00");
        p.read(1000);
    });
    let not_ldap = Scripted::start(|p| {
        p.read(1000);
        p.send(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        p.read(1000);
    });
    let cfg = format!(
        "{DEFAULTS}listen ld
    bind \"${{FE}}\"
    option ldap-check
    server ok \"${{OK}}\" check inter 300
    server creds \"${{CREDS}}\" check inter 300
    server http \"${{HTTP}}\" check inter 300
"
    );
    let (_h, sock) = start_with_sock(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("OK", ok.cfg()),
            ("CREDS", bad_creds.cfg()),
            ("HTTP", not_ldap.cfg()),
        ],
    );
    expect_stats(
        &sock,
        &[
            ("ld", "ok", ["L7OK", "0", "", "Layer7 check passed"]),
            (
                "ld",
                "creds",
                [
                    "L7STS",
                    "49",
                    "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
                    "Layer7 wrong status",
                ],
            ),
            (
                "ld",
                "http",
                [
                    "L7RSP",
                    "",
                    "Not LDAPv3 protocol",
                    "Layer7 invalid response",
                ],
            ),
        ],
    );
    // An anonymous simple bind, LDAPv3, message id 1.
    let bind = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00<S>";
    let logs = ok.logs();
    assert!(logs.iter().any(|l| l.starts_with(bind)), "{logs:?}");
}

// ---------------------------------------------------------------------------
// option ssl-hello-chk, against real TLS servers
// ---------------------------------------------------------------------------

/// A real TLS server (`openssl s_server`, TLS 1.2 capable) whose certificate is named
/// `cn`; killed on drop.
struct TlsServer {
    child: std::process::Child,
    addr: SocketAddr,
    pem: std::path::PathBuf,
}

impl TlsServer {
    fn start(dir: &std::path::Path, cn: &str) -> TlsServer {
        let pem = dir.join(format!("{cn}.pem"));
        let st = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
            .arg("-subj")
            .arg(format!("/CN={cn}"))
            .arg("-keyout")
            .arg(&pem)
            .arg("-out")
            .arg(dir.join(format!("{cn}.crt")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl req");
        assert!(st.success(), "openssl req failed");
        let crt = std::fs::read(dir.join(format!("{cn}.crt"))).unwrap();
        let mut all = std::fs::read(&pem).unwrap();
        all.extend(crt);
        std::fs::write(&pem, all).unwrap();
        Self::start_at(free_addr(), pem)
    }

    fn start_at(addr: SocketAddr, pem: std::path::PathBuf) -> TlsServer {
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(haproxy_addr(addr))
            .arg("-cert")
            .arg(&pem)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run openssl s_server");
        assert!(
            wait_until(Duration::from_secs(5), || anyone_listening(addr)),
            "s_server does not listen on {addr}"
        );
        TlsServer { child, addr, pem }
    }

    fn cfg(&self) -> String {
        haproxy_addr(self.addr)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TLS handshake through `addr` (`openssl s_client`): what it printed, in which the
/// server certificate's name appears.
fn tls_client(addr: SocketAddr) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-brief", "-connect"])
        .arg(haproxy_addr(addr))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .spawn()
        .expect("run openssl s_client");
    if wait_child(&mut child, Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut s = std::fs::read_to_string(&out).unwrap_or_default();
    s.push_str(&std::fs::read_to_string(dir.path().join("err")).unwrap_or_default());
    s
}

/// The SSLv3 client hello HAProxy 2.6 sends (bytes 11..15 are the time).
fn ssl_hello_without_time() -> (Vec<u8>, Vec<u8>) {
    let head = b"\x16\x03\x00\x00\x79\x01\x00\x00\x75\x03\x00".to_vec();
    let mut tail = b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n\x00\x00\x4e".to_vec();
    for c in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        tail.extend_from_slice(&c.to_be_bytes());
    }
    tail.extend_from_slice(b"\x01\x00");
    (head, tail)
}

#[test]
fn ssl_hello_chk_tls_plain_and_silent_servers() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsServer::start(dir.path(), "tls");
    let plain = Scripted::start(|p| {
        p.read(1000);
        p.send(b"hello\r\n");
        p.read(1000);
    });
    let silent = Scripted::start(|p| {
        p.read(1000);
        p.read(3000);
    });
    let cfg = format!(
        "{DEFAULTS}listen fe
    bind \"${{FE}}\"
    option ssl-hello-chk
    server tls \"${{TLS}}\" check inter 300
    server plain \"${{PLAIN}}\" check inter 300
    server silent \"${{SILENT}}\" check inter 300
"
    );
    let (_h, sock) = start_with_sock(
        &cfg,
        &[
            ("FE", haproxy_addr(free_addr())),
            ("TLS", tls.cfg()),
            ("PLAIN", plain.cfg()),
            ("SILENT", silent.cfg()),
        ],
    );
    expect_stats(
        &sock,
        &[
            ("fe", "tls", ["L6OK", "", "", "Layer6 check passed"]),
            ("fe", "plain", ["L6RSP", "", "", "Layer6 invalid response"]),
            ("fe", "silent", ["L6TOUT", "", "", "Layer6 timeout"]),
        ],
    );
    let (head, tail) = ssl_hello_without_time();
    let logs = plain.logs();
    assert!(
        logs.iter().any(|l| l.len() == 11 + 4 + tail.len() + 3
            && l.starts_with(&head)
            && l[15..].starts_with(&tail)),
        "{logs:?}"
    );
}

/// Seed 23: the SSL-checked syslog relay sends traffic to the backup server only while
/// the first one is down. (HAProxy 2.6 no longer knows `monitor-net`: against it, that
/// line is left out.)
#[test]
fn seed23_backup_takes_traffic_only_while_first_server_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut prod = TlsServer::start(dir.path(), "prod");
    let back = TlsServer::start(dir.path(), "back");
    let mut cfg = seed_text("23-tcp-relay-monitor-net-backup.cfg");
    if is_reference_haproxy() {
        cfg = cfg
            .lines()
            .filter(|l| !l.contains("monitor-net"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let cfg = format!("global\n    stats socket \"${{DIR}}/admin.sock\" level admin\n{cfg}\n");
    let fe = free_addr();
    let h = Halo::start(
        &cfg,
        &[
            ("FE_A", haproxy_addr(free_addr())),
            ("FE_B", haproxy_addr(free_addr())),
            ("FE_C", haproxy_addr(free_addr())),
            ("S1", haproxy_addr(free_addr())),
            ("FE_SSL", haproxy_addr(fe)),
            ("TLS1", prod.cfg()),
            ("TLS2", back.cfg()),
        ],
    );
    let sock = h.dir().join("admin.sock");
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let px = "tcp-syslog-proxy";
    let passed = ["L6OK", "", "", "Layer6 check passed"];
    expect_stats(
        &sock,
        &[
            (px, "syslog-prod-site", passed),
            (px, "syslog-back-site", passed),
        ],
    );
    for _ in 0..3 {
        let out = tls_client(fe);
        assert!(
            out.contains("CN = prod") || out.contains("CN=prod"),
            "{out}"
        );
    }
    // The first server goes away: once its checks fail (fall 3, inter 1s), the backup
    // takes the traffic.
    let addr = prod.addr;
    let pem = prod.pem.clone();
    prod.stop();
    let down = wait_until(Duration::from_secs(10), || {
        px_stat(&sock, px, "syslog-prod-site")
            .get(17)
            .is_some_and(|s| s == "DOWN")
    });
    assert!(down, "{:?}", px_stat(&sock, px, "syslog-prod-site"));
    for _ in 0..3 {
        let out = tls_client(fe);
        assert!(
            out.contains("CN = back") || out.contains("CN=back"),
            "{out}"
        );
    }
    // Back again (rise 2): the first server takes the traffic again.
    let _prod = TlsServer::start_at(addr, pem);
    let up = wait_until(Duration::from_secs(10), || {
        px_stat(&sock, px, "syslog-prod-site")
            .get(17)
            .is_some_and(|s| s == "UP")
    });
    assert!(up, "{:?}", px_stat(&sock, px, "syslog-prod-site"));
    for _ in 0..3 {
        let out = tls_client(fe);
        assert!(
            out.contains("CN = prod") || out.contains("CN=prod"),
            "{out}"
        );
    }
}
