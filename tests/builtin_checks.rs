//! Built-in protocol checks against scripted servers: `option smtpchk` (banner, EHLO,
//! QUIT as HAProxy 2.6 sends them), statuses, codes and infos as `show stat` reports.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
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
    let out = cli(sock, "show stat").unwrap_or_default();
    out.lines()
        .find(|l| l.starts_with(&format!("fe,{srv},")))
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
