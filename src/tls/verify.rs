//! Client certificate verification with `ca-ignore-err` / `crt-ignore-err`: rustls'
//! verifier wrapped so that a failure whose OpenSSL error ID is ignored at its depth lets
//! the handshake go on, and the errors found are what `ssl_c_verify`, `ssl_c_err`,
//! `ssl_c_ca_err` and `ssl_c_ca_err_depth` return. Also the table of OpenSSL's
//! `X509_V_ERR_*` IDs (names accepted in the lists, `x509_v_err_str`).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

/// OpenSSL's verification error IDs (x509_vfy.h, OpenSSL 3).
pub const X509_V_ERRORS: &[(u32, &str)] = &[
    (0, "X509_V_OK"),
    (1, "X509_V_ERR_UNSPECIFIED"),
    (2, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT"),
    (3, "X509_V_ERR_UNABLE_TO_GET_CRL"),
    (4, "X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE"),
    (5, "X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE"),
    (6, "X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY"),
    (7, "X509_V_ERR_CERT_SIGNATURE_FAILURE"),
    (8, "X509_V_ERR_CRL_SIGNATURE_FAILURE"),
    (9, "X509_V_ERR_CERT_NOT_YET_VALID"),
    (10, "X509_V_ERR_CERT_HAS_EXPIRED"),
    (11, "X509_V_ERR_CRL_NOT_YET_VALID"),
    (12, "X509_V_ERR_CRL_HAS_EXPIRED"),
    (13, "X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD"),
    (14, "X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD"),
    (15, "X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD"),
    (16, "X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD"),
    (17, "X509_V_ERR_OUT_OF_MEM"),
    (18, "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"),
    (19, "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN"),
    (20, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
    (21, "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
    (22, "X509_V_ERR_CERT_CHAIN_TOO_LONG"),
    (23, "X509_V_ERR_CERT_REVOKED"),
    (24, "X509_V_ERR_NO_ISSUER_PUBLIC_KEY"),
    (25, "X509_V_ERR_PATH_LENGTH_EXCEEDED"),
    (26, "X509_V_ERR_INVALID_PURPOSE"),
    (27, "X509_V_ERR_CERT_UNTRUSTED"),
    (28, "X509_V_ERR_CERT_REJECTED"),
    (29, "X509_V_ERR_SUBJECT_ISSUER_MISMATCH"),
    (30, "X509_V_ERR_AKID_SKID_MISMATCH"),
    (31, "X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH"),
    (32, "X509_V_ERR_KEYUSAGE_NO_CERTSIGN"),
    (33, "X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER"),
    (34, "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION"),
    (35, "X509_V_ERR_KEYUSAGE_NO_CRL_SIGN"),
    (36, "X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION"),
    (37, "X509_V_ERR_INVALID_NON_CA"),
    (38, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"),
    (39, "X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE"),
    (40, "X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED"),
    (41, "X509_V_ERR_INVALID_EXTENSION"),
    (42, "X509_V_ERR_INVALID_POLICY_EXTENSION"),
    (43, "X509_V_ERR_NO_EXPLICIT_POLICY"),
    (44, "X509_V_ERR_DIFFERENT_CRL_SCOPE"),
    (45, "X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE"),
    (46, "X509_V_ERR_UNNESTED_RESOURCE"),
    (47, "X509_V_ERR_PERMITTED_VIOLATION"),
    (48, "X509_V_ERR_EXCLUDED_VIOLATION"),
    (49, "X509_V_ERR_SUBTREE_MINMAX"),
    (50, "X509_V_ERR_APPLICATION_VERIFICATION"),
    (51, "X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE"),
    (52, "X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX"),
    (53, "X509_V_ERR_UNSUPPORTED_NAME_SYNTAX"),
    (54, "X509_V_ERR_CRL_PATH_VALIDATION_ERROR"),
    (55, "X509_V_ERR_PATH_LOOP"),
    (56, "X509_V_ERR_SUITE_B_INVALID_VERSION"),
    (57, "X509_V_ERR_SUITE_B_INVALID_ALGORITHM"),
    (58, "X509_V_ERR_SUITE_B_INVALID_CURVE"),
    (59, "X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM"),
    (60, "X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED"),
    (61, "X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256"),
    (62, "X509_V_ERR_HOSTNAME_MISMATCH"),
    (63, "X509_V_ERR_EMAIL_MISMATCH"),
    (64, "X509_V_ERR_IP_ADDRESS_MISMATCH"),
    (65, "X509_V_ERR_DANE_NO_MATCH"),
    (66, "X509_V_ERR_EE_KEY_TOO_SMALL"),
    (67, "X509_V_ERR_CA_KEY_TOO_SMALL"),
    (68, "X509_V_ERR_CA_MD_TOO_WEAK"),
    (69, "X509_V_ERR_INVALID_CALL"),
    (70, "X509_V_ERR_STORE_LOOKUP"),
    (71, "X509_V_ERR_NO_VALID_SCTS"),
    (72, "X509_V_ERR_PROXY_SUBJECT_NAME_VIOLATION"),
    (73, "X509_V_ERR_OCSP_VERIFY_NEEDED"),
    (74, "X509_V_ERR_OCSP_VERIFY_FAILED"),
    (75, "X509_V_ERR_OCSP_CERT_UNKNOWN"),
    (76, "X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM"),
    (77, "X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH"),
    (78, "X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY"),
    (79, "X509_V_ERR_INVALID_CA"),
    (80, "X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA"),
    (81, "X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN"),
    (82, "X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA"),
    (83, "X509_V_ERR_ISSUER_NAME_EMPTY"),
    (84, "X509_V_ERR_SUBJECT_NAME_EMPTY"),
    (85, "X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER"),
    (86, "X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER"),
    (87, "X509_V_ERR_EMPTY_SUBJECT_ALT_NAME"),
    (88, "X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL"),
    (89, "X509_V_ERR_CA_BCONS_NOT_CRITICAL"),
    (90, "X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL"),
    (91, "X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL"),
    (92, "X509_V_ERR_CA_CERT_MISSING_KEY_USAGE"),
    (93, "X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3"),
    (94, "X509_V_ERR_EC_KEY_EXPLICIT_PARAMS"),
];

/// The name of an error ID (`x509_v_err_str`).
pub fn error_name(id: i64) -> Option<&'static str> {
    X509_V_ERRORS
        .iter()
        .find(|(i, _)| i64::from(*i) == id)
        .map(|(_, n)| *n)
}

/// The error IDs a `ca-ignore-err` / `crt-ignore-err` list ignores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ignore {
    #[default]
    Nothing,
    All,
    /// Bit `i` set: ID `i` ignored.
    Ids(u128),
}

impl Ignore {
    /// Parses `all` or a comma-separated list of IDs or `X509_V_ERR_*` names.
    pub fn parse(opt: &str, list: &str) -> Result<Ignore, String> {
        if list == "all" {
            return Ok(Ignore::All);
        }
        let mut bits = 0u128;
        for item in list.split(',') {
            let id = match item.parse::<u32>() {
                Ok(n) => n,
                Err(_) => X509_V_ERRORS
                    .iter()
                    .find(|(_, n)| *n == item)
                    .map(|(i, _)| *i)
                    .ok_or_else(|| {
                        format!("'{opt}' : unknown error ID '{item}' in error IDs list '{list}'")
                    })?,
            };
            if !(1..=94).contains(&id) {
                return Err(format!(
                    "'{opt}' : ID '{id}' out of range (1..94) in error IDs list '{list}'"
                ));
            }
            bits |= 1 << id;
        }
        Ok(Ignore::Ids(bits))
    }

    pub fn ignores(&self, id: u32) -> bool {
        match self {
            Ignore::Nothing => false,
            Ignore::All => true,
            Ignore::Ids(bits) => id < 128 && bits & (1 << id) != 0,
        }
    }
}

/// What verification found (all zero when the certificate verified).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertErrors {
    /// `ssl_c_verify`: the verification result.
    pub verify: u32,
    /// `ssl_c_err`: the first error on the client's own certificate.
    pub crt: u32,
    /// `ssl_c_ca_err` and `ssl_c_ca_err_depth`: the first error on its chain.
    pub ca: u32,
    pub ca_depth: u32,
}

impl CertErrors {
    fn record(&mut self, id: u32, depth: u32) {
        self.verify = id;
        if depth == 0 {
            if self.crt == 0 {
                self.crt = id;
            }
        } else if self.ca == 0 {
            self.ca = id;
            self.ca_depth = depth;
        }
    }
}

/// rustls' client certificate verifier with errors ignored by ID.
#[derive(Debug)]
pub struct IgnoringVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    crt: Ignore,
    ca: Ignore,
}

/// Validity window of a certificate, in seconds since the epoch.
fn window(der: &CertificateDer<'_>) -> Option<(i64, i64)> {
    let (_, c) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let v = c.validity();
    Some((v.not_before.timestamp(), v.not_after.timestamp()))
}

fn self_issued(der: &CertificateDer<'_>) -> bool {
    x509_parser::parse_x509_certificate(der.as_ref())
        .map(|(_, c)| c.subject() == c.issuer())
        .unwrap_or(false)
}

/// The OpenSSL ID and depth of a failure, and for a failure about dates, a time at which
/// every certificate presented is valid (to look for other failures there).
fn classify(
    e: &Error,
    ee: &CertificateDer<'_>,
    chain: &[CertificateDer<'_>],
    now: UnixTime,
) -> (u32, u32, Option<UnixTime>) {
    let Error::InvalidCertificate(ce) = e else {
        return (1, 0, None);
    };
    let certs = || std::iter::once(ee).chain(chain.iter());
    let dated = |id: u32| {
        let t = now.as_secs() as i64;
        let windows: Vec<_> = certs().map(window).collect();
        let depth = windows
            .iter()
            .position(|w| w.is_some_and(|(nb, na)| t < nb || t > na))
            .unwrap_or(chain.len() + 1) as u32;
        let from = windows.iter().flatten().map(|w| w.0).max();
        let to = windows.iter().flatten().map(|w| w.1).min();
        let at = match (from, to) {
            (Some(f), Some(t)) if f <= t && f >= 0 => {
                Some(UnixTime::since_unix_epoch(Duration::from_secs(f as u64)))
            }
            _ => None,
        };
        (id, depth, at)
    };
    match ce {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => dated(10),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => dated(9),
        CertificateError::UnknownIssuer => {
            let depth = chain.len() as u32;
            let top = chain.last().unwrap_or(ee);
            let id = match (depth, self_issued(top)) {
                (0, true) => 18,
                (_, true) => 19,
                _ => 20,
            };
            (id, depth, None)
        }
        CertificateError::Revoked => (23, 0, None),
        CertificateError::BadSignature => (7, 0, None),
        CertificateError::UnhandledCriticalExtension => (34, 0, None),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            (26, 0, None)
        }
        CertificateError::UnknownRevocationStatus => (3, 0, None),
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => (12, 0, None),
        CertificateError::BadEncoding => (1, 0, None),
        _ => (1, 0, None),
    }
}

impl IgnoringVerifier {
    /// `inner` alone when nothing is ignored.
    pub fn wrap(
        inner: Arc<dyn ClientCertVerifier>,
        crt: Ignore,
        ca: Ignore,
    ) -> Option<Arc<IgnoringVerifier>> {
        (crt != Ignore::Nothing || ca != Ignore::Nothing)
            .then(|| Arc::new(IgnoringVerifier { inner, crt, ca }))
    }

    /// Verifies as OpenSSL under HAProxy's callback would: each failure is recorded, an
    /// ignored one lets verification go on (dates: at a time inside every certificate's
    /// window; other failures end it, accepted).
    pub fn check(
        &self,
        ee: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> (Result<(), Error>, CertErrors) {
        let mut errors = CertErrors::default();
        let mut at = now;
        for _ in 0..4 {
            let Err(e) = self.inner.verify_client_cert(ee, chain, at) else {
                return (Ok(()), errors);
            };
            let (id, depth, retry) = classify(&e, ee, chain, at);
            errors.record(id, depth);
            let ignored = if depth == 0 {
                self.crt.ignores(id)
            } else {
                self.ca.ignores(id)
            };
            if !ignored {
                return (Err(e), errors);
            }
            match retry {
                Some(t) if t != at => at = t,
                _ => return (Ok(()), errors),
            }
        }
        (Ok(()), errors)
    }

    /// The errors of a chain the handshake accepted (`ssl_c_*` fetches).
    pub fn errors_of(&self, certs: &[CertificateDer<'_>]) -> CertErrors {
        match certs.split_first() {
            Some((ee, chain)) => self.check(ee, chain, UnixTime::now()).1,
            None => CertErrors::default(),
        }
    }
}

impl ClientCertVerifier for IgnoringVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        ee: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check(ee, chain, now)
            .0
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_lists() {
        assert_eq!(Ignore::parse("crt-ignore-err", "all"), Ok(Ignore::All));
        let l = Ignore::parse("crt-ignore-err", "X509_V_ERR_CERT_HAS_EXPIRED,23").expect("list");
        assert!(l.ignores(10) && l.ignores(23) && !l.ignores(9));
        assert_eq!(
            Ignore::parse("crt-ignore-err", "0"),
            Err("'crt-ignore-err' : ID '0' out of range (1..94) in error IDs list '0'".to_string())
        );
        assert!(Ignore::parse("ca-ignore-err", "X509_V_ERR_NOPE").is_err());
        assert_eq!(error_name(10), Some("X509_V_ERR_CERT_HAS_EXPIRED"));
        assert_eq!(error_name(0), Some("X509_V_OK"));
        assert_eq!(error_name(999), None);
    }
}
