//! Certificate authentication for IKEv2 (RFC 7296 §2.15, §3.6; RFC 4945; RFC 7427; RFC 4754).
//!
//! Room and rules:
//! - Gateway side: [`verify_server`] checks the responder's CERT payloads against a
//!   [`TrustStore`] at a caller-given `now`, checks that the certificate may sign for IKE and
//!   that it names the gateway, and returns a [`VerifiedServer`] whose key then verifies the
//!   AUTH payload ([`VerifiedServer::verify_auth`]).
//! - Client side: [`ClientCredential`] loads a private key and chain (PEM, DER or PKCS#12) and
//!   signs our AUTH payload.
//! - No clock and no network: time is an argument, revocation (CRL/OCSP) is not checked.
//!   [`TrustStore::from_system_certificates`] takes the OS trust store's certificates, which
//!   the caller reads (file I/O) outside the protocol core.
//! - EAP-TLS checks the EAP server with rustls against the same [`TrustStore`], and its
//!   failures are reported as the same [`CertError`]s.
//! - Chain building and chain signatures are `rustls-webpki`'s; AUTH signatures are verified
//!   and made with *ring*; certificate fields (names, key usage, dates) are read with
//!   `x509-parser`.
//!
//! Accepted extended key usages (RFC 4945 §5.1.3.12 says IKE should not require any EKU, but
//! a certificate that a CA restricted to *other* purposes must not authenticate a VPN
//! gateway): no EKU extension, `serverAuth` (what most gateway certificates carry and what
//! Windows requires), `id-kp-ipsecIKE` (RFC 4945), `anyExtendedKeyUsage`, and Microsoft's
//! `iKEIntermediate` (1.3.6.1.5.5.8.2.2). This is applied to every certificate in the path.
//! Key usage: if the extension is present, `digitalSignature` or `nonRepudiation` must be set
//! (RFC 4945 §5.1.3.2).

mod der;
mod key;
mod sig;

use std::fmt;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

pub use key::{ClientCredential, SignedAuth};
pub use sig::{
    HashAlgorithm, KeyKind, NOTIFY_SIGNATURE_HASH_ALGORITHMS, PeerPublicKey, SUPPORTED_HASHES,
    SignatureScheme, auth_method, parse_signature_hash_algorithms,
    signature_hash_algorithms_notify_data,
};

/// The CERT payload encoding we read and send: "X.509 Certificate - Signature" (RFC 7296 §3.6).
pub const CERT_ENCODING_X509_SIGNATURE: u8 = 4;

/// Most certificates accepted in one chain (CERT payloads of one message).
pub const MAX_CHAIN_LEN: usize = 8;
/// Largest single certificate accepted.
pub const MAX_CERT_LEN: usize = 16 * 1024;

/// Why certificate authentication failed. Each message says what is wrong in words a user (or
/// the administrator they forward it to) can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The server sent no CERT payload with an X.509 certificate.
    #[error("the server did not send a certificate")]
    NoServerCertificate,
    /// A certificate could not be parsed.
    #[error("the server's certificate cannot be read: {0}")]
    BadCertificate(String),
    /// The server sent too many or too large certificates.
    #[error("the server sent more or larger certificates than Tern accepts")]
    ChainTooLarge,
    /// The chain does not lead to a CA in the profile.
    #[error("the server's certificate is not signed by the CA in this profile")]
    NotSignedByProfileCa,
    /// The chain does not lead to a CA the system trusts.
    #[error("the server's certificate is not signed by a CA this computer trusts")]
    NotSignedBySystemCa,
    /// The end-entity certificate expired.
    #[error("the server's certificate expired on {0}")]
    Expired(String),
    /// The end-entity certificate is not valid yet.
    #[error("the server's certificate is not valid until {0}; check this computer's clock")]
    NotYetValid(String),
    /// A CA certificate in the chain is outside its validity period.
    #[error("a CA certificate in the server's chain is expired or not yet valid ({0})")]
    CaCertificateNotValid(String),
    /// The certificate does not name the gateway.
    #[error("the server's certificate is for {names}, not {expected}")]
    NameMismatch {
        /// The names in the certificate.
        names: String,
        /// The identity we expected.
        expected: String,
    },
    /// Key usage or extended key usage forbid use by an IKE gateway.
    #[error("the server's certificate may not be used by a VPN gateway: {0}")]
    WrongKeyUsage(String),
    /// The server sent a CA certificate as its own.
    #[error("the server presented a CA certificate as its own certificate")]
    CaAsEndEntity,
    /// Any other chain problem webpki reports.
    #[error("the server's certificate chain is invalid: {0}")]
    ChainInvalid(String),
    /// The AUTH payload is malformed.
    #[error("the server's AUTH payload is malformed: {0}")]
    MalformedAuth(&'static str),
    /// The AUTH signature does not verify.
    #[error(
        "the server's signature does not match its certificate: it does not hold the certificate's private key, or the message was altered"
    )]
    BadAuthSignature,
    /// The AUTH method does not fit the certificate's key.
    #[error("the server signed with {scheme}, but its certificate holds a {key} key")]
    AuthKeyMismatch {
        /// The signature scheme.
        scheme: &'static str,
        /// The certificate's key type.
        key: &'static str,
    },
    /// The signature algorithm is not supported.
    #[error("the signature algorithm {0} is not supported")]
    UnsupportedSignature(&'static str),
    /// The key type is not supported.
    #[error("certificates with {0} are not supported")]
    UnsupportedKey(&'static str),
    /// The server asked for client certificate authentication, but there is none.
    #[error("the server asked for a client certificate but the profile has none")]
    NoClientCertificate,
    /// A CA certificate in the profile cannot be used.
    #[error("the CA certificate in this profile cannot be used: {0}")]
    BadCaCertificate(String),
    /// The profile has no CA certificate (and the system store was not selected).
    #[error("the profile has no CA certificate to check the server against")]
    NoTrustAnchors,
    /// The OS trust store could not be read.
    #[error("the system's trusted CA certificates cannot be read: {0}")]
    SystemTrustStore(String),
    /// The client private key cannot be loaded.
    #[error("the client private key cannot be used: {0}")]
    BadPrivateKey(String),
    /// The client certificate cannot be loaded.
    #[error("the client certificate cannot be used: {0}")]
    BadClientCertificate(String),
    /// The private key does not belong to the client certificate.
    #[error("the client private key does not belong to the client certificate")]
    KeyCertificateMismatch,
    /// The PKCS#12 file cannot be opened.
    #[error("the PKCS#12 file cannot be opened (wrong password, or damaged file): {0}")]
    Pkcs12(String),
    /// The peer does not accept any signature our key can make.
    #[error("the server does not accept the signatures this client certificate can make: {0}")]
    PeerRejectsKeyType(&'static str),
    /// Signing failed.
    #[error("signing the authentication data failed")]
    SigningFailed,
}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSource {
    /// The CA certificates configured in the profile.
    Profile,
    /// The operating system's trust store.
    System,
}

/// A set of trust anchors.
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    source: TrustSource,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchors", &self.anchors.len())
            .field("source", &self.source)
            .finish()
    }
}

/// Reads certificates given as PEM (any number of `CERTIFICATE` blocks) or as one DER
/// certificate.
fn certificates_from_pem_or_der(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let trimmed = data.trim_ascii_start();
    if trimmed.starts_with(b"-----") {
        let certs = CertificateDer::pem_slice_iter(trimmed)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("PEM cannot be read ({e})"))?;
        if certs.is_empty() {
            return Err("the PEM data holds no CERTIFICATE block".into());
        }
        Ok(certs)
    } else {
        Ok(vec![CertificateDer::from(data.to_vec())])
    }
}

impl TrustStore {
    /// Trust exactly the CA certificates of a profile; each item is PEM (one or more
    /// certificates) or DER.
    ///
    /// # Errors
    /// [`CertError::NoTrustAnchors`] if none are given, [`CertError::BadCaCertificate`] if one
    /// cannot be read.
    pub fn from_ca_certificates(cas: &[&[u8]]) -> Result<Self, CertError> {
        let mut anchors = Vec::new();
        for data in cas {
            for cert in certificates_from_pem_or_der(data).map_err(CertError::BadCaCertificate)? {
                let anchor = webpki::anchor_from_trusted_cert(&cert)
                    .map_err(|e| CertError::BadCaCertificate(e.to_string()))?;
                anchors.push(anchor.to_owned());
            }
        }
        if anchors.is_empty() {
            return Err(CertError::NoTrustAnchors);
        }
        Ok(Self {
            anchors,
            source: TrustSource::Profile,
        })
    }

    /// Trust the operating system's CA certificates, as DER, loaded by the caller (the helper
    /// uses `rustls-native-certs`; this crate reads no files). Certificates that cannot be used
    /// as anchors are skipped, since OS stores carry a few odd ones.
    ///
    /// # Errors
    /// [`CertError::SystemTrustStore`] if no usable certificate was given.
    pub fn from_system_certificates(certs: &[&[u8]]) -> Result<Self, CertError> {
        let anchors: Vec<_> = certs
            .iter()
            .filter_map(|der| {
                let der = CertificateDer::from(*der);
                webpki::anchor_from_trusted_cert(&der)
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        if anchors.is_empty() {
            return Err(CertError::SystemTrustStore(
                "no usable certificates found".to_owned(),
            ));
        }
        Ok(Self {
            anchors,
            source: TrustSource::System,
        })
    }

    /// Where the anchors come from.
    #[must_use]
    pub fn source(&self) -> TrustSource {
        self.source
    }

    /// The trust anchors (for EAP-TLS's rustls verifier).
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// How many anchors there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none (never true for a constructed store).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The CERTREQ payload data for these CAs (RFC 7296 §3.7, encoding
    /// [`CERT_ENCODING_X509_SIGNATURE`]): the concatenated SHA-1 hashes of each CA's
    /// SubjectPublicKeyInfo. Empty for the system store (too many CAs to list usefully).
    #[must_use]
    pub fn certificate_request_data(&self) -> Vec<u8> {
        if self.source == TrustSource::System {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.anchors.len() * 20);
        for anchor in &self.anchors {
            // webpki keeps the SPKI's contents; the hash covers the whole DER SEQUENCE.
            let mut spki = Vec::new();
            der::write_tlv(
                &mut spki,
                der::tag::SEQUENCE,
                &anchor.subject_public_key_info,
            );
            let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
            out.extend_from_slice(digest.as_ref());
        }
        out
    }
}

/// The identity the gateway's certificate must carry: the responder's IDr or the profile's
/// remote identity / address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayIdentity {
    /// A DNS name; matched against SAN dNSName entries (wildcards allowed, no CN fallback).
    Fqdn(String),
    /// An IP address; matched against SAN iPAddress entries.
    Ip(IpAddr),
    /// An email address; matched against SAN rfc822Name entries (domain case-insensitive).
    Email(String),
    /// A DER-encoded distinguished name; must equal the certificate's subject byte for byte.
    Dn(Vec<u8>),
}

impl GatewayIdentity {
    /// The identity of an ID payload (RFC 7296 §3.5): ID_IPV4_ADDR (1), ID_FQDN (2),
    /// ID_RFC822_ADDR (3), ID_IPV6_ADDR (5), ID_DER_ASN1_DN (9). `None` for other types
    /// (ID_KEY_ID cannot be checked against a certificate) or malformed data.
    #[must_use]
    pub fn from_id_payload(id_type: u8, data: &[u8]) -> Option<Self> {
        match id_type {
            1 => <[u8; 4]>::try_from(data)
                .ok()
                .map(|a| Self::Ip(IpAddr::from(a))),
            5 => <[u8; 16]>::try_from(data)
                .ok()
                .map(|a| Self::Ip(IpAddr::from(a))),
            2 => std::str::from_utf8(data)
                .ok()
                .map(|s| Self::Fqdn(s.to_owned())),
            3 => std::str::from_utf8(data)
                .ok()
                .map(|s| Self::Email(s.to_owned())),
            9 => Some(Self::Dn(data.to_vec())),
            _ => None,
        }
    }
}

impl fmt::Display for GatewayIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fqdn(s) | Self::Email(s) => f.write_str(s),
            Self::Ip(a) => write!(f, "{a}"),
            Self::Dn(der) => match x509_parser::x509::X509Name::from_der(der) {
                Ok((_, name)) => write!(f, "{name}"),
                Err(_) => f.write_str("the configured distinguished name"),
            },
        }
    }
}

/// A gateway certificate that verified: its key checks the AUTH payload.
#[derive(Debug, Clone)]
pub struct VerifiedServer {
    key: PeerPublicKey,
    subject: String,
}

impl VerifiedServer {
    /// The certificate's public key.
    #[must_use]
    pub fn public_key(&self) -> &PeerPublicKey {
        &self.key
    }

    /// The certificate's subject, for logs and the UI.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Verifies the responder's AUTH payload; see [`PeerPublicKey::verify_auth`].
    ///
    /// # Errors
    /// As [`PeerPublicKey::verify_auth`].
    pub fn verify_auth(
        &self,
        method: u8,
        auth_data: &[u8],
        signed_octets: &[u8],
    ) -> Result<SignatureScheme, CertError> {
        self.key.verify_auth(method, auth_data, signed_octets)
    }
}

/// Formats a Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn format_unix_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The names a certificate is for, for error messages.
fn certificate_names(cert: &X509Certificate<'_>) -> String {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) => names.push((*s).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*bytes) {
                        names.push(IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*bytes) {
                        names.push(IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.push(cert.subject().to_string());
    }
    names.truncate(5);
    names.join(", ")
}

fn email_matches(pattern: &str, candidate: &str) -> bool {
    match (pattern.rsplit_once('@'), candidate.rsplit_once('@')) {
        (Some((pl, pd)), Some((cl, cd))) => pl == cl && pd.eq_ignore_ascii_case(cd),
        _ => false,
    }
}

/// The EKU policy described in the module documentation.
struct IkeEku;

const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const EKU_IPSEC_IKE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x11];
const EKU_ANY: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
const EKU_IKE_INTERMEDIATE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x08, 0x02, 0x02];

impl webpki::ExtendedKeyUsageValidator for IkeEku {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let accepted = [
            EKU_SERVER_AUTH,
            EKU_IPSEC_IKE,
            EKU_ANY,
            EKU_IKE_INTERMEDIATE,
        ]
        .map(webpki::KeyPurposeId::new);
        let mut present = Vec::new();
        for purpose in iter {
            let purpose = purpose?;
            if accepted.contains(&purpose) {
                return Ok(());
            }
            present.push(purpose.to_decoded_oid());
        }
        if present.is_empty() {
            // No EKU extension at all.
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            webpki::RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::server_auth(),
                present,
            },
        ))
    }
}

/// Verifies the gateway's certificate chain: `chain` holds the data of the CERT payloads with
/// encoding [`CERT_ENCODING_X509_SIGNATURE`] in the order received (the first is the
/// gateway's own certificate, the rest intermediates in any order). Checks, at `now`: the
/// path to an anchor of `trust`, validity of every certificate, key usage and extended key
/// usage (see the module docs), and that the certificate names `expected`.
///
/// Revocation is not checked.
///
/// # Errors
/// The [`CertError`] that says what is wrong.
pub fn verify_server(
    chain: &[&[u8]],
    trust: &TrustStore,
    now: SystemTime,
    expected: &GatewayIdentity,
) -> Result<VerifiedServer, CertError> {
    let (&ee_der, intermediates) = chain.split_first().ok_or(CertError::NoServerCertificate)?;
    if chain.len() > MAX_CHAIN_LEN || chain.iter().any(|c| c.len() > MAX_CERT_LEN) {
        return Err(CertError::ChainTooLarge);
    }
    let (_, cert) =
        X509Certificate::from_der(ee_der).map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let now_secs = unix_seconds(now);

    // Our own validity check first, for a message that names the right certificate and date.
    let validity = cert.validity();
    if now_secs > validity.not_after.timestamp() {
        return Err(CertError::Expired(format_unix_time(
            validity.not_after.timestamp(),
        )));
    }
    if now_secs < validity.not_before.timestamp() {
        return Err(CertError::NotYetValid(format_unix_time(
            validity.not_before.timestamp(),
        )));
    }
    if cert.is_ca() {
        return Err(CertError::CaAsEndEntity);
    }
    match cert.key_usage() {
        Ok(Some(ku)) if !(ku.value.digital_signature() || ku.value.non_repudiation()) => {
            return Err(CertError::WrongKeyUsage(
                "its key usage does not allow digital signatures".into(),
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(CertError::BadCertificate(e.to_string())),
    }

    let ee_owned = CertificateDer::from(ee_der);
    let ee = webpki::EndEntityCert::try_from(&ee_owned)
        .map_err(|e| CertError::BadCertificate(e.to_string()))?;
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(*c))
        .collect();
    let time = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &trust.anchors,
        &intermediates,
        time,
        IkeEku,
        None,
        None,
    )
    .map_err(|e| chain_error(e, trust.source))?;

    check_identity(&ee, &cert, expected)?;

    Ok(VerifiedServer {
        key: PeerPublicKey::from_spki(cert.public_key().raw)?,
        subject: cert.subject().to_string(),
    })
}

fn chain_error(e: webpki::Error, source: TrustSource) -> CertError {
    use webpki::Error as W;
    match e {
        // A CA of the right name whose key did not sign the chain is not the profile's CA
        // (an impostor may copy the name).
        W::UnknownIssuer | W::InvalidSignatureForPublicKey => match source {
            TrustSource::Profile => CertError::NotSignedByProfileCa,
            TrustSource::System => CertError::NotSignedBySystemCa,
        },
        W::CertExpired { not_after, .. } => CertError::CaCertificateNotValid(format!(
            "expired on {}",
            format_unix_time(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
        )),
        W::CertNotValidYet { not_before, .. } => CertError::CaCertificateNotValid(format!(
            "not valid until {}",
            format_unix_time(i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX))
        )),
        W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => CertError::WrongKeyUsage(
            "its extended key usage allows neither server authentication nor IKE".into(),
        ),
        W::CaUsedAsEndEntity => CertError::CaAsEndEntity,
        other => CertError::ChainInvalid(other.to_string()),
    }
}

/// The [`CertError`] for a server certificate rustls rejected (EAP-TLS), worded like the IKE
/// certificate check's; `source` says whose CAs were trusted.
pub(crate) fn from_tls_certificate_error(
    error: &rustls::CertificateError,
    source: TrustSource,
) -> CertError {
    use rustls::CertificateError as C;
    let date = |t: &UnixTime| format_unix_time(i64::try_from(t.as_secs()).unwrap_or(i64::MAX));
    match error {
        C::UnknownIssuer | C::BadSignature => match source {
            TrustSource::Profile => CertError::NotSignedByProfileCa,
            TrustSource::System => CertError::NotSignedBySystemCa,
        },
        C::ExpiredContext { not_after, .. } => CertError::Expired(date(not_after)),
        C::NotValidYetContext { not_before, .. } => CertError::NotYetValid(date(not_before)),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            // webpki lists the names in Debug form: `DnsName("a.example")`, `IpAddress(192.0.2.1)`.
            let names: Vec<&str> = presented
                .iter()
                .filter_map(|n| {
                    let inner = n
                        .strip_prefix("DnsName(")
                        .or_else(|| n.strip_prefix("IpAddress("))?
                        .strip_suffix(')')?;
                    Some(inner.trim_matches('"'))
                })
                .take(5)
                .collect();
            CertError::NameMismatch {
                names: if names.is_empty() {
                    "no DNS name or IP address".into()
                } else {
                    names.join(", ")
                },
                expected: expected.to_str().into_owned(),
            }
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => CertError::WrongKeyUsage(
            "its extended key usage does not allow server authentication".into(),
        ),
        other => {
            CertError::ChainInvalid(rustls::Error::InvalidCertificate(other.clone()).to_string())
        }
    }
}

fn check_identity(
    ee: &webpki::EndEntityCert<'_>,
    cert: &X509Certificate<'_>,
    expected: &GatewayIdentity,
) -> Result<(), CertError> {
    let matches = match expected {
        GatewayIdentity::Fqdn(name) => ServerName::try_from(name.as_str())
            .is_ok_and(|sn| ee.verify_is_valid_for_subject_name(&sn).is_ok()),
        GatewayIdentity::Ip(addr) => ee
            .verify_is_valid_for_subject_name(&ServerName::IpAddress((*addr).into()))
            .is_ok(),
        GatewayIdentity::Email(addr) => {
            cert.subject_alternative_name()
                .ok()
                .flatten()
                .is_some_and(|san| {
                    san.value
                        .general_names
                        .iter()
                        .any(|n| matches!(n, GeneralName::RFC822Name(c) if email_matches(addr, c)))
                })
        }
        GatewayIdentity::Dn(der) => cert.subject().as_raw() == der.as_slice(),
    };
    if matches {
        Ok(())
    } else {
        Err(CertError::NameMismatch {
            names: certificate_names(cert),
            expected: expected.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_unix_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_unix_time(1_795_841_647), "2026-11-28 04:54:07 UTC");
        assert_eq!(format_unix_time(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn identities_from_id_payloads() {
        assert_eq!(
            GatewayIdentity::from_id_payload(1, &[192, 0, 2, 1]),
            Some(GatewayIdentity::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(GatewayIdentity::from_id_payload(1, &[1, 2, 3]), None);
        assert_eq!(
            GatewayIdentity::from_id_payload(2, b"vpn.example.com"),
            Some(GatewayIdentity::Fqdn("vpn.example.com".into()))
        );
        assert_eq!(GatewayIdentity::from_id_payload(11, b"x"), None);
        assert!(email_matches("a@Example.com", "a@example.COM"));
        assert!(!email_matches("A@example.com", "a@example.com"));
    }
}
