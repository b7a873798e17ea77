//! The TLS side of a `server … ssl` line (and `check-ssl`): its options, with
//! `ssl-default-server-*` and `ssl-server-verify` from `global`, turned into rustls client
//! configurations; the server's certificate verified against `ca-file` and the name of
//! `sni` (else `verifyhost`, else no name, as HAProxy), sessions resumed per server
//! unless `no-ssl-reuse`.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use crate::tls::bind::{Bases, Settings};
use crate::tls::conn::TlsConn;

/// What a server line says about TLS.
pub struct ServerTls {
    /// Traffic goes over TLS (`ssl`).
    pub ssl: bool,
    /// Health checks go over TLS (`check-ssl`, or `ssl` without a check `port`/`addr`).
    pub check_ssl: bool,
    /// `sni EXPR` as written (compiled by the caller, evaluated per connection).
    pub sni: Option<String>,
    /// `check-sni NAME`.
    pub check_sni: Option<String>,
    verifyhost: Option<String>,
    /// For connections sending an SNI, and for those without one.
    with_sni: Arc<ClientConfig>,
    no_sni: Arc<ClientConfig>,
    /// For checks (`check-alpn` instead of `alpn`).
    check_with_sni: Arc<ClientConfig>,
    check_no_sni: Arc<ClientConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("ssl", &self.ssl)
            .field("check_ssl", &self.check_ssl)
            .field("sni", &self.sni)
            .finish()
    }
}

/// The server-side settings beyond those a bind line shares.
#[derive(Default, Clone)]
struct ServerOnly {
    ssl: bool,
    check_ssl: Option<bool>,
    verify: Option<bool>,
    verifyhost: Option<String>,
    sni: Option<String>,
    check_sni: Option<String>,
    crt: Option<String>,
    alpn: Option<Vec<Vec<u8>>>,
    check_alpn: Option<Vec<Vec<u8>>>,
    no_reuse: bool,
    no_tickets: bool,
    ca_file: Option<String>,
    crl_file: Option<String>,
}

/// Where the global defaults come from.
pub struct ServerSpec<'a> {
    /// `ssl-default-server-options`, `-ciphers`, `-ciphersuites`, as server options.
    pub defaults: &'a [(String, Vec<String>)],
    /// The server line's options (with what `default-server` gave), in order.
    pub options: &'a [(String, Vec<String>)],
    /// `ssl-server-verify` (true: required, HAProxy's default).
    pub verify_default: bool,
    pub bases: &'a Bases,
    /// The check goes elsewhere (`port`/`addr`): `ssl` alone does not make it TLS.
    pub check_elsewhere: bool,
    /// `tune.ssl.maxrecord`: the largest record sent (None: 16 kB).
    pub max_record: Option<usize>,
    /// A check rule of the backend says `connect ssl`: the TLS settings are needed even
    /// without `ssl` or `check-ssl`.
    pub checks_need_tls: bool,
    /// The backend is in HTTP mode: `h2` is not offered (halo speaks HTTP/1.1 to
    /// servers until HTTP/2 is built; offering h2 would let a server pick it).
    pub http: bool,
}

/// An `alpn` list (`h2` left out with `no_h2`).
fn protocols(list: &str, no_h2: bool) -> Vec<Vec<u8>> {
    list.split(',')
        .filter(|p| !(p.is_empty() || (no_h2 && *p == "h2")))
        .map(|p| p.as_bytes().to_vec())
        .collect()
}

impl ServerTls {
    /// None when neither traffic nor checks use TLS.
    pub fn build(spec: &ServerSpec<'_>) -> Result<Option<ServerTls>, String> {
        let mut shared = Settings::default();
        let mut own = ServerOnly::default();
        for (opt, args) in spec.defaults.iter().chain(spec.options.iter()) {
            let arg = || {
                args.first()
                    .cloned()
                    .ok_or_else(|| format!("'{opt}' expects an argument."))
            };
            match opt.as_str() {
                "ssl" => own.ssl = true,
                "no-ssl" => own.ssl = false,
                "check-ssl" => own.check_ssl = Some(true),
                "no-check-ssl" => own.check_ssl = Some(false),
                "verify" => {
                    own.verify = Some(match arg()?.as_str() {
                        "none" => false,
                        "required" => true,
                        v => {
                            return Err(format!(
                                "'verify' : unknown verify method '{v}', only 'none' and 'required' are supported."
                            ));
                        }
                    })
                }
                "verifyhost" => own.verifyhost = Some(arg()?),
                "no-verifyhost" => own.verifyhost = None,
                "sni" => own.sni = Some(arg()?),
                "check-sni" => own.check_sni = Some(arg()?),
                "crt" => own.crt = Some(super::bind::based_on(&spec.bases.crt, &arg()?)),
                "alpn" => own.alpn = Some(protocols(&arg()?, spec.http)),
                "check-alpn" => own.check_alpn = Some(protocols(&arg()?, false)),
                "no-ssl-reuse" => own.no_reuse = true,
                "ssl-reuse" => own.no_reuse = false,
                "no-tls-tickets" => own.no_tickets = true,
                "tls-tickets" => own.no_tickets = false,
                "ca-file" => {
                    let v = arg()?;
                    own.ca_file = Some(if v.starts_with('@') {
                        v
                    } else {
                        super::bind::based_on(&spec.bases.ca, &v)
                    })
                }
                "crl-file" => own.crl_file = Some(super::bind::based_on(&spec.bases.ca, &arg()?)),
                _ => {
                    shared.apply(opt, args, spec.bases)?;
                }
            }
        }
        let check_ssl = own.check_ssl.unwrap_or(own.ssl && !spec.check_elsewhere);
        if !own.ssl && !check_ssl && !spec.checks_need_tls {
            return Ok(None);
        }
        let verify = own.verify.unwrap_or(spec.verify_default);
        if verify && own.ca_file.is_none() {
            return Err("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.".into());
        }
        let provider = Arc::new(shared.provider_for_client()?);
        let verifier: Arc<dyn ServerCertVerifier> = if verify {
            let ca = own.ca_file.as_deref().unwrap_or_default();
            let roots = super::bind::load_roots(ca)?;
            let mut b =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if let Some(crl) = &own.crl_file {
                b = b
                    .with_crls(super::bind::load_crls(crl)?)
                    .allow_unknown_revocation_status();
            }
            let inner = b
                .build()
                .map_err(|e| format!("unable to use CA file '{ca}' : {e}."))?;
            Arc::new(NameWhenGiven(inner))
        } else {
            Arc::new(NoVerify(provider.clone()))
        };
        let client_cert = match &own.crt {
            Some(path) => {
                let mut certs = super::load_crt(path)?;
                let e = certs.remove(0);
                Some(e.key)
            }
            None => None,
        };
        let versions = shared.versions()?;
        let make = |alpn: &Option<Vec<Vec<u8>>>, sni: bool| -> Result<Arc<ClientConfig>, String> {
            let b = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&versions)
                .map_err(|e| format!("TLS settings rejected: {e}."))?
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone());
            let mut cfg = match &client_cert {
                Some(k) => b.with_client_cert_resolver(Arc::new(
                    rustls::sign::SingleCertAndKey::from(k.clone()),
                )),
                None => b.with_no_client_auth(),
            };
            cfg.alpn_protocols = alpn.clone().unwrap_or_default();
            cfg.enable_sni = sni;
            cfg.max_fragment_size = spec.max_record.map(|n| n + 5);
            cfg.resumption = if own.no_reuse {
                Resumption::disabled()
            } else if own.no_tickets {
                Resumption::in_memory_sessions(64)
                    .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly)
            } else {
                Resumption::in_memory_sessions(64)
            };
            Ok(Arc::new(cfg))
        };
        Ok(Some(ServerTls {
            ssl: own.ssl,
            check_ssl,
            sni: own.sni.clone(),
            check_sni: own.check_sni.clone(),
            verifyhost: own.verifyhost.clone(),
            with_sni: make(&own.alpn, true)?,
            no_sni: make(&own.alpn, false)?,
            check_with_sni: make(&own.check_alpn, true)?,
            check_no_sni: make(&own.check_alpn, false)?,
        }))
    }

    /// The TLS handshake with a server over a connected socket: SNI `sni` when given (the
    /// certificate is then checked against it), else none (checked against `verifyhost`,
    /// else not against a name).
    pub async fn connect(
        &self,
        sock: TcpStream,
        sni: Option<&str>,
        ip: IpAddr,
        check: bool,
    ) -> std::io::Result<TlsConn<TcpStream>> {
        self.connect_with(sock, sni, None, ip, check).await
    }

    /// `connect`, with the ALPN list of a check's `connect … alpn` rule when given.
    pub async fn connect_with(
        &self,
        sock: TcpStream,
        sni: Option<&str>,
        alpn: Option<&str>,
        ip: IpAddr,
        check: bool,
    ) -> std::io::Result<TlsConn<TcpStream>> {
        // A check sends `check-sni` unless its connect rule names one.
        let sni = if check {
            sni.or(self.check_sni.as_deref())
        } else {
            sni
        };
        let (config, name) = match sni.and_then(|s| ServerName::try_from(s.to_string()).ok()) {
            Some(n) => (
                if check {
                    &self.check_with_sni
                } else {
                    &self.with_sni
                },
                n,
            ),
            None => {
                let cfg = if check {
                    &self.check_no_sni
                } else {
                    &self.no_sni
                };
                let name = self
                    .verifyhost
                    .as_deref()
                    .and_then(|h| ServerName::try_from(h.to_string()).ok())
                    .unwrap_or(ServerName::IpAddress(ip.into()));
                (cfg, name)
            }
        };
        let config = match alpn {
            Some(list) => {
                let mut c = (**config).clone();
                c.alpn_protocols = protocols(list, false);
                Arc::new(c)
            }
            None => config.clone(),
        };
        let conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        TlsConn::connect(sock, conn, sni).await
    }
}

/// HAProxy's rule for names: checked against the connection's name when there is one (an
/// SNI or `verifyhost`), not checked when the connection was made by address only.
#[derive(Debug)]
struct NameWhenGiven(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NameWhenGiven {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) if matches!(server_name, ServerName::IpAddress(_)) => {
                Ok(ServerCertVerified::assertion())
            }
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `verify none`: any certificate (the handshake's signatures are still checked).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
