//! TLS certificates of `bind … ssl crt …`: PEM files loaded as HAProxy loads them (chain
//! and key in one file, or the key in `FILE.key`; every file of a folder), the names each
//! certificate serves (CN and DNS SANs), and what a connection negotiated. `bind.rs` builds
//! a bind line's configurations, `conn.rs` serves its connections; rustls does the protocol.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// One certificate with its key, and the names it serves.
pub struct CertEntry {
    /// The file it came from (`show ssl cert` names certificates by it).
    pub path: String,
    pub key: Arc<CertifiedKey>,
    /// Lower-case CN and DNS subject alternative names (`*.` wildcards kept as written).
    pub names: Vec<String>,
}

/// Side files HAProxy reads next to a certificate, never certificates themselves.
const SIDE_FILES: &[&str] = &[".key", ".ocsp", ".issuer", ".sctl"];

/// `crt PATH`: the certificate of a file, or those of every file of a folder in name
/// order. Errors are worded as HAProxy words them.
pub fn load_crt(path: &str) -> Result<Vec<CertEntry>, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{path}' : {}.",
            io_reason(&e)
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![load_pem(path)?]);
    }
    let mut files: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| format!("unable to scan directory '{path}' : {}.", io_reason(&e)))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| !SIDE_FILES.iter().any(|s| p.ends_with(s)) && !p.ends_with('~'))
        .collect();
    files.sort();
    files.iter().map(|f| load_pem(f)).collect()
}

/// The OS error without Rust's "(os error N)" suffix, as strerror() gives it.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `ssl-skip-self-issued-ca` (process-wide, set once at start): self-issued CA
/// certificates of a chain are not sent.
pub static SKIP_SELF_ISSUED_CA: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn self_issued(c: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(c.as_ref())
        .map(|(_, x)| x.subject().as_raw() == x.issuer().as_raw())
        .unwrap_or(false)
}

/// One PEM file: its certificate chain, and its key (from the file, else `FILE.key`).
fn load_pem(path: &str) -> Result<CertEntry, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{path}' : {}.",
            io_reason(&e)
        )
    })?;
    let key_file = format!("{path}.key");
    match parse_pem(path, &bytes)? {
        (chain, Some(key)) => certified(path, chain, key),
        (chain, None) => {
            // An encrypted key cannot be read (HAProxy asks for no passphrase either).
            let key = std::fs::read(&key_file)
                .ok()
                .and_then(|b| PrivateKeyDer::from_pem_slice(&b).ok())
                .ok_or_else(|| format!("No Private Key found in '{key_file}'."))?;
            certified(path, chain, key)
        }
    }
}

/// The certificate chain and the key (if any) of PEM text; errors name `path`.
pub fn parse_pem(
    path: &str,
    bytes: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, Option<PrivateKeyDer<'static>>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unable to load certificate from file '{path}'."))?;
    if chain.is_empty() {
        return Err(format!("unable to load certificate from file '{path}'."));
    }
    Ok((chain, PrivateKeyDer::from_pem_slice(bytes).ok()))
}

/// A chain and its key checked together, as one certificate entry.
pub fn certified(
    path: &str,
    mut chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertEntry, String> {
    if SKIP_SELF_ISSUED_CA.load(std::sync::atomic::Ordering::Relaxed) {
        // The root the client must already have is not sent.
        let mut i = 1;
        while i < chain.len() {
            if self_issued(&chain[i]) {
                chain.remove(i);
            } else {
                i += 1;
            }
        }
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| format!("unable to load SSL private key from PEM file '{path}'."))?;
    let names = names_of(&chain[0]);
    let key = CertifiedKey::new(chain, signing);
    key.keys_match().map_err(|_| {
        format!("inconsistencies between private key and certificate loaded '{path}'.")
    })?;
    Ok(CertEntry {
        path: path.to_string(),
        key: Arc::new(key),
        names,
    })
}

/// The CN and DNS subject alternative names of a certificate, in lower case.
pub fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let Ok((_, x)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return out;
    };
    for cn in x.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            out.push(s.to_ascii_lowercase());
        }
    }
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                let d = d.to_ascii_lowercase();
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    out
}

/// OpenSSL's short name of a distinguished-name attribute.
pub fn attr_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => other,
    }
    .to_string()
}

/// The attributes of a distinguished name in order, by OpenSSL's short names.
pub fn dn_attrs(n: &x509_parser::x509::X509Name<'_>) -> Vec<(String, String)> {
    n.iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .map(|a| {
            let value = a
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(a.as_slice()).into_owned());
            (attr_name(&a.attr_type().to_id_string()), value)
        })
        .collect()
}

/// `/C=FR/O=Org/CN=name`, as HAProxy prints a distinguished name.
pub fn dn_oneline(n: &x509_parser::x509::X509Name<'_>) -> String {
    dn_attrs(n)
        .iter()
        .map(|(k, v)| format!("/{k}={v}"))
        .collect()
}

/// What a TLS connection negotiated, for the `ssl_fc_*` and `ssl_c_*` fetches.
#[derive(Debug, Default)]
pub struct TlsInfo {
    pub sni: Option<String>,
    /// `TLSv1.2`, `TLSv1.3`.
    pub protocol: &'static str,
    /// OpenSSL's name of the cipher suite.
    pub cipher: String,
    /// Key size of the cipher in bits (`ssl_fc_use_keysize`).
    pub keysize: u32,
    pub alpn: Option<Vec<u8>>,
    pub resumed: bool,
    /// The client's certificate (DER), when it sent one (it was verified).
    pub client_cert: Option<Vec<u8>>,
    /// The certificate halo presented (`ssl_f_*`).
    pub server_cert: Option<CertificateDer<'static>>,
    /// The key exchange group, by OpenSSL's name (`ssl_fc_curve`).
    pub curve: &'static str,
    /// Client certificate errors ignored by `crt-ignore-err` / `ca-ignore-err`.
    pub cert_errors: verify::CertErrors,
}

impl TlsInfo {
    /// What a handshake of a client of halo negotiated (`ssl_fc_*`, `ssl_c_*`, `ssl_f_*`).
    pub fn of(tls: &rustls::ServerConnection, key: &CertifiedKey) -> TlsInfo {
        TlsInfo {
            sni: tls.server_name().map(str::to_string),
            client_cert: tls
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec()),
            server_cert: key.cert.first().cloned(),
            ..TlsInfo::negotiated(tls)
        }
    }

    /// What a handshake of halo with a server negotiated (`ssl_bc_*`, `ssl_s_*`): the
    /// server's certificate is `server_cert`.
    pub fn of_client(tls: &rustls::ClientConnection, sni: Option<&str>) -> TlsInfo {
        TlsInfo {
            sni: sni.map(str::to_string),
            server_cert: tls.peer_certificates().and_then(|c| c.first()).cloned(),
            ..TlsInfo::negotiated(tls)
        }
    }

    fn negotiated<D>(tls: &rustls::ConnectionCommon<D>) -> TlsInfo {
        let cipher = tls.negotiated_cipher_suite();
        TlsInfo {
            sni: None,
            protocol: match tls.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
                _ => "",
            },
            cipher: cipher.map(bind::openssl_name).unwrap_or_default(),
            keysize: cipher
                .map(|c| {
                    if bind::openssl_name(c).contains("128") {
                        128
                    } else {
                        256
                    }
                })
                .unwrap_or(0),
            alpn: tls.alpn_protocol().map(<[u8]>::to_vec),
            resumed: matches!(tls.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
            client_cert: None,
            server_cert: None,
            curve: match tls.negotiated_key_exchange_group().map(|g| g.name()) {
                Some(rustls::NamedGroup::X25519) => "X25519",
                Some(rustls::NamedGroup::secp256r1) => "prime256v1",
                Some(rustls::NamedGroup::secp384r1) => "secp384r1",
                Some(rustls::NamedGroup::secp521r1) => "secp521r1",
                Some(rustls::NamedGroup::X25519MLKEM768) => "X25519MLKEM768",
                Some(rustls::NamedGroup::secp256r1MLKEM768) => "SecP256r1MLKEM768",
                Some(rustls::NamedGroup::MLKEM768) => "MLKEM768",
                Some(rustls::NamedGroup::MLKEM1024) => "MLKEM1024",
                _ => "",
            },
            cert_errors: verify::CertErrors::default(),
        }
    }
}

pub mod bind;
pub mod conn;
pub mod server;
pub mod session;
pub mod store;
pub mod verify;

#[cfg(test)]
mod tests;
