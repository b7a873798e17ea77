//! Connections that fail before they become a stream (section 8.2.5): a failed TLS
//! handshake or a bad PROXY header logs HAProxy's short line `CLIENT:PORT [DATE]
//! FRONTEND/BIND: MESSAGE`, or the frontend's `error-log-format`; `option dontlognull`
//! skips the connections that sent nothing. And `log-format-sd`: the structured data of
//! RFC 5424 lines. Lines are received over UDP syslog. Passes against HAProxy 2.6 too
//! (`HALO_BIN=/usr/sbin/haproxy`), except `error-log-format`, which 2.6 does not have.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::syslog::Syslog;
use support::tls::Pki;
use support::*;

const LOG_WAIT: Duration = Duration::from_secs(10);

/// Connects, sends `data` (nothing when empty), half-closes and waits for the proxy to close.
fn poke(addr: SocketAddr, data: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    let port = s.local_addr().unwrap().port();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if !data.is_empty() {
        s.write_all(data).unwrap();
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    port
}

const CONFIG: &str = r#"
global
    log "${SYSLOG}" format raw local0
defaults
    mode http
    log global
    option httplog
    timeout client 2s
    timeout server 2s
    timeout connect 1s

frontend tls
    bind "${FE_TLS}" ssl crt "${DIR}/site.pem" name tlsbind
    bind "${FE_PP}" accept-proxy
    http-request return status 200

frontend quiet
    option dontlognull
    bind "${FE_QTLS}" ssl crt "${DIR}/site.pem"
    bind "${FE_QPP}" accept-proxy
    http-request return status 200
"#;

#[test]
fn failed_handshakes_log_the_short_line() {
    let sys = Syslog::udp();
    let pki = Pki::site();
    let (tls, pp, qtls, qpp) = (free_addr(), free_addr(), free_addr(), free_addr());
    let _h = Halo::builder(CONFIG)
        .env("SYSLOG", sys.target())
        .env("FE_TLS", haproxy_addr(tls))
        .env("FE_PP", haproxy_addr(pp))
        .env("FE_QTLS", haproxy_addr(qtls))
        .env("FE_QPP", haproxy_addr(qpp))
        .env("DIR", pki.dir().to_string_lossy())
        .start();
    let mut expected = Vec::new();
    let mut step = |addr, data: &[u8], want: Option<&str>| {
        let port = poke(addr, data);
        if let Some(w) = want {
            expected.push(format!("127.0.0.1:{port} {w}"));
            let lines = sys.expect_lines(expected.len(), LOG_WAIT);
            let got = lines.last().unwrap();
            // `127.0.0.1:PORT [04/Dec/2026:22:55:34.026] FRONTEND/BIND: MESSAGE`
            let (head, rest) = got.split_once(" [").unwrap();
            let (date, tail) = rest.split_once("] ").unwrap();
            assert_eq!(date.len(), "04/Dec/2026:22:55:34.026".len(), "{got}");
            assert_eq!(format!("{head} {tail}"), *expected.last().unwrap(), "{got}");
        }
    };
    // Plain HTTP on a TLS port, a connection closed without a byte.
    step(
        tls,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Some("tls/tlsbind: SSL handshake failure"),
    );
    step(
        tls,
        b"",
        Some("tls/tlsbind: Connection closed during SSL handshake"),
    );
    // PROXY headers: too short to tell, not one at all, a broken v1 line, nothing.
    step(
        pp,
        b"GARBAGE\r\n\r\n",
        Some("tls/2: Truncated PROXY protocol header received"),
    );
    step(
        pp,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Some("tls/2: Received something which does not look like a PROXY protocol header"),
    );
    step(
        pp,
        b"PROXY TCP4 1.2.3.4 nonsense\r\nGET / HTTP/1.1\r\n\r\n",
        Some("tls/2: Received an invalid PROXY protocol header"),
    );
    step(
        pp,
        b"",
        Some("tls/2: Connection closed while waiting for PROXY protocol header"),
    );
    // `option dontlognull`: what sent nothing is not logged, the rest is.
    step(qtls, b"", None);
    step(qpp, b"", None);
    step(
        qtls,
        b"GET / HTTP/1.1\r\n\r\n",
        Some("quiet/1: SSL handshake failure"),
    );
    step(
        qpp,
        b"GARBAGE\r\n\r\n",
        Some("quiet/2: Truncated PROXY protocol header received"),
    );
    // A client that never finishes its handshake: `timeout client` (2.6 has no `client-hs`).
    let mut s = TcpStream::connect(tls).unwrap();
    let port = s.local_addr().unwrap().port();
    s.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let line = sys
        .wait_for("Timeout during SSL handshake", LOG_WAIT)
        .expect("no timeout line");
    assert!(line.starts_with(&format!("127.0.0.1:{port} [")), "{line}");
    assert!(
        line.ends_with("] tls/tlsbind: Timeout during SSL handshake"),
        "{line}"
    );
    assert!(
        sys.stays_at(expected.len() + 1, Duration::from_millis(300)),
        "{:?}",
        sys.lines()
    );
}

#[test]
fn error_log_format_replaces_the_short_line() {
    if skip_on_reference("error-log-format (HAProxy 2.7+)") {
        return;
    }
    let sys = Syslog::udp();
    let pki = Pki::site();
    let (tls, pp) = (free_addr(), free_addr());
    let cfg = r#"
global
    log "${SYSLOG}" format raw local0
defaults
    mode http
    log global
    option httplog
    option log-separate-errors
    timeout client 2s
    timeout server 2s
    timeout connect 1s
frontend fe
    error-log-format "ERR %ci %ft %fp"
    bind "${FE_TLS}" ssl crt "${DIR}/site.pem"
    bind "${FE_PP}" accept-proxy
    http-request return status 200
"#;
    let _h = Halo::builder(cfg)
        .env("SYSLOG", sys.target())
        .env("FE_TLS", haproxy_addr(tls))
        .env("FE_PP", haproxy_addr(pp))
        .env("DIR", pki.dir().to_string_lossy())
        .start();
    poke(tls, b"GET / HTTP/1.1\r\n\r\n");
    poke(pp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let lines = sys.expect_lines(2, LOG_WAIT);
    assert_eq!(lines[0], format!("ERR 127.0.0.1 fe {}", tls.port()));
    assert_eq!(lines[1], format!("ERR 127.0.0.1 fe {}", pp.port()));
}

#[test]
fn log_format_sd_fills_the_structured_data_of_rfc5424() {
    let sys = Syslog::udp();
    let be = support::http::HttpBackend::start("s1", Duration::ZERO);
    let fe = free_addr();
    let cfg = r#"
defaults
    mode http
    timeout client 2s
    timeout server 2s
    timeout connect 1s
frontend fe
    bind "${FE}"
    log "${SYSLOG}" format rfc5424 local0
    log-format "%ST %HP"
    log-format-sd "[req@32473 status=\"%ST\" path=\"%HP\"]"
    default_backend be
backend be
    server s1 "${S1}"
"#;
    let _h = Halo::builder(cfg)
        .env("SYSLOG", sys.target())
        .env("FE", haproxy_addr(fe))
        .env("S1", be.cfg_addr())
        .start();
    let mut c = support::http::Client::connect(fe);
    assert_eq!(c.get("/sd", "").status, 200);
    drop(c);
    let lines = sys.expect_lines(1, LOG_WAIT);
    // <134>1 TIMESTAMP HOST TAG PID MSGID SD MSG
    let f: Vec<&str> = lines[0].splitn(7, ' ').collect();
    assert_eq!(f[0], "<134>1", "{}", lines[0]);
    assert_eq!(f[5], "-", "{}", lines[0]);
    assert_eq!(
        f[6], "[req@32473 status=\"200\" path=\"/sd\"] 200 /sd",
        "{}",
        lines[0]
    );
}
