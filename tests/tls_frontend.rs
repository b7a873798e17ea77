//! TLS termination end to end (`bind … ssl`): seed 15 over HTTPS, certificate choice by SNI,
//! crt-list and strict-sni, versions, ciphers, curves and ALPN, client certificates and CRLs,
//! resumption, big transfers, accept-proxy before TLS, bad input and handshake timeouts.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use support::http::{Client, HttpBackend};
use support::tls::{CA_EXT, CLIENT_EXT, Key, Out, Pki, SERVER_EXT, run};
use support::*;

/// A request that makes the proxy close after its answer (so `s_client -ign_eof` ends).
const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

// ---------------------------------------------------------------------------
// External commands (openssl, curl), each bounded by `timeout 10`
// ---------------------------------------------------------------------------

/// `openssl s_client -connect ADDR EXTRA…` with `input` on stdin.
fn s_client(addr: SocketAddr, extra: &[&str], input: &[u8]) -> Out {
    let connect = haproxy_addr(addr);
    let mut args = vec!["s_client", "-connect", connect.as_str()];
    args.extend_from_slice(extra);
    run("openssl", &args, input)
}

/// The certificate subject served for `sni` (None: no SNI), or None if the handshake failed.
fn served_subject(addr: SocketAddr, sni: Option<&str>, extra: &[&str]) -> Option<String> {
    let mut args: Vec<&str> = match sni {
        Some(n) => vec!["-servername", n],
        None => vec!["-noservername"],
    };
    args.extend_from_slice(extra);
    let o = s_client(addr, &args, b"");
    match o.subject() {
        Some(s) if o.code == 0 => Some(s),
        _ => None,
    }
}

/// `curl https://localhost:PORT{path}` over HTTP/1.1 trusting `ca`, with `extra` options.
fn curl(addr: SocketAddr, path: &str, ca: &Path, extra: &[&str]) -> Out {
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let url = format!("https://localhost:{}{path}", addr.port());
    let ca = ca.to_string_lossy().into_owned();
    let mut args = vec![
        "-sS",
        "--http1.1",
        "--max-time",
        "5",
        "--cacert",
        ca.as_str(),
        "--resolve",
        resolve.as_str(),
    ];
    args.extend_from_slice(extra);
    args.push(url.as_str());
    run("curl", &args, b"")
}

/// The body of a successful curl run, trimmed; panics with curl's error otherwise.
fn curl_ok(addr: SocketAddr, path: &str, ca: &Path, extra: &[&str]) -> String {
    let o = curl(addr, path, ca, extra);
    assert_eq!(o.code, 0, "curl {path} {extra:?} failed: {}", o.all());
    o.stdout.trim().to_string()
}

/// A response printed by `curl -i`.
struct CurlResp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl CurlResp {
    fn parse(raw: &str) -> CurlResp {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        CurlResp {
            status,
            headers,
            body: body.trim().to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

impl Pki {
    /// A server certificate for `CN=cn` and these DNS names.
    fn server(&self, name: &str, cn: &str, dns: &[&str], key: Key, ca: Option<&str>) {
        let mut ext = SERVER_EXT.to_string();
        if !dns.is_empty() {
            let sans: Vec<String> = dns.iter().map(|d| format!("DNS:{d}")).collect();
            ext.push_str(&format!("subjectAltName={}\n", sans.join(",")));
        }
        self.cert(name, &format!("/CN={cn}"), key, ca, "2", &ext);
    }

    /// A rustls client configuration trusting `ca.crt`.
    fn client_config(&self, alpn: &[&str]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(self.path("ca.crt")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(cfg)
    }
}

// ---------------------------------------------------------------------------
// Configurations and small clients
// ---------------------------------------------------------------------------

/// Starts the binary on `cfg`, waiting until it listens on `addrs`.
fn start(cfg: &str, addrs: &[SocketAddr]) -> Halo {
    Halo::builder(cfg).wait_for(addrs).start()
}

/// An HTTP frontend with these bind lines answering every request with `fmt` (a log
/// format) and a new line, after an optional `global` section body.
fn http_cfg(global: &str, binds: &[String], fmt: &str) -> String {
    let global = if global.is_empty() {
        String::new()
    } else {
        format!("global\n{global}\n")
    };
    format!(
        "{global}defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend fe
{}
    http-request return status 200 content-type text/plain lf-string \"{fmt}\\n\"
",
        binds.join("\n")
    )
}

/// `    bind ADDR OPTIONS`.
fn bind(addr: SocketAddr, opts: &str) -> String {
    format!("    bind {} {opts}", haproxy_addr(addr))
}

/// Connects to `addr` (5 s timeouts).
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A completed rustls handshake (for `localhost`) over `stream`.
fn tls_handshake(stream: TcpStream, cfg: Arc<rustls::ClientConfig>) -> Result<TlsStream, String> {
    let conn = rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap())
        .map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, stream);
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .map_err(|e| format!("handshake: {e}"))?;
    }
    Ok(s)
}

/// Sends `req` on a TLS stream and reads until the server closes (a close without
/// close_notify counts as the end too).
fn tls_request(s: &mut TlsStream, req: &[u8]) -> Result<String, String> {
    s.write_all(req).map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read after {} bytes: {e}", out.len())),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A TLS session over `stream`: handshake, `req`, and the answer until the server closes.
fn tls_exchange(
    stream: TcpStream,
    cfg: Arc<rustls::ClientConfig>,
    req: &[u8],
) -> Result<String, String> {
    let mut s = tls_handshake(stream, cfg)?;
    tls_request(&mut s, req)
}

/// Pseudo-random bytes (xorshift), different for every seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// How long until the server closes a connection on which nothing (more) is sent;
/// None if it is still open after `limit`.
fn time_to_close(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(t0.elapsed()),
        }
        if t0.elapsed() > limit {
            return None;
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Seed 15
// ---------------------------------------------------------------------------

/// A PHP-like application server: a request without a PHPSESSID (cookie or `;PHPSESSID=`
/// path parameter) gets `Set-Cookie: PHPSESSID=sid-<name>`; every answer names the server;
/// the request heads are recorded.
struct PhpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl PhpServer {
    fn start(name: &'static str) -> PhpServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (st, hd) = (stop.clone(), heads.clone());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        let hd = hd.clone();
                        thread::spawn(move || serve_php(s, name, &hd));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        PhpServer { addr, stop, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for PhpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_php(s: TcpStream, name: &str, heads: &Mutex<Vec<String>>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    loop {
        let mut head = String::new();
        let mut session = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let low = line.to_ascii_lowercase();
            if (head.is_empty() && low.contains(";phpsessid="))
                || low.starts_with("cookie: phpsessid=")
            {
                session = true;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        heads.lock().unwrap().push(head);
        let set = if session {
            String::new()
        } else {
            format!("Set-Cookie: PHPSESSID=sid-{name}; path=/\r\n")
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\n{set}X-Server: {name}\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn seed15_redirects_plain_http_and_serves_both_applications_over_tls() {
    if skip_on_reference("HAProxy 2.6 rejects 'appsession'") {
        return;
    }
    let pki = Pki::site();
    let (w1, w2) = (
        HttpBackend::start("websrv1", Duration::ZERO),
        HttpBackend::start("websrv2", Duration::ZERO),
    );
    let (s3, s4) = (
        PhpServer::start("webserver3"),
        PhpServer::start("webserver4"),
    );
    let (fe, fe_tls) = (free_addr(), free_addr());
    let _h = Halo::start(
        &seed_text("15-acl-apps-appsession-tls.cfg"),
        &[
            ("FE", haproxy_addr(fe)),
            ("FE_TLS", haproxy_addr(fe_tls)),
            ("S1", w1.cfg_addr()),
            ("S2", w2.cfg_addr()),
            ("S3", haproxy_addr(s3.addr)),
            ("S4", haproxy_addr(s4.addr)),
            ("DIR", pki.dir().to_string_lossy().into_owned()),
        ],
    );
    // Plain HTTP is sent to HTTPS, path and query kept, whichever application it names.
    for path in ["/x?y=1", "/fun/a", "/"] {
        let r = Client::connect(fe).get(path, "");
        assert_eq!(r.status, 301, "plain {path}");
        assert_eq!(
            r.header("location"),
            Some(format!("https://test{path}").as_str()),
            "plain {path}"
        );
    }
    assert!(
        w1.seen().is_empty() && w2.seen().is_empty(),
        "a redirected request reached a server"
    );
    assert!(s3.heads().is_empty() && s4.heads().is_empty());

    let ca = pki.path("ca.crt");
    // Over TLS, `/` is balanced over the site's two servers...
    let mut site = Vec::new();
    for _ in 0..4 {
        let body = curl_ok(fe_tls, "/", &ca, &[]);
        assert!(body.ends_with(" / 0"), "answer {body:?}");
        site.push(body.split_whitespace().next().unwrap().to_string());
    }
    site.sort();
    assert_eq!(site, ["websrv1", "websrv1", "websrv2", "websrv2"]);
    // ... which were told the client came by HTTPS on the TLS port.
    let port = fe_tls.port().to_string();
    for seen in w1.seen().into_iter().chain(w2.seen()) {
        let proto: Vec<_> = seen
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-proto"))
            .collect();
        assert_eq!(proto.len(), 1, "{:?}", seen.headers);
        assert_eq!(proto[0].1, "https");
        assert_eq!(seen.header("x-forwarded-port"), Some(port.as_str()));
    }
    // `/fun…` goes to the films application, balanced too while no session exists.
    let mut films = Vec::new();
    let mut owner_cookie = None;
    for path in ["/fun/login", "/fun/other"] {
        let r = CurlResp::parse(&curl_ok(fe_tls, path, &ca, &["-i"]));
        assert_eq!(r.status, 200, "{path}");
        let server = r.header("x-server").unwrap_or("").to_string();
        assert_eq!(r.body, server);
        assert_eq!(
            r.header("set-cookie"),
            Some(format!("PHPSESSID=sid-{server}; path=/").as_str())
        );
        if owner_cookie.is_none() {
            owner_cookie = Some(server.clone());
        }
        films.push(server);
    }
    films.sort();
    assert_eq!(films, ["webserver3", "webserver4"]);
    // appsession keeps a session on its server over TLS.
    let owner = owner_cookie.unwrap();
    let cookie = format!("Cookie: PHPSESSID=sid-{owner}");
    for i in 0..4 {
        let body = curl_ok(fe_tls, &format!("/fun/page{i}"), &ca, &["-H", &cookie]);
        assert_eq!(body, owner, "request {i} with the session of {owner}");
    }
    for head in s3.heads().into_iter().chain(s4.heads()) {
        let low = head.to_ascii_lowercase();
        assert!(low.contains("\r\nx-forwarded-proto: https\r\n"), "{head}");
        assert!(
            low.contains(&format!("\r\nx-forwarded-port: {port}\r\n")),
            "{head}"
        );
    }
    assert_eq!(s3.heads().len() + s4.heads().len(), 6);
}

// ---------------------------------------------------------------------------
// 2. SNI
// ---------------------------------------------------------------------------

/// `default.pem` (RSA, CN default.test, no SAN) and `ecdsa.pem` (ECDSA, CN ecdsa.test,
/// SAN www.example.com and *.example.org), self-signed; `api.pem` (CN api.test).
fn sni_pki() -> Pki {
    let pki = Pki::new();
    pki.server("default", "default.test", &[], Key::Rsa, None);
    pki.server(
        "ecdsa",
        "ecdsa.test",
        &["www.example.com", "*.example.org"],
        Key::Ec,
        None,
    );
    pki.server("api", "api.test", &[], Key::Ec, None);
    pki
}

const DEFAULT_CN: &str = "subject=CN = default.test";
const ECDSA_CN: &str = "subject=CN = ecdsa.test";
const API_CN: &str = "subject=CN = api.test";

#[test]
fn sni_picks_the_certificate_by_name_wildcard_or_default_and_strict_sni_refuses_others() {
    let pki = sni_pki();
    let certs = pki.path("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(pki.path("default.pem"), certs.join("1-default.pem")).unwrap();
    std::fs::copy(pki.path("ecdsa.pem"), certs.join("2-ecdsa.pem")).unwrap();
    let (plain, strict, dir, based) = (free_addr(), free_addr(), free_addr(), free_addr());
    let two = format!("crt {} crt {}", pki.p("default.pem"), pki.p("ecdsa.pem"));
    let cfg = http_cfg(
        &format!("    crt-base {}", pki.dir().display()),
        &[
            bind(plain, &format!("ssl {two}")),
            bind(strict, &format!("ssl strict-sni {two}")),
            bind(dir, &format!("ssl crt {}", certs.display())),
            bind(based, "ssl crt ecdsa.pem crt default.pem"),
        ],
        "sni=%[ssl_fc_sni] has_sni=%[ssl_fc_has_sni] ssl=%[ssl_fc] f_dn=%[ssl_f_s_dn]",
    );
    let _h = start(&cfg, &[plain, strict, dir, based]);

    let cases: &[(Option<&str>, &str)] = &[
        (Some("default.test"), DEFAULT_CN),
        (Some("www.example.com"), ECDSA_CN),
        (Some("WWW.Example.COM"), ECDSA_CN),
        (Some("ecdsa.test"), ECDSA_CN),
        (Some("a.example.org"), ECDSA_CN),
        // A wildcard covers one label only.
        (Some("a.b.example.org"), DEFAULT_CN),
        (Some("example.org"), DEFAULT_CN),
        (Some("unknown.test"), DEFAULT_CN),
        (None, DEFAULT_CN),
    ];
    for (sni, want) in cases {
        assert_eq!(
            served_subject(plain, *sni, &[]).as_deref(),
            Some(*want),
            "SNI {sni:?}"
        );
    }
    // What the fetches see.
    let o = s_client(plain, &["-servername", "a.example.org", "-ign_eof"], REQ);
    assert_eq!(
        o.line("sni=").as_deref(),
        Some("sni=a.example.org has_sni=1 ssl=1 f_dn=/CN=ecdsa.test"),
        "{}",
        o.all()
    );
    let o = s_client(plain, &["-noservername", "-ign_eof"], REQ);
    assert_eq!(
        o.line("sni=").as_deref(),
        Some("sni= has_sni=0 ssl=1 f_dn=/CN=default.test"),
        "{}",
        o.all()
    );

    // strict-sni: a name no certificate has (or none) gets no handshake.
    for (sni, want) in cases {
        let got = served_subject(strict, *sni, &[]);
        if *want == DEFAULT_CN && *sni != Some("default.test") {
            assert_eq!(got, None, "strict-sni, SNI {sni:?}");
        } else {
            assert_eq!(got.as_deref(), Some(*want), "strict-sni, SNI {sni:?}");
        }
    }

    // A folder loads every file in name order: the first one is the default.
    assert_eq!(served_subject(dir, None, &[]).as_deref(), Some(DEFAULT_CN));
    assert_eq!(
        served_subject(dir, Some("nothing.test"), &[]).as_deref(),
        Some(DEFAULT_CN)
    );
    assert_eq!(
        served_subject(dir, Some("x.example.org"), &[]).as_deref(),
        Some(ECDSA_CN)
    );
    // Relative paths start at crt-base; the first certificate of the line is the default.
    assert_eq!(served_subject(based, None, &[]).as_deref(), Some(ECDSA_CN));
    assert_eq!(
        served_subject(based, Some("default.test"), &[]).as_deref(),
        Some(DEFAULT_CN)
    );
}

/// `ssl_fc_sni` is the name as the client sent it: HAProxy neither lowercases it nor
/// drops a trailing dot or an IP address. Certificate selection ignores case, but a name
/// with a trailing dot matches no certificate name (the default is served).
#[test]
fn ssl_fc_sni_is_the_name_as_sent() {
    let pki = sni_pki();
    let fe = free_addr();
    let cfg = http_cfg(
        "",
        &[bind(
            fe,
            &format!(
                "ssl crt {} crt {}",
                pki.p("default.pem"),
                pki.p("ecdsa.pem")
            ),
        )],
        "sni=%[ssl_fc_sni] has_sni=%[ssl_fc_has_sni] f_dn=%[ssl_f_s_dn]",
    );
    let _h = start(&cfg, &[fe]);
    for (sent, cert) in [
        ("WWW.Example.COM", "ecdsa.test"),
        ("www.example.com.", "default.test"),
        ("127.0.0.1", "default.test"),
    ] {
        let o = s_client(fe, &["-servername", sent, "-ign_eof"], REQ);
        assert_eq!(
            o.line("sni="),
            Some(format!("sni={sent} has_sni=1 f_dn=/CN={cert}")),
            "{}",
            o.all()
        );
    }
}

// ---------------------------------------------------------------------------
// 3. crt-list
// ---------------------------------------------------------------------------

#[test]
fn crt_list_filters_replace_names_exclude_and_carry_their_own_options() {
    let pki = sni_pki();
    let list = pki.path("list.txt");
    std::fs::write(
        &list,
        format!(
            "# comment\n{}\n\n{} [ssl-min-ver TLSv1.3] api.test\n{} *.example.org !secret.example.org\n",
            pki.p("default.pem"),
            pki.p("api.pem"),
            pki.p("ecdsa.pem")
        ),
    )
    .unwrap();
    // A `*` filter on a later line does not displace the first certificate as the default
    // (HAProxy 2.6 keeps the first one too).
    let list2 = pki.path("list2.txt");
    std::fs::write(
        &list2,
        format!(
            "{} api.test\n{} *\n",
            pki.p("api.pem"),
            pki.p("default.pem")
        ),
    )
    .unwrap();
    let (a, b) = (free_addr(), free_addr());
    let cfg = http_cfg(
        "",
        &[
            bind(a, &format!("ssl crt-list {}", list.display())),
            bind(b, &format!("ssl crt-list {}", list2.display())),
        ],
        "sni=%[ssl_fc_sni] proto=%[ssl_fc_protocol]",
    );
    let _h = start(&cfg, &[a, b]);
    let cases: &[(Option<&str>, &str)] = &[
        (Some("default.test"), DEFAULT_CN),
        (Some("a.example.org"), ECDSA_CN),
        // The filters replace the certificate's own names (its CN and SANs)...
        (Some("www.example.com"), DEFAULT_CN),
        (Some("ecdsa.test"), DEFAULT_CN),
        // ... and `!name` takes a name out of the wildcard.
        (Some("secret.example.org"), DEFAULT_CN),
        (Some("api.test"), API_CN),
        (Some("unknown.test"), DEFAULT_CN),
        (None, DEFAULT_CN),
    ];
    for (sni, want) in cases {
        assert_eq!(
            served_subject(a, *sni, &[]).as_deref(),
            Some(*want),
            "SNI {sni:?}"
        );
    }
    // The line's [ssl-min-ver TLSv1.3] applies to api.test only.
    assert_eq!(
        served_subject(a, Some("api.test"), &["-tls1_3"]).as_deref(),
        Some(API_CN)
    );
    let o = s_client(a, &["-servername", "api.test", "-tls1_2"], b"");
    assert!(
        o.code != 0 && o.subject().is_none(),
        "a TLSv1.2 client got a handshake for api.test: {}",
        o.all()
    );
    assert!(o.all().contains("alert protocol version"), "{}", o.all());
    assert_eq!(
        served_subject(a, Some("default.test"), &["-tls1_2"]).as_deref(),
        Some(DEFAULT_CN)
    );
    let o = s_client(a, &["-servername", "api.test", "-tls1_3", "-ign_eof"], REQ);
    assert_eq!(
        o.line("sni=").as_deref(),
        Some("sni=api.test proto=TLSv1.3"),
        "{}",
        o.all()
    );

    for sni in [
        Some("api.test"),
        Some("other.test"),
        Some("www.example.com"),
        None,
    ] {
        assert_eq!(
            served_subject(b, sni, &[]).as_deref(),
            Some(API_CN),
            "second list, SNI {sni:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Versions, ciphers, curves, ALPN
// ---------------------------------------------------------------------------

#[test]
fn versions_ciphers_and_curves_follow_the_bind_options() {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    // A certificate file without its key: the key is read from `FILE.key`.
    std::fs::copy(pki.path("site.crt"), pki.path("split.crt")).unwrap();
    std::fs::copy(pki.path("site.key"), pki.path("split.crt.key")).unwrap();
    let split = pki.p("split.crt");
    let [
        dflt,
        min13,
        max12,
        ciph,
        suites,
        no13,
        force12,
        curves,
        keyed,
    ] = [(); 9].map(|_| free_addr());
    let cfg = http_cfg(
        "    ssl-default-bind-ciphers ECDHE-RSA-CHACHA20-POLY1305",
        &[
            bind(dflt, &format!("ssl crt {site}")),
            bind(min13, &format!("ssl crt {site} ssl-min-ver TLSv1.3")),
            bind(max12, &format!("ssl crt {site} ssl-max-ver TLSv1.2")),
            bind(
                ciph,
                &format!("ssl crt {site} ciphers ECDHE-RSA-AES128-GCM-SHA256"),
            ),
            bind(
                suites,
                &format!("ssl crt {site} ciphersuites TLS_CHACHA20_POLY1305_SHA256"),
            ),
            bind(no13, &format!("ssl crt {site} no-tlsv13")),
            bind(force12, &format!("ssl crt {site} force-tlsv12")),
            bind(curves, &format!("ssl crt {site} curves secp384r1")),
            bind(keyed, &format!("ssl crt {split}")),
        ],
        "proto=%[ssl_fc_protocol] cipher=%[ssl_fc_cipher] bits=%[ssl_fc_use_keysize]",
    );
    let _h = start(
        &cfg,
        &[
            dflt, min13, max12, ciph, suites, no13, force12, curves, keyed,
        ],
    );
    let ca = pki.path("ca.crt");
    let fetch = |addr, extra: &[&str]| curl_ok(addr, "/", &ca, extra);
    let refused = |addr, extra: &[&str]| {
        let o = curl(addr, "/", &ca, extra);
        assert!(
            o.code != 0 && !o.stdout.contains("proto="),
            "{extra:?} was served: {}",
            o.all()
        );
    };

    // By default TLS 1.2 (with ssl-default-bind-ciphers) and 1.3 are both accepted.
    assert_eq!(
        fetch(dflt, &["--tls-max", "1.2"]),
        "proto=TLSv1.2 cipher=ECDHE-RSA-CHACHA20-POLY1305 bits=256"
    );
    assert!(fetch(dflt, &["--tlsv1.3"]).starts_with("proto=TLSv1.3 cipher=TLS_"));
    // ssl-min-ver TLSv1.3 refuses a TLS 1.2 client.
    refused(min13, &["--tls-max", "1.2"]);
    assert!(fetch(min13, &["--tlsv1.3"]).starts_with("proto=TLSv1.3 "));
    // ssl-max-ver TLSv1.2 talks TLS 1.2 to a client that could do 1.3, and refuses 1.3 only.
    assert!(fetch(max12, &["--tlsv1.2"]).starts_with("proto=TLSv1.2 "));
    refused(max12, &["--tlsv1.3"]);
    assert!(fetch(no13, &[]).starts_with("proto=TLSv1.2 "));
    refused(no13, &["--tlsv1.3"]);
    assert!(fetch(force12, &[]).starts_with("proto=TLSv1.2 "));
    refused(force12, &["--tlsv1.3"]);
    // `ciphers` (TLS 1.2) overrides ssl-default-bind-ciphers; `ciphersuites` is for 1.3.
    assert_eq!(
        fetch(ciph, &["--tls-max", "1.2"]),
        "proto=TLSv1.2 cipher=ECDHE-RSA-AES128-GCM-SHA256 bits=128"
    );
    refused(
        ciph,
        &[
            "--tls-max",
            "1.2",
            "--ciphers",
            "ECDHE-RSA-AES256-GCM-SHA384",
        ],
    );
    assert_eq!(
        fetch(suites, &["--tlsv1.3"]),
        "proto=TLSv1.3 cipher=TLS_CHACHA20_POLY1305_SHA256 bits=256"
    );
    refused(
        suites,
        &["--tlsv1.3", "--tls13-ciphers", "TLS_AES_128_GCM_SHA256"],
    );
    // `curves` limits the key exchange groups.
    for v in ["-tls1_2", "-tls1_3"] {
        let o = s_client(curves, &[v], b"");
        assert!(
            o.all()
                .contains("Server Temp Key: ECDH, secp384r1, 384 bits"),
            "{v}: {}",
            o.all()
        );
    }
    let o = s_client(curves, &["-curves", "prime256v1"], b"");
    assert!(o.code != 0 && o.subject().is_none(), "{}", o.all());
    assert!(fetch(keyed, &["--tlsv1.3"]).starts_with("proto=TLSv1.3 "));
}

#[test]
fn global_ssl_default_bind_settings_apply_unless_the_bind_line_says_otherwise() {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let (plain, own) = (free_addr(), free_addr());
    let cfg = http_cfg(
        "    ssl-default-bind-options ssl-min-ver TLSv1.3\n    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256",
        &[
            bind(plain, &format!("ssl crt {site}")),
            bind(own, &format!("ssl crt {site} ssl-min-ver TLSv1.2")),
        ],
        "proto=%[ssl_fc_protocol] cipher=%[ssl_fc_cipher] bits=%[ssl_fc_use_keysize]",
    );
    let _h = start(&cfg, &[plain, own]);
    let ca = pki.path("ca.crt");
    assert_eq!(
        curl_ok(plain, "/", &ca, &[]),
        "proto=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 bits=128"
    );
    let o = curl(plain, "/", &ca, &["--tls-max", "1.2"]);
    assert!(o.code != 0 && o.stdout.is_empty(), "{}", o.all());
    assert_eq!(
        curl_ok(own, "/", &ca, &[]),
        "proto=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 bits=128"
    );
    assert!(curl_ok(own, "/", &ca, &["--tls-max", "1.2"]).starts_with("proto=TLSv1.2 "));
}

#[test]
fn alpn_is_negotiated_from_the_bind_list_or_left_out() {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let echo = TcpBackend::echo_named("echo");
    let (http, tcp) = (free_addr(), free_addr());
    let cfg = format!(
        "defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend web
    mode http
    bind {} ssl crt {site} alpn h2,http/1.1
    http-request return status 200 content-type text/plain lf-string \"alpn=%[ssl_fc_alpn] proto=%[ssl_fc_protocol]\\n\"

frontend raw
    mode tcp
    bind {} ssl crt {site} alpn h2,http/1.1
    default_backend echo

backend echo
    mode tcp
    server e {}
",
        haproxy_addr(http),
        haproxy_addr(tcp),
        echo.cfg_addr()
    );
    let _h = start(&cfg, &[http, tcp]);
    let alpn_line = |o: &Out| {
        o.stdout
            .lines()
            .find(|l| l.starts_with("ALPN protocol:") || l.starts_with("No ALPN negotiated"))
            .map(str::to_string)
    };
    // An HTTP/1.1 client gets http/1.1.
    assert_eq!(
        curl_ok(http, "/", &pki.path("ca.crt"), &[]),
        "alpn=http/1.1 proto=TLSv1.3"
    );
    // A client offering only protocols the bind does not have still gets its handshake,
    // without ALPN (as OpenSSL does), in both modes.
    let o = s_client(http, &["-alpn", "foo", "-ign_eof"], REQ);
    assert_eq!(
        alpn_line(&o).as_deref(),
        Some("No ALPN negotiated"),
        "{}",
        o.all()
    );
    assert_eq!(o.line("alpn=").as_deref(), Some("alpn= proto=TLSv1.3"));
    let o = s_client(tcp, &["-alpn", "foo"], b"");
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(
        alpn_line(&o).as_deref(),
        Some("No ALPN negotiated"),
        "{}",
        o.all()
    );
    // In TCP mode h2 is whatever the backend speaks: it is offered.
    let o = s_client(tcp, &["-alpn", "h2,http/1.1", "-ign_eof"], b"HELLO\n");
    assert_eq!(
        alpn_line(&o).as_deref(),
        Some("ALPN protocol: h2"),
        "{}",
        o.all()
    );
    assert!(o.stdout.contains("\necho\n"), "{}", o.all());
}

#[test]
fn alpn_h2_is_not_offered_by_an_http_frontend_without_http2() {
    if skip_on_reference("HAProxy 2.6 speaks HTTP/2 and picks h2; it has no 'no-alpn'") {
        return;
    }
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let (listed, dflt, none) = (free_addr(), free_addr(), free_addr());
    let cfg = http_cfg(
        "",
        &[
            bind(listed, &format!("ssl crt {site} alpn h2,http/1.1")),
            bind(dflt, &format!("ssl crt {site}")),
            bind(none, &format!("ssl crt {site} no-alpn")),
        ],
        "alpn=%[ssl_fc_alpn]",
    );
    let _h = start(&cfg, &[listed, dflt, none]);
    for (addr, want) in [
        (listed, "ALPN protocol: http/1.1"),
        (dflt, "ALPN protocol: http/1.1"),
        (none, "No ALPN negotiated"),
    ] {
        let o = s_client(addr, &["-alpn", "h2,http/1.1", "-ign_eof"], REQ);
        assert!(
            o.stdout.contains(&format!("\n{want}\n")),
            "{want}: {}",
            o.all()
        );
        let fetched = want.strip_prefix("ALPN protocol: ").unwrap_or("");
        assert_eq!(o.line("alpn="), Some(format!("alpn={fetched}")));
    }
    // A client offering h2 only: no common protocol, the handshake goes on without ALPN.
    let o = s_client(listed, &["-alpn", "h2", "-ign_eof"], REQ);
    assert!(o.stdout.contains("\nNo ALPN negotiated\n"), "{}", o.all());
    assert_eq!(o.line("alpn=").as_deref(), Some("alpn="));
}

// ---------------------------------------------------------------------------
// 5. Client certificates
// ---------------------------------------------------------------------------

/// Client CA `cca`, `alice` and `bob` signed by it, `mallory` self-signed, and a CRL of the
/// CA revoking alice (`crl.pem`).
fn client_pki() -> Pki {
    let pki = Pki::site();
    pki.cert(
        "cca",
        "/C=FR/O=Client CA/CN=Client Root",
        Key::Ec,
        None,
        "1",
        CA_EXT,
    );
    pki.cert(
        "alice",
        "/C=FR/O=Client Org/CN=alice",
        Key::Ec,
        Some("cca"),
        "0x1A2B",
        CLIENT_EXT,
    );
    pki.cert(
        "bob",
        "/C=FR/O=Client Org/CN=bob",
        Key::Ec,
        Some("cca"),
        "0x1A2C",
        CLIENT_EXT,
    );
    pki.cert(
        "mallory",
        "/C=FR/O=Client Org/CN=mallory",
        Key::Ec,
        None,
        "0x1A2D",
        CLIENT_EXT,
    );
    // A CRL made with `openssl ca`, which wants its small database.
    std::fs::write(pki.path("index.txt"), "").unwrap();
    std::fs::write(pki.path("crlnumber"), "01\n").unwrap();
    std::fs::write(
        pki.path("ca.cnf"),
        format!(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 30\n",
            pki.p("index.txt"),
            pki.p("crlnumber")
        ),
    )
    .unwrap();
    let (cnf, key, crt) = (pki.p("ca.cnf"), pki.p("cca.key"), pki.p("cca.crt"));
    let alice = pki.p("alice.crt");
    let crl = pki.p("crl.pem");
    pki.openssl(&[
        "ca", "-config", &cnf, "-keyfile", &key, "-cert", &crt, "-revoke", &alice,
    ]);
    pki.openssl(&[
        "ca", "-config", &cnf, "-keyfile", &key, "-cert", &crt, "-gencrl", "-out", &crl,
    ]);
    pki
}

/// `notBefore`/`notAfter` of a certificate as the fetches print them (`YYMMDDhhmmssZ`).
fn cert_date(pki: &Pki, crt: &str, which: &str) -> String {
    let o = run(
        "openssl",
        &[
            "x509",
            "-noout",
            which,
            "-dateopt",
            "iso_8601",
            "-in",
            &pki.p(crt),
        ],
        b"",
    );
    let digits: String = o.stdout.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 14, "{}", o.all());
    format!("{}Z", &digits[2..])
}

/// The SHA-1 fingerprint of a certificate in upper-case hex.
fn cert_sha1(pki: &Pki, crt: &str) -> String {
    let o = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha1",
            "-in",
            &pki.p(crt),
        ],
        b"",
    );
    let hex = o
        .stdout
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .replace(':', "");
    assert_eq!(hex.len(), 40, "{}", o.all());
    hex.to_ascii_uppercase()
}

/// The DER of a certificate in upper-case hex.
fn cert_der_hex(pki: &Pki, crt: &str) -> String {
    let der = pki.p(&format!("{crt}.der"));
    pki.openssl(&["x509", "-in", &pki.p(crt), "-outform", "der", "-out", &der]);
    std::fs::read(&der)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[test]
fn client_certificates_are_verified_and_described_by_the_fetches() {
    let pki = client_pki();
    let (required, optional, crl, listed) = (free_addr(), free_addr(), free_addr(), free_addr());
    // A crt-list line asking for a client certificate for one name only.
    std::fs::write(
        pki.path("list.txt"),
        format!(
            "{site}\n{site} [ca-file {ca} verify required] secure.test\n",
            site = pki.p("site.pem"),
            ca = pki.p("cca.crt")
        ),
    )
    .unwrap();
    let cfg = http_cfg(
        &format!(
            "    crt-base {dir}\n    ca-base {dir}",
            dir = pki.dir().display()
        ),
        &[
            bind(required, "ssl crt site.pem ca-file cca.crt verify required"),
            bind(optional, "ssl crt site.pem ca-file cca.crt verify optional"),
            bind(
                crl,
                "ssl crt site.pem ca-file cca.crt verify required crl-file crl.pem",
            ),
            bind(listed, &format!("ssl crt-list {}", pki.p("list.txt"))),
        ],
        "used=%[ssl_c_used] verify=%[ssl_c_verify] has_crt=%[ssl_fc_has_crt] s_dn=%[ssl_c_s_dn] cn=%[ssl_c_s_dn(CN)] i_dn=%[ssl_c_i_dn] rfc=%[ssl_c_s_dn(,0,rfc2253)] serial=%[ssl_c_serial,hex] ver=%[ssl_c_version] sig=%[ssl_c_sig_alg] key=%[ssl_c_key_alg] nb=%[ssl_c_notbefore] na=%[ssl_c_notafter] sha1=%[ssl_c_sha1,hex] f_dn=%[ssl_f_s_dn] f_key=%[ssl_f_key_alg] der=%[ssl_c_der,hex]",
    );
    let _h = start(&cfg, &[required, optional, crl, listed]);
    let ca = pki.path("ca.crt");
    let with = |who: &'static str| -> [String; 4] {
        [
            "--cert".into(),
            pki.p(&format!("{who}.crt")),
            "--key".into(),
            pki.p(&format!("{who}.key")),
        ]
    };
    let get = |addr, who: Option<&'static str>, extra: &[&str]| -> Out {
        let mut args: Vec<String> = who.map(|w| with(w).to_vec()).unwrap_or_default();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(addr, "/", &ca, &args)
    };
    let alice_line = format!(
        "used=1 verify=0 has_crt=1 s_dn=/C=FR/O=Client Org/CN=alice cn=alice i_dn=/C=FR/O=Client CA/CN=Client Root rfc=CN=alice,O=Client Org,C=FR serial=1A2B ver=3 sig=ecdsa-with-SHA256 key=id-ecPublicKey nb={} na={} sha1={} f_dn=/CN=localhost f_key=rsaEncryption der={}",
        cert_date(&pki, "alice.crt", "-startdate"),
        cert_date(&pki, "alice.crt", "-enddate"),
        cert_sha1(&pki, "alice.crt"),
        cert_der_hex(&pki, "alice.crt"),
    );
    let refused = |o: &Out, what: &str| {
        assert!(
            o.code != 0 && !o.stdout.contains("used="),
            "{what} was served: {}",
            o.all()
        );
    };

    // verify required: no certificate, or one the CA did not sign, gets nothing.
    for extra in [&["--tlsv1.3"][..], &["--tls-max", "1.2"][..]] {
        refused(
            &get(required, None, extra),
            &format!("no certificate {extra:?}"),
        );
        refused(&get(required, Some("mallory"), extra), "mallory");
        let o = get(required, Some("alice"), extra);
        assert_eq!(o.code, 0, "alice {extra:?}: {}", o.all());
        assert_eq!(o.stdout.trim(), alice_line, "{extra:?}");
    }
    // verify optional: no certificate is fine, a bad one is still refused.
    let o = get(optional, None, &[]);
    assert_eq!(
        o.stdout.trim(),
        "used=0 verify=0 has_crt=0 s_dn= cn= i_dn= rfc= serial= ver= sig= key= nb= na= sha1= f_dn=/CN=localhost f_key=rsaEncryption der=",
        "{}",
        o.all()
    );
    refused(&get(optional, Some("mallory"), &[]), "mallory (optional)");
    assert_eq!(get(optional, Some("alice"), &[]).stdout.trim(), alice_line);
    // crl-file: alice is revoked, bob is not.
    let o = get(crl, Some("alice"), &[]);
    refused(&o, "revoked alice");
    assert!(o.stderr.contains("certificate revoked"), "{}", o.all());
    let o = get(crl, Some("bob"), &[]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert!(
        o.stdout
            .starts_with("used=1 verify=0 has_crt=1 s_dn=/C=FR/O=Client Org/CN=bob cn=bob "),
        "{}",
        o.all()
    );
    // crt-list: secure.test wants a certificate, other names do not.
    let (alice_crt, alice_key) = (pki.p("alice.crt"), pki.p("alice.key"));
    let o = s_client(listed, &["-servername", "secure.test", "-ign_eof"], REQ);
    assert_eq!(
        o.line("used="),
        None,
        "served without a certificate: {}",
        o.all()
    );
    let o = s_client(
        listed,
        &[
            "-servername",
            "secure.test",
            "-cert",
            &alice_crt,
            "-key",
            &alice_key,
            "-ign_eof",
        ],
        REQ,
    );
    assert!(
        o.line("used=").unwrap_or_default().contains(" cn=alice "),
        "{}",
        o.all()
    );
    let o = s_client(listed, &["-servername", "other.test", "-ign_eof"], REQ);
    assert!(
        o.line("used=").unwrap_or_default().starts_with("used=0 "),
        "{}",
        o.all()
    );
}

/// Resumed sessions keep their client certificate (ssl_c_*), in TLS 1.2 and 1.3.
#[test]
fn a_resumed_session_keeps_its_client_certificate() {
    let pki = client_pki();
    let fe = free_addr();
    let cfg = http_cfg(
        "",
        &[bind(
            fe,
            &format!(
                "ssl crt {} ca-file {} verify optional",
                pki.p("site.pem"),
                pki.p("cca.crt")
            ),
        )],
        "resumed=%[ssl_fc_is_resumed] proto=%[ssl_fc_protocol] used=%[ssl_c_used] cn=%[ssl_c_s_dn(CN)]",
    );
    let _h = start(&cfg, &[fe]);
    let (crt, key) = (pki.p("alice.crt"), pki.p("alice.key"));
    for (v, proto) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let r = resume(fe, &pki, &[v, "-cert", &crt, "-key", &key], v);
        assert!(r[1].0.starts_with("Reused, "), "{v}: {r:?}");
        assert_eq!(r[0].1, format!("resumed=0 proto={proto} used=1 cn=alice"));
        assert_eq!(r[1].1, format!("resumed=1 proto={proto} used=1 cn=alice"));
    }
}

/// `ssl_fc_has_crt` says whether a certificate came in this handshake: not on resumption
/// (HAProxy's documentation: "on SSL session resumption with Session ID or TLS ticket,
/// client certificate is not present in the current connection"; prefer ssl_c_used).
#[test]
fn ssl_fc_has_crt_is_false_on_a_resumed_session() {
    let pki = client_pki();
    let fe = free_addr();
    let cfg = http_cfg(
        "",
        &[bind(
            fe,
            &format!(
                "ssl crt {} ca-file {} verify optional",
                pki.p("site.pem"),
                pki.p("cca.crt")
            ),
        )],
        "resumed=%[ssl_fc_is_resumed] has_crt=%[ssl_fc_has_crt] used=%[ssl_c_used]",
    );
    let _h = start(&cfg, &[fe]);
    let (crt, key) = (pki.p("alice.crt"), pki.p("alice.key"));
    for v in ["-tls1_2", "-tls1_3"] {
        let r = resume(fe, &pki, &[v, "-cert", &crt, "-key", &key], v);
        assert_eq!(r[0].1, "resumed=0 has_crt=1 used=1", "{v}");
        assert_eq!(r[1].1, "resumed=1 has_crt=0 used=1", "{v}");
    }
}

// ---------------------------------------------------------------------------
// 6. Resumption
// ---------------------------------------------------------------------------

/// Two connections with `s_client VERSION`, the second resuming the first one's session:
/// ("New"/"Reused" line, fetch line) of each.
fn resume(addr: SocketAddr, pki: &Pki, opts: &[&str], tag: &str) -> [(String, String); 2] {
    let sess = pki.p(&format!("{tag}.sess"));
    let mut out = Vec::new();
    for flag in ["-sess_out", "-sess_in"] {
        let mut args = opts.to_vec();
        args.extend([flag, sess.as_str(), "-ign_eof"]);
        let o = s_client(addr, &args, REQ);
        let hs = o
            .stdout
            .lines()
            .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
            .unwrap_or("")
            .to_string();
        let fetched = o.line("resumed=").unwrap_or_default();
        assert!(!fetched.is_empty(), "{tag} {flag}: no answer: {}", o.all());
        out.push((hs, fetched));
        if flag == "-sess_out" {
            assert!(
                Path::new(&sess).exists(),
                "{tag}: s_client saved no session: {}",
                o.all()
            );
        }
    }
    [out[0].clone(), out[1].clone()]
}

fn resumption_setup() -> (Pki, Halo, SocketAddr, SocketAddr) {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let (tickets, no_tickets) = (free_addr(), free_addr());
    let cfg = http_cfg(
        "",
        &[
            bind(tickets, &format!("ssl crt {site}")),
            bind(no_tickets, &format!("ssl crt {site} no-tls-tickets")),
        ],
        "resumed=%[ssl_fc_is_resumed] proto=%[ssl_fc_protocol]",
    );
    let h = start(&cfg, &[tickets, no_tickets]);
    (pki, h, tickets, no_tickets)
}

fn assert_resumed(r: &[(String, String); 2], proto: &str, what: &str) {
    assert!(
        r[0].0.starts_with(&format!("New, {proto}")),
        "{what}: {r:?}"
    );
    assert_eq!(r[0].1, format!("resumed=0 proto={proto}"), "{what}");
    assert!(
        r[1].0.starts_with(&format!("Reused, {proto}")),
        "{what}: {r:?}"
    );
    assert_eq!(r[1].1, format!("resumed=1 proto={proto}"), "{what}");
}

#[test]
fn sessions_resume_by_ticket_and_by_session_id() {
    let (pki, _h, tickets, no_tickets) = resumption_setup();
    let r = resume(tickets, &pki, &["-tls1_2"], "t12");
    assert_resumed(&r, "TLSv1.2", "TLS 1.2 ticket");
    // A client that takes no ticket resumes by session id.
    let r = resume(tickets, &pki, &["-tls1_2", "-no_ticket"], "t12id");
    assert_resumed(&r, "TLSv1.2", "TLS 1.2 session id");
    let r = resume(tickets, &pki, &["-tls1_3"], "t13");
    assert_resumed(&r, "TLSv1.3", "TLS 1.3 ticket");
    // no-tls-tickets: TLS 1.2 resumes by session id.
    let r = resume(no_tickets, &pki, &["-tls1_2"], "n12");
    assert_resumed(&r, "TLSv1.2", "TLS 1.2 without tickets");
    // A session is not resumed on another bind line (other keys and cache).
    let r = resume(tickets, &pki, &["-tls1_2"], "x12");
    let moved = resume_with(no_tickets, &pki, &["-tls1_2"], "x12");
    assert!(r[1].0.starts_with("Reused, "), "{r:?}");
    assert!(moved.0.starts_with("New, "), "{moved:?}");
    assert_eq!(moved.1, "resumed=0 proto=TLSv1.2");
}

/// One connection offering the session saved under `tag`.
fn resume_with(addr: SocketAddr, pki: &Pki, opts: &[&str], tag: &str) -> (String, String) {
    let sess = pki.p(&format!("{tag}.sess"));
    let mut args = opts.to_vec();
    args.extend(["-sess_in", sess.as_str(), "-ign_eof"]);
    let o = s_client(addr, &args, REQ);
    let hs = o
        .stdout
        .lines()
        .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
        .unwrap_or("")
        .to_string();
    (hs, o.line("resumed=").unwrap_or_default())
}

#[test]
fn no_tls_tickets_still_resumes_tls13_sessions_statefully() {
    let (pki, _h, _tickets, no_tickets) = resumption_setup();
    let r = resume(no_tickets, &pki, &["-tls1_3"], "n13");
    assert_resumed(&r, "TLSv1.3", "TLS 1.3 without stateless tickets");
}

// ---------------------------------------------------------------------------
// 7. Big transfers
// ---------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Through a TLS connection to `addr` (a TCP frontend before a [`TcpBackend`] named
/// `name`): sends `HOLD` then `data` in 100 000-byte writes while reading the echo, and
/// checks the echo is exactly the backend's name line and `data`, then nothing more.
async fn echo_over_tls(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    data: Arc<Vec<u8>>,
    name: &str,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut r, mut w) = tokio::io::split(tls);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(b"HOLD\n").await?;
        for chunk in sent.chunks(100_000) {
            w.write_all(chunk).await?;
        }
        w.flush().await?;
        Ok::<_, std::io::Error>(w)
    });
    let mut want = format!("{name}\n").into_bytes();
    want.extend_from_slice(&data);
    let mut got = vec![0u8; want.len()];
    let mut filled = 0;
    while filled < got.len() {
        match r.read(&mut got[filled..]).await {
            Ok(0) => return Err(format!("closed after {filled} of {} bytes", want.len())),
            Ok(n) => filled += n,
            Err(e) => return Err(format!("read after {filled} of {} bytes: {e}", want.len())),
        }
    }
    if got != want {
        let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
        return Err(format!("echo differs from byte {at} on"));
    }
    let mut w = writer
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("write: {e}"))?;
    // Our close ends the echo; nothing more comes back.
    let _ = w.shutdown().await;
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(format!("after the echo: {e}")),
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes more than sent came back", rest.len()));
    }
    Ok(())
}

#[test]
fn tcp_mode_tls_carries_big_streams_both_ways_without_loss() {
    let pki = Pki::site();
    let echo = TcpBackend::echo_named("echo");
    let two = TcpBackend::echo_named("two");
    let fe = free_addr();
    let cfg = format!(
        "defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind {} ssl crt {}
    use_backend two if {{ ssl_fc_sni -i two.test }}
    default_backend echo

backend echo
    server e {}

backend two
    server t {}
",
        haproxy_addr(fe),
        pki.p("site.pem"),
        echo.cfg_addr(),
        two.cfg_addr()
    );
    let _h = start(&cfg, &[fe]);
    let client = pki.client_config(&[]);
    let rt = runtime();
    rt.block_on(async {
        let big = Arc::new(pattern(1, 4 << 20));
        tokio::time::timeout(
            Duration::from_secs(20),
            echo_over_tls(fe, client.clone(), big, "echo"),
        )
        .await
        .expect("4 MiB echo in time")
        .expect("4 MiB echo");

        let mut tasks = Vec::new();
        for i in 0..20u64 {
            let (client, data) = (client.clone(), Arc::new(pattern(100 + i, 256 << 10)));
            tasks.push(tokio::spawn(async move {
                echo_over_tls(fe, client, data, "echo")
                    .await
                    .map_err(|e| format!("client {i}: {e}"))
            }));
        }
        let all = tokio::time::timeout(Duration::from_secs(20), async {
            let mut errs = Vec::new();
            for t in tasks {
                if let Err(e) = t.await.unwrap() {
                    errs.push(e);
                }
            }
            errs
        })
        .await
        .expect("20 echoes in time");
        assert!(all.is_empty(), "{all:?}");
    });
    assert_eq!(echo.served(), 21);
    // The TLS fetches are there for the TCP rules: routing by SNI.
    let o = s_client(fe, &["-servername", "two.test", "-ign_eof"], b"HELLO\n");
    assert!(o.stdout.contains("\ntwo\n"), "{}", o.all());
    assert_eq!((echo.served(), two.served()), (21, 1));
}

/// An HTTP/1.1 server answering any request with `body` (Content-Length) and closing.
struct BigServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl BigServer {
    fn start(body: Arc<Vec<u8>>) -> BigServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((s, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let body = body.clone();
                thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = w.write_all(head.as_bytes());
                    let _ = w.write_all(&body);
                    let _ = w.shutdown(Shutdown::Write);
                });
            }
        });
        BigServer { addr, stop }
    }
}

impl Drop for BigServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn http_mode_tls_carries_big_bodies_both_ways() {
    let pki = Pki::site();
    let body = Arc::new(pattern(7, 3 << 20));
    let big = BigServer::start(body.clone());
    let up = HttpBackend::start("up", Duration::ZERO);
    let fe = free_addr();
    let cfg = format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind {} ssl crt {}
    use_backend big if {{ path_beg /big }}
    default_backend up

backend big
    server b {}

backend up
    server u {}
",
        haproxy_addr(fe),
        pki.p("site.pem"),
        haproxy_addr(big.addr),
        up.cfg_addr()
    );
    let _h = start(&cfg, &[fe]);
    let ca = pki.path("ca.crt");
    // Download.
    let down = pki.p("down.bin");
    let o = curl(fe, "/big", &ca, &["-o", &down]);
    assert_eq!(o.code, 0, "{}", o.all());
    let got = std::fs::read(&down).unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got == *body, "downloaded body differs");
    // Upload.
    let upfile = pki.p("up.bin");
    std::fs::write(&upfile, pattern(8, 4 << 20)).unwrap();
    let at = format!("@{upfile}");
    let answer = curl_ok(fe, "/up", &ca, &["--data-binary", &at, "-H", "Expect:"]);
    assert_eq!(answer, format!("up /up {}", 4 << 20));
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body_len, 4 << 20);
    // Pipelined requests in one TLS write are all answered, in order.
    let mut pipelined = Vec::new();
    for i in 1..=3 {
        let close = if i == 3 { "Connection: close\r\n" } else { "" };
        pipelined
            .extend(format!("GET /p{i} HTTP/1.1\r\nHost: localhost\r\n{close}\r\n").into_bytes());
    }
    let answer = tls_exchange(connect(fe), pki.client_config(&[]), &pipelined).unwrap();
    let bodies: Vec<&str> = answer
        .split("HTTP/1.1 200 OK")
        .skip(1)
        .filter_map(|r| r.split("\r\n\r\n").nth(1))
        .collect();
    assert_eq!(
        bodies,
        ["up /p1 0\n", "up /p2 0\n", "up /p3 0\n"],
        "{answer}"
    );
}

// ---------------------------------------------------------------------------
// 8. accept-proxy before TLS
// ---------------------------------------------------------------------------

#[test]
fn accept_proxy_header_comes_before_the_tls_handshake() {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let echo = TcpBackend::echo_named("echo");
    let (http, tcp) = (free_addr(), free_addr());
    let cfg = format!(
        "defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend web
    mode http
    bind {} accept-proxy ssl crt {site}
    http-request return status 200 content-type text/plain lf-string \"src=%[src] sport=%[src_port] dst=%[dst] dport=%[dst_port] ssl=%[ssl_fc] sni=%[ssl_fc_sni]\\n\"

frontend raw
    mode tcp
    bind {} accept-proxy ssl crt {site}
    default_backend echo

backend echo
    mode tcp
    server e {} send-proxy
",
        haproxy_addr(http),
        haproxy_addr(tcp),
        echo.cfg_addr()
    );
    let _h = start(&cfg, &[http, tcp]);
    let client = pki.client_config(&[]);
    let header = b"PROXY TCP4 1.2.3.4 127.0.0.1 1111 2222\r\n";

    let mut s = connect(http);
    s.write_all(header).unwrap();
    let answer = tls_exchange(s, client.clone(), REQ).expect("HTTPS after PROXY");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(
            "\r\n\r\nsrc=1.2.3.4 sport=1111 dst=127.0.0.1 dport=2222 ssl=1 sni=localhost\n"
        ),
        "{answer}"
    );

    let mut s = connect(tcp);
    s.write_all(header).unwrap();
    let answer = tls_exchange(s, client.clone(), b"HELLO\n").expect("TLS after PROXY");
    assert_eq!(answer, "echo\n");
    let rec = echo.records();
    assert_eq!(rec.len(), 1);
    assert!(
        rec[0].received.starts_with(header),
        "{:?}",
        String::from_utf8_lossy(&rec[0].received)
    );

    // Without the header the connection is dropped (no handshake).
    let r = tls_handshake(connect(http), client);
    assert!(r.is_err(), "handshake without a PROXY header");
}

// ---------------------------------------------------------------------------
// 9. Bad input, handshake timeouts
// ---------------------------------------------------------------------------

#[test]
fn garbage_on_the_tls_port_is_dropped_and_good_clients_are_still_served() {
    let pki = Pki::site();
    let fe = free_addr();
    let cfg = http_cfg(
        "",
        &[bind(fe, &format!("ssl crt {}", pki.p("site.pem")))],
        "ok proto=%[ssl_fc_protocol]",
    );
    let mut h = start(&cfg, &[fe]);
    let ca = pki.path("ca.crt");
    for round in 0..3u64 {
        // Rejected at once: the server closes by itself.
        let mut random = pattern(round + 50, 4096);
        random[0] = 0x42; // not a handshake record
        let mut too_long = vec![0x16, 0x03, 0x01, 0xff, 0xff];
        too_long.extend(pattern(round, 64));
        let mut bad_hello = vec![0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c];
        bad_hello.extend([0xee; 44]);
        for (what, data) in [
            ("random bytes", random),
            (
                "clear-text HTTP",
                b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            ),
            ("an oversized record", too_long),
            ("a garbled ClientHello", bad_hello),
        ] {
            let mut s = connect(fe);
            s.write_all(&data).unwrap();
            let closed = time_to_close(&mut s, Duration::from_secs(3));
            assert!(closed.is_some(), "round {round}: {what} left open");
        }
        // Truncated hellos and silent connections, closed by the client.
        let mut s = connect(fe);
        s.write_all(&[
            0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
        ])
        .unwrap();
        s.write_all(&pattern(round, 20)).unwrap();
        drop(s);
        drop(connect(fe));
        let mut s = connect(fe);
        s.write_all(&[0x16, 0x03]).unwrap();
        let _ = s.shutdown(Shutdown::Write);
        drop(s);
    }
    assert_eq!(h.try_status(), None, "the process died");
    assert!(pid_alive(h.pid()));
    for (extra, proto) in [
        (&["--tlsv1.3"][..], "TLSv1.3"),
        (&["--tls-max", "1.2"][..], "TLSv1.2"),
    ] {
        assert_eq!(curl_ok(fe, "/", &ca, extra), format!("ok proto={proto}"));
    }
}

#[test]
fn a_silent_client_is_closed_after_timeout_client_during_the_handshake() {
    let pki = Pki::site();
    let fe = free_addr();
    let cfg = format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 1s
    timeout server 5s

frontend fe
    bind {} ssl crt {}
    http-request return status 200 content-type text/plain string ok
",
        haproxy_addr(fe),
        pki.p("site.pem")
    );
    let _h = start(&cfg, &[fe]);
    let mut s = connect(fe);
    let t = time_to_close(&mut s, Duration::from_secs(5)).expect("closed");
    assert!(
        t >= Duration::from_millis(800) && t < Duration::from_secs(3),
        "{t:?}"
    );
}

#[test]
fn timeout_client_hs_bounds_the_handshake_only() {
    if skip_on_reference("HAProxy 2.6 has no 'timeout client-hs'") {
        return;
    }
    let pki = Pki::site();
    let fe = free_addr();
    let cfg = format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout client-hs 500ms
    timeout server 5s

frontend fe
    bind {} ssl crt {}
    http-request return status 200 content-type text/plain string ok
",
        haproxy_addr(fe),
        pki.p("site.pem")
    );
    let _h = start(&cfg, &[fe]);
    // Nothing sent, or half a ClientHello: closed after client-hs.
    for (what, sent) in [
        ("silent", &[][..]),
        (
            "half a hello",
            &[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00][..],
        ),
    ] {
        let mut s = connect(fe);
        s.write_all(sent).unwrap();
        let t = time_to_close(&mut s, Duration::from_secs(5)).expect("closed");
        assert!(
            t >= Duration::from_millis(400) && t < Duration::from_secs(3),
            "{what}: {t:?}"
        );
    }
    // After the handshake, `timeout client` applies: an idle second is fine.
    let mut s = tls_handshake(connect(fe), pki.client_config(&[])).expect("handshake");
    thread::sleep(Duration::from_millis(1200));
    let out = tls_request(&mut s, REQ).expect("answer after an idle second");
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("\r\n\r\nok"),
        "{out}"
    );
}

/// Reads one PROXY v2 header from a connection accepted on `l`; returns what follows the
/// address block (the TLVs).
fn proxy_v2_tlvs(l: &TcpListener) -> Vec<u8> {
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 16];
    s.read_exact(&mut head).unwrap();
    assert_eq!(
        &head[..12],
        b"\r\n\r\n\0\r\nQUIT\n",
        "not a PROXY v2 header"
    );
    let len = u16::from_be_bytes([head[14], head[15]]) as usize;
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).unwrap();
    // IPv4: 12 bytes of addresses and ports.
    rest.split_off(12)
}

#[test]
fn send_proxy_v2_ssl_passes_the_client_tls_details_on() {
    let pki = client_pki();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tls_fe, plain_fe) = (free_addr(), free_addr());
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind {} ssl crt {} ca-file {} verify optional\n    default_backend b\n\
         frontend fe2\n    bind {}\n    default_backend b2\n\
         backend b\n    server s1 {} send-proxy-v2-ssl-cn\n\
         backend b2\n    server s1 {} send-proxy-v2-ssl\n",
        haproxy_addr(tls_fe),
        pki.p("site.pem"),
        pki.p("cca.crt"),
        haproxy_addr(plain_fe),
        haproxy_addr(server.local_addr().unwrap()),
        haproxy_addr(server.local_addr().unwrap()),
    );
    let _h = start(&cfg, &[tls_fe, plain_fe]);
    let tlv = |v: &[u8]| -> Vec<u8> {
        let mut o = vec![0x20];
        o.extend_from_slice(&(v.len() as u16).to_be_bytes());
        o.extend_from_slice(v);
        o
    };
    // A client certificate: SSL, certificate on the connection and in the session,
    // verified (0), TLSv1.3, then the CN.
    let client = thread::spawn({
        let (crt, key) = (pki.p("bob.crt"), pki.p("bob.key"));
        move || s_client(tls_fe, &["-cert", &crt, "-key", &key, "-quiet"], b"x\n")
    });
    let got = proxy_v2_tlvs(&server);
    let mut want = vec![0x07, 0, 0, 0, 0, 0x21, 0, 7];
    want.extend_from_slice(b"TLSv1.3");
    want.extend_from_slice(&[0x22, 0, 3]);
    want.extend_from_slice(b"bob");
    assert_eq!(got, tlv(&want));
    let _ = client.join();
    // No certificate, TLS 1.2.
    let client = thread::spawn(move || s_client(tls_fe, &["-tls1_2", "-quiet"], b"x\n"));
    let got = proxy_v2_tlvs(&server);
    let mut want = vec![0x01, 0, 0, 0, 0, 0x21, 0, 7];
    want.extend_from_slice(b"TLSv1.2");
    assert_eq!(got, tlv(&want));
    let _ = client.join();
    // A connection without TLS: the TLV says so.
    let mut c = connect(plain_fe);
    c.write_all(b"x\n").unwrap();
    assert_eq!(proxy_v2_tlvs(&server), tlv(&[0, 0, 0, 0, 0]));
}

#[test]
fn maxsslconn_holds_new_tls_connections_until_one_ends() {
    if skip_on_reference(
        "HAProxy 2.6 was seen not to serve a new TLS connection within 5 s after the only one ended",
    ) {
        return;
    }
    let pki = Pki::site();
    let (fe, plain) = (free_addr(), free_addr());
    let cfg = http_cfg(
        "    maxsslconn 1",
        &[
            bind(fe, &format!("ssl crt {}", pki.p("site.pem"))),
            bind(plain, ""),
        ],
        "ok",
    );
    let _h = start(&cfg, &[fe, plain]);
    let first = tls_handshake(connect(fe), pki.client_config(&[])).expect("first handshake");
    // The second connection is not taken while the first one lives…
    let s = connect(fe);
    s.set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let client_cfg = pki.client_config(&[]);
    let waiting = thread::spawn(move || {
        let t = Instant::now();
        let r = tls_handshake(s, client_cfg);
        (t.elapsed(), r.is_ok())
    });
    // …plain connections are not concerned.
    assert!(Client::connect(plain).get("/", "").status == 200);
    let (took, ok) = waiting.join().unwrap();
    assert!(
        !ok && took >= Duration::from_millis(700),
        "served at once ({took:?})"
    );
    drop(first);
    // Once it ends, a new one is served.
    let mut later = None;
    assert!(wait_until(Duration::from_secs(5), || {
        later = tls_exchange(connect(fe), pki.client_config(&[]), REQ).ok();
        later.is_some()
    }));
    assert!(later.unwrap().contains("ok"));
}

// ---------------------------------------------------------------------------
// crt-ignore-err / ca-ignore-err, tune.ssl.lifetime, wait-for-handshake
// ---------------------------------------------------------------------------

/// `NAME.crt`/`.key` for `subj`, valid from 2020-01-01 to 2020-02-01 (expired), signed by
/// the CA `ca` or self-signed, made with `openssl ca` (which takes dates).
fn expired_cert(pki: &Pki, name: &str, subj: &str, ca: Option<&str>) {
    let cnf = pki.p(&format!("{name}-ca.cnf"));
    std::fs::write(pki.path(&format!("{name}-index.txt")), "").unwrap();
    std::fs::write(
        &cnf,
        format!(
            "[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = {dir}/{name}-index.txt\nnew_certs_dir = {dir}\nserial = {dir}/{name}-serial\ndefault_md = sha256\npolicy = p\n[ p ]\ncommonName = supplied\n",
            dir = pki.dir().display()
        ),
    )
    .unwrap();
    std::fs::write(pki.path(&format!("{name}-serial")), "5A01\n").unwrap();
    std::fs::write(pki.path(&format!("{name}.ext")), CLIENT_EXT).unwrap();
    let (k, csr, crt, ext) = (
        pki.p(&format!("{name}.key")),
        pki.p(&format!("{name}.csr")),
        pki.p(&format!("{name}.crt")),
        pki.p(&format!("{name}.ext")),
    );
    pki.openssl(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-subj",
        subj,
        "-keyout",
        &k,
        "-out",
        &csr,
    ]);
    let mut args = vec![
        "ca",
        "-batch",
        "-notext",
        "-preserveDN",
        "-config",
        &cnf,
        "-in",
        &csr,
        "-out",
        &crt,
        "-extfile",
        &ext,
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200201000000Z",
    ];
    let (ca_crt, ca_key);
    match ca {
        Some(ca) => {
            (ca_crt, ca_key) = (pki.p(&format!("{ca}.crt")), pki.p(&format!("{ca}.key")));
            args.extend(["-cert", &ca_crt, "-keyfile", &ca_key]);
        }
        None => args.extend(["-selfsign", "-keyfile", &k]),
    }
    pki.openssl(&args);
}

#[test]
fn ignored_client_certificate_errors_let_the_handshake_through_and_are_reported() {
    let pki = client_pki();
    // Expired, from the client CA; expired and from nobody (self-signed).
    expired_cert(&pki, "old", "/C=FR/O=Client Org/CN=old", Some("cca"));
    expired_cert(&pki, "forged", "/C=FR/O=Client Org/CN=forged", None);
    let (strict, expired, revoked, all) = (free_addr(), free_addr(), free_addr(), free_addr());
    let base = "ssl crt site.pem ca-file cca.crt verify optional";
    let cfg = http_cfg(
        &format!(
            "    crt-base {dir}\n    ca-base {dir}",
            dir = pki.dir().display()
        ),
        &[
            bind(strict, base),
            // IDs as numbers: HAProxy 2.6 takes no names.
            bind(expired, &format!("{base} crt-ignore-err 10")),
            bind(
                revoked,
                &format!("{base} crl-file crl.pem crt-ignore-err 23,10"),
            ),
            bind(all, &format!("{base} crt-ignore-err all ca-ignore-err all")),
        ],
        "cn=%[ssl_c_s_dn(CN)] verify=%[ssl_c_verify] err=%[ssl_c_err] ca_err=%[ssl_c_ca_err] depth=%[ssl_c_ca_err_depth]",
    );
    let _h = start(&cfg, &[strict, expired, revoked, all]);
    let ca = pki.path("ca.crt");
    let get = |addr, who: &str| -> Out {
        let (c, k) = (pki.p(&format!("{who}.crt")), pki.p(&format!("{who}.key")));
        curl(addr, "/", &ca, &["--cert", &c, "--key", &k])
    };
    let served = |addr, who: &str| -> String {
        let o = get(addr, who);
        assert_eq!(o.code, 0, "{who} refused: {}", o.all());
        o.stdout.trim().to_string()
    };
    let refused = |addr, who: &str| {
        let o = get(addr, who);
        assert!(
            o.code != 0 && !o.stdout.contains("cn="),
            "{who} was served: {}",
            o.all()
        );
    };
    // Without an ignore list a failed verification ends the handshake, optional or not.
    refused(strict, "old");
    refused(strict, "mallory");
    assert_eq!(
        served(strict, "alice"),
        "cn=alice verify=0 err=0 ca_err=0 depth=0"
    );
    // crt-ignore-err 10 (X509_V_ERR_CERT_HAS_EXPIRED).
    assert_eq!(
        served(expired, "old"),
        "cn=old verify=10 err=10 ca_err=0 depth=0"
    );
    // Ignoring the date does not let a certificate from nobody through.
    refused(expired, "forged");
    refused(expired, "mallory");
    // crt-ignore-err 23 (X509_V_ERR_CERT_REVOKED): alice is revoked by the CRL.
    assert_eq!(
        served(revoked, "alice"),
        "cn=alice verify=23 err=23 ca_err=0 depth=0"
    );
    assert_eq!(
        served(revoked, "bob"),
        "cn=bob verify=0 err=0 ca_err=0 depth=0"
    );
    // all: a self-signed certificate is X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT (18).
    assert_eq!(
        served(all, "mallory"),
        "cn=mallory verify=18 err=18 ca_err=0 depth=0"
    );
    assert!(
        served(all, "forged").starts_with("cn=forged verify="),
        "forged under all"
    );
}

#[test]
fn ignore_lists_take_openssl_names_and_x509_v_err_str_names_the_error() {
    if skip_on_reference("X509_V_ERR names and x509_v_err_str arrived after HAProxy 2.6") {
        return;
    }
    let pki = client_pki();
    expired_cert(&pki, "old", "/C=FR/O=Client Org/CN=old", Some("cca"));
    let addr = free_addr();
    let cfg = http_cfg(
        &format!(
            "    crt-base {dir}\n    ca-base {dir}",
            dir = pki.dir().display()
        ),
        &[bind(
            addr,
            "ssl crt site.pem ca-file cca.crt verify required crt-ignore-err X509_V_ERR_CERT_HAS_EXPIRED,X509_V_ERR_CERT_REVOKED",
        )],
        "%[ssl_c_verify,x509_v_err_str] %[ssl_c_ca_err,x509_v_err_str] %[int(999),x509_v_err_str]",
    );
    let _h = start(&cfg, &[addr]);
    let (c, k) = (pki.p("old.crt"), pki.p("old.key"));
    let o = curl(addr, "/", &pki.path("ca.crt"), &["--cert", &c, "--key", &k]);
    assert_eq!(o.code, 0, "{}", o.all());
    assert_eq!(o.stdout.trim(), "X509_V_ERR_CERT_HAS_EXPIRED X509_V_OK 999");
    // An unknown name is a configuration error naming it.
    let bad = http_cfg(
        &format!(
            "    crt-base {dir}\n    ca-base {dir}",
            dir = pki.dir().display()
        ),
        &[bind(
            free_addr(),
            "ssl crt site.pem ca-file cca.crt verify required ca-ignore-err X509_V_ERR_NOPE",
        )],
        "x",
    );
    let (code, out, err) = run_check(Cfg::Text(&bad), &[]);
    assert!(
        code != 0 && err.contains("X509_V_ERR_NOPE"),
        "{code}: {out}{err}"
    );
}

#[test]
fn sessions_are_not_resumed_after_tune_ssl_lifetime() {
    let pki = Pki::site();
    let site = pki.p("site.pem");
    let (tickets, no_tickets) = (free_addr(), free_addr());
    let cfg = http_cfg(
        "    tune.ssl.lifetime 1",
        &[
            bind(tickets, &format!("ssl crt {site}")),
            bind(no_tickets, &format!("ssl crt {site} no-tls-tickets")),
        ],
        "resumed=%[ssl_fc_is_resumed] proto=%[ssl_fc_protocol]",
    );
    let _h = start(&cfg, &[tickets, no_tickets]);
    let cases = [
        (tickets, &["-tls1_2"][..], "t12", "TLSv1.2"),
        (tickets, &["-tls1_2", "-no_ticket"][..], "id12", "TLSv1.2"),
        (tickets, &["-tls1_3"][..], "t13", "TLSv1.3"),
        (no_tickets, &["-tls1_3"][..], "n13", "TLSv1.3"),
    ];
    // Within the lifetime the sessions resume…
    for (addr, opts, tag, proto) in cases {
        let r = resume(addr, &pki, opts, tag);
        assert_resumed(&r, proto, tag);
    }
    // …and once it has passed, they do not.
    thread::sleep(Duration::from_millis(2100));
    for (addr, opts, tag, proto) in cases {
        let (hs, fetched) = resume_with(addr, &pki, opts, tag);
        assert!(hs.starts_with("New, "), "{tag}: {hs}");
        assert_eq!(fetched, format!("resumed=0 proto={proto}"), "{tag}");
    }
}

#[test]
fn wait_for_handshake_lets_requests_through_once_the_handshake_is_done() {
    let pki = Pki::site();
    let addr = free_addr();
    let cfg = http_cfg(
        "",
        &[bind(addr, &format!("ssl crt {}", pki.p("site.pem")))],
        "ok %[ssl_fc_protocol]",
    )
    .replace(
        "    http-request return",
        "    http-request wait-for-handshake\n    http-request return",
    );
    assert!(cfg.contains("wait-for-handshake"), "{cfg}");
    let _h = start(&cfg, &[addr]);
    let out = curl_ok(addr, "/", &pki.path("ca.crt"), &[]);
    assert!(out.starts_with("ok TLSv1."), "{out}");
}
