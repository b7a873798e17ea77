//! The TLS fetches of the client connection (manual 7.3.4): `ssl_fc*` (what the handshake
//! negotiated), `ssl_c_*` (the client's certificate) and `ssl_f_*` (the certificate halo
//! presented), read from the connection's `TlsInfo`. Distinguished names print as
//! HAProxy prints them (`/C=FR/O=Org/CN=name`, or RFC 2253 on request).

use std::borrow::Cow;

use super::{Ctx, OutputKind, Sample};
use crate::tls::TlsInfo;

/// A field of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertField {
    Der,
    Serial,
    Sha1,
    NotBefore,
    NotAfter,
    Version,
    SigAlg,
    KeyAlg,
    /// `s_dn` / `i_dn` with the optional entry, occurrence and format arguments.
    Dn {
        issuer: bool,
        entry: Option<String>,
        occ: i64,
        rfc2253: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslFetch {
    Fc,
    FcSni,
    FcHasSni,
    FcProtocol,
    FcCipher,
    FcAlpn,
    FcKeysize,
    FcIsResumed,
    FcHasCrt,
    FcCurve,
    /// `ssl_c_used`: the client sent a certificate (this connection).
    CUsed,
    /// `ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`, `ssl_c_ca_err_depth`: what the
    /// verification found (0 unless `crt-ignore-err` / `ca-ignore-err` let it pass).
    CVerify,
    CErr,
    CCaErr,
    CCaErrDepth,
    /// A field of the client's (`client` true) or halo's certificate.
    Cert(bool, CertField),
    /// `ssl_bc_err`, `ssl_fc_err`: 0 on an established connection.
    NoError,
    /// `fc_err`: 0, a stream's client connection is established (TLS or not);
    /// `fc_err_str`: its text, "Success".
    ConnNoError,
    ConnNoErrorStr,
    /// The same fetch on the connection to the server (`ssl_bc_*`; `ssl_s_*` for the
    /// server's certificate).
    Backend(Box<SslFetch>),
}

/// Compiles `name(args)` when it is a TLS fetch of the client connection.
pub fn compile(name: &str, args: &[String]) -> Option<Result<SslFetch, String>> {
    use SslFetch::*;
    let backend = match name {
        "ssl_bc" | "ssl_bc_sni" | "ssl_bc_protocol" | "ssl_bc_cipher" | "ssl_bc_alpn"
        | "ssl_bc_alg_keysize" | "ssl_bc_use_keysize" | "ssl_bc_is_resumed" | "ssl_bc_curve" => {
            Some(name.replacen("ssl_bc", "ssl_fc", 1))
        }
        "ssl_bc_err" => return Some(Ok(Backend(Box::new(NoError)))),
        "ssl_fc_err" => return Some(Ok(NoError)),
        "fc_err" => return Some(Ok(ConnNoError)),
        "fc_err_str" => return Some(Ok(ConnNoErrorStr)),
        _ => name.strip_prefix("ssl_s_").map(|f| format!("ssl_f_{f}")),
    };
    if let Some(fc) = backend {
        return Some(compile(&fc, args)?.map(|f| Backend(Box::new(f))));
    }
    let f = match name {
        "ssl_fc" => Fc,
        "ssl_fc_sni" => FcSni,
        "ssl_fc_has_sni" => FcHasSni,
        "ssl_fc_protocol" => FcProtocol,
        "ssl_fc_cipher" => FcCipher,
        "ssl_fc_alpn" => FcAlpn,
        "ssl_fc_alg_keysize" | "ssl_fc_use_keysize" => FcKeysize,
        "ssl_fc_is_resumed" => FcIsResumed,
        "ssl_fc_has_crt" => FcHasCrt,
        "ssl_fc_curve" => FcCurve,
        "ssl_c_used" => CUsed,
        "ssl_c_verify" => CVerify,
        "ssl_c_err" => CErr,
        "ssl_c_ca_err" => CCaErr,
        "ssl_c_ca_err_depth" => CCaErrDepth,
        _ => {
            let (client, field) = if let Some(f) = name.strip_prefix("ssl_c_") {
                (true, f)
            } else if let Some(f) = name.strip_prefix("ssl_f_") {
                (false, f)
            } else {
                return None;
            };
            let field = match field {
                "der" => CertField::Der,
                "serial" => CertField::Serial,
                "sha1" => CertField::Sha1,
                "notbefore" => CertField::NotBefore,
                "notafter" => CertField::NotAfter,
                "version" => CertField::Version,
                "sig_alg" => CertField::SigAlg,
                "key_alg" => CertField::KeyAlg,
                "s_dn" | "i_dn" => match dn_args(name, args) {
                    Ok((entry, occ, rfc2253)) => CertField::Dn {
                        issuer: field == "i_dn",
                        entry,
                        occ,
                        rfc2253,
                    },
                    Err(e) => return Some(Err(e)),
                },
                _ => return None,
            };
            Cert(client, field)
        }
    };
    Some(Ok(f))
}

/// `([<entry>[,<occ>[,<format>]]])` of the DN fetches.
fn dn_args(name: &str, args: &[String]) -> Result<(Option<String>, i64, bool), String> {
    let entry = args.first().filter(|e| !e.is_empty()).cloned();
    let occ = match args.get(1).filter(|o| !o.is_empty()) {
        Some(o) => o
            .parse::<i64>()
            .map_err(|_| format!("fetch method '{name}': invalid occurrence '{o}'"))?,
        None => 0,
    };
    let rfc2253 = match args.get(2).map(String::as_str) {
        None | Some("") => false,
        Some("rfc2253") => true,
        Some(f) => {
            return Err(format!(
                "fetch method '{name}': only rfc2253 or a blank value are currently supported as the format argument, not '{f}'"
            ));
        }
    };
    Ok((entry, occ, rfc2253))
}

impl SslFetch {
    pub fn output_kind(&self) -> OutputKind {
        use SslFetch::*;
        match self {
            Backend(f) => f.output_kind(),
            Fc | FcHasSni | FcIsResumed | FcHasCrt | CUsed => OutputKind::Bool,
            NoError
            | FcKeysize
            | CVerify
            | CErr
            | ConnNoError
            | CCaErr
            | CCaErrDepth
            | Cert(_, CertField::Version) => OutputKind::Int,
            Cert(_, CertField::Der | CertField::Serial | CertField::Sha1) => OutputKind::Bin,
            _ => OutputKind::Str,
        }
    }

    pub fn eval(&self, ctx: &Ctx<'_>) -> Option<Sample<'static>> {
        match self {
            SslFetch::Backend(f) => f.eval_on(ctx.bc_tls),
            f => f.eval_on(ctx.tls),
        }
    }

    fn eval_on(&self, tls: Option<&TlsInfo>) -> Option<Sample<'static>> {
        use SslFetch::*;
        let s = |v: &str| Some(Sample::Str(Cow::Owned(v.as_bytes().to_vec())));
        match self {
            Fc => Some(Sample::Bool(tls.is_some())),
            FcHasSni => Some(Sample::Bool(tls?.sni.is_some())),
            FcSni => s(tls?.sni.as_deref()?),
            FcProtocol => s(tls?.protocol),
            FcCipher => s(&tls?.cipher),
            FcAlpn => Some(Sample::Str(Cow::Owned(tls?.alpn.clone()?))),
            FcKeysize => Some(Sample::Int(i64::from(tls?.keysize))),
            // False (not absent) on a connection in clear, as HAProxy.
            FcIsResumed => Some(Sample::Bool(tls.is_some_and(|t| t.resumed))),
            // A resumed session carries the certificate without sending it again.
            FcHasCrt => Some(Sample::Bool(tls?.client_cert.is_some() && !tls?.resumed)),
            CUsed => Some(Sample::Bool(tls?.client_cert.is_some())),
            FcCurve => s(tls?.curve),
            CVerify => Some(Sample::Int(i64::from(tls?.cert_errors.verify))),
            CErr => Some(Sample::Int(i64::from(tls?.cert_errors.crt))),
            CCaErr => Some(Sample::Int(i64::from(tls?.cert_errors.ca))),
            CCaErrDepth => Some(Sample::Int(i64::from(tls?.cert_errors.ca_depth))),
            NoError => tls.map(|_| Sample::Int(0)),
            ConnNoError => Some(Sample::Int(0)),
            ConnNoErrorStr => Some(Sample::Str(std::borrow::Cow::Borrowed(b"Success"))),
            Backend(f) => f.eval_on(tls),
            Cert(client, field) => {
                let der = cert_of(tls?, *client)?;
                cert_field(der, field)
            }
        }
    }
}

fn cert_of(tls: &TlsInfo, client: bool) -> Option<&[u8]> {
    if client {
        tls.client_cert.as_deref()
    } else {
        tls.server_cert.as_ref().map(|c| c.as_ref())
    }
}

fn cert_field(der: &[u8], field: &CertField) -> Option<Sample<'static>> {
    use sha1::Digest;
    if *field == CertField::Der {
        return Some(Sample::Bin(Cow::Owned(der.to_vec())));
    }
    if *field == CertField::Sha1 {
        return Some(Sample::Bin(Cow::Owned(sha1::Sha1::digest(der).to_vec())));
    }
    let (_, x) = x509_parser::parse_x509_certificate(der).ok()?;
    let str_ = |v: String| Some(Sample::Str(Cow::Owned(v.into_bytes())));
    match field {
        CertField::Serial => Some(Sample::Bin(Cow::Owned(x.raw_serial().to_vec()))),
        CertField::NotBefore => str_(asn1_time(&x.validity().not_before)),
        CertField::NotAfter => str_(asn1_time(&x.validity().not_after)),
        CertField::Version => Some(Sample::Int(i64::from(x.version().0) + 1)),
        CertField::SigAlg => str_(sig_alg_name(
            &x.signature_algorithm.algorithm.to_id_string(),
        )),
        CertField::KeyAlg => str_(key_alg_name(
            &x.public_key().algorithm.algorithm.to_id_string(),
        )),
        CertField::Dn {
            issuer,
            entry,
            occ,
            rfc2253,
        } => {
            let name = if *issuer { x.issuer() } else { x.subject() };
            let attrs = crate::tls::dn_attrs(name);
            match entry {
                Some(e) => {
                    let hits: Vec<&String> = attrs
                        .iter()
                        .filter(|(k, _)| k == e)
                        .map(|(_, v)| v)
                        .collect();
                    let v = match *occ {
                        0 | 1 => hits.first(),
                        n if n > 1 => hits.get(n as usize - 1),
                        n => hits
                            .len()
                            .checked_sub(n.unsigned_abs() as usize)
                            .and_then(|i| hits.get(i)),
                    }?;
                    str_((*v).clone())
                }
                None if *rfc2253 => str_(
                    attrs
                        .iter()
                        .rev()
                        .map(|(k, v)| format!("{k}={}", rfc2253_escape(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                None => str_(crate::tls::dn_oneline(name)),
            }
        }
        CertField::Der | CertField::Sha1 => None,
    }
}

/// An ASN.1 time as the certificate holds it (UTCTime `YYMMDDhhmmssZ` until 2049).
fn asn1_time(t: &x509_parser::time::ASN1Time) -> String {
    let d = t.to_datetime();
    if d.year() < 2050 {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            d.year() % 100,
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    } else {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

fn sig_alg_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "RSA-SHA1",
        "1.2.840.113549.1.1.11" => "RSA-SHA256",
        "1.2.840.113549.1.1.12" => "RSA-SHA384",
        "1.2.840.113549.1.1.13" => "RSA-SHA512",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        other => other,
    }
    .to_string()
}

fn key_alg_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.3.101.112" => "ED25519",
        other => other,
    }
    .to_string()
}

fn rfc2253_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
