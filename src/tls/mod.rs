//! TLS certificates of `bind … ssl crt …`: PEM files loaded as HAProxy loads them (chain
//! and key in one file, or the key in `FILE.key`; every file of a folder), the names each
//! certificate serves (CN and DNS SANs), and the SNI selection (exact name, then `*.`
//! wildcard, then the bind line's first certificate). rustls does the protocol.

use std::collections::HashMap;
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

/// One PEM file: its certificate chain, and its key (from the file, else `FILE.key`).
fn load_pem(path: &str) -> Result<CertEntry, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{path}' : {}.",
            io_reason(&e)
        )
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unable to load certificate from file '{path}'."))?;
    if chain.is_empty() {
        return Err(format!("unable to load certificate from file '{path}'."));
    }
    let key_file = format!("{path}.key");
    // An encrypted key cannot be read (HAProxy asks for no passphrase either).
    let key = match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => k,
        Err(_) => std::fs::read(&key_file)
            .ok()
            .and_then(|b| PrivateKeyDer::from_pem_slice(&b).ok())
            .ok_or_else(|| format!("No Private Key found in '{key_file}'."))?,
    };
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
fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
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

/// Picks the certificate for a client's SNI: the certificate naming it exactly, else one
/// naming `*.` and its parent domain, else the default (the bind line's first).
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("names", &self.exact.len())
            .field("wildcards", &self.wildcard.len())
            .finish()
    }
}

impl SniResolver {
    /// None without any certificate. The first entry loaded for a name keeps it.
    pub fn new(entries: &[CertEntry]) -> Option<SniResolver> {
        let default = entries.first()?.key.clone();
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for e in entries {
            for n in &e.names {
                match n.strip_prefix("*.") {
                    Some(parent) => wildcard
                        .entry(parent.to_string())
                        .or_insert_with(|| e.key.clone()),
                    None => exact.entry(n.clone()).or_insert_with(|| e.key.clone()),
                };
            }
        }
        Some(SniResolver {
            exact,
            wildcard,
            default,
        })
    }

    /// The certificate for a server name (None: no SNI sent).
    pub fn pick(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = sni else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return k.clone();
        }
        // A wildcard covers exactly one label.
        if let Some((_, parent)) = name.split_once('.')
            && let Some(k) = self.wildcard.get(parent)
        {
            return k.clone();
        }
        self.default.clone()
    }
}

impl rustls::server::ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

#[cfg(test)]
mod tests;
