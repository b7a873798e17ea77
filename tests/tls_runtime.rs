//! Replacing a certificate through the runtime API (`set ssl cert` + `commit ssl cert`)
//! while a client keeps a TLS connection open: the open connection goes on, new ones get
//! the new certificate; and the answers of the certificate commands, byte for byte.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::*;

/// A self-signed certificate for `localhost` with this serial, as `cert+key` PEM text.
fn make_cert(dir: &Path, name: &str, serial: &str) -> String {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-newkey", "rsa:2048", "-set_serial", serial])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        // An end-entity certificate (rustls clients refuse a CA certificate as one).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pem = std::fs::read_to_string(&crt).unwrap();
    pem.push_str(&std::fs::read_to_string(&key).unwrap());
    pem
}

/// A TLS client trusting `pems` (certificates), keeping its connection.
struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsClient {
    fn connect(addr: SocketAddr, trusted: &[&str]) -> TlsClient {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for pem in trusted {
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        TlsClient {
            tls: rustls::StreamOwned::new(conn, sock),
        }
    }

    /// One keep-alive request; the response body (the answer is `Content-Length` framed).
    fn get(&mut self, path: &str) -> std::io::Result<String> {
        self.tls
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.tls.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return Ok(text[end + 4..end + 4 + len].to_string());
                }
            }
        }
    }
}

#[test]
fn a_committed_certificate_serves_new_connections_and_open_ones_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let old = make_cert(dir.path(), "old", "0x0a11");
    let new = make_cert(dir.path(), "new", "0x0b22");
    let site = dir.path().join("site.pem");
    std::fs::write(&site, &old).unwrap();
    let sock = dir.path().join("admin.sock");
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\n\
         frontend fe\n    bind {} ssl crt {}\n\
         \x20   http-request return status 200 content-type text/plain lf-string \"serial=%[ssl_f_serial,hex]\"\n",
        sock.display(),
        haproxy_addr(fe),
        site.display()
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe]).start();
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let both = [old.as_str(), new.as_str()];
    let mut kept = TlsClient::connect(fe, &both);
    assert_eq!(kept.get("/1").unwrap(), "serial=0A11");

    // The transaction, its listing and details, then the commit.
    let pem: String = new
        .lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let name = site.display().to_string();
    let out = cli(&sock, &format!("set ssl cert {name} <<\n{pem}\n")).unwrap();
    assert_eq!(
        out,
        format!("Transaction created for certificate {name}!\n\n")
    );
    let out = cli(&sock, "show ssl cert").unwrap();
    assert_eq!(
        out,
        format!("# transaction\n*{name}\n# filename\n{name}\n\n")
    );
    let out = cli(&sock, &format!("show ssl cert *{name}")).unwrap();
    assert!(
        out.starts_with(&format!(
            "Filename: *{name}\nStatus: Unused\nSerial: 0B22\n"
        )),
        "{out}"
    );
    // Not committed yet: new connections still get the old certificate.
    assert_eq!(
        TlsClient::connect(fe, &both).get("/2").unwrap(),
        "serial=0A11"
    );
    let out = cli(&sock, &format!("commit ssl cert {name}")).unwrap();
    assert_eq!(out, format!("Committing {name}.\nSuccess!\n\n"));
    let out = cli(&sock, &format!("show ssl cert {name}")).unwrap();
    assert!(
        out.starts_with(&format!("Filename: {name}\nStatus: Used\nSerial: 0B22\n")),
        "{out}"
    );

    // New connections get the new certificate (a client trusting only it succeeds)…
    assert_eq!(
        TlsClient::connect(fe, &[new.as_str()]).get("/3").unwrap(),
        "serial=0B22"
    );
    // …while the connection opened before goes on with the one it started with.
    for i in 0..3 {
        assert_eq!(kept.get(&format!("/kept{i}")).unwrap(), "serial=0A11");
    }
    // A client trusting only the old certificate is now refused.
    assert!(TlsClient::connect(fe, &[old.as_str()]).get("/4").is_err());
}

#[test]
fn certificate_commands_refuse_what_they_cannot_do_in_haproxys_words() {
    let dir = tempfile::tempdir().unwrap();
    let pem = make_cert(dir.path(), "a", "0x01");
    let site = dir.path().join("site.pem");
    std::fs::write(&site, &pem).unwrap();
    let cert_only: String = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .trim_end()
        .to_string();
    let sock = dir.path().join("admin.sock");
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\n\
         frontend fe\n    bind {} ssl crt {}\n    http-request return status 200\n",
        sock.display(),
        haproxy_addr(fe),
        site.display()
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe]).start();
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let name = site.display().to_string();
    let q = |c: &str| cli(&sock, c).unwrap();
    assert_eq!(
        q("show ssl cert nope.pem"),
        "Can't display the certificate: Not found or the certificate is a bundle!\n\n"
    );
    assert_eq!(
        q(&format!("abort ssl cert {name}")),
        "No ongoing transaction!\n\n"
    );
    assert_eq!(
        q(&format!("commit ssl cert {name}")),
        format!("No ongoing transaction! !\nCan't commit {name}!\n\n")
    );
    assert_eq!(
        q(&format!("set ssl cert /nope.pem <<\n{cert_only}\n")),
        "Can't replace a certificate which is not referenced by the configuration!\nCan't update /nope.pem!\n\n"
    );
    assert_eq!(
        q(&format!("set ssl cert {name} <<\ngarbage\n")),
        format!(
            "unable to load certificate from file '{name}'.\nCan't load the payload\nCan't update {name}!\n\n"
        )
    );
    // A certificate without its key: the transaction exists, the commit is refused.
    assert_eq!(
        q(&format!("set ssl cert {name} <<\n{cert_only}\n")),
        format!("Transaction created for certificate {name}!\n\n")
    );
    assert_eq!(
        q(&format!("commit ssl cert {name}")),
        format!(
            "The transaction must contain at least a certificate and a private key!\nCan't commit {name}!\n\n"
        )
    );
    assert_eq!(
        q(&format!("abort ssl cert {name}")),
        format!("Transaction aborted for certificate '{name}'!\n\n")
    );
    assert_eq!(
        q("new ssl cert /x/new.pem"),
        "New empty certificate store '/x/new.pem'!\n\n"
    );
    assert_eq!(
        q("new ssl cert /x/new.pem"),
        "Certificate '/x/new.pem' already exists!\n\n"
    );
    assert_eq!(
        q("show ssl cert /x/new.pem"),
        "Filename: /x/new.pem\nStatus: Empty\nOCSP Response Key: \n\n"
    );
    assert_eq!(
        q("set ssl cert"),
        "'set ssl cert expects a filename and a certificate as a payload\n\n"
    );
    assert_eq!(
        q("commit ssl cert"),
        "'commit ssl cert expects a filename\n\n"
    );
}

/// The subject CN of the certificate a handshake with `sni` gets, None when it fails.
fn served_cn(addr: SocketAddr, sni: &str) -> Option<String> {
    let out = Command::new("timeout")
        .args(["5", "openssl", "s_client", "-connect"])
        .arg(addr.to_string())
        .args(["-servername", sni])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !text.contains("BEGIN CERTIFICATE") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("subject=CN = ").map(str::to_string))
}

/// A self-signed certificate for `cn` (also its DNS SAN), as `cert+key` PEM text.
fn make_named(dir: &Path, cn: &str) -> String {
    let key = dir.join(format!("{cn}.key"));
    let crt = dir.join(format!("{cn}.crt"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-nodes", "-days", "2", "-newkey", "rsa:2048",
        ])
        .args(["-subj", &format!("/CN={cn}")])
        .args(["-addext", &format!("subjectAltName=DNS:{cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let mut pem = std::fs::read_to_string(&crt).unwrap();
    pem.push_str(&std::fs::read_to_string(&key).unwrap());
    pem
}

#[test]
fn crt_list_lines_are_added_and_deleted_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let main = d.join("main.pem");
    std::fs::write(&main, make_named(d, "main.test")).unwrap();
    let list = d.join("list.txt");
    std::fs::write(
        &list,
        format!("{} [ssl-min-ver TLSv1.2] main.test\n", main.display()),
    )
    .unwrap();
    let sock = d.join("admin.sock");
    let fe = free_addr();
    let cfg = format!(
        "global\n    stats socket {} level admin\n\
         defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\n\
         frontend fe\n    bind {} ssl crt-list {}\n    http-request return status 200\n",
        sock.display(),
        haproxy_addr(fe),
        list.display()
    );
    let _h = Halo::builder(&cfg).wait_for(&[fe]).start();
    assert!(wait_cli(&sock, Duration::from_secs(5)));
    let q = |c: &str| cli(&sock, c).unwrap();
    let (l, m) = (list.display().to_string(), main.display().to_string());
    assert_eq!(q("show ssl crt-list"), format!("{l}\n\n"));
    assert_eq!(
        q(&format!("show ssl crt-list -n {l}")),
        format!("# {l}\n{m}:1 [ssl-min-ver TLSv1.2] main.test\n\n")
    );
    assert_eq!(served_cn(fe, "extra.test").as_deref(), Some("main.test"));

    // A new certificate: created, filled, committed, then added to the list.
    let extra = "/run/extra.pem";
    assert_eq!(
        q(&format!("new ssl cert {extra}")),
        format!("New empty certificate store '{extra}'!\n\n")
    );
    let pem: String = make_named(d, "extra.test")
        .lines()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        q(&format!("set ssl cert {extra} <<\n{pem}\n")),
        format!("Transaction created for certificate {extra}!\n\n")
    );
    assert_eq!(
        q(&format!("commit ssl cert {extra}")),
        format!("Committing {extra}\nSuccess!\n\n")
    );
    assert_eq!(
        q(&format!("add ssl crt-list {l} {extra}")),
        format!("Inserting certificate '{extra}' in crt-list '{l}'.\nSuccess!\n\n")
    );
    assert_eq!(
        q(&format!(
            "add ssl crt-list {l} <<\n{extra} [ssl-min-ver TLSv1.3] other.test\n"
        )),
        format!("Inserting certificate '{extra}' in crt-list '{l}'.\nSuccess!\n\n")
    );
    assert_eq!(
        q(&format!("show ssl crt-list -n {l}")),
        format!(
            "# {l}\n{m}:1 [ssl-min-ver TLSv1.2] main.test\n{extra}:2\n{extra}:3 [ssl-min-ver TLSv1.3] other.test\n\n"
        )
    );
    // New handshakes see the new lines at once.
    assert_eq!(served_cn(fe, "extra.test").as_deref(), Some("extra.test"));
    assert_eq!(served_cn(fe, "other.test").as_deref(), Some("extra.test"));
    assert_eq!(
        q(&format!("del ssl cert {extra}")),
        format!(
            "Can't remove the certificate: certificate '{extra}' in use, can't be deleted!\n\n\n"
        )
    );
    assert_eq!(
        q(&format!("del ssl crt-list {l} {extra}")),
        format!(
            "Can't delete the entry: found the certificate '{extra}' in several entries, please specify a line number preceded by colons (2, 3)!\n\n"
        )
    );
    assert_eq!(
        q(&format!("del ssl crt-list {l} {extra}:9")),
        format!(
            "Can't delete the entry: found a certificate '{extra}' but the line number is incorrect, please specify a correct line number preceded by colons (2, 3)!\n\n"
        )
    );
    assert_eq!(
        q(&format!("del ssl crt-list {l} {extra}:2")),
        format!("Entry '{extra}' deleted in crtlist '{l}'!\n\n")
    );
    // Line 3 still serves other.test; extra.test falls back to the default certificate.
    assert_eq!(served_cn(fe, "other.test").as_deref(), Some("extra.test"));
    assert_eq!(served_cn(fe, "extra.test").as_deref(), Some("main.test"));
    // The default certificate cannot go; unknown names are refused in HAProxy's words.
    assert!(
        q(&format!("del ssl crt-list {l} {m}")).starts_with(&format!(
            "Can't delete the entry: certificate '{m}' cannot be deleted, it is used as default certificate by the following frontends:\n\t- "
        ))
    );
    assert_eq!(
        q(&format!("add ssl crt-list {l} /nope.pem")),
        "Can't edit the crt-list: certificate '/nope.pem' does not exist!\n\n"
    );
    assert_eq!(
        q("add ssl crt-list /nolist.txt /nope.pem"),
        "Can't edit the crt-list: crt-list '/nolist.txt' does not exist!\n\n"
    );
    assert_eq!(
        q("show ssl crt-list /nolist.txt"),
        "didn't find the specified filename\n\n"
    );
}
