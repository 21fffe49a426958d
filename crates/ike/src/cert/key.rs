//! The client's own certificate and private key, and signing our AUTH payload.
//!
//! Randomness: *ring*'s signing APIs take only its own sealed `SecureRandom`, so RSA blinding,
//! RSA-PSS salts and ECDSA nonces come from `ring::rand::SystemRandom` (the OS CSPRNG, the same
//! source as [`crate::crypto::SystemRandom`]), not from a caller-given [`crate::crypto::Random`].
//! Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use super::der::{Reader, tag};
use super::sig::{HashAlgorithm, KeyKind, PeerPublicKey, SignatureScheme, auth_method, oid};
use super::{CertError, MAX_CERT_LEN, MAX_CHAIN_LEN, certificates_from_pem_or_der};

enum SigningKey {
    Rsa(RsaKeyPair),
    Ecdsa {
        kind: KeyKind,
        /// For methods 9/10 (raw r|s).
        fixed: Box<EcdsaKeyPair>,
        /// For method 14 (DER).
        asn1: Box<EcdsaKeyPair>,
    },
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::Ecdsa { kind, .. } => *kind,
            Self::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    fn public_key(&self) -> &[u8] {
        match self {
            Self::Rsa(k) => k.public_key().as_ref(),
            Self::Ecdsa { fixed, .. } => fixed.public_key().as_ref(),
            Self::Ed25519(k) => k.public_key().as_ref(),
        }
    }

    /// Reads a PKCS#8 key (RSA, ECDSA P-256/P-384, Ed25519) or a PKCS#1 RSA key.
    fn from_der(key: &PrivateKeyDer<'_>) -> Result<Self, CertError> {
        let bad = |e: &dyn fmt::Display| CertError::BadPrivateKey(e.to_string());
        let der = match key {
            PrivateKeyDer::Pkcs1(k) => {
                return RsaKeyPair::from_der(k.secret_pkcs1_der())
                    .map(Self::Rsa)
                    .map_err(|e| bad(&e));
            }
            PrivateKeyDer::Sec1(_) => {
                return Err(CertError::BadPrivateKey(
                    "SEC1 \"EC PRIVATE KEY\" files are not supported; convert the key with `openssl pkcs8 -topk8 -nocrypt`".into(),
                ));
            }
            PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der(),
            _ => return Err(CertError::BadPrivateKey("unknown key format".into())),
        };
        let rng = SystemRandom::new();
        match pkcs8_algorithm(der)? {
            (oid::RSA_ENCRYPTION, _) => RsaKeyPair::from_pkcs8(der)
                .map(Self::Rsa)
                .map_err(|e| bad(&e)),
            (oid::ED25519, _) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(Self::Ed25519)
                .map_err(|e| bad(&e)),
            (oid::EC_PUBLIC_KEY, Some(curve)) => {
                let (kind, fixed_alg, asn1_alg) = match curve {
                    oid::P256 => (
                        KeyKind::EcP256,
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    ),
                    oid::P384 => (
                        KeyKind::EcP384,
                        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    ),
                    _ => {
                        return Err(CertError::UnsupportedKey(
                            "an elliptic curve other than P-256 or P-384",
                        ));
                    }
                };
                Ok(Self::Ecdsa {
                    kind,
                    fixed: Box::new(
                        EcdsaKeyPair::from_pkcs8(fixed_alg, der, &rng).map_err(|e| bad(&e))?,
                    ),
                    asn1: Box::new(
                        EcdsaKeyPair::from_pkcs8(asn1_alg, der, &rng).map_err(|e| bad(&e))?,
                    ),
                })
            }
            _ => Err(CertError::UnsupportedKey(
                "a key type other than RSA, ECDSA or Ed25519",
            )),
        }
    }
}

/// The algorithm OID (and for EC keys the curve OID) of a PKCS#8 PrivateKeyInfo.
fn pkcs8_algorithm(der: &[u8]) -> Result<(&[u8], Option<&[u8]>), CertError> {
    let bad = || CertError::BadPrivateKey("the PKCS#8 structure cannot be read".into());
    let mut outer = Reader::new(der);
    let mut info = Reader::new(outer.read(tag::SEQUENCE).ok_or_else(bad)?);
    info.read_small_uint().ok_or_else(bad)?;
    let mut alg = Reader::new(info.read(tag::SEQUENCE).ok_or_else(bad)?);
    let alg_oid = alg.read(tag::OID).ok_or_else(bad)?;
    let curve = if alg.peek_tag() == Some(tag::OID) {
        alg.read(tag::OID)
    } else {
        None
    };
    Ok((alg_oid, curve))
}

/// Our AUTH payload: the method and the authentication data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuth {
    /// The AUTH method (1, 9, 10 or 14).
    pub method: u8,
    /// The AUTH payload's Authentication Data (for method 14 with the AlgorithmIdentifier
    /// prefix).
    pub data: Vec<u8>,
    /// The scheme used.
    pub scheme: SignatureScheme,
}

/// The client's certificate chain and private key. `Debug` shows no key material.
pub struct ClientCredential {
    key: SigningKey,
    /// The same key as DER, for EAP-TLS (rustls signs with its own key type).
    key_der: PrivateKeyDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    subject: String,
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredential")
            .field("key", &self.key.kind())
            .field("subject", &self.subject)
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

impl ClientCredential {
    /// Builds a credential from a certificate chain (own certificate first, then
    /// intermediates; PEM with one or more certificates, or one DER certificate) and a private
    /// key (PEM `PRIVATE KEY` / `RSA PRIVATE KEY`, or DER PKCS#8).
    ///
    /// # Errors
    /// [`CertError::BadClientCertificate`], [`CertError::BadPrivateKey`],
    /// [`CertError::UnsupportedKey`], or [`CertError::KeyCertificateMismatch`] if the key does
    /// not belong to the certificate.
    pub fn from_pem_or_der(chain: &[u8], private_key: &[u8]) -> Result<Self, CertError> {
        let certs = certificates_from_pem_or_der(chain).map_err(CertError::BadClientCertificate)?;
        let trimmed = private_key.trim_ascii_start();
        let key = if trimmed.starts_with(b"-----") {
            PrivateKeyDer::from_pem_slice(trimmed)
                .map_err(|e| CertError::BadPrivateKey(format!("PEM cannot be read ({e})")))?
        } else {
            PrivateKeyDer::try_from(private_key.to_vec())
                .map_err(|e| CertError::BadPrivateKey(e.to_owned()))?
        };
        Self::new(certs, &key)
    }

    /// Builds a credential from a PKCS#12 (`.p12`/`.pfx`) bundle with its password. Both
    /// modern (PBES2: PBKDF2 + AES-256-CBC) and legacy (SHA-1 PBE with 3DES or RC2-40)
    /// encryption are read.
    ///
    /// # Errors
    /// [`CertError::Pkcs12`] for a wrong password or damaged file, or if it holds no key with
    /// a certificate; then as [`ClientCredential::from_pem_or_der`].
    pub fn from_pkcs12(data: &[u8], password: &str) -> Result<Self, CertError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| CertError::Pkcs12(e.to_string()))?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            CertError::Pkcs12("it holds no private key with a certificate".into())
        })?;
        let pkcs8 = Zeroizing::new(chain.key().as_der().to_vec());
        let certs = chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(pkcs8.as_slice().into());
        Self::new(certs, &key)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: &PrivateKeyDer<'_>,
    ) -> Result<Self, CertError> {
        let Some(own) = chain.first() else {
            return Err(CertError::BadClientCertificate(
                "no certificate given".into(),
            ));
        };
        if chain.len() > MAX_CHAIN_LEN || chain.iter().any(|c| c.len() > MAX_CERT_LEN) {
            return Err(CertError::BadClientCertificate(
                "the chain is too long or too large".into(),
            ));
        }
        let (_, cert) = X509Certificate::from_der(own)
            .map_err(|e| CertError::BadClientCertificate(e.to_string()))?;
        let cert_key = PeerPublicKey::from_spki(cert.public_key().raw)?;
        let key_der = key;
        let key = SigningKey::from_der(key)?;
        if cert_key.kind() != key.kind() || cert_key.key_bytes() != key.public_key() {
            return Err(CertError::KeyCertificateMismatch);
        }
        Ok(Self {
            key,
            key_der: key_der.clone_key(),
            subject: cert.subject().to_string(),
            chain,
        })
    }

    /// The chain and key in rustls's types (EAP-TLS).
    pub(crate) fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.chain.clone(), self.key_der.clone_key())
    }

    /// The DER certificates to send, one CERT payload each (encoding 4), own certificate
    /// first.
    pub fn certificates(&self) -> impl Iterator<Item = &[u8]> {
        self.chain.iter().map(AsRef::as_ref)
    }

    /// The DER subject of our certificate, for an ID_DER_ASN1_DN identity.
    ///
    /// # Errors
    /// [`CertError::BadClientCertificate`] (not after construction succeeded).
    pub fn subject_der(&self) -> Result<Vec<u8>, CertError> {
        let own = self
            .chain
            .first()
            .ok_or_else(|| CertError::BadClientCertificate("no certificate".into()))?;
        let (_, cert) = X509Certificate::from_der(own)
            .map_err(|e| CertError::BadClientCertificate(e.to_string()))?;
        Ok(cert.subject().as_raw().to_vec())
    }

    /// The subject as text.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The key type.
    #[must_use]
    pub fn key_kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// Picks the signature scheme for a peer that sent SIGNATURE_HASH_ALGORITHMS with
    /// `peer_hashes` (`None` if it sent none). RFC 7427 (method 14) whenever the peer announced
    /// a fitting hash; otherwise the classic method 9/10 for ECDSA. RSA keys need RFC 7427:
    /// method 1 implies SHA-1, which *ring* cannot sign with (verifying it is supported). RSA uses PSS
    /// when `rsa_pss` is set, PKCS#1 v1.5 otherwise (for gateways that mis-handle PSS).
    ///
    /// # Errors
    /// [`CertError::PeerRejectsKeyType`] for an Ed25519 key and a peer without "Identity", or
    /// an RSA key and a peer without any SHA-2 hash.
    pub fn choose_scheme(
        &self,
        peer_hashes: Option<&[HashAlgorithm]>,
        rsa_pss: bool,
    ) -> Result<SignatureScheme, CertError> {
        let has = |h: HashAlgorithm| peer_hashes.is_some_and(|l| l.contains(&h));
        Ok(match self.key.kind() {
            KeyKind::Rsa => {
                let hash = [
                    HashAlgorithm::SHA2_256,
                    HashAlgorithm::SHA2_384,
                    HashAlgorithm::SHA2_512,
                ]
                .into_iter()
                .find(|h| has(*h));
                match (hash, rsa_pss) {
                    // *ring* cannot make SHA-1 signatures, and a peer that announces no
                    // RFC 7427 hash expects SHA-1 with AUTH method 1.
                    (None, _) => {
                        return Err(CertError::PeerRejectsKeyType(
                            "it announced no RFC 7427 signature hashes, and Tern cannot make SHA-1 RSA signatures; use an ECDSA certificate or a server with RFC 7427 support",
                        ));
                    }
                    (Some(HashAlgorithm::SHA2_256), true) => SignatureScheme::RsaPssSha256,
                    (Some(HashAlgorithm::SHA2_384), true) => SignatureScheme::RsaPssSha384,
                    (Some(_), true) => SignatureScheme::RsaPssSha512,
                    (Some(HashAlgorithm::SHA2_256), false) => SignatureScheme::RsaPkcs1Sha256,
                    (Some(HashAlgorithm::SHA2_384), false) => SignatureScheme::RsaPkcs1Sha384,
                    (Some(_), false) => SignatureScheme::RsaPkcs1Sha512,
                }
            }
            KeyKind::EcP256 if has(HashAlgorithm::SHA2_256) => SignatureScheme::EcdsaP256Sha256,
            KeyKind::EcP256 => SignatureScheme::EcdsaP256Sha256Fixed,
            KeyKind::EcP384 if has(HashAlgorithm::SHA2_384) => SignatureScheme::EcdsaP384Sha384,
            KeyKind::EcP384 => SignatureScheme::EcdsaP384Sha384Fixed,
            KeyKind::Ed25519 if has(HashAlgorithm::IDENTITY) => SignatureScheme::Ed25519,
            KeyKind::Ed25519 => {
                return Err(CertError::PeerRejectsKeyType(
                    "it does not accept Ed25519; use an RSA or ECDSA certificate",
                ));
            }
            KeyKind::EcP521 => {
                return Err(CertError::UnsupportedKey("ECDSA P-521 client keys"));
            }
        })
    }

    /// Signs `signed_octets` (RFC 7296 §2.15 InitiatorSignedOctets) for the AUTH payload,
    /// choosing the scheme with [`ClientCredential::choose_scheme`].
    ///
    /// # Errors
    /// As [`ClientCredential::choose_scheme`]; [`CertError::SigningFailed`].
    pub fn sign_auth(
        &self,
        peer_hashes: Option<&[HashAlgorithm]>,
        rsa_pss: bool,
        signed_octets: &[u8],
    ) -> Result<SignedAuth, CertError> {
        let scheme = self.choose_scheme(peer_hashes, rsa_pss)?;
        self.sign_with(scheme, signed_octets)
    }

    /// Signs with a given scheme (which must fit the key).
    ///
    /// # Errors
    /// [`CertError::AuthKeyMismatch`] if it does not fit; [`CertError::SigningFailed`].
    pub fn sign_with(
        &self,
        scheme: SignatureScheme,
        signed_octets: &[u8],
    ) -> Result<SignedAuth, CertError> {
        let rng = SystemRandom::new();
        let mismatch = || CertError::AuthKeyMismatch {
            scheme: scheme.name(),
            key: self.key.kind().name(),
        };
        let signature = match (&self.key, scheme) {
            (SigningKey::Rsa(k), _) => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    SignatureScheme::RsaPssSha384 => &signature::RSA_PSS_SHA384,
                    SignatureScheme::RsaPssSha512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(mismatch()),
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(padding, &rng, signed_octets, &mut sig)
                    .map_err(|_| CertError::SigningFailed)?;
                sig
            }
            (SigningKey::Ecdsa { kind, fixed, asn1 }, _) => {
                let key = match (kind, scheme) {
                    (KeyKind::EcP256, SignatureScheme::EcdsaP256Sha256Fixed)
                    | (KeyKind::EcP384, SignatureScheme::EcdsaP384Sha384Fixed) => fixed,
                    (KeyKind::EcP256, SignatureScheme::EcdsaP256Sha256)
                    | (KeyKind::EcP384, SignatureScheme::EcdsaP384Sha384) => asn1,
                    _ => return Err(mismatch()),
                };
                key.sign(&rng, signed_octets)
                    .map_err(|_| CertError::SigningFailed)?
                    .as_ref()
                    .to_vec()
            }
            (SigningKey::Ed25519(k), SignatureScheme::Ed25519) => {
                k.sign(signed_octets).as_ref().to_vec()
            }
            (SigningKey::Ed25519(_), _) => return Err(mismatch()),
        };
        let data = match scheme.algorithm_identifier() {
            None => signature,
            Some(alg_id) => {
                let len = u8::try_from(alg_id.len()).map_err(|_| CertError::SigningFailed)?;
                let mut data = Vec::with_capacity(1 + alg_id.len() + signature.len());
                data.push(len);
                data.extend_from_slice(&alg_id);
                data.extend_from_slice(&signature);
                data
            }
        };
        debug_assert!(scheme.auth_method() != auth_method::ECDSA_SHA512_P521);
        Ok(SignedAuth {
            method: scheme.auth_method(),
            data,
            scheme,
        })
    }
}
