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
