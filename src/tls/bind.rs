//! The TLS side of a `bind … ssl` line: its options (and `ssl-default-bind-*` from
//! `global`, and the per-line options of `crt-list` files) turned into rustls server
//! configurations, one per certificate, and the choice of one from the ClientHello (SNI
//! against names and crt-list filters, `strict-sni`, the bind's first certificate as
//! default). HAProxy's OpenSSL vocabulary (cipher strings, curve and version names) is
//! mapped onto what rustls offers; what it cannot offer is an error naming it.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ServerConfig, WebPkiClientVerifier};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use std::sync::RwLock;

use crate::tls::load_crt;
use crate::tls::session::{SessionCache, Tickets};
use crate::tls::store::{CellResolver, CertCell, Store};
use crate::tls::verify::{Ignore, IgnoringVerifier};

/// TLS protocol versions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ver {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Ver {
    fn parse(s: &str) -> Option<Ver> {
        Some(match s {
            "SSLv3" => Ver::Ssl3,
            "TLSv1.0" => Ver::Tls10,
            "TLSv1.1" => Ver::Tls11,
            "TLSv1.2" => Ver::Tls12,
            "TLSv1.3" => Ver::Tls13,
            _ => return None,
        })
    }
}

/// `verify none|optional|required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    #[default]
    None,
    Optional,
    Required,
}

/// The TLS settings of a bind line (or of one crt-list line, which starts from them).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    alpn: Option<Vec<Vec<u8>>>,
    min: Option<Ver>,
    max: Option<Ver>,
    /// `no-sslv3`, `no-tlsv10` … (indexed by `Ver`).
    disabled: [bool; 5],
    forced: Option<Ver>,
    ciphers: Option<String>,
    ciphersuites: Option<String>,
    curves: Option<String>,
    ca_file: Option<String>,
    verify: Verify,
    crl_file: Option<String>,
    strict_sni: bool,
    no_tickets: bool,
    prefer_client_ciphers: bool,
    no_ca_names: bool,
    /// `crt-ignore-err`, `ca-ignore-err`.
    crt_ignore: Ignore,
    ca_ignore: Ignore,
}

/// Where relative paths start (`ca-base`, `crt-base`).
#[derive(Debug, Clone, Default)]
pub struct Bases {
    pub ca: Option<String>,
    pub crt: Option<String>,
}

/// `path` relative to `base` (`crt-base`, `ca-base`) unless absolute.
pub fn based_on(base: &Option<String>, path: &str) -> String {
    match base {
        Some(b) if !path.starts_with('/') => format!("{}/{path}", b.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// What HAProxy accepts but halo's TLS library has no use for (said once, at start).
pub const NOT_NEEDED: &[&str] = &["npn", "ecdhe", "sigalgs", "client-sigalgs", "allow-0rtt"];

impl Settings {
    /// Applies one option (`opt` with its arguments). Options that are not TLS settings
    /// of the handshake (`crt`, `crt-list`, …) are left to the caller: Ok(false).
    pub fn apply(&mut self, opt: &str, args: &[String], bases: &Bases) -> Result<bool, String> {
        let arg = || {
            args.first()
                .cloned()
                .ok_or_else(|| format!("'{opt}' expects an argument."))
        };
        match opt {
            "alpn" => {
                let list = arg()?;
                self.alpn = Some(
                    list.split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| p.as_bytes().to_vec())
                        .collect(),
                )
            }
            "no-alpn" => self.alpn = Some(Vec::new()),
            "ssl-min-ver" | "ssl-max-ver" => {
                let v = arg()?;
                let Some(ver) = Ver::parse(&v) else {
                    return Err(format!("'{v}' : unknown ssl/tls version."));
                };
                if opt == "ssl-min-ver" {
                    self.min = Some(ver);
                } else {
                    self.max = Some(ver);
                }
            }
            "no-sslv3" => self.disabled[Ver::Ssl3 as usize] = true,
            "no-tlsv10" => self.disabled[Ver::Tls10 as usize] = true,
            "no-tlsv11" => self.disabled[Ver::Tls11 as usize] = true,
            "no-tlsv12" => self.disabled[Ver::Tls12 as usize] = true,
            "no-tlsv13" => self.disabled[Ver::Tls13 as usize] = true,
            "force-sslv3" => self.forced = Some(Ver::Ssl3),
            "force-tlsv10" => self.forced = Some(Ver::Tls10),
            "force-tlsv11" => self.forced = Some(Ver::Tls11),
            "force-tlsv12" => self.forced = Some(Ver::Tls12),
            "force-tlsv13" => self.forced = Some(Ver::Tls13),
            "ciphers" => self.ciphers = Some(arg()?),
            "ciphersuites" => self.ciphersuites = Some(arg()?),
            "curves" => self.curves = Some(arg()?),
            "ca-file" => self.ca_file = Some(based_on(&bases.ca, &arg()?)),
            "crl-file" => self.crl_file = Some(based_on(&bases.ca, &arg()?)),
            "verify" => {
                self.verify = match arg()?.as_str() {
                    "none" => Verify::None,
                    "optional" => Verify::Optional,
                    "required" => Verify::Required,
                    v => {
                        return Err(format!(
                            "'verify' : unknown verify method '{v}', only 'none', 'optional', and 'required' are supported."
                        ));
                    }
                }
            }
            "strict-sni" => self.strict_sni = true,
            "no-strict-sni" => self.strict_sni = false,
            "no-tls-tickets" => self.no_tickets = true,
            "tls-tickets" => self.no_tickets = false,
            "prefer-client-ciphers" => self.prefer_client_ciphers = true,
            "no-ca-names" => self.no_ca_names = true,
            "crt-ignore-err" => self.crt_ignore = Ignore::parse(opt, &arg()?)?,
            "ca-ignore-err" => self.ca_ignore = Ignore::parse(opt, &arg()?)?,
            o if NOT_NEEDED.contains(&o) => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The protocol versions left by min/max, `no-*` and `force-*`; rustls offers TLS 1.2
    /// and 1.3 only.
    pub(crate) fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
        let allowed = |v: Ver| -> bool {
            if let Some(f) = self.forced {
                return v == f;
            }
            self.min.is_none_or(|m| v >= m)
                && self.max.is_none_or(|m| v <= m)
                && !self.disabled[v as usize]
        };
        let mut out = Vec::new();
        if allowed(Ver::Tls13) {
            out.push(&rustls::version::TLS13);
        }
        if allowed(Ver::Tls12) {
            out.push(&rustls::version::TLS12);
        }
        if out.is_empty() {
            return Err(
                "no TLS version left to offer: halo's TLS library (rustls) speaks TLSv1.2 and TLSv1.3 only, and the settings exclude both."
                    .to_string(),
            );
        }
        Ok(out)
    }

    /// The provider for connections to servers, for the versions the settings leave.
    pub(crate) fn provider_for_client(&self) -> Result<CryptoProvider, String> {
        let v = self.versions()?;
        let tls12 = v
            .iter()
            .any(|v| v.version == rustls::ProtocolVersion::TLSv1_2);
        let tls13 = v
            .iter()
            .any(|v| v.version == rustls::ProtocolVersion::TLSv1_3);
        self.provider(tls12, tls13)
    }

    /// The crypto provider narrowed by `ciphers`, `ciphersuites` and `curves`.
    fn provider(&self, tls12: bool, tls13: bool) -> Result<CryptoProvider, String> {
        let mut p = rustls::crypto::aws_lc_rs::default_provider();
        let all = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
        let mut suites: Vec<SupportedCipherSuite> = Vec::new();
        match (&self.ciphersuites, tls13) {
            (Some(list), true) => {
                let picked = tls13_suites(list, all);
                if picked.is_empty() {
                    return Err(format!(
                        "'ciphersuites {list}' : none of these TLSv1.3 cipher suites is offered by halo's TLS library (it has {}).",
                        names_of(all, true)
                    ));
                }
                suites.extend(picked);
            }
            (None, true) => suites.extend(all.iter().filter(|s| s.tls13().is_some()).copied()),
            _ => {}
        }
        match (&self.ciphers, tls12) {
            (Some(spec), true) => {
                let picked = tls12_suites(spec, all);
                if picked.is_empty() {
                    return Err(format!(
                        "'ciphers {spec}' : none of these ciphers is offered by halo's TLS library (it has {}).",
                        names_of(all, false)
                    ));
                }
                suites.extend(picked);
            }
            (None, true) => suites.extend(all.iter().filter(|s| s.tls13().is_none()).copied()),
            _ => {}
        }
        p.cipher_suites = suites;
        if let Some(list) = &self.curves {
            let mut groups = Vec::new();
            for name in list.split(':').filter(|n| !n.is_empty()) {
                let Some(g) = kx_group(name) else {
                    return Err(format!(
                        "'curves {list}' : curve '{name}' is not offered by halo's TLS library (it has X25519, P-256, P-384, X25519MLKEM768, SecP256r1MLKEM768, MLKEM768, MLKEM1024)."
                    ));
                };
                groups.push(g);
            }
            p.kx_groups = groups;
        }
        Ok(p)
    }
}

/// A key exchange group by its OpenSSL / IANA name.
fn kx_group(name: &str) -> Option<&'static dyn rustls::crypto::SupportedKxGroup> {
    use rustls::crypto::aws_lc_rs::kx_group as k;
    Some(match name.to_ascii_lowercase().as_str() {
        "x25519" => k::X25519,
        "p-256" | "prime256v1" | "secp256r1" => k::SECP256R1,
        "p-384" | "secp384r1" => k::SECP384R1,
        "x25519mlkem768" => k::X25519MLKEM768,
        "secp256r1mlkem768" => k::SECP256R1MLKEM768,
        "mlkem768" => k::MLKEM768,
        "mlkem1024" => k::MLKEM1024,
        _ => return None,
    })
}

/// OpenSSL's name of a cipher suite (IANA's for TLS 1.3, as OpenSSL names them).
pub fn openssl_name(s: SupportedCipherSuite) -> String {
    let iana = format!("{:?}", s.suite());
    let iana = iana
        .strip_prefix("TLS13_")
        .map_or(iana.clone(), |r| format!("TLS_{r}"));
    let Some(rest) = iana.strip_prefix("TLS_ECDHE_") else {
        return iana;
    };
    // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 → ECDHE-RSA-AES128-GCM-SHA256.
    let Some((auth, cipher)) = rest.split_once("_WITH_") else {
        return iana;
    };
    let cipher = cipher
        .replace("AES_128_", "AES128_")
        .replace("AES_256_", "AES256_")
        .replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305")
        .replace('_', "-");
    format!("ECDHE-{auth}-{cipher}")
}

fn names_of(all: &[SupportedCipherSuite], tls13: bool) -> String {
    all.iter()
        .filter(|s| s.tls13().is_some() == tls13)
        .map(|s| openssl_name(*s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ciphersuites`: a colon-separated list of TLS 1.3 suite names.
fn tls13_suites(list: &str, all: &[SupportedCipherSuite]) -> Vec<SupportedCipherSuite> {
    let mut out = Vec::new();
    for name in list.split(':').filter(|n| !n.is_empty()) {
        if let Some(s) = all
            .iter()
            .find(|s| s.tls13().is_some() && openssl_name(**s) == name)
            && !out.contains(s)
        {
            out.push(*s);
        }
    }
    out
}

/// Whether a TLS 1.2 suite belongs to an OpenSSL cipher-string word (a suite name or one
/// of OpenSSL's aliases).
fn in_alias(s: SupportedCipherSuite, word: &str) -> bool {
    let name = openssl_name(s);
    let ecdsa = name.contains("-ECDSA-");
    let aes128 = name.contains("AES128");
    let aes256 = name.contains("AES256");
    let chacha = name.contains("CHACHA20");
    let sha384 = name.ends_with("SHA384");
    match word {
        w if w == name => true,
        "ALL"
        | "DEFAULT"
        | "HIGH"
        | "COMPLEMENTOFDEFAULT"
        | "TLSv1.2"
        | "kECDHE"
        | "kEECDH"
        | "ECDHE"
        | "EECDH"
        | "ECDH"
        | "AEAD"
        | "FIPS" => !(word == "FIPS" && chacha),
        "aECDSA" | "ECDSA" => ecdsa,
        "aRSA" => !ecdsa,
        "AES" => aes128 || aes256,
        "AESGCM" => aes128 || aes256,
        "AES128" => aes128,
        "AES256" => aes256,
        "CHACHA20" => chacha,
        "SHA384" => sha384,
        "SHA256" => !sha384,
        _ => false,
    }
}

/// `ciphers`: an OpenSSL cipher string (`A:B`, `!X` / `-X` removal, `+X` reordering,
/// `A+B` intersections) evaluated over the TLS 1.2 suites rustls has. Words naming
/// ciphers rustls does not have select nothing, as OpenSSL skips what it lacks.
fn tls12_suites(spec: &str, all: &[SupportedCipherSuite]) -> Vec<SupportedCipherSuite> {
    let tls12: Vec<SupportedCipherSuite> = all
        .iter()
        .filter(|s| s.tls13().is_none())
        .copied()
        .collect();
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    let mut banned: Vec<SupportedCipherSuite> = Vec::new();
    for item in spec.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
        let (op, body) = match item.as_bytes()[0] {
            b'!' | b'-' | b'+' => (item.as_bytes()[0], &item[1..]),
            _ => (b' ', item),
        };
        if body.starts_with('@') {
            continue;
        }
        let matching: Vec<SupportedCipherSuite> = tls12
            .iter()
            .filter(|s| body.split('+').all(|w| in_alias(**s, w)))
            .copied()
            .collect();
        match op {
            b'!' => {
                out.retain(|s| !matching.contains(s));
                banned.extend(matching);
            }
            b'-' => out.retain(|s| !matching.contains(s)),
            b'+' => {
                let (moved, kept): (Vec<_>, Vec<_>) =
                    out.iter().partition(|s| matching.contains(s));
                out = kept.into_iter().chain(moved).collect();
            }
            _ => {
                for s in matching {
                    if !out.contains(&s) && !banned.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
    }
    out
}

/// One certificate of a bind line with the configuration serving it.
struct Entry {
    cell: Arc<CertCell>,
    config: Arc<ServerConfig>,
    /// The same without ALPN: used when the client offers none of the bind's protocols
    /// (OpenSSL then goes on without ALPN where rustls would refuse the handshake).
    config_no_alpn: Arc<ServerConfig>,
    alpn: Vec<Vec<u8>>,
    /// The client certificate verifier when errors are ignored (to tell which).
    verifier: Option<Arc<IgnoringVerifier>>,
    /// The names of its crt-list line's filters (lower case); none: the certificate's own.
    filters: Vec<String>,
    /// Names excluded by `!name` filters of its crt-list line.
    excluded: Vec<String>,
    /// The crt-list and line it comes from.
    origin: Option<(String, usize)>,
}

/// Which entry serves which name.
#[derive(Default)]
struct SniMaps {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    /// The certificate used when no name matched (the first one, or a `*` filter).
    default: Option<usize>,
}

/// The certificates of a bind line and their name index, changed together by the runtime
/// API (`commit ssl cert`, `add/del ssl crt-list`).
#[derive(Default)]
struct Certs {
    entries: Vec<Entry>,
    maps: SniMaps,
}

/// What serves one handshake: the configuration, the certificate, and the verifier that
/// tells which client certificate errors were ignored.
pub struct Chosen {
    pub config: Arc<ServerConfig>,
    pub key: Arc<rustls::sign::CertifiedKey>,
    pub verifier: Option<Arc<IgnoringVerifier>>,
}

/// What building another entry needs (a line added to a crt-list at run time).
struct Builder {
    base: Settings,
    cache: Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    http: bool,
    bases: Bases,
    max_record: Option<usize>,
}

/// The TLS side of one bind line.
pub struct BindTls {
    certs: RwLock<Certs>,
    builder: Builder,
    strict_sni: bool,
    /// The crt-list files it loaded.
    pub lists: Vec<String>,
    /// Where the bind line is (`file:line`), for runtime API messages.
    pub at: String,
}

impl std::fmt::Debug for BindTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindTls")
            .field("strict_sni", &self.strict_sni)
            .field("lists", &self.lists)
            .finish()
    }
}

/// What a bind line gives to build its TLS side.
pub struct BindSpec<'a> {
    /// `ssl-default-bind-*` of `global`, as option words.
    pub defaults: &'a [(String, Vec<String>)],
    /// The bind line's options, in order.
    pub options: &'a [(String, Vec<String>)],
    pub bases: &'a Bases,
    /// The frontend is in HTTP mode (ALPN: `h2` is not offered, HTTP/2 is not built).
    pub http: bool,
    /// `tune.ssl.cachesize`: sessions kept for resumption by session id.
    pub cache_size: usize,
    /// `tune.ssl.lifetime`: how long a session can be resumed, in seconds.
    pub lifetime: u64,
    /// `tune.ssl.maxrecord`: the largest record sent (None: 16 kB).
    pub max_record: Option<usize>,
    /// The process's certificates: a file loaded by several bind lines is one cell.
    pub store: &'a Store,
    /// Where the bind line is (`file:line`).
    pub at: String,
}

/// One crt-list line: the certificate file, its own options and its SNI filters.
#[derive(Debug, Clone)]
pub struct CrtListLine {
    pub path: String,
    /// The options between `[` `]` as written, and parsed.
    pub options_text: Option<String>,
    options: Vec<(String, Vec<String>)>,
    pub filters: Vec<String>,
    /// Its line number (lines added at run time continue the file's numbering).
    pub line: usize,
}

impl CrtListLine {
    /// The line as `show ssl crt-list` prints it (with `:N` after the file when `numbered`).
    pub fn render(&self, numbered: bool) -> String {
        let mut o = self.path.clone();
        if numbered {
            o.push_str(&format!(":{}", self.line));
        }
        if let Some(t) = &self.options_text {
            o.push_str(&format!(" [{}]", t.trim()));
        }
        for f in &self.filters {
            o.push(' ');
            o.push_str(f);
        }
        o
    }
}

/// One line of a crt-list (None: blank or comment). Errors name `path` and the line.
pub fn parse_crt_list_line(raw: &str, path: &str, n: usize) -> Result<Option<CrtListLine>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (head, opts, tail) = match (line.find('['), line.find(']')) {
        (Some(a), Some(b)) if a < b => (&line[..a], Some(&line[a + 1..b]), &line[b + 1..]),
        (None, None) => (line, None, ""),
        _ => return Err(format!("crt-list '{path}' line {n} : unbalanced '[' ']'.")),
    };
    let mut words = head.split_whitespace().map(str::to_string);
    let Some(crt) = words.next() else {
        return Err(format!("crt-list '{path}' line {n} : no certificate file."));
    };
    let mut filters: Vec<String> = words.collect();
    filters.extend(tail.split_whitespace().map(str::to_string));
    let mut options = Vec::new();
    if let Some(o) = opts {
        let w: Vec<&str> = o.split_whitespace().collect();
        let mut i = 0;
        while i < w.len() {
            let nargs = halo_config::keywords::bind_option(w[i]).map_or(0, |k| k.args as usize);
            let args = w[i + 1..(i + 1 + nargs).min(w.len())]
                .iter()
                .map(|s| s.to_string())
                .collect();
            options.push((w[i].to_string(), args));
            i += 1 + nargs;
        }
    }
    Ok(Some(CrtListLine {
        path: crt,
        options_text: opts.map(str::to_string),
        options,
        filters,
        line: n,
    }))
}

/// Reads a crt-list file (`<crtfile> [[<sslbindconf> ...]] [[!]<snifilter> ...]`).
pub fn read_crt_list(path: &str) -> Result<Vec<CrtListLine>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot open crt-list '{path}' : {}.", super::io_reason(&e)))?;
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if let Some(l) = parse_crt_list_line(raw, path, n + 1)? {
            out.push(l);
        }
    }
    Ok(out)
}

/// Reads the certificates (or revocation lists) of a `ca-file` / `crl-file`, with
/// HAProxy's words when it cannot.
fn read_pem_file(path: &str, what: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "Couldn't open the ca-file '{path}' ({}).\n'{what}' : unable to load {path}.",
            super::io_reason(&e)
        )
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(format!(
            "Couldn't open the ca-file '{path}' (no certificate or crl found).\n'{what}' : unable to load {path}."
        ));
    }
    Ok(bytes)
}

/// The trust anchors of a `ca-file` (`@system-ca`: the system's bundle).
pub fn load_roots(ca: &str) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let path = if ca == "@system-ca" {
        "/etc/ssl/certs/ca-certificates.crt"
    } else {
        ca
    };
    let bytes = read_pem_file(path, "ca-file")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&bytes) {
        let c = c.map_err(|_| format!("'ca-file' : unable to load {ca}."))?;
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(format!(
            "Couldn't open the ca-file '{ca}' (no certificate or crl found).\n'ca-file' : unable to load {ca}."
        ));
    }
    Ok(roots)
}

/// The revocation lists of a `crl-file`.
pub fn load_crls(
    crl: &str,
) -> Result<Vec<rustls::pki_types::CertificateRevocationListDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let bytes = read_pem_file(crl, "crl-file")?;
    rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("'crl-file' : unable to load {crl}."))
}

/// A certificate's configuration, the ALPN list it offers, and its verifier when client
/// certificate errors are ignored.
type Configured = (ServerConfig, Vec<Vec<u8>>, Option<Arc<IgnoringVerifier>>);

/// The configuration of one certificate under `settings`.
fn server_config(
    settings: &Settings,
    cell: &Arc<CertCell>,
    http: bool,
    cache: &Arc<dyn rustls::server::StoresServerSessions>,
    ticketer: &Option<Arc<dyn rustls::server::ProducesTickets>>,
) -> Result<Configured, String> {
    let versions = settings.versions()?;
    let tls12 = versions
        .iter()
        .any(|v| v.version == rustls::ProtocolVersion::TLSv1_2);
    let tls13 = versions
        .iter()
        .any(|v| v.version == rustls::ProtocolVersion::TLSv1_3);
    let provider = Arc::new(settings.provider(tls12, tls13)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS settings rejected: {e}."))?;
    let mut ignoring = None;
    let builder = match (&settings.ca_file, settings.verify) {
        (_, Verify::None) => builder.with_no_client_auth(),
        (None, _) => {
            return Err("verify is enabled but no CA file specified (use 'ca-file').".to_string());
        }
        (Some(ca), v) => {
            let roots = load_roots(ca)?;
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if let Some(crl) = &settings.crl_file {
                vb = vb
                    .with_crls(load_crls(crl)?)
                    .allow_unknown_revocation_status();
            }
            if settings.no_ca_names {
                vb = vb.clear_root_hint_subjects();
            }
            if v == Verify::Optional {
                vb = vb.allow_unauthenticated();
            }
            let verifier = vb
                .build()
                .map_err(|e| format!("unable to use CA file '{ca}' : {e}."))?;
            ignoring = IgnoringVerifier::wrap(
                verifier.clone(),
                settings.crt_ignore.clone(),
                settings.ca_ignore.clone(),
            );
            match &ignoring {
                Some(v) => builder.with_client_cert_verifier(v.clone()),
                None => builder.with_client_cert_verifier(verifier),
            }
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(CellResolver(cell.clone())));
    let alpn = match &settings.alpn {
        Some(list) => list
            .iter()
            .filter(|p| !(http && p.as_slice() == b"h2"))
            .cloned()
            .collect(),
        // HAProxy 3.x advertises h2,http/1.1 by default on HTTP frontends; HTTP/2 is not
        // built yet, so http/1.1 alone.
        None if http => vec![b"http/1.1".to_vec()],
        None => Vec::new(),
    };
    cfg.alpn_protocols = alpn.clone();
    cfg.session_storage = cache.clone();
    if let (Some(t), false) = (ticketer, settings.no_tickets) {
        cfg.ticketer = t.clone();
    }
    cfg.ignore_client_order = !settings.prefer_client_ciphers;
    Ok((cfg, alpn, ignoring))
}

impl BindTls {
    /// Builds the TLS side of a bind line; errors are worded for `'bind ADDR' : …`.
    pub fn build(spec: &BindSpec<'_>) -> Result<BindTls, String> {
        let mut base = Settings::default();
        for (o, a) in spec.defaults.iter().chain(spec.options.iter()) {
            base.apply(o, a, spec.bases)?;
        }
        let tls = BindTls {
            certs: RwLock::new(Certs::default()),
            builder: Builder {
                base: base.clone(),
                cache: Arc::new(SessionCache::new(spec.cache_size, spec.lifetime)),
                ticketer: Tickets::new(spec.lifetime)
                    .map(|t| Arc::new(t) as Arc<dyn rustls::server::ProducesTickets>),
                http: spec.http,
                bases: spec.bases.clone(),
                max_record: spec.max_record,
            },
            strict_sni: base.strict_sni,
            lists: Vec::new(),
            at: spec.at.clone(),
        };
        let mut tls = tls;
        for (opt, args) in spec.options {
            match opt.as_str() {
                "crt" => {
                    let Some(p) = args.first() else { continue };
                    for cert in load_crt(&based_on(&spec.bases.crt, p))? {
                        tls.add_entry(&base, spec.store.cell(cert), &[], None)?;
                    }
                }
                "crt-list" => {
                    let Some(p) = args.first() else { continue };
                    let lines = read_crt_list(p)?;
                    for line in &lines {
                        tls.add_line(p, line, spec.store)?;
                    }
                    spec.store.note_list(p, lines);
                    tls.lists.push(p.clone());
                }
                _ => {}
            }
        }
        if tls.entries_len() == 0 && !tls.strict_sni {
            return Err("no SSL certificate specified (use 'crt').".to_string());
        }
        tls.reindex();
        Ok(tls)
    }

    fn entries_len(&self) -> usize {
        self.read().entries.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Certs> {
        self.certs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Certs> {
        self.certs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a certificate served with `settings` (names from `filters`, else its own).
    fn add_entry(
        &self,
        settings: &Settings,
        cell: Arc<CertCell>,
        filters: &[String],
        origin: Option<(String, usize)>,
    ) -> Result<(), String> {
        let b = &self.builder;
        let (mut cfg, alpn, verifier) =
            server_config(settings, &cell, b.http, &b.cache, &b.ticketer)?;
        // Record header included, as rustls counts.
        cfg.max_fragment_size = b.max_record.map(|n| n + 5);
        let mut no_alpn = cfg.clone();
        no_alpn.alpn_protocols.clear();
        self.write().entries.push(Entry {
            cell,
            config: Arc::new(cfg),
            config_no_alpn: Arc::new(no_alpn),
            alpn,
            verifier,
            filters: filters
                .iter()
                .filter(|f| !f.starts_with('!'))
                .map(|f| f.to_ascii_lowercase())
                .collect(),
            excluded: filters
                .iter()
                .filter_map(|f| f.strip_prefix('!'))
                .map(|f| f.to_ascii_lowercase())
                .collect(),
            origin,
        });
        Ok(())
    }

    /// Adds the certificates of a crt-list line, with the line's own options.
    pub fn add_line(&self, list: &str, line: &CrtListLine, store: &Store) -> Result<(), String> {
        let mut s = self.builder.base.clone();
        for (o, a) in &line.options {
            s.apply(o, a, &self.builder.bases)?;
        }
        let path = based_on(&self.builder.bases.crt, &line.path);
        let cells = match store.existing(&path) {
            Some(c) => vec![c],
            None => load_crt(&path)?
                .into_iter()
                .map(|c| store.cell(c))
                .collect(),
        };
        for cell in cells {
            self.add_entry(&s, cell, &line.filters, Some((list.to_string(), line.line)))?;
        }
        Ok(())
    }

    /// Removes what a crt-list line added.
    pub fn remove_line(&self, list: &str, n: usize) {
        self.write()
            .entries
            .retain(|e| e.origin.as_ref() != Some(&(list.to_string(), n)));
        self.reindex();
    }

    /// Whether the line gives the bind line its default certificate.
    pub fn line_is_default(&self, list: &str, n: usize) -> bool {
        let c = self.read();
        c.maps
            .default
            .and_then(|i| c.entries.get(i))
            .is_some_and(|e| e.origin.as_ref() == Some(&(list.to_string(), n)))
    }

    /// Rebuilds which entry serves which name (at start, and after the runtime API
    /// changed a certificate or a crt-list).
    pub fn reindex(&self) {
        let mut c = self.write();
        let mut m = SniMaps::default();
        for (i, e) in c.entries.iter().enumerate() {
            let names = if e.filters.is_empty() {
                e.cell.names()
            } else {
                e.filters.clone()
            };
            for n in &names {
                if n == "*" {
                    m.default.get_or_insert(i);
                } else if let Some(parent) = n.strip_prefix("*.") {
                    m.wildcard.entry(parent.to_string()).or_insert(i);
                } else {
                    m.exact.entry(n.clone()).or_insert(i);
                }
            }
            if i == 0 && !names.iter().any(|n| n == "*") {
                m.default.get_or_insert(0);
            }
        }
        c.maps = m;
    }

    /// Whether one of its certificates is that file.
    pub fn uses(&self, cell: &Arc<CertCell>) -> bool {
        self.read()
            .entries
            .iter()
            .any(|e| Arc::ptr_eq(&e.cell, cell))
    }

    /// The configuration for a ClientHello: the certificate naming its SNI exactly, else
    /// by a one-label wildcard (unless a `!name` filter of that line excludes it), else
    /// the default one — none with `strict-sni`.
    pub fn config_for(&self, hello: &ClientHello<'_>, sni: Option<&str>) -> Option<Chosen> {
        let c = self.read();
        let i = Self::pick_in(&c, self.strict_sni, sni)?;
        let e = c.entries.get(i)?;
        let offered = hello
            .alpn()
            .map(|mut it| it.any(|p| e.alpn.iter().any(|a| a == p)))
            .unwrap_or(true);
        let config = if offered || e.alpn.is_empty() {
            e.config.clone()
        } else {
            e.config_no_alpn.clone()
        };
        Some(Chosen {
            config,
            key: e.cell.key(),
            verifier: e.verifier.clone(),
        })
    }

    #[cfg(test)]
    pub(crate) fn pick(&self, sni: Option<&str>) -> Option<usize> {
        Self::pick_in(&self.read(), self.strict_sni, sni)
    }

    fn pick_in(c: &Certs, strict: bool, sni: Option<&str>) -> Option<usize> {
        let maps = &c.maps;
        let fallback = if strict { None } else { maps.default };
        let Some(name) = sni else {
            return fallback;
        };
        // Compared without case, as written otherwise (a trailing dot matches nothing).
        let name = name.to_ascii_lowercase();
        if let Some(i) = maps.exact.get(&name) {
            return Some(*i);
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(i) = maps.wildcard.get(parent)
            && !c.entries[*i].excluded.contains(&name)
        {
            return Some(*i);
        }
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_strings_map_onto_rustls_suites() {
        let all = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
        let names = |v: Vec<SupportedCipherSuite>| -> Vec<String> {
            v.into_iter().map(openssl_name).collect()
        };
        assert_eq!(
            names(tls12_suites("ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", all)),
            ["ECDHE-RSA-AES128-GCM-SHA256"]
        );
        let high = names(tls12_suites("HIGH:!aNULL:!MD5:!ECDSA", all));
        assert_eq!(high.len(), 3, "{high:?}");
        assert!(high.iter().all(|n| n.starts_with("ECDHE-RSA-")));
        assert_eq!(names(tls12_suites("EECDH+AESGCM:EDH+AESGCM", all)).len(), 4);
        assert!(tls12_suites("RC4-SHA:DES-CBC3-SHA", all).is_empty());
        assert_eq!(
            names(tls13_suites("TLS_AES_128_GCM_SHA256:TLS_NOPE", all)),
            ["TLS_AES_128_GCM_SHA256"]
        );
    }

    #[test]
    fn versions_follow_min_max_no_and_force() {
        let b = Bases::default();
        let mut s = Settings::default();
        assert_eq!(s.versions().unwrap().len(), 2);
        s.apply("ssl-min-ver", &["TLSv1.3".into()], &b).unwrap();
        assert_eq!(s.versions().unwrap().len(), 1);
        s.apply("ssl-max-ver", &["TLSv1.2".into()], &b).unwrap();
        assert!(s.versions().is_err());
        let mut s = Settings::default();
        s.apply("force-tlsv12", &[], &b).unwrap();
        assert_eq!(
            s.versions().unwrap()[0].version,
            rustls::ProtocolVersion::TLSv1_2
        );
        assert!(s.apply("ssl-min-ver", &["TLSv9".into()], &b).is_err());
    }
}
